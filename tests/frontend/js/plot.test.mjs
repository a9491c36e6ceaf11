// The interventions caption (plot.js) is true of the tokens on screen: a shuffle's positions are given for the
// tokens shown (the hidden start token's first), and a model without positional encoding is said to be unchanged.
import assert from "node:assert/strict";
import { test } from "node:test";

import { barTextPositions, chartWords, interventionsCaption, tickIndices, tokenAxis, tokenHeatmap } from "../../../frontend/js/plot.js";

const iv = { positions: "shuffled", scale: true, ablate: [], permutation: [8, 0, 5, 9, 7, 4, 2, 10, 3, 1, 11, 6] };

test("a shuffle gives the position of each token shown", () => {
  assert.match(interventionsCaption(iv), /position given to each token: 8, 0, 5, 9, 7, 4, 2, 10, 3, 1, 11, 6\)/);
  // "hide special tokens": the strip starts at the word "The" (API index 1), which was given position 0; the caption
  // listed 12 positions over 11 tokens, the hidden start token's 8 first
  const shown = Array.from({ length: 11 }, (_, i) => ({ index: i + 1 }));
  assert.match(interventionsCaption(iv, { tokens: shown }), /position given to each token: 0, 5, 9, 7, 4, 2, 10, 3, 1, 11, 6\)/);
});

test("removing or shuffling positions on a model without them is said to change nothing", () => {
  for (const positions of ["shuffled", "removed"]) {
    assert.match(interventionsCaption({ ...iv, positions }, { positional: "none" }), /no positional encoding, so this changes nothing/);
    assert.doesNotMatch(interventionsCaption({ ...iv, positions }, { positional: "rotary" }), /changes nothing/);
  }
  assert.equal(interventionsCaption({ positions: "normal", scale: true, ablate: [] }, { positional: "none" }), "");
});

test("a shuffle of one token is said to leave it where it is", () => {
  // SmolLM2 reads "a" as one token: the only permutation of one position is the identity
  const one = interventionsCaption({ ...iv, permutation: [0] });
  assert.match(one, /position given to each token: 0\)/);
  assert.match(one, /one token has only its own position/i);
  assert.doesNotMatch(interventionsCaption(iv), /only its own position/);
  assert.doesNotMatch(interventionsCaption({ ...iv, permutation: [0] }, { positional: "none" }), /only its own position/);
});

test("a heatmap prints its numbers only where the widest of them fits its cells", async () => {
  // SmolLM2's dot products after block 19 run to 472,991,234.56: printed with two decimals in cells 37 px wide, each
  // ran over its neighbours, a row of overlapping digits
  globalThis.document ??= { body: { classList: { contains: () => false } } };
  const { numbersFit } = await import("../../../frontend/js/plot.js");
  const fig = { clientWidth: 560 }; // 11 tokens: (560 - 150) / 11 = 37 px a cell
  const small = [[7.85, -2.48], [0.5, 1]];
  const big = [[472991234.56, -120000.5], [3, 1]];
  assert.equal(numbersFit(fig, 11, 12, small), "%{z:.2f}");
  const widest = Math.max(...big.flat().map((v) => v.toFixed(2).length)); // "472991234.56": 12 characters
  assert.ok(widest * 5.5 > 37); // (at 10 px a digit is about 5.5 px wide: they cannot fit)
  assert.equal(numbersFit(fig, 11, 12, big), null);
  assert.equal(numbersFit({ clientWidth: 2000 }, 11, 12, big), "%{z:.2f}"); // 168 px a cell: they fit
  assert.equal(numbersFit(fig, 11), "%{z:.2f}"); // (without the values: as before, by the count alone)
});

test("a bar under a hundredth of the longest writes its label outside (Plotly drops the label of a sub-pixel bar)", () => {
  assert.deepEqual(barTextPositions([0.97, 0.02, 0.0096, 0, NaN]), ["auto", "auto", "outside", "outside", "outside"]);
  assert.deepEqual(barTextPositions([]), []);
});

