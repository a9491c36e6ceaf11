// The position lab's pure logic: the smoothing of the loss curves, which models can run past their trained length,
// when the page warns or offers, the requests it makes (frontend/js/derive.js, sources.js, state.js).
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { baseParams, beyondNotice as noticeOf, canRunBeyond, modelsBeyond, smooth, stepProblem } from "../../../frontend/js/derive.js";
import { SOURCES } from "../../../frontend/js/sources.js";
import { DEFAULTS, parse, serialize } from "../../../frontend/js/state.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { asTrainedNote, smoothWords } from "../../../frontend/js/views/poslab.js";
import { serverMeta } from "./meta.mjs";

let meta;
before(() => {
  meta = serverMeta();
  setVocabulary(meta);
});

// entries shaped like GET /api/models (the fields these functions read)
const entry = (name, positional, extra = {}) => ({
  name, kind: "causal", n_layers: 4, n_heads: 4, positional, max_tokens: 128, trained_tokens: 128, available: true,
  unavailable_views: {}, max_tokens_beyond: positional === "learned" ? 128 : 512,
  why_not_beyond: positional === "learned" ? "Learned positions stop at the trained length." : null, ...extra,
});
/**
 * beyondNotice with the answer as the server gives it: a refusal of a text too long carries its numbers beside the
 * message (the fixtures' messages are the server's words for these numbers: the count they name, on `model`, refused
 * at the limit the server holds it to, backend/service.py max_tokens: past the trained length where the page has
 * agreed and the model can run there; the notice reads the numbers).
 */
const beyondNotice = (o) => {
  const n = o.status === 422 && /^the text is (\d+) tokens/.exec(o.error || "");
  const limit = o.state && o.state.beyond && canRunBeyond(o.model) ? o.model.max_tokens_beyond : o.model.max_tokens;
  return noticeOf(n ? { refusal: { tokens: Number(n[1]), limit, model: o.model.name }, ...o } : o);
};
const ROTARY = entry("tiny-rotary", "rotary");
const LEARNED = entry("tiny-learned", "learned");
const ALL = [entry("tiny-sinusoidal", "sinusoidal"), LEARNED, ROTARY, entry("tiny-nope", "none"), entry("tiny-alibi", "alibi"),
  entry("smollm2-135m", "rotary", { max_tokens_beyond: 128, trained_tokens: 8192, why_not_beyond: "The app reads at most 128 tokens on this model, below its trained length of 8192 tokens, to keep its answers small." }),
  entry("not-here", "rotary", { available: false })];

const close = (a, b, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test("smoothing: window 1 is the curve itself; a constant stays constant; the length is kept", () => {
  const v = [3, 1, 4, 1, 5, 9, 2, 6];
  assert.deepEqual(smooth(v, 1), v);
  assert.notEqual(smooth(v, 1), v); // a copy
  assert.deepEqual(smooth(Array(20).fill(2.5), 9), Array(20).fill(2.5));
  assert.equal(smooth(v, 5).length, v.length);
});

test("smoothing: a centred mean over the window, fewer values at the ends, an even window made odd", () => {
  const v = [3, 1, 4, 1, 5, 9, 2, 6];
  const s = smooth(v, 3);
  close(s[0], (3 + 1) / 2); // only the values that exist
  close(s[1], (3 + 1 + 4) / 3);
  close(s[4], (1 + 5 + 9) / 3);
  close(s[7], (2 + 6) / 2);
  assert.deepEqual(smooth(v, 4), smooth(v, 5)); // 4 -> 5
  // a straight line is unchanged away from the ends (a centred mean of a linear function is its middle value)
  const line = Array.from({ length: 50 }, (_, i) => 0.5 * i + 2);
  const sl = smooth(line, 9);
  for (let i = 4; i < 46; i++) close(sl[i], line[i], 1e-9);
});

test("smoothing: missing values are left out of the means", () => {
  const s = smooth([1, NaN, 3, null, 5], 3);
  close(s[0], 1);
  close(s[1], 2);
  close(s[2], 3);
  close(s[3], 4);
  close(s[4], 5);
  assert.deepEqual(smooth([NaN, NaN], 3), [null, null]);
});

test("which models can run past their trained length: max_tokens_beyond above max_tokens", () => {
  assert.equal(canRunBeyond(ROTARY), true);
  assert.equal(canRunBeyond(LEARNED), false);
  assert.equal(canRunBeyond(null), false);
  assert.equal(canRunBeyond({ name: "old", max_tokens: 128 }), false); // a server without the field
  assert.deepEqual(modelsBeyond(ALL), ["tiny-sinusoidal", "tiny-rotary", "tiny-nope", "tiny-alibi"]);
});

test("the models offered for a text too long are those that could read it: no training-lab run", () => {
  // a lab run (rotary, trained on 24 letters of a task, its own one-letter tokens) can run past its 24 tokens, but a
  // sentence too long for tiny-learned is other tokens to it (1,194 of them for the long story): it is no alternative
  const lab = entry("lab-1@50", "rotary", { max_tokens: 24, trained_tokens: 24, vocab_size: 31, lab_run: 1 });
  const withLab = [...ALL, lab];
  assert.deepEqual(modelsBeyond(withLab), ["tiny-sinusoidal", "tiny-rotary", "tiny-nope", "tiny-alibi"]);
  const cantErr = "the text is 376 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length.";
  const no = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), error: cantErr, status: 422, models: withLab });
  assert.equal(no.kind, "cannot");
  assert.doesNotMatch(no.text, /lab-1@50/);
  assert.match(no.text, /tiny-sinusoidal, tiny-rotary, tiny-nope, tiny-alibi\.$/);
});

