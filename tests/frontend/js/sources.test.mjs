// The sources (frontend/js/sources.js): the request each view and lesson placeholder makes for a context.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { compact } from "../../../frontend/js/derive.js";
import { SOURCES, sideB } from "../../../frontend/js/sources.js";
import { DEFAULTS } from "../../../frontend/js/state.js";
import { VIEWS } from "../../../frontend/js/views/index.js";
import { setVocabulary, viewIds } from "../../../frontend/js/vocab.js";
import { analysis, byName, MODELS } from "./fixtures.mjs";
import { serverMeta } from "./meta.mjs";

let meta;
before(() => {
  meta = serverMeta();
  setVocabulary(meta);
});

const ctxOf = (patch = {}, model = MODELS[0], extra = {}) => ({ state: { ...structuredClone(DEFAULTS), model: model.name, ...patch }, model, models: byName, hover: null, overrides: {}, ...extra });
const have = (answer) => () => ({ data: answer, error: null, pending: false });
const waiting = () => ({ data: null, error: null, pending: true });

test("the view table is the server's list of views, and every source a view names exists", () => {
  assert.deepEqual(Object.keys(VIEWS).sort(), [...viewIds()].sort());
  for (const [id, v] of Object.entries(VIEWS)) {
    assert.equal(v.id, id);
    for (const s of v.sources) assert.ok(s in SOURCES, `${id}: ${s}`);
    assert.equal(typeof v.show, "function");
  }
});

test("explain asks for the query the page shows, once the tokens are in", () => {
  assert.deepEqual(SOURCES.explain(ctxOf(), waiting), { wait: true });
  const a = analysis({ n: 5 });
  assert.equal(SOURCES.explain(ctxOf(), have(a)).params.query, 4);
  assert.equal(SOURCES.explain(ctxOf({ token: 2 }), have(a)).params.query, 2);
  assert.equal(SOURCES.explain(ctxOf({ token: 2 }, MODELS[0], { hover: 3 }), have(a)).params.query, 3);
  assert.equal(SOURCES.explain(ctxOf({ token: 0, hidespecial: true }), have(a)).params.query, 4); // BOS hidden
  assert.deepEqual(SOURCES.explain(ctxOf(), () => ({ data: null, error: "no", pending: false })), { error: "no" });
});

test("views that do not apply say why instead of asking", () => {
  assert.deepEqual(SOURCES.predict(ctxOf({}, MODELS[2])), { unavailable: "no next-word head" });
  assert.deepEqual(SOURCES.positional(ctxOf({}, MODELS[1])), { unavailable: "no encoding" });
  assert.deepEqual(SOURCES.decompose(ctxOf({}, MODELS[1])), { unavailable: "no positions" });
  // rotary with the positions removed: nothing rotated q or k, so the model's reason (the rotation) is not the one
  const rotary = { ...MODELS[0], positional: "rotary", unavailable_views: { "positional.decompose": "q and k are rotated" } };
  assert.deepEqual(SOURCES.decompose(ctxOf({}, rotary)), { unavailable: "q and k are rotated" });
  assert.match(SOURCES.decompose(ctxOf({ positions: "removed" }, rotary)).unavailable, /nothing rotated q or k.*content·content/);
  assert.equal(SOURCES.decompose(ctxOf({ layer: 3 })).params.layer, 0); // the positional view splits layer 0
  assert.equal(SOURCES.decompose(ctxOf({ layer: 3 }, MODELS[0], { overrides: { layer: "3" } })).params.layer, 3);
  assert.equal(SOURCES.positional(ctxOf({ pn: 512 }, { ...MODELS[0], positional: "learned" })).params.n, 128);
});

test("the nearest words: a typed word, else the selected token by its id", () => {
  assert.deepEqual(SOURCES.neighbors(ctxOf({ word: "dog" })).params, { word: "dog", k: 10, model: "tiny-sinusoidal" });
  assert.equal(SOURCES.neighbors(ctxOf({ token: 0 }), have(analysis())).params.token_id, 100);
  assert.match(SOURCES.analogy(ctxOf({ a: "" })).error, /three words/);
});