test("the presenter's larger type scales a layout's fonts once, leaving the layout given as it was", async () => {
  const { scaledFonts } = await import("../../../frontend/js/plot.js");
  // two charts drawn with one array of annotations (the arithmetic's "masked" labels over both of its bar charts):
  // the second was drawn at 1.4 x 1.4 the size, the first's scaling written into the shared objects
  const notes = [{ text: "masked", font: { size: 10 } }];
  const a = scaledFonts({ annotations: notes, legend: { font: { size: 12 } } }, 1.4);
  const b = scaledFonts({ annotations: notes }, 1.4);
  assert.equal(a.annotations[0].font.size, 14);
  assert.equal(b.annotations[0].font.size, 14);
  assert.equal(a.legend.font.size, 12 * 1.4);
  assert.equal(notes[0].font.size, 10); // the caller's objects as they were
  // data arrays are passed on as they are (not copied)
  const z = [[1, 2], [3, 4]];
  assert.equal(scaledFonts({ z, textfont: { size: 10 } }, 2).z, z);
});

test("an axis labels every step-th token and always the positions it must: their neighbours within a label's room give way", () => {
  assert.deepEqual(tickIndices(5), [0, 1, 2, 3, 4]);
  assert.deepEqual(tickIndices(17, 2), [0, 2, 4, 6, 8, 10, 12, 14, 16]);
  // the presenter's trophy: 17 tokens at every 2nd, and "big / small" (position 15) was left without a label
  assert.deepEqual(tickIndices(17, 2, [15]), [0, 2, 4, 6, 8, 10, 12, 15]);
  // of those it must label closer than a step to each other, the first in keep's order alone (12 and 13 ran into each
  // other; Compare puts the selected query first, so that a word that differs beside it gives way)
  assert.deepEqual(tickIndices(30, 5, [0, 12, 13]), [0, 5, 12, 20, 25]);
  assert.deepEqual(tickIndices(30, 5, [13, 12, 12]), [0, 5, 13, 20, 25]);
  assert.deepEqual(tickIndices(30, 1, [12, 13]), [...Array(30).keys()]); // (every token has room)
  assert.deepEqual(tickIndices(4, 3, [9, -1, 1.5]), [0, 3]); // (none of these is a position)
  // labels collide closer than the room a label needs, less than a step where the step rounds it up: every 7th of 51
  // with 9 kept labelled 0, 9 and 21, a gap of 12 where 14 has room (5 from 9, a label about 4.6 wide: labelRoom)
  assert.deepEqual(tickIndices(51, 7, [9], 4.6).slice(0, 4), [0, 9, 14, 21]);
  assert.deepEqual(tickIndices(51, 7, [10], 4.6).slice(0, 3), [0, 10, 21]); // (7 and 14 too close to 10)
  const axis = tokenAxis([...Array(17).keys()].map((i) => ({ display: `t${i}` })), {}, 2, [15]);
  assert.deepEqual([axis.tickvals.at(-1), axis.ticktext.at(-1)], [15, "t15"]);
});

