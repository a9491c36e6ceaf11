// Wiring: the page's controls -> the state (state.js, mirrored in the URL) -> the data layer (data.js) -> the views
// (views/index.js, one table for the tabs and the lessons). One refresh loop draws the explorer and the lesson panel
// (lessons.js) in the same frame from the same answers. Nothing here computes a number the API sends.
import * as classroom from "./classroom.js";
import { data } from "./data.js";
import {
  asSentence, baseParams, beyondNotice, canRunBeyond, continuationKey, count, effectiveToken, emptyMessage, hideSpecialBox, intoSight, samplingOf, settingsNotes, scrollCues, shownIndices, shownText, surelyFits, visibleAnalysis, wholeInsert,
} from "./derive.js";
import { lab } from "./lab.js";
import { atStep, checkpointSteps, schemeWords, stepIndex } from "./labrun.js";
import * as lessons from "./lessons.js";
import { download, forgetDrawn, h, mark, onPhone, whenPhoneChanges } from "./plot.js";
import { readURL, state, subscribe, toggledAblate, update } from "./state.js";
import { spoken } from "./tokentext.js";
import { VIEWS } from "./views/index.js";
import * as beyondView from "./views/beyond.js";
import * as legendView from "./views/legend.js";
import * as replayView from "./views/replay.js";
import * as tokensView from "./views/tokens.js";
import { parseAblate, setVocabulary, viewIds, viewInfo, vocab } from "./vocab.js";

// The pause after the last keystroke before the sentence is sent: about as long as the server took to analyse
// the model's last new sentence, within these bounds. A burst of fast typing sends one request, not one per key,
// and a model that takes longer (SmolLM2) is not sent a forward pass per keystroke: the page drops a stale answer,
// but the server still finishes each pass it has started.
const TEXT_DEBOUNCE_MS = { min: 60, max: 400 };
const CONTINUE_TOKENS = 10;

const $ = (id) => document.getElementById(id);

/** What the page knows besides the state: shared with the lesson panel. */
const page = {
  list: null, // GET /api/models
  byName: new Map(), // name -> its /api/models entry
  hover: null, // token index previewed by hovering the strip
  ablateMode: false,
  debounce: null,
  notice: "", // a message about the link (e.g. an unknown model) or the sentence box, shown next to the input
  note: null, // {key, text}: the last Continue's message for the predictions view (why it stopped), with its page
  cut: "", // what the last paste lost past the sentence box's maxlength, said once the box's text is taken
  tokenCount: null, // the analysed sentence's token count (null until it is analysed)
  linkToken: null, // the token the link named, until the link's sentence is analysed (to say so if it is past the end)
  presenting: null, // presenter mode as last applied to the page
  tabShown: null, // the view whose tab was last scrolled into sight (a row the student scrolls stays where they put it)
  tabKept: true, // the selected tab was in sight after the tab row's last scroll: a change of its width keeps it so
  tabScrolledTo: 0, // where the page last scrolled the tab row to (tabIntoSight)
  query: null, // the effective query token (an API index), once the tokens are in
  actions: 0, // actions on their way (Continue)
  generated: null, // the last continuation: {text (the sentence it made), steps (the API's, one per generated token)}
  viewFocus: null, // the element last focused in the views (keepFocus)
  announced: "", // what the screen reader's live region last said (announce)
};
let refreshQueued = false;

// ----------------------------------------------------------------------------------- helpers

function currentModel() {
  return page.byName.get(state.model) || page.byName.get(page.list && page.list.default) || null;
}

/**
 * The model the views work on: the chosen one, or, at a training step of the slider, its checkpoint NAME@STEP (an
 * entry like the model's, with that name).
 */
function effectiveModel() {
  return atStep(currentModel(), state.tstep);
}

let modelsMemo = { model: null, base: null, map: null };
/** The models by name, with the checkpoint the page works on among them (it is not in the list of models). */
function modelsFor(model) {
  if (!model || !model.checkpoint_of) return page.byName;
  if (modelsMemo.model !== model.name || modelsMemo.base !== page.byName) {
    modelsMemo = { model: model.name, base: page.byName, map: new Map([...page.byName, [model.name, model]]) };
  }
  return modelsMemo.map;
}

/** The context every source is asked in: the page's state, its model, the models, the hovered token, the lab's run. */
function context() {
  const model = effectiveModel();
  return { state, model, models: modelsFor(model), hover: page.hover, overrides: {}, lab: lab.view };
}

