// The page's one data layer (frontend/js/data.js), against a fake API: one request for the same question from the
// explorer and a lesson, aborts and stale answers, the bounded cache, the compact analysis of a large model.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { createData } from "../../../frontend/js/data.js";
import { SOURCES } from "../../../frontend/js/sources.js";
import { DEFAULTS } from "../../../frontend/js/state.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { analysis, byName, MODELS } from "./fixtures.mjs";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

/** A fake api.js: every call is recorded and answered when the test says (answer / fail), or at once with `auto`. */
function fakeApi(auto = null) {
  const calls = [];
  const api = new Proxy({}, {
    get: (_, name) => (...args) => {
      const signal = args[args.length - 1];
      const params = args.length > 1 ? args[0] : undefined;
      let settle;
      const promise = new Promise((resolve, reject) => {
        settle = { resolve, reject };
        if (signal) signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
      const call = { name, params, signal, answer: (d) => settle.resolve(d), fail: (msg, status = 422, refusal = undefined) => settle.reject(Object.assign(new Error(msg), { status, ...(refusal ? { refusal } : {}) })) };
      calls.push(call);
      if (auto) queueMicrotask(() => call.answer(auto(name, params)));
      return promise;
    },
  });
  return { api, calls };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const ctxOf = (patch = {}, model = MODELS[0]) => ({ state: { ...structuredClone(DEFAULTS), model: model.name, ...patch }, model, models: byName, hover: null, overrides: {} });

test("the explorer and a lesson asking for the same thing send one request", async () => {
  const { api, calls } = fakeApi((name) => (name === "analyze" ? analysis() : { weights: [1] }));
  const data = createData(api);
  const ctx = ctxOf({ view: "arithmetic" });
  data.resolve("page", "explain", ctx); // waits for the analysis first
  data.resolve("lesson", "analyze", { ...ctx, slot: "explain" });
  assert.deepEqual(calls.map((c) => c.name), ["analyze"]);
  await tick();
  const a = data.resolve("page", "explain", ctx);
  const b = data.resolve("lesson", "explain", { ...ctx, slot: "top_key" });
  assert.deepEqual(calls.map((c) => c.name), ["analyze", "explain"]);
  assert.equal(calls[1].params.query, 3); // the last token
  await tick();
  assert.deepEqual(data.resolve("page", "explain", ctx).data, { weights: [1] });
  assert.equal(a.pending, true);
  assert.deepEqual(b.request, a.request);
  assert.equal(data.sent(), 2);
});

test("a hovered token is asked for; a request nobody wants any more is aborted", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  data.resolve("page", "analyze", ctxOf());
  calls[0].answer(analysis());
  await tick();
  data.resolve("page", "explain", { ...ctxOf(), hover: 1 });
  assert.equal(calls[1].params.query, 1);
  data.resolve("page", "explain", { ...ctxOf(), hover: 2 }); // the slot moves on: the first is let go
  assert.equal(calls[1].signal.aborted, true);
  assert.equal(calls[2].params.query, 2);
  // held by another client too: not aborted when one lets go
  data.resolve("lesson", "explain", { ...ctxOf(), hover: 2 });
  data.resolve("page", "explain", { ...ctxOf(), hover: 3 });
  assert.equal(calls[2].signal.aborted, false);
});

test("a stale answer never replaces a newer one; the previous answer shows while the next loads", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  data.resolve("page", "analyze", ctxOf({ text: "first" }));
  calls[0].answer({ ...analysis(), model: "first" });
  await tick();
  data.resolve("page", "analyze", ctxOf({ text: "second" }));
  data.resolve("page", "analyze", ctxOf({ text: "third" })); // "second" is aborted
  assert.equal(calls[1].signal.aborted, true);
  const now = data.resolve("page", "analyze", ctxOf({ text: "third" }));
  assert.equal(now.pending, true);
  assert.equal(now.current, false);
  assert.equal(now.data.model, "first"); // shown until the new one is in
  calls[2].answer({ ...analysis(), model: "third" });
  await tick();
  assert.equal(data.resolve("page", "analyze", ctxOf({ text: "third" })).data.model, "third");
});

test("errors reach the slot; a 4xx is kept, a failed connection is asked again later", async () => {
  let t = 0;
  const { api, calls } = fakeApi();
  const data = createData(api, { now: () => t });
  data.resolve("page", "analyze", ctxOf({ text: "bad" }));
  calls[0].fail("text is empty", 422);
  await tick();
  assert.equal(data.resolve("page", "analyze", ctxOf({ text: "bad" })).error, "text is empty");
  t = 60_000;
  data.resolve("page", "analyze", ctxOf({ text: "bad" }));
  assert.equal(calls.length, 1); // the same question, the same answer
  data.resolve("page", "analyze", ctxOf({ text: "down" }));
  calls[1].fail("the server answered 502", 502);
  await tick();
  data.resolve("page", "analyze", ctxOf({ text: "down" }));
  assert.equal(calls.length, 2);
  t = 120_000;
  data.resolve("page", "analyze", ctxOf({ text: "down" }));
  assert.equal(calls.length, 3);
});

test("a failed connection tells the page again once it may be asked again, while a slot still wants it", async () => {
  let t = 0;
  const timers = [];
  const { api, calls } = fakeApi();
  const data = createData(api, { now: () => t, later: (fn, ms) => timers.push({ fn, ms }) });
  let heard = 0;
  data.subscribe(() => heard++);
  data.resolve("page", "analyze", ctxOf({ text: "bad" }));
  calls[0].fail("text is empty", 422);
  await tick();
  assert.equal(timers.length, 0); // a 4xx is the answer: nothing to ask again
  data.resolve("page", "analyze", ctxOf({ text: "down" }));
  calls[1].fail("the server could not be reached", 0);
  await tick();
  assert.equal(timers.length, 1);
  t = timers[0].ms; // the page is told when the retry is due (it asks then, without anyone typing)
  const before = heard;
  timers[0].fn();
  await tick();
  assert.equal(heard, before + 1);
  assert.equal(data.resolve("page", "analyze", ctxOf({ text: "down" })).pending, true);
  assert.equal(calls.length, 3);
  calls[2].fail("the server could not be reached", 0);
  await tick();
  assert.equal(timers.length, 2);
  data.begin("page"); // the slot lets go of it: nobody is told any more
  data.end("page");
  t += timers[1].ms;
  const after = heard;
  timers[1].fn();
  await tick();
  assert.equal(heard, after);
});

test("the cache is bounded, and keeps what a slot holds", async () => {
  const { api } = fakeApi(() => analysis());
  const data = createData(api, { maxEntries: 3 });
  for (let i = 0; i < 6; i++) {
    data.begin("page");
    data.resolve("page", "analyze", ctxOf({ text: `t${i}` }));
    data.end("page");
    await tick();
  }
  assert.equal(data.size(), 3);
  data.resolve("lesson", "analyze", ctxOf({ text: "t5" })); // still cached: no new request
  assert.equal(data.sent(), 6);
});

test("a round lets go of what a client no longer asks for", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  data.begin("lesson");
  data.resolve("lesson", "qkv", ctxOf());
  data.end("lesson");
  data.begin("lesson");
  data.end("lesson"); // the step moved on: its request is not wanted
  assert.equal(calls[0].signal.aborted, true);
});

