// node --test: api.js asks again while a model loads and tells loading.js how far along; the token legend's
// pure parts. (make test runs every *.test.mjs with node --test.)
import assert from "node:assert/strict";
import { test } from "node:test";

const answers = [];
const asked = [];
globalThis.fetch = async (path, init) => {
  asked.push(path);
  const [status, body, headers] = answers.shift();
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
};

const api = await import("../../../frontend/js/api.js");
const { loadingText } = await import("../../../frontend/js/loading.js");
const { markersIn, visible } = await import("../../../frontend/js/views/legend.js");

test("a 503 that says a model is loading is asked again until the answer comes, and heard", async () => {
  const heard = [];
  const stop = api.onLoading((info) => heard.push(info));
  answers.push(
    [503, { detail: "model 'smollm2-135m' is loading (10% done)", loading: "smollm2-135m", progress: 0.1 }, { "retry-after": "0.2" }],
    [503, { detail: "model 'smollm2-135m' is loading (60% done)", loading: "smollm2-135m", progress: 0.6 }, { "retry-after": "0.2" }],
    [200, { model: "smollm2-135m", tokens: [] }, {}],
  );
  asked.length = 0;
  const data = await api.predict({ text: "x", model: "smollm2-135m" });
  stop();
  assert.deepEqual(data, { model: "smollm2-135m", tokens: [] });
  assert.equal(asked.length, 3);
  assert.deepEqual(heard.map((h) => h.progress ?? (h.done ? "done" : null)), [0.1, 0.6, "done"]);
  assert.ok(heard.every((h) => h.model === "smollm2-135m" && h.request === heard[0].request));
});

test("a 503 without Retry-After (a load that failed) is not asked again", async () => {
  answers.push([503, { detail: "model 'x' could not be loaded: OSError: broken" }, {}]);
  asked.length = 0;
  await assert.rejects(api.predict({ text: "x" }), /could not be loaded: OSError: broken/);
  assert.equal(asked.length, 1);
});

test("a busy 503 is asked again twice at most", async () => {
  for (let i = 0; i < 3; i++) answers.push([503, { detail: "busy" }, { "retry-after": "0.2" }]);
  asked.length = 0;
  await assert.rejects(api.predict({ text: "x" }), /busy/);
  assert.equal(asked.length, 3);
});

test("the loading line", () => {
  assert.equal(loadingText("smollm2-135m", 0.404), "loading smollm2-135m … 40%");
  assert.equal(loadingText("my-model", null), "loading my-model …");
});

test("the legend names only the markers the strip shows, with an example from it", () => {
  const tokens = [{ display: "<|bos|>" }, { display: "caf" }, { display: "<0xC3>" }, { display: "<0xA9>" }, { display: "␣dort" }, { display: "↵" }];
  assert.deepEqual(markersIn(tokens).map((m) => m.mark), ["␣", "↵", "<0xC3>"]);
  assert.deepEqual(markersIn([{ display: "The" }]), []);
  assert.deepEqual(markersIn([{ display: "##ing" }]).map((m) => m.mark), ["##"]);
});

test("unseen characters are shown visibly", () => {
  assert.deepEqual(["é", " ", "\t", "\n", "\u200b", "日"].map(visible), ["é", "␣", "⇥", "↵", "U+200B", "日"]);
});

test("a server that cannot be reached is said in words, not the browser's 'Failed to fetch'", async () => {
  const real = globalThis.fetch;
  globalThis.fetch = async () => { throw new TypeError("Failed to fetch"); };
  try {
    await assert.rejects(api.predict({ text: "x" }), (err) => {
      assert.match(err.message, /^the server could not be reached/);
      assert.equal(err.status, undefined); // no answer: the data layer asks again later
      return true;
    });
    // a request the page aborted stays an abort (it is not shown)
    const ctrl = new AbortController();
    globalThis.fetch = async () => { throw new DOMException("aborted", "AbortError"); };
    ctrl.abort();
    await assert.rejects(api.predict({ text: "x" }, ctrl.signal), { name: "AbortError" });
  } finally {
    globalThis.fetch = real;
  }
});