function setBusy() {
  const busy = data.inflight() > 0 || page.debounce !== null || refreshQueued || page.actions > 0;
  document.documentElement.dataset.busy = busy ? "1" : "0";
  $("status").textContent = busy ? "computing…" : "";
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

/** A model's label in the model menu: its name, kind, size and positional scheme; a model that is not installed, its
 * name and that (after the rest, " (not installed)" was cut at the menu's edge at 1280 px, "... rotary (not"). */
function modelLabel(m) {
  if (!m.available) return `${m.name} · not installed`;
  return `${m.name} · ${m.kind} · ${formatParams(m.params)} params · ${m.positional}`;
}

/** The pause after a keystroke: the current model's last analysis time, within TEXT_DEBOUNCE_MS's bounds. */
function typingPause() {
  const m = currentModel();
  const ms = m ? data.analyzeMs(m.name) : 0;
  return Math.min(TEXT_DEBOUNCE_MS.max, Math.max(TEXT_DEBOUNCE_MS.min, ms));
}

const SETTINGS_OPEN = "attnlab-settings-open"; // the localStorage key: "1" while the phone's Settings are open

/** The browser's localStorage, or a store that keeps nothing where there is none (storage refused). */
function localStore() {
  try {
    if (globalThis.localStorage) return globalThis.localStorage;
  } catch {
    // (storage refused: nothing is remembered)
  }
  return { getItem: () => null, setItem: () => {} };
}

/** Opens or closes the Settings a phone folds (app.css hides them while the button says closed), and remembers it:
 * a learner who keeps them open finds them open on the next page. */
function showSettings(open) {
  $("settings-toggle").setAttribute("aria-expanded", open ? "true" : "false");
  localStore().setItem(SETTINGS_OPEN, open ? "1" : "0");
}

/** The Settings button names, a chip each, what the settings it folds hold that a new page would not (derive.js
 * settingsNotes): closed, they hid that the numbers were an earlier training step's. Its spoken name says them too. */
function labelSettings(notes) {
  const button = $("settings-toggle");
  const key = notes.join("\n");
  if (button._notes === key) return;
  button._notes = key;
  button.replaceChildren("Settings", ...notes.map((note) => h("span", { class: "settings-note" }, note)));
  if (notes.length) button.setAttribute("aria-label", `Settings: ${notes.join(", ")}`);
  else button.removeAttribute("aria-label");
}

// ----------------------------------------------------------------------------------- the page from the vocabulary

/** The tabs and their panels, one per view of the server's vocabulary, in its order. */
function buildViews() {
  const list = document.querySelector(".tabs [role=tablist]");
  const main = $("views");
  list.replaceChildren(...vocab.views.map((v) => h("button", {
    type: "button", role: "tab", id: `tab-${v.id}`, "aria-controls": `panel-${v.id}`, dataset: { view: v.id }, title: v.description,
  }, v.title)));
  for (const v of vocab.views) {
    main.append(h("section", { class: "view", id: `panel-${v.id}`, dataset: { view: v.id }, role: "tabpanel", "aria-labelledby": `tab-${v.id}`, hidden: true }));
    if (!VIEWS[v.id]) console.error(`the server names a view “${v.id}” that this page has no module for (views/index.js)`);
  }
  $("positions").replaceChildren(...vocab.positions.map((p) => h("option", { value: p.id, title: p.title }, p.id)));
  if (vocab.limits.max_text_chars) $("text").maxLength = vocab.limits.max_text_chars;
}

/** A tab list that scrolls sideways fades out at each side that hides tabs (classes more-left, more-right). */
function showTabCues() {
  const list = document.querySelector(".tabs [role=tablist]");
  const cues = scrollCues(list);
  list.classList.toggle("more-left", cues.left);
  list.classList.toggle("more-right", cues.right);
}

/** Where the tab list must scroll to for the selected tab to be in sight, clear of the fade at its sides (3rem,
 * app.css); null where the list does not scroll. */
function selectedTabScroll() {
  const list = document.querySelector(".tabs [role=tablist]");
  const tab = list && list.querySelector("[aria-selected=true]");
  if (!tab || list.scrollWidth <= list.clientWidth) return null;
  const fade = 3 * parseFloat(getComputedStyle(document.documentElement).fontSize);
  // (the tab's and the list's offsets are from the same box, the sticky header; the browser stops the scroll at the
  // row's end, where the last tab has no fade beside it)
  const to = intoSight(tab.offsetLeft - list.offsetLeft, tab.offsetWidth, list.scrollLeft, list.clientWidth, fade);
  return Math.min(to, list.scrollWidth - list.clientWidth);
}

/** A tab list that scrolls sideways (presenter mode, a phone) brings the selected tab into sight when a tab is
 * selected, and keeps it there when the list's width changes (the selection's controls beside it are drawn after
 * the tabs, narrowing it: a tab scrolled to the end was then past its right edge) unless the student scrolled it
 * out of sight. */
function tabIntoSight() {
  const to = selectedTabScroll();
  const list = document.querySelector(".tabs [role=tablist]");
  if (to !== null) list.scrollLeft = to;
  page.tabScrolledTo = list.scrollLeft; // (the scroll event this causes comes later, maybe after another resize)
  page.tabKept = true;
}

function fillSelect(select, count, prefix) {
  if (select.options.length !== count) {
    select.replaceChildren(...[...Array(count).keys()].map((i) => new Option(`${prefix}${i}`, String(i))));
  }
}

function syncInputs() {
  const text = $("text");
  if (page.debounce === null && document.activeElement !== text && text.value !== state.text) text.value = state.text;
  const m = currentModel();
  if (m) $("model").value = m.name;
  $("positions").value = state.positions;
  $("scale").checked = state.scale;
  $("hide-special").checked = state.hidespecial;
  labelSettings(settingsNotes(state));
  $("present").setAttribute("aria-pressed", state.present ? "true" : "false");
  if (page.presenting !== state.present) {
    const first = page.presenting === null;
    page.presenting = state.present;
    document.body.classList.toggle("presenter", state.present);
    labelModels();
    page.tabShown = null; // the tabs' sizes changed: the selected one into sight again (below)
    if (!first) forgetDrawn(); // the plots' text is sized when they are drawn
  }
  if (m) {
    fillSelect($("layer"), m.n_layers, "");
    fillSelect($("head"), m.n_heads, "");
    $("model-info").textContent = $("model-info").title =
      `${m.title}: ${m.kind}, ${count(m.n_layers, "layer")} × ${m.n_heads} heads` +
      (m.n_kv_heads !== m.n_heads ? ` (${m.n_kv_heads} K/V heads)` : "") +
      `, d_model ${m.d_model}, d_head ${m.d_head}, ${m.positional === "none" ? "no positional encoding" : schemeWords(m.positional)}, ${formatParams(m.params)} parameters, ` +
      `reads at most ${m.max_tokens} tokens` + (canRunBeyond(m) ? ` (${m.max_tokens_beyond} in all when allowed past its trained length, with a warning)` : "") + `. Trained on: ${m.source || "—"}` + (m.licence ? ` (${m.licence})` : "") +
      (!m.licence && /[.!?]$/.test(m.source || "") ? "" : ".") + // (a source that ends its own sentence: one full stop)
      (effectiveModel() !== m ? ` Shown as it was at training step ${effectiveModel().step} (${effectiveModel().name}).` : "");
  }
  $("layer").value = String(state.layer);
  $("head").value = String(state.head);
  const list = $("ablated");
  list.replaceChildren();
  for (const [l, hd] of state.ablate) {
    list.append(h("button", { type: "button", class: "chip", dataset: { layer: String(l), head: String(hd) }, title: "restore this head" }, `L${l} H${hd} ×`));
  }
  if (!state.ablate.length) list.textContent = "none";
  $("ablate-clear").hidden = !state.ablate.length;
  $("ablate-mode").setAttribute("aria-pressed", page.ablateMode ? "true" : "false");
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    const on = tab.dataset.view === state.view;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
  }
  if (page.tabShown !== state.view) {
    page.tabShown = state.view;
    tabIntoSight();
  }
  showTabCues();
  const info = viewInfo(state.view);
  $("selection").dataset.layerHead = info && info.layer_head ? "1" : "0";
}