test("a large model: one layer in full, the thumbnails of its sentence asked for once", async () => {
  const big = MODELS[2];
  const thumbs = { shape: [6, 12, 4, 4], scale: 255, bytes: new Uint8Array(6 * 12 * 16) };
  const { api, calls } = fakeApi((name, params) => ({ ...analysis({ layers: 6, heads: 12, only: params.layers, causal: false }),
    thumbnails: params.thumbnails ? thumbs : null }));
  const data = createData(api);
  data.resolve("page", "analyze", ctxOf({ layer: 2 }, big));
  assert.deepEqual([calls[0].params.layers, calls[0].params.thumbnails], [[2], true]);
  await tick();
  const a = data.resolve("page", "analyze", ctxOf({ layer: 2 }, big)).data;
  assert.equal(a.attention.length, 6);
  assert.ok(a.attention[2] && !a.attention[0]);
  data.resolve("page", "analyze", ctxOf({ layer: 4 }, big));
  assert.deepEqual([calls[1].params.layers, calls[1].params.thumbnails], [[4], false]);
  await tick();
  const b = data.resolve("page", "analyze", ctxOf({ layer: 4 }, big)).data;
  assert.equal(b.thumbnails, thumbs); // the same thumbnails: the grid needs no redraw
  assert.equal(data.baseOf(a), data.baseOf(b)); // the same sentence
  // a Why view's analysis (no layer in full, no per-head summary) is of the same sentence: no thumbnails asked again
  data.resolve("page", "analyze", ctxOf({ layer: 4, view: "attribution" }, big));
  assert.deepEqual([calls[2].params.layers, calls[2].params.heads, calls[2].params.thumbnails], [[], false, false]);
  // a lesson's number in that view asks for the summary it may read
  data.resolve("lesson", "analyze", { ...ctxOf({ layer: 4, view: "attribution" }, big), slot: "x" });
  assert.equal(calls[3].params.heads, undefined);
});

