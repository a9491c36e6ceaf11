// Why this next word, the page's pure parts: the model picture's layout for each kind of model (picture.js), the
// kept set marked on the prediction bars and the stepping through generated tokens (derive.js), the requests of the
// lens, attribution and ablation sources (sources.js), the data layer asking for the ablation a layer at a time, and
// the ablation's progress and the token labels of the attention beside what it moves (views/effects.js).
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { createData } from "../../../frontend/js/data.js";
import { continuationKey, generatedSteps, keptFlags, probRange, probText, samplingOf, stepping, stepTo } from "../../../frontend/js/derive.js";
import { modelPicture, partsOf } from "../../../frontend/js/picture.js";
import { SOURCES } from "../../../frontend/js/sources.js";
import { DEFAULTS, parse, serialize } from "../../../frontend/js/state.js";
import { patternAxes, tickSize } from "../../../frontend/js/plot.js";
import { ablationProgress, layerTitles, measureNote } from "../../../frontend/js/views/effects.js";
import { depthLabel, depthTicks } from "../../../frontend/js/views/lens.js";
import { keptWords, stepsIntro, stepTitle, tableCaption } from "../../../frontend/js/views/predict.js";
import { setVocabulary, viewIds } from "../../../frontend/js/vocab.js";
import { analysis, byName, MODELS } from "./fixtures.mjs";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

// /api/models entries as the server gives them (the fields the picture reads)
const TINY = { name: "tiny-sinusoidal", title: "tiny", kind: "causal", n_layers: 4, n_heads: 4, n_kv_heads: 4, d_model: 160, d_head: 40, d_mlp: 640,
  vocab_size: 4096, positional: "sinusoidal", norm: "layernorm", norm_placement: "pre", final_norm: true, mlp: "gelu", unembed: true,
  tied_embeddings: true, bias: true, embed_scale: Math.sqrt(160), max_tokens: 128, available: true, unavailable_views: {} };
const SMOL = { ...TINY, name: "smollm2-135m", embed_scale: 1, n_layers: 30, n_heads: 9, n_kv_heads: 3, d_model: 576, d_head: 64, d_mlp: 1536, vocab_size: 49152,
  positional: "rotary", norm: "rmsnorm", mlp: "swiglu", bias: false };
const MINILM = { ...TINY, name: "minilm-l6", kind: "bidirectional", n_layers: 6, n_heads: 12, n_kv_heads: 12, d_model: 384, d_head: 32, d_mlp: 1536,
  vocab_size: 30522, positional: "learned", norm_placement: "post", final_norm: false, unembed: false, tied_embeddings: false,
  embed_scale: 1, token_types: 2, unavailable_views: { predictions: "no next-word head", lens: "no unembedding", logit_attribution: "no logit" } };
const ALIBI = { ...TINY, name: "tiny-alibi", positional: "alibi" };
const NOPE = { ...TINY, name: "tiny-nope", positional: "none" };

const ids = (parts) => parts.map((p) => p.id);

test("the picture of a pre-norm decoder: embedding + position, norm before each sub-layer, final norm, unembedding", () => {
  const pic = modelPicture(TINY, 12);
  assert.deepEqual(ids(pic.input), ["tokens", "embed", "pos"]);
  assert.deepEqual(ids(pic.block), ["norm1", "qkv", "scores", "heads", "wo", "add1", "norm2", "mlp", "add2"]);
  assert.deepEqual(ids(pic.output), ["final_norm", "unembed", "probs"]);
  assert.deepEqual(Object.fromEntries(pic.sizes), { layers: 4, heads: 4, d_model: 160, d_head: 40, d_mlp: 640, vocabulary: 4096 });
  assert.equal(pic.input[1].shape, "[12 × 160]");
  // the embedding is scaled before the position is added (the pass multiplies it by √d_model), and the mask is drawn
  assert.equal(pic.input[1].label, "token embedding W_E × √160");
  assert.match(pic.input[1].note, /multiplied by √160 = 12\.65/);
  assert.equal(pic.block.find((p) => p.id === "scores").label, "q·k ÷ √40, causal mask, softmax");
  assert.equal(modelPicture({ ...TINY, embed_scale: 2 }).input[1].label, "token embedding W_E × 2");
  assert.equal(pic.output[1].label, "unembedding (W_E transposed)");
  // every part opens a view the server knows
  for (const p of partsOf(pic)) assert.ok(viewIds().includes(p.view), `${p.id} -> ${p.view}`);
  const view = Object.fromEntries(partsOf(pic).map((p) => [p.id, p.view]));
  assert.deepEqual([view.embed, view.pos, view.qkv, view.scores, view.heads, view.wo, view.add1, view.add2, view.probs],
    ["embeddings", "positional", "qkv", "arithmetic", "attention", "attribution", "lens", "lens", "predictions"]);
});