/** Keep layer, head and ablations inside the chosen model. */
function normalize() {
  const m = currentModel();
  if (!m) return false;
  const patch = {};
  if (state.model !== m.name) patch.model = m.name;
  if (state.layer >= m.n_layers) patch.layer = 0;
  if (state.head >= m.n_heads) patch.head = 0;
  const ablate = state.ablate.filter(([l, hd]) => l < m.n_layers && hd < m.n_heads);
  if (ablate.length !== state.ablate.length) patch.ablate = ablate;
  for (const key of ["target", "versus"]) if (state[key] !== null && state[key] >= m.vocab_size) patch[key] = null;
  if (state.tstep !== null) {
    // a training step the model recorded (the nearest one), else none; the last one is the model itself (no step)
    const steps = checkpointSteps(m);
    const s = steps.length ? steps[stepIndex(steps, state.tstep)] : null;
    const tstep = s === null || s === steps[steps.length - 1] ? null : s;
    if (tstep !== state.tstep) patch.tstep = tstep;
  }
  if (Object.keys(patch).length) {
    update(patch);
    return true;
  }
  return false;
}

// ----------------------------------------------------------------------------------- refresh

// One refresh at a time, queued. After a change of the state or an answer (`soon`) it runs in the next task, so that
// the requests go out and the first plot is drawn without waiting for an animation frame (up to a frame's time, and
// longer while the browser paints a large plot); the plots after the first each wait for a frame (`more` below).
function schedule(soon = false) {
  if (refreshQueued) return;
  refreshQueued = true;
  setBusy();
  const run = () => {
    refreshQueued = false;
    try {
      refresh();
    } finally {
      setBusy();
    }
  };
  if (soon) setTimeout(run, 0);
  else requestAnimationFrame(run);
}

function refresh() {
  if (!page.list) return;
  if (normalize()) return; // the state changed: the listener schedules another refresh
  syncInputs();
  const ctx = context();
  let more = false;
  data.begin("page");
  try {
    more = !explorer(ctx);
  } finally {
    data.end("page");
  }
  lessons.refresh({ ...ctx, hover: null, query: page.query });
  classroom.update({ query: page.query, model: ctx.model ? ctx.model.name : null, tokens: page.tokenCount, info: ctx.model });
  if (more) schedule();
}

