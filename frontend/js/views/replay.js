// The explorer's training-step slider: for a model whose training recorded checkpoints (its /api/models entry lists
// them), a slider over those steps that switches every view to the model at that step (NAME@STEP, the state's
// `tstep`), in one line, and the training's loss curve with the step shown marked, folded under "How it learned"
// (drawn when opened). Hidden for a model without checkpoints. Draws what GET /api/models/{name}/training sends;
// fetches nothing.
import { checkpointSteps, stepAt, stepIndex } from "../labrun.js";
import { asSentence } from "../derive.js";
import { caption, changed, COLORS, draw, emit, fmt, h, panel, part, plotOf, reason, stepAxis, textScale } from "../plot.js";

/** The loss curve's caption, step `step` marked; the training index's `note` (how the checkpoints are stored)
 * after it as a sentence of its own. */
export function lossCaption(step, note) {
  return `The training loss of every step and the validation loss at each checkpoint (nats per token). The dotted line: step ${step}.` +
    (note ? ` ${asSentence(note)}` : "");
}

/**
 * data: {model (the base model's /api/models entry), training (the source's {data, error, pending}), tstep (the
 * state's training step, null: the final model)}. An element with no model with checkpoints is hidden.
 */
export function render(element, data) {
  element._data = data; // opening the loss curve draws it from the data last shown
  const model = data && data.model;
  const steps = checkpointSteps(model);
  element.hidden = !steps.length;
  if (!steps.length) return;
  const index = stepIndex(steps, data.tstep);
  const step = steps[index];
  const ck = model.checkpoints[index];
  const bar = part(element, "replay-bar", () => {
    const input = h("input", { type: "range", name: "tstep", min: "0", step: "1", "aria-label": "training step" });
    // what it shows: the step, then the rest (presenter mode shows the step alone, beside the sentence's controls)
    const out = h("output", { class: "replay-label" }, h("span", { class: "replay-step" }), h("span", { class: "replay-detail" }));
    const wrap = h("div", { class: "controls replay-controls" },
      h("label", { title: "the model as it was at a recorded step of its training: type a sentence, then move from step 0 to the end" },
        h("span", { class: "replay-name" }, "Training step "), input), out);
    input.addEventListener("input", () => {
      const i = Number(input.value);
      emit(wrap, { tstep: stepAt(checkpointSteps(wrap._model), i) });
    });
    return wrap;
  });
  bar._model = model;
  const input = bar.querySelector("input");
  input.max = String(steps.length - 1);
  if (document.activeElement !== input || Number(input.value) !== index) input.value = String(index);
  input.setAttribute("aria-valuetext", `step ${step}`);
  const last = index === steps.length - 1;
  bar.querySelector(".replay-step").textContent = `step ${step} of ${steps[steps.length - 1]}`;
  bar.querySelector(".replay-detail").textContent = ` (checkpoint ${index + 1} of ${steps.length})` +
    (ck.val_nats_per_token === null || ck.val_nats_per_token === undefined ? "" : ` · validation loss ${fmt(ck.val_nats_per_token)} nats/token`) +
    (last ? " · the final model" : ` · the views show ${ck.model}; those that compare the tiny models (the Heads view's panels, the Position lab's curves) show the final ones`);

  const more = part(element, "replay-more", () => {
    const d = h("details", { class: "replay-more" },
      h("summary", { title: "the training loss of every step and the validation loss at each checkpoint" }, "How it learned"));
    d.addEventListener("toggle", () => { if (d.open) render(element, element._data); });
    return d;
  });
  if (!more.open) return;
  const fig = panel(more, "replay-loss", "How it learned", { formats: ["png", "csv", "json"] });
  const t = data.training;
  if (!t || !t.data) {
    if (t && t.error) reason(fig, `The recorded training could not be read: ${t.error}`);
    return;
  }
  const tr = t.data;
  const xaxis = stepAxis(tr.steps, (plotOf(fig).clientWidth || 600) - 60, textScale()); // (less the margins)
  if (!changed(fig, [tr, step, xaxis.dtick])) return;
  const x = tr.train_loss.map((_, i) => i + 1); // train_loss[i] is step i + 1's
  const cks = tr.checkpoints.filter((c) => c.val_nats_per_token !== null && c.val_nats_per_token !== undefined);
  caption(fig, lossCaption(step, tr.note));
  draw(fig, [
    { type: "scatter", mode: "lines", name: "training loss", x, y: tr.train_loss, line: { color: COLORS.bar, width: 1 },
      hovertemplate: "step %{x}<br>training loss %{y:.3f}<extra></extra>" },
    { type: "scatter", mode: "markers", name: "validation loss (checkpoints)", x: cks.map((c) => c.step), y: cks.map((c) => c.val_nats_per_token),
      marker: { color: COLORS.other, size: 7 }, hovertemplate: "checkpoint at step %{x}<br>validation loss %{y:.3f}<extra></extra>" },
  ], {
    height: 170,
    xaxis,
    yaxis: { title: { text: "loss" }, rangemode: "tozero" },
    shapes: [{ type: "line", xref: "x", yref: "paper", x0: step, x1: step, y0: 0, y1: 1, line: { color: COLORS.sel, width: 2, dash: "dot" } }],
    legend: { orientation: "h", y: 1.25, x: 0 },
    margin: { l: 50, r: 10, t: 24, b: 38 },
  }, {
    name: `training-${tr.model}`,
    csv: () => [["step", "training_loss"], ...tr.train_loss.map((l, i) => [i + 1, l])],
    json: tr,
  });
}
