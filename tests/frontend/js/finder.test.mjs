// The Heads view's pure parts: why a model is left out of the section across the tiny models, in the page's words.
import assert from "node:assert/strict";
import { test } from "node:test";

import { leftOutWords } from "../../../frontend/js/views/finder.js";

const WHY_NOT = "Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later.";
const LEARNED = { name: "tiny-learned", max_tokens: 128, max_tokens_beyond: 128, why_not_beyond: WHY_NOT };
const SINUSOIDAL = { name: "tiny-sinusoidal", max_tokens: 128, max_tokens_beyond: 512, why_not_beyond: null };
// the API's refusals, word for word (backend/service.py tokenize), which left_out gives with their numbers
const REFUSED = "the text is 221 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens " +
  "(max_tokens). Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none " +
  "for position 128 or later; cut at least 93 tokens";
const REFUSED_BEYOND = "the text is 600 tokens (with its 1 special token); model 'tiny-sinusoidal' runs at most 512 " +
  "tokens in all, past its trained length of 128 too (max_beyond_tokens): cut at least 88 tokens";

test("a model that cannot run past its trained length: its limit, the text's length and why, no field name", () => {
  // the intro said "(the text is 221 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens
  // (max_tokens). …)": the API's words, its field name and brackets in brackets
  const words = leftOutWords({ model: "tiny-learned", why: REFUSED, tokens: 221, limit: 128 }, LEARNED);
  assert.equal(words, `Left out: tiny-learned, which reads at most 128 tokens (this text is 221). ${WHY_NOT}`);
  assert.doesNotMatch(words, /max_tokens|'tiny-learned'|\(\(/);
});

test("a model too short even past its trained length says its limit there", () => {
  const words = leftOutWords({ model: "tiny-sinusoidal", why: REFUSED_BEYOND, tokens: 600, limit: 512 }, SINUSOIDAL);
  assert.equal(words, "Left out: tiny-sinusoidal, which reads at most 512 tokens, even past its trained length (this text is 600).");
});

test("a model the page does not know, or a refusal without the length, is quoted as the API gave it", () => {
  assert.equal(leftOutWords({ model: "x", why: "no" }, null), "Left out: x, which cannot read this text (no).");
  assert.equal(leftOutWords({ model: "tiny-learned", why: "no" }, LEARNED), "Left out: tiny-learned, which cannot read this text (no).");
});