/** The explorer: the token strip and the selected view. Returns false when the view needs another frame. */
function explorer(ctx) {
  const base = currentModel();
  replayView.render($("replay"), { model: base, tstep: state.tstep,
    training: checkpointSteps(base).length ? data.resolve("page", "training", ctx) : null });
  const standalone = VIEWS[state.view] && VIEWS[state.view].standalone;
  document.body.classList.toggle("standalone-view", Boolean(standalone));
  if (standalone) {
    showError(page.notice);
    page.query = null;
    page.tokenCount = null;
    return showView(ctx, { view: null, analysis: null, token: null });
  }
  const an = data.resolve("page", "analyze", ctx);
  const beyond = beyondNotice({ model: ctx.model, state, analysis: an.error ? null : an.data, error: an.error, status: an.status, refusal: an.refusal,
    models: page.list.models });
  // a text too long for the trained length: the notice says so in plain words (and offers to run it, or says why not)
  showError([beyond && beyond.kind !== "warning" ? "" : an.error, page.notice].filter(Boolean).map((m) => asSentence(m, [...page.byName.keys()])).join(" "));
  beyondView.render($("beyond"), beyond);
  const analysis = an.data;
  // while only another layer of this sentence is on its way, the tokens shown are this sentence's
  const sameText = an.current || (analysis && data.baseOf(analysis) === data.baseKey(an.request.params));
  // no view is left showing another sentence's plots under the message of one that could not be analysed
  for (const s of document.querySelectorAll("main .view")) s.hidden = !analysis || s.dataset.view !== state.view;
  $("empty").hidden = Boolean(analysis);
  if (!analysis) {
    // a view that can draw something else without the sentence (the Heads view: the induction probe) says so, with a
    // button for it: its own controls are not drawn
    const module = VIEWS[state.view];
    // (not on a model that is not installed: the probe needs it too)
    const offer = !an.pending && ctx.model?.available !== false && module && module.withoutSentenceOffer && !readsNoSentence(module, state)
      ? module.withoutSentenceOffer : null;
    showEmpty(emptyMessage({ pending: an.pending, beyond, text: state.text, model: ctx.model }), offer);
    $("query-label").textContent = "";
    $("query-label").parentElement.hidden = true; // (no "Query" with nothing after it)
    tokensView.render($("tokens"), { tokens: [] }, { token: null, pinned: null });
    legendView.render($("token-legend"), null);
    page.query = null;
    page.tokenCount = null;
    // a view that does not read the sentence in this state (the position lab; the Heads view on the probe) is drawn
    // under the sentence's refusal all the same
    if (!an.pending && readsNoSentence(VIEWS[state.view], state)) return showView(ctx, { view: null, analysis: null, token: null });
    return true;
  }
  const n = analysis.tokens.length;
  // a pinned token past this sentence's end (a link's token=500, a text made shorter) is the default query (the last
  // token that stands for text): the URL says so too, instead of naming a token the page does not show
  if (an.current && state.token !== null && state.token >= n) {
    if (state.token === page.linkToken) {
      const last = effectiveToken(analysis.tokens) === n - 1 ? "the last token" : "the last token that stands for text";
      page.notice = [page.notice, `The link's token ${state.token} is past the end of this sentence (tokens 0 to ${n - 1}): ` +
        `showing ${last}.`].filter(Boolean).join(" ");
    }
    update({ token: null });
  }
  if (an.current) page.linkToken = null; // (the link's sentence is analysed: a later token past the end is not the link's)
  const view = visibleAnalysis(analysis, state.hidespecial);
  // (a sentence with no special token: the box would hide nothing, so it is off and says why)
  const box = $("hide-special");
  const special = hideSpecialBox(analysis.tokens, analysis.model, state.hidespecial);
  box.disabled = Boolean(special && special.disabled);
  box.parentElement.dataset.title ??= box.parentElement.title;
  box.parentElement.title = special ? special.title : box.parentElement.dataset.title;
  const tok = effectiveToken(analysis.tokens, { hover: page.hover, token: state.token }, shownIndices(view));
  page.query = an.current ? effectiveToken(analysis.tokens, { token: state.token }, shownIndices(view)) : null;
  page.tokenCount = an.current ? n : null; // (Download report: a report takes at most the model's max_report_tokens)
  // the sentence these tokens are of (the chips' tooltips and the legend say what the tokenizer changed in it)
  const sentence = sameText ? an.request.params.text : null;
  tokensView.render($("tokens"), { tokens: view.tokens, interventions: analysis.interventions, positional: base.positional, stale: !sameText, sentence },
    { token: tok, pinned: state.token === null ? null : Math.min(state.token, n - 1), query: page.query });
  legendView.render($("token-legend"), { tokens: view.tokens, unseen: analysis.unseen_characters, model: analysis.model, sentence });
  $("query-label").textContent = `${tok} “${shownText(analysis.tokens[tok])}”`;
  $("query-label").parentElement.hidden = false;
  if (!an.current) {
    // wait for this sentence's analysis before asking the view's questions that depend on it (which token is the
    // query); those that do not are asked now, with it. Meanwhile the view on screen (maybe drawn for another
    // sentence, when its analysis carries more than the last view's) says it is not ready
    // (only a text that surely fits the model: one that may be too long is refused once, for its analysis, not again
    // for each request asked with it)
    const module = VIEWS[state.view];
    const fits = surelyFits(state.text, ctx.model, state.beyond);
    if (module && fits) for (const name of module.sources) data.prefetch("page", name, ctx);
    const section = document.querySelector(`main .view[data-view="${state.view}"]`);
    if (section) section.dataset.state = "loading";
    return true;
  }
  return showView(ctx, { an, token: tok, view, analysis });
}