test("grouped-query heads, rotary and a gated MLP are drawn where they are", () => {
  const pic = modelPicture(SMOL, 7);
  assert.deepEqual(Object.fromEntries(pic.sizes)["K/V heads"], 3);
  assert.ok(!ids(pic.input).includes("pos"), "rotary adds nothing to the embedding");
  const block = ids(pic.block);
  assert.equal(block.indexOf("rotary"), block.indexOf("qkv") + 1); // q and k are rotated right after they are made
  assert.match(pic.block.find((p) => p.id === "heads").label, /9 heads \(3 K\/V heads shared\)/);
  assert.match(pic.block.find((p) => p.id === "qkv").shape, /k, v \[7 × 3 × 64\]/);
  assert.match(pic.block.find((p) => p.id === "mlp").label, /SwiGLU/);
  assert.equal(pic.output[0].label, "final RMSNorm");
  assert.equal(pic.input[1].label, "token embedding W_E"); // not scaled
});

test("ALiBi enters on the scaled scores, before the softmax; no positional encoding enters nowhere", () => {
  const block = ids(modelPicture(ALIBI).block);
  assert.deepEqual(block.slice(block.indexOf("scores"), block.indexOf("heads")), ["scores", "alibi", "softmax"]);
  assert.equal(modelPicture(ALIBI).block.find((p) => p.id === "scores").label, "q·k ÷ √40");
  assert.equal(modelPicture(ALIBI).block.find((p) => p.id === "softmax").label, "causal mask, softmax"); // after the bias
  assert.ok(!ids(modelPicture(ALIBI).input).includes("pos"));
  const nope = modelPicture(NOPE);
  assert.ok(!partsOf(nope).some((p) => p.kind === "position"));
  assert.ok(nope.notes.some((t) => /No positional encoding/.test(t)));
});

test("a post-norm encoder: the norm after each residual sum, no final norm, no unembedding", () => {
  const pic = modelPicture(MINILM, 9);
  assert.deepEqual(ids(pic.input), ["tokens", "embed", "pos", "token_type", "embed_norm"]);
  assert.deepEqual(ids(pic.block), ["qkv", "scores", "heads", "wo", "add1", "norm1", "mlp", "add2", "norm2"]);
  assert.deepEqual(ids(pic.output), ["vectors"]);
  assert.equal(pic.block.find((p) => p.id === "scores").label, "q·k ÷ √32, softmax"); // no mask: every token sees every token
  assert.ok(!partsOf(pic).some((p) => ["lens", "attribution", "predictions"].includes(p.view)), "no view that does not apply");
  assert.ok(pic.notes.some((t) => /encoder/.test(t)) && pic.notes.some((t) => /Post-norm/.test(t)));
});

test("the kept set: the first kept.size predictions, all of them without a kept set", () => {
  const preds = [{ prob: 0.5 }, { prob: 0.3 }, { prob: 0.1 }, { prob: 0.05 }];
  assert.deepEqual(keptFlags(preds, { size: 2, mass: 0.8 }), [true, true, false, false]);
  assert.deepEqual(keptFlags(preds, { size: 40, mass: 0.99 }), [true, true, true, true]);
  assert.deepEqual(keptFlags(preds, null), [true, true, true, true]);
});

test("sampling as the API takes it; the predict source asks for the kept set only when one is set", () => {
  const s = { ...DEFAULTS };
  assert.equal(samplingOf(s, { forKept: true }), null);
  assert.deepEqual(samplingOf(s), { method: "greedy", top_k: null, top_p: 1, seed: null });
  assert.deepEqual(samplingOf({ ...s, topk: 5, topp: 0.9, sample: true, seed: 7 }), { method: "sample", top_k: 5, top_p: 0.9, seed: 7 });
  assert.deepEqual(samplingOf({ ...s, topk: 0, topp: 0.9 }, { forKept: true }), { top_k: null, top_p: 0.9 });
  const ctx = (patch) => ({ state: { ...s, ...patch }, model: MODELS[0], models: byName, hover: null, overrides: {} });
  assert.equal(SOURCES.predict(ctx({})).params.sampling, undefined);
  assert.deepEqual(SOURCES.predict(ctx({ topk: 3 })).params.sampling, { top_k: 3, top_p: 1 });
  assert.deepEqual(SOURCES.predict(ctx({ topk: 3, sample: true, seed: 9 })).params.sampling, { top_k: 3, top_p: 1 }); // the seed draws, it keeps nothing
});

