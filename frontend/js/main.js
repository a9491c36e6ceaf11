// Wiring: input events -> state -> API calls -> views. The state lives in state.js (and the URL);
// the API calls in api.js; the drawing in views/*.js. Nothing here computes a number the API sends.
import * as api from "./api.js";
import { readURL, state, subscribe, toggledAblate, update, VIEWS } from "./state.js";
import * as embeddingsView from "./views/embeddings.js";
import * as explainView from "./views/explain.js";
import * as gridView from "./views/grid.js";
import * as headsView from "./views/heads.js";
import * as heatmapView from "./views/heatmap.js";
import * as legendView from "./views/legend.js";
import * as linesView from "./views/lines.js";
import * as positionalView from "./views/positional.js";
import * as predictView from "./views/predict.js";
import * as qkvView from "./views/qkv.js";
import * as tokensView from "./views/tokens.js";

const TINY = ["tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope"];
// The pause after the last keystroke before the sentence is sent: about as long as the server took to analyse
// the model's last new sentence, within these bounds. A burst of fast typing sends one request, not one per key,
// and a model that takes longer (SmolLM2) is not sent a forward pass per keystroke: the page drops a stale answer,
// but the server still finishes each pass it has started.
const TEXT_DEBOUNCE_MS = { min: 60, max: 400 };
// Models with more heads than this (layers x heads) get the compact /api/analyze: the selected layer at full
// precision and every head as 8-bit thumbnails for the grid, which are asked for once per sentence.
const COMPACT_ABOVE_HEADS = 32;
const CONTINUE_TOKENS = 10;

const $ = (id) => document.getElementById(id);
const ui = {
  models: null, // GET /api/models
  byName: new Map(),
  hover: null, // token index previewed by hovering the strip
  ablateMode: false,
  debounce: null,
  inflight: 0,
  last: {}, // slot name -> the last data that arrived for it (shown while the next one loads)
  notice: "", // a message about the URL (e.g. an unknown model) shown next to the input
  note: "", // a message for the predictions view (why a continuation stopped)
  rendered: new WeakMap(), // element -> the inputs it was last drawn from
  sliced: null, // {from, view}: the last analysis without its special tokens (see visibleAnalysis)
  slicedThumbs: null, // {from, keep, thumbs}: the last thumbnails without the special tokens
  thumbs: null, // {key, thumbnails}: the thumbnails of the sentence (base key) of the last compact answer
  baseOf: new WeakMap(), // analysis -> the base key (sentence, model, interventions) it answers
  presenting: null, // presenter mode as last applied to the page
  analyzeMs: new Map(), // model name -> how long its last new sentence took to analyse (see typingPause)
};
const slots = new Map();
let refreshQueued = false;

// ----------------------------------------------------------------------------------- requests

function setBusy() {
  const busy = ui.inflight > 0 || ui.debounce !== null || refreshQueued;
  document.documentElement.dataset.busy = busy ? "1" : "0";
  $("status").textContent = busy ? "computing…" : "";
}

/**
 * One named request slot: a new key aborts the request in flight for the old key, and an answer
 * for a key that is no longer current is dropped (a stale response never overwrites a newer one).
 */
function load(name, key, fetcher) {
  const old = slots.get(name);
  if (old && old.key === key) return old;
  if (old && old.ctrl) old.ctrl.abort();
  const ctrl = new AbortController();
  const slot = { key, data: null, error: null, pending: true, ctrl };
  slots.set(name, slot);
  ui.inflight++;
  setBusy();
  fetcher(ctrl.signal)
    .then((data) => {
      if (slots.get(name) === slot) {
        slot.data = data;
        ui.last[name] = data;
      }
    })
    .catch((err) => {
      if (slots.get(name) === slot && err.name !== "AbortError") slot.error = err.message || String(err);
    })
    .finally(() => {
      ui.inflight--;
      if (slots.get(name) === slot) {
        slot.pending = false;
        slot.ctrl = null;
        scheduleRefresh();
      }
      setBusy();
    });
  return slot;
}