/**
 * What the page says where the view would be (#empty): `text`, and where the view offers what it can draw without the
 * sentence (`offer`, its withoutSentenceOffer: {words, button, patch}), those words and a button that sets `patch`.
 * Made again only when it changes (the page redraws often: a button made anew would lose a click or the focus).
 */
function showEmpty(text, offer = null) {
  const el = $("empty");
  const key = [text, offer ? offer.words : ""].join("\u0000");
  if (el._said === key) return;
  el._said = key;
  el.replaceChildren(text);
  if (!offer) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "small";
  button.textContent = offer.button;
  button.addEventListener("click", () => update(offer.patch));
  el.append(" ", offer.words, " ", button);
}

/** Whether a view draws nothing of the sentence's analysis in `state` (its `withoutSentence`: true, or of the state). */
function readsNoSentence(module, s) {
  const free = module && module.withoutSentence;
  return typeof free === "function" ? free(s) : Boolean(free);
}

/** The selected view drawn from its sources (`an`: the sentence's analysis, absent for a standalone view). */
function showView(ctx, { an, token: tok, view, analysis }) {
  for (const s of document.querySelectorAll("main .view")) s.hidden = s.dataset.view !== state.view;
  const section = document.querySelector(`main .view[data-view="${state.view}"]`);
  const module = VIEWS[state.view];
  if (!section || !module) {
    $("empty").hidden = false;
    showEmpty(`This page has no view “${state.view}”.`);
    return true;
  }
  let ready = false;
  try {
    const got = an ? { analyze: an } : {};
    for (const name of module.sources) if (!(name in got)) got[name] = data.resolve("page", name, ctx);
    ready = module.show(section, got, { ...ctx, token: tok, query: page.query, view, analysis, ablateMode: page.ablateMode, note: page.note, generated: page.generated });
    $("empty").hidden = true;
  } catch (err) {
    // a drawing bug must not leave a blank page: say what failed
    $("empty").hidden = false;
    showEmpty(`This view could not be drawn: ${err.message}`);
    console.error(err);
    ready = true;
  }
  section.dataset.state = ready ? "ready" : "loading";
  keepFocus(section);
  if (ready) {
    const info = viewInfo(state.view);
    const q = page.query;
    // the layer and head too, where the view shows one: the arrow keys move them, and nothing else says where to
    const where = info && info.layer_head ? `, layer ${state.layer}, head ${state.head}` : "";
    announce(`${info ? info.title : state.view} drawn` + (analysis ? `: ${analysis.tokens.length} tokens, query token ${q ?? tok} “${spoken(shownText(analysis.tokens[q ?? tok]))}”${where}, model ${analysis.model}.` : `${where ? `: ${where.slice(2)}` : ""}.`));
  }
  return ready;
}

/** Say it once to a screen reader (a polite live region, visually hidden): the visible status only said "computing…". */
function announce(text) {
  if (text === page.announced) return;
  page.announced = text;
  $("announce").textContent = text;
}

/** The keyboard's place after a view is drawn: a control it drew anew under the focus (a Links head chip, the Model
 * view's next block, a column header of the heads' table) passes the focus to its successor, the control of the same
 * name (or data); a control that opened another
 * view (a Model box) passes it to that view's tab. Else the focus fell to the page's body: Tab began at the top. */
function keepFocus(section) {
  const was = page.viewFocus;
  const now = document.activeElement;
  if (!was || (now && now !== document.body)) return;
  const gone = !was.isConnected || Boolean(was.closest("[hidden]"));
  if (!gone) return;
  page.viewFocus = null;
  const name = (e) => [e.tagName, e.getAttribute("aria-label") || "", e.textContent.trim()].join("\u0000");
  const usable = [...section.querySelectorAll(`${was.tagName}:not([disabled])`)].filter((e) => !e.closest("[hidden]"));
  // (the same name; else the same data: a sorted column's header, whose arrow changed)
  const data = (e) => JSON.stringify({ ...e.dataset });
  const same = section.contains(was) || !was.isConnected
    ? usable.find((e) => name(e) === name(was)) || (data(was) !== "{}" && usable.find((e) => data(e) === data(was))) : null;
  const to = same || document.querySelector(".tabs [role=tab][aria-selected=true]");
  if (to) to.focus({ preventScroll: Boolean(same) });
}

// ----------------------------------------------------------------------------------- actions

