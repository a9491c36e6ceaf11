// The line under the sentence about the trained length (derive.js beyondNotice): a warning while the model reads
// positions it never saw in training, an offer to run a too-long text past the trained length on a model that can,
// or why this model cannot (and which models can). Text only (textContent).
import { emit, h } from "../plot.js";

/** notice: {kind: "warning" | "offer" | "cannot", text} or null. */
export function render(element, notice) {
  element.hidden = !notice;
  if (!notice) {
    element.replaceChildren();
    delete element.dataset.kind;
    return;
  }
  if (element.dataset.kind === notice.kind && element.querySelector(".beyond-text")?.textContent === notice.text) return;
  element.dataset.kind = notice.kind;
  const label = { warning: "Past the trained length.", offer: "Too long for the trained length.", cannot: "Too long for this model." }[notice.kind];
  const parts = [h("strong", {}, label), " ", h("span", { class: "beyond-text" }, notice.text)];
  if (notice.kind === "offer") {
    const btn = h("button", { type: "button", class: "small", name: "allow-beyond" }, "Run it past the trained length");
    btn.addEventListener("click", () => emit(element, { beyond: true }));
    parts.push(" ", btn);
  }
  element.replaceChildren(...parts);
}
