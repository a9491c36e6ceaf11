// Guided lessons: the lesson panel's controller. The lessons are data (frontend/lessons/*.md, served parsed by
// GET /api/lessons); a step puts the page in a state (sentence, model, view, selection, interventions) through
// state.js, like any other control, and its text quotes live numbers: each {{placeholder}} names a value in
// an API answer (lesson-template.js), fetched here for the page's current state, so the numbers stay true
// when the student edits the sentence or changes the selection. The URL names the lesson and the step.
import * as api from "./api.js";
import * as T from "./lesson-template.js";
import { DEFAULTS, state, subscribe, update } from "./state.js";
import * as lessonView from "./views/lesson.js";
import "./classroom.js";

// the URL as the page was opened (before main.js rewrites it): a link with only lesson=&step= applies the
// step's settings; a full copied link (with text=) is restored as it is
const INITIAL = new URLSearchParams(location.search);
const CACHE_SIZE = 80;

const $ = (id) => document.getElementById(id);
const L = {
  list: null, // GET /api/lessons
  models: null, // GET /api/models
  error: null,
  open: false, // the panel is shown
  pendingToken: null, // {word, text, model}: the step's query token, named by a word, to find once the tokens arrive
  answers: new Map(), // question key -> the index the student clicked (-1: "just show me")
  cache: new Map(), // request key -> {data, error, pending}
  queued: false,
};

// ----------------------------------------------------------------------------------- data

function fetchOnce(key, fetcher) {
  const hit = L.cache.get(key);
  if (hit) {
    L.cache.delete(key); // most recently used last
    L.cache.set(key, hit);
    return hit;
  }
  const entry = { data: null, error: null, pending: true };
  L.cache.set(key, entry);
  while (L.cache.size > CACHE_SIZE) L.cache.delete(L.cache.keys().next().value);
  fetcher()
    .then((data) => { entry.data = data; })
    .catch((err) => { entry.error = err.message || String(err); })
    .finally(() => {
      entry.pending = false;
      schedule();
    });
  return entry;
}

function modelInfo(name) {
  if (!L.models) return null;
  const byName = (n) => L.models.models.find((m) => m.name === n) || null;
  return name ? byName(name) : byName(state.model) || byName(L.models.default);
}

function parseBool(v) {
  return !["0", "false", "off", "no"].includes(String(v).toLowerCase());
}

function parseAblate(v) {
  if (!v || v === "none") return [];
  return v.split("+").map((p) => p.split(".").map(Number)).filter((p) => p.length === 2 && p.every(Number.isInteger));
}

function effective(token, n) {
  return token === null || token === undefined || token >= n ? n - 1 : token;
}

/** The settings a source is asked with: the page's state, with a placeholder's overrides. */
function context(overrides) {
  const m = modelInfo(overrides.model);
  if (!m) return { error: overrides.model ? `there is no model “${overrides.model}”` : "the models are loading", pending: !overrides.model };
  if (!m.available) return { error: `${m.name} is not installed` };
  const base = {
    text: state.text, model: m.name,
    positions: overrides.positions ?? state.positions,
    scale: overrides.scale !== undefined ? parseBool(overrides.scale) : state.scale,
    ablate: overrides.ablate !== undefined ? parseAblate(overrides.ablate) : state.ablate,
  };
  return {
    m, base,
    layer: overrides.layer !== undefined ? Number(overrides.layer) : state.layer,
    head: overrides.head !== undefined ? Number(overrides.head) : state.head,
    token: overrides.token !== undefined ? Number(overrides.token) : state.token,
    temp: overrides.temp !== undefined ? Number(overrides.temp) : state.temp,
  };
}

