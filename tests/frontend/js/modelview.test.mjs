// The model view's words about the blocks it draws (views/model.js): a training-lab model of one layer is one block.
import assert from "node:assert/strict";
import { test } from "node:test";

import { modelPicture } from "../../../frontend/js/picture.js";
import { blockWords, sentenceLabel } from "../../../frontend/js/views/model.js";

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

test("a sentence of one token is '1 token' and '1 id', not '1 tokens' and '1 ids'", () => {
  // SmolLM2 reads "Hi" as one token (it adds no start token): the view said "The sentence: 1 tokens" over a box "1 ids"
  assert.equal(sentenceLabel(1), "The sentence: 1 token");
  assert.equal(sentenceLabel(12), "The sentence: 12 tokens");
  const model = { n_layers: 30, n_heads: 9, n_kv_heads: 3, d_model: 576, d_head: 64, d_mlp: 1536, vocab_size: 49152,
    norm: "rmsnorm", norm_placement: "pre", positional: "rotary", causal: true, mlp: "swiglu" };
  assert.equal(modelPicture(model, 1).input[0].shape, "1 id");
  assert.equal(modelPicture(model, 12).input[0].shape, "12 ids");
});