/** What the slot has to show: its own answer, or (while loading) the previous one. */
function shown(slot, name) {
  if (!slot) return { data: null, error: null, pending: false };
  if (slot.error) return { data: null, error: slot.error, pending: false };
  return { data: slot.data || (slot.pending ? ui.last[name] || null : null), error: null, pending: slot.pending };
}

// ----------------------------------------------------------------------------------- helpers

function currentModel() {
  return ui.byName.get(state.model) || ui.byName.get(ui.models && ui.models.default) || null;
}

function baseParams() {
  const m = currentModel();
  return { text: state.text, model: m ? m.name : undefined, positions: state.positions, scale: state.scale, ablate: state.ablate };
}

function showError(message) {
  const el = $("error");
  el.textContent = message || "";
  el.hidden = !message;
}

function formatParams(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

function modelLabel(m) {
  return `${m.name} · ${m.kind} · ${formatParams(m.params)} params · ${m.positional}` + (m.available ? "" : " (not installed)");
}

/**
 * The analysis as the attention view shows it: with "hide special tokens" on, the rows and columns of the
 * special tokens ([CLS], [SEP], BOS) are left out, picked by index from the API's data (no new numbers).
 * Each kept token gets `index` (its index in the API's data) and `hidden` lists the tokens left out.
 */
function visibleAnalysis(a) {
  if (!state.hidespecial || !a) return a;
  const keep = [];
  a.tokens.forEach((t, i) => { if (!t.special) keep.push(i); });
  if (keep.length === a.tokens.length || keep.length === 0) return a;
  if (ui.sliced && ui.sliced.from === a) return ui.sliced.view;
  const pick = (m) => keep.map((i) => keep.map((j) => m[i][j])); // [query][key] -> [kept query][kept key]
  const view = {
    ...a,
    tokens: keep.map((i) => ({ ...a.tokens[i], index: i })),
    hidden: a.tokens.filter((t) => t.special),
    attention: a.attention.map((heads) => heads.map(pick)),
    thumbnails: a.thumbnails ? visibleThumbnails(a.thumbnails, keep) : null,
  };
  ui.sliced = { from: a, view };
  return view;
}

/** The thumbnails' rows and columns of the kept tokens (by index; kept, for the same thumbnails, across layers). */
function visibleThumbnails(t, keep) {
  const key = keep.join(",");
  if (ui.slicedThumbs && ui.slicedThumbs.from === t && ui.slicedThumbs.keep === key) return ui.slicedThumbs.thumbs;
  const [nL, nH, n] = t.shape; // [layer, head, query, key]
  const m = keep.length;
  const bytes = new Uint8Array(nL * nH * m * m); // [layer, head, kept query, kept key]
  for (let lh = 0; lh < nL * nH; lh++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) bytes[(lh * m + i) * m + j] = t.bytes[(lh * n + keep[i]) * n + keep[j]];
  const thumbs = { ...t, shape: [nL, nH, m, m], bytes };
  ui.slicedThumbs = { from: t, keep: key, thumbs };
  return thumbs;
}

/** Does this model get the compact /api/analyze (selected layer in full, thumbnails for the rest)? */
const compact = (m) => Boolean(m) && m.n_layers * m.n_heads > COMPACT_ABOVE_HEADS;

/**
 * The analysis slot. Small models: every layer at full precision, once per sentence. Large models: the selected
 * layer at full precision, and the 8-bit thumbnails of every head only when this sentence has none yet (a new
 * layer asks for that layer alone and reuses them).
 */
function loadAnalysis(model, base, baseKey) {
  const tag = (a) => {
    ui.baseOf.set(a, baseKey);
    return a;
  };
  if (!compact(model)) return load("analyze", baseKey, (signal) => timed(model, api.analyze({ ...base, top_k: 10 }, signal)).then(tag));
  const layer = state.layer;
  const have = ui.thumbs && ui.thumbs.key === baseKey ? ui.thumbs.thumbnails : null;
  return load("analyze", `${baseKey}|layer ${layer}`, (signal) => {
    const request = api.analyze({ ...base, top_k: 10, layers: [layer], thumbnails: !have }, signal);
    // only a new sentence's answer is timed: another layer of the same sentence is the server's cached pass
    return (have ? request : timed(model, request)).then((a) => {
      if (a.thumbnails) ui.thumbs = { key: baseKey, thumbnails: a.thumbnails };
      else a.thumbnails = have;
      return tag(a);
    });
  });
}

/** Note how long the model took to analyse a new sentence (the typing pause follows it). */
function timed(model, request) {
  const start = performance.now();
  return request.then((a) => {
    if (model) ui.analyzeMs.set(model.name, performance.now() - start);
    return a;
  });
}

/** The pause after a keystroke: the current model's last analysis time, within TEXT_DEBOUNCE_MS's bounds. */
function typingPause() {
  const m = currentModel();
  const ms = (m && ui.analyzeMs.get(m.name)) || 0;
  return Math.min(TEXT_DEBOUNCE_MS.max, Math.max(TEXT_DEBOUNCE_MS.min, ms));
}

/** The API index of each token the strip and the attention plots show. */
const shownIndices = (view) => view.tokens.map((t, i) => (Number.isInteger(t.index) ? t.index : i));

/** Forget what every plot was drawn from, so that the next refresh redraws them (e.g. presenter mode). */
function invalidatePlots() {
  ui.rendered = new WeakMap();
  for (const fig of document.querySelectorAll("figure.panel")) fig._deps = null;
}

/** Was `el` last drawn from exactly these inputs? */
function same(el, deps) {
  const prev = ui.rendered.get(el);
  return Boolean(prev && prev.length === deps.length && prev.every((d, i) => d === deps[i]));
}

/** Has `el` already been drawn from exactly these inputs? (then skip redrawing it; else they are recorded) */
function unchanged(el, deps) {
  if (same(el, deps)) return true;
  ui.rendered.set(el, deps);
  return false;
}

/**
 * Performance marks for benchmarks (tests/benchmarks/browser.py), the latest of each name kept:
 * `attnlab:input` (a keystroke in the sentence; detail {text}), `attnlab:heatmap` and `attnlab:grid` (that plot
 * drawn; detail {text, model, layer, head}: what it shows).
 */
function mark(name, detail) {
  performance.clearMarks(name);
  performance.mark(name, { detail });
}

/** mark(name, detail) once a plot's drawing (a Plotly.react promise, or nothing) is done. */
function marked(drawing, name, detail) {
  Promise.resolve(drawing).then(() => mark(name, detail), () => {});
}

// ----------------------------------------------------------------------------------- inputs <- state

function fillSelect(select, count, prefix) {
  if (select.options.length !== count) {
    select.replaceChildren(...[...Array(count).keys()].map((i) => new Option(`${prefix}${i}`, String(i))));
  }
}

function syncInputs() {
  const text = $("text");
  if (ui.debounce === null && document.activeElement !== text && text.value !== state.text) text.value = state.text;
  const m = currentModel();
  if (m) $("model").value = m.name;
  $("positions").value = state.positions;
  $("scale").checked = state.scale;
  $("hide-special").checked = state.hidespecial;
  $("present").setAttribute("aria-pressed", state.present ? "true" : "false");
  if (ui.presenting !== state.present) {
    const first = ui.presenting === null;
    ui.presenting = state.present;
    document.body.classList.toggle("presenter", state.present);
    if (!first) invalidatePlots(); // the plots' text is sized when they are drawn
  }
  if (m) {
    fillSelect($("layer"), m.n_layers, "");
    fillSelect($("head"), m.n_heads, "");
    $("model-info").textContent = $("model-info").title =
      `${m.title}: ${m.kind}, ${m.n_layers} layers × ${m.n_heads} heads` +
      (m.n_kv_heads !== m.n_heads ? ` (${m.n_kv_heads} K/V heads)` : "") +
      `, d_model ${m.d_model}, d_head ${m.d_head}, ${m.positional} positions, ${formatParams(m.params)} parameters, ` +
      `reads at most ${m.max_tokens} tokens. Trained on: ${m.source || "—"}` + (m.licence ? ` (${m.licence})` : "") + ".";
  }
  $("layer").value = String(state.layer);
  $("head").value = String(state.head);
  const list = $("ablated");
  list.replaceChildren();
  for (const [l, h] of state.ablate) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.layer = String(l);
    chip.dataset.head = String(h);
    chip.title = "restore this head";
    chip.textContent = `L${l} H${h} ×`;
    list.append(chip);
  }
  if (!state.ablate.length) list.textContent = "none";
  $("ablate-clear").hidden = !state.ablate.length;
  $("ablate-mode").setAttribute("aria-pressed", ui.ablateMode ? "true" : "false");
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    const on = tab.dataset.view === state.view;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
  }
  $("selection").dataset.for = state.view;
}