/** {data, error, pending} of one source (e.g. "explain" with overrides {model: "tiny-nope"}). */
function source(name, overrides = {}) {
  const c = context(overrides);
  if (c.error || c.pending) return { data: null, error: c.pending ? null : c.error, pending: Boolean(c.pending) };
  const { m, base } = c;
  const k = (...parts) => JSON.stringify([name, ...parts]);
  const analysis = () => fetchOnce(JSON.stringify(["analyze", base]), () => api.analyze({ ...base, top_k: 10 }));
  const withTokens = (make) => {
    const a = analysis();
    if (!a.data) return a;
    return make(a.data.tokens);
  };
  switch (name) {
    case "analyze":
      return analysis();
    case "model":
      return { data: m, error: null, pending: false };
    case "state":
      return withTokens((tokens) => ({ data: { ...state, model: m.name, token: effective(c.token, tokens.length), layer: c.layer, head: c.head, temp: c.temp }, error: null, pending: false }));
    case "explain":
      return withTokens((tokens) => {
        const query = effective(c.token, tokens.length);
        return fetchOnce(k(base, c.layer, c.head, query), () => api.explain({ ...base, layer: c.layer, head: c.head, query }));
      });
    case "qkv":
      return fetchOnce(k(base, c.layer, c.head), () => api.qkv({ ...base, layer: c.layer, head: c.head }));
    case "predict":
      return fetchOnce(k(base, c.temp), () => api.predict({ ...base, top_k: 10, temperature: c.temp }));
    case "embeddings":
      return fetchOnce(k(base), () => api.embeddings(base));
    case "neighbors":
      return withTokens((tokens) => {
        const word = state.word || tokens[effective(c.token, tokens.length)].display.replace(/␣/g, " ").trim();
        if (!word) return { data: null, error: "the selected token has no word to look up", pending: false };
        return fetchOnce(k(m.name, word), () => api.neighbors({ word, k: 10, model: m.name }));
      });
    case "analogy":
      return fetchOnce(k(m.name, state.a, state.b, state.c), () => api.analogy({ model: m.name, a: state.a, b: state.b, c: state.c, k: 10 }));
    case "positional": {
      const n = m.positional === "sinusoidal" ? state.pn : Math.min(state.pn, m.max_tokens);
      return fetchOnce(k(m.name, n), () => api.positional({ n, model: m.name }));
    }
    case "decompose": {
      const layer = overrides.layer !== undefined ? c.layer : 0; // the positional view splits layer 0's scores
      return fetchOnce(k(base, layer, c.head), () => api.decompose({ ...base, layer, head: c.head }));
    }
    default:
      return { data: null, error: `unknown source ${name}`, pending: false };
  }
}

/** A placeholder's text for the panel: {text, expr, src, path, fmt, kind} or {pending} or {error}. */
function evaluate(raw) {
  let p;
  try {
    p = T.parse(raw);
  } catch (err) {
    return { error: err.message };
  }
  const s = source(p.source, p.overrides);
  if (s.pending) return { pending: true };
  if (s.error) return { error: s.error };
  const c = context(p.overrides);
  const base = source("analyze", p.overrides.model ? { model: p.overrides.model } : {});
  try {
    const { value, path } = T.resolve(s.data, p.segments, {
      layer: c.layer, head: c.head, token: c.token, depth: state.depth, tokens: base.data ? base.data.tokens : null,
    });
    return { text: T.format(value, p.format), expr: p.expr, src: p.spec, path, fmt: p.format, kind: typeof value };
  } catch (err) {
    return { error: err.message };
  }
}

// ----------------------------------------------------------------------------------- questions

const PROMPTS = {
  "top-key": "In layer {{layer}}, head {{head}}: which word will **{{query}}** attend to most?",
  "next-word": "Which token will the model put first after this sentence?",
};

function question(lesson, step) {
  if (!step.ask) return null;
  const kind = step.ask.kind;
  const prompt = step.ask.prompt || PROMPTS[kind];
  const srcName = kind === "top-key" ? "explain" : "predict";
  const s = source(srcName);
  const q = { kind, prompt, choices: [], chosen: null, answer: null, reveal: "", pending: s.pending, error: s.error };
  if (!s.data) return q;
  const d = s.data;
  const key = JSON.stringify([lesson.id, step.number, kind, state.text, d.model, state.layer, state.head, state.token, state.positions, state.scale, state.ablate, state.temp]);
  q.key = key;
  if (kind === "top-key") {
    d.tokens.forEach((t, i) => {
      if (!d.mask[i] && !t.special) q.choices.push({ index: i, label: T.wordOf(t.display) });
    });
    if (!q.choices.length) return { ...q, error: "This query sees no word but itself." };
    q.answer = d.tokens.reduce((best, t, i) => (!t.special && !d.mask[i] && (best < 0 || d.weights[i] > d.weights[best]) ? i : best), -1);
  } else {
    const top = d.predictions.slice(0, 4).map((p, i) => ({ index: i, label: T.wordOf(p.display), id: p.id }));
    q.choices = top.sort((x, y) => x.id - y.id); // an order that gives nothing away
    q.answer = 0;
  }
  const chosen = L.answers.has(key) ? L.answers.get(key) : null;
  q.chosen = chosen;
  if (chosen !== null) {
    const right = chosen === q.answer;
    if (kind === "top-key") {
      q.reveal = `The model: **{{top_word_key}}** gets {{top_word_key_weight}} of the attention of **{{query}}** ` +
        "(the start token, where a head parks what it does not need, gets {{first_token_weight}}).\n\n" +
        (chosen < 0 ? "" : right ? "✓ You predicted it." : `✗ You chose **{{explain.tokens.${chosen}.display}}**: it gets {{explain.weights.${chosen}}}.`);
    } else {
      q.reveal = "The model’s top guess: **{{top_next}}**, with probability {{top_next_prob}}.\n\n" +
        (chosen < 0 ? "" : right ? "✓ You predicted it." : `✗ You chose **{{predict.predictions.${chosen}.display}}**: probability {{predict.predictions.${chosen}.prob}}.`);
    }
  }
  return q;
}