async function continueText() {
  const m = effectiveModel(); // the model on screen (at a training step, its checkpoint): it continues the sentence
  // (past the trained length too, where the page has agreed to it: every other request of the sentence is)
  const base = baseParams(state, m);
  page.note = { key: continuationKey(state, m.name), text: "continuing…" };
  page.actions++;
  schedule();
  try {
    const sampling = samplingOf(state);
    // a draw without a seed gets a new one each time (the seed box says so): not the cached answer of the last one
    const fresh = sampling.method === "sample" && sampling.seed === null;
    const spec = { api: "predict", params: { ...base, top_k: 1, temperature: state.temp, continue_tokens: CONTINUE_TOKENS, sampling } };
    const r = await data.request(spec, undefined, { fresh });
    if (state.text !== base.text) return; // the sentence changed meanwhile
    const added = r.continuation_tokens ? r.continuation_tokens.length : 0;
    const how = r.sampling && r.sampling.method === "sample"
      ? `sampled with seed ${r.sampling.seed}: the same seed, sentence and settings draw the same tokens`
      : "greedy: the top token each time";
    const text = state.text + (r.continuation || "");
    const key = continuationKey({ ...state, text }, m.name);  // the note and the steps hold for the page they made
    page.note = { key, text: r.stopped ? `${r.stopped[0].toUpperCase()}${r.stopped.slice(1)}.` : `Added ${added} tokens, ${how}.` };
    if (r.continuation) {
      // the generated tokens keep their positions when the new sentence reads as the old tokens plus them
      page.generated = r.full_text_same_tokens && r.steps ? { key, steps: r.steps } : null;
      // the seed the draws used stays shown (and is sent again), so the same Continue can be repeated
      update({ text, ...(r.sampling && r.sampling.method === "sample" ? { seed: r.sampling.seed } : {}) }, { history: "push" });
    }
  } catch (err) {
    page.note = null;
    if (err.name !== "AbortError") showError(err.message);
  } finally {
    page.actions--;
    schedule();
  }
}

/** A view's request to change the state; side b's ablated heads come as typed (read with the one ablate parser). */
function applyPatch(patch, history) {
  const next = { ...patch };
  if (typeof next.ablate2 === "string") {
    try {
      next.ablate2 = parseAblate(next.ablate2);
    } catch (err) {
      showError(err.message);
      delete next.ablate2;
    }
  }
  update(next, { history });
}

/** A request of the training lab's view: an action on its run, or opening the run's model in the explorer. */
async function labAction({ op, ...detail }) {
  if (op === "pick") return lab.pick(detail.index);
  if (op === "train") return lab.train(detail.params);
  if (op === "refuse") return lab.refuse(detail.message);
  if (op === "step") return lab.step(detail.n);
  if (op === "open") return openLabModel(detail.step);
  if (op === "files") {
    const got = await lab.files(detail.step);
    if (got) download(got.name, "application/zip", got.blob);
    return undefined;
  }
  if (["pause", "resume", "reset", "cancel"].includes(op)) return lab[op]();
  return undefined;
}

/** Register the lab run's model at `step`, list it among the models, and show it in the attention view. */
async function openLabModel(step) {
  page.actions++;
  schedule();
  try {
    const name = await lab.register(step === null ? undefined : step);
    if (!name) return; // lab.js shows why
    await reloadModels();
    const run = lab.view.run;
    const task = run && run.example;
    // the run's fixed example as the sentence (a letter task's tokenizer reads nothing else); a text task keeps it
    const patch = { model: name, tstep: null, view: "attention", token: null, layer: 0, head: 0 };
    if (task && run.config.task !== "tinystories") patch.text = task.tokens.slice(1).join("");
    if (patch.text !== undefined) $("text").value = patch.text;
    update(patch, { history: "push" });
  } finally {
    page.actions--;
    schedule();
  }
}

/** Ask for the list of models again (a lab run registered one) and fill the model menu. */
async function reloadModels() {
  try {
    setModels(await data.request({ api: "models" }, undefined, { fresh: true }));
  } catch (err) {
    showError(err.message);
  }
}

function setModels(list) {
  page.list = list;
  page.byName = new Map(list.models.map((m) => [m.name, m]));
  $("model").replaceChildren(...list.models.map((m) => {
    const opt = new Option(modelLabel(m), m.name);
    opt.disabled = !m.available;
    opt.title = m.available ? m.title : `not installed: ${m.install || ""}`;
    return opt;
  }));
  labelModels();
}

/** The model menu's labels: in presenter mode and on a phone each model's name alone (the menu is narrow there, and
 * cut the full label after the name or its size; the line under it on a phone says the kind, size and scheme in
 * full), else with its kind, size and positional scheme; a model that is not installed, its name and that, everywhere. */
function labelModels() {
  const short = page.presenting || onPhone();
  for (const opt of $("model").options) {
    const m = page.byName.get(opt.value);
    if (m) opt.textContent = short && m.available ? m.name : modelLabel(m);
  }
}

// ----------------------------------------------------------------------------------- wiring