/** Keep layer, head and ablations inside the chosen model. */
function normalize() {
  const m = currentModel();
  if (!m) return false;
  const patch = {};
  if (state.model !== m.name) patch.model = m.name;
  if (state.layer >= m.n_layers) patch.layer = 0;
  if (state.head >= m.n_heads) patch.head = 0;
  const ablate = state.ablate.filter(([l, h]) => l < m.n_layers && h < m.n_heads);
  if (ablate.length !== state.ablate.length) patch.ablate = ablate;
  if (Object.keys(patch).length) {
    update(patch);
    return true;
  }
  return false;
}

// ----------------------------------------------------------------------------------- refresh

function scheduleRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  setBusy();
  requestAnimationFrame(() => {
    refreshQueued = false;
    try {
      refresh();
    } finally {
      setBusy();
    }
  });
}

/** The query token: the hovered one, else the clicked one, else the last one shown (an API index). */
function effectiveToken(n, shown) {
  const t = ui.hover !== null ? ui.hover : state.token;
  if (t === null || t >= n || (shown && !shown.includes(t))) return shown && shown.length ? shown[shown.length - 1] : n - 1;
  return t;
}

function refresh() {
  if (!ui.models) return;
  if (normalize()) return; // the state changed: the listener schedules another refresh
  syncInputs();
  const model = currentModel();
  const base = baseParams();
  const baseKey = JSON.stringify(base);
  const an = loadAnalysis(model, base, baseKey);
  showError(an.error || ui.notice);
  const analysis = an.data || ui.last.analyze || null;
  const current = Boolean(an.data);
  // while only another layer of this sentence is on its way, the tokens shown are this sentence's
  const sameText = current || (analysis && ui.baseOf.get(analysis) === baseKey);
  for (const s of document.querySelectorAll("main .view")) s.hidden = s.dataset.view !== state.view;
  $("empty").hidden = Boolean(analysis);
  if (!analysis) {
    $("empty").textContent = an.pending ? "Computing…" : "Nothing to show yet: the sentence above could not be analysed.";
    tokensView.render($("tokens"), { tokens: [] }, { token: null, pinned: null });
    legendView.render($("token-legend"), null);
    return;
  }
  const n = analysis.tokens.length;
  const view = visibleAnalysis(analysis);
  const tok = effectiveToken(n, shownIndices(view));
  tokensView.render($("tokens"), { tokens: view.tokens, stale: !sameText }, { token: tok, pinned: state.token === null ? null : Math.min(state.token, n - 1) });
  legendView.render($("token-legend"), { tokens: view.tokens, unseen: analysis.unseen_characters, model: analysis.model });
  $("query-label").textContent = `${tok} “${analysis.tokens[tok].display}”`;
  if (!current) return; // wait for this sentence's analysis before asking the views' questions
  const section = document.querySelector(`main .view[data-view="${state.view}"]`);
  let ready = false;
  try {
    ready = VIEW_RENDER[state.view](section, { analysis, view, model, base, baseKey, tok, text: base.text });
    $("empty").hidden = true;
  } catch (err) {
    // a drawing bug must not leave a blank page: say what failed
    $("empty").hidden = false;
    $("empty").textContent = `This view could not be drawn: ${err.message}`;
    console.error(err);
    ready = true;
  }
  section.dataset.state = ready ? "ready" : "loading";
}

