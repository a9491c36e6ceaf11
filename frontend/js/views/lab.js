// The training lab: pick a task, a positional scheme and a size, press Train, and watch a small transformer learn:
// the loss, the attention of one head on the task's fixed example, every head's role scores over the steps, and the
// model's answer on the example, each at the step the slider picks (the latest while it follows the run). It reads
// the run that lab.js follows (the page's data layer) and asks for actions through main.js; it fetches nothing.
// It does not read the sentence: the page shows it without the sentence's analysis (`standalone`).
import {
  answerOf, canReset, exampleLossSeries, firstReaching, isEnded, isLive, lossSeries, lossTable, openOffer, otherSettings, patternOf, roleSeries, shownIndex, shownRecord,
  cliSave,
  statusText,
  stepsProblem,
  typedSteps,
} from "../labrun.js";
import {
  action, caption, changed, COLORS, draw, emit, esc, fmt, h, maskedBackground, matrixRows, panel, part, plotOf, reason, setExport, setValue,
  keyRoom, queryTitleRoom, squareHeight, stepAxis, textScale, THEME, thinnedTitle, tickIndices, tokenAxis, tokenHeatmap,
} from "../plot.js";

const OPEN_TITLE = "register the model at the step shown and look at it in every view";
const FILES_TITLE = "download the model at the step shown: a zip of model.safetensors, tokenizer.json and card.json " +
  "(what attnlab train writes); unzip it and serve it with: attnlab serve --add-model FOLDER";

export const id = "lab";
export const sources = ["labOptions", "lab"];
/** The page shows this view without analysing the sentence. */
export const standalone = true;

const INDUCTION_AT = 0.5; // the score the status line reports the first head reaching (the lab's own threshold)
/** The definition of `role` among the lab's (GET /api/lab/options `roles`: the Heads view's definitions). */
const roleDef = (options, role) => options.roles.find((d) => d.role === role);

/** got: {labOptions, lab}; ctx: {state}. */
export function show(section, got, ctx) {
  const o = got.labOptions;
  if (!o.data) {
    const box = part(section, "lab-wait", () => h("p", { class: "empty" }));
    box.hidden = false;
    box.textContent = o.error ? `The training lab is not available: ${o.error}` : "Loading the training lab…";
    return !o.pending;
  }
  const wait = section.querySelector(':scope > [data-part="lab-wait"]');
  if (wait) wait.hidden = true;
  render(section, { options: o.data, lab: got.lab.data }, ctx.state);
  return true;
}

/** The value of `key` in the state if the options offer it, else the options' default. */
function chosen(options, state) {
  const names = (list) => list.map((x) => (typeof x === "string" ? x : x.name));
  const pick = (value, list, fallback) => (names(list).includes(value) ? value : fallback);
  const d = options.defaults;
  return {
    task: pick(state.ltask, options.tasks, d.task),
    positional: pick(state.lpos, options.positional, d.positional),
    size: pick(state.lsize, options.sizes, d.size),
    steps: Math.min(options.limits.max_steps, state.lsteps || d.steps),
  };
}

