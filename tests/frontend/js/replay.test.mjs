// The "How it learned" caption (views/replay.js): the checkpoints' index note, shown on the page, reads as a sentence.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { lossCaption } from "../../../frontend/js/views/replay.js";

const INDEX = new URL("../../../models/weights/tiny-sinusoidal/checkpoints/index.json", import.meta.url);

test("the shipped model's note reads as a page sentence: a full stop, no 'last entry' of a file the page never shows", () => {
  const { note } = JSON.parse(readFileSync(INDEX, "utf8"));
  const text = lossCaption(755, note);
  assert.match(text, /^The training loss of every step .* The dotted line: step 755\. [A-Z].*[^.]\.$/);
  assert.doesNotMatch(text, /entry/);
  assert.match(text, /8-bit weights, one float32 scale per row/);
  assert.match(text, /the last .*the final model/i);
});

test("any note is shown as a sentence: capital first, a full stop at the end; none, nothing added", () => {
  assert.match(lossCaption(0, "weights kept in 8 bits"), /step 0\. Weights kept in 8 bits\.$/);
  assert.match(lossCaption(0, "Kept in 8 bits."), /step 0\. Kept in 8 bits\.$/);
  assert.match(lossCaption(3, ""), /step 3\.$/);
});