const VIEW_RENDER = {
  attention(section, { analysis, view, tok, text }) {
    // the heatmap, the links and the grid draw `view` (without special tokens when they are hidden):
    // their token positions are positions in view.tokens
    const pos = shownIndices(view).indexOf(tok);
    const vs = { ...state, token: pos < 0 ? null : pos };
    const causal = Boolean(analysis.causal); // from the API: the mask the model used
    const what = { text, model: analysis.model, layer: state.layer, head: state.head };
    const hm = $("attn-heatmap");
    const hmDeps = [view, state.layer, state.head, pos, state.ablate, Math.round(hm.clientWidth / 40)];
    const ln = $("attn-lines");
    const lnDeps = [view, state.layer, state.head, pos];
    const gr = $("attn-grid");
    // the grid draws every head: from the thumbnails when the answer has them (they stay the same while only the
    // selected layer changes), else from the full attention
    const grDeps = [view.thumbnails || view.attention, state.layer, state.head, state.ablate, ui.ablateMode, Math.round(gr.clientWidth / 20)];
    const hs = $("attn-heads");
    const hsDeps = [analysis, state.layer, state.head, Math.round(hs.clientWidth / 40)];
    // one plot per frame, each on screen before the next is drawn: the heatmap first, then the grid
    const todo = [
      [hm, hmDeps, () => marked(heatmapView.render(hm, { analyze: view, causal }, vs), "attnlab:heatmap", what)],
      [gr, grDeps, () => marked(gridView.render(gr, { analyze: view, causal, ablateMode: ui.ablateMode }, vs), "attnlab:grid", what)],
      [ln, lnDeps, () => linesView.render(ln, { analyze: view }, vs)],
      [hs, hsDeps, () => headsView.render(hs, { analyze: analysis, specialHidden: view !== analysis }, vs)],
    ].filter(([el, deps]) => !same(el, deps));
    if (!todo.length) return true;
    const [el, deps, drawIt] = todo[0];
    ui.rendered.set(el, deps);
    drawIt();
    if (todo.length === 1) return true;
    scheduleRefresh();
    return false;
  },

  arithmetic(section, { base, baseKey, tok }) {
    const key = `${baseKey}|${state.layer}|${state.head}|${tok}`;
    const s = load("explain", key, (signal) => api.explain({ ...base, layer: state.layer, head: state.head, query: tok }, signal));
    const v = shown(s, "explain");
    if (!unchanged(section, [v.data, v.error])) explainView.render(section, { explain: v.data, error: v.error }, { ...state, token: tok });
    return !v.pending;
  },

  qkv(section, { base, baseKey, tok }) {
    const key = `${baseKey}|${state.layer}|${state.head}`;
    const s = load("qkv", key, (signal) => api.qkv({ ...base, layer: state.layer, head: state.head }, signal));
    const v = shown(s, "qkv");
    if (!unchanged(section, [v.data, v.error, tok])) qkvView.render(section, { qkv: v.data, error: v.error }, { ...state, token: tok });
    return !v.pending;
  },

  embeddings(section, { analysis, model, base, baseKey, tok }) {
    const e = load("embeddings", baseKey, (signal) => api.embeddings(base, signal));
    // a typed word, else the selected token by its id (so BOS and partial-byte tokens work too)
    const id = analysis.tokens[tok].id;
    const nb = state.word
      ? load("neighbors", `${model.name}|w|${state.word}`, (signal) => api.neighbors({ word: state.word, k: 10, model: model.name }, signal))
      : load("neighbors", `${model.name}|#${id}`, (signal) => api.neighbors({ token_id: id, k: 10, model: model.name }, signal));
    const haveAnalogy = state.a && state.b && state.c;
    const an = haveAnalogy
      ? load("analogy", `${model.name}|${state.a}|${state.b}|${state.c}`, (signal) =>
          api.analogy({ model: model.name, a: state.a, b: state.b, c: state.c, k: 10 }, signal))
      : null;
    const ve = shown(e, "embeddings");
    const vn = shown(nb, "neighbors");
    const va = an ? shown(an, "analogy") : { data: null, error: "Type three words: a − b + c." };
    const deps = [ve.data, ve.error, vn.data, vn.error, va.data, va.error, tok, state.depth, state.metric, state.word, state.a, state.b, state.c];
    if (!unchanged(section, deps)) {
      embeddingsView.render(section, { emb: ve.data, error: ve.error, neighbors: vn, analogy: va }, { ...state, token: tok });
    }
    return !(ve.pending || vn.pending || (va && va.pending));
  },

  positional(section, { analysis, model, base, baseKey }) {
    const why = model.unavailable_views || {};
    let encoding;
    if (why.positional) encoding = { unavailable: why.positional };
    else {
      const n = model.positional === "sinusoidal" ? state.pn : Math.min(state.pn, model.max_tokens);
      const s = load("positional", `${model.name}|${n}`, (signal) => api.positional({ n, model: model.name }, signal));
      encoding = shown(s, "positional");
    }
    const side = (positions) => ({ ...base, positions });
    // only the selected layer and head: the API sends that slice (with `layers` and `heads` naming it)
    const one = { layer: state.layer, head: state.head };
    const cmpKey = `${baseKey}|${state.layer}|${state.head}`;
    const cr = load("cmp-removed", cmpKey, (signal) => api.compare({ a: side("normal"), b: side("removed"), ...one }, signal));
    const cs = load("cmp-shuffled", cmpKey, (signal) => api.compare({ a: side("normal"), b: side("shuffled"), ...one }, signal));
    let decompose;
    if (why.decompose) decompose = { unavailable: why.decompose };
    else {
      const s = load("decompose", `${baseKey}|${state.head}`, (signal) => api.decompose({ ...base, layer: 0, head: state.head }, signal));
      decompose = shown(s, "decompose");
    }
    const models = [];
    for (const name of TINY) {
      const m = ui.byName.get(name);
      if (!m) continue;
      const entry = { name, positional: m.positional };
      if (!m.available) {
        models.push({ ...entry, error: `${name} is not installed${m.install ? `: ${m.install}` : "."}` });
        continue;
      }
      const params = { text: state.text, model: name, positions: state.positions, scale: state.scale, top_k: 1 };
      const s = load(`m-${name}`, JSON.stringify(params), (signal) => api.analyze(params, signal));
      models.push({ ...entry, ...shown(s, `m-${name}`) });
    }
    const compare = { removed: shown(cr, "cmp-removed"), shuffled: shown(cs, "cmp-shuffled") };
    const deps = [encoding.data, encoding.error, compare.removed.data, compare.removed.error, compare.shuffled.data, compare.shuffled.error,
      decompose.data, decompose.error, ...models.flatMap((m) => [m.data, m.error]), state.layer, state.head, state.pn, model];
    if (!unchanged(section, deps)) {
      positionalView.render(section, { causal: Boolean(analysis.causal), current: model.name, encoding, compare, decompose, models }, state);
    }
    return ![encoding, compare.removed, compare.shuffled, decompose, ...models].some((v) => v.pending);
  },

  predictions(section, { model, base, baseKey }) {
    const why = (model.unavailable_views || {}).predict;
    if (why) {
      if (!unchanged(section, [why])) predictView.render(section, { unavailable: why }, state);
      return true;
    }
    const s = load("predict", `${baseKey}|${state.temp}`, (signal) => api.predict({ ...base, top_k: 10, temperature: state.temp }, signal));
    const v = shown(s, "predict");
    if (!unchanged(section, [v.data, v.error, ui.note])) predictView.render(section, { predict: v.data, error: v.error, note: ui.note }, state);
    return !v.pending;
  },
};