test("a chart in words names the highest cell or bar alone only where no other reads the same", () => {
  // a causal model's attention (tiny-sinusoidal, " the the cat", layer 0, head 0): the first two rows give 1 and
  // 0.9997 to <|bos|>; the words said "the highest: query 0 “<|bos|>”, key 0 “<|bos|>”, weight 1", as if no other
  // cell had it, while the next row's cell reads 1 too
  const tokens = [{ display: "<|bos|>", text: "", special: true }, { display: "␣the", text: " the" }, { display: "␣the", text: " the" },
    { display: "␣cat", text: " cat" }];
  const z = [[1, null, null, null], [0.9997, 0.0003, null, null], [0.9931, 0.0035, 0.0034, null], [0.0209, 0.4884, 0.4884, 0.0023]];
  const heat = tokenHeatmap(z, tokens, { masked: (i, j) => j > i });
  assert.equal(chartWords("Attention", [heat]),
    "Attention: a heatmap of 4 × 4 cells, values 0.0003 to 1; the highest: query 0 “<|bos|>”, key 0 “<|bos|>”, weight 1 (and 1 other cell at 1).");
  const bars = { type: "bar", orientation: "h", x: [0.1, 0.6, 0.5996], y: [0, 1, 2], text: ["0.1", "0.6", "0.6"],
                 hovertext: ["a (id 1)<br>probability 0.1", "␣b (id 2)<br>probability 0.6", "c (id 3)<br>probability 0.5996"] };
  assert.equal(chartWords("Next token", [bars]),
    "Next token: a bar chart of 3 bars, 0.1 to 0.6; the highest: space b (id 2), probability 0.6 (and 1 other bar at 0.6).");
});

test("a chart in words, for a screen reader, is read off its own traces", () => {
  const tokens = [{ display: "<|bos|>", text: "", special: true }, { display: "␣cat", text: " cat" }, { display: "&", text: "&" }];
  const z = [[1, null, null], [0.25, 0.75, null], [0.5, 0.1, 0.4]];
  const heat = tokenHeatmap(z, tokens, { masked: (i, j) => j > i });
  assert.equal(chartWords("Attention · layer 0 · head 0", [heat]),
    "Attention · layer 0 · head 0: a heatmap of 3 × 3 cells, values 0.1 to 1; the highest: query 0 “<|bos|>”, key 0 “<|bos|>”, weight 1.");
  // the highest cell anywhere (not row 0's), its tokens unescaped and their marks spoken
  assert.match(chartWords("", [tokenHeatmap([[0.2, 0.3], [0.9, -0.4]], tokens.slice(1))]),
    /^a heatmap of 2 × 2 cells, values −0\.4 to 0\.9; the highest: query 1 “&”, key 0 “ space cat”, weight 0\.9\.$/);
  // a cell named by the axes' titles and tick labels where its hover has no words
  const layout = { xaxis: { title: { text: "head" }, tickvals: [0, 1], ticktext: ["H0", "H1"] }, yaxis: { title: "layer" } };
  assert.equal(chartWords("Per-head", [{ type: "heatmap", z: [[0, 2], [3, 1]], text: [["0", "2"], ["3", "1"]] }], layout),
    "Per-head: a heatmap of 2 × 2 cells, values 0 to 3; the highest: layer 1, head H0.");
  const bars = { type: "bar", orientation: "h", x: [0.1, 0.6, 0.3], y: [0, 1, 2], text: ["0.1", "0.6", "0.3"],
                 hovertext: ["a (id 1)<br>probability 0.1", "␣b (id 2)<br>probability 0.6", "c (id 3)<br>probability 0.3"] };
  assert.equal(chartWords("Next token", [bars]),
    "Next token: a bar chart of 3 bars, 0.1 to 0.6; the highest: space b (id 2), probability 0.6.");
  const line = (name, y) => ({ type: "scatter", mode: "lines", name, x: y.map((_, i) => i), y });
  assert.equal(chartWords("Loss", [line("training loss", [4, 2.5, 1.25]), { type: "scatter", mode: "markers", y: [1, 3] }]),
    "Loss: a line “training loss” of 3 points, 1.25 to 4; 2 points, 1 to 3.");
  assert.match(chartWords("Paths", Array.from({ length: 6 }, (_, i) => line(`t${i}`, [i]))), /“t3” of 1 point, 3 to 3; and 2 more traces\.$/);
  assert.equal(chartWords("Empty", [{ type: "heatmap", z: [[null]] }]), "Empty: a heatmap of 1 × 1 cells, none with a value.");
});

