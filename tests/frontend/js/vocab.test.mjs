// The page's vocabulary (frontend/js/vocab.js) holds what the server sends, and its one ablate parser.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { familyOf, formatAblate, parseAblate, positionIds, setVocabulary, unavailable, viewIds, vocab } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

let meta;
before(() => {
  meta = serverMeta();
  setVocabulary(meta);
});

test("the vocabulary is the server's", () => {
  assert.deepEqual(viewIds(), meta.views.map((v) => v.id));
  assert.deepEqual(positionIds(), meta.positions.map((p) => p.id));
  assert.deepEqual(vocab.limits, meta.limits);
  assert.ok(viewIds().includes("compare") && viewIds().includes("predictions"));
});

test("ablated heads: the URL's form, spaces, + and none", () => {
  assert.deepEqual(parseAblate("1.2,0.3"), [[0, 3], [1, 2]]);
  assert.deepEqual(parseAblate(" 1.2 + 0.3 "), [[0, 3], [1, 2]]);
  assert.deepEqual(parseAblate("2.1,2.1"), [[2, 1]]);
  assert.deepEqual(parseAblate("none"), []);
  assert.deepEqual(parseAblate(""), []);
  assert.deepEqual(parseAblate(null), []);
  for (const bad of ["1:2", "x", "1.2,x", "-1.0", "1.", "12345.1"]) assert.throws(() => parseAblate(bad), /layer\.head/, bad);
  assert.equal(formatAblate([[1, 2], [0, 3], [1, 2]]), "0.3,1.2");
  assert.deepEqual(parseAblate(formatAblate([[3, 1], [0, 0]])), [[0, 0], [3, 1]]);
});

test("each example the server gives reads the same here", () => {
  for (const ex of meta.ablate.examples) {
    if (ex.error === null) assert.deepEqual(parseAblate(ex.text), ex.heads, ex.text);
    else assert.throws(() => parseAblate(ex.text), undefined, ex.text);
  }
});

test("families and the views that do not apply", () => {
  const fam = meta.families[0];
  assert.ok(fam && fam.models.length >= 4);
  assert.equal(familyOf(fam.models[1]), fam);
  const bidirectional = { name: "m", kind: "bidirectional", unavailable_views: {} };
  assert.match(unavailable(bidirectional, "predictions"), /bidirectional/);
  assert.equal(unavailable({ name: "m", kind: "causal", unavailable_views: { "positional.encoding": "none" } }, "positional.encoding"), "none");
  assert.equal(unavailable({ name: "m", kind: "causal", unavailable_views: {} }, "attention"), "");
});
