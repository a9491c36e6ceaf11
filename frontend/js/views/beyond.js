// The line under the sentence about the trained length (derive.js beyondNotice): a warning while the model reads
// positions it never saw in training, an offer to run a too-long text past the trained length on a model that can,
// or why this model cannot (and which models can, with a button that opens the text on one of them). Text only
// (textContent).
import { emit, h } from "../plot.js";

/**
 * The state the "cannot" notice's button sets, for its `open`: the page's model ({model, beyond}: the note by the
 * sentence, and a comparison's side a), whose vocabulary the token explained and the one it is compared with
 * (target, versus) belong to, so they go; or a comparison's side b ({model2, beyond}: Compare's refusedSide), which
 * leaves the page's model and those tokens as they are.
 */
export function openPatch(open) {
  return "model" in open ? { ...open, target: null, versus: null } : { ...open };
}

/** notice: {kind: "warning" | "offer" | "cannot", text, open} or null (`open`: what the "cannot" notice's button opens
 * the text on, {model, beyond} or {model2, beyond} (openPatch), or none). */
export function render(element, notice) {
  element.hidden = !notice;
  if (!notice) {
    element.replaceChildren();
    delete element.dataset.kind;
    delete element.dataset.opens;
    return;
  }
  const opens = notice.kind === "cannot" && notice.open ? notice.open.model ?? notice.open.model2 : "";
  if (element.dataset.kind === notice.kind && element.querySelector(".beyond-text")?.textContent === notice.text &&
      (element.dataset.opens ?? "") === opens) return;
  element.dataset.opens = opens;
  element.dataset.kind = notice.kind;
  const label = { warning: "Past the trained length.", offer: "Too long for the trained length.", cannot: "Too long for this model." }[notice.kind];
  const parts = [h("strong", {}, label), " ", h("span", { class: "beyond-text" }, notice.text)];
  if (notice.kind === "offer") {
    const btn = h("button", { type: "button", class: "small", name: "allow-beyond" }, "Run it past the trained length");
    btn.addEventListener("click", () => emit(element, { beyond: true }));
    parts.push(" ", btn);
  }
  if (opens) {
    const btn = h("button", { type: "button", class: "small", name: "open-model" }, `Open it on ${opens}`);
    btn.addEventListener("click", () => emit(element, openPatch(notice.open)));
    parts.push(" ", btn);
  }
  element.replaceChildren(...parts);
}