function wire() {
  const text = $("text");
  text.addEventListener("input", (ev) => {
    mark("attnlab:input", { text: text.value });
    if (ev.inputType !== "insertFromPaste") page.cut = ""; // (a paste into a full box changes nothing: no input)
    clearTimeout(page.debounce);
    page.debounce = setTimeout(() => {
      page.debounce = null;
      page.note = null;
      update({ text: text.value });
      // (after the update, which clears a notice about the link)
      if (page.cut) page.notice = page.cut;
      else if (text.maxLength > 0 && text.value.length >= text.maxLength) page.notice = `The sentence box holds at most ${text.maxLength} characters.`;
      page.cut = "";
      setBusy();
    }, wholeInsert(ev) ? 0 : typingPause());
    setBusy();
  });
  text.addEventListener("paste", (ev) => {
    // the box takes no more than its maxlength: what a paste loses past it is said, not dropped without a word
    const pasted = (ev.clipboardData ? ev.clipboardData.getData("text/plain") : "").replace(/\r\n?/g, "\n"); // as the box keeps it
    const over = text.value.length - (text.selectionEnd - text.selectionStart) + pasted.length - text.maxLength;
    page.cut = text.maxLength > 0 && over > 0
      ? `The sentence box holds at most ${text.maxLength} characters: the last ${over} characters of the pasted text were left out.`
      : "";
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
    clearTimeout(page.debounce);
    page.debounce = null;
    update({ text: text.value });
    setBusy();
  });
  // the tokens explained are ids of the old model's vocabulary: the new model explains its own top-1
  $("model").addEventListener("change", (ev) => update({ model: ev.target.value, target: null, versus: null }));
  $("positions").addEventListener("change", (ev) => update({ positions: ev.target.value }));
  $("scale").addEventListener("change", (ev) => update({ scale: ev.target.checked }));
  $("hide-special").addEventListener("change", (ev) => update({ hidespecial: ev.target.checked }));
  $("present").addEventListener("click", () => update({ present: !state.present }));
  showSettings(localStore().getItem(SETTINGS_OPEN) === "1");
  $("settings-toggle").addEventListener("click", (ev) => showSettings(ev.currentTarget.getAttribute("aria-expanded") !== "true"));
  $("layer").addEventListener("change", (ev) => update({ layer: Number(ev.target.value) }));
  $("head").addEventListener("change", (ev) => update({ head: Number(ev.target.value) }));
  $("ablate-mode").addEventListener("click", () => {
    page.ablateMode = !page.ablateMode;
    syncInputs();
    schedule();
  });
  $("ablate-clear").addEventListener("click", () => update({ ablate: [] }));
  $("ablated").addEventListener("click", (ev) => {
    const chip = ev.target.closest("button.chip");
    if (chip) update({ ablate: toggledAblate(Number(chip.dataset.layer), Number(chip.dataset.head)) });
  });
  for (const btn of document.querySelectorAll("button.example[data-text]")) {
    btn.addEventListener("click", () => {
      clearTimeout(page.debounce);
      page.debounce = null;
      text.value = btn.dataset.text;
      page.note = null;
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
    if (i !== null && i !== page.hover) {
      page.hover = i;
      schedule();
    }
  });
  strip.addEventListener("mouseleave", () => {
    if (page.hover !== null) {
      page.hover = null;
      schedule();
    }
  });
  strip.addEventListener("click", (ev) => {
    const i = indexOf(ev);
    if (i !== null) {
      page.hover = null;
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
      page.hover = null;
      update({ token: Number(next.dataset.index) });
    }
  });

  // tabs
  const tabs = document.querySelector(".tabs");
  const tablist = tabs.querySelector("[role=tablist]");
  tablist.addEventListener("scroll", () => {
    // the page's own scroll (tabIntoSight) keeps the tab kept in sight, even where the row's width changed again
    // before this event came: only a scroll by the student elsewhere lets it go
    if (Math.abs(tablist.scrollLeft - page.tabScrolledTo) > 1) {
      const to = selectedTabScroll();
      page.tabKept = to === null || Math.abs(to - tablist.scrollLeft) <= 1;
    }
    showTabCues();
  }, { passive: true });
  new ResizeObserver(() => {
    if (page.tabKept) tabIntoSight();
    showTabCues();
  }).observe(tablist);
  tabs.addEventListener("click", (ev) => {
    const tab = ev.target.closest("[role=tab]");
    if (tab) update({ view: tab.dataset.view }, { history: "push" });
  });
  tabs.addEventListener("keydown", (ev) => {
    // a tablist: one tab stop; Left/Right/Home/End move between the tabs (Enter/Space: a click)
    const tab = ev.target.closest("[role=tab]");
    if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    const ids = viewIds();
    const i = ids.indexOf(tab.dataset.view);
    const to = { ArrowLeft: i + ids.length - 1, ArrowRight: i + 1, Home: 0, End: ids.length - 1 }[ev.key] % ids.length;
    update({ view: ids[to] }, { history: "push" });
    tabs.querySelector(`[data-view="${ids[to]}"]`).focus();
  });

  // the control last focused in a view (keepFocus: its successor takes the focus when the view draws it anew)
  $("views").addEventListener("focusin", (ev) => {
    page.viewFocus = ev.target;
  });

  // a control focused going back up the page (Shift+Tab) is scrolled to below the sticky token strip and tabs, not
  // under them (where they are sticky: not in presenter mode on a short screen with a lesson open, app.css). Where they
  // are not, the page's top ends below them (--page-top): a lesson's sheet there starts no higher (lessons.css)
  const bar = document.querySelector(".sticky");
  const barSize = new ResizeObserver(() => {
    const sticky = getComputedStyle(bar).position === "sticky";
    document.documentElement.style.scrollPaddingTop = sticky ? `${bar.offsetHeight + 8}px` : "";
    document.documentElement.style.setProperty("--page-top", `${bar.offsetTop + bar.offsetHeight}px`);
  });
  barSize.observe(bar);
  barSize.observe(document.querySelector("header.top")); // (a sentence of two lines moves the strip down)
  barSize.observe($("intervention-banner")); // (and so does the banner, shown once the page has drawn)

  // the keyboard, anywhere outside a text field: arrows move the layer (up/down) and head (left/right),
  // `p` switches presenter mode
  document.addEventListener("keydown", onKey);
  whenPhoneChanges(labelModels); // (the menu's labels are shorter on a phone)
  // the plots are drawn at the width of their box: redraw them when it changes (the window, the lesson panel)
  let width = $("views").clientWidth;
  let resizeTimer = null;
  new ResizeObserver(() => {
    const now = $("views").clientWidth;
    if (now === width) return;
    width = now;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      forgetDrawn();
      schedule();
    }, 120);
  }).observe($("views"));

  // requests from the views
  document.addEventListener("attnlab:state", (ev) => {
    const { patch, history, ablate } = ev.detail;
    if (ablate && (page.ablateMode || ablate.modifier)) update({ ablate: toggledAblate(ablate.layer, ablate.head) });
    else applyPatch(patch, history);
  });
  document.addEventListener("attnlab:action", (ev) => {
    if (ev.detail.name === "continue") continueText();
    if (ev.detail.name === "lab") labAction(ev.detail);
  });
  // the training lab: draw each change of its run; the page's run stops when the page goes
  lab.subscribe(schedule);
  window.addEventListener("pagehide", () => lab.leave());
  lab.restore(); // (a reload: the tab's run, stopped as the page before went)

  window.addEventListener("popstate", () => {
    // the page of the history goes back whole: a sentence being typed (even in the focused box) gives way to its text
    clearTimeout(page.debounce);
    page.debounce = null;
    readURL();
    $("text").value = state.text;
  });
  subscribe((changed) => {
    // what the link named wrongly is said until the reader picks another sentence, model or view
    if (page.notice && ["text", "model", "view"].some((k) => changed.has(k))) page.notice = "";
    syncInputs();
    schedule(true);
  });
  data.subscribe(() => {
    setBusy();
    schedule(true);
  });
}

