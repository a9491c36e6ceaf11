// Download report (frontend/js/classroom.js): the address carries every selection the report draws, so the file
// shows what the page shows.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { reportHref, reportRefusal } from "../../../frontend/js/classroom.js";
import { DEFAULTS } from "../../../frontend/js/state.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

const paramsOf = (href) => Object.fromEntries(new URL(href, "http://x").searchParams);

test("the report is asked for the token explained and the one it is compared with", () => {
  // the lens and attribution views explain `target` (against `versus`) after the query token: the report's Why section too
  const s = { ...structuredClone(DEFAULTS), text: "The cat sat.", layer: 1, head: 2, target: 626, versus: 305 };
  const q = paramsOf(reportHref(s, { query: 3, model: "tiny-rotary" }));
  assert.equal(q.token, "626");
  assert.equal(q.versus, "305");
  assert.equal(q.query, "3");
  assert.equal(q.model, "tiny-rotary");
  // none chosen: none sent (the report explains the model's top-1, as the page does)
  const plain = paramsOf(reportHref({ ...structuredClone(DEFAULTS), text: "The cat sat." }, {}));
  assert.ok(!("token" in plain) && !("versus" in plain), JSON.stringify(plain));
  assert.equal(plain.text, "The cat sat.");
});

test("the report hides the special tokens when the page does", () => {
  const s = { ...structuredClone(DEFAULTS), text: "The cat sat.", hidespecial: true };
  assert.equal(paramsOf(reportHref(s, {})).hide_special, "true");
  assert.ok(!("hide_special" in paramsOf(reportHref({ ...s, hidespecial: false }, {}))));
});

test("a sentence longer than the model's report takes is refused on the page, not by a failed download", () => {
  // /api/report answers 422 past max_report_tokens (a report draws every head); the browser's download just failed
  const smol = { name: "smollm2-135m", max_report_tokens: 31 };
  const said = reportRefusal({ tokens: 37, model: smol });
  assert.match(said, /37 tokens/);
  assert.match(said, /at most 31/);
  assert.match(said, /smollm2-135m/);
  assert.equal(reportRefusal({ tokens: 31, model: smol }), "");
  assert.equal(reportRefusal({ tokens: null, model: smol }), ""); // not analysed yet: the server decides
  assert.equal(reportRefusal({ tokens: 500, model: { name: "lab-1@10" } }), ""); // no limit known: the server decides
});
