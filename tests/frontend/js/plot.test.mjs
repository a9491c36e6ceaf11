// The interventions caption (plot.js) is true of the tokens on screen: a shuffle's positions are given for the
// tokens shown (the hidden start token's first), and a model without positional encoding is said to be unchanged.
import assert from "node:assert/strict";
import { test } from "node:test";

import { interventionsCaption } from "../../../frontend/js/plot.js";

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