test("compare: side b is side a but for what the page names, on the selected head", () => {
  const s = { ...DEFAULTS, text2: "", model2: "", positions2: "shuffled", scale2: null, ablate2: null, ablate: [[0, 1]] };
  assert.deepEqual(sideB(s, MODELS[0]), { text: DEFAULTS.text, model: "tiny-sinusoidal", positions: "shuffled", scale: true, ablate: [[0, 1]] });
  assert.deepEqual(sideB({ ...s, ablate2: [] }, MODELS[0]).ablate, []);
  // side b's box holding only spaces (which looks empty, as "the same" does) is side a's sentence: it was sent, and
  // "b.text: text is empty: type a sentence" stood on all five panels, side a's included
  assert.equal(sideB({ ...s, text2: "   " }, MODELS[0]).text, DEFAULTS.text);
  assert.equal(sideB({ ...s, text2: " x " }, MODELS[0]).text, " x ");
  // another model's heads are not side a's: its ablation is not inherited (layer 5 head 11 of MiniLM is no head of a
  // tiny model, and the error named neither side), unless the page names side b's own
  assert.deepEqual(sideB({ ...s, model2: "minilm-l6" }, MODELS[0]).ablate, []);
  assert.deepEqual(sideB({ ...s, model2: "tiny-sinusoidal" }, MODELS[0]).ablate, [[0, 1]]);
  assert.deepEqual(sideB({ ...s, model2: "minilm-l6", ablate2: [[5, 11]] }, MODELS[0]).ablate, [[5, 11]]);
  const r = SOURCES.compare(ctxOf({ text2: "Other.", layer: 1, head: 2 }));
  assert.deepEqual([r.api, r.params.b.text, r.params.a.text, r.params.layer, r.params.head, r.params.top_k], ["compare", "Other.", DEFAULTS.text, 1, 2, 5]);
  assert.match(SOURCES.compare(ctxOf({ model2: "nobody" })).error, /no model named/);
  // a head only side a's model has is asked for all the same: the answer holds side a's pattern and says why b has none
  const one = SOURCES.compare(ctxOf({ model2: "tiny-nope", layer: 5 }, { ...MODELS[2], n_layers: 6 }));
  assert.deepEqual([one.error, one.params.layer, one.params.b.model], [undefined, 5, "tiny-nope"]);
});

test("the positional view's models: the family of the current model, without ablation", () => {
  const fam = meta.families[0];
  const models = new Map(fam.models.map((name) => [name, { ...MODELS[0], name }]));
  const r = SOURCES.family({ ...ctxOf({ ablate: [[0, 0]] }), models });
  assert.deepEqual(r.each.map((e) => e.name), fam.models);
  for (const e of r.each) assert.deepEqual([e.spec.params.model, e.spec.params.ablate], [e.name, []]);
  // the current model's entry is the explorer's own analysis when nothing is ablated: the same request
  const same = SOURCES.family({ ...ctxOf(), models }).each.find((e) => e.name === "tiny-sinusoidal");
  assert.deepEqual(same.spec, SOURCES.analyze(ctxOf()));
});

test("the positional view's models: one that cannot read the page's text is not asked, and says why", () => {
  const fam = meta.families[0];
  const models = new Map(fam.models.map((name) => [name, { ...MODELS[0], name, max_tokens: 128, max_tokens_beyond: name === "tiny-learned" ? null : 512, why_not_beyond: name === "tiny-learned" ? "Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later." : null }]));
  const need = (n) => () => ({ data: { tokens: Array.from({ length: n }, () => ({})) } });
  const long = SOURCES.family({ ...ctxOf({ beyond: true }), models }, need(375));
  const learned = long.each.find((e) => e.name === "tiny-learned");
  assert.equal(learned.spec, undefined);
  assert.equal(learned.error, "tiny-learned reads at most 128 tokens, and this text is 375. Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later.");
  assert.ok(long.each.filter((e) => e.name !== "tiny-learned").every((e) => e.spec && !e.error)); // past it, allowed
  const notAllowed = SOURCES.family({ ...ctxOf(), models }, need(375)).each.find((e) => e.name === "tiny-rotary");
  assert.match(notAllowed.error, /reads at most 128 tokens, and this text is 375: past its trained length, it runs when you allow it \(up to 512\)/);
  const short = SOURCES.family({ ...ctxOf(), models }, need(12));
  assert.ok(short.each.every((e) => e.spec && !e.error));
  const tooLong = SOURCES.family({ ...ctxOf({ beyond: true }), models }, need(600)).each.find((e) => e.name === "tiny-rotary");
  assert.equal(tooLong.error, "tiny-rotary reads at most 512 tokens, and this text is 600.");
});