// ----------------------------------------------------------------------------------- steps

function find(id) {
  return (L.list && L.list.lessons.find((l) => l.id === id)) || null;
}

function clampStep(lesson, n) {
  return Math.min(Math.max(1, n || 1), lesson.steps.length);
}

/** Put the page where step `n` of `lesson` says. */
function enterStep(lesson, n, { history = "push" } = {}) {
  const step = lesson.steps[clampStep(lesson, n) - 1];
  const s = step.settings;
  const model = s.model && modelInfo(s.model) ? s.model : (L.models ? L.models.default : state.model);
  L.pendingToken = typeof s.token === "string" ? { word: s.token, text: s.text, model } : null;
  L.open = true;
  update({
    lesson: lesson.id, step: step.number, text: s.text, model, view: s.view, layer: s.layer, head: s.head,
    token: typeof s.token === "number" ? s.token : null,
    positions: s.positions, scale: s.scale, ablate: s.ablate,
    temp: s.temp ?? DEFAULTS.temp, word: s.word ?? DEFAULTS.word, a: s.a ?? DEFAULTS.a, b: s.b ?? DEFAULTS.b, c: s.c ?? DEFAULTS.c,
    depth: s.depth ?? DEFAULTS.depth, metric: s.metric ?? DEFAULTS.metric, pn: s.pn ?? DEFAULTS.pn,
  }, { history });
  const text = $("text");
  if (text && document.activeElement !== text) text.value = s.text;
  schedule();
}

/** The step named the query token by a word: find it once this sentence's tokens are in. */
function resolveToken() {
  const p = L.pendingToken;
  if (!p) return false;
  if (state.text !== p.text || (modelInfo() && modelInfo().name !== p.model)) {
    L.pendingToken = null; // the student moved on before the tokens arrived
    return false;
  }
  const a = source("analyze");
  if (a.pending) return true;
  L.pendingToken = null;
  if (!a.data) return false;
  try {
    const { path } = T.resolve(a.data.tokens, [`#${p.word}`], { tokens: a.data.tokens });
    update({ token: path[0] });
  } catch {
    /* not in this sentence: the last token stays selected */
  }
  return false;
}

// ----------------------------------------------------------------------------------- drawing

function schedule() {
  if (L.queued) return;
  L.queued = true;
  requestAnimationFrame(() => {
    L.queued = false;
    draw();
  });
}

