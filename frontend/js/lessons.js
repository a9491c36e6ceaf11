// Guided lessons: the lesson panel, a thin client of the page's data layer. The lessons are data
// (frontend/lessons/*.md, served parsed by GET /api/lessons); a step puts the page in a state (sentence, model,
// view, selection, interventions) through state.js, like any other control, and its text quotes live numbers:
// each {{placeholder}} names a value of a source (sources.js, the same table the views use), which the data
// layer fetches for the page's state: a step and the explorer showing the same view send one request. The panel is
// drawn in main.js's refresh, in the same frame as the explorer. The URL names the lesson and the step.
import { data } from "./data.js";
import { beyondNotice, effectiveToken, keptIndices, linkStep, stepProblem } from "./derive.js";
import * as T from "./lesson-template.js";
import { onPhone, plotOf } from "./plot.js";
import { DEFAULTS, state, subscribe, update } from "./state.js";
import { tileBox } from "./views/grid.js";
import * as lessonView from "./views/lesson.js";

// the URL as the page was opened (before main.js rewrites it): a link with lesson=&step= applies the step's settings
// (on the link's text= and model= where it names them); a full copied link (it always names the view) is restored
// as it is
const INITIAL = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const L = {
  page: null, // main.js's page: the models (one /api/models for the whole page)
  schedule: () => {},
  list: null, // GET /api/lessons
  error: null,
  open: false, // the panel is shown
  fresh: null, // {lesson, step, all}: the step's settings to take from its next resolution (all, or those of roles)
  applied: null, // {lesson, step, text, model}: what the settings were last taken for
  before: null, // the page's interventions when the lesson began: put back when it ends, unless the student changed them
  set: null, // the interventions the lesson set last (its current step's)
  opened: null, // the sentence a lesson link's `&text=` put on screen (not typed here): the note does not call it "your"
  answers: new Map(), // question key -> the index the student clicked (-1: "just show me")
  toView: false, // a step was just entered: on a phone, scroll to the view once it is drawn (scrollToView)
  toQuestion: false, // a step was just entered: once drawn, its question shown whole in the panel (scrollToQuestion)
  linked: null, // {lesson, step}: the page was opened from a whole page's link at that step (linkNote)
  toPanel: null, // the panel a step with `focus:` just entered names: scrolled into sight once drawn (scrollToPanel)
  panelWait: false, // scrollToPanel is looking for it
  focusIn: false, // the Lessons button just showed the panel: the keyboard goes to its title once drawn (focusPanel)
};
const PANEL_FRAMES = 600; // about 10 s of frames
const RECENTRE_MS = 600;

const INTERVENTIONS = ["positions", "scale", "ablate"];
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ----------------------------------------------------------------------------------- numbers

/** The context a placeholder's source is asked in: the page's, with the placeholder's overrides. */
function contextOf(base, p) {
  let s;
  try {
    s = T.applyOverrides(base.state, p.overrides);
  } catch (err) {
    return { error: err.message };
  }
  // the page's model unless the placeholder names another: base.model is the checkpoint the views show where the
  // Training step slider is on one (NAME@STEP, not in the list: state.model names the model, not the checkpoint)
  const model = p.overrides.model ? L.page.byName.get(p.overrides.model) || base.model : base.model;
  if (p.overrides.model && !L.page.byName.has(p.overrides.model)) return { error: `there is no model “${p.overrides.model}”` };
  if (!model.available) return { error: `${model.name} is not installed` };
  return { ctx: { ...base, state: { ...s, model: model.name }, model, overrides: p.overrides, hover: null, slot: p.spec } };
}

/**
 * The request a number was read from, as whoever checks it against the API sends it: without `packed` (the page holds
 * the attention as lists again, wholeRows; the API answers the same numbers as lists without it).
 */
function checkable(request) {
  if (!request || !request.params || !("packed" in request.params)) return request;
  const { packed, ...params } = request.params;
  return { ...request, params };
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
  const token = tokens ? effectiveToken(tokens, { token: ctx.state.token }, keptIndices(tokens, ctx.state.hidespecial)) : null;
  try {
    const { value, path } = T.resolve(r.data, p.segments, { layer: ctx.state.layer, head: ctx.state.head, token, depth: ctx.state.depth, tokens });
    // (a text shown as a word keeps what it was: T.tokenWords tells apart two that read alike; a token of the
    // sentence that another reads as is named with its position, T.tokenNote; `| self` writes the query's own as
    // "itself", T.placeholderText)
    return { ...T.placeholderText(value, p.format, r.data, path, token), expr: p.expr, src: p.spec, path, fmt: p.format, kind: typeof value, request: checkable(r.request) };
  } catch (err) {
    return { error: err.message };
  }
}

// ----------------------------------------------------------------------------------- questions

const PROMPTS = {
  "top-key": "In layer {{layer}}, head {{head}}: which word will **{{query}}** attend to most?",
  "next-word": "Which token will the model put first after this sentence?",
  "loss-step": "At which step will the training loss first fall below {{labrun.thresholds.loss | 1}} nats?",
  "lab-accuracy": "When the run ends, how much of the task's example will the model get right?",
};
const LAB_KINDS = ["loss-step", "lab-accuracy"]; // asked about the training lab's run, not the sentence