test("a thinned token axis's title names the labelled step in the longest form that fits", async () => {
  const { thinnedTitle } = await import("../../../frontend/js/plot.js");
  assert.equal(thinnedTitle("key", 1, 10, { all: "key (attended to)" }), "key (attended to)");
  assert.equal(thinnedTitle("key", 2, Infinity, { hover: true }), "key (every 2nd labelled; hover for all)");
  assert.equal(thinnedTitle("query", 3, 1000), "query (every 3rd labelled)");
  assert.equal(thinnedTitle("query", 11, 18 * 8.4), "query (every 11th)");
  assert.equal(thinnedTitle("query", 22, 18 * 8.4, { k: 1.5 }), "query");
});

test("a thinned axis's title is measured in the plots' font where the page can measure it, else estimated", async () => {
  // 8.4 px a letter is cautious: "query (every 11th labelled)" measures 192 px on the page's canvas where it is
  // estimated at 227, so a title 200 px had for it took the shorter form
  const { estimatedWidth, FONT, measuredWidth, thinnedTitle, titleWidth } = await import("../../../frontend/js/plot.js");
  const seven = (t, k = 1) => t.length * 7 * k;
  assert.equal(thinnedTitle("query", 11, 200), "query (every 11th)");
  assert.equal(thinnedTitle("query", 11, 200, { measure: seven }), "query (every 11th labelled)");
  assert.equal(thinnedTitle("query", 11, 200, { measure: seven, k: 1.4 }), "query (every 11th)");
  // node has no canvas: the estimate
  assert.equal(titleWidth("key (every 2nd)", 1.4), estimatedWidth("key (every 2nd)", 1.4));
  assert.equal(estimatedWidth("key"), 3 * 8.4);
  // a canvas's measure at the size Plotly draws an axis title: 1.2 times the layout's 12 px, times the presenter's scale
  const fonts = [];
  const ctx = { set font(f) { fonts.push(f); }, measureText: (t) => ({ width: t.length * 6 }) };
  const measure = measuredWidth(ctx);
  assert.equal(measure("query"), 30);
  assert.equal(measure("query", 1.4), 30);
  assert.deepEqual(fonts, [`14px ${FONT}`, `20px ${FONT}`]);
});