test("a large model's role table, like its thumbnails, is asked for once per sentence", async () => {
  const big = MODELS[2];
  const table = { heads: [] };
  const { api, calls } = fakeApi((name, params) => ({ ...analysis({ layers: 6, heads: 12, only: params.layers, causal: false }),
    thumbnails: params.thumbnails ? { shape: [6, 12, 4, 4], scale: 255, bytes: new Uint8Array(6 * 12 * 16) } : null,
    roles: params.roles ? table : null }));
  const data = createData(api);
  const at = (layer, text = DEFAULTS.text) => ctxOf({ view: "attention", layer, text }, big);
  data.resolve("page", "analyze", at(2));
  assert.deepEqual([calls[0].params.roles, calls[0].params.thumbnails], [true, true]);
  await tick();
  data.resolve("page", "analyze", at(4));
  assert.deepEqual([calls[1].params.roles, calls[1].params.thumbnails], [false, false]); // another layer: neither again
  await tick();
  assert.equal(data.resolve("page", "analyze", at(4)).data.roles, table); // the sentence's table, kept
  data.resolve("page", "analyze", at(4, "Another sentence."));
  assert.deepEqual([calls[2].params.roles, calls[2].params.thumbnails], [true, true]);
  // the Why views (of a large decoder): no layer in full, so another layer is the same request
  const decoder = { ...MODELS[0], n_layers: 30, n_heads: 9 };
  const why = (layer) => ctxOf({ view: "lens", layer }, decoder);
  assert.ok(SOURCES.analyze(why(2)).compact && SOURCES.analyze(why(2)).params.why);
  assert.deepEqual(SOURCES.analyze(why(2)).params.layers, []);
  assert.deepEqual(SOURCES.analyze(why(2)), SOURCES.analyze(why(5)));
});

test("a small model's answer without a layer in full (a Why view's) comes indexed by layer, with no thumbnails asked", async () => {
  const { api, calls } = fakeApi((name, params) => analysis({ layers: 4, heads: 4, only: params.layers }));
  const data = createData(api);
  const ctx = ctxOf({ view: "effects" });
  data.resolve("page", "analyze", ctx);
  assert.deepEqual([calls[0].params.layers, calls[0].params.thumbnails], [[], undefined]);
  await tick();
  assert.deepEqual(data.resolve("page", "analyze", ctx).data.attention, [null, null, null, null]);
  const full = ctxOf({ view: "attention" }); // every layer: the answer as it came
  data.resolve("page", "analyze", full);
  await tick();
  const a = data.resolve("page", "analyze", full).data;
  assert.equal(calls[1].params.layers, undefined);
  assert.deepEqual(a.attention, analysis({ layers: 4, heads: 4 }).attention);
});

test("one-off requests share the cache and reject with the API's message", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  const one = data.request({ api: "models" });
  const two = data.request({ api: "models" });
  assert.equal(calls.length, 1);
  calls[0].answer({ models: [] });
  assert.deepEqual(await one, { models: [] });
  assert.deepEqual(await two, { models: [] });
  const bad = data.request({ api: "share", params: { view: "x" } });
  calls[1].fail("no", 422);
  await assert.rejects(bad, /no/);
});

