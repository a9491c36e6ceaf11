// The sources: every piece of data a view or a lesson's text can ask for, by name, as the request it makes for a
// context (the page's state, or a lesson placeholder's overrides of it). One table for the explorer and the lessons:
// the same name in the same context is the same request, so the data layer (data.js) sends it once.
// Pure: a source returns what to fetch, it fetches nothing.
//
// A source is (ctx, need) => one of
//   {api, params, compact?}   an API request (api: a function name of api.js)
//   {value}                    a value at hand (the model's entry, the state)
//   {value, request}           a part of the analysis that stands for the answer to `request` (CARRIES)
//   {error} | {unavailable}    why there is nothing (unavailable: the view or part does not apply to the model)
//   {wait: true}               a source it depends on is still on its way
//   {each: [{name, ..., spec}]} one request per model (the family of the positional view)
//   {each, sequential: true}   the same, each asked for once the ones before it are answered (ablation, layer by layer)
//   {each, held: true}         the same, only those whose answers the data layer holds: nothing asked (the rest
//                              have no data; one on its way is let go)
//   an item of `each` is {name, spec}, {name, error}, or {name, wait: true}: asked for once another answer is in
// ctx: {state, model, models (name -> /api/models entry), hover, overrides}; need(name) -> {data, error, pending}
// of another source in the same context.
import { baseParams, canRunBeyond, compact, effectiveToken, keptIndices, positionalLength, refusedLength, samplingOf, textRefusal, tokenLimit, withReason, wordRefusal } from "./derive.js";
import { familyOf, unavailable, vocab } from "./vocab.js";
import { combinedQueries } from "./roles.js";

const TOP_K = 10;
const NEIGHBORS = 10;
const SCHEME_N = 64; // distances of ALiBi's bias by distance (the scheme answer)
// a rotary model's split with the positions removed: its reason (q and k are rotated) no longer holds
const ROTARY_REMOVED = "With the positions removed nothing rotated q or k: they are all content, so every score is " +
  "content·content (the Arithmetic view shows the scores).";

/** The query token of this context (an index into the answer's tokens), or a {wait}/{error} result. */
function query(ctx, need) {
  const a = need("analyze");
  if (!a.data) return a.error ? { error: a.error } : { wait: true };
  const tokens = a.data.tokens;
  const shown = keptIndices(tokens, ctx.state.hidespecial);
  return { token: effectiveToken(tokens, { hover: ctx.hover, token: ctx.state.token }, shown), tokens };
}

/**
 * Side b of the Compare view: side a with the second sentence, model and interventions where the page names them.
 * Side a's ablated heads are its model's: side b of another model takes none of them unless the page names its own.
 */
export function sideB(state, model) {
  const own = model ? model.name : undefined;
  const other = Boolean(state.model2) && state.model2 !== own;
  return {
    // a box of spaces looks empty, as "the same sentence as side a" is: it means that, not a text that cannot run
    text: state.text2 && state.text2.trim() ? state.text2 : state.text,
    model: state.model2 || own,
    positions: state.positions2 || state.positions,
    scale: state.scale2 === null ? state.scale : state.scale2,
    ablate: state.ablate2 !== null ? state.ablate2 : other ? [] : state.ablate,
  };
}

/**
 * What the analysis of a view carries besides the attention, so that the view's first picture needs one request:
 * the attention view's grid labels (`roles`), the Why views' lens and attribution of the next token (`why`, where
 * the model has them), and the effects view's attribution of the selected head (`attention_attribution`: another
 * head is then another analysis, of the pass the server keeps). The roles, lens, logit and attnattr sources read them
 * from the analysis (`carried`).
 */
const CARRIES = { roles: new Set(["attention"]), why: new Set(["attribution", "lens"]), attnattr: new Set(["effects"]) };

/**
 * The views that draw none of the analysis's attention weights (the Why views: their pictures come from their own
 * sources): their analysis holds no layer in full (`layers: []`), on every model, and no per-head summary (`heads:
 * false`). At 64 tokens of the default model the analysis is then 8 KB to make, send and parse instead of 366 KB;
 * without the summary the attribution view's answer takes about 0.6 ms less to make at 16 tokens.
 */
const NO_ATTENTION = new Set(["attribution", "lens", "effects"]);

function carries(ctx, what) {
  if (!CARRIES[what].has(ctx.state.view)) return false;
  return what !== "why" || (!unavailable(ctx.model, "lens") && !unavailable(ctx.model, "logit_attribution"));
}

