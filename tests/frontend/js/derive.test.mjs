// The derived values every view uses (frontend/js/derive.js), each checked against the answer it is derived from.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  asSentence, baseParams, bothMasked, byLayer, wholeRows, compact, effectiveToken, intoSight, keptIndices, maskOf, masksAny, positionalLength, positionText, scrollCues,
  beyondNotice, count, emptyMessage, hideSpecialBox, settingsNotes, shownIndices, shownText, temperatureElsewhere,
  similarityByDistance, similarityCaption, keptCells, keptPosition, keptTokens,
  sliceThumbnails, visibleAnalysis, wholeInsert, stripHidden, hiddenWords, unpackedAttention,
} from "../../../frontend/js/derive.js";
import { analysis, MODELS } from "./fixtures.mjs";

test("the query token: hovered, else selected, else the last one shown", () => {
  const five = analysis({ n: 5 }).tokens; // (token 0 the start token)
  assert.equal(effectiveToken(five, {}), 4);
  assert.equal(effectiveToken(five, { token: 2 }), 2);
  assert.equal(effectiveToken(five, { token: 2, hover: 3 }), 3);
  assert.equal(effectiveToken(five, { token: 9 }), 4); // a token the sentence no longer has
  assert.equal(effectiveToken(five, { token: 0 }, [1, 2, 3]), 3); // a hidden token: the last one shown
  assert.equal(effectiveToken(five, { token: 2 }, [1, 2, 3]), 2);
});

test("the default query is the last token that stands for text: on an encoder the one before [SEP], not [SEP]", () => {
  // MiniLM's tokens: [CLS] the cat . [SEP]; [SEP]'s attention is not about the sentence's words
  const enc = ["[CLS]", "the", "cat", ".", "[SEP]"].map((text, position) => ({ text, position, special: text.startsWith("[") }));
  assert.equal(effectiveToken(enc, {}), 3);
  assert.equal(effectiveToken(enc, {}, [1, 2, 3]), 3); // special tokens hidden: the same token
  assert.equal(effectiveToken(enc, { token: 9 }), 3); // a token the sentence no longer has
  assert.equal(effectiveToken(enc, { token: 4 }), 4); // [SEP] chosen: [SEP]
  assert.equal(effectiveToken(enc, { hover: 0 }), 0);
  // nothing but special tokens: the last one
  assert.equal(effectiveToken([{ special: true }, { special: true }], {}), 1);
});

test("the mask is the answer's own", () => {
  const a = analysis({ n: 4 });
  const m = maskOf(a);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.equal(m(i, j), j > i);
  assert.ok(masksAny(a));
  const b = analysis({ n: 4, causal: false });
  assert.ok(!masksAny(b) && !maskOf(b)(0, 3));
  assert.equal(maskOf({}), null);
});

test("hiding special tokens picks rows and columns by index: the same numbers, none recomputed", () => {
  const a = analysis({ n: 5 });
  a.attention[1][0] = a.attention[1][0].map((row, i) => row.map((v, j) => i * 10 + j)); // every cell its own value
  const v = visibleAnalysis(a, true);
  assert.deepEqual(shownIndices(v), [1, 2, 3, 4]);
  assert.deepEqual(v.hidden.map((t) => t.text), ["<|bos|>"]);
  assert.deepEqual(v.attention[1][0], [1, 2, 3, 4].map((i) => [1, 2, 3, 4].map((j) => i * 10 + j)));
  assert.equal(v.mask(0, 1), true); // kept token 1 cannot see kept token 2
  assert.equal(v.mask(1, 0), false);
  assert.equal(visibleAnalysis(a, true), v); // memoised per answer
  const all = visibleAnalysis(a, false);
  assert.equal(all.tokens, a.tokens);
  assert.equal(keptIndices(a.tokens, false), null);
  assert.equal(keptIndices([{ special: true }], true), null); // never none
});

