// A text too long for its model: the server's 422 gives the numbers as data beside its message (backend/service.py
// TextTooLong: `tokens`, `limit`, `model`, and a comparison's `side`), and the page reads them, not the message's words
// (which it used to parse for "the text is N tokens": reworded, the page fell back to asking each model again).
import assert from "node:assert/strict";
import { afterEach, before, test } from "node:test";

import * as api from "../../../frontend/js/api.js";
import { createData } from "../../../frontend/js/data.js";
import { beyondNotice, refusedLength, stepProblem } from "../../../frontend/js/derive.js";
import { openPatch } from "../../../frontend/js/views/beyond.js";
import { refusedSide } from "../../../frontend/js/views/compare.js";
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

// /api/models entries as the server gives them: a model that can run past its trained length (up to 512), one that
// cannot (learned positions), and one whose limit is the app's cap, far inside its trained length
const CAN = { name: "tiny-sinusoidal", max_tokens: 128, trained_tokens: 128, max_tokens_beyond: 512, positional: "sinusoidal", available: true };
const CANNOT = { name: "tiny-learned", max_tokens: 128, trained_tokens: 128, max_tokens_beyond: 128, positional: "learned", available: true,
  why_not_beyond: "Learned positions stop at the trained length." };
const CAPPED = { name: "smollm2-135m", max_tokens: 128, trained_tokens: 8192, max_tokens_beyond: 128, positional: "rotary", available: true,
  why_not_beyond: "The app reads at most 128 tokens on this model, below its trained length of 8192 tokens, to keep its answers small." };
const LIST = [CAN, CANNOT, CAPPED];
const S = { beyond: false, positions: "normal" };
const noticeOf = (model, state, tokens, limit, error) => beyondNotice({ model, state, error, status: 422, models: LIST,
  refusal: { tokens, limit, model: model.name } });

test("the notice by the sentence is decided by the refusal's numbers: a reworded message gives the same notice", () => {
  // [model, state, tokens, limit, the server's words today]
  const cases = [
    [CAN, S, 203, 128, "the text is 203 tokens (with its 1 special token); model 'tiny-sinusoidal' reads at most 128 tokens (max_tokens), the length it was trained on; send allow_beyond_trained: true to run it on up to 512 tokens (positions it never saw)"],
    [CAN, S, 692, 128, "the text is 692 tokens (with its 1 special token); model 'tiny-sinusoidal' reads at most 128 tokens (max_tokens), the length it was trained on, and at most 512 past it (max_beyond_tokens): cut at least 180 tokens"],
    [CAN, { ...S, beyond: true }, 692, 512, "the text is 692 tokens (with its 1 special token); model 'tiny-sinusoidal' runs at most 512 tokens in all, past its trained length of 128 too (max_beyond_tokens): cut at least 180 tokens"],
    [CANNOT, S, 234, 128, "the text is 234 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length; cut at least 106 tokens"],
    [CAPPED, S, 313, 128, "the text is 313 tokens; model 'smollm2-135m' reads at most 128 tokens (max_tokens); cut at least 185 tokens"],
  ];
  const kinds = [];
  for (const [model, state, tokens, limit, words] of cases) {
    const said = noticeOf(model, state, tokens, limit, words);
    assert.ok(said, words);
    kinds.push(said.kind);
    for (const other of [REWORDED, "Zu lang.", "the text is 5 tokens; send allow_beyond_trained: true (max_tokens); cut at least 9 tokens"]) {
      assert.deepEqual(noticeOf(model, state, tokens, limit, other), said, `${model.name} ${tokens}/${limit} in the words “${other}”`);
    }
  }
  assert.deepEqual(kinds, ["offer", "cannot", "cannot", "cannot", "cannot"]);
});

test("the notice's numbers are the refusal's and the model's: how much to cut, what the model reads", () => {
  const far = noticeOf(CAN, S, 692, 128, "cut at least 999 tokens; send allow_beyond_trained: true");
  assert.equal(far.kind, "cannot"); // (the words named the flag: the numbers say the text is too long even past 512)
  assert.equal(far.text, "tiny-sinusoidal cannot read more than 512 tokens, even past its trained length of 128 (this text is 692): cut at least 180 tokens.");
  assert.match(noticeOf(CAN, { ...S, beyond: true }, 513, 512, "x").text, /: cut at least 1 token\./);
  const offer = noticeOf(CAN, S, 512, 128, "x");
  assert.equal(offer.kind, "offer");
  assert.match(offer.text, /^tiny-sinusoidal was trained on texts of at most 128 tokens \(this text is 512\)\. It can read up to 512/);
  const smol = noticeOf(CAPPED, S, 313, 128, "x");
  assert.match(smol.text, /^smollm2-135m cannot read more than 128 tokens here \(this text is 313\)\. The app reads at most 128 tokens on this model, below its trained length of 8192 tokens, to keep its answers small\. Models that can read a text this long, past their own trained length of 128 tokens: tiny-sinusoidal\.$/);
  assert.deepEqual(smol.open, { model: "tiny-sinusoidal", beyond: true });
});