/**
 * The part `key` of the context's analysis ("roles", "lens", "logit", "attention_attribution") where the analysis
 * carries `what` (CARRIES):
 * {value, request} once it is in (`request`: the request whose answer it is, as the API gives it on its own, for
 * whoever checks a number against the API), {wait} while it is on its way, {error} if it failed; null where the
 * analysis does not carry it.
 */
function carried(ctx, need, what, key, request) {
  if (!carries(ctx, what)) return null;
  const a = need("analyze");
  if (a.current && a.data) return a.data[key] ? { value: a.data[key], request } : null;
  return a.error ? { error: a.error } : { wait: true };
}

export const SOURCES = {
  analyze(ctx) {
    const base = baseParams(ctx.state, ctx.model);
    const why = carries(ctx, "why");
    const s = ctx.state;
    const also = {
      ...(carries(ctx, "roles") ? { roles: true } : {}),
      ...(why ? { why: true } : {}),
      ...(carries(ctx, "attnattr") ? { attention_attribution: { layer: s.layer, head: s.head } } : {}),
    };
    // a large model: the selected layer in full (the data layer adds the thumbnails of every head, once per sentence)
    // past the trained length too (up to 4x the tokens: 16x the weights), so that a long text's answer stays small;
    // the Why views show no attention: none in full, on any model (another layer is then not another request, but in
    // the effects view, whose analysis carries the selected head's attribution)
    const none = NO_ATTENTION.has(ctx.state.view);
    const layers = none ? [] : [s.layer];
    // (a lesson's number, asked in the page's context, may read the summary whatever the view: `slot`)
    const shown = none && !ctx.slot ? { heads: false } : {};
    // each row up to the keys its query sees (a causal model's masked zeros are not sent; the data layer puts them
    // back), the weights as 16-bit integers (less than half the bytes of their JSON, decoded in a quarter of its parse)
    const ask = { ...base, top_k: TOP_K, visible_only: true, packed: true };
    if (compact(ctx.model) || base.allow_beyond_trained) {
      return { api: "analyze", params: { ...ask, layers, ...shown, ...also }, compact: true };
    }
    return { api: "analyze", params: { ...ask, ...(none ? { layers } : {}), ...shown, ...also } };
  },

  explain(ctx, need) {
    const q = query(ctx, need);
    if (q.token === undefined) return q;
    const s = ctx.state;
    return { api: "explain", params: { ...baseParams(s, ctx.model), layer: s.layer, head: s.head, query: q.token } };
  },

  qkv(ctx) {
    const s = ctx.state;
    return { api: "qkv", params: { ...baseParams(s, ctx.model), layer: s.layer, head: s.head } };
  },

  predict(ctx) {
    const why = unavailable(ctx.model, "predictions");
    if (why) return { unavailable: why };
    const params = { ...baseParams(ctx.state, ctx.model), top_k: TOP_K, temperature: ctx.state.temp };
    // the kept set of top-k / top-p marked on the bars (asked for only when one is set: else the plain request)
    const kept = samplingOf(ctx.state, { forKept: true });
    return { api: "predict", params: kept ? { ...params, sampling: kept } : params };
  },

  embeddings(ctx) {
    return { api: "embeddings", params: baseParams(ctx.state, ctx.model) };
  },

  neighbors(ctx, need) {
    const name = ctx.model.name;
    // a typed word, else the selected token by its id (so that BOS and partial-byte tokens work too)
    if (ctx.state.word) {
      const why = wordRefusal(ctx.state.word);
      return why ? { error: why } : { api: "neighbors", params: { word: ctx.state.word, k: NEIGHBORS, model: name } };
    }
    const q = query(ctx, need);
    if (q.token === undefined) return q;
    return { api: "neighbors", params: { token_id: q.tokens[q.token].id, k: NEIGHBORS, model: name } };
  },

  analogy(ctx) {
    const { a, b, c, expect } = ctx.state;
    if (!(a && b && c)) return { error: "Type three words: a − b + c." };
    const why = [a, b, c].map(wordRefusal).find(Boolean);
    if (why) return { error: why };
    return { api: "analogy", params: { model: ctx.model.name, a, b, c, k: NEIGHBORS, ...(expect ? { expect } : {}) } };
  },

  positional(ctx) {
    const why = unavailable(ctx.model, "positional.encoding");
    if (why) return { unavailable: why };
    return { api: "positional", params: { n: positionalLength(ctx.model, ctx.state.pn), model: ctx.model.name } };
  },

  decompose(ctx) {
    const why = unavailable(ctx.model, "positional.decompose");
    if (why) return { unavailable: ctx.model.positional === "rotary" && ctx.state.positions === "removed" ? ROTARY_REMOVED : why };
    // the positional view splits layer 0's scores (a lesson may name another layer)
    const layer = ctx.overrides && ctx.overrides.layer !== undefined ? ctx.state.layer : 0;
    return { api: "decompose", params: { ...baseParams(ctx.state, ctx.model), layer, head: ctx.state.head } };
  },

  // the positional view: the selected head with positions normal and removed, and normal and shuffled
  removed: (ctx) => positionsCompare(ctx, "removed"),
  shuffled: (ctx) => positionsCompare(ctx, "shuffled"),

  // the positional view: the same sentence through every model of the current model's family (without ablation)
  family(ctx, need) {
    const fam = familyOf(ctx.model.name);
    if (!fam) return { error: "There are no models that differ only in their positional scheme." };
    // the family shares one tokenizer: the page's analysis says how long the text is for each (a model that cannot
    // read it is not asked, rather than refused with a 422). A model outside the family (MiniLM, SmolLM2) counts it in
    // tokens of its own: then the family's first model is asked first, and its answer (or its refusal, which says how
    // many tokens the text is) says it for the others, asked once it is in
    const own = fam.models.includes(ctx.model.name);
    const { a, n } = familyLength(need, own);
    const first = own ? null : firstOfFamily(ctx, fam);
    const each = fam.models.map((name) => {
      const m = ctx.models.get(name);
      if (!m) return { name, error: `${name} is not on this server.` };
      if (!m.available) return { name, positional: m.positional, error: `${name} is not installed${m.install ? `: ${m.install}` : "."}` };
      const limit = tokenLimit(m, ctx.state.beyond);
      if (n !== null && n > limit) {
        const said = `${name} reads at most ${limit} tokens, and this text is ${n}${own ? "" : " of its tokens"}`;
        const error = !canRunBeyond(m) ? withReason(said, m.why_not_beyond)
          : ctx.state.beyond ? `${said}.`
          : `${said}: past its trained length, it runs when you ${own ? "" : "choose it above and "}allow it (up to ${m.max_tokens_beyond}).`;
        return { name, positional: m.positional, error };
      }
      // (outside the family, the others wait for the first model's answer)
      if (!own && n === null && a && a.pending && name !== first) return { name, positional: m.positional, wait: true };
      return { name, positional: m.positional, spec: familySpec(ctx, m) };
    });
    return { each, family: fam };
  },

  // the page's sentence through the first installed model of the family, for a model outside it: how many of the
  // family's tokens the sentence is (the positional view's `family`)
  familyfirst(ctx) {
    const fam = familyOf(ctx.model.name);
    const first = fam && firstOfFamily(ctx, fam);
    return first ? familySpec(ctx, ctx.models.get(first)) : { error: "None of the family's models is installed." };
  },

  // the Compare view: side a (the page's sentence, model and interventions) and side b, the selected layer and head
  // (where only one side's model has that head, the answer holds that side's pattern and says why the other has none)
  compare(ctx) {
    const s = ctx.state;
    const b = sideB(s, ctx.model);
    const other = ctx.models.get(b.model);
    if (!other) return { error: `There is no model named “${b.model}”.` };
    if (!other.available) return { error: `${b.model} is not installed${other.install ? `: ${other.install}` : "."}` };
    // past the trained length on side b too, where the page has agreed to it and side b's model can run there
    const bp = baseParams({ ...s, ...b }, other).allow_beyond_trained ? { ...b, allow_beyond_trained: true } : b;
    return { api: "compare", params: { a: baseParams(s, ctx.model), b: bp, layer: s.layer, head: s.head, top_k: 5 } };
  },

  model(ctx) {
    return { value: ctx.model };
  },

  // the open lesson's step resolved on the page's sentence and model (backend/lesson_steps.py: roles, model kinds,
  // claims); ctx.selection: the page's selection and interventions, or none for the step's own
  lessonstep(ctx) {
    const s = ctx.state;
    if (!s.lesson) return { error: "No lesson is open." };
    const lab = labRunOf(ctx.lab);
    // past the trained length where the page has agreed to it, as every view's request (derive.js baseParams)
    const beyond = baseParams(s, ctx.model).allow_beyond_trained ? { allow_beyond_trained: true } : {};
    const body = { text: s.text, model: ctx.model.name, ...(ctx.selection || {}), ...beyond, ...(lab.run === null ? {} : { lab_run: lab.run, lab_records: lab.records }), ...(lab.key ? { lab_key: lab.key } : {}) };
    return { api: "lessonStep", params: { lesson: s.lesson, step: s.step, body } };
  },

  // why this next word: the selected (clicked, not hovered) token's next-token prediction, the token `target`
  // (default: the model's top-1 there) and, for attribution, `versus`
  lens(ctx, need) {
    const why = unavailable(ctx.model, "lens");
    if (why) return { unavailable: why };
    const q = pinnedQuery(ctx, need);
    if (q.token === undefined) return q;
    const own = { api: "lens", params: { ...baseParams(ctx.state, ctx.model), position: q.token, token: ctx.state.target, top_k: TOP_K } };
    // the analysis carries the lens of the last position's top-1 (`why`): the one asked for unless a token is chosen
    const c = carried(ctx, need, "why", "lens", own);
    if (c && (!c.value || (c.value.position === q.token && ctx.state.target === null))) return c;
    return own;
  },

  logit(ctx, need) {
    const why = unavailable(ctx.model, "logit_attribution");
    if (why) return { unavailable: why };
    const q = pinnedQuery(ctx, need);
    if (q.token === undefined) return q;
    const s = ctx.state;
    const own = { api: "logit", params: { ...baseParams(s, ctx.model), position: q.token, token: s.target, versus: s.versus } };
    const c = carried(ctx, need, "why", "logit", own);
    if (c && (!c.value || (c.value.position === q.token && s.target === null && s.versus === null))) return c;
    return own;
  },

  // the selected head's attention beside what it moves, its layer, and rollout (every model); the effects view's
  // analysis carries it
  attnattr(ctx, need) {
    const s = ctx.state;
    const own = { api: "attnattr", params: { ...baseParams(s, ctx.model), layer: s.layer, head: s.head } };
    return carried(ctx, need, "attnattr", "attention_attribution", own) || own;
  },

  // the measured effect of ablating each head: one request per layer, one after the other (a progress bar), on a
  // small model always, on a large one when the page asks (`measure`); until then (or once stopped) the layers
  // already measured on this sentence, nothing asked
  ablation(ctx, need) {
    // (a change in a token's probability: a model that predicts no token has none; "no token logit to attribute" was
    // the attribution's reason)
    const why = unavailable(ctx.model, "predictions") || unavailable(ctx.model, "logit_attribution");
    if (why) return { unavailable: why };
    const s = ctx.state;
    const q = pinnedQuery(ctx, need);
    if (q.token === undefined) return q;
    const base = { ...baseParams(s, ctx.model), position: q.token, token: s.target, versus: s.versus };
    const each = [...Array(ctx.model.n_layers).keys()].map((layer) => ({ name: `L${layer}`, spec: { api: "ablation", params: { ...base, layers: [layer] } } }));
    return s.measure || ablationAlways(ctx.model) ? { each, sequential: true } : { each, held: true };
  },

  // the position lab: where the model's scheme enters the computation (the positional view: ALiBi's bias by distance)
  scheme(ctx) {
    return { api: "scheme", params: { model: ctx.model.name, n: SCHEME_N } };
  },

  // the position lab: one scheme diagram per model of the family; the model on screen stands in for the family's
  // model of its scheme when it is not one of them (SmolLM2: rotary)
  schemes(ctx) {
    const fam = familyOf(ctx.model.name);
    const names = fam ? [...fam.models] : [];
    if (!names.includes(ctx.model.name)) {
      const same = names.findIndex((n) => ctx.models.get(n) && ctx.models.get(n).positional === ctx.model.positional);
      if (same >= 0) names[same] = ctx.model.name;
      else names.push(ctx.model.name);
    }
    const each = names.map((name) => {
      const m = ctx.models.get(name);
      if (!m) return { name, error: `${name} is not on this server.` };
      if (!m.available) return { name, positional: m.positional, error: `${name} is not installed${m.install ? `: ${m.install}` : "."}` };
      return { name, positional: m.positional, spec: { api: "scheme", params: { model: name, n: SCHEME_N } } };
    });
    return { each, family: fam };
  },

  // the position lab: the loss by position of every tiny model, and the probe of position (measured files)
  lengths() {
    return { api: "lengths" };
  },
  probe() {
    return { api: "probe" };
  },

  // the training lab: what a run can be (tasks with their documentation, schemes, sizes, limits), and the page's run
  // (lab.js follows it; main.js hands it over in ctx.lab)
  labOptions() {
    return { api: "labOptions" };
  },
  lab(ctx) {
    return ctx.lab ? { value: ctx.lab } : { error: "The training lab is not running on this page." };
  },
  // what the page's run reached (GET /api/lab/summary: the lessons on the lab quote it); no run: the summary of none
  labrun(ctx) {
    return { api: "labSummary", params: labRunOf(ctx.lab) };
  },

  // the explorer's training-step slider: the recorded training of the model (or of the model a checkpoint is of)
  training(ctx) {
    const base = ctx.model && (ctx.model.checkpoint_of || ctx.model.name);
    const m = base && ctx.models.get(base);
    if (!m || !Array.isArray(m.checkpoints) || !m.checkpoints.length) return { unavailable: `${base || "This model"} has no recorded training checkpoints.` };
    return { api: "training", params: { model: base } };
  },

  state(ctx, need) {
    const q = query(ctx, need);
    if (q.token === undefined) return q;
    return { value: { ...ctx.state, model: ctx.model.name, token: q.token } };
  },

  // what each head does: every head's role scores and label on the sentence (the grid's labels, the head finder)
  roles(ctx, need) {
    const own = { api: "roles", params: baseParams(ctx.state, ctx.model) };
    // the attention view's analysis carries the role table (`roles`): the answer's other parts are not read there
    const c = carried(ctx, need, "roles", "roles", own);
    if (c) return c.value ? { ...c, value: { roles: c.value } } : c;
    return own;
  },

  // each role in plain words with its formula, and the labelling rule with its thresholds (the hover, the legend)
  roledefs() {
    return { api: "roleDefinitions" };
  },

  // the induction probe of the current model (seeded), when the Heads view asks for it; else nothing
  // (named roleprobe: main's position lab has a source `probe` of its own, the probe of position)
  roleprobe(ctx) {
    if (!ctx.state.probe) return { value: null };
    // (the probe has its own length: neither the page's text nor its leave to run past the trained length)
    const { text, allow_beyond_trained: _, ...rest } = baseParams(ctx.state, ctx.model);
    return { api: "roleProbe", params: { ...rest, probe: { seed: ctx.state.pseed } } };
  },

  // the same role table across the models that differ only in their positional scheme (the tiny models), on the
  // sentence or on the probe
  rolemodels(ctx, need) {
    const fam = familyOf(ctx.model.name);
    if (!fam) return { error: "There are no models that differ only in their positional scheme." };
    const models = fam.models.filter((name) => ctx.models.get(name) && ctx.models.get(name).available);
    if (!models.length) return { error: `None of ${fam.models.join(", ")} is installed.` };
    // a model outside the family counts the sentence in tokens of its own: the family's count is its first model's
    // (familyfirst), and a sentence longer than every model of it reads is said here, not sent to be refused
    if (!ctx.state.probe && !fam.models.includes(ctx.model.name)) {
      const { a, n } = familyLength(need, false);
      if (n === null && a && a.pending) return { wait: true };
      const most = Math.max(...models.map((name) => tokenLimit(ctx.models.get(name), ctx.state.beyond)));
      if (n !== null && n > most) {
        const can = models.filter((name) => canRunBeyond(ctx.models.get(name)));
        const longest = Math.max(...can.map((name) => ctx.models.get(name).max_tokens_beyond));
        const which = can.length === models.length ? "they run" : `all but ${models.filter((x) => !can.includes(x)).join(", ")} run`;
        return { error: `These models read at most ${most} tokens, and this sentence is ${n} tokens in theirs (their own ` +
          `tokenizer, not ${ctx.model.name}'s)` + (can.length && !ctx.state.beyond && n <= longest
          ? `: past their trained length, ${which} when you choose one above and allow it (up to ${longest}).` : ".") };
      }
    }
    // past the trained length where the page has agreed to it (a model that cannot run there says why)
    const beyond = ctx.state.beyond ? { allow_beyond_trained: true } : {};
    return { api: "roleModels", params: ctx.state.probe ? { models, probe: { seed: ctx.state.pseed } } : { models, text: ctx.state.text, ...beyond } };
  },

  // the heatmap's row for a selection of query tokens, summed or averaged by the server (every layer and head);
  // nothing while the heatmap shows one row
  queryrows(ctx, need) {
    if (ctx.state.combine === "one") return { value: null };
    const a = need("analyze");
    if (!a.data) return a.error ? { error: a.error } : { wait: true };
    const tokens = a.data.tokens;
    const token = effectiveToken(tokens, { token: ctx.state.token }, keptIndices(tokens, ctx.state.hidespecial));
    const queries = combinedQueries(ctx.state, tokens.length, token);
    return { api: "queryRows", params: { ...baseParams(ctx.state, ctx.model), top_k: 1, layers: [], query_rows: { queries, combine: ctx.state.combine } } };
  },
};