test("small probabilities read as numbers, and their bars are drawn to the largest", () => {
  // at a high temperature (SmolLM2, T=5) every bar said 0.000, on an axis to 0.055 that left them invisible
  assert.deepEqual([0.196, 0.0423, 0.01, 0.0099, 0.0023, 0.0003, 0.001].map(probText),
    ["0.196", "0.042", "0.010", "0.0099", "0.0023", "0.00030", "0.0010"]);
  // two figures even where the second is 0: the bars of tiny-sinusoidal after "... take it home and take" (top-10)
  // read 0.0063 for  home (0.00635) and 0.006 for  off (0.00598), as if the second had one figure fewer
  assert.deepEqual([0.00635, 0.00598, 0.00492].map(probText), ["0.0063", "0.0060", "0.0049"]);
  // under 0.0001 too, as decimals, the way the bars above them read: not "8.4e-5", which a learner does not read as a
  // number smaller than 0.0023 (SmolLM2's bars at a high temperature, every one of its 49,152 tokens under 0.0001)
  assert.equal(probText(0.000084), "0.000084");
  assert.equal(probText(0.00002), "0.000020");
  assert.equal(probText(0.000023), "0.000023");
  assert.equal(probText(0.00002345), "0.000023");
  assert.equal(probText(0.0000012), "0.0000012");
  assert.equal(probText(0.00000099), "< 0.000001"); // (past six decimals: how small, not its figures)
  for (const p of [0.0003, 0.000084, 0.0000012, 3e-9]) assert.doesNotMatch(probText(p), /e/);
  assert.equal(probText(0.009951), "0.010"); // (two figures that round up to 0.01: the 3 decimals of 0.01 and up)
  assert.equal(probText(1), "1.000");
  assert.equal(probText(0), "< 0.000001"); // (the API gives 3 figures below 0.01: a 0 is one that underflowed)
  assert.equal(probText(null), "—");
  // an answer rounded to 4 decimals (the logit lens's): a 0 is under 0.00005, and below 0.01 the 4 decimals are all
  // the figures there are (the lens's caption said "From the embeddings alone: 0.0000 (rank 68)", its lists "0.000")
  assert.equal(probText(0, { decimals: 4 }), "< 0.0001");
  assert.equal(probText(0.0003, { decimals: 4 }), "0.0003");
  assert.equal(probText(0.0042, { decimals: 4 }), "0.0042");
  assert.equal(probText(0.18, { decimals: 4 }), "0.180");
  assert.equal(probText(null, { decimals: 4 }), "—");
  assert.deepEqual(probRange([0.0003, 0.0003, 0.0002]), [0, 0.0003 * 1.1]);
  assert.deepEqual(probRange([0.9, 0.05]), [0, 0.9 * 1.1]);
  assert.ok(probRange([0, 0])[1] > 0); // nothing above 0: still an axis
});

test("the kept set's caption says what grey means for the Continue on screen: a draw's, or nothing greedy takes", () => {
  const preds = [0.5, 0.3, 0.1, 0.05].map((prob, id) => ({ id, prob }));
  const p = { predictions: preds, kept: { size: 2, mass: 0.8 }, sampling: { method: "greedy", top_k: 2, top_p: 1 } };
  assert.equal(keptWords(p, true), " Blue: the kept set of top-2: 2 tokens holding 0.800 of the probability; grey: left out of a draw.");
  // greedy: Continue takes the top token, in every kept set; no draw leaves the grey ones out (it said it did)
  const greedy = keptWords(p, false);
  assert.ok(!/draw\b/.test(greedy.split("Continue")[0]), greedy);
  assert.match(greedy, /grey: left out of it\. Continue is greedy: it takes the top token, which is always kept/);
  assert.match(keptWords({ ...p, kept: { size: 40, mass: 0.99 }, sampling: { top_k: 40, top_p: 0.9 } }, true), /top-40, top-p 0\.9: 40 tokens .*\(4 shown\)/);
  assert.equal(keptWords({ ...p, sampling: { top_k: null, top_p: 1 } }, false), ""); // every token kept: nothing to say
  // a kept set short of all the probability does not read as all of it ("1.000", beside grey bars of 5e-5)
  const most = keptWords({ ...p, kept: { size: 2, mass: 0.9999 } }, true);
  assert.match(most, /2 tokens holding 0\.9999 of the probability/);
  assert.match(keptWords({ ...p, kept: { size: 2, mass: 0.9994 } }, true), /holding 0\.999 of/);
  assert.match(keptWords({ ...p, kept: { size: 2, mass: 1 } }, true), /holding 1\.000 of/);
});

