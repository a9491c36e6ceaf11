// The model as one picture: tokens -> embedding (+ position) -> one block drawn in full (heads -> W_O -> + residual ->
// MLP -> + residual, the norms where this model has them) -> final norm -> unembedding -> probabilities, with the
// model's sizes and the sentence on screen. Every part is a button that opens the view showing its numbers. The
// layout comes from picture.js (pure, tested); this module only draws it (DOM, textContent).
import { count, probText, shownText, temperatureElsewhere } from "../derive.js";
import { changed, emit, h, part } from "../plot.js";
import { viewInfo } from "../vocab.js";
import { modelPicture } from "../picture.js";

export const id = "model";
export const sources = ["analyze", "model"];

const MAX_CHIPS = 14;

/** got: {analyze, model}; ctx: {state, analysis}. */
export function show(section, got, ctx) {
  const m = got.model.data;
  const a = got.analyze.data;
  if (!m || !a) return !got.analyze.pending;
  if (changed(section, [m, a, ctx.state.layer])) render(section, { model: m, analyze: a }, ctx.state);
  return true;
}

function partButton(p, layer) {
  const info = viewInfo(p.view);
  const btn = h("button", { type: "button", class: `mpart mpart-${p.kind}`, dataset: { part: p.id, view: p.view, layer: layer === undefined ? undefined : String(layer) },
    title: `${p.note ? `${p.note}. ` : ""}Open ${info ? info.title : p.view}` },
  h("span", { class: "mpart-label" }, p.label), h("span", { class: "mpart-shape" }, p.shape));
  btn.setAttribute("aria-label", `${p.label} ${p.shape}: open the ${info ? info.title : p.view} view`);
  return btn;
}

const arrow = () => h("div", { class: "marrow", "aria-hidden": "true" }, "↓");
// between the columns: down on a narrow screen, right on a wide one (CSS shows one)
const link = () => h("div", { class: "mlink", "aria-hidden": "true" }, h("span", { class: "down" }, "↓"), h("span", { class: "right" }, "→"));

function column(parts, layer) {
  const out = [];
  parts.forEach((p, i) => {
    if (i) out.push(arrow());
    out.push(partButton(p, layer));
  });
  return out;
}

/** The block's title and the stepper's words: "× 4 blocks", "block 2 of 4 (0 to 3: ...)"; a model of one block (a
 * training-lab model) in the singular. */
export function blockWords(nLayers, layer) {
  if (nLayers === 1) return { title: "× 1 block", step: "block 0, the model's only one" };
  return { title: `× ${nLayers} blocks`, step: `block ${layer} of ${nLayers} (0 to ${nLayers - 1}: one shape, each its own weights)` };
}

/** The label before the sentence's tokens: how many there are ("1 token", "12 tokens"). */
export const sentenceLabel = (n) => `The sentence: ${count(n, "token")}`;

/** data: {model (its /api/models entry), analyze}; state: {layer}. */
export function render(element, data, state) {
  const m = data.model;
  const a = data.analyze;
  const n = a.tokens.length;
  const L = Math.min(state.layer, m.n_layers - 1);
  const pic = modelPicture(m, n, a.interventions, L);
  const box = part(element, "picture", () => {
    const node = h("div", { class: "model-picture" });
    node.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button");
      if (!btn || !node.contains(btn)) return;
      if (btn.dataset.step) emit(node, { layer: Number(btn.dataset.step) });
      else if (btn.dataset.view) emit(node, { view: btn.dataset.view, ...(btn.dataset.layer ? { layer: Number(btn.dataset.layer) } : {}) }, { history: "push" });
    });
    return node;
  });
  const sizes = h("dl", { class: "msizes", "aria-label": "the model's sizes" },
    ...pic.sizes.flatMap(([k, v]) => [h("div", {}, h("dt", {}, k), h("dd", {}, Number(v).toLocaleString("en")))]));
  const chips = a.tokens.slice(0, MAX_CHIPS).map((t) => h("span", { class: "mtok" }, shownText(t)));
  if (n > MAX_CHIPS) chips.push(h("span", { class: "mtok more" }, `… ${n - MAX_CHIPS} more`));
  const sentence = h("div", { class: "msentence" }, h("span", { class: "label" }, sentenceLabel(n)), h("span", { class: "mtoks" }, chips));
  const words = blockWords(m.n_layers, L);
  const stepper = h("span", { class: "mstep", role: "group", "aria-label": "which block" },
    h("button", { type: "button", class: "small", dataset: { step: String(Math.max(0, L - 1)) }, disabled: L === 0, "aria-label": "previous block" }, "◂"),
    h("span", { class: "mstep-label" }, words.step),
    h("button", { type: "button", class: "small", dataset: { step: String(Math.min(m.n_layers - 1, L + 1)) }, disabled: L === m.n_layers - 1, "aria-label": "next block" }, "▸"));
  const block = h("div", { class: "mblock", role: "group", "aria-label": `block ${L}` },
    h("div", { class: "mblock-head" }, h("span", { class: "mblock-title" }, words.title), stepper),
    column(pic.block, L));
  const out = [];
  if (m.unembed && a.predictions && a.predictions.length) {
    const top = a.predictions[0];
    // (the analysis's probabilities are at temperature 1: said where the predictions view's slider is elsewhere)
    const temp = temperatureElsewhere(state) ? " at temperature 1" : "";
    out.push(arrow(), h("div", { class: "mpredict" }, "next token after the sentence: ",
      h("span", { class: "tokname" }, shownText(top)), ` (probability ${probText(top.prob)}${temp})`));
  }
  box.replaceChildren(
    h("p", { class: "intro" }, `${m.title}: every box is one step of the forward pass on this sentence, with the shape of what it `
      + "makes; click one to see its numbers."),
    sizes,
    sentence,
    h("div", { class: "mflow" }, h("div", { class: "mcol" }, column(pic.input)), link(), block, link(),
      h("div", { class: "mcol" }, column(pic.output), ...out)),
    ...pic.notes.map((t) => h("p", { class: "mnote" }, t)),
  );
}
