// The lesson panel: the list of lessons, or one step of a lesson (progress, explanation with the live
// numbers, a predict-then-reveal question, previous / next). Text only through textContent: a lesson's
// Markdown-lite (**bold**, *italic*, `code`, "- " lists) is turned into elements here, never into HTML.
// The numbers come in already resolved (lessons.js, through the page's data layer); a click asks lessons.js
// through an "attnlab:lesson" event.
import { isRight } from "../lesson-template.js";
import { h } from "../plot.js";

function ask(node, detail) {
  node.dispatchEvent(new CustomEvent("attnlab:lesson", { bubbles: true, detail }));
}

/** Inline Markdown-lite and placeholders -> nodes. value(raw) -> {text, expr, src, path, fmt, error, waiting, pending}. */
function inline(text, value) {
  const out = [];
  const re = /\{\{(.*?)\}\}|\*\*(.+?)\*\*|\*(.+?)\*|`([^`]+)`/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(placeholder(m[1], value));
    else if (m[2] !== undefined) out.push(h("strong", {}, inline(m[2], value)));
    else if (m[3] !== undefined) out.push(h("em", {}, inline(m[3], value)));
    else out.push(h("code", {}, m[4]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function placeholder(raw, value) {
  const v = value(raw);
  if (v.pending) return h("span", { class: "lv pending", title: "computing…" }, "…");
  if (v.error) return h("span", { class: v.waiting ? "lv waiting" : "lv bad", title: v.error, dataset: { raw } }, "?");
  return h("span", {
    class: "lv",
    title: `${v.src}: ${v.path.join(".")}`,
    // the request it was read from and where in the answer: enough to check it against the API
    dataset: { raw: raw.trim(), expr: v.expr, src: v.src, path: JSON.stringify(v.path), fmt: v.fmt, kind: v.kind,
      request: v.request ? JSON.stringify(v.request) : undefined },
  }, v.text);
}

/** Paragraphs (blank-line separated), "- " bullet lists, inline marks. */
export function blocks(text, value) {
  const out = [];
  for (const para of String(text || "").split(/\n\s*\n/)) {
    const lines = para.split("\n").map((l) => l.trim()).filter(Boolean);
    if (!lines.length) continue;
    if (lines.every((l) => /^[-*]\s+/.test(l))) {
      out.push(h("ul", {}, lines.map((l) => h("li", {}, inline(l.replace(/^[-*]\s+/, ""), value)))));
    } else out.push(h("p", {}, inline(lines.join(" "), value)));
  }
  return out;
}

function header(lesson, total, onClose) {
  return h("div", { class: "lesson-head" },
    h("span", { class: "lesson-kicker" }, `Lesson ${lesson.number} of ${total}`),
    h("h2", { class: "lesson-title" }, lesson.title),
    onClose);
}

function listView(element, data) {
  const close = h("button", { type: "button", class: "small lesson-close", title: "hide the lessons", "aria-label": "hide the lessons" }, "×");
  close.addEventListener("click", () => ask(element, { action: "hide" }));
  const items = data.lessons.map((l) =>
    h("li", {},
      h("button", { type: "button", class: "lesson-open", dataset: { lesson: l.id } },
        h("span", { class: "lesson-num" }, `${l.number}.`), " ", h("span", { class: "lesson-name" }, l.title),
        h("span", { class: "lesson-steps" }, ` · ${l.steps.length} steps`)),
      l.summary ? h("p", { class: "lesson-summary" }, l.summary) : null,
      l.absent ? h("p", { class: "lesson-summary lesson-absent" }, l.absent) : null));
  const list = h("ol", { class: "lesson-list" }, items);
  list.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-lesson]");
    if (b) ask(element, { action: "open", id: b.dataset.lesson });
  });
  const parts = [
    h("div", { class: "lesson-head" }, h("h2", { class: "lesson-title" }, "Lessons"), close),
    data.missing ? h("p", { class: "lesson-note" }, `There is no lesson “${data.missing}”: pick one below.`) : null,
    data.lessons.length ? list : h("p", { class: "lesson-note" }, "No lessons: add a file to frontend/lessons/ (see its README.md)."),
  ];
  if (data.errors && data.errors.length) {
    parts.push(h("details", { class: "lesson-errors" },
      h("summary", {}, `${data.errors.length} lesson file${data.errors.length > 1 ? "s" : ""} could not be read`),
      h("ul", {}, data.errors.map((e) => h("li", {}, h("code", {}, e.file), `: ${e.error}`)))));
  }
  element.replaceChildren(...parts.filter(Boolean));
}

// the questions whose choices are tokens (shown as their text, spaces kept); the others' are words, wrapped
const TOKEN_QUESTIONS = new Set(["top-key", "next-word"]);

function questionView(element, q, value) {
  if (!q) return null;
  const box = h("div", { class: "lesson-question", dataset: { kind: q.kind, answered: q.chosen === null ? "0" : "1" } });
  box.append(h("p", { class: "q-prompt" }, h("span", { class: "q-badge" }, "Predict"), " ", inline(q.prompt, value)));
  if (q.pending) {
    box.append(h("p", { class: "q-wait" }, "…"));
    return box;
  }
  if (q.error) {
    box.append(h("p", { class: "q-wait" }, q.error));
    return box;
  }
  const choices = h("div", { class: "q-choices", role: "group", "aria-label": "your prediction" },
    q.choices.map((c) => {
      const cls = ["q-choice", TOKEN_QUESTIONS.has(q.kind) ? "tokname" : "q-words"]; // a token as its text; else words
      const known = q.chosen !== null && q.answer !== null && q.answer !== undefined; // (a lab run's: not before it has one)
      if (known && isRight(q, c.index)) cls.push("right");
      if (known && c.index === q.chosen && !isRight(q, q.chosen)) cls.push("wrong");
      return h("button", { type: "button", class: cls.join(" "), dataset: { index: String(c.index) }, disabled: q.chosen !== null,
        "aria-pressed": c.index === q.chosen ? "true" : "false" }, c.label);
    }));
  choices.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-index]");
    if (b && !b.disabled) ask(element, { action: "answer", index: Number(b.dataset.index), key: q.key });
  });
  box.append(choices);
  if (q.chosen === null) {
    const show = h("button", { type: "button", class: "small q-show" }, "just show me");
    show.addEventListener("click", () => ask(element, { action: "answer", index: -1, key: q.key }));
    box.append(h("p", { class: "q-hint" }, "Click your guess: the plots stay blurred until you do. ", show));
  } else {
    box.append(h("div", { class: "q-reveal", role: "status" }, blocks(q.reveal, value)));
  }
  return box;
}

/**
 * data: {mode: "loading"|"error"|"list"|"step", message, lessons, errors, missing,
 *        lesson, step, total, value, question, loading, problems, waiting, reveal: {key} | null}; a step's `body`,
 * and its `revealed`: the text below its `+++`, once shown (else null).
 */
export function render(element, data) {
  if (data.mode === "loading" || data.mode === "error") {
    element.replaceChildren(h("p", { class: data.mode === "error" ? "lesson-note bad" : "lesson-note" }, data.message));
    return;
  }
  if (data.mode === "list") {
    listView(element, data);
    return;
  }
  const { lesson, step, value } = data;
  const n = lesson.steps.length;
  const close = h("button", { type: "button", class: "small lesson-close", title: "end this lesson (back to the list)", "aria-label": "end this lesson" }, "×");
  close.addEventListener("click", () => ask(element, { action: "list" }));
  const dots = h("ol", { class: "lesson-progress", "aria-label": `step ${step.number} of ${n}` },
    lesson.steps.map((s) => h("li", {}, h("button", {
      type: "button", class: s.number < step.number ? "done" : null, dataset: { step: String(s.number) },
      "aria-current": s.number === step.number ? "step" : null, title: `${s.number}. ${s.title}`,
    }, String(s.number)))));
  dots.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-step]");
    if (b) ask(element, { action: "step", n: Number(b.dataset.step) });
  });
  const prev = h("button", { type: "button", class: "lesson-prev", disabled: step.number <= 1 }, "◂ Previous");
  const next = step.number < n
    ? h("button", { type: "button", class: "lesson-next primary" }, "Next ▸")
    : h("button", { type: "button", class: "lesson-next primary", dataset: { done: "1" } }, "Finish ✓");
  prev.addEventListener("click", () => ask(element, { action: "step", n: step.number - 1 }));
  next.addEventListener("click", () => ask(element, step.number < n ? { action: "step", n: step.number + 1 } : { action: "list" }));
  // the text below a `+++` once the student asked for it (Show the answer, or a guess made): its own block, which
  // the keyboard is moved to (lessons.js renderPanel)
  const revealed = step.revealed ? h("div", { class: "lesson-revealed" }, blocks(step.revealed, value)) : null;
  const body = h("div", { class: "lesson-body" }, blocks(step.body, value), revealed);
  // above the text: why the step does not run here (a model kind, a role with no match), or that it runs on the
  // student's own sentence or model; in one sentence, with a button for what to do instead
  let note = null;
  if (data.note) {
    note = h("div", { class: `lesson-offer${data.note.kind ? ` offer-${data.note.kind}` : ""}`, role: "status" }, h("p", {}, data.note.text));
    if (data.note.action) {
      const b = h("button", { type: "button", class: "primary lesson-offer-action" }, data.note.action.label);
      // (a change of the page's state, or the step entered again: its own settings)
      b.addEventListener("click", () => ask(element, data.note.action.step ? { action: "step", n: data.note.action.step } : { action: "change", change: data.note.action.change }));
      note.append(b);
    }
  }
  const problems = (data.problems || []).length
    ? h("p", { class: "lesson-note bad", role: "alert" }, data.problems.join(" "))
    : null;
  // a guess asked for before the answer (the text's line `+++`): the rest shows when the student asks for it
  let reveal = null;
  if (data.reveal) {
    const show = h("button", { type: "button", class: "small lesson-reveal" }, "Show the answer");
    show.addEventListener("click", () => ask(element, { action: "answer", index: -1, key: data.reveal.key }));
    reveal = h("p", { class: "q-hint lesson-reveal-hint" }, "Make your guess: the plots stay blurred until you ask for the answer. ", show);
  }
  // what the text waits for from the student (a box they emptied): said to them, as a hint, not an error
  const waiting = (data.waiting || []).length
    ? h("p", { class: "lesson-note lesson-waiting", role: "status" }, data.waiting.join(" "))
    : null;
  element.replaceChildren(...[
    header(lesson, data.total, close),
    h("div", { class: "lesson-progress-wrap" }, h("span", { class: "lesson-count" }, `Step ${step.number} of ${n}`), dots),
    h("h3", { class: "step-title" }, step.title),
    note,
    body,
    reveal,
    waiting,
    problems,
    questionView(element, data.question, value),
    h("div", { class: "lesson-nav" }, prev, next),
  ].filter(Boolean));
  element.dataset.lesson = lesson.id;
  element.dataset.step = String(step.number);
}