test("the other views' attention plots keep the same rows and columns: tokens with their API index, cells picked", () => {
  const a = analysis({ n: 4 });
  const z = a.tokens.map((_, i) => a.tokens.map((_, j) => i * 10 + j));
  const keep = keptIndices(a.tokens, true);
  assert.deepEqual(keep, [1, 2, 3]);
  assert.deepEqual(keptCells(z, keep), [[11, 12, 13], [21, 22, 23], [31, 32, 33]]);
  assert.equal(keptCells(z, keep), keptCells(z, keep)); // memoised: a plot is not drawn again for the same cells
  assert.equal(keptCells(z, null), z);
  assert.deepEqual(keptTokens(a.tokens, keep).map((t) => [t.index, t.text]), [1, 2, 3].map((i) => [i, a.tokens[i].text]));
  assert.equal(keptTokens(a.tokens, null), a.tokens);
  // the selected query, an API index, where it is drawn: hidden ones nowhere
  assert.equal(keptPosition(keep, 2), 1);
  assert.equal(keptPosition(keep, 0), null);
  assert.equal(keptPosition(null, 2), 2);
  assert.equal(keptPosition(keep, null), null);
  // the mask of both sides, for the kept rows and columns: kept token 0 (API 1) cannot see kept token 1 (API 2)
  const both = bothMasked(a, a, keep);
  assert.equal(both(0, 1), true);
  assert.equal(both(1, 0), false);
  assert.equal(both(2, 2), false);
});

test("thumbnails lose the same rows and columns", () => {
  const n = 3;
  const bytes = Uint8Array.from({ length: 2 * 1 * n * n }, (_, k) => k); // [layer 2, head 1, 3, 3]
  const t = sliceThumbnails({ shape: [2, 1, n, n], scale: 255, bytes }, [1, 2]);
  assert.deepEqual(t.shape, [2, 1, 2, 2]);
  assert.deepEqual([...t.bytes], [4, 5, 7, 8, 13, 14, 16, 17]);
});

test("an answer asked with visible_only has whole rows again: the cut keys as 0", () => {
  // a causal answer of 3 tokens, one layer of two heads, each row cut after the keys its query sees
  const cut = {
    visible: [1, 2, 3], layers: [1],
    attention: [[[[1], [0.25, 0.75], [0.5, 0.25, 0.25]], [[1], [0.5, 0.5], [0.1, 0.2, 0.7]]]],
  };
  const a = wholeRows(cut);
  assert.equal(a, cut);
  assert.deepEqual(a.attention[0][0], [[1, 0, 0], [0.25, 0.75, 0], [0.5, 0.25, 0.25]]);
  assert.deepEqual(a.attention[0][1], [[1, 0, 0], [0.5, 0.5, 0], [0.1, 0.2, 0.7]]);
  // whole rows (a plain answer, an encoder's) and a layer the page holds as null are left as they are
  const plain = analysis({ layers: 2 });
  const before = JSON.stringify(plain.attention);
  assert.equal(JSON.stringify(wholeRows(plain).attention), before);
  assert.deepEqual(wholeRows({ visible: [2, 2], attention: [null, [[[0.5, 0.5], [0.5, 0.5]]]] }).attention[1][0],
    [[0.5, 0.5], [0.5, 0.5]]);
  assert.equal(wholeRows(null), null);
});

/** Little-endian uint16 bytes of integers, at an odd offset of their buffer where `odd` (a view into a larger one). */
function u16bytes(ints, odd = false) {
  const buf = new Uint8Array(2 * ints.length + (odd ? 1 : 0));
  const view = new DataView(buf.buffer);
  ints.forEach((v, i) => view.setUint16((odd ? 1 : 0) + 2 * i, v, true));
  return odd ? buf.subarray(1) : buf;
}

