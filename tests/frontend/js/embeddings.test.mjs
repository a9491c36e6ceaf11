// The Embeddings view's pure parts: the analogy's caption says where the expected word ranks, from the answer's numbers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { analogyCaption } from "../../../frontend/js/views/embeddings.js";

const tok = (id, display) => ({ id, text: display.replace("␣", " "), display, position: 0, special: false });
const answer = (expected) => ({
  model: "m", a: tok(1, "␣king"), b: tok(2, "␣man"), c: tok(3, "␣woman"),
  neighbors: [{ ...tok(10, "␣Grand"), cosine: 0.6459 }, { ...tok(11, "oup"), cosine: 0.6383 }, { ...tok(12, "␣queen"), cosine: 0.6 }],
  expected,
});

test("the analogy's caption: the three words, then the expected word's rank and cosine as the answer gives them", () => {
  assert.equal(analogyCaption(answer(null)), "Nearest tokens to “␣king” − “␣man” + “␣woman” (the three left out).");
  const far = analogyCaption(answer({ token: tok(20, "␣queen"), cosine: 0.5066, rank: 881, of: 4092 }));
  assert.match(far, /“␣queen”, the word expected, is at rank 881 of 4,092 \(cosine 0\.507; the nearest: 0\.646\), outside the 3 shown\.$/);
  const shown = analogyCaption(answer({ token: tok(12, "␣queen"), cosine: 0.6, rank: 3, of: 4092 }));
  assert.match(shown, /is at rank 3 of 4,092 \(cosine 0\.600; the nearest: 0\.646\), its bar highlighted\.$/);
  const first = analogyCaption(answer({ token: tok(10, "␣Grand"), cosine: 0.6459, rank: 1, of: 4092 }));
  assert.match(first, /“␣Grand”, the word expected, is the nearest \(cosine 0\.646\)\.$/);
  const none = analogyCaption({ ...answer(null), expected_unavailable: "No rank for the word expected: “␣king” is a, b or c." });
  assert.match(none, /\(the three left out\)\. No rank for the word expected: “␣king” is a, b or c\.$/);
});
