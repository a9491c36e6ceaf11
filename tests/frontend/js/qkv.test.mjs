// Q/K/V and the arithmetic on a grouped-query model: the keys and the values are a K/V head's, shared by a group of
// query heads, and both views say whose (the V panel said "K/V head 1", the K panel and the arithmetic did not).
import assert from "node:assert/strict";
import { test } from "node:test";

import { sharedWords } from "../../../frontend/js/views/explain.js";
import { kvHeadName } from "../../../frontend/js/views/qkv.js";

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