test("an answer asked with packed has its attention made from the integers: the same numbers as the JSON lists", () => {
  // rows "visible": each query's first visible[q] keys; 1 layer, 2 heads, 3 queries
  const ints = [10000, 2500, 7500, 5000, 2500, 2500, 10000, 5000, 5000, 1000, 2000, 7000];
  for (const odd of [false, true]) {
    const packed = { shape: [1, 2, 3, 3], dtype: "uint16", scale: 10000, rows: "visible", bytes: u16bytes(ints, odd) };
    const a = wholeRows({ visible: [1, 2, 3], layers: [1], attention: [], attention_packed: packed });
    assert.equal(a.attention_packed, undefined);
    assert.deepEqual(a.attention[0][0], [[1, 0, 0], [0.25, 0.75, 0], [0.5, 0.25, 0.25]]);
    assert.deepEqual(a.attention[0][1], [[1, 0, 0], [0.5, 0.5, 0], [0.1, 0.2, 0.7]]);
  }
  // integer / 10000 is the double JSON.parse gives the 4-decimal number, for every such number
  for (let k = 0; k <= 10000; k++) {
    const text = (k / 10000).toFixed(4);
    if (JSON.parse(text) !== k / 10000) assert.fail(`${k} / 10000 is not ${text}`);
  }
  // rows "whole": every cell
  const whole = unpackedAttention({ shape: [1, 1, 2, 2], scale: 10000, rows: "whole", bytes: u16bytes([10000, 0, 4000, 6000]) }, [1, 2]);
  assert.deepEqual(whole, [[[[1, 0], [0.4, 0.6]]]]);
  // bytes that do not fit the shape are an error, not a picture of something else
  assert.throws(() => unpackedAttention({ shape: [1, 1, 2, 2], scale: 10000, rows: "whole", bytes: u16bytes([1, 2, 3]) }, [1, 2]));
  assert.deepEqual(unpackedAttention({ shape: [0, 4, 2, 2], scale: 10000, rows: "visible", bytes: new Uint8Array(0) }, [1, 2]), []);
});

test("a compact answer indexed by layer, and who gets one", () => {
  const a = analysis({ layers: 6, only: [4] });
  const b = byLayer(a);
  assert.equal(b.attention.length, 6);
  assert.equal(b.attention[4], a.attention[0]);
  assert.equal(b.attention[0], null);
  const full = analysis({ layers: 2 });
  assert.equal(byLayer(full), full);
  assert.equal(compact(MODELS[0]), false);
  assert.equal(compact(MODELS[2]), true);
});

test("positions shown, request parameters, the token as shown", () => {
  assert.equal(positionalLength(MODELS[0], 512), 512); // sinusoidal: no end
  assert.equal(positionalLength({ positional: "learned", max_tokens: 128 }, 512), 128);
  // a model whose texts are kept shorter than its table (MiniLM: texts of 128 tokens, a table of 512) shows its whole table
  assert.equal(positionalLength({ positional: "learned", max_tokens: 128, trained_tokens: 512 }, 512), 512);
  assert.equal(positionalLength({ positional: "learned", max_tokens: 128, trained_tokens: 512 }, 256), 256);
  assert.deepEqual(baseParams({ text: "t", positions: "removed", scale: false, ablate: [[0, 1]] }, MODELS[1]),
    { text: "t", model: "tiny-nope", positions: "removed", scale: false, ablate: [[0, 1]] });
  assert.equal(shownText({ text: " cat", display: "␣cat" }), "␣cat");
  assert.equal(shownText({ text: "␣cat" }), "␣cat");
});

test("a paste, a drop or a whole text inserted is analysed at once; a keystroke or a composition waits", () => {
  for (const inputType of ["insertFromPaste", "insertFromDrop", "insertReplacementText"]) assert.ok(wholeInsert({ inputType, data: null }));
  assert.ok(wholeInsert({ inputType: "insertText", data: "The cat sat" }));
  assert.ok(!wholeInsert({ inputType: "insertText", data: "s" }));
  assert.ok(!wholeInsert({ inputType: "deleteContentBackward", data: null }));
  assert.ok(!wholeInsert({ inputType: "insertCompositionText", data: "日本", isComposing: true }));
});