function controls(element, options) {
  return part(element, "lab-controls", () => {
    const sel = (name, label, title) => h("label", { title }, label, " ", h("select", { name }));
    const task = sel("ltask", "Task", "what the model learns to predict (its description is below)");
    const pos = sel("lpos", "Positions", "how the model is told where each token is");
    const size = sel("lsize", "Size", "layers × heads and the width of the model");
    size.append(h("span", { class: "lab-size-note", hidden: true })); // what the chosen size cannot learn
    const steps = h("label", { title: "the run's step budget" }, "Steps ",
      h("input", { type: "number", name: "lsteps", min: "1", step: "50", inputmode: "numeric", class: "num-input" }));
    const train = h("button", { type: "button", name: "train", class: "primary", title: "start a new run from step 0 with these settings" }, "Train");
    const row1 = h("div", { class: "controls lab-settings" }, task, pos, size, steps, train);
    const btn = (name, text, title) => h("button", { type: "button", name, title }, text);
    const row2 = h("div", { class: "controls lab-actions", role: "group", "aria-label": "the run" },
      btn("pause", "Pause", "stop training after the current step (the model stays; a record of this step is made)"),
      btn("resume", "Resume", "go on training"),
      btn("step", "Step +10", "train 10 more steps, then stay paused"),
      btn("reset", "Reset", "start again from step 0 with the same settings"),
      btn("cancel", "Stop", "end the run (its records and checkpoints stay)"),
      btn("open", "Open in the explorer", OPEN_TITLE),
      btn("files", "Save the weights", FILES_TITLE));
    const status = h("p", { class: "lab-status", role: "status", "aria-live": "polite" });
    const error = h("p", { class: "error lab-error", role: "alert", hidden: true });
    const box = h("div", { class: "lab-head" }, row1, row2, status, error);
    for (const s of box.querySelectorAll("select")) s.addEventListener("change", () => emit(box, { [s.name]: s.value }));
    const stepsInput = steps.querySelector("input");
    const typed = () => typedSteps(stepsInput.value, options.limits.max_steps, null);
    stepsInput.addEventListener("change", () => {
      if (typed() !== null) emit(box, { lsteps: typed() });
    });
    // the settings as the controls show them now: a number typed and not yet committed counts (its change event
    // fires as this click happens, before the page has redrawn with it)
    // a box that holds no whole number from 1 starts no run: the page says why (it took the last budget instead)
    train.addEventListener("click", () => {
      const problem = stepsProblem(stepsInput.value, options.limits.max_steps);
      if (problem) {
        stepsInput.focus(); // (to fix it there: and the redraw leaves a box with focus as typed, not back at the budget)
        action(box, "lab", { op: "refuse", message: problem });
        return;
      }
      action(box, "lab", { op: "train", params: {
        task: task.querySelector("select").value, positional: pos.querySelector("select").value,
        size: size.querySelector("select").value, steps: typed() } });
    });
    row2.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[name]");
      if (!b) return;
      if (b.name === "step") action(box, "lab", { op: "step", n: 10 });
      else if (b.name === "open" || b.name === "files") action(box, "lab", { op: b.name, step: box._openStep });
      else action(box, "lab", { op: b.name });
    });
    return box;
  });
}

function fillSelect(select, items) {
  const key = items.map((x) => x.value).join("\n");
  if (select._key === key) return;
  select._key = key;
  select.replaceChildren(...items.map((x) => {
    const o = new Option(x.label, x.value);
    if (x.title) o.title = x.title;
    return o;
  }));
}