test("past the trained length: the role table and the models' tables carry the page's leave, the probe does not", () => {
  const fam = meta.families[0];
  const models = new Map(fam.models.map((name) => [name, { ...MODELS[0], name, max_tokens: 128, max_tokens_beyond: 512, available: true }]));
  const ctx = { ...ctxOf({ beyond: true, probe: true, pseed: 3 }), models };
  const probe = SOURCES.roleprobe(ctx);
  assert.equal(probe.api, "roleProbe");
  assert.ok(!("allow_beyond_trained" in probe.params) && !("text" in probe.params)); // (refused: "Extra inputs")
  assert.deepEqual(probe.params.probe, { seed: 3 });
  const onText = SOURCES.rolemodels({ ...ctxOf({ beyond: true }), models });
  assert.equal(onText.params.allow_beyond_trained, true);
  assert.ok(!("allow_beyond_trained" in SOURCES.rolemodels({ ...ctxOf(), models }).params));
  assert.ok(!("allow_beyond_trained" in SOURCES.rolemodels(ctx).params)); // on the probe
});

test("labrun and a lesson step name the page's lab run and how many of its records (all, while it trains)", async () => {
  const { labRunOf } = await import("../../../frontend/js/sources.js");
  const lab = (status, n, key) => ({ run: { id: 4, status, key }, records: Array.from({ length: n }, (_, i) => ({ index: i })) });
  assert.deepEqual(labRunOf(null), { run: null, records: null });
  assert.deepEqual(labRunOf({ run: null, records: [] }), { run: null, records: null });
  assert.deepEqual(labRunOf(lab("running", 9)), { run: 4, records: null });
  assert.deepEqual(labRunOf(lab("paused", 9)), { run: 4, records: 9 });
  assert.deepEqual(labRunOf(lab("finished", 12)), { run: 4, records: 12 });
  assert.deepEqual(SOURCES.labrun(ctxOf({}, MODELS[0], { lab: lab("finished", 12) })), { api: "labSummary", params: { run: 4, records: 12 } });
  assert.deepEqual(SOURCES.labrun(ctxOf()), { api: "labSummary", params: { run: null, records: null } });
  const step = SOURCES.lessonstep(ctxOf({ lesson: "x", step: 2 }, MODELS[0], { lab: lab("cancelled", 3) }));
  assert.deepEqual([step.params.body.lab_run, step.params.body.lab_records], [4, 3]);
  const none = SOURCES.lessonstep(ctxOf({ lesson: "x", step: 2 }));
  assert.ok(!("lab_run" in none.params.body));
  // with the run's key, as every action of the lab sends it: the server refuses another run under that id
  assert.deepEqual(labRunOf(lab("finished", 12, "k1")), { run: 4, records: 12, key: "k1" });
  assert.deepEqual(SOURCES.labrun(ctxOf({}, MODELS[0], { lab: lab("paused", 2, "k1") })).params, { run: 4, records: 2, key: "k1" });
  const keyed = SOURCES.lessonstep(ctxOf({ lesson: "x", step: 2 }, MODELS[0], { lab: lab("cancelled", 3, "k1") }));
  assert.deepEqual([keyed.params.body.lab_run, keyed.params.body.lab_records, keyed.params.body.lab_key], [4, 3, "k1"]);
});

test("a view's analysis carries what the view shows first: the grid's role table, the Why views' lens and attribution", () => {
  const encoder = { ...MODELS[2], unavailable_views: { lens: "no unembedding", logit_attribution: "no unembedding" } };
  const params = (view, model = MODELS[0]) => SOURCES.analyze(ctxOf({ view }, model)).params;
  assert.equal(params("attention").roles, true);
  assert.equal(params("attention").why, undefined);
  for (const view of ["attribution", "lens"]) assert.equal(params(view).why, true, view);
  assert.equal(params("lens", encoder).why, undefined); // not where the lens does not apply
  for (const view of ["qkv", "predictions", "effects", "heads"]) assert.deepEqual(Object.keys(params(view)).filter((k) => k === "roles" || k === "why"), [], view);
  // the effects view's: the selected head's attention attribution, on every model (it applies to encoders too)
  for (const model of [MODELS[0], encoder]) {
    assert.deepEqual(SOURCES.analyze(ctxOf({ view: "effects", layer: 1, head: 2 }, model)).params.attention_attribution, { layer: 1, head: 2 });
  }
  for (const view of ["attention", "attribution", "lens", "qkv", "heads"]) assert.equal(params(view).attention_attribution, undefined, view);
  const big = { ...MODELS[0], n_layers: 30, n_heads: 9 }; // a compact request (one layer in full) carries them too
  const compactAsk = SOURCES.analyze(ctxOf({ view: "attention" }, big));
  assert.ok(compactAsk.compact && compactAsk.params.roles === true && compactAsk.params.layers.length === 1);
  assert.deepEqual(SOURCES.analyze(ctxOf({ view: "effects", layer: 20, head: 4 }, big)).params.attention_attribution, { layer: 20, head: 4 });
});

