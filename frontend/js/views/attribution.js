// Direct logit attribution: what each head (its output through W_O), each MLP, the embeddings and the biases add to
// the logit of a chosen token (or to the difference of two), the final norm's scale frozen at its value in the run.
// A layer x head heatmap (click a head to open its attention) and bars for the rest; the sum shown beside the
// model's own logit. Every number is the API's (POST /api/attribution/logit); the token choices come from the
// lens's final reading (the model's top tokens at the position).
import { isAblated, shownText } from "../derive.js";
import {
  caption, changed, COLORS, DIVERGING, draw, emit, esc, fmt, h, matrixRows, panel, part, presenting, reason, textScale, tickStep,
} from "../plot.js";
import { candidates, fillPicker, tokenPicker } from "./lens.js";

export const id = "attribution";
export const sources = ["logit", "lens"];

/** got: {logit, lens}; ctx: {state}. */
export function show(section, got, ctx) {
  const v = got.logit;
  const deps = [v.data, v.error, v.unavailable, got.lens.data, ctx.state.layer, ctx.state.head];
  if (changed(section, deps)) render(section, { logit: v.data, error: v.error, unavailable: v.unavailable, lens: got.lens.data }, ctx.state);
  return !v.pending && !got.lens.pending;
}

/** The heads the run ablated, [layer, head] pairs: the answer's interventions. */
const ablatedOf = (r) => (r.interventions && r.interventions.ablate) || [];

/**
 * The text of each cell of the heads heatmap [layer][head]: "off" on a head the run ablated (its 0 is not a head that
 * adds nothing by itself), else its number to 2 decimals where `numbers` (a small grid), else "".
 */
export function headCellText(r, numbers) {
  const off = ablatedOf(r);
  return r.heads.map((hs, l) => hs.map((x, hd) => (isAblated(off, l, hd) ? "off" : numbers ? fmt(x, 2) : "")));
}

/** The bars' title: what they are, the biases named only where the answer has a bias part (SmolLM2 has none). */
export const partsTitle = (parts) => (parts.some((p) => p.kind.endsWith("_bias")) ? "Embeddings, MLPs and biases" : "Embeddings and MLPs");