test("a 422 without a refusal's numbers, or with another limit than the model's, is no notice: its message is shown as it came", () => {
  const words = "the text is 203 tokens; model 'tiny-sinusoidal' reads at most 128 tokens (max_tokens); send allow_beyond_trained: true";
  assert.equal(beyondNotice({ model: CAN, state: S, error: words, status: 422, models: LIST }), null);
  assert.equal(beyondNotice({ model: CANNOT, state: S, error: words.replace("sinusoidal", "learned"), status: 422, models: LIST }), null);
  // a report's own limit (it draws every head): not the model's length
  assert.equal(noticeOf(CAN, S, 203, 45, words), null);
  // the refusal of another model (a comparison's other side)
  assert.equal(beyondNotice({ model: CAN, state: S, error: words, status: 422, models: LIST, refusal: { tokens: 203, limit: 128, model: "tiny-learned" } }), null);
  // already agreed to run past the trained length: nothing more to offer
  assert.equal(noticeOf(CAN, { ...S, beyond: true }, 203, 128, words), null);
});

test("a lesson step on a text too long says it from the numbers, in any words", () => {
  const problem = (model, tokens, limit, error) => stepProblem(error, noticeOf(model, S, tokens, limit, error));
  assert.match(problem(CAN, 203, 128, REWORDED), /^The sentence is too long: tiny-sinusoidal was trained on texts of at most 128 tokens \(this text is 203\)\..*“Run it past the trained length”/);
  assert.match(problem(CANNOT, 234, 128, REWORDED), /^The sentence is too long: tiny-learned cannot read more than 128 tokens \(this text is 234\).*Shorten it or choose one of those models\.$/);
  assert.equal(problem(CAN, 203, 45, REWORDED), `This step could not be prepared: ${REWORDED}`);
});

test("the Compare view's note is of the side the refusal names, on that side's model", () => {
  const models = new Map(LIST.map((m) => [m.name, m]));
  const b = { model: "tiny-learned" };
  const sideA = refusedSide({ error: `side a (tiny-sinusoidal): ${REWORDED}`, status: 422, refusal: { tokens: 203, limit: 128, model: "tiny-sinusoidal", side: "a" } }, b, S, models);
  assert.equal(sideA.kind, "offer");
  assert.match(sideA.text, /^Side a: tiny-sinusoidal was trained on texts of at most 128/);
  const sideB = refusedSide({ error: `side b (tiny-learned): ${REWORDED}`, status: 422, refusal: { tokens: 234, limit: 128, model: "tiny-learned", side: "b" } }, b, S, models);
  assert.equal(sideB.kind, "cannot");
  assert.match(sideB.text, /^Side b: tiny-learned cannot read more than 128 tokens \(this text is 234\)/);
  assert.equal(refusedSide({ error: "layer 9 does not exist", status: 422, refusal: null }, b, S, models), null);
});

test("the Compare view's note acts on the side it is about: side b's button opens side b's text, not the page's", () => {
  const models = new Map(LIST.map((m) => [m.name, m]));
  const b = { model: "tiny-learned", positions: "normal" };
  const refusal = (side, model, tokens) => ({ error: `side ${side} (${model}): ${REWORDED}`, status: 422, refusal: { tokens, limit: 128, model, side } });
  // side b's model cannot read the text: its button puts side b on a model that can (model2), past its trained length
  // (the page's one agreement, which side b's request follows: sources.js compare); the page's model stays
  const sideB = refusedSide(refusal("b", "tiny-learned", 234), b, { ...S, model: "tiny-rotary" }, models);
  assert.equal(sideB.kind, "cannot");
  assert.deepEqual(sideB.open, { model2: "tiny-sinusoidal", beyond: true });
  assert.deepEqual(openPatch(sideB.open), { model2: "tiny-sinusoidal", beyond: true });
  // side a's opens the page's model, as the note by the sentence does (a target or versus token is of its vocabulary)
  const sideA = refusedSide(refusal("a", "tiny-learned", 234), { model: "tiny-rotary" }, S, models);
  assert.deepEqual(sideA.open, { model: "tiny-sinusoidal", beyond: true });
  assert.deepEqual(openPatch(sideA.open), { model: "tiny-sinusoidal", beyond: true, target: null, versus: null });
  // the offer to run past the trained length speaks of side b's positions (removed there: no position is new to it)
  const removed = refusedSide(refusal("b", "tiny-sinusoidal", 203), { model: "tiny-sinusoidal", positions: "removed" }, S, models);
  assert.equal(removed.kind, "offer");
  assert.match(removed.text, /never saw a text this long/);
  const normal = refusedSide(refusal("b", "tiny-sinusoidal", 203), { model: "tiny-sinusoidal", positions: "normal" }, { ...S, positions: "removed" }, models);
  assert.match(normal.text, /never saw the positions from 128 on/);
});
