// The Compare view's words for each side: a side whose model has no positional encoding says that shuffling or
// removing its positions changes nothing (tiny-nope: its two patterns are the same, the difference 0 everywhere).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ablationNote, answerHead, apartNote, apartPositions, describe as describeSide, EXAMPLES, keptLabels, otherScheme, panelTitles, sideCaption, sideKept } from "../../../frontend/js/views/compare.js";
import { termLabelsNote, tickIndices, tokenAxes } from "../../../frontend/js/plot.js";
import { setVocabulary, vocab } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

const tokens = [{ id: 1, text: "", special: true }, { id: 5, text: "The" }, { id: 9, text: " cat" }];
const side = (model, positions) => ({ model, tokens, interventions: { positions, scale: true, ablate: [], seed: 0,
  permutation: positions === "shuffled" ? [2, 0, 1] : null } });

test("a side with its positions shuffled on a model without positions says it changes nothing", () => {
  const b = describeSide(side("tiny-nope", "shuffled"), side("tiny-nope", "normal"), "none");
  assert.match(b, /^tiny-nope · Positions shuffled/);
  assert.match(b, /no positional encoding, so this changes nothing/);
  assert.match(describeSide(side("tiny-nope", "removed"), side("tiny-nope", "normal"), "none"), /changes nothing/);
  // a model with positions: shuffled is shuffled, with nothing more said
  const r = describeSide(side("tiny-rotary", "shuffled"), side("tiny-rotary", "normal"), "rotary");
  assert.match(r, /Positions shuffled \(position given to each token: 2, 0, 1\)/);
  assert.doesNotMatch(r, /changes nothing/);
  // as trained: nothing to say about positions, whatever the model
  assert.equal(describeSide(side("tiny-nope", "normal"), side("tiny-nope", "normal"), "none"), "tiny-nope · As trained.");
});

test("the two sides say the same kind of thing in the same form", () => {
  // side a said "as trained" where side b said "Positions removed.": a phrase facing a sentence, and side a's not
  // saying what of it was as trained
  const a = side("tiny-rotary", "normal");
  const removed = side("tiny-rotary", "removed");
  assert.equal(describeSide(a, removed, "rotary"), "tiny-rotary · Positions as trained.");
  assert.equal(describeSide(removed, a, "rotary"), "tiny-rotary · Positions removed.");
  // the scaling and the ablated heads likewise, each in its place
  const unscaled = { ...a, interventions: { ...a.interventions, scale: false, ablate: [[1, 2]] } };
  assert.equal(describeSide(a, unscaled, "rotary"), "tiny-rotary · Scores divided by √d_head. No heads ablated.");
  assert.equal(describeSide(unscaled, a, "rotary"), "tiny-rotary · Scores not divided by √d_head. Ablated heads: L1 H2.");
  assert.equal(describeSide(removed, unscaled, "rotary"), "tiny-rotary · Positions removed. Scores divided by √d_head. No heads ablated.");
  // a model without positions has none to keep as trained: nothing said of them facing a side that removes its own
  assert.equal(describeSide(side("tiny-nope", "normal"), side("tiny-rotary", "removed"), "none"), "tiny-nope · As trained.");
});

test("a side past its model's trained length carries the answer's warning (the page's own sentence may be short)", () => {
  const warning = "This text is 375 tokens; tiny-rotary was trained on at most 128, so positions 128 to 374 are positions it never saw in training: what it does there is extrapolation.";
  const long = { ...side("tiny-rotary", "normal"), beyond_trained: { n_tokens: 375, trained_tokens: 128, first_unseen: 128, warning } };
  const b = describeSide(long, side("tiny-rotary", "normal"), "rotary");
  assert.ok(b.includes(warning), b);
  assert.doesNotMatch(describeSide(side("tiny-rotary", "normal"), long, "rotary"), /never saw/);
});