test("a text longer than any model reads even past its trained length: no model is offered for it", () => {
  // 4,001 tokens (1,000 emoji) on tiny-learned: the other tiny models (the same tokenizer) read at most 512
  const cantErr = "the text is 4001 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later; cut at least 3873 tokens";
  const no = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), error: cantErr, status: 422, models: ALL });
  assert.equal(no.kind, "cannot");
  assert.doesNotMatch(no.text, /Models that can run past/);
  assert.doesNotMatch(no.text, /tiny-rotary/);
  // 376 tokens: every tiny model that runs past its trained length reads it (up to 512)
  const fits = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), status: 422, models: ALL,
    error: cantErr.replace("4001", "376") });
  assert.match(fits.text, /tiny-sinusoidal, tiny-rotary, tiny-nope, tiny-alibi\.$/);
});

test("the flag is sent only when the page has agreed and the model can run there", () => {
  const s = { ...structuredClone(DEFAULTS) };
  assert.equal("allow_beyond_trained" in baseParams(s, ROTARY), false);
  assert.equal(baseParams({ ...s, beyond: true }, ROTARY).allow_beyond_trained, true);
  assert.equal("allow_beyond_trained" in baseParams({ ...s, beyond: true }, LEARNED), false);
  // past the trained length the analysis is the compact one (one layer in full, thumbnails), as for a large model
  const ctx = (state, model) => ({ state: { ...s, ...state }, model, models: new Map(ALL.map((m) => [m.name, m])), hover: null, overrides: {} });
  assert.equal(SOURCES.analyze(ctx({}, ROTARY)).compact, undefined);
  const long = SOURCES.analyze(ctx({ beyond: true, layer: 2 }, ROTARY));
  assert.deepEqual([long.compact, long.params.layers, long.params.allow_beyond_trained], [true, [2], true]);
  assert.equal(SOURCES.analyze(ctx({ beyond: true }, LEARNED)).compact, undefined);
});

test("the warning: shown exactly when the answer ran past the trained length", () => {
  const s = { ...structuredClone(DEFAULTS), beyond: true };
  const warning = "This text is 200 tokens; tiny-rotary was trained on at most 128.";
  assert.deepEqual(beyondNotice({ model: ROTARY, state: s, analysis: { beyond_trained: { warning } } }), { kind: "warning", text: warning });
  assert.equal(beyondNotice({ model: ROTARY, state: s, analysis: { beyond_trained: null } }), null);
  assert.equal(beyondNotice({ model: ROTARY, state: s, analysis: {} }), null);
  assert.equal(beyondNotice({ model: ROTARY, state: s, analysis: null }), null);
});