/** The reveal of a question on the lab's run (its numbers: the labrun source, the same summary the claims read). */
function labReveal(q) {
  if (q.other) return `The run on screen is ${q.other}, not this step's: press Train (the training lab, above); the answer shows here from that run.`;
  if (q.cut) {
    return q.kind === "loss-step"
      ? `This run ended at step {{labrun.final.step}} ({{labrun.reason}}) before its training loss fell below {{labrun.thresholds.loss | 1}} nats (the last: {{labrun.final.loss | 2}}): it cannot tell which of the later choices is right. Train again and let it run its steps (at least to step ${T.LOSS_STEP_BINS[T.LOSS_STEP_BINS.length - 1].toLocaleString("en")}) for the answer.`
      : "This run ended at step {{labrun.final.step}} before its steps were spent ({{labrun.reason}}): what it got right then, {{labrun.final.accuracy | pct}}, is not what the whole run gets. Train again and let it run to its end for the answer.";
  }
  if (q.answer === null || q.answer === undefined) {
    return q.kind === "loss-step"
      ? "Now train (the training lab, above): the answer shows here once the training loss falls below {{labrun.thresholds.loss | 1}} nats, or the run ends."
      : "Now train (the training lab, above): the answer shows here when the run ends.";
  }
  const label = q.chosen >= 0 ? q.choices[q.chosen].label : null;
  const mark = label === null ? "" : T.isRight(q, q.chosen) ? "✓ You predicted it." : `✗ You chose “${label}”.`;
  if (q.kind === "loss-step") {
    const what = q.reached
      ? "This run’s training loss first fell below {{labrun.thresholds.loss | 1}} nats at step **{{labrun.loss.step}}** ({{labrun.loss.seconds | 1}} s in training steps)."
      : "This run ended at step {{labrun.final.step}} without its training loss falling below {{labrun.thresholds.loss | 1}} nats (the last: {{labrun.final.loss | 2}}).";
    return `${what}\n\n${mark}`;
  }
  return `When the run ended (step {{labrun.final.step}}) the model got **{{labrun.final.accuracy | pct}}** of the example’s answers right (loss on the example {{labrun.final.example_loss}} nats).\n\n${mark}`;
}