test("a thinned axis that labels a token off its step names it in its title, or has none where that has no room", async () => {
  // Compare labels the tokens that differ and the selected query whatever the step, and Positional and Beyond
  // attention the selected query: an axis of every 2nd with query 7 labelled too said "query (every 2nd labelled)"
  const { offStepWords, patternAxes, tokenAxes } = await import("../../../frontend/js/plot.js");
  const keep = [[[2, 4], "the ones that differ"], [[7], "the selected one"]];
  const words = (groups, step) => offStepWords(groups, step, tickIndices(30, step, groups.flatMap(([at]) => at)), 30);
  assert.equal(words(keep, 2), "the selected one");
  assert.equal(words([[[2, 5], "the ones that differ"]], 3), "the ones that differ");
  // every 3rd: 2 and 4 are closer than a step, 4 is not labelled (tickIndices), so not "the ones that differ"
  assert.equal(words(keep, 3), "some of the ones that differ and the selected one");
  assert.equal(words(keep, 1), "");
  assert.equal(words([[[null, 40], "the selected one"]], 3), ""); // (none selected, or one not drawn)
  const tokens = [{ display: "<|bos|>" }, ...Array.from({ length: 29 }, (_, i) => ({ display: ["␣the", "␣cat", "␣sat", "ing", "."][i % 5] }))];
  const { xaxis, yaxis } = tokenAxes(600, tokens, 620, true, [[[7], "the selected one"]], 1);
  // (a label needs 0.98 of a position across 600 px: 6 and 8 beside 7 have room, 15 px apart)
  assert.deepEqual(xaxis.tickvals, [0, 2, 4, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
  assert.equal(xaxis.title.text, "key (every 2nd labelled, and the selected one)");
  assert.equal(yaxis.title, undefined); // (every query labelled)
  assert.equal(tokenAxes(600, tokens, 620, true, [[[8], "the selected one"]], 1).xaxis.title.text, "key (every 2nd labelled)");
  // no form with the words fits: no title, not one that leaves the selected one out
  assert.equal(tokenAxes(420, tokens, 620, true, [[[7], "the selected one"]], 1).xaxis.title, undefined);
  assert.equal(tokenAxes(420, tokens, 620, true, [], 1).xaxis.title.text, "key (every 2nd labelled)");
  assert.equal(patternAxes(358, tokens, 1, 7).yaxis.title.text, "query (every 2nd, and the selected one)");
});

test("an axis without a title's room says in the caption which tokens it labels, and which of those it must", async () => {
  // Compare at 1280x720 in presenter mode, 51 tokens, side b differing at 6 and 7, query 9 selected: "every 7th, and
  // the ones that differ" has no room under a 401 px panel, so the keys had no title and nothing said what they label
  const { selectedLabels, termLabelsNote, tokenAxes } = await import("../../../frontend/js/plot.js");
  const text = "Once upon a time there was a little girl named Lily who loved to play in the park with her dog and her friends every " +
    "day after school . One day she saw a big red ball under the old tree and ran to get it for her mom .";
  const tokens = [{ display: "<|bos|>" }, ...text.split(" ").map((w, i) => ({ display: i && w !== "." ? `␣${w}` : w }))];
  const keep = [[[6, 7], "the ones that differ"], selectedLabels(9)];
  const axes = tokenAxes(401, tokens, 620, true, keep, 1.4);
  assert.equal(axes.xaxis.title, undefined);
  // (7 and 9 too close to 6: "␣was" ran into "␣a" and "␣girl"; 0, 6 before it, has a label's room)
  assert.deepEqual(axes.xaxis.tickvals.slice(0, 4), [0, 6, 14, 21]);
  assert.match(axes.yaxis.title.text, /^query \(every 3rd/);
  assert.equal(axes.note, " Labelled: every 7th key, and some of the ones that differ; hover over a cell for its tokens.");
  // with room for the title, nothing to say
  assert.equal(tokenAxes(1200, tokens, 620, true, keep, 1).note, "");
  // both axes: the groups drawn off either step, in the caption's words
  const ticks = (step, at) => tickIndices(30, step, at);
  assert.equal(termLabelsNote([["key", 2, ticks(2, [4, 10, 7])], ["query", 3, ticks(3, [4, 10, 7])]], [[[4, 10], "the ones that differ"], selectedLabels(7)], 30),
    " Labelled: every 2nd key and every 3rd query, and the ones that differ and the selected query's row and column; hover over a cell for its tokens.");
  assert.equal(termLabelsNote([["key", 2, ticks(2, [8])], ["query", 1, ticks(1, [8])]], [selectedLabels(8)], 30), " Labelled: every 2nd key; hover over a cell for its tokens.");
  assert.equal(termLabelsNote([["key", 1, ticks(1, [7])], ["query", 1, ticks(1, [7])]], [selectedLabels(7)], 30), "");
  // each axis as drawn: 5 and 6 differ, every 4th key labels 5 alone, every 3rd query both: not all of them are labelled
  const apart = [[[5, 6], "the ones that differ"]];
  assert.equal(termLabelsNote([["key", 4, ticks(4, [5, 6])], ["query", 3, tickIndices(30, 3, [5, 6], 1)]], apart, 30),
    " Labelled: every 4th key and every 3rd query, and some of the ones that differ; hover over a cell for its tokens.");
  assert.equal(termLabelsNote([["query", 3, tickIndices(30, 3, [5, 6], 1)]], apart, 30),
    " Labelled: every 3rd query, and the ones that differ; hover over a cell for its tokens.");
});

test("a token heatmap's thinned axes say in their titles which tokens are labelled; one that labels all has no title", async () => {
  // Compare, Positional and Beyond attention label every 2nd or 3rd token of a long text (tokenAxes, patternAxes) and
  // their plots said nothing of it, where the Attention view's heatmap says "key (every 2nd labelled; hover for all)"
  const { ordinal, patternAxes, tokenAxes } = await import("../../../frontend/js/plot.js");
  const words = (n) => [{ display: "<|bos|>" }, ...Array.from({ length: n - 1 }, (_, i) => ({ display: ["␣the", "␣cat", "␣sat", "ing", "."][i % 5] }))];
  const checked = [0, 0];
  const check = (axis, name, what) => {
    const t = axis.tickvals;
    const step = Math.min(...t.slice(1).map((v, i) => v - t[i]));
    const title = axis.title ? axis.title.text : "";
    if (t.length === Number(what.match(/(\d+) tokens/)[1])) {
      checked[0]++;
      assert.equal(title, "", `${what}: every ${name} labelled, titled “${title}”`);
    } else {
      checked[1]++;
      assert.match(title, new RegExp(`^${name} \\(every ${ordinal(step)}( labelled)?\\)$`), `${what}: every ${ordinal(step)} ${name} labelled`);
    }
  };
  // (the Compare view's three panels at 1280x800, and at 1280x720 in presenter mode; a phone's one panel; Beyond
  // attention's two panels)
  for (const n of [5, 12, 30, 49, 100]) {
    for (const [width, height, k] of [[400, 620, 1], [400, 620, 1.4], [350, 620, 1], [620, 440, 1], [600, 440, 1.4]]) {
      const what = `${n} tokens, ${width}x${height}, ×${k}`;
      const { xaxis, yaxis } = tokenAxes(width, words(n), height, n > 6, [], k);
      check(xaxis, "key", what);
      check(yaxis, "query", what);
    }
    for (const [width, k] of [[400, 1], [350, 1], [620, 1.4]]) {
      const { xaxis, yaxis, height } = patternAxes(width, words(n), k);
      check(xaxis, "key", `${n} tokens, ${width}x${height}, ×${k}`);
      check(yaxis, "query", `${n} tokens, ${width}x${height}, ×${k}`);
    }
  }
  assert.ok(checked[0] > 0 && checked[1] > 0, `all labelled ${checked[0]}, thinned ${checked[1]}`);
});

test("a plot labels each point whose label keeps off those labelled before it, the first always", async () => {
  // the Q/K view's projection labelled all 2n points, most of them over each other on a 40-token sentence
  const { placeLabels } = await import("../../../frontend/js/plot.js");
  const clear = (a, b) => a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
  assert.deepEqual(placeLabels([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30]]), [0, 1, 2]); // room for all: all
  assert.deepEqual(placeLabels([[0, 0, 10, 10], [10, 0, 20, 10]]), [0, 1]); // (touching is not over)
  assert.deepEqual(placeLabels([[5, 5, 15, 15], [0, 0, 10, 10], [12, 0, 30, 6]]), [0]); // the first, over both others
  assert.deepEqual(placeLabels([]), []);
  // a crowd: 200 labels at random, none of those placed over another, the first among them, and each left out
  // over one placed before it
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const boxes = Array.from({ length: 200 }, () => {
    const [x, y, w] = [random() * 400, random() * 300, 10 + random() * 50];
    return [x, y, x + w, y + 13];
  });
  const placed = placeLabels(boxes);
  assert.equal(placed[0], 0);
  assert.ok(placed.length > 10 && placed.length < 200, placed.length);
  placed.forEach((i, a) => placed.slice(a + 1).forEach((j) => assert.ok(clear(boxes[i], boxes[j]), `${i} over ${j}`)));
  boxes.forEach((box, i) => {
    if (!placed.includes(i)) assert.ok(placed.some((j) => j < i && !clear(boxes[j], box)), `${i} left out with room`);
  });
});