// ----------------------------------------------------------------------------------- actions

async function continueText() {
  const base = baseParams();
  ui.note = "continuing…";
  scheduleRefresh();
  ui.inflight++;
  setBusy();
  try {
    const r = await api.predict({ ...base, top_k: 1, temperature: state.temp, continue_tokens: CONTINUE_TOKENS });
    if (state.text !== base.text) return; // the sentence changed meanwhile
    ui.note = r.stopped ? `Stopped: ${r.stopped}.` : `Added ${r.continuation_tokens ? r.continuation_tokens.length : 0} tokens (greedy: the top token each time).`;
    if (r.continuation) update({ text: state.text + r.continuation });
  } catch (err) {
    ui.note = "";
    showError(err.message);
  } finally {
    ui.inflight--;
    setBusy();
    scheduleRefresh();
  }
}

// ----------------------------------------------------------------------------------- wiring

function wire() {
  const text = $("text");
  text.addEventListener("input", () => {
    mark("attnlab:input", { text: text.value });
    clearTimeout(ui.debounce);
    ui.debounce = setTimeout(() => {
      ui.debounce = null;
      ui.note = "";
      update({ text: text.value });
      setBusy();
    }, typingPause());
    setBusy();
  });
  text.addEventListener("keydown", (ev) => {
    // Enter runs the sentence now; Shift+Enter types a line break
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("input-form").requestSubmit();
    }
  });
  $("input-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearTimeout(ui.debounce);
    ui.debounce = null;
    update({ text: text.value });
    setBusy();
  });
  $("model").addEventListener("change", (ev) => update({ model: ev.target.value }));
  $("positions").addEventListener("change", (ev) => update({ positions: ev.target.value }));
  $("scale").addEventListener("change", (ev) => update({ scale: ev.target.checked }));
  $("hide-special").addEventListener("change", (ev) => update({ hidespecial: ev.target.checked }));
  $("present").addEventListener("click", () => update({ present: !state.present }));
  $("layer").addEventListener("change", (ev) => update({ layer: Number(ev.target.value) }));
  $("head").addEventListener("change", (ev) => update({ head: Number(ev.target.value) }));
  $("ablate-mode").addEventListener("click", () => {
    ui.ablateMode = !ui.ablateMode;
    syncInputs();
    scheduleRefresh();
  });
  $("ablate-clear").addEventListener("click", () => update({ ablate: [] }));
  $("ablated").addEventListener("click", (ev) => {
    const chip = ev.target.closest("button.chip");
    if (chip) update({ ablate: toggledAblate(Number(chip.dataset.layer), Number(chip.dataset.head)) });
  });
  for (const btn of document.querySelectorAll("button.example")) {
    btn.addEventListener("click", () => {
      clearTimeout(ui.debounce);
      ui.debounce = null;
      text.value = btn.dataset.text;
      ui.note = "";
      update({ text: btn.dataset.text, token: null });
    });
  }
  $("copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $("status").textContent = "link copied";
    } catch {
      $("status").textContent = "copy the address bar: it holds this view";
    }
  });

  // token strip: hover previews a query, click selects it; arrow keys move the selection
  const strip = $("tokens");
  const indexOf = (ev) => {
    const chip = ev.target.closest && ev.target.closest(".tok");
    return chip ? Number(chip.dataset.index) : null;
  };
  strip.addEventListener("mouseover", (ev) => {
    const i = indexOf(ev);
    if (i !== null && i !== ui.hover) {
      ui.hover = i;
      scheduleRefresh();
    }
  });
  strip.addEventListener("mouseleave", () => {
    if (ui.hover !== null) {
      ui.hover = null;
      scheduleRefresh();
    }
  });
  strip.addEventListener("click", (ev) => {
    const i = indexOf(ev);
    if (i !== null) {
      ui.hover = null;
      update({ token: i });
    }
  });
  strip.addEventListener("keydown", (ev) => {
    // one tab stop for the strip; Left/Right/Home/End move the selection (Enter/Space: a click selects it)
    const chip = ev.target.closest && ev.target.closest(".tok");
    if (!chip || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    const chips = [...strip.querySelectorAll(".tok")];
    const at = chips.indexOf(chip);
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: chips.length - 1 }[ev.key];
    const next = chips[Math.max(0, Math.min(chips.length - 1, to))];
    if (next && next !== chip) {
      next.tabIndex = 0;
      chip.tabIndex = -1;
      next.focus();
      ui.hover = null;
      update({ token: Number(next.dataset.index) });
    }
  });

  // tabs
  const tabs = document.querySelector(".tabs");
  tabs.addEventListener("click", (ev) => {
    const tab = ev.target.closest("[role=tab]");
    if (tab) update({ view: tab.dataset.view }, { history: "push" });
  });
  tabs.addEventListener("keydown", (ev) => {
    // a tablist: one tab stop; Left/Right/Home/End move between the tabs (Enter/Space: a click)
    const tab = ev.target.closest("[role=tab]");
    if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    const i = VIEWS.indexOf(tab.dataset.view);
    const to = { ArrowLeft: i + VIEWS.length - 1, ArrowRight: i + 1, Home: 0, End: VIEWS.length - 1 }[ev.key] % VIEWS.length;
    update({ view: VIEWS[to] }, { history: "push" });
    tabs.querySelector(`[data-view="${VIEWS[to]}"]`).focus();
  });

  // the keyboard, anywhere outside a text field: arrows move the layer (up/down) and head (left/right),
  // `p` switches presenter mode
  document.addEventListener("keydown", onKey);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(scheduleRefresh, 150); // the grid's height follows its width
  });

  // requests from the views
  document.addEventListener("attnlab:state", (ev) => {
    const { patch, history, ablate } = ev.detail;
    if (ablate && (ui.ablateMode || ablate.modifier)) update({ ablate: toggledAblate(ablate.layer, ablate.head) });
    else update(patch, { history });
  });
  document.addEventListener("attnlab:action", (ev) => {
    if (ev.detail.name === "continue") continueText();
  });

  window.addEventListener("popstate", () => readURL());
  subscribe(() => {
    syncInputs();
    scheduleRefresh();
  });
}