test("a row that scrolls sideways shows which side hides something", () => {
  assert.deepEqual(scrollCues({ scrollLeft: 0, clientWidth: 500, scrollWidth: 500 }), { left: false, right: false }); // it all fits
  assert.deepEqual(scrollCues({ scrollLeft: 0, clientWidth: 500, scrollWidth: 900 }), { left: false, right: true });
  assert.deepEqual(scrollCues({ scrollLeft: 200, clientWidth: 500, scrollWidth: 900 }), { left: true, right: true });
  assert.deepEqual(scrollCues({ scrollLeft: 399.5, clientWidth: 500, scrollWidth: 900 }), { left: true, right: false }); // at the end
  assert.deepEqual(scrollCues({ scrollLeft: 0.5, clientWidth: 500, scrollWidth: 500.5 }), { left: false, right: false }); // rounding
});

test("intoSight: an item out of a box's sight is brought to its start, a margin after it; one in sight stays", () => {
  // a box 100 high scrolled to 50 shows 50..150
  assert.equal(intoSight(80, 20, 50, 100), 50); // in sight: stays
  assert.equal(intoSight(130, 20, 50, 100), 126); // its end within 4 of the edge: first
  assert.equal(intoSight(200, 20, 50, 100), 196); // below: first, 4 after the start
  assert.equal(intoSight(10, 20, 50, 100), 6); // above: the same
  assert.equal(intoSight(2, 20, 50, 100), 0); // (never before the start)
  assert.equal(intoSight(300, 150, 0, 100), 296); // taller than the box: its start in sight
});

test("the cosine heatmap's caption: means by distance, each claim only where its numbers say so", () => {
  // a made-up matrix: cos(i, j) = 1 - |i - j| / 40, except positions 0 and 1 (0.1)
  const n = 20;
  const sim = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => 1 - Math.abs(i - j) / 40));
  sim[0][1] = sim[1][0] = 0.1;
  const by = similarityByDistance(sim);
  assert.deepEqual(by.map((x) => x.d), [1, 4, 16]); // 64 is past the last position
  const mean1 = (0.1 + 18 * (1 - 1 / 40)) / 19; // one pair of 19 differs
  assert.ok(Math.abs(by[0].mean - mean1) < 1e-12 && Math.abs(by[2].mean - (1 - 16 / 40)) < 1e-12);
  const text = similarityCaption(sim);
  assert.match(text, new RegExp(`${mean1.toFixed(2)} 1 apart, 0\\.90 4 apart, 0\\.60 16 apart`));
  assert.match(text, /On average nearby positions are more alike/);
  assert.match(text, /Not every pair: positions 0 and 1 have cosine 0\.10\./);
  // the same without the odd pair: no exception named; a matrix whose means rise: no claim that they fall
  sim[0][1] = sim[1][0] = 1 - 1 / 40;
  assert.doesNotMatch(similarityCaption(sim), /Not every pair/);
  const rising = sim.map((row, i) => row.map((_, j) => Math.abs(i - j) / 20));
  assert.match(similarityCaption(rising), /does not fall steadily/);
  assert.doesNotMatch(similarityCaption(rising), /more alike|Not every pair/);
  assert.equal(similarityCaption([[1, 0.5], [0.5, 1]]), "Cosine of every pair of positions.");
});

test("a comparison masks a cell only where neither side sees it", () => {
  const causal = { visible: [1, 2, 3] }; // query i sees keys 0..i
  const encoder = { visible: [3, 3, 3] }; // every key
  const shorter = { visible: [1, 1, 3] };
  assert.equal(bothMasked(causal, encoder), null); // the encoder's weights above the diagonal are real differences
  assert.equal(bothMasked(encoder, causal), null);
  const m = bothMasked(causal, shorter);
  assert.deepEqual([m(0, 1), m(1, 1), m(1, 2), m(2, 2)], [true, false, true, false]);
  assert.equal(bothMasked(null, causal), null);
});