test("'another positional scheme' is a model of the same family, and none for a model of no family", () => {
  // on MiniLM the example set side b to tiny-sinusoidal: another model altogether, not another scheme of MiniLM
  setVocabulary(serverMeta());
  const fam = vocab.families[0];
  const entry = (name, available = true) => [name, { name, available }];
  const models = new Map([...fam.models.map((m) => entry(m)), entry("minilm-l6"), entry("smollm2-135m")]);
  const [first, second] = fam.models;
  assert.equal(otherScheme({ name: first }, models), second);
  assert.equal(otherScheme({ name: second }, models), first);
  assert.equal(otherScheme({ name: first }, new Map([...models, entry(second, false)])), fam.models[2]); // (installed only)
  assert.equal(otherScheme({ name: "minilm-l6" }, models), null);
  assert.equal(otherScheme({ name: "smollm2-135m" }, models), null);
  assert.equal(otherScheme({ name: "lab-1@50" }, models), null);
});

test("a side of one token says '1 token', not '1 tokens'", () => {
  // SmolLM2 (no start token) reads "Dogs" as one token: beside "Cats" the caption said "smollm2-135m · as trained · 1 tokens"
  const one = (id) => ({ model: "smollm2-135m", tokens: [{ id, text: "x" }], interventions: { positions: "normal", scale: true, ablate: [] } });
  assert.equal(describeSide(one(1), one(2), "rotary"), "smollm2-135m · As trained. · 1 token");
  assert.match(describeSide(side("tiny-rotary", "normal"), one(2), "rotary"), /· 3 tokens$/);
});

test("a side's token count and the hidden special tokens' sentence are two sentences", () => {
  // MiniLM, "the dog ran home" beside "the cat ran home" with special tokens hidden: "minilm-l6 · As trained. · 6 tokens
  // Special tokens hidden ([CLS], [SEP]): ..." ran the count into the next sentence
  const tok = (id, text, special = false) => ({ id, text, display: text, special });
  const mk = (mid) => ({ model: "minilm-l6", interventions: { positions: "normal", scale: true, ablate: [] },
    tokens: [tok(101, "[CLS]", true), tok(1996, "the"), tok(mid, "x"), tok(2743, "ran"), tok(2188, "home"), tok(102, "[SEP]", true)] });
  const longer = { ...mk(3899), tokens: [...mk(3899).tokens.slice(0, 5), tok(7, "now"), tok(102, "[SEP]", true)] };
  const said = sideCaption(mk(3899), longer, "learned", true);
  assert.equal(said, "minilm-l6 · As trained. · 6 tokens. Special tokens hidden ([CLS], [SEP]): their rows and columns are left out, so a row may sum to less than 1.");
  // a caption that ends in its full stop gets no other; nothing hidden: describe() alone
  assert.match(sideCaption(mk(3899), mk(3899), "learned", true), /^minilm-l6 · As trained\. Special tokens hidden/);
  assert.equal(sideCaption(mk(3899), longer, "learned", false), describeSide(mk(3899), longer, "learned"));
});

test("the head a comparison is drawn under is its answer's, the head of either side that has it", () => {
  const state = { layer: 1, head: 2, text: "x" };
  const has = { layers: [0], heads: [3] };
  const lacks = { layers: [], heads: [] }; // (a model without that head: no attention on this side)
  assert.deepEqual(answerHead({ a: has, b: has }, state), { layer: 0, head: 3, text: "x" });
  assert.deepEqual(answerHead({ a: lacks, b: has }, state), { layer: 0, head: 3, text: "x" });
  assert.deepEqual(answerHead({ a: lacks, b: lacks }, state), state);
});