test("the views that draw none of the analysis's attention ask for no layer in full and no head summary, on every model", () => {
  const big = { ...MODELS[0], n_layers: 30, n_heads: 9 };
  assert.ok(!compact(MODELS[0]) && compact(big));
  for (const model of [MODELS[0], MODELS[2], big]) {
    for (const view of ["attribution", "lens", "effects"]) {
      assert.deepEqual(SOURCES.analyze(ctxOf({ view }, model)).params.layers, [], `${view} on ${model.name}`);
      assert.equal(SOURCES.analyze(ctxOf({ view }, model)).params.heads, false, `${view} on ${model.name}`);
      // so that another layer is the same request (the effects view's names the selected head, which it carries)
      const [one, three] = [1, 3].map((layer) => SOURCES.analyze(ctxOf({ view, layer }, model)));
      if (view === "effects") {
        assert.deepEqual([one.params.attention_attribution.layer, three.params.attention_attribution.layer], [1, 3]);
        delete one.params.attention_attribution;
        delete three.params.attention_attribution;
      }
      assert.deepEqual(one, three);
    }
    // the views that draw it: every layer (a small model, one request for every layer) or the selected one (compact)
    for (const view of ["attention", "qkv", "predictions", "heads"]) {
      const layers = SOURCES.analyze(ctxOf({ view, layer: 2 }, model)).params.layers;
      assert.deepEqual(layers, compact(model) ? [2] : undefined, `${view} on ${model.name}`);
      assert.equal(SOURCES.analyze(ctxOf({ view, layer: 2 }, model)).params.heads, undefined); // (the summary: the default)
    }
  }
});

test("the lens, the attribution and the role table come from the analysis that carries them, else their own request", () => {
  const a = analysis({ n: 5 });
  const lens = { position: 4, token: { id: 7 } };
  const logit = { position: 4, token: { id: 7 } };
  const table = { heads: [] };
  const carrying = () => ({ data: { ...a, lens, logit, roles: table }, error: null, pending: false, current: true });
  const onWay = () => ({ data: a, error: null, pending: true, current: false });
  const why = ctxOf({ view: "attribution" });
  // each stands for the request it saves (the API answers it the same: tests/backend/test_attribution.py)
  const lensAsk = SOURCES.lens(why, () => ({ data: a, error: null, pending: false, current: true }));
  assert.equal(lensAsk.api, "lens"); // an analysis without them (none asked, or an older one): its own request
  assert.deepEqual(SOURCES.lens(why, carrying), { value: lens, request: lensAsk });
  const logitAsk = SOURCES.logit(why, () => ({ data: a, error: null, pending: false, current: true }));
  assert.deepEqual(SOURCES.logit(why, carrying), { value: logit, request: logitAsk });
  assert.deepEqual(SOURCES.lens(why, onWay), { wait: true }); // no request of its own while the analysis comes
  // another position, a chosen token, or a token to subtract: a request of its own, on the same kept pass
  assert.equal(SOURCES.lens(ctxOf({ view: "attribution", token: 2 }), carrying).params.position, 2);
  assert.equal(SOURCES.lens(ctxOf({ view: "attribution", target: 9 }), carrying).params.token, 9);
  assert.equal(SOURCES.logit(ctxOf({ view: "attribution", versus: 9 }), carrying).params.versus, 9);
  assert.equal(SOURCES.logit(ctxOf({ view: "qkv" }), carrying).api, "logit"); // a view whose analysis does not carry it
  assert.deepEqual(SOURCES.roles(ctxOf({ view: "attention" }), carrying), { value: { roles: table }, request: SOURCES.roles(ctxOf({ view: "heads" })) });
  assert.deepEqual(SOURCES.roles(ctxOf({ view: "attention" }), onWay), { wait: true });
  assert.equal(SOURCES.roles(ctxOf({ view: "heads" }), carrying).api, "roles");
  const failed = () => ({ data: null, error: "busy", pending: false, current: false });
  assert.deepEqual(SOURCES.roles(ctxOf({ view: "attention" }), failed), { error: "busy" });
});