test("the family's requests of the other models stay held across rounds (not aborted and sent again)", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  const ctx = ctxOf();
  for (let round = 0; round < 3; round++) {
    data.begin("page");
    data.resolve("page", "family", ctx);
    data.end("page");
    await tick();
  }
  const nope = calls.filter((c) => c.name === "analyze" && c.params.model === "tiny-nope");
  assert.equal(nope.length, 1, "one request for the other model, whatever the number of rounds");
  assert.equal(nope[0].signal.aborted, false);
});

test("the lens the analysis carries is shown, and stays shown while another position's lens loads", async () => {
  const lens = (position) => ({ position, token: { id: 7 }, cells: [] });
  const { api, calls } = fakeApi();
  const data = createData(api);
  const ctx = ctxOf({ view: "lens" });
  data.resolve("page", "lens", ctx); // waits for the analysis, which carries the lens (`why`)
  assert.deepEqual(calls.map((c) => [c.name, c.params.why]), [["analyze", true]]);
  calls[0].answer({ ...analysis({ n: 5 }), lens: lens(4), logit: {} });
  await tick();
  const carried = data.resolve("page", "lens", ctx);
  assert.deepEqual(carried.data, lens(4));
  assert.equal(carried.request.api, "lens"); // the request it stands for, not sent
  assert.equal(calls.length, 1);
  const other = data.resolve("page", "lens", ctxOf({ view: "lens", token: 2 })); // another position: its own request
  assert.deepEqual(calls.map((c) => c.name), ["analyze", "lens"]);
  assert.equal(calls[1].params.position, 2);
  assert.ok(other.pending);
  assert.deepEqual(other.data, lens(4)); // what was on screen, not an older answer of this slot
  calls[1].answer(lens(2));
  await tick();
  assert.deepEqual(data.resolve("page", "lens", ctxOf({ view: "lens", token: 2 })).data, lens(2));
});

test("prefetch asks a source that reads no other with the analysis, and leaves one that does for later", async () => {
  const { api, calls } = fakeApi();
  const data = createData(api);
  const ctx = ctxOf({ view: "qkv", layer: 1, head: 2 });
  data.begin("page");
  const an = data.resolve("page", "analyze", ctx);
  for (const name of ["qkv", "explain"]) data.prefetch("page", name, ctx);
  data.end("page");
  // the selected layer's Q/K/V goes now, beside the analysis; the arithmetic needs its query token first
  assert.equal(an.pending, true);
  assert.deepEqual(calls.map((c) => c.name), ["analyze", "qkv"]);
  assert.deepEqual([calls[1].params.layer, calls[1].params.head], [1, 2]);
  assert.ok(!calls[1].signal.aborted); // held by the round that prefetched it
  calls[1].answer({ heads: [] });
  calls[0].answer(analysis());
  await tick();
  // once the analysis is in, resolving the source answers from the request already made: nothing sent again
  data.begin("page");
  assert.deepEqual(data.resolve("page", "qkv", ctx).data, { heads: [] });
  data.resolve("page", "explain", ctx);
  data.end("page");
  assert.deepEqual(calls.map((c) => c.name), ["analyze", "qkv", "explain"]);
  assert.equal(data.sent(), 3);
});

test("the effects view's first picture is one request: its analysis carries the head's attribution", async () => {
  let clock = 0;
  const { api, calls } = fakeApi();
  const data = createData(api, { now: () => clock });
  const effects = (head) => ctxOf({ view: "effects", layer: 1, head });
  data.begin("page");
  data.resolve("page", "analyze", effects(2));
  data.prefetch("page", "attnattr", effects(2)); // reads the analysis now: nothing asked of its own
  data.end("page");
  assert.deepEqual(calls.map((c) => [c.name, c.params.attention_attribution]), [["analyze", { layer: 1, head: 2 }]]);
  clock = 40;
  calls[0].answer({ ...analysis(), attention_attribution: { head: 2 } });
  await tick();
  assert.deepEqual(data.resolve("page", "attnattr", effects(2)).data, { head: 2 });
  assert.equal(data.analyzeMs(MODELS[0].name), 40); // a new sentence: timed
  // another head: the analysis of the kept pass again, with that head's; the last one shown meanwhile
  data.resolve("page", "analyze", effects(3));
  const waiting = data.resolve("page", "attnattr", effects(3));
  assert.deepEqual(waiting.data, { head: 2 });
  assert.deepEqual(calls.map((c) => c.name), ["analyze", "analyze"]);
  assert.deepEqual(calls[1].params.attention_attribution, { layer: 1, head: 3 });
  clock = 45;
  calls[1].answer({ ...analysis(), attention_attribution: { head: 3 } });
  await tick();
  assert.deepEqual(data.resolve("page", "attnattr", effects(3)).data, { head: 3 });
  assert.equal(data.analyzeMs(MODELS[0].name), 40); // the same sentence: not timed again
  assert.equal(data.sent(), 2);
});