function question(lesson, step, base) {
  if (!step.ask) return null;
  const kind = step.ask.kind;
  const prompt = step.ask.prompt || PROMPTS[kind];
  const s = data.resolve("lesson", T.QUESTION_SOURCES[kind] || "predict", { ...base, hover: null, slot: "question" });
  const q = { kind, prompt, choices: [], chosen: null, answer: null, reveal: "", pending: s.pending, error: s.error || s.unavailable || null };
  if (s.pending || !s.data) return q;
  const d = s.data;
  const lab = LAB_KINDS.includes(kind);
  // a guess about the lab's run is kept while the student trains (and trains again): it is about the lesson's run
  q.key = lab ? JSON.stringify([lesson.id, step.number, kind])
    : JSON.stringify([lesson.id, step.number, kind, state.text, d.model, state.layer, state.head, state.token, state.positions, state.scale, state.ablate, state.temp]);
  try {
    const st = step.settings; // a question on the lab's run is about the run of the task, scheme and size the step sets
    const c = T.questionChoices(kind, d, lab ? { task: st.ltask, positional: st.lpos, size: st.lsize } : null);
    if (!c) return null; // nothing to choose between: the step asks nothing here
    Object.assign(q, c);
  } catch (err) {
    return { ...q, error: err.message };
  }
  const chosen = L.answers.has(q.key) ? L.answers.get(q.key) : null;
  q.chosen = chosen;
  if (chosen !== null && lab) {
    q.reached = Boolean(d.loss && d.loss.reached);
    q.reveal = labReveal(q);
  } else if (chosen !== null) {
    if (kind === "top-key") {
      q.reveal = T.topKeyReveal(q, d, chosen);
    } else {
      q.reveal = T.nextWordReveal(q, d, chosen);
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

/** Put the page where step `n` of `lesson` says; `model`: a model the student asked for (a link's), kept where it
 * is installed (the panel then says the step is on it and offers the lesson's); `text`: a link's sentence, the step
 * resolved on it. */
function enterStep(lesson, n, { history = "push", model: asked = null, text: askedText = null } = {}) {
  const step = lesson.steps[clampStep(lesson, n) - 1];
  const s = step.settings;
  const lessonModel = stepModel(s);
  // another step of the same lesson keeps the student's own sentence and model where the lesson keeps its own (a
  // step that names a new sentence or model puts it on screen): the panel says so and offers the lesson's
  const before = state.lesson === lesson.id ? lesson.steps[clampStep(lesson, state.step) - 1] : null;
  const text = askedText !== null && askedText.trim() ? askedText
    : before && before !== step && before.settings.text === s.text ? state.text : s.text;
  const installed = (name) => Boolean(L.page.byName.get(name)?.available);
  const model = installed(asked) ? asked
    : before && before !== step && stepModel(before.settings) === lessonModel && installed(state.model) ? state.model : lessonModel;
  if (!state.lesson || state.lesson !== lesson.id || !L.before) {
    L.before = { positions: state.positions, scale: state.scale, ablate: state.ablate };
  }
  L.fresh = { lesson: lesson.id, step: step.number, all: true };
  L.linked = null;
  L.set = { positions: s.positions, scale: s.scale, ablate: s.ablate };
  L.open = true;
  update({
    lesson: lesson.id, step: step.number, text, model, view: s.view, layer: s.layer, head: s.head,
    token: typeof s.token === "number" ? s.token : null,
    positions: s.positions, scale: s.scale, ablate: s.ablate,
    temp: s.temp ?? DEFAULTS.temp, word: s.word ?? DEFAULTS.word, a: s.a ?? DEFAULTS.a, b: s.b ?? DEFAULTS.b, c: s.c ?? DEFAULTS.c, expect: s.expect ?? DEFAULTS.expect,
    depth: s.depth ?? DEFAULTS.depth, metric: s.metric ?? DEFAULTS.metric, pn: s.pn ?? DEFAULTS.pn,
    probe: Boolean(s.probe), role: s.role ?? DEFAULTS.role, ...(s.probe ? { pseed: DEFAULTS.pseed } : {}),
    // the training lab's settings, where the step names them (else the page's stay)
    ...Object.fromEntries(["ltask", "lpos", "lsize", "lsteps"].filter((k) => s[k] !== null && s[k] !== undefined).map((k) => [k, s[k]])),
  }, { history });
  if (askedText !== null && askedText.trim()) L.opened = state.text; // a link's sentence: nobody typed it here
  const box = $("text");
  if (box && document.activeElement !== box) box.value = text;
  L.toView = true; // (a phone: drawPanel scrolls to the view once the step is drawn)
  L.toQuestion = true; // (drawPanel shows the step's question whole once it is drawn)
  L.toPanel = s.focus || null; // (drawPanel then scrolls the panel it names into sight)
  L.schedule();
}

/** A phone: the lesson is a sheet over the lower half of the screen, so a step just entered puts the token strip and
 * the view at the top of the page (the controls are a scroll up), not the controls. */
function scrollToView() {
  L.toView = false;
  if (!onPhone()) {
    viewAboveSheet();
    return;
  }
  const top = document.querySelector("header.top");
  if (top) window.scrollTo({ top: top.offsetTop + top.offsetHeight, behavior: "instant" });
}

// the lesson is a sheet over the lower part of the screen up to this width (lessons.css), beside the page above it
const SHEET = typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(max-width: 1000px)") : null;

/** A tablet or a small projector (641 to 1000 px wide): the lesson is a sheet over the lower 46% of the screen, and a
 * step just entered left the page at its top, the view it asks about under the sheet (800x600 in presenter mode: 0 px
 * of it above the sheet; 768x1024: 24 px of 553). Where the view has less than half the room between the token strip
 * and tabs (where they are sticky; else the screen's top) and the sheet, the page scrolls it up to there. */
function viewAboveSheet() {
  const panel = $("lesson-panel");
  const view = document.querySelector("main .view:not([hidden])");
  if (!SHEET || !SHEET.matches || !panel || !view) return;
  const strip = document.querySelector(".sticky");
  const style = strip ? getComputedStyle(strip) : null;
  const sticky = style && style.position === "sticky";
  // the strip's bottom now, and once stuck at the top of the screen: the view's place when scrolled up
  const now = sticky ? stripBottom() : 0;
  const top = sticky ? (parseFloat(style.top) || 0) + strip.offsetHeight : 0;
  const box = view.getBoundingClientRect();
  const bottom = panel.getBoundingClientRect().top;
  if (Math.min(box.bottom, bottom) - Math.max(box.top, now) >= (bottom - top) / 2) return;
  window.scrollBy({ top: box.top - top, behavior: "instant" });
}

/** A step entered with a question not yet answered, drawn: where the question ends below what the panel shows (a
 * projector's large text at 1280 x 720), the panel scrolls to show it whole (showInPanel). Not on a phone (the sheet
 * there has its own). */
function scrollToQuestion() {
  L.toQuestion = false;
  const panel = $("lesson-panel");
  panel.style.removeProperty("--lesson-room"); // (the room a step before this one needed)
  const q = panel.querySelector('.lesson-question[data-answered="0"]');
  if (!q || onPhone()) return;
  showInPanel(panel, q);
}

/** The boxes of the panel's lines of text (each button's whole), [{top, bottom}] from the panel's top `from`
 * (Previous / Next, sticky at its foot, left out). */
function lineBoxes(panel, from) {
  const nav = panel.querySelector(".lesson-nav");
  const walk = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
  const boxes = [];
  for (let t = walk.nextNode(); t; t = walk.nextNode()) {
    if (!t.textContent.trim() || (nav && nav.contains(t))) continue;
    const button = t.parentElement.closest("button");
    const range = document.createRange();
    range.selectNodeContents(t);
    for (const r of button ? [button.getBoundingClientRect()] : range.getClientRects()) {
      if (r.height > 0) boxes.push({ top: r.top - from, bottom: r.bottom - from });
    }
  }
  return boxes;
}

/** Scroll the panel to show `el` whole above its sticky Previous / Next, keeping el's top in sight: to the first place
 * past what that needs where a line of text starts (lineBoxes), so that no line is cut at the panel's top (scrolled just enough,
 * 53 px, lesson 5 step 3 at 1280 x 720 in presenter mode cut through the first line of the lesson's title, and a
 * guess's answer scrolled into sight by the browser cut the step's title). Where the step's content ends too soon for
 * the panel to scroll that far, the room is left above Previous / Next (--lesson-room, lessons.css). */
function showInPanel(panel, el) {
  const nav = panel.querySelector(".lesson-nav");
  const box = el.getBoundingClientRect();
  const seen = panel.getBoundingClientRect();
  const over = box.bottom - (nav ? nav.getBoundingClientRect().top : seen.bottom);
  if (over <= 0 && box.top >= seen.top) return; // (whole in sight)
  const need = over + 8;
  const most = box.top - seen.top;
  // the panel's top stops just above a line of text, where it cuts no other line (a taller word on the same line)
  const lines = lineBoxes(panel, seen.top);
  const starts = lines.map((b) => b.top - 2)
    .filter((y) => y >= need && y <= most && !lines.some((b) => b.top < y - 0.5 && b.bottom > y + 0.5));
  const to = starts.length ? Math.min(...starts) : Math.min(need, most);
  const room = Math.ceil(to - (panel.scrollHeight - panel.clientHeight - panel.scrollTop));
  if (room > 0) panel.style.setProperty("--lesson-room", `${(parseFloat(panel.style.getPropertyValue("--lesson-room")) || 0) + room}px`);
  panel.scrollBy({ top: to, behavior: "instant" });
}

/** A step with `focus:`, its numbers in: once its panel is drawn (a head chosen on the live numbers is selected once
 * they are in), the page scrolls it into sight (focusOffset). Looked for on each frame, up to PANEL_FRAMES of them (a
 * large model's grid is drawn after its heatmap). Not while the student types in a box of the page (the scroll would
 * take the box they type in away). */
function scrollToPanel(frames = 0) {
  const by = L.toPanel ? focusOffset(L.toPanel) : null;
  if (by === null && L.toPanel && frames < PANEL_FRAMES) {
    requestAnimationFrame(() => scrollToPanel(frames + 1));
    return;
  }
  const key = L.toPanel;
  L.toPanel = null;
  L.panelWait = false;
  if (by === null || typing()) return;
  scrollInSight(() => focusOffset(key));
  // the plots above it may still change their height as the step's other answers arrive: once, a little later, the
  // panel is put back in sight, unless the student has scrolled (or typed) meanwhile
  const at = window.scrollY;
  setTimeout(() => {
    if (window.scrollY === at && !typing() && focusOffset(key) !== null) scrollInSight(() => focusOffset(key));
  }, RECENTRE_MS);
}

/** A box of the page the student types in has the keyboard. */
function typing() {
  const el = document.activeElement;
  return Boolean(el && (el.matches("input:not([type=button], [type=submit], [type=checkbox], [type=radio]), textarea, select") || el.isContentEditable));
}

/** How far to scroll to bring the panel named `key` into sight, once the view on screen has drawn it (null before):
 * `grid`, the tile of the step's head in the middle of what the page shows (the grid of a large model is taller than
 * the screen); another, a panel or a section of the view by its key (plot.js panel, part), with the heading and intro
 * of the section it is in, below the sticky token strip and tabs and above the lesson's sheet (plotOffset, as a
 * revealed answer's plot on a phone; a section taller than that room shows its first plot). */
function focusOffset(key) {
  const bottom = shownBottom();
  if (key === "grid") {
    const box = tileBox($("attn-grid"), state.layer, state.head);
    return box ? (box.top + box.bottom) / 2 - (stripBottom() + bottom) / 2 : null;
  }
  const at = document.querySelector(`main .view:not([hidden]) :is(.panel, .subsection)[data-part="${key}"]`);
  const fig = at?.querySelector(".panel") || at;
  if (!fig || !fig.offsetParent || !(plotOf(fig).childElementCount || !fig.querySelector(".reason").hidden)) return null;
  return plotOffset(at.closest(".subsection") || at, stripBottom(), bottom);
}

/** Where (viewport px) the page shows below the token strip and tabs now: their bottom edge, 0 where it is above the
 * screen's top. */
function stripBottom() {
  const strip = document.querySelector(".sticky");
  return strip ? Math.max(0, strip.getBoundingClientRect().bottom) : 0;
}

/** Where (viewport px) what the page shows ends: at the top of the lesson's sheet (narrow screens) or at the window's
 * foot (the lesson beside the page). */
function shownBottom() {
  const sheet = $("lesson-panel").getBoundingClientRect();
  return sheet.top > window.innerHeight / 3 ? sheet.top : window.innerHeight; // a sheet at the foot, or beside
}

/** The model a step's settings name (the page's default where they name none or one not installed). */
function stepModel(s) {
  return s.model && L.page.byName.get(s.model)?.available ? s.model : L.page.list.default;
}

/** A sentence on the model a step's settings name where it is known and not installed here (the step then runs on
 * the default model), with the command that installs it; else "". */
function absentModel(s) {
  const m = s.model ? L.page.byName.get(s.model) : null;
  if (!m || m.available) return "";
  return `This lesson is written for ${m.name}, which is not installed here${m.install ? ` (install it with: ${m.install})` : ""}: ` +
    `it runs on ${L.page.list.default} instead.`;
}

/** Whether this page was opened by reloading it (the browser's navigation type), not from a link. */
function reloaded() {
  const nav = typeof performance !== "undefined" && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  return Boolean(nav && nav.type === "reload");
}

/** A page opened from a whole page's link at a step (Copy link, Share): its selection and settings are the link's,
 * which may not be what the step sets; a note says so, with a button that enters the step again (its own). */
function linkNote(lesson, step) {
  const at = L.linked;
  if (!at || at.lesson !== lesson.id || at.step !== step.number) return null;
  return { text: "This page opened as it was shared: its sentence, head, query and settings are the link's, which may differ from what this step sets.",
    action: { label: "Use the step’s own settings", step: step.number }, kind: "link" };
}

/** A step whose sentence has no match for a role: its button puts the lesson's sentence in, with the lesson's model
 * where that sentence does not work on the page's (a model of the training lab reads a few dozen letters). */
function missingAction(d) {
  return d.lesson_model
    ? { label: "Use the lesson’s sentence and model", change: { text: d.lesson_sentence, model: d.lesson_model } }
    : { label: "Use the lesson’s sentence", change: { text: d.lesson_sentence } };
}

/** When the page is not on the step's own sentence or model: a note saying so, with a button that puts them back.
 * `linked`: the page opened from a shared link at this step (the sentence and model are the link's, not the reader's).
 * A step that reads nothing of the sentence (`reads_text` false: the position lab's measured curves, the nearest words
 * of its own word) is the same on every sentence: no note of the sentence, nor the lesson's offered; one that reads
 * nothing of the page's model (`reads_model` false: those curves, the training lab's run), the same of the model. */
function ownNote(step, linked = false) {
  const s = step.settings;
  const your = T.sentenceWhose(state.text, { linked, opened: L.opened });
  const model = stepModel(s);
  const text = step.reads_text !== false && state.text !== s.text;
  const other = step.reads_model !== false && state.model !== model;
  const absent = absentModel(s);
  if (!text && !other) return absent ? { text: absent, action: null, kind: "own" } : null;
  const label = text && other ? "Use the lesson’s sentence and model" : text ? "Use the lesson’s sentence" : "Use the lesson’s model";
  const words = text && other ? `${your} and ${state.model}; the lesson’s are “${s.text}” on ${model}`
    : text ? `${your}; the lesson’s is “${s.text}”` : `${state.model}; the lesson’s model is ${model}`;
  return { text: `${absent ? `${absent} ` : ""}${T.endSentence(`This step is on ${words}`)}`, action: { label, change: { ...(text ? { text: s.text } : {}), ...(other ? { model } : {}) } }, kind: "own" };
}

/**
 * The step resolved on the page's sentence and model (POST /api/lessons/{id}/steps/{n}, through the data layer): the
 * server finds the roles, checks the model kinds and chooses the claims; the page fills the numbers. Right after a
 * step is entered (or the sentence or model changed), the step's own settings are asked for and taken (all of them,
 * or those that came from a role); afterwards the page's selection is sent, so that the claims follow what is on
 * screen. -> {pending} | {error} | {data}.
 */
function resolution(lesson, step, base) {
  const a = data.resolve("lesson", "analyze", { ...base, hover: null });
  if (!a.current) {
    if (!a.error) return { pending: true };
    // (a sentence too long for the model: said as the note by the sentence says it)
    const notice = beyondNotice({ model: base.model, state, error: a.error, status: a.status, refusal: a.refusal, models: L.page.list.models });
    return { error: a.error, problem: stepProblem(a.error, notice && notice.kind !== "warning" ? notice : null) };
  }
  const model = base.model.name;
  const ap = L.applied;
  if (!L.fresh && ap && ap.lesson === lesson.id && ap.step === step.number && (ap.text !== state.text || ap.model !== model)) {
    L.fresh = { lesson: lesson.id, step: step.number, all: false }; // another sentence or model: its roles again
  }
  const fresh = L.fresh && L.fresh.lesson === lesson.id && L.fresh.step === step.number ? L.fresh : null;
  // a step that does not fit this sentence or model (a role with no match, a model of the wrong kind) says so until
  // the sentence or the model changes: asked again with the page's selection, the server would resolve it on that
  if (!fresh && ap && ap.lesson === lesson.id && ap.step === step.number && ap.unfit) return { data: ap.unfit };
  const token = effectiveToken(a.data.tokens, { token: state.token }, keptIndices(a.data.tokens, state.hidespecial));
  // what no role sets (the words typed in the boxes, the temperature, ...): the page's, unless the step was just entered
  const typed = {
    positions: state.positions, scale: state.scale, temp: state.temp, word: state.word, depth: state.depth,
    a: state.a, b: state.b, c: state.c, expect: state.expect, pn: state.pn,
    target: state.target, versus: state.versus, // the token the Why views explain (the lens and logit sources)
  };
  const selection = fresh && fresh.all ? {} : fresh ? typed
    : { ...typed, layer: state.layer, head: state.head, token, ablate: state.ablate };
  const r = data.resolve("lesson", "lessonstep", { ...base, hover: null, selection, slot: "step" });
  if (r.pending || !r.current) return r.error ? { error: r.error } : { pending: true };
  if (r.error) return { error: r.error };
  const d = r.data;
  if (fresh) {
    L.fresh = null;
    L.applied = { lesson: lesson.id, step: step.number, text: d.text, model: d.model, unfit: !d.applies || d.missing ? d : null };
    const st = d.settings;
    const take = fresh.all ? ["layer", "head", "token", ...INTERVENTIONS] : d.from_roles;
    const change = {};
    for (const k of take) if (st[k] !== undefined && st[k] !== null && !same(state[k], st[k])) change[k] = st[k];
    if (fresh.all) L.set = { positions: st.positions, scale: st.scale, ablate: st.ablate };
    else if (change.ablate && L.set) L.set = { ...L.set, ablate: change.ablate };
    if (Object.keys(change).length) {
      update(change);
      return { pending: true };
    }
  }
  return { data: d };
}

/** The lesson ends (finished, closed, or another one opened): its interventions go back, unless the student changed them. */
function endLesson() {
  if (L.before && L.set) {
    const back = {};
    for (const k of INTERVENTIONS) if (same(state[k], L.set[k]) && !same(state[k], L.before[k])) back[k] = L.before[k];
    if (Object.keys(back).length) update(back);
  }
  L.before = null;
  L.set = null;
  L.fresh = null;
  L.linked = null;
  L.opened = null;
  L.applied = null;
}

// ----------------------------------------------------------------------------------- the banner

/** The interventions on now, in words ("" when none). */
function interventionsText() {
  const parts = [];
  const model = L.page ? L.page.byName.get(state.model || L.page.list.default) : null;
  const none = model && model.positional === "none" ? ` (no effect: ${model.name} has no positional encoding)` : "";
  if (state.positions && state.positions !== "normal") parts.push(`positions ${state.positions}${none}`);
  if (state.scale === false) parts.push("scaling off");
  if (state.ablate && state.ablate.length) parts.push(`head${state.ablate.length > 1 ? "s" : ""} ${state.ablate.map(([l, h]) => `${l}.${h}`).join(", ")} switched off`);
  return parts.join(" · ");
}

/** One banner, at the top of the page, while an intervention is on: what, who set it, and undo. */
function drawBanner() {
  const el = $("intervention-banner");
  if (!el) return;
  const what = interventionsText();
  const lesson = state.lesson ? find(state.lesson) : null;
  const byLesson = lesson && L.set && INTERVENTIONS.some((k) => same(state[k], L.set[k]) && !same(L.set[k], DEFAULTS[k]));
  const key = JSON.stringify([what, byLesson && lesson.number]);
  el.hidden = !what;
  if (el._drawn === key) return;
  el._drawn = key;
  if (!what) {
    el.replaceChildren();
    return;
  }
  const undo = document.createElement("button");
  undo.type = "button";
  undo.className = "small banner-undo";
  undo.textContent = "undo";
  undo.title = "positions normal, scaling on, every head on";
  undo.addEventListener("click", () => {
    update({ positions: "normal", scale: true, ablate: [] }, { history: "push" });
    L.schedule();
  });
  const text = document.createElement("span");
  text.className = "banner-text";
  text.textContent = `${what}${byLesson ? ` — set by lesson ${lesson.number}` : ""}`;
  el.replaceChildren(text, document.createTextNode(" · "), undo);
}

// ----------------------------------------------------------------------------------- drawing

/** Draw the panel for the page's context (main.js calls this in its refresh, after the explorer). */
export function refresh(base) {
  if (!L.page) return;
  data.begin("lesson");
  try {
    drawPanel(base);
    focusPanel();
  } finally {
    data.end("lesson");
  }
  drawBanner();
}

/** The panel just shown by the Lessons button: the keyboard goes to its title (the list's, a step's), once drawn. It
 * stayed on the button, and the panel comes after the whole page in the tab order (31 Tab presses in presenter
 * mode). Not when the focus has gone elsewhere meanwhile (a click, a Tab). */
function focusPanel() {
  if (!L.focusIn) return;
  const panel = $("lesson-panel");
  if (!L.open) {
    L.focusIn = false;
    return;
  }
  const title = panelTitle(panel);
  if (!title) return; // (still loading: the next drawing)
  L.focusIn = false;
  const active = document.activeElement;
  if (active && active !== document.body && active !== $("lessons-toggle")) return;
  focusOn(title);
}

/** The panel's title: a step's, else the list's (null while it loads). */
const panelTitle = (panel) => panel.querySelector(".step-title") || panel.querySelector(".lesson-title");

/** Move the keyboard to `el`, a heading or text that is not a control (focusable from script, not by Tab). */
function focusOn(el, options = undefined) {
  el.tabIndex = -1;
  el.focus(options);
}

/** Draw the panel and keep the keyboard's place in it: on the control of the same class and text in the new drawing
 * (Next, a step's dot), else of the same class, else, after a guess or Show the answer, on what it revealed, else on
 * the new drawing's title (a lesson opened, Previous gone disabled on the first step); a redrawing left the focus on
 * the page's body. */
function renderPanel(panel, data) {
  const active = document.activeElement;
  const was = active && active !== panel && panel.contains(active)
    ? { cls: active.className, text: active.textContent, question: Boolean(active.closest(".lesson-question")),
        answer: Boolean(active.closest(".lesson-reveal, .lesson-revealed")) } : null;
  lessonView.render(panel, data);
  if (!was || panel.contains(document.activeElement)) return;
  const usable = [...panel.querySelectorAll("button:not([disabled]), summary, a[href]")];
  const again = usable.find((e) => e.className === was.cls && e.textContent === was.text) || (was.cls && usable.find((e) => e.className === was.cls));
  if (again) {
    again.focus();
    return;
  }
  // a guess just made (its buttons now disabled), or the answer asked for (Show the answer, now gone): on what it
  // revealed, not on the step's title at the panel's top, which scrolled the answer out of sight (in presenter mode
  // at 1280x720)
  const reveal = was.question ? panel.querySelector(".lesson-question .q-reveal") || panel.querySelector(".lesson-question")
    : was.answer ? panel.querySelector(".lesson-revealed") : null;
  if (reveal && !onPhone()) {
    focusOn(reveal, { preventScroll: true }); // (the browser's own scroll showed it just enough, cutting a line above)
    showInPanel(panel, reveal);
    return;
  }
  const target = reveal || panelTitle(panel);
  if (target) focusOn(target);
  if (reveal) plotAboveSheet(panel, reveal);
}

/** A phone, an answer just revealed: the sheet grew with it over the view (lesson 5 step 3 kept 79 px of the scores
 * chart above it, its title and legend, the bars under the sheet). The page scrolls the plot the answer reads
 * (readPlot) up to just below the sticky token strip and tabs, where it has all the room above the sheet, unless it
 * is whole in sight there already. A plot taller than that room shows its drawing there: the axes' area at the
 * strip, or further down where the drawing's foot (the labels under the area) reaches the sheet first (the probe
 * plot's title and method text took lesson 10 step 5's room and its curves were under the sheet; lesson 5 step 3's
 * legend left the top key's bar, at 0.30, under it). */
function plotAboveSheet(panel, answer) {
  if (!onPhone()) return;
  const fig = readPlot(answer);
  if (fig) scrollInSight(() => plotOffset(fig, stripBottom(), panel.getBoundingClientRect().top));
}

/** Scroll the page by `offset()` px, and once more where that moved the sticky token strip and tabs: at the page's
 * top, below the header, they stick higher once scrolled, and what was scrolled to stopped that much below them. */
function scrollInSight(offset) {
  for (let pass = 0, at = null; pass < 2 && at !== stripBottom(); pass++) {
    at = stripBottom();
    const by = offset();
    if (!by) return;
    window.scrollBy({ top: by, behavior: "instant" });
  }
}

/** How far to scroll so that `fig` is below `top` (the strip's foot) and above `sheet` (viewport px), as
 * plotAboveSheet says; 0 where it is whole in sight there. */
function plotOffset(fig, top, sheet) {
  const box = fig.getBoundingClientRect();
  if (box.top >= top && box.bottom <= sheet) return 0;
  let by = box.top - top;
  if (box.height > sheet - top) {
    const plot = fig.querySelector(".plot");
    const area = plot && (plot.querySelector(".nsewdrag") || plot); // (Plotly's plot area, as grid.js reads it)
    if (area) by = Math.max(by, Math.min(plot.getBoundingClientRect().bottom - sheet, area.getBoundingClientRect().top - top));
  }
  return by;
}

/** The plot of the view on screen that draws the first number of `answer` (a revealed block of the panel) that one
 * draws: its placeholder's source and path begin with one of the plot's `shows` (plot.js panel, or a drawing that is
 * not a panel and names them itself: the position lab's scheme diagrams; a number asked with other settings than the
 * page's, `explain(model=…)`, is on none unless a drawing names those settings), else the view's first plot. Lesson 5
 * step 3's answer reads the weights chart, the second plot, below the scores chart. */
function readPlot(answer) {
  const seen = (f) => f.offsetParent;
  const figs = [...document.querySelectorAll("main .view:not([hidden]) .panel")].filter(seen);
  const named = [...document.querySelectorAll("main .view:not([hidden]) [data-shows]")].filter(seen);
  for (const lv of answer.querySelectorAll(".lv[data-path]")) {
    const at = [lv.dataset.src, ...JSON.parse(lv.dataset.path)].join(".");
    const fig = named.find((f) => f.dataset.shows.split(" ").some((name) => at === name || at.startsWith(`${name}.`)));
    if (fig) return fig;
  }
  return figs[0] || null;
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
    renderPanel(panel, { mode: "error", message: `The lessons could not be loaded: ${L.error}` });
    panel.dataset.state = "ready";
    return;
  }
  if (!L.list || !base.model) {
    renderPanel(panel, { mode: "loading", message: "Loading the lessons…" });
    panel.dataset.state = "loading";
    return;
  }
  const lesson = state.lesson ? find(state.lesson) : null;
  if (!lesson) {
    const key = JSON.stringify(["list", L.list, state.lesson]);
    if (panel._drawn !== key) {
      const lessons = L.list.lessons.map((l) => ({ ...l, absent: l.steps.length ? absentModel(l.steps[0].settings) : "" }));
      renderPanel(panel, { mode: "list", lessons, errors: L.list.errors, missing: state.lesson || null });
      panel._drawn = key;
    }
    delete panel.dataset.lesson;
    delete panel.dataset.step;
    panel.dataset.state = "ready";
    return;
  }
  const step = lesson.steps[clampStep(lesson, state.step) - 1];
  const res = resolution(lesson, step, base);
  if (!res.data) {
    const key = JSON.stringify([lesson.id, step.number, "wait", res.error || null]);
    if (panel._drawn !== key) {
      renderPanel(panel, { mode: "step", lesson, step: { ...step, body: "" }, total: L.list.lessons.length, value: () => ({ pending: true }),
        question: null, problems: res.error ? [res.problem || stepProblem(res.error)] : [], note: res.error ? null : { text: "…" } });
      panel._drawn = key;
    }
    document.body.classList.remove("lesson-predict");
    panel.dataset.state = res.error ? "ready" : "loading";
    return;
  }
  const d = res.data;
  if (!d.applies || d.missing) {
    const note = !d.applies
      ? { text: d.why, action: d.switch_to ? { label: `Switch to ${d.switch_to}`, change: { model: d.switch_to } } : null, kind: "model" }
      : { text: d.missing, action: missingAction(d), kind: "role" };
    const key = JSON.stringify([lesson.id, step.number, "note", note]);
    if (panel._drawn !== key) {
      renderPanel(panel, { mode: "step", lesson, step: { ...step, body: "" }, total: L.list.lessons.length, value: () => ({ pending: true }), question: null, problems: [], note });
      panel._drawn = key;
    }
    document.body.classList.remove("lesson-predict");
    panel.dataset.state = "ready";
    return;
  }
  // a guess asked for before the answer (a line `+++`): what follows it shows once the student asks for it (the
  // Show the answer button) or, in a step with a question, once they have chosen
  const asked = { ...step, ask: step.ask ? { ...step.ask, prompt: d.question || step.ask.prompt } : null };
  const q = question(lesson, asked, base);
  const cut = T.splitReveal(d.body);
  const revealKey = JSON.stringify([lesson.id, step.number, "reveal", state.text, d.model]);
  const guessing = Boolean(q && !q.error && (q.chosen === null || q.chosen === undefined));
  const hiding = cut.hidden !== null && (q ? guessing : !L.answers.has(revealKey));
  // (what was held back, once shown, is drawn as its own block: renderPanel moves the keyboard to it)
  const revealed = cut.hidden !== null && !hiding && cut.hidden.trim() ? cut.hidden : null;
  const shown = { ...asked, body: cut.hidden === null ? d.body : cut.shown, revealed };
  const results = new Map();
  const value = (raw) => {
    // (a head role's number, `{{@strongest-head.delta_prob | 4}}`, is the server's: the step's read of it)
    if (!results.has(raw)) results.set(raw, T.stepNumber(raw, d.numbers) || evaluate(raw, base));
    return results.get(raw);
  };
  // evaluate everything first, so that the drawing is skipped when nothing changed
  const texts = [shown.body, revealed || "", q ? q.prompt : "", q && q.reveal ? q.reveal : ""];
  for (const t of texts) for (const ph of T.scan(t)) value(ph.raw);
  // two different tokens that would read as one word (“␣↵” and “↵”) keep their ␣
  const words = [...results].filter(([, r]) => r.word !== undefined);
  T.tokenWords(words.map(([, r]) => r.word)).forEach((text, i) => results.set(words[i][0], { ...words[i][1], text: text + words[i][1].note }));
  const pending = [...results.values()].some((r) => r.pending) || Boolean(q && q.pending);
  // a number the server found waiting on the student (a box of the page they emptied, a word the model cannot use)
  // is said to them in its own words (`waiting`), not as the lesson's problem
  const waits = new Set(d.numbers.filter((n) => n.waiting).map((n) => n.placeholder));
  for (const [raw, r] of results) if (r.error && waits.has(raw.trim())) results.set(raw, { ...r, waiting: true });
  const problems = [...new Set([...results.values()].filter((r) => r.error && !r.waiting).map((r) => r.error))];
  const linked = Boolean(linkNote(lesson, step)) && L.linked.text === state.text && L.linked.model === state.model;
  const own = ownNote(step, linked) || linkNote(lesson, step);
  const key = JSON.stringify([lesson.id, step.number, L.list.lessons.length, shown.body, revealed, [...results.entries()], q && [q.choices, q.chosen, q.answer, q.error, q.pending], problems, d.problems, d.waiting, own, hiding]);
  if (panel._drawn !== key) {
    const all = [...(problems.length ? [`Some numbers of this step could not be read: ${problems.join("; ")}`] : []), ...d.problems];
    renderPanel(panel, {
      mode: "step", lesson, step: shown, total: L.list.lessons.length, value, question: q, problems: all, note: own,
      waiting: d.waiting, reveal: hiding && !q ? { key: revealKey } : null,
    });
    panel._drawn = key;
  }
  // predict, then reveal: the plots stay blurred until the student has guessed (or asked for the answer)
  document.body.classList.toggle("lesson-predict", hiding || guessing);
  panel.dataset.state = pending ? "loading" : "ready";
  if (L.toView && !pending) scrollToView();
  if (L.toQuestion && !pending) scrollToQuestion();
  if (L.toPanel && !pending && !L.panelWait) {
    L.panelWait = true;
    scrollToPanel();
  }
}

// ----------------------------------------------------------------------------------- wiring

function wire() {
  const panel = $("lesson-panel");
  // a phone's sheet is as tall as its step (lessons.css): the page leaves that much room at its foot
  new ResizeObserver(() => {
    const root = document.documentElement.style;
    if (panel.offsetHeight) root.setProperty("--lesson-sheet", `${panel.offsetHeight}px`);
    else root.removeProperty("--lesson-sheet");
  }).observe(panel);
  panel.addEventListener("attnlab:lesson", (ev) => {
    const d = ev.detail;
    if (d.action === "open") {
      const lesson = find(d.id);
      if (state.lesson && state.lesson !== d.id) endLesson();
      if (lesson) enterStep(lesson, 1);
    } else if (d.action === "step") {
      const lesson = find(state.lesson);
      if (lesson) enterStep(lesson, d.n);
    } else if (d.action === "list") {
      endLesson();
      update({ lesson: "", step: 1 }, { history: "push" });
    } else if (d.action === "change") {
      update(d.change, { history: "push" });
      if (d.change.text !== undefined) {
        const text = $("text");
        if (text) text.value = d.change.text;
      }
    } else if (d.action === "hide") {
      L.open = false;
      $("lessons-toggle")?.focus(); // (the panel goes: the keyboard goes back to the button that shows it)
    } else if (d.action === "answer") {
      if (d.key) L.answers.set(d.key, d.index);
    }
    L.schedule();
  });
  const toggle = $("lessons-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      L.open = !L.open;
      L.focusIn = L.open;
      L.schedule();
    });
  }
  subscribe((changed) => {
    if (changed.has("lesson") && state.lesson) L.open = true; // a lesson opened by a link, or back / forward
    if (changed.has("lesson") && !state.lesson && L.before) endLesson(); // left by back / forward
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
    // a step the lesson has not (step=99 of 4): the nearest, and a notice next to the sentence box says so
    const { step: n, notice } = lesson ? linkStep(INITIAL.get("step"), lesson.steps.length, lesson.title) : { step: 1, notice: "" };
    if (lesson && !INITIAL.has("view")) {
      enterStep(lesson, n, { history: "replace", model: INITIAL.get("model"), text: INITIAL.get("text") });
    } else if (lesson) {
      // a whole page's link (Copy link at a step): its settings stay as they were on screen; what the step itself
      // sets is the lesson's (the banner says so, and finishing or closing the lesson puts it back), and before the
      // lesson the page ran as trained (the link cannot say what it ran with before)
      const s = lesson.steps[clampStep(lesson, n) - 1].settings;
      // (the panel says so until a step is entered; the sentence and model are the link's until the reader changes them)
      // a page reloaded is the reader's own, not a link someone shared: no "as it was shared" note, and the sentence
      // it brought back is named by itself, not called the link's (nor "your": it may have come with a link before)
      if (reloaded()) L.opened = state.text;
      else L.linked = { lesson: lesson.id, step: clampStep(lesson, n), text: state.text, model: state.model };
      L.before = { positions: DEFAULTS.positions, scale: DEFAULTS.scale, ablate: DEFAULTS.ablate };
      L.set = { positions: s.positions, scale: s.scale, ablate: s.ablate };
      update({ lesson: lesson.id, step: clampStep(lesson, n) });
    }
    // (after the update: one that changes the sentence, model or view clears the link's notices)
    if (notice) page.notice = [page.notice, notice].filter(Boolean).join(" ");
  }
  schedule();
}