test("a text too long: an offer on a model that can run past its length, the reason on one that cannot", () => {
  const s = structuredClone(DEFAULTS);
  const canErr = "the text is 234 tokens; model 'tiny-rotary' reads at most 128 tokens (max_tokens), the length it was trained on; send allow_beyond_trained: true to run it";
  const offer = beyondNotice({ model: ROTARY, state: s, error: canErr, status: 422, models: ALL });
  assert.equal(offer.kind, "offer");
  assert.match(offer.text, /128 tokens.*512/);
  assert.match(offer.text, /never saw the positions from 128 on/);
  // a model given no positions (none, or removed on the page) meets no new position past its length
  const nope = ALL.find((m) => m.name === "tiny-nope");
  assert.match(beyondNotice({ model: nope, state: s, error: canErr, status: 422, models: ALL }).text, /never saw a text this long/);
  assert.match(beyondNotice({ model: ROTARY, state: { ...s, positions: "removed" }, error: canErr, status: 422, models: ALL }).text,
    /never saw a text this long/);
  // already agreed, or another error, or not a 422: nothing to offer
  assert.equal(beyondNotice({ model: ROTARY, state: { ...s, beyond: true }, error: canErr, status: 422, models: ALL }), null);
  assert.equal(beyondNotice({ model: ROTARY, state: s, error: "ablate: “x” is not layer.head", status: 422, models: ALL }), null);
  assert.equal(beyondNotice({ model: ROTARY, state: s, error: canErr, status: 503, models: ALL }), null);
  const cantErr = "the text is 234 tokens; model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length.";
  for (const st of [s, { ...s, beyond: true }]) {
    const no = beyondNotice({ model: LEARNED, state: st, error: cantErr, status: 422, models: ALL });
    assert.equal(no.kind, "cannot");
    assert.match(no.text, /Learned positions stop at the trained length/);
    assert.match(no.text, /tiny-sinusoidal, tiny-rotary, tiny-nope, tiny-alibi\.$/);
  }
});

test("the position lab's requests: the curves, the probe, one scheme diagram per model of the family", () => {
  const models = new Map(ALL.map((m) => [m.name, m]));
  const ctx = (model) => ({ state: structuredClone(DEFAULTS), model, models, hover: null, overrides: {} });
  assert.deepEqual(SOURCES.lengths(ctx(ROTARY)), { api: "lengths" });
  assert.deepEqual(SOURCES.probe(ctx(ROTARY)), { api: "probe" });
  const fam = meta.families[0].models;
  const r = SOURCES.schemes(ctx(ROTARY));
  assert.deepEqual(r.each.map((e) => e.name), fam);
  for (const e of r.each) assert.deepEqual(e.spec, { api: "scheme", params: { model: e.name, n: 64 } });
  // a model outside the family stands in for the family's model of its scheme (SmolLM2: rotary)
  const big = models.get("smollm2-135m");
  const names = SOURCES.schemes(ctx(big)).each.map((e) => e.name);
  assert.deepEqual(names, fam.map((n) => (n === "tiny-rotary" ? "smollm2-135m" : n)));
  assert.deepEqual(SOURCES.scheme(ctx(ROTARY)), { api: "scheme", params: { model: "tiny-rotary", n: 64 } });
});

test("the state: beyond and the smoothing window round-trip through the URL", () => {
  const s = parse("?beyond=1&smooth=33");
  assert.deepEqual([s.beyond, s.smooth], [true, 33]);
  assert.deepEqual(parse(`?${serialize(s)}`).beyond, true);
  assert.match(serialize(s), /beyond=1/);
  assert.match(serialize(s), /smooth=33/);
  assert.doesNotMatch(serialize(parse("")), /beyond|smooth/);
  assert.equal(parse("?smooth=0").smooth, DEFAULTS.smooth); // out of range: the default
  assert.equal(parse("?smooth=abc").smooth, DEFAULTS.smooth);
});

test("compare past the trained length: side b asks for it only where its model can run there", () => {
  const models = new Map(ALL.map((m) => [m.name, m]));
  const ctx = (patch) => ({ state: { ...structuredClone(DEFAULTS), ...patch }, model: ROTARY, models, hover: null, overrides: {} });
  const both = SOURCES.compare(ctx({ beyond: true, model2: "tiny-alibi" })).params;
  assert.deepEqual([both.a.allow_beyond_trained, both.b.allow_beyond_trained], [true, true]);
  const learned = SOURCES.compare(ctx({ beyond: true, model2: "tiny-learned" })).params;
  assert.deepEqual([learned.a.allow_beyond_trained, "allow_beyond_trained" in learned.b], [true, false]);
  const off = SOURCES.compare(ctx({ model2: "tiny-alibi" })).params;
  assert.deepEqual(["allow_beyond_trained" in off.a, "allow_beyond_trained" in off.b], [false, false]);
});

