// Guided lessons: the lesson panel, a thin client of the page's data layer. The lessons are data
// (frontend/lessons/*.md, served parsed by GET /api/lessons); a step puts the page in a state (sentence, model,
// view, selection, interventions) through state.js, like any other control, and its text quotes live numbers:
// each {{placeholder}} names a value of a source (sources.js, the same table the views use), which the data
// layer fetches for the page's state: a step and the explorer showing the same view send one request. The panel is
// drawn in main.js's refresh, in the same frame as the explorer. The URL names the lesson and the step.
import { data } from "./data.js";
import { effectiveToken, keptIndices } from "./derive.js";
import * as T from "./lesson-template.js";
import { DEFAULTS, state, subscribe, update } from "./state.js";
import * as lessonView from "./views/lesson.js";

// the URL as the page was opened (before main.js rewrites it): a link with only lesson=&step= applies the
// step's settings; a full copied link (with text=) is restored as it is
const INITIAL = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const L = {
  page: null, // main.js's page: the models (one /api/models for the whole page)
  schedule: () => {},
  list: null, // GET /api/lessons
  error: null,
  open: false, // the panel is shown
  pendingToken: null, // {word, text, model}: the step's query token, named by a word, to find once the tokens arrive
  answers: new Map(), // question key -> the index the student clicked (-1: "just show me")
};

// ----------------------------------------------------------------------------------- numbers

/** The context a placeholder's source is asked in: the page's, with the placeholder's overrides. */
function contextOf(base, p) {
  let s;
  try {
    s = T.applyOverrides(base.state, p.overrides);
  } catch (err) {
    return { error: err.message };
  }
  const model = L.page.byName.get(s.model) || base.model;
  if (p.overrides.model && !L.page.byName.has(p.overrides.model)) return { error: `there is no model “${p.overrides.model}”` };
  if (!model.available) return { error: `${model.name} is not installed` };
  return { ctx: { ...base, state: { ...s, model: model.name }, model, overrides: p.overrides, hover: null, slot: p.spec } };
}

/** A placeholder's text for the panel: {text, expr, src, path, fmt, kind, request} or {pending} or {error}. */
function evaluate(raw, base) {
  let p;
  try {
    p = T.parse(raw);
  } catch (err) {
    return { error: err.message };
  }
  const c = contextOf(base, p);
  if (c.error) return { error: c.error };
  const ctx = c.ctx;
  const r = data.resolve("lesson", p.source, ctx);
  if (r.pending) return { pending: true };
  if (r.unavailable) return { error: r.unavailable };
  if (r.error) return { error: r.error };
  const a = data.resolve("lesson", "analyze", ctx);
  if (a.pending) return { pending: true };
  const tokens = a.data ? a.data.tokens : null;
  const token = tokens ? effectiveToken(tokens.length, { token: ctx.state.token }, keptIndices(tokens, ctx.state.hidespecial)) : null;
  try {
    const { value, path } = T.resolve(r.data, p.segments, { layer: ctx.state.layer, head: ctx.state.head, token, depth: ctx.state.depth, tokens });
    return { text: T.format(value, p.format), expr: p.expr, src: p.spec, path, fmt: p.format, kind: typeof value, request: r.request };
  } catch (err) {
    return { error: err.message };
  }
}

// ----------------------------------------------------------------------------------- questions

const PROMPTS = {
  "top-key": "In layer {{layer}}, head {{head}}: which word will **{{query}}** attend to most?",
  "next-word": "Which token will the model put first after this sentence?",
};

function question(lesson, step, base) {
  if (!step.ask) return null;
  const kind = step.ask.kind;
  const prompt = step.ask.prompt || PROMPTS[kind];
  const s = data.resolve("lesson", kind === "top-key" ? "explain" : "predict", { ...base, hover: null, slot: "question" });
  const q = { kind, prompt, choices: [], chosen: null, answer: null, reveal: "", pending: s.pending, error: s.error || s.unavailable || null };
  if (s.pending || !s.data) return q;
  const d = s.data;
  q.key = JSON.stringify([lesson.id, step.number, kind, state.text, d.model, state.layer, state.head, state.token, state.positions, state.scale, state.ablate, state.temp]);
  try {
    Object.assign(q, T.questionChoices(kind, d));
  } catch (err) {
    return { ...q, error: err.message };
  }
  const chosen = L.answers.has(q.key) ? L.answers.get(q.key) : null;
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
  const model = s.model && L.page.byName.has(s.model) ? s.model : L.page.list.default;
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
  L.schedule();
}

/** The step named the query token by a word: find it once this sentence's tokens are in. True: still waiting. */
function resolveToken(base) {
  const p = L.pendingToken;
  if (!p) return false;
  if (state.text !== p.text || (base.model && base.model.name !== p.model)) {
    L.pendingToken = null; // the student moved on before the tokens arrived
    return false;
  }
  const a = data.resolve("lesson", "analyze", { ...base, hover: null });
  if (a.pending || !a.current) return true;
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

/** Draw the panel for the page's context (main.js calls this in its refresh, after the explorer). */
export function refresh(base) {
  if (!L.page) return;
  data.begin("lesson");
  try {
    drawPanel(base);
  } finally {
    data.end("lesson");
  }
}

function drawPanel(base) {
  const panel = $("lesson-panel");
  const toggle = $("lessons-toggle");
  document.body.classList.toggle("lesson-open", L.open);
  panel.hidden = !L.open;
  if (toggle) toggle.setAttribute("aria-expanded", L.open ? "true" : "false");
  if (!L.open || !state.lesson) document.body.classList.remove("lesson-predict");
  if (!L.open) return;
  if (L.error) {
    lessonView.render(panel, { mode: "error", message: `The lessons could not be loaded: ${L.error}` });
    panel.dataset.state = "ready";
    return;
  }
  if (!L.list || !base.model) {
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
  const waiting = resolveToken(base);
  const step = lesson.steps[clampStep(lesson, state.step) - 1];
  const results = new Map();
  const value = (raw) => {
    if (!results.has(raw)) results.set(raw, waiting ? { pending: true } : evaluate(raw, base));
    return results.get(raw);
  };
  const q = waiting ? { kind: step.ask && step.ask.kind, prompt: step.ask ? step.ask.prompt || PROMPTS[step.ask.kind] : "", pending: true } : question(lesson, step, base);
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
      if (d.key) L.answers.set(d.key, d.index);
    }
    L.schedule();
  });
  const toggle = $("lessons-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      L.open = !L.open;
      L.schedule();
    });
  }
  subscribe((changed) => {
    if (changed.has("lesson") && state.lesson) L.open = true; // a lesson opened by a link, or back / forward
  });
}

/** Start the lesson panel: `page` is main.js's (its models), `schedule` asks main.js for a refresh. */
export async function start(page, { schedule }) {
  L.page = page;
  L.schedule = schedule;
  wire();
  const wanted = /^[a-z0-9][a-z0-9-]{0,79}$/.test(INITIAL.get("lesson") || "") ? INITIAL.get("lesson") : "";
  if (wanted) {
    L.open = true;
    schedule();
  }
  try {
    L.list = await data.request({ api: "lessons" });
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