test("where the two sides differ only in heads switched off, a layer up to theirs is said to be the same on both", () => {
  // side b with layer 1, head 1 off, shown at layer 1: the difference was blank (0 everywhere), with nothing said, as
  // if switching the head off did nothing. Its output reaches only the layers after it (tests/backend/test_api.py
  // checks this of the model: 0 in layers 0 and 1, not in layer 2).
  const iv = (ablate, more = {}) => ({ positions: "normal", scale: true, ablate, seed: null, permutation: null, ...more });
  const one = (ablate, more = {}, model = "tiny-sinusoidal") => ({ model, n_layers: 4, tokens, interventions: iv(ablate, more) });
  const r = (a, b) => ({ a, b });
  const note = ablationNote(r(one([]), one([[1, 1]])), 1);
  assert.match(note, /side b switches off layer 1, head 1/);
  assert.match(note, /layers 0 to 1 are the same on both sides/);
  assert.match(note, /layer 2 or later/);
  assert.equal(ablationNote(r(one([]), one([[1, 1]])), 2), ""); // (layer 2: the difference is there)
  // the earliest head switched off on one side only decides; a head off on both sides is no difference
  assert.match(ablationNote(r(one([[0, 3], [2, 0]]), one([[0, 3], [3, 1]])), 1), /layers 0 to 2 are the same/);
  assert.match(ablationNote(r(one([[0, 2]]), one([])), 0), /side a switches off layer 0, head 2\): .*layer 0 are the same/);
  // the last layer's head: no pattern changes
  assert.match(ablationNote(r(one([]), one([[3, 0]])), 0), /no pattern changes.*what the model predicts \(below\)/);
  // (an encoder predicts nothing: it said "changes what the model predicts (below)" over "does not predict the next word")
  const encoder = (ablate) => ({ ...one(ablate, {}, "minilm-l6"), predictions_unavailable: "no next-word head" });
  assert.match(ablationNote(r(encoder([]), encoder([[3, 0]])), 0), /no pattern changes.*only the model's final vectors/);
  // anything else differs too (scaling, positions, the model, the sentence): nothing to say
  assert.equal(ablationNote(r(one([]), one([[1, 1]], { scale: false })), 0), "");
  assert.equal(ablationNote(r(one([]), one([[1, 1]], { positions: "shuffled", permutation: [1, 2, 0] })), 0), "");
  assert.equal(ablationNote(r(one([]), one([[1, 1]], {}, "tiny-rotary")), 0), "");
  assert.equal(ablationNote(r(one([]), { ...one([[1, 1]]), tokens: tokens.slice(0, 2) }), 0), "");
  assert.equal(ablationNote(r(one([[1, 1]]), one([[1, 1]])), 0), "");
});

test("the positions and scaling examples give side b the other setting from side a's, and say which", () => {
  // on a page already shuffled, "positions shuffled" set side b to side a's own settings: "Side b is the same as side a"
  const [, , positions, scaling] = EXAMPLES;
  for (const pos of ["normal", "removed", "shuffled"]) {
    for (const scale of [true, false]) {
      const s = { positions: pos, scale };
      const p = positions.patch(s);
      assert.notEqual(p.positions2 || pos, pos, `${pos}/${scale}`);
      assert.equal(positions.label(s), p.positions2 === "shuffled" ? "positions shuffled" : "positions as trained");
      const q = scaling.patch(s);
      assert.equal(q.scale2, !scale);
      assert.equal(scaling.label(s), scale ? "without √d scaling" : "with √d scaling");
    }
  }
});

test("the positions whose tokens differ: the ones the difference's axes label whatever their step", () => {
  assert.deepEqual(apartPositions({ same_token: [true, true, false, true, false] }), [2, 4]);
  assert.deepEqual(apartPositions({ same_token: null }), []); // (sides of different lengths: no position lines up)
});