test("the per-position table says its probabilities are at the slider's temperature", () => {
  // (0.196 at 1 and 0.042 at 2 for the same row, under a bare "prob")
  assert.equal(tableCaption(2), "✓: the top guess is the token that comes next. prob: the top guess's probability at temperature 2.");
  assert.match(tableCaption(1), /probability at temperature 1\.$/);
});

test("the sampling and the token explained live in the URL", () => {
  const s = { ...structuredClone(DEFAULTS), topk: 5, topp: 0.9, sample: true, seed: 1234, target: 310, versus: 263, measure: true };
  const back = parse(serialize(s));
  for (const k of ["topk", "topp", "sample", "seed", "target", "versus", "measure"]) assert.deepEqual(back[k], s[k], k);
  const bad = parse("topk=-1&topp=7&seed=x&target=-3");
  assert.deepEqual([bad.topk, bad.topp, bad.seed, bad.target], [0, 1, null, null]);
});

test("stepping through the generated tokens, while the page is the one they were made on", () => {
  const steps = [12, 13, 14].map((p) => ({ token: { id: p, position: p }, prob: 0.1, kept_prob: 0.2, kept_size: 3 }));
  const made = { ...structuredClone(DEFAULTS), text: "abc" };
  const gen = { key: continuationKey(made, "tiny-sinusoidal"), steps };
  assert.deepEqual(generatedSteps(gen, continuationKey({ ...made, text: "abcd" }, "tiny-sinusoidal")), []);
  // another model (other positions: SmolLM2 has no start token), ablation, temperature or kept set: other numbers
  for (const [patch, model] of [[{}, "smollm2-135m"], [{}, "tiny-learned"], [{ ablate: [[0, 1]] }, "tiny-sinusoidal"],
    [{ temp: 2 }, "tiny-sinusoidal"], [{ topk: 5 }, "tiny-sinusoidal"], [{ topp: 0.5 }, "tiny-sinusoidal"],
    [{ positions: "shuffled" }, "tiny-sinusoidal"], [{ scale: false }, "tiny-sinusoidal"]]) {
    assert.deepEqual(generatedSteps(gen, continuationKey({ ...made, ...patch }, model)), [], JSON.stringify([patch, model]));
  }
  // the seed and the selected token do not change a step's probabilities
  assert.equal(generatedSteps(gen, continuationKey({ ...made, seed: 9, token: 3 }, "tiny-sinusoidal")).length, 3);
  const g = generatedSteps(gen, continuationKey(made, "tiny-sinusoidal"));
  assert.deepEqual(g.map((x) => x.position), [12, 13, 14]);
  assert.equal(stepTo(g, 5, 1), 12); // from outside: the first
  assert.equal(stepTo(g, 5, -1), 14); // ... or the last
  assert.equal(stepTo(g, 12, 1), 13);
  assert.equal(stepTo(g, 14, 1), null);
  assert.equal(stepTo(g, 12, -1), null);
  assert.equal(stepTo([], 3, 1), null);
});

test("after Continue the selected token is the last generated one: stepping goes on from it", () => {
  // the state's token is null after Continue (the last token, 14 of 15): its chip is the selected one, ▸ has nowhere
  // to go and ◂ goes to the one before (it jumped to the first, and ◂ selected the last again)
  const g = [12, 13, 14].map((p) => ({ token: { id: p, position: p }, position: p }));
  const tokens = (n, special = []) => Array.from({ length: n }, (_, i) => ({ position: i, special: special.includes(i) }));
  assert.deepEqual(stepping(g, null, tokens(15)), { at: 14, prev: 13, next: null, on: true });
  assert.deepEqual(stepping(g, 40, tokens(15)), { at: 14, prev: 13, next: null, on: true }); // past the end: the last too
  assert.deepEqual(stepping(g, 13, tokens(15)), { at: 13, prev: 12, next: 14, on: true });
  assert.deepEqual(stepping(g, 12, tokens(15)), { at: 12, prev: null, next: 13, on: true });
  assert.deepEqual(stepping(g, 5, tokens(15)), { at: 5, prev: 14, next: 12, on: false }); // from before them: the first (▸)
  // special tokens hidden: the last one shown
  assert.deepEqual(stepping(g, null, tokens(16, [15]), [...Array(15).keys()]), { at: 14, prev: 13, next: null, on: true });
});