test("a token's position: its place in the text, and the position the run gave the model where that differs", () => {
  assert.equal(positionText(2, { positions: "normal", permutation: null }), "position 2");
  assert.equal(positionText(2, null), "position 2");
  assert.equal(positionText(1, { positions: "shuffled", permutation: [4, 0, 7, 3] }), "position 1 in the text, given position 0 (shuffled)");
  assert.match(positionText(3, { positions: "removed" }), /^position 3 in the text \(the model was given none/);
  // tiny-nope reads no positions: shuffling gave it none ("given position 0 (shuffled)" was said of it)
  assert.equal(positionText(1, { positions: "shuffled", permutation: [4, 0, 7, 3] }, "none"), "position 1 (this model reads no positions)");
  assert.equal(positionText(1, { positions: "normal", permutation: null }, "none"), "position 1");
});

test("an API message as a sentence of the page: a capital and a full stop, once", () => {
  assert.equal(asSentence("the text is 1002 tokens; model 'x' reads at most 128 tokens (max_tokens)"),
    "The text is 1002 tokens; model 'x' reads at most 128 tokens (max_tokens).");
  assert.equal(asSentence("The sentence box holds at most 2000 characters."), "The sentence box holds at most 2000 characters.");
  assert.equal(asSentence("  "), "");
  assert.equal(asSentence(null), "");
});

test("a message that starts with a model's name keeps the name as it is spelt: no capital", () => {
  // ?layer=5&head=7 on tiny-sinusoidal said "Tiny-sinusoidal has 4 layers (0 to 3): there is no layer 5; showing
  // layer 0. tiny-sinusoidal has 4 heads ...": the same model named two ways, and the first is no model's name
  const names = ["tiny-sinusoidal", "smollm2-135m", "lab-1@50"];
  assert.equal(asSentence("tiny-sinusoidal has 4 layers (0 to 3): there is no layer 5; showing layer 0.", names),
    "tiny-sinusoidal has 4 layers (0 to 3): there is no layer 5; showing layer 0.");
  assert.equal(asSentence("smollm2-135m is loading", names), "smollm2-135m is loading.");
  assert.equal(asSentence("lab-1@50: gone", names), "lab-1@50: gone.");
  // a name only at the start of a longer word is a word: capitalised as before
  assert.equal(asSentence("tiny-sinusoidal-x is unknown", names), "Tiny-sinusoidal-x is unknown.");
  assert.equal(asSentence("the text is empty", names), "The text is empty.");
});

test("temperatureElsewhere: the slider off 1, said by the views whose probabilities are at temperature 1", () => {
  assert.deepEqual([{ temp: 1 }, { temp: 0.3 }, { temp: 2 }, {}, null].map(temperatureElsewhere), [false, true, true, false, false]);
});

test("a number of things is written through count(n, noun): no view spells its own plural", async () => {
  const { readdir, readFile } = await import("node:fs/promises");
  assert.equal(count(1, "forward pass", "forward passes"), "1 forward pass");
  assert.equal(count(0, "token"), "0 tokens");
  // `${n} token${n === 1 ? "" : "s"}`: the form count() stands for, written out again by hand
  const inline = /\$\{([^{}]+)\}\s?[\w ]+\$\{\s*\1 === 1 \? "" : "e?s"\s*\}/;
  const root = new URL("../../../frontend/js/", import.meta.url);
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith(".js"));
  assert.ok(files.length > 20);
  const found = [];
  for (const f of files) {
    (await readFile(new URL(f, root), "utf8")).split("\n").forEach((line, i) => {
      if (inline.test(line)) found.push(`${f}:${i + 1}`);
    });
  }
  assert.deepEqual(found, []);
});