/** data: {options (GET /api/lab/options), lab (lab.js's view: {run, records, pick, error, refused, transport})}. */
export function render(element, data, state) {
  const { options, lab } = data;
  const c = chosen(options, state);
  const box = controls(element, options);
  fillSelect(box.querySelector("select[name=ltask]"), options.tasks.map((t) => ({ value: t.name, label: t.title })));
  fillSelect(box.querySelector("select[name=lpos]"), options.positional.map((p) => ({ value: p, label: p })));
  fillSelect(box.querySelector("select[name=lsize]"), options.sizes.map((s) => ({ value: s.name, label: s.title, title: s.note || "" })));
  setValue(box.querySelector("select[name=ltask]"), c.task);
  setValue(box.querySelector("select[name=lpos]"), c.positional);
  setValue(box.querySelector("select[name=lsize]"), c.size);
  const note = options.sizes.find((s) => s.name === c.size)?.note;
  const noteBox = box.querySelector(".lab-size-note");
  noteBox.textContent = note ? `(${note})` : "";
  noteBox.hidden = !note;
  const stepsInput = box.querySelector("input[name=lsteps]");
  stepsInput.max = String(options.limits.max_steps);
  setValue(stepsInput, c.steps);

  const run = lab.run;
  const records = lab.records;
  const shownAt = shownIndex(lab);
  const rec = shownRecord(lab);
  const status = run ? run.status : null;
  const enable = (name, on) => { box.querySelector(`button[name=${name}]`).disabled = !on; };
  enable("pause", status === "running");
  enable("resume", status === "paused");
  enable("step", status === "paused");
  enable("reset", canReset(run));
  enable("cancel", isLive(run));
  // the model at the step shown, when its weights are kept (else the latest kept), once the run is not training; none
  // of a run the server no longer has
  const offer = openOffer(lab);
  box._openStep = offer.step;
  enable("open", offer.enabled);
  const openButton = box.querySelector("button[name=open]");
  openButton.textContent = offer.label;
  openButton.title = offer.why || OPEN_TITLE;
  enable("files", offer.enabled); // (the same weights: the step shown, kept, once the run is not training)
  const filesButton = box.querySelector("button[name=files]");
  filesButton.textContent = offer.step === null ? "Save the weights" : `Save step ${offer.step}`;
  filesButton.title = offer.why || FILES_TITLE;

  let line = statusText(lab, options.limits);
  if (run && lab.transport) line += lab.transport === "events" ? " Live (Server-Sent Events)." : " Live (polling the server).";
  const reached = firstReaching(records, "induction", INDUCTION_AT);
  if (reached && run && run.n_layers > 0) {
    line += ` A head's induction score first reached ${INDUCTION_AT} at step ${reached.step} (${reached.seconds.toFixed(1)} s; L${reached.layer} H${reached.head}).`;
  }
  if (run && run.registered.length) line += ` Opened in the explorer as ${run.registered.join(", ")}.`;
  const save = cliSave(lab, location.origin);
  if (save) line += ` ${save}`;
  const other = otherSettings(run, c);
  if (other) line += ` ${other}`;
  box.querySelector(".lab-status").textContent = line;
  const err = box.querySelector(".lab-error");
  err.textContent = lab.error || "";
  err.hidden = !lab.error;
  element.dataset.runStatus = status || "none";
  element.dataset.runId = run ? String(run.id) : "";

  // the task: what it generates and what the answer is (the API's documentation), and its fixed example
  const taskInfo = options.tasks.find((t) => t.name === (run ? run.config.task : c.task));
  const doc = part(element, "lab-task", () => h("div", { class: "lab-task" }, h("p", { class: "lab-task-doc" }), h("p", { class: "lab-example" })));
  doc.querySelector(".lab-task-doc").replaceChildren(h("strong", {}, taskInfo.title), ": ", taskInfo.description);
  const example = run ? run.example : taskInfo.example;
  const scored = new Set(example.scored);
  doc.querySelector(".lab-example").replaceChildren(
    h("span", { class: "label" }, "The fixed example"),
    ...example.tokens.map((t, i) => h("span", { class: `ex-tok${scored.has(i) ? " scored" : ""}`, title: scored.has(i) ? `position ${i}: its next token is scored` : `position ${i}` }, t)),
    h("span", { class: "label" }, " (underlined: the model's next token after it is scored)"),
  );

  // the slider over the recorded steps
  const slider = part(element, "lab-slider", () => {
    const input = h("input", { type: "range", name: "lrecord", min: "0", max: "0", step: "1", value: "0", "aria-label": "recorded step" });
    const out = h("output", { class: "lab-step-label" });
    const follow = h("button", { type: "button", name: "follow", class: "small", title: "show the latest step as the run goes on" }, "latest");
    const wrap = h("div", { class: "controls lab-slider" }, h("label", {}, "Recorded step ", input), out, follow);
    input.addEventListener("input", () => action(wrap, "lab", { op: "pick", index: Number(input.value) }));
    follow.addEventListener("click", () => action(wrap, "lab", { op: "pick", index: null }));
    return wrap;
  });
  slider.hidden = !records.length;
  const range = slider.querySelector("input");
  range.max = String(Math.max(0, records.length - 1));
  setValue(range, shownAt ?? 0);
  slider.querySelector(".lab-step-label").textContent = rec ? `step ${rec.step} · ${rec.seconds.toFixed(1)} s${lab.pick === null ? " (latest)" : ""}` : "";
  slider.querySelector("button[name=follow]").disabled = lab.pick === null;

  const row1 = part(element, "lab-row1", () => h("div", { class: "row2 plots-level captions-below" }));
  const row2 = part(element, "lab-row2", () => h("div", { class: "row2 plots-level captions-below" }));
  // (what a lesson's answer about the run quotes, lessons.js readPlot: the loss where it fell or where the run ended,
  // on the curves; how much of the example the run got right, in the answer's caption, the last plot)
  const lossFig = panel(row1, "loss", "Loss over the training steps", { shows: ["labrun.loss", "labrun.final.loss", "labrun.final.example_loss"] });
  const attnFig = panel(row1, "pattern", "Attention on the example");
  const roleFig = panel(row2, "roles", "Role scores of every head over the steps");
  const answerFig = panel(row2, "answer", "The model's answer on the example",
    { formats: ["csv", "json"], cls: "table-panel", shows: ["labrun.final.accuracy", "labrun.final.example_loss"] });
  if (!run || !records.length) {
    const why = lab.refused ? `No run: ${lab.refused}` : !run ? "Press Train to start a run."
      : isEnded(run) ? "The run ended before its first record: press Train (or Reset) to start again." : "Waiting for the run's first record…";
    for (const f of [lossFig, attnFig, roleFig, answerFig]) reason(f, why);
    return;
  }
  const nL = run.n_layers;
  const nH = run.n_heads;
  const layer = Math.min(state.llayer, nL - 1);
  const head = Math.min(state.lhead, nH - 1);
  drawLoss(lossFig, run, records, rec, lab, lossHeight(lossFig, attnFig, run.example.tokens.length));
  drawPattern(attnFig, run, rec, layer, head);
  drawRoles(roleFig, options, run, records, rec, state.lrole in rec.roles ? state.lrole : "induction", layer, head);
  drawAnswer(answerFig, run, rec);
}