test("a link's even window is read as the odd one the curves use, so the menu, caption and hover name what is drawn", () => {
  assert.equal(parse("?smooth=10").smooth, 11);
  assert.equal(parse("?smooth=17").smooth, 17);
  assert.equal(parse("?smooth=1").smooth, 1);
  assert.deepEqual(smooth([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], parse("?smooth=10").smooth), smooth([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 11));
});

test("a text too long: the offer and the reason say how long the text is, as the server's refusal does", () => {
  // the page said "tiny-rotary was trained on texts of at most 128 tokens. It can read up to 512" and not the
  // length of the text on screen, which the refusal it came from names
  const s = structuredClone(DEFAULTS);
  const canErr = "the text is 234 tokens (with its 1 special token); model 'tiny-rotary' reads at most 128 tokens (max_tokens), the length it was trained on; send allow_beyond_trained: true to run it on up to 512 tokens (positions it never saw)";
  assert.match(beyondNotice({ model: ROTARY, state: s, error: canErr, status: 422, models: ALL }).text, /^tiny-rotary was trained on texts of at most 128 tokens \(this text is 234\)\. It can read up to 512/);
  const cantErr = "the text is 234 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length.; cut at least 106 tokens";
  assert.match(beyondNotice({ model: LEARNED, state: s, error: cantErr, status: 422, models: ALL }).text, /^tiny-learned cannot read more than 128 tokens \(this text is 234\)\. Learned positions/);
  // a refusal without its numbers: nothing made up from its words (the message is shown as it came)
  const bare = "model 'tiny-rotary' reads at most 128 tokens; send allow_beyond_trained: true";
  assert.equal(beyondNotice({ model: ROTARY, state: s, error: bare, status: 422, models: ALL }), null);
});

test("a text too long for the app's own cap on a model (SmolLM2, MiniLM): the other models are not offered as 'past their trained length'", () => {
  // smollm2-135m was trained on 8,192 tokens; the app reads 128 on it: its limit is the cap, far inside its trained length
  const big = ALL.find((m) => m.name === "smollm2-135m");
  const err = "the text is 313 tokens; model 'smollm2-135m' reads at most 128 tokens (max_tokens); cut at least 185 tokens";
  const no = beyondNotice({ model: big, state: structuredClone(DEFAULTS), error: err, status: 422, models: ALL });
  assert.equal(no.kind, "cannot");
  assert.match(no.text, /^smollm2-135m cannot read more than 128 tokens here \(this text is 313\)\. The app reads at most 128 tokens on this model, below its trained length of 8192 tokens, to keep its answers small\./);
  assert.doesNotMatch(no.text, /Models that can run past their trained length/);
  assert.match(no.text, / Models that can read a text this long, past their own trained length of 128 tokens: tiny-sinusoidal, tiny-rotary, tiny-nope, tiny-alibi\.$/);
  // tiny-learned's limit is its trained length: as before
  const cantErr = "the text is 234 tokens; model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length.";
  const learned = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), error: cantErr, status: 422, models: ALL });
  assert.match(learned.text, /^tiny-learned cannot read more than 128 tokens \(this text is 234\)\. Learned positions stop/);
  assert.match(learned.text, / Models that can run past their trained length: tiny-sinusoidal, tiny-rotary, tiny-nope, tiny-alibi\.$/);
});

test("a lesson step on a sentence too long for the model says why in the page's words, not the API's", () => {
  // the lesson panel showed "This step could not be prepared: " and the API's refusal, which names its request flag
  const offerErr = "the text is 309 tokens (with its 1 special token); model 'tiny-rotary' reads at most 128 tokens " +
    "(max_tokens), the length it was trained on; send allow_beyond_trained: true to run up to 512 tokens (positions it never saw)";
  const s = structuredClone(DEFAULTS);
  const offer = stepProblem(offerErr, beyondNotice({ model: ROTARY, state: s, error: offerErr, status: 422, models: ALL }));
  assert.doesNotMatch(offer, /allow_beyond_trained|max_tokens|could not be prepared/);
  assert.match(offer, /this text is 309/);
  assert.match(offer, /“Run it past the trained length”/);
  const cantErr = "the text is 376 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens). Learned positions stop at the trained length.";
  const cannot = stepProblem(cantErr, beyondNotice({ model: LEARNED, state: s, error: cantErr, status: 422, models: ALL }));
  assert.doesNotMatch(cannot, /max_tokens|Run it past/);
  assert.match(cannot, /tiny-learned cannot read more than 128 tokens/);
  assert.match(cannot, /Shorten it or choose one of those models\.$/);
  // a text no other model reads either (4,001 tokens): no model to choose
  const tooLong = cantErr.replace("376", "4001");
  const none = stepProblem(tooLong, beyondNotice({ model: LEARNED, state: s, error: tooLong, status: 422, models: ALL }));
  assert.match(none, /Shorten it\.$/);
  assert.doesNotMatch(none, /choose/);
  // any other error: as it came
  assert.equal(stepProblem("the server is busy"), "This step could not be prepared: the server is busy");
});