/**
 * The texts a request sends to be read as sentences: its own, a Compare side's, a lesson step's body's (an analogy's
 * words, a neighbour's word are not sentences).
 */
function textsOf(params) {
  if (!params) return [];
  return [params.text, params.a && params.a.text, params.b && params.b.text, params.body && params.body.text].filter((t) => typeof t === "string");
}

/** Why the server refuses this request's text (textRefusal), or null. */
function refusal(spec) {
  for (const t of textsOf(spec && spec.params)) {
    const why = textRefusal(t, vocab.limits.max_text_chars);
    if (why) return why;
  }
  return null;
}

/**
 * A source's answer with no request the page knows is refused: an empty text (or one past max_text_chars) is said as
 * the server would say it ({error}), and not sent, for a 422 in the console.
 */
function unrefused(r) {
  if (r && r.api) {
    const why = refusal(r);
    return why ? { error: why } : r;
  }
  if (r && Array.isArray(r.each)) {
    return { ...r, each: r.each.map((x) => {
      const why = refusal(x.spec);
      if (!why) return x;
      const { spec, ...rest } = x;
      return { ...rest, error: why };
    }) };
  }
  return r;
}

for (const [name, source] of Object.entries(SOURCES)) SOURCES[name] = (ctx, need) => unrefused(source(ctx, need));

