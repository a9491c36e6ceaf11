// A text too long for its model: the server's 422 gives the numbers as data beside its message (backend/service.py
// TextTooLong: `tokens`, `limit`, `model`, and a comparison's `side`), and the page reads them, not the message's words
// (which it used to parse for "the text is N tokens": reworded, the page fell back to asking each model again).
import assert from "node:assert/strict";
import { afterEach, before, test } from "node:test";

import * as api from "../../../frontend/js/api.js";
import { createData } from "../../../frontend/js/data.js";
import { beyondNotice, refusedLength } from "../../../frontend/js/derive.js";
import { DEFAULTS } from "../../../frontend/js/state.js";
import { leftOutWords } from "../../../frontend/js/views/finder.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { byName, MODELS } from "./fixtures.mjs";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

// a message in other words than the server's today: nothing of the page may depend on them
const REWORDED = "203 tokens is more than tiny-sinusoidal takes (128)";
const NUMBERS = { tokens: 203, limit: 128, model: "tiny-sinusoidal" };

const realFetch = globalThis.fetch;
afterEach(() => { globalThis.fetch = realFetch; });

test("api.js: a 422 for a text too long throws the message with the numbers as `refusal`", async () => {
  globalThis.fetch = async () => new Response(JSON.stringify({ detail: REWORDED, ...NUMBERS }), { status: 422, headers: { "content-type": "application/json" } });
  const err = await api.analyze({ text: "x" }).then(() => null, (e) => e);
  assert.equal(err.message, REWORDED);
  assert.equal(err.status, 422);
  assert.deepEqual(err.refusal, NUMBERS);
  globalThis.fetch = async () => new Response(JSON.stringify({ detail: `side b (tiny-sinusoidal): ${REWORDED}`, ...NUMBERS, side: "b" }), { status: 422 });
  assert.deepEqual((await api.compare({}).catch((e) => e)).refusal, { ...NUMBERS, side: "b" });
  // a 422 of another kind, or one whose numbers are not numbers: no refusal for length
  for (const body of [{ detail: "ablate: layer 9 does not exist" }, { detail: "the text is 203 tokens", tokens: "203", limit: 128 }]) {
    globalThis.fetch = async () => new Response(JSON.stringify(body), { status: 422 });
    assert.equal((await api.analyze({ text: "x" }).catch((e) => e)).refusal, undefined, JSON.stringify(body));
  }
});

test("refusedLength reads the refusal's numbers, never a message", () => {
  assert.equal(refusedLength(NUMBERS), 203);
  assert.equal(refusedLength({ model: "tiny-learned", why: REWORDED, tokens: 221, limit: 128 }), 221); // a left_out entry
  assert.equal(refusedLength("the text is 203 tokens; model 'x' reads at most 128 tokens"), null);
  assert.equal(refusedLength(null), null);
  assert.equal(refusedLength({ tokens: null }), null);
});

test("the notice by the sentence and the Heads view's left-out line give the length from the numbers", () => {
  const rotary = { name: "tiny-rotary", max_tokens: 128, max_tokens_beyond: 512, positional: "rotary" };
  const notice = beyondNotice({ model: rotary, state: { beyond: false, positions: "normal" }, status: 422, models: [rotary],
    error: "the text is 999 tokens; model 'tiny-rotary' reads at most 128 tokens (max_tokens); send allow_beyond_trained: true", refusal: { ...NUMBERS, model: "tiny-rotary" } });
  assert.match(notice.text, /\(this text is 203\)/);
  const learned = { name: "tiny-learned", max_tokens: 128, max_tokens_beyond: 128, why_not_beyond: null };
  assert.equal(leftOutWords({ model: "tiny-learned", why: REWORDED, tokens: 221, limit: 128 }, learned),
    "Left out: tiny-learned, which reads at most 128 tokens (this text is 221).");
});

/** A fake api.js whose every call fails as the server refuses a text too long (the numbers as `refusal`). */
function refusingApi(message, refusal) {
  const calls = [];
  const api = new Proxy({}, {
    get: (_, name) => (...args) => {
      calls.push({ name, params: args.length > 1 ? args[0] : undefined });
      return Promise.reject(Object.assign(new Error(message), { status: 422, refusal }));
    },
  });
  return { api, calls };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const ctxOf = (patch = {}, model = MODELS[0]) => ({ state: { ...structuredClone(DEFAULTS), model: model.name, ...patch }, model, models: byName, hover: null, overrides: {} });

test("data.js: a text refused for its length, in any words, is not asked again; the answer carries the numbers", async () => {
  const { api: fake, calls } = refusingApi(REWORDED, { ...NUMBERS, model: MODELS[0].name });
  const data = createData(fake);
  const long = "word ".repeat(200);
  data.resolve("page", "analyze", ctxOf({ text: long }));
  await tick();
  for (const patch of [{ view: "lens" }, { layer: 1 }, { positions: "removed" }]) {
    const r = data.resolve("page", "analyze", ctxOf({ text: long, ...patch }));
    assert.deepEqual([r.error, r.status, r.pending, refusedLength(r.refusal)], [REWORDED, 422, false, 203], JSON.stringify(patch));
  }
  assert.equal(data.resolve("page", "predict", ctxOf({ text: long })).refusal.tokens, 203);
  assert.equal(calls.length, 1);
});

test("data.js: a Compare side refused for its length is known by its side's numbers; the page's own sentence too", async () => {
  const model = MODELS[1].name;
  const { api: fake, calls } = refusingApi(`side b (${model}): ${REWORDED}`, { ...NUMBERS, model, side: "b" });
  const data = createData(fake);
  const long = "word ".repeat(200);
  data.resolve("page", "compare", ctxOf({ text2: long, model2: model }));
  await tick();
  const again = data.resolve("page", "compare", ctxOf({ text2: long, model2: model, layer: 1 }));
  assert.deepEqual([again.error, again.refusal], [`side b (${model}): ${REWORDED}`, { ...NUMBERS, model, side: "b" }]);
  const own = data.resolve("page", "analyze", ctxOf({ text: long }, MODELS[1]));
  assert.deepEqual([own.error, own.refusal], [REWORDED, { ...NUMBERS, model }]);
  assert.equal(calls.length, 1);
});