test("a text longer than the model reads even past its trained length: the note says so, without the API's field names", () => {
  // the page showed the API's words: "... reads at most 128 tokens (max_tokens), ... and at most 512 past it (max_beyond_tokens)"
  const s = structuredClone(DEFAULTS);
  for (const [state, error] of [
    [s, "the text is 692 tokens (with its 1 special token); model 'tiny-rotary' reads at most 128 tokens (max_tokens), the length it was trained on, and at most 512 past it (max_beyond_tokens): cut at least 180 tokens"],
    [{ ...s, beyond: true }, "the text is 692 tokens (with its 1 special token); model 'tiny-rotary' runs at most 512 tokens in all, past its trained length of 128 too (max_beyond_tokens): cut at least 180 tokens"],
  ]) {
    const n = beyondNotice({ model: ROTARY, state, error, status: 422, models: ALL });
    assert.equal(n.kind, "cannot");
    assert.equal(n.text, "tiny-rotary cannot read more than 512 tokens, even past its trained length of 128 (this text is 692): cut at least 180 tokens.");
    assert.deepEqual(n.models, []); // (no model reads 692 tokens)
    assert.equal(stepProblem(error, n), `The sentence is too long: ${n.text} Shorten it.`);
  }
});

test("asTrainedNote: with the page's interventions on, the position lab says its numbers are of the models as trained", () => {
  // the banner said "positions shuffled" above loss curves and R² that the page's controls do not change
  assert.equal(asTrainedNote(DEFAULTS), "");
  assert.equal(asTrainedNote({ ...DEFAULTS, positions: "shuffled" }),
    " These numbers were measured on the models as trained: the page's setting (positions shuffled) does not change them.");
  assert.match(asTrainedNote({ ...DEFAULTS, positions: "removed" }), /setting \(positions removed\) does not/);
  assert.equal(asTrainedNote({ ...DEFAULTS, positions: "removed", scale: false, ablate: [[0, 1], [2, 3]] }),
    " These numbers were measured on the models as trained: the page's settings (positions removed, no division by " +
    "√d_head, 2 heads ablated) do not change them.");
  assert.match(asTrainedNote({ ...DEFAULTS, ablate: [[0, 1]] }), /\(1 head ablated\) does not/);
});

test("a text too long for a model that cannot run past its length offers one model to open it on: the default first", () => {
  // SmolLM2 (capped at 128 here) on a 280-token text: the tiny models read it past their trained length
  const smol = ALL.find((m) => m.name === "smollm2-135m");
  const error = "the text is 280 tokens; model 'smollm2-135m' reads at most 128 tokens (max_tokens); cut at least 152 tokens";
  const withDefault = ALL.map((m) => (m.name === "tiny-rotary" ? { ...m, default: true } : m));
  const no = beyondNotice({ model: smol, state: structuredClone(DEFAULTS), error, status: 422, models: withDefault });
  assert.equal(no.kind, "cannot");
  assert.deepEqual(no.open, { model: "tiny-rotary", beyond: true });
  // no default among those that read it: the first listed
  const first = beyondNotice({ model: smol, state: structuredClone(DEFAULTS), error, status: 422, models: ALL });
  assert.deepEqual(first.open, { model: "tiny-sinusoidal", beyond: true });
  // tiny-learned: the same offer
  const learned = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), status: 422, models: ALL,
    error: "the text is 376 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens)." });
  assert.deepEqual(learned.open, { model: "tiny-sinusoidal", beyond: true });
  // no model reads it: nothing to open
  const none = beyondNotice({ model: LEARNED, state: structuredClone(DEFAULTS), status: 422, models: ALL,
    error: "the text is 4001 tokens (with its 1 special token); model 'tiny-learned' reads at most 128 tokens (max_tokens); cut at least 3873 tokens" });
  assert.equal(none.open, null);
});

test("the loss plot's caption says a curve's first and last points average fewer positions", () => {
  // smooth() over 9 positions: the first point is the mean of positions 0 to 4 alone (the caption said "the mean of 9")
  const loss = Array.from({ length: 40 }, (_, i) => 2 + i / 10);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(smooth(loss, 9)[0] - mean(loss.slice(0, 5))) < 1e-12);
  assert.ok(Math.abs(smooth(loss, 9)[20] - mean(loss.slice(16, 25))) < 1e-12);
  const said = smoothWords(9);
  assert.match(said, /mean of the 9 positions centred on it, of fewer within 4 positions of a curve's ends/);
  assert.doesNotMatch(said, /is the mean of 9 neighbouring positions/);
  assert.match(smoothWords(65), /within 32 positions/);
  assert.equal(smoothWords(1), "Raw: the loss at each position, as measured.");
});