/** The analysis of the page's sentence on `m`, a model of the family (without the page's ablated heads). */
function familySpec(ctx, m) {
  return SOURCES.analyze({ ...ctx, model: m, state: { ...ctx.state, model: m.name, ablate: [] } });
}

/**
 * How many tokens the family's one tokenizer makes of the page's sentence, where known: `a`, the analysis that says it
 * (the page's own where its model is of the family, `own`; else the family's first model's, familyfirst), and `n`, its
 * tokens, or the count its refusal for length gives (its `refusal`'s numbers), or null.
 */
function familyLength(need, own) {
  const a = need ? need(own ? "analyze" : "familyfirst") : null;
  return { a, n: a && a.data ? a.data.tokens.length : a && a.status === 422 ? refusedLength(a.refusal) : null };
}

/** The name of the family's first installed model, or undefined. */
function firstOfFamily(ctx, fam) {
  return fam.models.find((name) => ctx.models.get(name) && ctx.models.get(name).available);
}

/** Does every head's ablation run without asking (a small model: few forward passes)? */
export const ablationAlways = (model) => Boolean(model) && model.n_layers * model.n_heads <= ABLATE_ALWAYS_HEADS;
const ABLATE_ALWAYS_HEADS = 32;

/** The selected query token, not the hovered one (the hover would start a new request per token passed over). */
function pinnedQuery(ctx, need) {
  return query({ ...ctx, hover: null }, need);
}

function positionsCompare(ctx, other) {
  const s = ctx.state;
  const base = baseParams(s, ctx.model);
  // only the selected layer and head: the API sends that slice (with `layers` and `heads` naming it)
  return { api: "compare", params: { a: { ...base, positions: "normal" }, b: { ...base, positions: other }, layer: s.layer, head: s.head } };
}

/**
 * The page's lab run as the lessons read it: {run: its id, records: how many of its records to summarise, key: its
 * key}, the same in the `labrun` source and in a lesson step's request (so the server's claims and the page's numbers
 * agree). While the run trains, records is null (all of them, as the server has them): a lesson's text changes with
 * the run's state, not with every record. The key makes the server refuse another run under that id (after a
 * restart), as every action of the lab does. No run: {run: null, records: null}.
 */
export function labRunOf(lab) {
  const run = lab && lab.run;
  if (!run) return { run: null, records: null };
  return { run: run.id, records: ["queued", "starting", "running"].includes(run.status) ? null : lab.records.length,
    ...(run.key ? { key: run.key } : {}) };
}

/** The names a lesson placeholder may use (lesson-template.js). */
export const SOURCE_NAMES = Object.keys(SOURCES);
