// The page's state and its URL (frontend/js/state.js): a round trip keeps every key; what a link names wrongly
// falls back to the default and says so.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { DEFAULTS, parse, serialize } from "../../../frontend/js/state.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

test("a state survives its URL", () => {
  const s = {
    ...structuredClone(DEFAULTS), text: "Two & three = “five”?\nA second line.", model: "tiny-rotary", view: "compare", layer: 2, head: 3,
    token: 5, positions: "shuffled", scale: false, ablate: [[0, 1], [2, 3]], temp: 0.7, depth: 2, metric: "dot", word: "cat",
    a: "x", b: "y", c: "z", pn: 128, text2: "Another sentence.", model2: "tiny-nope", positions2: "removed", scale2: true,
    ablate2: [], lesson: "context", step: 3, present: true, hidespecial: true,
  };
  assert.deepEqual(parse(serialize(s)), s);
  assert.deepEqual(parse(serialize(DEFAULTS)), { ...DEFAULTS });
  // the analogy's expected word: a word, or none (an empty box), both kept by the link
  for (const expect of ["girl", ""]) assert.equal(parse(serialize({ ...DEFAULTS, expect })).expect, expect);
});

test("a link always names the sentence, model, view, layer and head", () => {
  const q = new URLSearchParams(serialize({ ...DEFAULTS, model: "tiny-learned" }));
  assert.deepEqual([...q.keys()].sort(), ["head", "layer", "model", "text", "view"]);
});

test("the URL's form of ablated heads, and side b's 'none'", () => {
  assert.equal(new URLSearchParams(serialize({ ...DEFAULTS, ablate: [[1, 2], [0, 3]] })).get("ablate"), "0.3,1.2");
  assert.equal(new URLSearchParams(serialize({ ...DEFAULTS, ablate2: [] })).get("ablate2"), "none");
  assert.equal(new URLSearchParams(serialize({ ...DEFAULTS, ablate2: null })).get("ablate2"), null);
  assert.deepEqual(parse("ablate=1.2+0.3").ablate, [[0, 3], [1, 2]]); // a + in a URL is a space: read the same
});

test("what a link names wrongly stays at its default, with a sentence saying so", () => {
  const problems = [];
  const s = parse("view=heatmaps&positions=sideways&ablate=one.two&layer=-1&temp=99&pn=100000&lesson=..%2Fx&scale=off", problems);
  assert.equal(s.view, DEFAULTS.view);
  assert.equal(s.positions, DEFAULTS.positions);
  assert.deepEqual(s.ablate, []);
  assert.equal(s.layer, DEFAULTS.layer);
  assert.equal(s.temp, DEFAULTS.temp);
  assert.equal(s.pn, DEFAULTS.pn);
  assert.equal(s.lesson, "");
  assert.equal(s.scale, false);
  assert.equal(problems.length, 3);
  assert.match(problems[0], /no view “heatmaps”/);
  assert.match(problems[1], /The link's layer “-1” is not a whole number from 0 up: showing layer 0\./);
  assert.match(problems[2], /ablate could not be read/);
  const more = [];
  const t = parse("head=1.5&token=x&layer=2", more);
  assert.deepEqual([t.head, t.token, t.layer], [DEFAULTS.head, null, 2]);
  assert.deepEqual(more, ["The link's head “1.5” is not a whole number from 0 up: showing head 0.",
    "The link's token “x” is not a whole number from 0 up: showing the last token."]);
});