test("a text refused for its length on a model is not asked for again on that model, whatever else the request asks", async () => {
  // a text too long for the model: each view, layer or position mode asked another analysis of it, each a 422 (in the
  // browser's console) for the same length the first refusal named
  const { api, calls } = fakeApi();
  const data = createData(api);
  const long = "word ".repeat(200);
  const said = "the text is 203 tokens (with its 1 special token); model 'tiny-sinusoidal' reads at most 128 tokens (max_tokens), the length it was trained on; send allow_beyond_trained: true to run it on up to 512 tokens (positions it never saw)";
  data.resolve("page", "analyze", ctxOf({ text: long, view: "attention" }));
  calls[0].fail(said, 422, { tokens: 203, limit: 128, model: "tiny-sinusoidal" }); // (the numbers beside the message, as api.js gives them)
  await tick();
  for (const patch of [{ view: "lens" }, { view: "effects" }, { view: "model" }, { layer: 1 }, { positions: "removed" }, { ablate: [[0, 1]] }]) {
    const r = data.resolve("page", "analyze", ctxOf({ text: long, ...patch }));
    assert.deepEqual([r.error, r.status, r.pending], [said, 422, false], JSON.stringify(patch));
  }
  for (const name of ["predict", "qkv", "embeddings"]) assert.equal(data.resolve("page", name, ctxOf({ text: long })).error, said, name);
  assert.equal(calls.length, 1);
  // past the trained length, on another model, another text: asked
  data.resolve("page", "analyze", ctxOf({ text: long, beyond: true }, { ...MODELS[0], max_tokens_beyond: 512 }));
  data.resolve("page", "analyze", ctxOf({ text: long }, MODELS[1]));
  data.resolve("page", "analyze", ctxOf({ text: "word word" }));
  assert.equal(calls.length, 4);
  // a 422 of another kind (an ablated head the model lacks) says nothing of the text's length
  const other = "ablate: layer 9 does not exist (tiny-sinusoidal has 4 layers)";
  data.resolve("page", "analyze", ctxOf({ text: "Short.", ablate: [[9, 0]] }));
  calls[4].fail(other, 422);
  await tick();
  data.resolve("page", "analyze", ctxOf({ text: "Short." }));
  assert.equal(calls.length, 6);
});

test("a Compare side refused for its text's length is not asked for again with other heads or interventions", async () => {
  // a second sentence too long for side b's model: each layer, head, ablation or position mode of side b asked again
  const { api, calls } = fakeApi();
  const data = createData(api);
  const long = "word ".repeat(200);
  const said = "the text is 203 tokens (with its 1 special token); model 'tiny-nope' reads at most 128 tokens (max_tokens), the length it was trained on";
  data.resolve("page", "compare", ctxOf({ text2: long, model2: "tiny-nope" }));
  calls[0].fail(`side b (tiny-nope): ${said}`, 422, { tokens: 203, limit: 128, model: "tiny-nope", side: "b" });
  await tick();
  for (const patch of [{ layer: 1 }, { head: 2 }, { ablate2: [[0, 1]] }, { positions2: "shuffled" }, { scale2: false }]) {
    const r = data.resolve("page", "compare", ctxOf({ text2: long, model2: "tiny-nope", ...patch }));
    assert.deepEqual([r.error, r.status], [`side b (tiny-nope): ${said}`, 422], JSON.stringify(patch));
  }
  // the same text on that model as the page's own sentence: the same refusal, without the side's name
  assert.equal(data.resolve("page", "analyze", ctxOf({ text: long }, MODELS[1])).error, said);
  assert.equal(calls.length, 1);
  // side b on another model is asked
  data.resolve("page", "compare", ctxOf({ text2: long, model2: "tiny-sinusoidal" }));
  assert.equal(calls.length, 2);
});