test("a link's lesson step past the lesson's steps opens the nearest with a notice, as an unknown layer does", async () => {
  const { linkStep } = await import("../../../frontend/js/derive.js");
  assert.deepEqual(linkStep("99", 4, "Many heads"),
    { step: 4, notice: "The lesson “Many heads” has 4 steps (1 to 4): there is no step 99; showing step 4." });
  assert.deepEqual(linkStep("0", 4, "Many heads"),
    { step: 1, notice: "The lesson “Many heads” has 4 steps (1 to 4): there is no step 0; showing step 1." });
  // not a whole number (a step of 2.5 picked no step at all): the first step
  assert.equal(linkStep("2.5", 4, "X").step, 1);
  assert.match(linkStep("abc", 4, "X").notice, /there is no step “abc”; showing step 1\.$/);
  assert.match(linkStep("9", 1, "X").notice, /^The lesson “X” has 1 step: there is no step 9; showing step 1\.$/);
  // a step of the lesson, or none named: no notice
  assert.deepEqual(linkStep("3", 4, "X"), { step: 3, notice: "" });
  assert.deepEqual(linkStep(null, 4, "X"), { step: 1, notice: "" });
  assert.deepEqual(linkStep("", 4, "X"), { step: 1, notice: "" });
});

test("stripScroll: a query out of a one-row strip's sight is shown whole with whole neighbours and no chip cut at the left edge", async () => {
  const { stripScroll } = await import("../../../frontend/js/derive.js");
  // the presenter-mode strip of ?present=1&lesson=positional-encoding&step=5 at 1280x720 (832 px wide, 908 of content):
  // <|bos|> 4..107, The 112, ... tired 772..863 (the query), "." 868..904. It scrolled to its end (76), leaving "|>" of
  // <|bos|> cut at the left edge; now the left edge is the start of "The", the strip given 32 px more room at its end
  const starts = [4, 112, 172, 244, 316, 376, 448, 520, 640, 700, 772, 868];
  const lengths = [103, 55, 67, 67, 55, 67, 67, 115, 55, 67, 91, 36];
  const chips = starts.map((start, i) => ({ start, length: lengths[i] }));
  assert.deepEqual(stripScroll(chips, 10, { scroll: 0, size: 832, content: 908 }), { scroll: 108, pad: 32 });
  // in sight already (the student's own scroll): stays; scrolled into the room added at the end, the room is kept
  assert.deepEqual(stripScroll(chips, 10, { scroll: 108, size: 832, content: 908 }), { scroll: 108, pad: 32 });
  assert.deepEqual(stripScroll(chips, 3, { scroll: 0, size: 832, content: 908 }), { scroll: 0, pad: 0 });
  // the last token: the earliest chip start from which it shows whole
  assert.deepEqual(stripScroll(chips, 11, { scroll: 0, size: 832, content: 908 }), { scroll: 108, pad: 32 });
  // a narrow strip: the query and its right neighbour from the left neighbour's start when they fit, else the query first
  assert.deepEqual(stripScroll(chips, 10, { scroll: 0, size: 220, content: 908 }), { scroll: 696, pad: 8 });
  assert.deepEqual(stripScroll(chips, 10, { scroll: 0, size: 120, content: 908 }), { scroll: 768, pad: 0 });
  // the left edge is always a chip's start (less the margin), never inside a chip
  for (const size of [150, 300, 500, 832]) {
    for (let q = 0; q < chips.length; q++) {
      const { scroll } = stripScroll(chips, q, { scroll: 0, size, content: 908 });
      assert.ok(scroll === 0 || starts.includes(scroll + 4), `size ${size}, query ${q}: scroll ${scroll}`);
    }
  }
});

test("emptyMessage: a sentence the model can read past its trained length is not one that could not be analysed", () => {
  // /?text=<421 tokens> said "Nothing to show yet: the sentence above could not be analysed." under a note offering
  // to run it past the trained length
  const offer = beyondNotice({ model: { name: "tiny-rotary", max_tokens: 128, max_tokens_beyond: 512, positional: "rotary" }, state: { beyond: false, positions: "normal" },
    error: "the text is 421 tokens; model 'tiny-rotary' reads at most 128 tokens (max_tokens), the length it was trained on; send allow_beyond_trained: true to run it", status: 422,
    refusal: { tokens: 421, limit: 128, model: "tiny-rotary" } });
  assert.equal(offer.kind, "offer");
  const said = emptyMessage({ beyond: offer });
  assert.doesNotMatch(said, /could not be analysed/);
  assert.match(said, /past the trained length/);
  assert.equal(emptyMessage({ pending: true, beyond: offer }), "Computing…");
  // an empty text, or one this model cannot read at all: it could not
  assert.match(emptyMessage({ beyond: null }), /could not be analysed/);
  assert.match(emptyMessage({ beyond: { kind: "cannot", text: "…" } }), /could not be analysed/);
});

