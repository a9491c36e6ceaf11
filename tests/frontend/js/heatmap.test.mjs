// The Attention view's heatmap (views/heatmap.js): its axes' titles say which tokens are labelled where the plot has
// room for it, in presenter mode too.
import assert from "node:assert/strict";
import { test } from "node:test";

import { heatmapAxes } from "../../../frontend/js/views/heatmap.js";
import { ordinal } from "../../../frontend/js/plot.js";

const tokens = (words) => words.map((display) => ({ display }));
// "The cat sat on the mat because it was tired." as tiny-sinusoidal reads it (lesson 7, 1280x720 in presenter mode)
const CAT = tokens(["<|bos|>", "The", "␣cat", "␣sat", "␣on", "␣the", "␣mat", "␣because", "␣it", "␣was", "␣tired", "."]);
const LONG = tokens(["<|bos|>", ...Array.from({ length: 48 }, (_, i) => ["The", "␣quick", "␣brown", "␣fox", "s", "␣sailors", "ory"][i % 7])]);

test("the heatmap's query title says which queries are labelled where the plot is high enough for it", () => {
  // [tokens, view width, plot height, text scale, the title]: the plot heights drawn (measured in the page); in
  // presenter mode with lesson 7 open (351 px high, its plot 227) and with a 49-token text (378 px, its plot 276) the
  // title said only "query" over every 2nd and every 5th query labelled, where "query (every 2nd)" is about 170 px
  const drawn = [[CAT, 820, 351, 1.4, "query (every 2nd)"], [LONG, 1240, 378, 1.4, "query (every 5th)"],
    [LONG, 716, 678, 1, "query (every 2nd labelled)"], [CAT, 716, 390, 1, "query"]];
  for (const [words, width, height, k, title] of drawn) {
    const { yaxis } = heatmapAxes(words, width, height, k);
    const t = yaxis.tickvals;
    if (t.length < words.length) assert.match(title, new RegExp(`every ${ordinal(t[1] - t[0])}\\b`)); // (the expected title is of the step drawn)
    assert.equal(yaxis.title.text, title, `${words.length} tokens, ${height} px, ×${k}`);
  }
});

test("the heatmap's key title says which keys are labelled, and names the keys where it labels all", () => {
  assert.equal(heatmapAxes(CAT, 820, 351, 1.4).xaxis.title.text, "key (attended to)");
  const { xaxis } = heatmapAxes(LONG, 716, 678, 1);
  assert.equal(xaxis.title.text, `key (every ${ordinal(xaxis.tickvals[1])} labelled; hover for all)`);
});
