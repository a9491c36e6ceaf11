// The token strip: one chip per token (text set with textContent), the selected query highlighted.
import { hiddenWords, intoSight, positionText, shownText, stripHidden, stripScroll } from "../derive.js";
import { h } from "../plot.js";
import { chipNote, sources, spoken, typedTexts } from "../tokentext.js";

/**
 * data: {tokens: [{id, text, position, special, index?}], interventions, stale: bool, sentence?}: `interventions` the answer's
 * (what positions the model was given); `index` is the token's index in the
 * API's data when some tokens are hidden (the chips keep it in data-index); state: {token} (the effective
 * selection, an API index), plus `pinned` (the clicked token) and `query` (the selection without a hover: the strip
 * scrolls it into sight when it changes). Hover and click are wired by main.js
 * (event delegation). The strip is one tab stop (the selected chip); the arrow keys move along it. `sentence`: the text
 * the tokens are of, where known: a chip's tooltip then says what was typed where the model changed it (tokentext.js).
 */
export function render(element, data, state) {
  const tokens = (data && data.tokens) || [];
  const chips = element.children;
  const typed = typedTexts(data && data.sentence, tokens);
  const from = sources(tokens);
  // reuse the chips already there; add or remove the difference
  while (chips.length > tokens.length) element.lastElementChild.remove();
  for (let i = 0; i < tokens.length; i++) {
    let chip = chips[i];
    if (!chip) {
      chip = h(
        "button",
        { type: "button", class: "tok" },
        h("span", { class: "tok-text" }),
        h("span", { class: "tok-pos" }),
      );
      element.append(chip);
    }
    const t = tokens[i];
    const index = Number.isInteger(t.index) ? t.index : i;
    chip.dataset.index = String(index);
    chip.querySelector(".tok-text").textContent = shownText(t);
    chip.querySelector(".tok-pos").textContent = String(index);
    chip.title = `token ${index} · id ${t.id} · ${positionText(t.position, data.interventions, data.positional)}${t.special ? " · special token (stands for no text)" : ""}` +
      chipNote(t, typed && typed[i], from[i]);
    chip.setAttribute("aria-label", `token ${index}: ${spoken(shownText(t))}${t.special ? " (special token)" : ""}`);
    chip.classList.toggle("selected", index === state.token);
    chip.classList.toggle("special", Boolean(t.special));
    chip.classList.toggle("pinned", index === state.pinned);
    chip.setAttribute("aria-pressed", index === state.pinned ? "true" : "false");
  }
  // the query (the selection, not a hover) out of the strip's sight on a long text (two rows, then the strip scrolls;
  // one row in presenter mode with a lesson open): brought into it when it changes, by scrolling the strip, not the
  // page; a strip the student scrolled stays where they put it until the query changes
  const query = Number.isInteger(state.query) ? element.querySelector(`.tok[data-index="${state.query}"]`) : null;
  if (query && element._query !== state.query && element.clientHeight > 0) {
    element._query = state.query;
    const r = query.getBoundingClientRect();
    const box = element.getBoundingClientRect();
    element.scrollTop = intoSight(r.top - box.top - element.clientTop + element.scrollTop, r.height, element.scrollTop, element.clientHeight);
    // sideways (one row, presenter mode): the strip's left edge at a chip's start, not inside one, the query and the
    // chip after it whole; the strip given room at its end to scroll that far where it must
    const scroll = element.scrollLeft; // (before the room added for the last query goes, which may pull it back)
    element.style.paddingRight = "";
    const left = box.left + element.clientLeft - element.scrollLeft;
    const top = query.getBoundingClientRect().top; // (the query's row, where the strip's rows scroll too)
    const row = [...element.children].filter((c) => Math.abs(c.getBoundingClientRect().top - top) < 1);
    const chips = row.map((c) => { const b = c.getBoundingClientRect(); return { start: b.left - left, length: b.width }; });
    const to = stripScroll(chips, row.indexOf(query), { scroll, size: element.clientWidth, content: element.scrollWidth });
    if (to.pad) element.style.paddingRight = `${parseFloat(getComputedStyle(element).paddingRight) + to.pad}px`;
    element.scrollLeft = to.scroll;
  }
  // roving tab stop: the selected chip (or the first) is the one Tab reaches, unless focus is already in the strip
  const focused = element.contains(document.activeElement) ? document.activeElement : null;
  const stop = focused || element.querySelector(".tok.selected") || element.firstElementChild;
  for (const chip of element.children) chip.tabIndex = chip === stop ? 0 : -1;
  element.classList.toggle("stale", Boolean(data && data.stale));
  showHidden(element);
}

/**
 * The cue by the strip (#tokens-cue) of the tokens it hides: on a long text the strip shows two rows (one, sideways, in
 * presenter mode with a lesson open) scrolled to the query, the last token by default, so the first tokens (BOS among
 * them) were out of sight with nothing on the page to say so where scroll bars only show while scrolling (a phone, a
 * Mac). Each of its buttons names the tokens hidden on one side and scrolls the strip there; they follow the strip as
 * it scrolls and as its width changes.
 */
export function showHidden(element) {
  const cue = document.getElementById("tokens-cue");
  if (!cue) return;
  if (!element._cueWired) {
    element._cueWired = true;
    // (once a frame at most: each update reads every chip's box, 512 of them on the longest text)
    element.addEventListener("scroll", () => {
      if (element._cueFrame) return;
      element._cueFrame = requestAnimationFrame(() => {
        element._cueFrame = 0;
        showHidden(element);
      });
    }, { passive: true });
    new ResizeObserver(() => showHidden(element)).observe(element);
    cue.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-to]");
      if (!b) return;
      const sideways = element.dataset.sideways === "1";
      const end = b.dataset.to === "end";
      if (sideways) element.scrollLeft = end ? element.scrollWidth : 0;
      else element.scrollTop = end ? element.scrollHeight : 0;
    });
  }
  const chips = [...element.children];
  const box = element.getBoundingClientRect();
  // one row that scrolls sideways, or rows that scroll down (the CSS decides: presenter mode with a lesson open)
  const sideways = getComputedStyle(element).flexWrap === "nowrap";
  element.dataset.sideways = sideways ? "1" : "0";
  const edge = sideways ? box.left + element.clientLeft - element.scrollLeft : box.top + element.clientTop - element.scrollTop;
  const along = chips.map((c) => {
    const r = c.getBoundingClientRect();
    return sideways ? { index: Number(c.dataset.index), start: r.left - edge, end: r.right - edge }
      : { index: Number(c.dataset.index), start: r.top - edge, end: r.bottom - edge };
  });
  const hidden = element.clientHeight > 0 && chips.length
    ? stripHidden(along, sideways ? { scroll: element.scrollLeft, size: element.clientWidth } : { scroll: element.scrollTop, size: element.clientHeight })
    : { before: null, after: null };
  const [start, end] = cue.querySelectorAll("button[data-to]");
  const words = [hiddenWords(hidden.before, sideways ? "before" : "above"), hiddenWords(hidden.after, sideways ? "after" : "below")];
  start.textContent = words[0] ? `${sideways ? "◂" : "▴"} ${words[0]}` : "";
  end.textContent = words[1] ? `${sideways ? "▸" : "▾"} ${words[1]}` : "";
  start.hidden = !words[0];
  end.hidden = !words[1];
  start.title = words[0] ? `scroll the strip to its start (${words[0]})` : "";
  end.title = words[1] ? `scroll the strip to its end (${words[1]})` : "";
  cue.hidden = !words[0] && !words[1];
}
