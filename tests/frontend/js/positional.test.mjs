// The Positional view's pure parts: the section of the family of models (the same sentence through the models that
// differ only in their positional scheme) says which head of each it draws, for a model chosen above that is one of
// them and for one that is not (MiniLM, SmolLM2: the page shows them the tiny models).
import assert from "node:assert/strict";
import { test } from "node:test";

import { familyHead, familyIntro } from "../../../frontend/js/views/positional.js";

const FAMILY = { title: "The tiny models", description: "the same but for the positional scheme", models: ["tiny-sinusoidal", "tiny-rotary"] };
const TINY = { model: "tiny-rotary", n_layers: 4, n_heads: 4 };

test("a model of the family: the selected head of each, ▸ on the one chosen above", () => {
  const intro = familyIntro({ current: "tiny-rotary", family: FAMILY }, { layer: 1, head: 2 });
  assert.match(intro, /^Layer 1, head 2 of each model/);
  assert.match(intro, /▸ marks the model chosen above/);
  assert.deepEqual(familyHead(1, 2, TINY, true), { layer: 1, head: 2, note: "" });
  // (a head the family's models do not have cannot be selected on one of them, but an answer may lag the state)
  assert.match(familyHead(5, 0, TINY, true).why, /tiny-rotary has no layer 5, head 0 \(it has 4 layers × 4 heads\)/);
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