test("emptyMessage: a sentence on a model that is not installed is not one that could not be analysed", () => {
  // /?model=smollm2-135m where its package is not installed: "Model 'smollm2-135m' is not installed; install it with:
  // make models, ..." above, and below it "Nothing to show yet: the sentence above could not be analysed.", which
  // blamed the sentence
  const model = { name: "smollm2-135m", available: false, install: "make models" };
  const said = emptyMessage({ beyond: null, text: "The cat sat on the mat.", model });
  assert.doesNotMatch(said, /could not be analysed/);
  assert.match(said, /smollm2-135m is not installed/);
  assert.equal(emptyMessage({ pending: true, text: "The cat sat.", model }), "Computing…");
  assert.match(emptyMessage({ text: "", model }), /type a sentence/);
  // an installed model's refusal is the sentence's
  assert.match(emptyMessage({ text: "Hello", model: { name: "tiny-rotary", available: true } }), /could not be analysed/);
});

test("emptyMessage: an empty sentence box is not a sentence that could not be analysed", () => {
  // "", "   " or line breaks alone: "Text is empty: type a sentence." above, and below it "Nothing to show yet: the
  // sentence above could not be analysed.", of a sentence that is not there
  for (const text of ["", "   ", "\n\n", " \t "]) {
    const said = emptyMessage({ beyond: null, text });
    assert.doesNotMatch(said, /could not be analysed/, JSON.stringify(text));
    assert.match(said, /type a sentence/);
  }
  assert.match(emptyMessage({ beyond: null, text: "Hello" }), /could not be analysed/);
  assert.equal(emptyMessage({ pending: true, text: "" }), "Computing…");
});

test("hideSpecialBox: off, with why, on a sentence with no special token; usable where ticked or where one is", () => {
  const none = [{ text: "Hi", special: false }];
  assert.deepEqual(hideSpecialBox(none, "smollm2-135m", false), {
    disabled: true, title: "smollm2-135m adds no special token to this sentence (no BOS, [CLS] or [SEP]): there is nothing to hide" });
  assert.equal(hideSpecialBox(none, "smollm2-135m", true).disabled, false); // (ticked from a link: it can be unticked)
  assert.equal(hideSpecialBox([{ text: "<|bos|>", special: true }, ...none], "tiny-sinusoidal", false), null);
  assert.equal(hideSpecialBox([], "x", false), null);
});

test("beyondNotice: a text one token too long even past the trained length is told to cut 1 token, not '1 tokens'", () => {
  const model = { name: "tiny-rotary", max_tokens: 128, max_tokens_beyond: 512, positional: "rotary" };
  const error = (n) => `the text is ${512 + n} tokens (with its 1 special token); model 'tiny-rotary' runs at most 512 tokens in all, ` +
    `past its trained length of 128 too (max_beyond_tokens): cut at least ${n} ${n === 1 ? "token" : "tokens"}`;
  const one = beyondNotice({ model, state: { beyond: true, positions: "normal" }, error: error(1), status: 422, refusal: { tokens: 513, limit: 512, model: "tiny-rotary" } });
  assert.match(one.text, /: cut at least 1 token\./);
  const five = beyondNotice({ model, state: { beyond: true, positions: "normal" }, error: error(5), status: 422, refusal: { tokens: 517, limit: 512, model: "tiny-rotary" } });
  assert.match(five.text, /: cut at least 5 tokens\./);
});

