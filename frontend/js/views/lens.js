// The logit lens: for the selected position, the residual stream after the attention and after the MLP of every
// block, read through the final norm and the unembedding: the top tokens of each reading, and a layer x sub-layer
// table of the probability of one token (the model's final top-1 unless the user picks another). Every number is
// the API's (POST /api/attribution/lens).
import { probText, shownText, temperatureElsewhere } from "../derive.js";
import {
  caption, changed, draw, emit, esc, h, panel, part, plotOf, reason, setExport, textScale, tickStep, WEIGHT_SCALE,
} from "../plot.js";

export const id = "lens";
export const sources = ["lens"];

const SUBLAYERS = { attn: "after attention", mlp: "after MLP" };

/** The label of row i of the lens's map: row 0 the embeddings, row i block i − 1. */
export const depthLabel = (i) => (i ? String(i - 1) : "embeddings");

/**
 * The rows of the lens's map of L blocks (depthLabel) labelled when every `step`-th has room: the embeddings, the last
 * block and the blocks whose number is a multiple of step, leaving out those less than a step from either end, so that
 * the labels keep their room. Counting every step-th row from the embeddings labelled every odd block (SmolLM2 in
 * presenter mode: embeddings, 1, 3, …, 29); now embeddings, 2, 4, …, 26, 29.
 */
export function depthTicks(L, step = 1) {
  const ticks = [0];
  for (let b = 0; b < L; b += step) if (b + 1 >= step && L - (b + 1) >= step) ticks.push(b + 1);
  if (L >= step && ticks.at(-1) !== L) ticks.push(L); // (the last block: how deep the model is)
  return ticks;
}

/** got: {lens}; ctx: {state}. */
export function show(section, got, ctx) {
  const v = got.lens;
  if (changed(section, [v.data, v.error, v.unavailable, ctx.state.temp])) render(section, { lens: v.data, error: v.error, unavailable: v.unavailable }, ctx.state);
  return !v.pending;
}

/** The tokens a user can pick: the final reading's top tokens (the model's own prediction), and the one shown. */
export function candidates(r) {
  const last = r.cells[r.cells.length - 1];
  const top = last[last.length - 1].top.map((t) => ({ id: t.id, display: t.display, prob: t.prob }));
  if (!top.some((t) => t.id === r.token.id)) top.push({ id: r.token.id, display: r.token.display, prob: r.token.prob });
  return top;
}

/** A token picker ({target} or {versus}): the model's top tokens at the position; "" = the default. */
export function tokenPicker(element, key, label, none) {
  return part(element, `pick-${key}`, () => {
    const sel = h("select", { name: key, "aria-label": label });
    const box = h("label", { class: "picker" }, `${label} `, sel);
    sel.addEventListener("change", () => emit(box, { [key]: sel.value === "" ? null : Number(sel.value) }));
    box._none = none;
    return box;
  });
}

/** Fill a picker with `options` ({id, display, prob}) and select `value` (an id or null). */
export function fillPicker(box, options, value) {
  const sel = box.querySelector("select");
  const opts = [h("option", { value: "" }, box._none), ...options.map((t) => h("option", { value: String(t.id) }, `${shownText(t)}  (${lensProb(t.prob)})`))];
  sel.replaceChildren(...opts);
  sel.value = value === null || value === undefined ? "" : String(value);
}

/** A probability of the lens's answer (4 decimals): "< 0.0001" for a 0 (it read "0.0000" at rank 68), as the
 * predictions view writes its own (derive.js probText). */
const lensProb = (p) => probText(p, { decimals: 4 });

const SHOWN = 5; // tokens listed per reading (the CSV and JSON have all the API sent)

function topList(cell, target) {
  return h("ol", { class: "lens-top" }, cell.top.slice(0, SHOWN).map((t) => h("li", { class: t.id === target ? "target" : null },
    h("span", { class: "tokname" }, shownText(t)), " ", h("span", { class: "num" }, lensProb(t.prob)))));
}

