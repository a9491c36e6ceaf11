// The Compare view's words for each side: a side whose model has no positional encoding says that shuffling or
// removing its positions changes nothing (tiny-nope: its two patterns are the same, the difference 0 everywhere).
import assert from "node:assert/strict";
import { test } from "node:test";

import { describe as describeSide } from "../../../frontend/js/views/compare.js";

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
  assert.equal(describeSide(side("tiny-nope", "normal"), side("tiny-nope", "normal"), "none"), "tiny-nope · as trained");
});

test("a side past its model's trained length carries the answer's warning (the page's own sentence may be short)", () => {
  const warning = "This text is 375 tokens; tiny-rotary was trained on at most 128, so positions 128 to 374 are positions it never saw in training: what it does there is extrapolation.";
  const long = { ...side("tiny-rotary", "normal"), beyond_trained: { n_tokens: 375, trained_tokens: 128, first_unseen: 128, warning } };
  const b = describeSide(long, side("tiny-rotary", "normal"), "rotary");
  assert.ok(b.includes(warning), b);
  assert.doesNotMatch(describeSide(side("tiny-rotary", "normal"), long, "rotary"), /never saw/);
});
