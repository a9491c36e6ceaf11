// The model view's words about the blocks it draws (views/model.js): a training-lab model of one layer is one block.
import assert from "node:assert/strict";
import { test } from "node:test";

import { blockWords } from "../../../frontend/js/views/model.js";

test("a model of several blocks: how many, and which one is drawn", () => {
  const w = blockWords(4, 2);
  assert.equal(w.title, "× 4 blocks");
  assert.match(w.step, /^block 2 of 4 \(0 to 3: one shape, each its own weights\)$/);
});

test("a model of one block is not '× 1 blocks', 'block 0 of 1 (0 to 0: ... each its own weights)'", () => {
  const w = blockWords(1, 0);
  assert.equal(w.title, "× 1 block");
  assert.doesNotMatch(w.step, /0 to 0|each its own/);
  assert.match(w.step, /block 0/);
});
