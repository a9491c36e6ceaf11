// Download report (frontend/js/classroom.js): the address carries every selection the report draws, so the file
// shows what the page shows.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { reportHref, reportRefusal, reportWaits } from "../../../frontend/js/classroom.js";
import { loadingNow, update as heardLoading } from "../../../frontend/js/loading.js";
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

test("a model whose report explains no next token is not asked to explain one", () => {
  // /api/report refuses token and versus on MiniLM (no lens, no logit attribution: its report has no Why section);
  // a URL's target kept on that model made Download report fail
  const s = { ...structuredClone(DEFAULTS), text: "The cat sat.", target: 626, versus: 305 };
  const minilm = { name: "minilm-l6", kind: "bidirectional",
    unavailable_views: { lens: "MiniLM has no next-word head.", logit_attribution: "MiniLM has no next-word head." } };
  const q = paramsOf(reportHref(s, { model: "minilm-l6", info: minilm }));
  assert.ok(!("token" in q) && !("versus" in q), JSON.stringify(q));
  const causal = paramsOf(reportHref(s, { model: "tiny-rotary", info: { name: "tiny-rotary", kind: "causal", unavailable_views: {} } }));
  assert.equal(causal.token, "626");
  assert.equal(causal.versus, "305");
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

test("a depth past the model's last is sent as the last, the depth the page shows, not one the report refuses", () => {
  // the slider's depth is an index: 5 (after block 3 on tiny-sinusoidal, whose depths are the token embedding,
  // + position and 4 blocks) kept on a switch to tiny-rotary (no position step: 5 depths, 0 to 4) was drawn as the
  // last depth by the page and sent as depth=5, which /api/report answers with a 422: the download failed
  const depths = { "tiny-sinusoidal": 6, "tiny-rotary": 5, "smollm2-135m": 31 }; // 1 + the position step + blocks
  const info = { "tiny-sinusoidal": { name: "tiny-sinusoidal", n_layers: 4 }, "tiny-rotary": { name: "tiny-rotary", n_layers: 4 },
    "smollm2-135m": { name: "smollm2-135m", n_layers: 30 } };
  for (const [name, n] of Object.entries(depths)) {
    for (const depth of [null, 0, 1, 3, 4, 5, 6, 20, 30, 31]) {
      const s = { ...structuredClone(DEFAULTS), text: "The cat sat.", model: name, depth };
      const shown = depth === null || depth > n - 1 ? n - 1 : depth; // the embeddings view's clamp
      const q = paramsOf(reportHref(s, { model: name, info: info[name] }));
      const sent = "depth" in q ? Number(q.depth) : n - 1; // none sent: the report's default, the last depth
      assert.ok(sent >= 0 && sent < n, `${name} depth ${depth}: sent ${q.depth}`);
      assert.equal(sent, shown, `${name} depth ${depth}`);
    }
  }
});

test("a report of a model still loading waits on the page, not as a failed download", () => {
  // /api/report answers 503 while its model loads; a download link does not ask again as the page's requests do
  assert.equal(reportWaits(loadingNow()), ""); // nothing loading: the link downloads
  heardLoading({ request: 1, model: "smollm2-135m", progress: 0.1 });
  heardLoading({ request: 2, model: "smollm2-135m", progress: 0.4 });
  const said = reportWaits(loadingNow("smollm2-135m"));
  assert.match(said, /smollm2-135m is still loading/);
  assert.match(said, /40% done/); // the furthest heard
  assert.match(said, /again once/);
  assert.equal(reportWaits(loadingNow("tiny-rotary")), ""); // another model's report: not held back
  assert.match(reportWaits(loadingNow()), /smollm2-135m/); // the default model's (none named): whatever loads
  heardLoading({ request: 1, model: "smollm2-135m", done: true });
  heardLoading({ request: 2, model: "smollm2-135m", done: true });
  assert.equal(loadingNow(), null);
  assert.equal(reportWaits(loadingNow("smollm2-135m")), "");
});