// the step axes end at the run's budget, whose tick label ("1000") is centred on the plot's right edge: half of it
// lies in the right margin
const STEP_AXIS_RIGHT = 24;

/** The room across a step plot for its tick labels (its width less the margins) and their text size. */
const stepRoom = (fig) => [(plotOf(fig).clientWidth || 600) - 80, textScale()];

/** A vertical line at the step shown. */
const stepLine = (step) => ({ type: "line", xref: "x", yref: "paper", x0: step, x1: step, y0: 0, y1: 1, line: { color: COLORS.sel, width: 2, dash: "dot" } });

// the loss plot's height alone in its row (a phone, a narrow window)
const LOSS_HEIGHT = 300;

/**
 * The loss plot's height: beside the attention plot, that plot's height. The two plots share a track of the row
 * (plots-level), as high as the higher, with the captions under it: at 300 px beside the copy task's 520, the loss
 * panel had 220 px blank between its plot and its caption.
 */
const lossHeight = (lossFig, attnFig, n) => (lossFig.offsetTop === attnFig.offsetTop ? patternHeight(n) : LOSS_HEIGHT);

function drawLoss(fig, run, records, rec, lab, height) {
  const xaxis = stepAxis(Math.max(run.steps, rec.step), ...stepRoom(fig));
  if (!changed(fig, [records.length, rec, run.steps, xaxis.dtick, height])) return;
  const train = lossSeries(records);
  const ex = exampleLossSeries(records);
  caption(fig, `Training loss of every step (cross-entropy in nats, each batch of ${run.config.batch_size} fresh sequences) and the loss on the ` +
    `fixed example at each record. The dotted line: the step shown (${rec.step}).` + (lab.pick === null ? "" : " Move the slider to the right end to follow the run again."));
  draw(fig, [
    // (one step's loss alone, a run of one step, is a marker: a line through one point draws nothing)
    { type: "scatter", mode: train.x.length === 1 ? "markers" : "lines", name: "training loss", x: train.x, y: train.y,
      line: { color: COLORS.bar, width: 1.5 }, marker: { color: COLORS.bar, size: 6 },
      hovertemplate: "step %{x}<br>training loss %{y:.4f}<extra></extra>" },
    { type: "scatter", mode: "lines+markers", name: "loss on the example", x: ex.x, y: ex.y, line: { color: COLORS.other, width: 2 }, marker: { size: 4 },
      hovertemplate: "step %{x}<br>example loss %{y:.4f}<extra></extra>" },
  ], {
    height,
    xaxis,
    yaxis: { title: { text: "loss (nats)" }, rangemode: "tozero" },
    shapes: [stepLine(rec.step)],
    legend: { orientation: "h", y: 1.12, x: 0 },
    margin: { l: 55, r: STEP_AXIS_RIGHT, t: 30, b: 45 },
  }, {
    name: `lab-${run.id}-loss`,
    csv: () => lossTable(records), // (both lines: the example's loss too)
    json: { run: run.id, config: run.config, training_loss: train, example_loss: ex },
  });
}

function headPicker(fig, run, layer, head) {
  const cap = fig.querySelector("figcaption");
  let select = cap.querySelector("select[name=lhead-pick]");
  if (!select) {
    select = h("select", { name: "lhead-pick", "aria-label": "head" });
    select.addEventListener("change", () => {
      const [l, hd] = select.value.split(".").map(Number);
      emit(select, { llayer: l, lhead: hd });
    });
    cap.insertBefore(select, cap.querySelector(".exports"));
  }
  const items = [];
  for (let l = 0; l < run.n_layers; l++) for (let hd = 0; hd < run.n_heads; hd++) items.push({ value: `${l}.${hd}`, label: `L${l} H${hd}` });
  fillSelect(select, items);
  setValue(select, `${layer}.${head}`);
}