const ctxOf = (patch = {}, model = TINY, extra = {}) => ({ state: { ...structuredClone(DEFAULTS), model: model.name, ...patch }, model, models: byName, hover: null, overrides: {}, ...extra });
const have = (answer) => () => ({ data: answer, error: null, pending: false });

test("lens and attribution: the selected token (not the hovered one), the chosen tokens; unavailable where they do not apply", () => {
  const a = analysis({ n: 6 });
  const lens = SOURCES.lens(ctxOf({ token: 2, target: 310 }, TINY, { hover: 4 }), have(a));
  assert.equal(lens.api, "lens");
  assert.deepEqual([lens.params.position, lens.params.token, lens.params.top_k], [2, 310, 10]);
  assert.equal(SOURCES.lens(ctxOf(), have(a)).params.position, 5);
  const logit = SOURCES.logit(ctxOf({ target: 310, versus: 263 }), have(a));
  assert.deepEqual([logit.api, logit.params.token, logit.params.versus], ["logit", 310, 263]);
  assert.deepEqual(SOURCES.lens(ctxOf({}, MINILM)), { unavailable: "no unembedding" });
  assert.deepEqual(SOURCES.logit(ctxOf({}, MINILM)), { unavailable: "no logit" });
  // the measured change in a token's probability: the model predicts no token (it said "no token logit to attribute",
  // the attribution's words, under "Change in the token's probability with the head ablated")
  assert.deepEqual(SOURCES.ablation(ctxOf({}, MINILM)), { unavailable: "no next-word head" });
  assert.deepEqual(SOURCES.attnattr(ctxOf({ layer: 2, head: 1 }, MINILM)).params.layer, 2); // applies to every model
});

test("ablation: on a small model always, a layer per request; on a large one only when asked", () => {
  const a = analysis({ n: 6 });
  const small = SOURCES.ablation(ctxOf(), have(a));
  assert.equal(small.sequential, true);
  assert.deepEqual(small.each.map((x) => x.spec.params.layers), [[0], [1], [2], [3]]);
  assert.equal(small.each[0].spec.params.position, 5);
  // a large model not asked to measure (or stopped): the same layers, held (only what the data layer has)
  const idle = SOURCES.ablation(ctxOf({}, SMOL), have(a));
  const asked = SOURCES.ablation(ctxOf({ measure: true }, SMOL), have(a));
  assert.equal(idle.held, true);
  assert.equal(idle.sequential, undefined);
  assert.equal(asked.sequential, true);
  assert.equal(asked.each.length, 30);
  assert.deepEqual(idle.each, asked.each); // the same requests: a layer measured before Stop is found again
});

/** A data layer over an API whose every call waits to be answered by the test: `calls` [{name, params, resolve, signal}];
 * a call's promise rejects as aborted when its signal aborts. */
function recordingData() {
  const calls = [];
  const api = new Proxy({}, {
    get: (_, name) => (params, signal) => new Promise((resolve, reject) => {
      calls.push({ name, params, resolve, signal });
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    }),
  });
  return { calls, data: createData(api) };
}
const tick = () => new Promise((r) => setTimeout(r, 0));

test("the data layer asks for a sequential source's items one after the other; letting go aborts the one on its way", async () => {
  const { calls, data } = recordingData();
  const ctx = ctxOf({}, TINY);
  const a = analysis({ n: 6 });
  const round = () => {
    data.begin("page");
    const got = data.resolve("page", "ablation", { ...ctx });
    data.end("page");
    return got;
  };
  // the analysis first (ablation waits for the tokens)
  round();
  calls.find((c) => c.name === "analyze").resolve(a);
  await tick();
  let got = round();
  const abl = () => calls.filter((c) => c.name === "ablation");
  assert.equal(abl().length, 1);
  assert.deepEqual(abl()[0].params.layers, [0]);
  assert.equal(got.data.filter((x) => x.queued).length, 3);
  abl()[0].resolve({ layers: [0], effects: [[]] });
  await tick();
  got = round();
  assert.deepEqual(abl().map((c) => c.params.layers), [[0], [1]]);
  assert.ok(got.pending);
  // the page stops asking (Stop): the request on its way is aborted
  data.begin("page");
  data.end("page");
  assert.equal(abl()[1].signal.aborted, true);
});