test("the difference's caption names the positions whose tokens differ among those drawn, not those hidden", () => {
  // two tokenizers, sides of equal length: [CLS] / <|bos|> at 0 and "cat" / "dog" at 2; with the special tokens hidden
  // position 0 is not drawn, and the caption named it anyway
  const tok = (display, special = false) => ({ display, special });
  const r = {
    a: { tokens: [tok("[CLS]", true), tok("the"), tok("cat"), tok("[SEP]", true)] },
    b: { tokens: [tok("<|bos|>", true), tok("the"), tok("dog"), tok("[SEP]", true)] },
    same_token: [false, true, false, true],
  };
  assert.equal(apartNote(r), " Positions 0 (“[CLS]” / “<|bos|>”), 2 (“cat” / “dog”) hold different tokens on the two sides: " +
    "their rows and columns compare different words.");
  const drawn = apartNote(r, [1, 2]);
  assert.equal(drawn, " Position 2 (“cat” / “dog”) holds different tokens on the two sides: its rows and columns compare different words.");
  // only the hidden position differs: every position drawn holds the same token
  const onlyHidden = { ...r, same_token: [false, true, true, true], b: { tokens: [tok("<|bos|>", true), ...r.a.tokens.slice(1)] } };
  assert.equal(apartNote(onlyHidden, [1, 2]), " Every position drawn holds the same token on both sides.");
  assert.equal(apartNote({ ...r, same_token: [true, true, true, true] }), " Every position holds the same token on both sides.");
});

test("each Compare plot keeps the selected query labelled beside the words that differ, as Beyond attention does", () => {
  // 30 tokens in presenter mode at 1280x720 ("old" / "young" at 2): every 2nd query labelled, so query 7 (“␣walked”)
  // had no label on its row or column in a, b or their difference
  const words = ["<|bos|>", "The", "␣old", "␣f", "is", "her", "man", "␣walked", "␣slowly", "␣along", "␣the", "␣quiet", "␣har", "b", "our",
    "␣while", "␣the", "␣children", "␣laughed", "␣and", "␣the", "␣g", "ull", "s", "␣cir", "c", "led", "␣above", "␣the", "␣boats"];
  const tokens = words.map((display) => ({ display }));
  const r = { same_token: words.map((_, i) => i !== 2) };
  for (const [width, k] of [[401, 1.4], [358, 1.4]]) {
    const { xaxis, yaxis } = tokenAxes(width, tokens, 620, true, keptLabels(r, 7), k);
    assert.ok(!tokenAxes(width, tokens, 620, true, keptLabels(r, null), k).yaxis.tickvals.includes(7), `${width} px, ×${k}: query 7 labelled anyway`);
    for (const i of [2, 7]) assert.ok(yaxis.tickvals.includes(i), `${width} px, ×${k}: ${yaxis.tickvals}`);
    assert.equal(yaxis.ticktext[yaxis.tickvals.indexOf(7)], "␣walked");
    // across, every 5th key has room for 2 and 7 (5 apart); every 6th not, and keeps the first of them (2, "old")
    assert.deepEqual([2, 7].filter((i) => xaxis.tickvals.includes(i)), width === 401 ? [2, 7] : [2], `${width} px, ×${k}: ${xaxis.tickvals}`);
    // every 2nd query labelled and query 7: the title says so (it said "query (every 2nd labelled)")
    assert.equal(yaxis.title.text, "query (every 2nd, and the selected one)");
    // the keys, every 5th or 6th and "old" at 2: no form with the words has room, so no title
    assert.equal(xaxis.title, undefined, `${width} px, ×${k}: ${xaxis.tickvals}`);
  }
  // the selected query a label's room or less before a word that differs: the word stays, what the sides differ in
  // (query 1 before "old" at 2: the keys at every 6th keep 2 alone), and the caption says which of the query's row and
  // column is labelled (it said "some of the selected query's row and column" where only its row was)
  const before = tokenAxes(358, tokens, 620, true, keptLabels(r, 1), 1.4).xaxis.tickvals;
  assert.deepEqual([1, 2].filter((i) => before.includes(i)), [2], `${before}`);
  const rowOnly = [["key", 6, before], ["query", 2, tickIndices(30, 2, [2, 1], 1)]]; // (down, 1 and 2 have room)
  assert.equal(termLabelsNote(rowOnly, keptLabels(r, 1), 30),
    " Labelled: every 6th key and every 2nd query, and the differing tokens' rows and columns and the selected query's row; hover over a cell for its tokens.");
  assert.equal(termLabelsNote([["key", 5, tickIndices(30, 5, [2, 7])]], keptLabels(r, 7), 30),
    " Labelled: every 5th key, and the differing tokens' columns and the selected query's column; hover over a cell for its tokens.");
  // (on the step, the words are not needed: every 2nd query and no other)
  assert.equal(tokenAxes(401, tokens, 620, true, keptLabels(r, 8), 1.4).yaxis.title.text, "query (every 2nd labelled)");
  assert.deepEqual(keptLabels(r, null).map(([at, words]) => [at, words]), [[[2], "the ones that differ"]]); // (none selected: the words that differ alone)
  assert.deepEqual(keptLabels(r, 7).map(([at, words]) => [at, words]), [[[2], "the ones that differ"], [[7], "the selected one"]]);
});