/** Keys typed into these are theirs: a text box, a list, a slider. */
function isTextField(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["checkbox", "button", "submit", "reset"].includes(el.type);
}

const LAYER_HEAD_VIEWS = ["attention", "arithmetic", "qkv", "positional"]; // the views that show one layer and head
const ARROWS = { ArrowUp: ["layer", -1], ArrowDown: ["layer", 1], ArrowLeft: ["head", -1], ArrowRight: ["head", 1] };

function onKey(ev) {
  if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.isComposing || isTextField(ev.target)) return;
  if ((ev.key === "p" || ev.key === "P") && !ev.repeat) {
    ev.preventDefault();
    update({ present: !state.present });
    return;
  }
  const move = ARROWS[ev.key];
  const m = currentModel();
  if (!move || ev.shiftKey || !m || !LAYER_HEAD_VIEWS.includes(state.view)) return;
  ev.preventDefault(); // the arrows move the selection here, not the page
  const [key, step] = move;
  const count = key === "layer" ? m.n_layers : m.n_heads;
  const next = Math.max(0, Math.min(count - 1, state[key] + step));
  if (next !== state[key]) update({ [key]: next });
}

async function start() {
  readURL();
  wire();
  $("text").value = state.text;
  syncInputs();
  try {
    const list = await api.models();
    ui.models = list;
    ui.byName = new Map(list.models.map((m) => [m.name, m]));
    const select = $("model");
    select.replaceChildren(
      ...list.models.map((m) => {
        const opt = new Option(modelLabel(m), m.name);
        opt.disabled = !m.available;
        opt.title = m.available ? m.title : `not installed: ${m.install || ""}`;
        return opt;
      }),
    );
    if (state.model && !ui.byName.has(state.model)) {
      ui.notice = `There is no model named “${state.model}”; showing ${list.default} instead.`;
      update({ model: list.default });
    } else if (!state.model) {
      update({ model: list.default });
    }
  } catch (err) {
    showError(`Could not load the list of models: ${err.message}`);
    setBusy();
    return;
  }
  scheduleRefresh();
}

start();