test("a held source shows the items the data layer has and asks for none; Stop keeps the layers measured", async () => {
  const { calls, data } = recordingData();
  const a = analysis({ n: 6 });
  const round = (patch) => {
    data.begin("page");
    const got = data.resolve("page", "ablation", ctxOf(patch, SMOL));
    data.end("page");
    return got;
  };
  const abl = () => calls.filter((c) => c.name === "ablation");
  round({});
  calls.find((c) => c.name === "analyze").resolve(a);
  await tick();
  // not asked to measure: nothing is asked, no item has data, nothing is pending
  let got = round({});
  assert.equal(abl().length, 0);
  assert.equal(got.data.length, 30);
  assert.ok(got.data.every((x) => x.data === null && !x.pending) && !got.pending);
  // measure: layer 0, then layer 1 on its way; Stop (measure off): layer 0 stays, layer 1 is let go, none asked
  round({ measure: true });
  abl()[0].resolve({ layers: [0], effects: [[]] });
  await tick();
  round({ measure: true });
  assert.equal(abl().length, 2);
  got = round({});
  assert.equal(abl()[1].signal.aborted, true);
  assert.equal(abl().length, 2);
  assert.deepEqual(got.data[0].data, { layers: [0], effects: [[]] });
  assert.ok(got.data[0].current && got.data.slice(1).every((x) => x.data === null && !x.pending));
  assert.equal(ablationProgress(got.data, 30).done, 1);
  // measuring again starts at the first layer not measured (layer 0 is the cache's)
  round({ measure: true });
  assert.deepEqual(abl().slice(2).map((c) => c.params.layers), [[1]]);
});

test("the ablation's progress: the layers answered, each head's effect in its place", () => {
  const eff = (l, passes = 2) => ({ layers: [l], passes, effects: [[{ layer: l, head: 0, delta_prob: -l }, { layer: l, head: 1, delta_prob: l }]] });
  const items = [{ data: eff(0), current: true }, { data: eff(1, 1), current: true }, { data: null, current: false, pending: true }];
  const p = ablationProgress(items, 3);
  assert.deepEqual([p.done, p.total], [2, 3]);
  assert.equal(p.passes, 3); // the answers' own count: a head ablated already took no pass
  assert.equal(p.effects[1][1].delta_prob, 1);
  assert.equal(p.effects[2], null);
  // a stale answer (the previous position's, shown while the new one loads) does not count
  assert.equal(ablationProgress([{ data: eff(0), current: false }], 1).done, 0);
});

test("the measured note counts the passes computed, the runs kept from before, and the heads ablated already", () => {
  const eff = (l, passes, reused) => ({ layers: [l], passes, reused, effects: [[]] });
  const note = (...answers) => measureNote(ablationProgress(answers.map((data) => ({ data, current: true })), 2), 4);
  assert.equal(note(eff(0, 2, 0), eff(1, 2, 0)), "4 heads, 4 forward passes.");
  // measured a second time: the server had kept every ablated run, so nothing was computed
  assert.equal(note(eff(0, 2, 2), eff(1, 2, 1)), "4 heads, 1 forward pass, 3 runs kept from before.");
  assert.equal(note(eff(0, 1, 0), eff(1, 2, 0)),
    "4 heads, 3 forward passes (1 already ablated: its cell is left blank, as ablating a head again changes nothing).");
  assert.equal(note(eff(0, 1, 1), eff(1, 2, 0)), "4 heads, 2 forward passes, 1 run kept from before (1 already ablated: " +
    "its cell is left blank, as ablating a head again changes nothing).");
});

