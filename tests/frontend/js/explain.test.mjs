// The attention arithmetic's pure parts (views/explain.js): the "masked" labels over its two bar charts.
import assert from "node:assert/strict";
import { test } from "node:test";

import { maskNotes, rotaryWords, scaleWords, vectorLabel } from "../../../frontend/js/views/explain.js";

// a causal row: the query sees keys 0..q, the keys after it are masked
const causalMask = (n, q) => Array.from({ length: n }, (_, i) => i > q);

test("a short row labels each masked key on its own bar", () => {
  const mask = causalMask(12, 3); // keys 4..11 masked, 12 bars of 45 px
  const notes = maskNotes(mask, 45);
  assert.deepEqual(notes.map((a) => a.x), [4, 5, 6, 7, 8, 9, 10, 11]);
  for (const a of notes) assert.equal(a.text, "masked");
});

test("a long row's masked keys get one label, not a pile of labels run together", () => {
  // 115 tokens in a 560 px plot: under 5 px a bar, where 74 vertical labels 12 px tall each ran into a smear
  const n = 115;
  const q = 40;
  const mask = causalMask(n, q);
  const slot = 560 / n;
  const notes = maskNotes(mask, slot);
  assert.equal(notes.length, 1);
  const [a] = notes;
  // it names the keys the mask hides, counted from the row itself: q + 1 to the last
  const hidden = mask.flatMap((m, i) => (m ? [i] : []));
  assert.match(a.text, new RegExp(`keys ${hidden[0]} to ${hidden.at(-1)}`));
  // and stands over them, not over a key the query sees
  assert.ok(a.x > q && a.x < n);
});

test("a long row with few keys masked labels them once, upright in their narrow strip", () => {
  const n = 115;
  const notes = maskNotes(causalMask(n, n - 3), 560 / n); // keys 113 and 114: 10 px in all
  assert.equal(notes.length, 1);
  assert.equal(notes[0].textangle, -90);
  assert.ok(notes[0].x > n - 3);
});

test("no masked key: no label (an encoder, or the last query of a causal row)", () => {
  assert.deepEqual(maskNotes(Array(20).fill(false), 5), []);
  assert.deepEqual(maskNotes(causalMask(20, 19), 5), []);
});

test("on a rotary model the arithmetic says its q and k are the rotated ones, as the answer says", () => {
  const e = (rotated, positions = "normal") => ({ rotated, d_head: 40, interventions: { positions } });
  assert.match(rotaryWords(e(true)), /rotated/);
  assert.match(rotaryWords(e(true, "shuffled")), /shuffled/);
  assert.equal(rotaryWords(e(false)), ""); // another scheme, or rotary with the positions removed: nothing rotated
  assert.equal(rotaryWords(e(false, "removed")), "");
  assert.equal(vectorLabel(e(true), "q"), "q after rotary (40 numbers)");
  assert.equal(vectorLabel(e(false), "q"), "q (40 numbers)");
});

test("the intro's formula divides q·k by √d_head and gives √d_head's value apart, not as the score", () => {
  // "score = q·k ÷ √40 = 6.325" read as a score of 6.325: the number is √40's, the same for every key
  assert.equal(scaleWords({ scale: Math.sqrt(40), d_head: 40 }), "√40 (√40 = 6.325)");
  assert.equal(scaleWords({ scale: 8, d_head: 64 }), "√64 (√64 = 8.000)");
  assert.equal(scaleWords({ scale: 1, d_head: 40 }), "1 (scaling off)");
});
