// The Positional view's pure parts: the section of the family of models (the same sentence through the models that
// differ only in their positional scheme) says which head of each it draws, for a model chosen above that is one of
// them and for one that is not (MiniLM, SmolLM2: the page shows them the tiny models).
import assert from "node:assert/strict";
import { test } from "node:test";

import { patternAxes, tickSize } from "../../../frontend/js/plot.js";
import { encodingCaption, encodingRange, familyHead, familyIntro, patternNote, positionChoices, positionsNote, runWords, termLabels } from "../../../frontend/js/views/positional.js";

const FAMILY = { title: "The tiny models", description: "the same but for the positional scheme", models: ["tiny-sinusoidal", "tiny-rotary"] };
const TINY = { model: "tiny-rotary", n_layers: 4, n_heads: 4 };

test("a model of the family: the selected head of each, ▸ on the one chosen above", () => {
  const intro = familyIntro({ current: "tiny-rotary", family: FAMILY }, { layer: 1, head: 2 });
  assert.match(intro, /^Layer 1, head 2 of each model/);
  assert.match(intro, /▸ marks the model chosen above/);
  assert.deepEqual(familyHead(1, 2, TINY, true), { layer: 1, head: 2, note: "" });
  // (a head the family's models do not have cannot be selected on one of them, but an answer may lag the state)
  assert.match(familyHead(5, 0, TINY, true).why, /tiny-rotary has no layer 5, head 0 \(it has 4 layers × 4 heads\)/);
  assert.match(familyHead(1, 0, { ...TINY, n_layers: 1 }, true).why, /\(it has 1 layer × 4 heads\)/); // (not “1 layers”)
});

test("a model outside the family: said so, no ▸ promised, and each model's nearest head drawn with its own numbers", () => {
  // SmolLM2's layer 20, head 8 drew five errors ("tiny-… has no layer 20, head 8"), and the intro promised a ▸
  const intro = familyIntro({ current: "smollm2-135m", family: FAMILY }, { layer: 20, head: 8 });
  assert.match(intro, /^smollm2-135m is not one of these models/);
  assert.doesNotMatch(intro, /▸/);
  assert.deepEqual(familyHead(20, 8, TINY, false), { layer: 3, head: 3, note: "layer 3, head 3 (it has 4 layers × 4 heads)" });
  assert.deepEqual(familyHead(2, 8, TINY, false), { layer: 2, head: 3, note: "layer 2, head 3 (it has 4 layers × 4 heads)" });
  assert.deepEqual(familyHead(0, 1, TINY, false), { layer: 0, head: 1, note: "" });
  assert.equal(familyIntro({ current: "x", familyError: "There are no models that differ only in their positional scheme." }, { layer: 0, head: 0 }),
    "There are no models that differ only in their positional scheme.");
});

test("an encoding with a few huge values keeps its colours for the rest, and the caption says where they stop", () => {
  // MiniLM's position table: |values| mostly under 0.1, two near 1.9 (position 0): at ±1.87 the heatmap was white
  const z = Array.from({ length: 64 }, (_, i) => Array.from({ length: 50 }, (_, j) => 0.05 * Math.sin(i * 0.3 + j)));
  z[0][7] = -1.87;
  z[3][9] = 1.2;
  const r = encodingRange(z);
  const all = z.flat().map(Math.abs);
  assert.ok(r.lim < 0.06 && r.lim >= 0.04, r.lim); // the bulk's range, not the outliers'
  assert.equal(r.beyond, all.filter((v) => v > r.lim).length);
  assert.ok(r.beyond >= 2 && r.beyond < all.length * 0.002, r.beyond);
  assert.deepEqual([r.max, r.at], [-1.87, [0, 7]]);
  const said = encodingCaption(r, all.length);
  assert.match(said, new RegExp(`±${r.lim.toPrecision(2)}`));
  assert.match(said, new RegExp(`${r.beyond} of the ${all.length.toLocaleString("en")} values`));
  assert.match(said, /1\.87 at position 0, dimension 7/);
  // a table without outliers (sinusoidal: all within ±1) keeps its full range, and says nothing of it
  const sin = Array.from({ length: 16 }, (_, i) => Array.from({ length: 8 }, (_, j) => Math.sin(i / 10 ** (j / 8))));
  const full = encodingRange(sin);
  assert.equal(full.lim, Math.max(...sin.flat().map(Math.abs)));
  assert.equal(full.beyond, 0);
  assert.equal(encodingCaption(full, 128), "");
});