test("the effects view's head attribution comes from the analysis that carries it, else its own request", () => {
  const a = analysis({ n: 5 });
  const attribution = { layer: 1, head: 2, raw: [[1]] };
  const effects = ctxOf({ view: "effects", layer: 1, head: 2 });
  const own = SOURCES.attnattr(effects, () => ({ data: a, error: null, pending: false, current: true }));
  // an analysis without it (an older answer): its own request, the one the carried part stands for
  assert.deepEqual([own.api, own.params.layer, own.params.head, own.params.text], ["attnattr", 1, 2, effects.state.text]);
  const carrying = () => ({ data: { ...a, attention_attribution: attribution }, error: null, pending: false, current: true });
  assert.deepEqual(SOURCES.attnattr(effects, carrying), { value: attribution, request: own });
  // while the analysis of this head is on its way (another head: another analysis), no request of its own
  assert.deepEqual(SOURCES.attnattr(effects, () => ({ data: a, error: null, pending: true, current: false })), { wait: true });
  assert.deepEqual(SOURCES.attnattr(effects, () => ({ data: null, error: "busy", pending: false, current: false })), { error: "busy" });
  // another view asking for it (none today, but a lesson could): its own request, with no need of the analysis
  const other = SOURCES.attnattr(ctxOf({ view: "heads", layer: 1, head: 2 }), () => {
    throw new Error("reads the analysis");
  });
  assert.deepEqual(other, own);
});

test("a lesson step carries the page's leave to run past the trained length, as the views' requests do", () => {
  const long = { ...MODELS[0], max_tokens: 128, max_tokens_beyond: 512 };
  const step = (patch) => SOURCES.lessonstep(ctxOf({ lesson: "x", step: 2, ...patch }, long)).params.body;
  assert.equal(step({ beyond: true }).allow_beyond_trained, true);
  assert.ok(!("allow_beyond_trained" in step({})));
  const cannot = { ...long, max_tokens_beyond: 128 }; // a model that cannot run past it is not asked to
  assert.ok(!("allow_beyond_trained" in SOURCES.lessonstep(ctxOf({ lesson: "x", step: 2, beyond: true }, cannot)).params.body));
});

test("a text the server refuses (empty, only spaces, past max_text_chars) is not asked for: the source says why", () => {
  // every source of the sentence sent it for a 422 ("text is empty: type a sentence") in the browser's console
  const a = analysis();
  const need = (name) => (name === "analyze" ? { data: a, error: null, pending: false, current: true } : { data: null, error: null, pending: true });
  const over = "x".repeat(meta.limits.max_text_chars + 1);
  for (const [text, said] of [["", /^text is empty: type a sentence$/], [" \n\t ", /^text is empty: type a sentence$/],
    [over, new RegExp(`^the sentence is ${over.length} characters; the sentence box holds at most ${meta.limits.max_text_chars}$`)]]) {
    for (const name of ["analyze", "explain", "qkv", "predict", "embeddings", "decompose", "removed", "shuffled", "compare", "lessonstep", "lens", "logit", "attnattr", "roles", "rolemodels", "queryrows"]) {
      const r = SOURCES[name](ctxOf({ text, lesson: "context", combine: "sum", rows: [1] }), need);
      assert.equal(r.api, undefined, `${name} asked for ${JSON.stringify(text.slice(0, 9))}`);
      assert.match(r.error, said, name);
    }
    // the family of the positional view: each model says it, none is asked
    const fam = SOURCES.family(ctxOf({ text }, MODELS[0], { models: new Map([["tiny-sinusoidal", MODELS[0]], ["tiny-nope", MODELS[1]]]) }), need);
    if (fam.each) for (const x of fam.each) assert.equal(x.spec && x.spec.api, undefined, x.name);
    // ablation: one request per layer, none of them sent
    const ab = SOURCES.ablation(ctxOf({ text, measure: true }), need);
    assert.ok(ab.error || ab.each.every((x) => !x.spec && x.error), "ablation");
  }
  // an emoji is one character, as the server counts it; a text of ordinary length is asked for as before
  const emoji = "🐱".repeat(meta.limits.max_text_chars);
  assert.equal(SOURCES.analyze(ctxOf({ text: emoji })).api, "analyze");
  assert.equal(SOURCES.analyze(ctxOf({ text: " a " })).api, "analyze");
  // side b's box of spaces means side a's sentence (sideB): asked for
  assert.equal(SOURCES.compare(ctxOf({ text2: "  " })).api, "compare");
});