test("stripHidden: the tokens a scrolled strip hides above (or before) and below (or after) what is in sight", () => {
  // two rows in sight of four, 30 px apart (a row's chips share start and end), scrolled to the second and third
  const rows = [[0, 1, 2], [3, 4], [5, 6, 7], [8]];
  const chips = rows.flatMap((r, i) => r.map((index) => ({ index, start: 4 + 30 * i, end: 4 + 30 * i + 28 })));
  assert.deepEqual(stripHidden(chips, { scroll: 30, size: 64 }), {
    before: { first: 0, last: 2, count: 3 }, after: { first: 8, last: 8, count: 1 },
  });
  // at the top: nothing before; at the end: nothing after
  assert.deepEqual(stripHidden(chips, { scroll: 0, size: 64 }).before, null);
  assert.deepEqual(stripHidden(chips, { scroll: 0, size: 64 }).after, { first: 5, last: 8, count: 4 });
  assert.deepEqual(stripHidden(chips, { scroll: 0, size: 200 }), { before: null, after: null });
  // sideways: a chip cut at the left edge is hidden; a pixel of rounding is not
  const row = [{ index: 0, start: 0, end: 50 }, { index: 1, start: 52, end: 90 }, { index: 2, start: 92, end: 130 }];
  assert.deepEqual(stripHidden(row, { scroll: 20, size: 111 }).before, { first: 0, last: 0, count: 1 });
  assert.deepEqual(stripHidden(row, { scroll: 20, size: 111 }).after, null);
  assert.deepEqual(stripHidden(row, { scroll: 0.5, size: 130 }), { before: null, after: null });
});

test("hiddenWords: the cue names the hidden tokens by their indices", () => {
  assert.equal(hiddenWords({ first: 0, last: 40, count: 41 }, "above"), "tokens 0–40 above");
  assert.equal(hiddenWords({ first: 70, last: 70, count: 1 }, "after"), "token 70 after");
  assert.equal(hiddenWords(null, "above"), "");
});

test("surelyFits: a text of n UTF-8 bytes is at most n tokens and those the model adds", async () => {
  const { surelyFits } = await import("../../../frontend/js/derive.js");
  const m = { max_tokens: 128, max_tokens_beyond: 512 };
  assert.equal(surelyFits("a".repeat(126), m), true);
  assert.equal(surelyFits("a".repeat(127), m), false); // (it may fit: only the server can count it)
  assert.equal(surelyFits("é".repeat(63), m), true); // 126 bytes
  assert.equal(surelyFits("é".repeat(64), m), false);
  assert.equal(surelyFits("a".repeat(300), m, true), true); // past the trained length, where the page agreed to it
  assert.equal(surelyFits("a".repeat(300), { max_tokens: 128 }, true), false); // (a model that cannot run there)
  assert.equal(surelyFits("a", null), false);
});

test("wordRefusal: several words are never one token; one word only the server can judge", async () => {
  const { wordRefusal } = await import("../../../frontend/js/derive.js");
  assert.equal(wordRefusal("the cat"), "“the cat” is 2 words, never one token: type one word");
  assert.equal(wordRefusal(" a\tb c "), "“a\tb c” is 3 words, never one token: type one word");
  assert.equal(wordRefusal(" cat "), null);
  assert.equal(wordRefusal("antidisestablishment"), null);
  assert.equal(wordRefusal(""), null);
});

test("the phone's closed Settings name what they hide that a new page would not: an earlier training step, hidden special tokens", () => {
  assert.deepEqual(settingsNotes({ tstep: null, hidespecial: false }), []); // (the final model, every token: nothing to say)
  assert.deepEqual(settingsNotes({ tstep: 1309, hidespecial: false }), ["step 1309"]);
  assert.deepEqual(settingsNotes({ tstep: 0, hidespecial: false }), ["step 0"]); // (the untrained model is a step too)
  assert.deepEqual(settingsNotes({ tstep: null, hidespecial: true }), ["no specials"]);
  assert.deepEqual(settingsNotes({ tstep: 755, hidespecial: true }), ["step 755", "no specials"]); // (the settings' order)
  // the interventions have the page's banner: they add nothing here
  assert.deepEqual(settingsNotes({ tstep: null, hidespecial: false, positions: "shuffled", scale: false, ablate: [[0, 1]] }), []);
});