/** data: {logit, error, unavailable, lens}; state: {layer, head, target, versus}. */
export function render(element, data, state) {
  const ctl = part(element, "controls", () => h("div", { class: "controls" }));
  const pickT = tokenPicker(ctl, "target", "Token", "the model's top-1");
  const pickV = tokenPicker(ctl, "versus", "minus", "nothing (its logit)");
  const sum = part(element, "sum", () => h("div", { class: "sums", role: "status" }, h("p", { class: "sumline total" }), h("p", { class: "sumline norm" }),
    h("p", { class: "intro attr-note" })));
  const row = part(element, "row", () => h("div", { class: "row2 plots-level captions-below" }));
  const headsFig = panel(row, "heads", "Each head, through W_O");
  const partsFig = panel(row, "parts", "Embeddings, MLPs and biases");
  const why = data.unavailable || data.error;
  if (why) {
    ctl.hidden = Boolean(data.unavailable);
    sum.hidden = true;
    caption(headsFig, ""); // (the caption of the answer drawn before: "favours a over b" of another pair)
    reason(headsFig, why);
    partsFig.hidden = true;
    return;
  }
  const r = data.logit;
  if (!r) return;
  ctl.hidden = false;
  sum.hidden = false;
  partsFig.hidden = false;
  if (data.lens) {
    const options = candidates(data.lens);
    for (const t of [r.token, r.versus]) if (t && !options.some((o) => o.id === t.id)) options.push(t);
    fillPicker(pickT, options, r.token_is_default ? null : r.token.id);
    // (not the token explained: a logit minus itself is 0 whatever the model does, and the server refuses it)
    fillPicker(pickV, options.filter((o) => o.id !== r.token.id), r.versus ? r.versus.id : null);
  }
  const pos = r.tokens[r.position];
  sum.querySelector(".total").textContent =
    `${r.target} after position ${r.position} “${shownText(pos)}”: heads ${fmt(r.heads_total, 4)} + the rest ${fmt(r.total - r.heads_total, 4)} `
    + `= ${fmt(r.total, 4)}; the model's own value: ${fmt(r.logit, 4)}`
    // the parts are summed in float64, the model's logit is float32: they may differ in the last digit shown
    + (fmt(r.total, 4) === fmt(r.logit, 4) ? "." : ` (the ${fmt(Math.abs(r.logit - r.total), 4)} between them: the model computes in float32, the parts are summed in float64).`);
  sum.querySelector(".norm").textContent = r.norm
    ? `Final ${r.norm === "rmsnorm" ? "RMSNorm" : "LayerNorm"}: its scale σ = ${r.norm_scale} frozen for every part`
      + (r.centring_removed === null ? " (RMSNorm does not centre: nothing removed)." : `; its centring removed ${fmt(r.centring_removed, 4)} (uncentred, the parts would add that much more).`)
    : "No final norm.";
  sum.querySelector(".attr-note").textContent = r.note;

  const L = r.heads.length;
  const H = r.heads[0] ? r.heads[0].length : 0;
  let lim = 0;
  for (const row_ of r.heads) for (const x of row_) lim = Math.max(lim, Math.abs(x));
  lim = lim || 1;
  const off = ablatedOf(r);
  caption(headsFig, (r.versus ? `Blue: favours “${r.token.display}” over “${r.versus.display}”; orange: the other way.`
    : "Blue: pushes the token up; orange: down.") +
    (off.length ? ` Marked “off”: ${off.length === 1 ? "a head" : "heads"} ablated in this run, whose output is set to 0, so ${off.length === 1 ? "it adds" : "they add"} nothing.` : "") +
    " Click a head to open its attention.");
  const hover = r.heads.map((hs, l) => hs.map((x, hd) => `layer ${l}, head ${hd}<br>` +
    (isAblated(off, l, hd) ? "ablated in this run: its output is 0, so it adds 0" : `adds ${x} to ${esc(r.target)}`)));
  const heads = [...Array(H).keys()];
  const layers = [...Array(L).keys()];
  const rowPx = L > 12 ? 16 : 40;
  const k = textScale();
  draw(headsFig,
    [{ type: "heatmap", z: r.heads, x: heads, y: layers, zmin: -lim, zmax: lim, zmid: 0, colorscale: DIVERGING, customdata: hover,
       hovertemplate: "%{customdata}<extra></extra>", xgap: 1, ygap: 1, text: headCellText(r, L * H <= 64), texttemplate: "%{text}",
       colorbar: { thickness: 10, outlinewidth: 0 } }],
    { height: Math.max(220, L * rowPx + 90),
      // (automargin: the title below the tick labels; with the presenter's larger text it touched them)
      xaxis: { title: { text: "head" }, tickmode: "array", tickvals: heads, showgrid: false, zeroline: false, automargin: true },
      // every k-th layer labelled where rows are lower than the labels (SmolLM2's 30 rows of 16 px in presenter mode
      // drew 30 labels over each other, "layer" over them); automargin: the title clear of the labels
      yaxis: { title: { text: "layer" }, tickmode: "array", tickvals: layers.filter((l) => l % tickStep(L, Math.floor((L * rowPx) / (14 * k))) === 0),
        range: [L - 0.5, -0.5], showgrid: false, zeroline: false, automargin: true },
      shapes: state.layer < L && state.head < H ? [{ type: "rect", x0: state.head - 0.5, x1: state.head + 0.5, y0: state.layer - 0.5, y1: state.layer + 0.5, line: { color: COLORS.sel, width: 2.5 } }] : [],
      margin: { l: 50, r: 10, t: 10, b: 45 } },
    { name: `attribution-heads-${r.model}-pos${r.position}-tok${r.token.id}${r.versus ? `-vs${r.versus.id}` : ""}`,
      csv: () => matrixRows("layer\\head", layers, heads, r.heads), json: r });
  const gd = headsFig.querySelector(".plot");
  // (again after each draw: a plot that showed a reason was purged, listeners and all)
  if (gd.removeAllListeners) gd.removeAllListeners("plotly_click");
  {
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && Number.isInteger(p.x) && Number.isInteger(p.y)) emit(headsFig, { layer: p.y, head: p.x, view: "attention" }, { history: "push" });
    });
  }

  partsFig.querySelector(".panel-title").textContent = partsTitle(r.parts);
  caption(partsFig, "What is not a head, in the order the forward pass adds it.");
  const parts = r.parts;
  const big = presenting();
  const ys = parts.map((_, i) => i);
  draw(partsFig,
    [{ type: "bar", orientation: "h", x: parts.map((p) => p.value), y: ys, marker: { color: parts.map((p) => (p.value >= 0 ? COLORS.bar : COLORS.other)) },
       hovertext: parts.map((p) => `${esc(p.label)}: ${p.value}`), hoverinfo: "text" }],
    { height: Math.max(220, parts.length * 18 + 70),
      yaxis: { tickmode: "array", tickvals: ys, ticktext: parts.map((p) => esc(p.label)), range: [parts.length - 0.5, -0.5], automargin: true, tickfont: { size: parts.length > 20 ? 9 : 11 } },
      // the x axis's title ends at the plot's right edge, under the bars and the empty corner below their labels:
      // centred on bars narrower than it (long labels, the presenter's larger text) it ran past the plot's edge
      xaxis: { zeroline: true }, margin: { l: 10, r: 10, t: 10, b: big ? 56 : 45 },
      annotations: [{ text: `adds to ${esc(r.target)}`, xref: "paper", yref: "paper", x: 1, xanchor: "right", y: 0, yanchor: "top",
        yshift: big ? -25 : -19, showarrow: false, font: { size: 14 } }] },
    { name: `attribution-parts-${r.model}-pos${r.position}-tok${r.token.id}`,
      csv: () => [["kind", "layer", "label", "value"], ...parts.map((p) => [p.kind, p.layer, p.label, p.value])], json: r });
}