/**
 * The attention plot's caption. The model's weights of a row sum to 1; the plot shows the run's 8-bit record of them
 * (`pattern`, [query][key]), each within 0.002, whose rows sum to 1 only within what it says, measured on them (a row
 * of 64 keys summed to 1.0196).
 */
export function patternCaption(layer, head, step, pattern) {
  const gap = Math.max(0, ...pattern.map((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1)));
  // (the bound rounded up: "within 0.035" of a row that sums to 1.0353 would not hold)
  const rows = gap < 0.0005 ? "each row of them sums to 1.000 here" : `a row of them sums to within ${(Math.ceil(gap * 1000 - 1e-9) / 1000).toFixed(3)} of 1 here`;
  return `Layer ${layer}, head ${head} at step ${step}: each row a query token of the example, each column a key. ` +
    `The model's weights of a row sum to 1; these are the run's 8-bit record of them, each within 0.002 (${rows}). ${THEME.masked.words}`;
}

/** The attention plot's height for an example of `n` tokens. */
const patternHeight = (n) => squareHeight(n, { max: 520, per: 18 });

/**
 * The attention plot's height and token axes for the example's `tokens` ({text}) in a plot `width` px wide, k: the
 * presenter's text scale (1 outside it): every token labelled where they fit, else every 2nd (hover names each one),
 * and the titles say which.
 */
export function patternLayout(tokens, width, k = 1) {
  const n = tokens.length;
  const every = n > 32 || (n > 16 && width < 520) ? 2 : 1;
  // the key labels stand upright where one is wider than its columns (<|bos|> ran over the letters beside it)
  const upright = tokens.some((t) => [...t.text].length * 7 > (every * 0.7 * width) / n);
  const height = patternHeight(n);
  // the titles say which are labelled where they have room, as the other heatmaps' do: across the width less the
  // query labels, colour bar and padding (keyRoom: a fixed 150 px for them all, where 20-letter query labels alone
  // take 144), down the height less the margins and the key labels as they stand (queryTitleRoom: a fixed 130 px times k
  // left the copy lesson's 24 tokens in presenter mode "query (every 2nd)" beside a plot about 400 px high)
  const key = thinnedTitle("key", every, keyRoom(width, tokens, k), { k, all: "key (attended to)" });
  const ticks = tickIndices(n, every);
  const query = thinnedTitle("query", every, queryTitleRoom(height, tokens, ticks, k, upright ? 90 : 0), { k });
  return {
    height,
    xaxis: tokenAxis(tokens, { title: { text: key }, side: "bottom", tickangle: upright ? -90 : 0 }, every, [], ticks),
    yaxis: tokenAxis(tokens, { title: { text: query }, autorange: false, range: [n - 0.5, -0.5] }, every, [], ticks),
  };
}

function drawPattern(fig, run, rec, layer, head) {
  headPicker(fig, run, layer, head);
  if (!changed(fig, [rec, layer, head, Math.round(fig.clientWidth / 40)])) return;
  const pattern = patternOf(rec.attention, layer, head);
  if (!pattern) {
    reason(fig, `The run's model has no layer ${layer}, head ${head}.`);
    return;
  }
  const tokens = run.example.tokens.map((t) => ({ text: t }));
  const n = tokens.length;
  const masked = (i, j) => j > i; // the lab's models are causal
  caption(fig, patternCaption(layer, head, rec.step, pattern));
  draw(fig, [tokenHeatmap(pattern, tokens, { masked, zmin: 0, zmax: 1, colorbar: { title: { text: "weight", side: "right" } } })], {
    ...patternLayout(tokens, plotOf(fig).clientWidth || 600, textScale()),
    plot_bgcolor: THEME.masked.color,
    images: [maskedBackground()],
    margin: { l: 60, r: 10, t: 10, b: 55 },
  }, {
    name: `lab-${run.id}-step${rec.step}-L${layer}-H${head}`,
    csv: () => {
      const labels = run.example.tokens.map((t, i) => `${i}:${t}`);
      return matrixRows("query\\key", labels, labels, pattern);
    },
    json: { run: run.id, step: rec.step, layer, head, tokens: run.example.tokens, weights: pattern },
  });
}

