// Q/K/V and the arithmetic on a grouped-query model: the keys and the values are a K/V head's, shared by a group of
// query heads, and both views say whose (the V panel said "K/V head 1", the K panel and the arithmetic did not).
import assert from "node:assert/strict";
import { test } from "node:test";

import { sharedWords } from "../../../frontend/js/views/explain.js";
import { flatRange, kvHeadName } from "../../../frontend/js/views/qkv.js";

test("the K and V panels name the K/V head where query heads share one", () => {
  assert.equal(kvHeadName(3, { head: 4, kv_head: 1 }, 3), "L3 H4 (K/V head 1)");
  assert.equal(kvHeadName(3, { head: 0, kv_head: 0 }, 3), "L3 H0 (K/V head 0)"); // shared with heads 1 and 2 too
  assert.equal(kvHeadName(2, { head: 2, kv_head: 2 }, 1), "L2 H2"); // a head of its own
  assert.equal(kvHeadName(2, { head: 2, kv_head: 2 }), "L2 H2");
});

test("the arithmetic says which heads share the keys and values", () => {
  // SmolLM2: 9 query heads, 3 K/V heads (groups of 3); head 4 reads K/V head 1, shared by heads 3 to 5
  assert.match(sharedWords({ head: 4, kv_head: 1, group_size: 3 }), /K\/V head 1's, which heads 3 to 5 of this layer share/);
  assert.match(sharedWords({ head: 8, kv_head: 2, group_size: 3 }), /heads 6 to 8/);
  assert.equal(sharedWords({ head: 2, kv_head: 2, group_size: 1 }), "");
});

test("q and k on a line (one token: axis 2 holds none of the variance) still get a plot of some height", () => {
  // SmolLM2's "Hello" is one token: its q and k 7.6 apart on axis 1, 0 on axis 2; the square-scaled plot was a few
  // pixels high, its y labels 0.4, 0.2, 0, −0.2, −0.4 over each other
  const y = flatRange([-3.8, 3.8], [0, 0]);
  assert.ok(y[1] - y[0] >= 7.6 / 3, y);
  assert.ok(y[0] < 0 && y[1] > 0, y);
  assert.deepEqual(flatRange([-3.8, 3.8], [0.5, 0.7]).map((v) => Math.round(v * 100) / 100), [-0.67, 1.87]); // (about their middle)
  assert.equal(flatRange([-4, 4, 0], [-2, 1, 2]), null); // spread out: Plotly's own range
  assert.equal(flatRange([1, 1], [2, 2]), null); // (a single point: nothing to scale)
});