test("a Compare caption says on which axes the tokens that differ are labelled, as it does for the selected query", () => {
  // 51 tokens in presenter mode at 1280x720, side b differing at 6 and 7, query 9 selected: the keys (every 7th, no
  // room for a title) label 6 and not 7, a label's room from it, and the caption said "some of the ones that differ",
  // leaving it to guess whether rows or columns
  const text = "Once upon a time there was a little girl named Lily who loved to play in the park with her dog and her friends every " +
    "day after school . One day she saw a big red ball under the old tree and ran to get it for her mom .";
  const tokens = [{ display: "<|bos|>" }, ...text.split(" ").map((w, i) => ({ display: i && w !== "." ? `␣${w}` : w }))];
  const apart = { same_token: tokens.map((_, i) => i !== 6 && i !== 7) };
  const axes = tokenAxes(401, tokens, 620, true, keptLabels(apart, 9), 1.4);
  assert.equal(axes.xaxis.title, undefined);
  assert.deepEqual([6, 7].filter((i) => axes.xaxis.tickvals.includes(i)), [6]);
  assert.equal(axes.note, " Labelled: every 7th key, and some of the differing tokens' columns; hover over a cell for its tokens.");
  // neither axis titled, 5 and 6 differing: every 3rd query labels both, every 4th key 5 alone
  const both = { same_token: Array.from({ length: 30 }, (_, i) => i !== 5 && i !== 6) };
  const untitled = [["key", 4, tickIndices(30, 4, [5, 6])], ["query", 3, tickIndices(30, 3, [5, 6], 1)]];
  assert.equal(termLabelsNote(untitled, keptLabels(both, null), 30),
    " Labelled: every 4th key and every 3rd query, and the differing tokens' rows and some of their columns; hover over a cell for its tokens.");
  assert.equal(termLabelsNote([["query", 3, tickIndices(30, 3, [5, 6], 1)]], keptLabels(both, null), 30),
    " Labelled: every 3rd query, and the differing tokens' rows; hover over a cell for its tokens.");
  // each axis leaving one out (5 across, 6 down): some of each
  assert.equal(termLabelsNote([["key", 4, [0, 5, 12]], ["query", 3, [0, 6, 12]]], keptLabels(both, null), 30),
    " Labelled: every 4th key and every 3rd query, and some of the differing tokens' rows and columns; hover over a cell for its tokens.");
});