test("the picture draws the run's interventions where they act: positions removed or shuffled, scaling off, ablated heads", () => {
  const label = (pic, id) => partsOf(pic).find((p) => p.id === id).label;
  const removed = { positions: "removed", scale: true, ablate: [] };
  assert.equal(label(modelPicture(TINY, 5, null), "pos"), "+ sinusoidal position");
  assert.match(label(modelPicture(TINY, 5, removed), "pos"), /removed in this run/);
  assert.match(label(modelPicture(TINY, 5, { positions: "shuffled" }), "pos"), /shuffled in this run/);
  assert.match(label(modelPicture(SMOL, 5, removed), "rotary"), /not in this run/);
  assert.match(label(modelPicture(ALIBI, 5, removed), "alibi"), /0 in this run/);
  assert.equal(label(modelPicture(TINY, 5, { positions: "normal", scale: false }), "scores"), "q·k (not divided: scaling off in this run), causal mask, softmax");
  const heads = partsOf(modelPicture(TINY, 5, { ablate: [[0, 1], [2, 3]] })).find((p) => p.id === "heads");
  assert.match(heads.note, /2 ablated in this run/);
  // the block drawn names its own: block 1 has none of L0 H1 and L2 H3 (it said "2 ablated" on every block)
  const of = (layer) => partsOf(modelPicture(TINY, 5, { ablate: [[0, 1], [2, 3], [2, 0]] }, layer)).find((p) => p.id === "heads").note;
  assert.equal(of(1), "each head's weighted sum of values");
  assert.match(of(0), /; head 1 of this block ablated in this run \(its output is 0\)$/);
  assert.match(of(2), /; heads 0, 3 of this block ablated in this run \(their outputs are 0\)$/);
  // on the box itself, not only in its tooltip: the box of block 2 said "4 heads" with two of them off
  const box = (layer, m = TINY) => partsOf(modelPicture(m, 5, { ablate: [[0, 1], [2, 3], [2, 0]] }, layer)).find((p) => p.id === "heads").label;
  assert.equal(box(1), `${TINY.n_heads} heads`);
  assert.equal(box(0), `${TINY.n_heads} heads (head 1 ablated in this run)`);
  assert.equal(box(2), `${TINY.n_heads} heads (heads 0, 3 ablated in this run)`);
  assert.equal(box(2, SMOL), `${SMOL.n_heads} heads (${SMOL.n_kv_heads} K/V heads shared; heads 0, 3 ablated in this run)`);
});

test("the generated tokens' box says, under shuffled positions, that the attention view's positions are not the continuation's", () => {
  // each pass of a continuation shuffles the positions of the text as long as it is then; the attention view
  // shuffles the whole text once, with a permutation of its own length: not the same positions
  for (const positions of ["normal", "removed"]) assert.doesNotMatch(stepsIntro(positions), /shuffle/);
  assert.match(stepsIntro("shuffled"), /^Step through them.*Positions are shuffled: .*not the ones the continuation ran with\.$/);
});

test("the attention beside what it moves labels as many tokens as have room, across and down, in presenter mode too", () => {
  // 30 tokens in presenter mode at 1280x720: every query label down 349 px, 11.6 px apart for labels 15 px high (the
  // rule labelled 30 whatever the height); at 1280x800 12.4 px apart for labels 11 px high
  const words = ["<|bos|>", "The", "␣old", "␣f", "is", "her", "man", "␣walked", "␣slowly", "␣along", "␣the", "␣quiet", "␣har", "b", "our",
    "␣while", "␣the", "␣children", "␣laughed", "␣and", "␣the", "␣g", "ull", "s", "␣cir", "c", "led", "␣above", "␣the", "␣boats"];
  const tokens = words.map((display) => ({ display }));
  // [panel width, text scale, the axes' lengths Plotly drew there (measured in the page): across, down]
  const drawn = [[618, 1, 470, 372], [408, 1, 265, 372], [358, 1, 216, 372], [610, 1.4, 431, 349], [401, 1.4, 226, 349]];
  const gap = (ticks) => Math.min(...ticks.slice(1).map((t, i) => t - ticks[i]));
  for (const [width, k, across, down] of drawn) {
    const { height, xaxis, yaxis } = patternAxes(width, tokens, k);
    assert.equal(height, 440);
    const size = tickSize(tokens.length) * k;
    assert.ok(gap(yaxis.tickvals) * (down / tokens.length) >= 1.2 * size, `${width} px, ×${k}: down ${yaxis.tickvals}`);
    assert.ok((gap(xaxis.tickvals) * (across / tokens.length)) / Math.SQRT2 >= 0.9 * size, `${width} px, ×${k}: across ${xaxis.tickvals}`);
    assert.ok(xaxis.tickvals.length >= 5 && yaxis.tickvals.length >= 10, `${width} px, ×${k}: ${xaxis.tickvals} / ${yaxis.tickvals}`);
  }
});