test("a model outside the family: the family's first model counts the sentence, and its refusal says it for all", () => {
  const fam = meta.families[0];
  const models = new Map([...fam.models.map((name) => [name, { ...MODELS[0], name, max_tokens: 128, max_tokens_beyond: name === "tiny-learned" ? null : 512, why_not_beyond: name === "tiny-learned" ? "Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later." : null }]), ["big", MODELS[2]]]);
  const ctx = { ...ctxOf({}, MODELS[2]), models };
  const first = SOURCES.familyfirst(ctx);
  assert.deepEqual([first.api, first.params.model], ["analyze", fam.models[0]]);
  // the page's analysis (another tokenizer's count) is not read: familyfirst is
  const asked = [];
  const by = (answer) => (name) => (asked.push(name), answer);
  // while it is on its way: the first model is asked (the same request), the others wait
  const pending = SOURCES.family(ctx, by({ data: null, error: null, pending: true }));
  assert.deepEqual(asked, ["familyfirst"]);
  assert.deepEqual(pending.each[0].spec, first);
  assert.ok(pending.each.slice(1).every((e) => e.wait && !e.spec));
  // refused for its length: nobody else is asked, each says why
  const refused = { data: null, error: "the text is 166 tokens (with its 1 special token); model 'tiny-sinusoidal' reads at most 128 tokens (max_tokens) ...", status: 422, refusal: { tokens: 166, limit: 128, model: "tiny-sinusoidal" }, pending: false };
  const long = SOURCES.family(ctx, by(refused));
  assert.ok(long.each.every((e) => !e.spec && !e.wait && e.error));
  assert.equal(long.each.find((e) => e.name === "tiny-learned").error, "tiny-learned reads at most 128 tokens, and this text is 166 of its tokens. Learned positions stop at the trained length: this model has a vector for positions 0 to 127 and none for position 128 or later.");
  assert.match(long.each.find((e) => e.name === "tiny-rotary").error, /this text is 166 of its tokens: past its trained length, it runs when you choose it above and allow it \(up to 512\)\.$/);
  const fits = SOURCES.family(ctx, by({ data: { tokens: Array.from({ length: 40 }, () => ({})) }, error: null, pending: false }));
  assert.ok(fits.each.every((e) => e.spec && !e.error));
  // another refusal (not of its length) says nothing of the length: each model is asked
  const other = SOURCES.family(ctx, by({ data: null, error: "the server could not be reached", status: 0, pending: false }));
  assert.ok(other.each.every((e) => e.spec));
  // the Heads view's table across the models: waits for the count, says the refusal, asks when it fits
  assert.deepEqual(SOURCES.rolemodels(ctx, by({ data: null, error: null, pending: true })), { wait: true });
  const said = SOURCES.rolemodels(ctx, by(refused));
  assert.equal(said.error, "These models read at most 128 tokens, and this sentence is 166 tokens in theirs (their own tokenizer, " +
    "not big's): past their trained length, all but tiny-learned run when you choose one above and allow it (up to 512).");
  assert.equal(SOURCES.rolemodels(ctx, by({ data: { tokens: [{}] }, error: null, pending: false })).api, "roleModels");
  // (the probe has its own length)
  assert.equal(SOURCES.rolemodels({ ...ctx, state: { ...ctx.state, probe: true } }, by(refused)).api, "roleModels");
});

test("a word of several words is never one token: said, not asked for", () => {
  const ctx = ctxOf({ word: " the  cat " });
  assert.deepEqual(SOURCES.neighbors(ctx, waiting), { error: "“the  cat” is 2 words, never one token: type one word" });
  assert.equal(SOURCES.neighbors(ctxOf({ word: "cat" }), waiting).api, "neighbors");
  assert.deepEqual(SOURCES.analogy(ctxOf({ a: "king", b: "a man", c: "woman" })), { error: "“a man” is 2 words, never one token: type one word" });
  assert.equal(SOURCES.analogy(ctxOf({ a: "king", b: "man", c: "woman", expect: "the queen" })).api, "analogy"); // (its rank: the server says why none)
});