test("the slanted key labels of each Compare plot are apart by their text's size, beside the query labels and colour bar", () => {
  // the trophy at 1280x800 (three panels 408 px wide) labelled all 17 keys 15.2 px apart, less than slanted 12 px labels
  // need; in presenter mode (401 px, 1.4 times the text) the difference's every 2nd, 20.7 px apart: the rule left 110 px
  // for the query labels and the colour bar, which took 134 px beside "␣because" and 206 px beside "␣big / ␣small"
  const words = ["<|bos|>", "The", "␣trophy", "␣does", "␣not", "␣fit", "␣in", "␣the", "␣su", "itc", "ase", "␣because", "␣it", "␣is", "␣too", "␣big", "."];
  const a = words.map((display) => ({ display }));
  const diff = a.map((t, i) => (i === 15 ? { display: "␣big / ␣small" } : t));
  // [panel width, text scale, tokens, the key axis's length Plotly drew there (measured in the page)]
  const drawn = [[408, 1, a, 259], [408, 1, diff, 249], [401, 1.4, a, 217], [401, 1.4, diff, 176], [373, 1, a, 224], [373, 1, diff, 195]];
  for (const [width, k, tokens, length] of drawn) {
    const ticks = tokenAxes(width, tokens, 500, true, [[[15], "the ones that differ"]], k).xaxis.tickvals;
    const apart = Math.min(...ticks.slice(1).map((t, i) => t - ticks[i])) * (length / tokens.length);
    assert.ok(apart / Math.SQRT2 >= 0.9 * 12 * k, `${width} px, ×${k}, ${tokens[15].display}: ${ticks} (${apart.toFixed(1)} px apart)`);
    assert.ok(ticks.length >= 5, `${width} px: ${ticks}`); // (as many as have room, not a few)
  }
});

test("the query labels of a long comparison have room in presenter mode", () => {
  // 34 tokens at 1280x720 in presenter mode: every one labelled down 519 px, 15 px apart for labels 18 px high (the
  // rule counted 14 px a label, the size outside presenter mode)
  const tokens = [{ display: "<|bos|>" }, ...Array.from({ length: 33 }, (_, i) => ({ display: `␣w${i}` }))];
  const ticks = tokenAxes(401, tokens, 620, true, [], 1.4).yaxis.tickvals;
  const apart = Math.min(...ticks.slice(1).map((t, i) => t - ticks[i])) * (519 / 34);
  assert.ok(apart >= 1.2 * 11 * 1.4, `${ticks} (${apart.toFixed(1)} px apart)`);
  assert.ok(ticks.length >= 10, `${ticks}`);
});

test("the patterns' titles fit on one line beside the export buttons, with each model's last head", () => {
  // three to a row leave about 230 px beside the buttons, 27 characters of the titles' bold type (qkv.js matrixTitles);
  // "a · tiny-sinusoidal · layer 0 · head 0" took two lines, in presenter mode at 1280x720 too, and put sides a and
  // b's plots below the difference's
  const side = (model) => ({ model });
  const models = [["tiny-sinusoidal", 4, 4], ["minilm-l6", 6, 12], ["smollm2-135m", 30, 9]];
  for (const [model, layers, heads] of models) {
    const titles = panelTitles({ a: side(model), b: side(model) }, { layer: layers - 1, head: heads - 1 });
    assert.match(titles.a, new RegExp(`^a · ${model} · L${layers - 1} H${heads - 1}$`));
    for (const title of Object.values(titles)) assert.ok([...title].length <= 27, title);
  }
  assert.deepEqual(panelTitles({ a: side("tiny-sinusoidal"), b: { model: "tiny-rotary", attention_unavailable: true } }, { layer: 1, head: 0 }),
    { a: "a · tiny-sinusoidal · L1 H0", b: "b · tiny-rotary", diff: "b − a · L1 H0" });
  assert.deepEqual(panelTitles(null, { layer: 1, head: 0 }), { a: "a", b: "b", diff: "b − a" });
});

test("a side with special tokens hidden: their rows and columns left out, and its caption says so (rows no longer sum to 1)", () => {
  const tok = (display, special = false) => ({ id: 1, text: display, display, special, position: 0 });
  const side = { tokens: [tok("[CLS]", true), tok("the"), tok("cat"), tok("[SEP]", true)] };
  const hidden = sideKept(side, true);
  assert.deepEqual(hidden.keep, [1, 2]);
  assert.match(hidden.note, /^ Special tokens hidden \(\[CLS\], \[SEP\]\): .*sum to less than 1\.$/);
  assert.deepEqual(sideKept(side, false), { keep: null, note: "" });
  assert.deepEqual(sideKept({ tokens: [tok("Hi")] }, true), { keep: null, note: "" }); // nothing to hide: nothing said
});
