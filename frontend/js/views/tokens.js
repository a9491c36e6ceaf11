// The token strip: one chip per token (text set with textContent), the selected query highlighted.
import { h } from "../plot.js";

/**
 * data: {tokens: [{id, text, position}], stale: bool}; state: {token} (the effective selection),
 * plus `pinned` (the clicked token). Hover and click are wired by main.js (event delegation).
 */
export function render(element, data, state) {
  const tokens = (data && data.tokens) || [];
  const chips = element.children;
  // reuse the chips already there; add or remove the difference
  while (chips.length > tokens.length) element.lastElementChild.remove();
  for (let i = 0; i < tokens.length; i++) {
    let chip = chips[i];
    if (!chip) {
      chip = h(
        "button",
        { type: "button", class: "tok", dataset: { index: String(i) } },
        h("span", { class: "tok-text" }),
        h("span", { class: "tok-pos" }),
      );
      element.append(chip);
    }
    const t = tokens[i];
    chip.querySelector(".tok-text").textContent = t.text;
    chip.querySelector(".tok-pos").textContent = String(i);
    chip.title = `token ${i} · id ${t.id} · position ${t.position}${t.special ? " · special token (stands for no text)" : ""}`;
    chip.classList.toggle("selected", i === state.token);
    chip.classList.toggle("special", Boolean(t.special));
    chip.classList.toggle("pinned", i === state.pinned);
    chip.setAttribute("aria-pressed", i === state.pinned ? "true" : "false");
  }
  element.classList.toggle("stale", Boolean(data && data.stale));
}