/** data: {lens, error, unavailable}; state: {target, temp}. */
export function render(element, data, state) {
  const ctl = part(element, "controls", () => h("div", { class: "controls" }));
  const picker = tokenPicker(ctl, "target", "Token", "the model's top-1");
  const note = part(element, "note", () => h("p", { class: "intro lens-note" }));
  const row = part(element, "row", () => h("div", { class: "row2 plots-level" }));
  const probFig = panel(row, "prob", "Probability of the token at each depth");
  const topFig = panel(row, "top", "Top tokens read at each depth", { formats: ["csv", "json"], cls: "table-panel" });
  const why = data.unavailable || data.error;
  if (why) {
    ctl.hidden = Boolean(data.unavailable);
    note.hidden = true;
    caption(probFig, ""); // (the caption of the answer drawn before: another token's probability)
    reason(probFig, why);
    topFig.hidden = true;
    return;
  }
  const r = data.lens;
  if (!r) return;
  ctl.hidden = false;
  note.hidden = false;
  topFig.hidden = false;
  fillPicker(picker, candidates(r), r.token_is_default ? null : r.token.id);
  const pos = r.tokens[r.position];
  note.textContent = r.note;
  const t = r.token;
  const L = r.n_layers;
  const e = r.embedding;
  // row 0 the embeddings: one reading, before any block's attention, so one cell across both columns (a second
  // trace whose x and y are the cell's edges), as in the table beside it; then each block's two
  const rows = [...Array(L + 1).keys()];
  const cols = r.sublayers.map((_, i) => i);
  const z = r.cells.map((cells) => cells.map((c) => c.prob));
  const text = r.cells.map((cells) => cells.map((c) => `${lensProb(c.prob)} #${c.rank}`));
  const tip = (c) => `${c.layer === null ? "the embeddings" : `block ${c.layer}, ${SUBLAYERS[c.sublayer]}`}<br>${esc(c.hook)}<br>p(${esc(t.display)}) = ${c.prob}, rank ${c.rank}<br>top: ${esc(c.top[0].display)} ${c.top[0].prob}`;
  const cellText = L <= 12 ? "%{text}" : "";
  const rowPx = L > 12 ? 18 : 42;
  // every k-th depth labelled (depthTicks) where rows are lower than the labels, as the attribution's layers
  // (SmolLM2's 31 rows of 18 px in presenter mode drew labels 20 px high over each other)
  const step = tickStep(L + 1, Math.floor(((L + 1) * rowPx) / (14 * textScale())));
  const ticks = depthTicks(L, step);
  // the lens reads the logits as they are: at temperature 1, whatever the predictions view's slider says
  const temp = temperatureElsewhere(state) ? " All at temperature 1 (the predictions view's slider does not apply here)." : "";
  caption(probFig, `p(“${t.display}”) after position ${r.position} “${shownText(pos)}”: ${lensProb(t.prob)} in the output `
    + `(${r.token_is_default ? "the model's top-1" : `rank ${t.rank}`}). From the embeddings alone: ${lensProb(e.prob)} (rank ${e.rank}).${temp}`);
  draw(probFig,
    [{ type: "heatmap", z, x: cols, y: rows.slice(1), zmin: 0, zmax: 1, colorscale: WEIGHT_SCALE, text, texttemplate: cellText,
       customdata: r.cells.map((cells) => cells.map(tip)), hovertemplate: "%{customdata}<extra></extra>", xgap: 2, ygap: 1,
       colorbar: { thickness: 10, outlinewidth: 0, title: { text: "p" } } },
     { type: "heatmap", z: [[e.prob]], x: [-0.5, cols.length - 0.5], y: [-0.5, 0.5], zmin: 0, zmax: 1, colorscale: WEIGHT_SCALE, showscale: false,
       text: [[`${lensProb(e.prob)} #${e.rank}`]], texttemplate: cellText, customdata: [[tip(e)]], hovertemplate: "%{customdata}<extra></extra>", xgap: 2, ygap: 1 }],
    { height: Math.max(240, (L + 1) * rowPx + 80),
      yaxis: { title: { text: "block" }, tickmode: "array", tickvals: ticks, ticktext: ticks.map(depthLabel), range: [L + 0.5, -0.5], showgrid: false, zeroline: false, automargin: true },
      // upright, on two lines, the margin made for them: in a narrow panel (presenter mode with a lesson open) plotly
      // slanted "after attention" and cut it at the plot's top edge
      xaxis: { side: "top", tickmode: "array", tickvals: cols, ticktext: r.sublayers.map((sl) => SUBLAYERS[sl].replace(" ", "<br>")), tickangle: 0,
        automargin: true, range: [-0.5, cols.length - 0.5], showgrid: false, zeroline: false },
      margin: { l: 55, r: 10, t: 30, b: 10 } },
    { name: `lens-${r.model}-pos${r.position}-tok${t.id}`,
      csv: () => [["layer", "sublayer", "hook", "prob", "rank"], [null, "embed", e.hook, e.prob, e.rank], ...r.cells.flat().map((c) => [c.layer, c.sublayer, c.hook, c.prob, c.rank])],
      json: r });

  const body = h("tbody", {}, h("tr", { class: "embed-row" }, h("th", { scope: "row" }, "embeddings"), h("td", { colspan: "2" }, topList(e, t.id))),
    r.cells.map((cells, l) => h("tr", {}, h("th", { scope: "row" }, `block ${l}`), cells.map((c) => h("td", {}, topList(c, t.id))))));
  const table = h("table", { class: "lens-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), r.sublayers.map((s) => h("th", { scope: "col" }, SUBLAYERS[s])))), body);
  const wrap = plotOf(topFig);
  wrap.classList.add("table-wrap", "tall");
  wrap.replaceChildren(table);
  // often taller than its box (always on the larger models): said, as a scroll bar may show only while it scrolls
  const scrolls = wrap.scrollHeight > wrap.clientHeight + 1;
  const listed = [e, ...r.cells.flat()].some((c) => c.top.slice(0, SHOWN).some((x) => x.id === t.id));
  caption(topFig, (listed ? `Bold: “${t.display}”.` : `“${t.display}” is in none of these top ${SHOWN} lists (rank ${t.rank} in the output).`)
    + " Each row: the residual stream read through the final norm and unembedding." +
    (scrolls ? ` Scroll the table for all ${L} blocks.` : ""));
  setExport(topFig, {
    name: `lens-top-${r.model}-pos${r.position}`,
    csv: () => [["layer", "sublayer", "rank", "id", "token", "prob"],
      ...[e, ...r.cells.flat()].flatMap((c) => c.top.map((x, i) => [c.layer, c.sublayer, i + 1, x.id, x.display, x.prob]))],
    json: r,
  });
}