/** Keys typed into these are theirs: a text box, a list, a slider. */
function isTextField(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["checkbox", "button", "submit", "reset"].includes(el.type);
}

const ARROWS = { ArrowUp: ["layer", -1], ArrowDown: ["layer", 1], ArrowLeft: ["head", -1], ArrowRight: ["head", 1] };

function onKey(ev) {
  if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.isComposing || isTextField(ev.target)) return;
  // a modal dialog open (Share's QR code on the projector): the page behind it stays as the dialog shows it
  if (document.querySelector("dialog[open]")) return;
  if ((ev.key === "p" || ev.key === "P") && !ev.repeat) {
    ev.preventDefault();
    update({ present: !state.present });
    return;
  }
  const move = ARROWS[ev.key];
  const m = currentModel();
  const info = viewInfo(state.view);
  if (!move || ev.shiftKey || !m || !info || !info.layer_head) return;
  ev.preventDefault(); // the arrows move the selection here, not the page
  const [key, step] = move;
  const count = key === "layer" ? m.n_layers : m.n_heads;
  const next = Math.max(0, Math.min(count - 1, state[key] + step));
  if (next !== state[key]) update({ [key]: next });
}

async function start() {
  let meta;
  let list;
  try {
    // the vocabulary first: the tabs, the menus and the reading of the URL come from it
    [meta, list] = await Promise.all([data.request({ api: "meta" }), data.request({ api: "models" })]);
  } catch (err) {
    showError(`Could not load the page's vocabulary and models: ${err.message}`);
    document.documentElement.dataset.busy = "0";
    return;
  }
  setVocabulary(meta);
  buildViews();
  const problems = readURL();
  // a link's sentence longer than the box holds is cut to it, as a paste is (the API refused it in its own words,
  // naming its setting); the limit counts characters as the server does (an emoji is one)
  const limit = vocab.limits.max_text_chars;
  const chars = Array.from(state.text);
  if (limit && chars.length > limit) {
    problems.push(`The link's sentence has ${chars.length} characters; the sentence box holds at most ${limit}: ` +
      `the last ${chars.length - limit} were left out.`);
    update({ text: chars.slice(0, limit).join("") });
  }
  wire();
  $("text").value = state.text;
  setModels(list);
  if (state.model && !page.byName.has(state.model)) {
    problems.push(`There is no model named “${state.model}”; showing ${list.default} instead.`);
    update({ model: list.default });
  } else if (!state.model) {
    update({ model: list.default });
  }
  const m = currentModel();
  for (const [key, count] of m ? [["layer", m.n_layers], ["head", m.n_heads]] : []) {
    if (state[key] >= count) problems.push(`${m.name} has ${count} ${key}s (0 to ${count - 1}): there is no ${key} ${state[key]}; showing ${key} 0.`);
  }
  page.notice = problems.join(" ");
  page.linkToken = state.token;
  lessons.start(page, { schedule });
  classroom.wire();
  syncInputs();
  schedule();
}

start();