function draw() {
  const panel = $("lesson-panel");
  const toggle = $("lessons-toggle");
  if (document.body.classList.contains("lesson-open") !== L.open) {
    document.body.classList.toggle("lesson-open", L.open);
    window.dispatchEvent(new Event("resize")); // the plots fit the narrower (or wider) page
  }
  panel.hidden = !L.open;
  if (toggle) toggle.setAttribute("aria-expanded", L.open ? "true" : "false");
  if (!L.open || !state.lesson) document.body.classList.remove("lesson-predict");
  if (!L.open) return;
  if (L.error) {
    lessonView.render(panel, { mode: "error", message: `The lessons could not be loaded: ${L.error}` });
    panel.dataset.state = "ready";
    return;
  }
  if (!L.list || !L.models) {
    lessonView.render(panel, { mode: "loading", message: "Loading the lessons…" });
    panel.dataset.state = "loading";
    return;
  }
  const lesson = state.lesson ? find(state.lesson) : null;
  if (!lesson) {
    const key = JSON.stringify(["list", L.list, state.lesson]);
    if (panel._drawn !== key) {
      lessonView.render(panel, { mode: "list", lessons: L.list.lessons, errors: L.list.errors, missing: state.lesson || null });
      panel._drawn = key;
    }
    delete panel.dataset.lesson;
    delete panel.dataset.step;
    panel.dataset.state = "ready";
    return;
  }
  const waiting = resolveToken();
  const step = lesson.steps[clampStep(lesson, state.step) - 1];
  const results = new Map();
  const value = (raw) => {
    if (!results.has(raw)) results.set(raw, waiting ? { pending: true } : evaluate(raw));
    return results.get(raw);
  };
  const q = waiting ? { kind: step.ask && step.ask.kind, prompt: step.ask ? step.ask.prompt || PROMPTS[step.ask.kind] : "", pending: true } : question(lesson, step);
  // evaluate everything first, so that the drawing is skipped when nothing changed
  const texts = [step.body, q ? q.prompt : "", q && q.reveal ? q.reveal : ""];
  for (const t of texts) for (const ph of T.scan(t)) value(ph.raw);
  const pending = waiting || [...results.values()].some((r) => r.pending) || Boolean(q && q.pending);
  const problems = [...new Set([...results.values()].filter((r) => r.error).map((r) => r.error))];
  const key = JSON.stringify([lesson.id, step.number, L.list.lessons.length, [...results.entries()], q && [q.choices, q.chosen, q.answer, q.error, q.pending], problems]);
  if (panel._drawn !== key) {
    const focused = panel.contains(document.activeElement) ? document.activeElement.className : null;
    lessonView.render(panel, {
      mode: "step", lesson, step, total: L.list.lessons.length, value, question: q,
      problems: problems.length ? [`Some numbers of this step could not be read: ${problems.join("; ")}`] : [],
    });
    panel._drawn = key;
    if (focused) {
      const again = panel.querySelector(`[class="${CSS.escape(focused)}"]:not([disabled])`);
      if (again) again.focus();
    }
  }
  // predict, then reveal: the plots stay blurred until the student has guessed
  document.body.classList.toggle("lesson-predict", Boolean(q && !q.error && (q.chosen === null || q.chosen === undefined)));
  panel.dataset.state = pending ? "loading" : "ready";
}

// ----------------------------------------------------------------------------------- wiring

function wire() {
  const panel = $("lesson-panel");
  panel.addEventListener("attnlab:lesson", (ev) => {
    const d = ev.detail;
    if (d.action === "open") {
      const lesson = find(d.id);
      if (lesson) enterStep(lesson, 1);
    } else if (d.action === "step") {
      const lesson = find(state.lesson);
      if (lesson) enterStep(lesson, d.n);
    } else if (d.action === "list") {
      update({ lesson: "", step: 1 }, { history: "push" });
    } else if (d.action === "hide") {
      L.open = false;
    } else if (d.action === "answer") {
      const lesson = find(state.lesson);
      const step = lesson && lesson.steps[clampStep(lesson, state.step) - 1];
      const q = step && question(lesson, step);
      if (q && q.key) L.answers.set(q.key, d.index);
    }
    schedule();
  });
  const toggle = $("lessons-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      L.open = !L.open;
      schedule();
    });
  }
  subscribe((changed) => {
    if (changed.has("lesson") && state.lesson) L.open = true; // a lesson opened by a link, or back / forward
    schedule();
  });
}

async function start() {
  wire();
  const wanted = /^[a-z0-9][a-z0-9-]{0,79}$/.test(INITIAL.get("lesson") || "") ? INITIAL.get("lesson") : "";
  if (wanted) {
    L.open = true;
    schedule();
  }
  try {
    [L.list, L.models] = await Promise.all([api.lessons(), api.models()]);
  } catch (err) {
    L.error = err.message || String(err);
    schedule();
    return;
  }
  if (wanted) {
    const lesson = find(wanted);
    const n = Number(INITIAL.get("step")) || 1;
    if (lesson && !INITIAL.has("text")) enterStep(lesson, n, { history: "replace" });
    else if (lesson) update({ lesson: lesson.id, step: clampStep(lesson, n) });
  }
  schedule();
}

start();