test("the encoding's caption says one value past the colours' stop in the singular", () => {
  // MiniLM's table at one or two positions (a link's pn=1): of its 384 values only the largest, 1.87, lies past the stop
  const z = [Array.from({ length: 384 }, (_, j) => 0.05 * Math.sin(j))];
  z[0][7] = 1.87;
  const r = encodingRange(z);
  assert.equal(r.beyond, 1);
  const said = encodingCaption(r, 384);
  assert.match(said, /: 1 of the 384 values lies beyond, in the end colours \(the largest 1\.87 at position 0, dimension 7;/);
});

// 30 tokens of the default model ("The old fisherman walked slowly along the quiet harbour while the children laughed
// and the gulls circled above the boats")
const SENTENCE = ["<|bos|>", "The", "␣old", "␣f", "is", "her", "man", "␣walked", "␣slowly", "␣along", "␣the", "␣quiet", "␣har", "b", "our",
  "␣while", "␣the", "␣children", "␣laughed", "␣and", "␣the", "␣g", "ull", "s", "␣cir", "c", "led", "␣above", "␣the", "␣boats"].map((display) => ({ display }));
const gap = (ticks) => Math.min(...ticks.slice(1).map((t, i) => t - ticks[i]));

test("the attention with positions normal, removed and shuffled, and the five models', label as many tokens as have room", () => {
  // at 1280x800 the five-model strip's panels (240 px) labelled every 3rd key, 10 px apart slanted; in presenter mode at
  // 1280x720 all 30 query labels down 350 px, 11.7 px apart for labels 15 px high
  const n = SENTENCE.length;
  // [panel width, text scale, the axes' lengths Plotly drew there (measured in the page): across, down]
  const drawn = [[408, 1, 265, 372], [240, 1, 100, 372], [358, 1, 216, 372], [401, 1.4, 226, 350], [297, 1.4, 124, 350]];
  for (const [width, k, across, down] of drawn) {
    const { height, xaxis, yaxis } = patternAxes(width, SENTENCE, k);
    assert.equal(height, 440);
    const size = tickSize(n) * k;
    assert.ok(gap(yaxis.tickvals) * (down / n) >= 1.2 * size, `${width} px, ×${k}: down ${yaxis.tickvals}`);
    assert.ok((gap(xaxis.tickvals) * (across / n)) / Math.SQRT2 >= 0.9 * size, `${width} px, ×${k}: across ${xaxis.tickvals}`);
    assert.ok(xaxis.tickvals.length >= 3 && yaxis.tickvals.length >= 10, `${width} px, ×${k}: ${xaxis.tickvals} / ${yaxis.tickvals}`);
  }
});

test("the four terms' labels, slanted 60° across and upright down, are apart by their size in presenter mode too", () => {
  // in presenter mode at 1280x720 all 30 query labels of each row, 344 px high, were 11.5 px apart for labels 9.8 px high
  const n = SENTENCE.length;
  // [figure width, columns, row height, text scale, one term's axes as Plotly drew them (measured in the page): across, down]
  const drawn = [[1248, 5, 440, 1, 210, 350], [1238, 5, 440, 1.4, 205, 344], [358, 2, 440, 1, 108, 340]];
  for (const [width, cols, rowHeight, k, across, down] of drawn) {
    const { size, xStep, yStep } = termLabels(width, cols, rowHeight, SENTENCE, k);
    assert.equal(size, k > 1 ? tickSize(n) : 7); // (in presenter mode as large as every token axis: 7 px was 9.8 there)
    assert.ok(yStep * (down / n) >= 1.2 * size * k, `${width} px, ×${k}: every ${yStep}th down`);
    assert.ok((xStep * (across / n)) / Math.SQRT2 >= 0.9 * size * k, `${width} px, ×${k}: every ${xStep}th across`); // (as the page's tests count)
    assert.ok(n / xStep >= 5 && n / yStep >= 10, `${width} px, ×${k}: every ${xStep}th, ${yStep}th`); // (as many as have room)
  }
});

test("the four terms' caption says which tokens their thinned axes label; where they label all it says nothing of it", async () => {
  // 30 tokens at 1280x800: every 2nd query labelled down each term and every 3rd key across, and no word of it (the
  // five panels have no axis titles)
  const { ordinal, selectedLabels, termLabelsNote, tickIndices } = await import("../../../frontend/js/plot.js");
  let thinned = 0;
  for (const [width, cols, rowHeight, k] of [[1248, 5, 440, 1], [1238, 5, 440, 1.4], [358, 2, 440, 1], [820, 3, 300, 1.4]]) {
    for (const tokens of [SENTENCE, SENTENCE.slice(0, 6)]) {
      const { xStep, yStep } = termLabels(width, cols, rowHeight, tokens, k);
      for (const sel of [null, tokens.length - 1, 7]) {
        const n = tokens.length;
        const note = termLabelsNote([["key", xStep, tickIndices(n, xStep, [sel])], ["query", yStep, tickIndices(n, yStep, [sel])]], [selectedLabels(sel)], n);
        const what = `${tokens.length} tokens, ${width} px, ×${k}, query ${sel}`;
        if (xStep > 1) assert.match(note, new RegExp(`every ${ordinal(xStep)} key`, "i"), what);
        else assert.doesNotMatch(note, /key/, what);
        if (yStep > 1) assert.match(note, new RegExp(`every ${ordinal(yStep)} query`, "i"), what);
        else assert.doesNotMatch(note, /every \d+\w+ query/, what);
        // the selected query is labelled whatever the step: said where a step leaves it out
        const off = sel !== null && sel < tokens.length && ((xStep > 1 && sel % xStep) || (yStep > 1 && sel % yStep));
        assert.equal(/selected query/.test(note), Boolean(off), what);
        if (xStep > 1 || yStep > 1) thinned++;
        else assert.equal(note, "", what);
      }
    }
  }
  assert.ok(thinned > 0);
});

test("with the page's positions shuffled, the encoding's intro says where the positions given are listed", () => {
  // it said "the token chips say which", but a chip's number is the token's place in the text (0, 1, 2, ...): the
  // position given shows only in its tooltip
  const words = runWords({ positional: "rotary" }, { positions: "shuffled" });
  assert.doesNotMatch(words, /token chips say which/);
  assert.match(words, /the panel “Positions shuffled” below lists them/);
  assert.match(words, /a token chip's number is its place in the text, its tooltip the position it was given/);
  assert.equal(runWords({ positional: "none" }, { positions: "shuffled" }), "");
  assert.equal(runWords({ positional: "rotary" }, { positions: "normal" }), "");
  assert.match(runWords({ positional: "learned" }, { positions: "removed" }), /positions removed/);
});

test("a training step of one of the family (NAME@STEP): its layer and head in the final models, not 'its own nearest head'", () => {
  // tiny-sinusoidal@16 was called "not one of these models", each shown "at its own layer and head nearest" to the one
  // selected "on its own tokens": the same layers, heads and tokens as the model on screen
  const intro = familyIntro({ current: "tiny-sinusoidal@16", family: FAMILY }, { layer: 2, head: 1 });
  assert.match(intro, /^tiny-sinusoidal@16 is tiny-sinusoidal at training step 16; these are the final models: layer 2, head 1 of each, with the same interventions/);
  assert.doesNotMatch(intro, /not one of these models|nearest|its own tokens|▸/);
  // a step of a model outside the family is still outside it
  assert.match(familyIntro({ current: "lab-1@120", family: FAMILY }, { layer: 0, head: 0 }), /^lab-1@120 is not one of these models/);
});

test("positionChoices: the menu shows the number of positions drawn, added where it is not one of its choices", () => {
  // a training-lab model's learned table of 24: "64" stood above "learned encoding of 24 positions"
  assert.deepEqual(positionChoices(64, 24), { choices: [16, 24, 32, 64, 128, 256, 512], shown: 24 });
  // tiny-learned's 128 asked 256: one of the choices already
  assert.deepEqual(positionChoices(256, 128), { choices: [16, 32, 64, 128, 256, 512], shown: 128 });
  // all that was asked is drawn (or not known yet): what was asked, a number of a link's among the choices
  assert.deepEqual(positionChoices(64, 64).shown, 64);
  assert.deepEqual(positionChoices(64), { choices: [16, 32, 64, 128, 256, 512], shown: 64 });
  assert.deepEqual(positionChoices(100).choices, [16, 32, 64, 100, 128, 256, 512]);
});

test("the encoding's caption names the model's own limits, not the number the menu asked for", () => {
  // a training-lab model with learned positions: a table of 24 (its trained length), 64 asked (the page's default)
  const lab = { max_tokens: 24, max_tokens_beyond: 24, trained_tokens: 24 };
  const table = positionsNote(24, 64, lab);
  assert.doesNotMatch(table, /64/);
  assert.match(table, /positions 0 to 23 only \(its trained length of 24 tokens\)/);
  // a table as long as asked: nothing to say
  assert.equal(positionsNote(64, 64, { max_tokens: 128, max_tokens_beyond: 128, trained_tokens: 512 }), "");
  // a formula drawn past the trained length (a sinusoidal lab model trained on 24, 64 drawn; tiny-sinusoidal at 256)
  assert.match(positionsNote(64, 64, { max_tokens: 24, max_tokens_beyond: 512, trained_tokens: 24 }),
    /trained on texts of at most 24 tokens: it never saw positions 24 to 63\./);
  assert.match(positionsNote(256, 256, { max_tokens: 128, max_tokens_beyond: 512, trained_tokens: 128 }),
    /positions 128 to 255/);
  assert.equal(positionsNote(128, 128, { max_tokens: 128, max_tokens_beyond: 512, trained_tokens: 128 }), "");
});

test("the three patterns' notes end each sentence before the page's other interventions are said", () => {
  // "Position given to each token: 4, 0, 5, 3, 2, 6, 1 Scores not divided by √d_head." ran two sentences together
  const others = "Scores not divided by √d_head. Ablated heads: L0 H1.";
  const notes = [
    patternNote("shuffled", [4, 0, 5, 3, 2, 6, 1], "learned", others),
    patternNote("shuffled", Array.from({ length: 20 }, (_, i) => 19 - i), "learned", others),
    patternNote("shuffled", [1, 0], "none", others),
    patternNote("shuffled", [0], "rotary", others),
    patternNote("removed", null, "learned", others),
    patternNote("normal", null, "learned", others),
  ];
  for (const note of notes) {
    assert.ok(note.endsWith(` ${others}`), note);
    assert.match(note.slice(0, -others.length - 1), /\.$/, note);
  }
  assert.equal(notes[0], `Position given to each token: 4, 0, 5, 3, 2, 6, 1. ${others}`);
  assert.match(notes[1], /^Position given to each token: 19, 18, .*, 4, … \(all in the JSON\)\. /);
  assert.match(notes[2], /^Position given to each token: 1, 0 \(not read by this model\)\. /);
  assert.match(notes[3], /^Position given to each token: 0\. One token has only its own position/);
  // without other interventions, the note is its own sentence alone
  assert.equal(patternNote("shuffled", [1, 0], "learned", ""), "Position given to each token: 1, 0.");
  assert.equal(patternNote("removed", null, "learned", ""), "Positional information taken out.");
});

test("the shuffled pattern with special tokens hidden lists the positions of the tokens drawn, and of the hidden ones apart", () => {
  // [CLS] the dog . [SEP]: tokens 0 and 4 hidden, the pattern draws tokens 1, 2, 3
  const perm = [3, 0, 4, 2, 1];
  assert.equal(patternNote("shuffled", perm, "learned", "", [1, 2, 3]),
    "Position given to each token shown: 0, 4, 2 (to the hidden special tokens: 3, 1).");
  assert.equal(patternNote("shuffled", perm, "learned", "", null), "Position given to each token: 3, 0, 4, 2, 1.");
  assert.equal(patternNote("removed", null, "learned", "", [1, 2, 3]), "Positional information taken out.");
  // a model that reads no positions: one bracket says both (not "(…: 3, 1) (not read by this model)")
  assert.equal(patternNote("shuffled", perm, "none", "", [1, 2, 3]),
    "Position given to each token shown: 0, 4, 2 (to the hidden special tokens: 3, 1; not read by this model).");
});