function rolePicker(fig, options, role) {
  const cap = fig.querySelector("figcaption");
  let select = cap.querySelector("select[name=lrole]");
  if (!select) {
    select = h("select", { name: "lrole", "aria-label": "role" });
    select.addEventListener("change", () => emit(select, { lrole: select.value }));
    cap.insertBefore(select, cap.querySelector(".exports"));
  }
  fillSelect(select, options.roles.map((d) => ({ value: d.role, label: d.name, title: `${d.formula}; Q: ${d.queries}` })));
  setValue(select, role);
}

function drawRoles(fig, options, run, records, rec, role, layer, head) {
  rolePicker(fig, options, role);
  const xaxis = stepAxis(Math.max(run.steps, rec.step), ...stepRoom(fig));
  if (!changed(fig, [records.length, rec, role, layer, head, xaxis.dtick])) return;
  const series = roleSeries(records, role);
  const palette = THEME.series.colors;
  const dashes = ["solid", "dash", "dot", "dashdot"];
  const def = roleDef(options, role);
  caption(fig, `The ${def.name} score of each head, as the Heads view defines it: ${def.words} Measured at each record on the lab's probe, ` +
    `${run.example.probe_tokens.join(" ")}: BOS, random tokens, then the same tokens shuffled (the Heads view's induction probe is ` +
    `another sequence). The thick line: the head whose attention is shown (L${layer} H${head}).`);
  draw(fig, series.map((s, i) => ({
    type: "scatter", mode: "lines", name: s.name, x: s.x, y: s.y,
    line: { color: palette[s.head % palette.length], dash: dashes[s.layer % dashes.length], width: s.layer === layer && s.head === head ? 3.5 : 1.5 },
    hovertemplate: `${s.name}<br>step %{x}<br>${esc(def.name)} %{y:.3f}<extra></extra>`,
  })), {
    height: 340,
    xaxis,
    yaxis: { title: { text: `${def.name} score` }, range: [0, 1.02] },
    shapes: [stepLine(rec.step)],
    legend: { orientation: "h", yanchor: "bottom", y: 1.02, x: 0 },
    margin: { l: 55, r: STEP_AXIS_RIGHT, t: 56, b: 45 },
  }, {
    name: `lab-${run.id}-${role}`,
    csv: () => [["step", ...series.map((s) => s.name)], ...records.map((r, i) => [r.step, ...series.map((s) => s.y[i])])],
    json: { run: run.id, role, definition: { words: def.words, formula: def.formula, queries: def.queries }, steps: records.map((r) => r.step), heads: series.map(({ name, layer: l, head: hd, y }) => ({ name, layer: l, head: hd, scores: y })) },
  });
}

function drawAnswer(fig, run, rec) {
  if (!changed(fig, [rec])) return;
  const rows = answerOf(run.example, rec);
  const right = rows.filter((r) => r.right).length;
  caption(fig, `At step ${rec.step}: ${right} of ${rows.length} right (accuracy ${fmt(rec.accuracy, 2)}), loss on the example ${fmt(rec.example_loss, 3)} nats. ` +
    "Each row: the token read, the right next token and the model's top guess.");
  const tokens = run.example.tokens;
  const body = h("tbody", {}, rows.map((r) => h("tr", { class: r.right ? "hit" : "miss" },
    h("td", { class: "num" }, String(r.position)),
    h("td", { class: "tokname" }, tokens[r.position]),
    h("td", { class: "tokname" }, r.expected),
    h("td", { class: "tokname" }, r.predicted),
    h("td", { class: "mark", "aria-label": r.right ? "right" : "wrong" }, r.right ? "✓" : "✗"))));
  const table = h("table", { class: "perpos lab-answer" },
    h("thead", {}, h("tr", {}, ["pos", "reads", "right answer", "model's guess", ""].map((t) => h("th", { scope: "col" }, t)))), body);
  const wrap = plotOf(fig);
  wrap.classList.add("table-wrap", "tall");
  wrap.replaceChildren(table);
  setExport(fig, {
    name: `lab-${run.id}-step${rec.step}-answer`,
    csv: () => [["position", "reads", "expected", "predicted", "right"], ...rows.map((r) => [r.position, tokens[r.position], r.expected, r.predicted, r.right])],
    json: { run: run.id, step: rec.step, accuracy: rec.accuracy, example_loss: rec.example_loss, rows },
  });
}