test("the attention beside what it moves keeps the selected query's row labelled, as Compare keeps the words that differ", () => {
  // 30 tokens in presenter mode at 1280x720: every 2nd query labelled, so query 7 (“␣walked”) had none
  const words = ["<|bos|>", "The", "␣old", "␣f", "is", "her", "man", "␣walked", "␣slowly", "␣along", "␣the", "␣quiet", "␣har", "b", "our",
    "␣while", "␣the", "␣children", "␣laughed", "␣and", "␣the", "␣g", "ull", "s", "␣cir", "c", "led", "␣above", "␣the", "␣boats"];
  const tokens = words.map((display) => ({ display }));
  for (const [width, k] of [[610, 1.4], [401, 1.4], [358, 1]]) {
    const { xaxis, yaxis } = patternAxes(width, tokens, k, 7);
    assert.ok(yaxis.tickvals.length < tokens.length, `${width} px, ×${k}: every row labelled, nothing to keep`);
    assert.ok(yaxis.tickvals.includes(7) && xaxis.tickvals.includes(7), `${width} px, ×${k}: ${yaxis.tickvals} / ${xaxis.tickvals}`);
    assert.equal(yaxis.ticktext[yaxis.tickvals.indexOf(7)], "␣walked");
  }
  assert.deepEqual(patternAxes(401, tokens, 1.4, null).yaxis.tickvals, patternAxes(401, tokens, 1.4).yaxis.tickvals); // (none selected: none kept)
});

test("the whole layer's titles fit on one line beside the export buttons, on SmolLM2's last layer too", () => {
  // three to a row leave about 230 px beside the buttons, 27 characters of the titles' bold type (qkv.js matrixTitles);
  // "Layer 0: attention, mean of the heads" took two lines, in presenter mode at 1280x720 too, and put its plot below
  // the other two
  for (const layer of [0, 5, 29]) {
    const titles = layerTitles(layer);
    assert.deepEqual(titles.map(([key]) => key), ["lraw", "lvw", "rollout"]);
    for (const [, title] of titles) assert.ok([...title].length <= 27, title);
    assert.match(titles[0][1], new RegExp(`^Layer ${layer}: `));
  }
});

test("the logit lens labels its depths as a learner counts them: the embeddings, even blocks, the last block", () => {
  // SmolLM2 in presenter mode labels every 2nd of its 31 depths: counted from the embeddings that was every odd block
  // ("embeddings, 1, 3, …, 29")
  const labels = (L, step) => depthTicks(L, step).map(depthLabel);
  assert.deepEqual(labels(30, 2), ["embeddings", ...Array.from({ length: 13 }, (_, i) => String(2 * i + 2)), "29"]);
  assert.deepEqual(labels(30, 3), ["embeddings", "3", "6", "9", "12", "15", "18", "21", "24", "29"]);
  assert.deepEqual(labels(4, 1), ["embeddings", "0", "1", "2", "3"]); // (the tiny models: every depth)
  assert.deepEqual(labels(30, 1).length, 31);
  // whatever the model and the step: the embeddings and the last block labelled, the labels a step apart or more
  for (let L = 1; L <= 40; L++) {
    for (let step = 1; step <= 5; step++) {
      const rows = depthTicks(L, step);
      assert.equal(rows[0], 0, `${L} blocks, every ${step}`);
      if (L >= step) assert.equal(rows.at(-1), L, `${L} blocks, every ${step}: ${rows}`);
      for (let i = 1; i < rows.length; i++) assert.ok(rows[i] - rows[i - 1] >= step, `${L} blocks, every ${step}: ${rows}`);
      for (const r of rows.slice(1, -1)) assert.equal((r - 1) % step, 0, `${L} blocks, every ${step}: ${rows}`);
    }
  }
});

// A generated token's hover said "kept set 1 tokens" where top-k 1 (or a small top-p) kept one token.
test("a generated token's hover counts the kept set in the singular and the plural", () => {
  const step = (kept_size) => ({ position: 7, token: { id: 5, display: "␣a" }, prob: 0.5, kept_prob: 1, kept_size });
  assert.equal(stepTitle(step(1)), "position 7 · probability 0.5 (within the kept set 1) · kept set 1 token");
  assert.equal(stepTitle(step(40)), "position 7 · probability 0.5 (within the kept set 1) · kept set 40 tokens");
});
