// The attention view: the selected head as a query x key heatmap, the links, every layer x head, and the per-head
// summary. One plot per frame, each on screen before the next is drawn: the heatmap first, then the grid (the
// performance marks attnlab:heatmap and attnlab:grid say when each was drawn, for the browser benchmarks).
import { shownIndices } from "../derive.js";
import { changed, h, marked, part } from "../plot.js";
import * as grid from "./grid.js";
import * as heads from "./heads.js";
import * as heatmap from "./heatmap.js";
import * as lines from "./lines.js";
import * as rows from "./rows.js";

export const id = "attention";
// roles: the grid's role labels; roledefs: their legend; queryrows: the heatmap's combined rows (nothing unless asked)
export const sources = ["analyze", "roles", "roledefs", "queryrows"];

function layout(section) {
  const top = part(section, "top", () => h("div", { class: "row2 attn-top plots-level" },
    h("div", { class: "col" }, h("div", { id: "attn-heatmap" }), h("div", { id: "attn-rows" })), h("div", { id: "attn-lines" })));
  const bottom = part(section, "bottom", () => h("div", { class: "row2 attn-bottom plots-level" }, h("div", { id: "attn-grid" }), h("div", { id: "attn-heads" })));
  return {
    hm: top.querySelector("#attn-heatmap"), ln: top.querySelector("#attn-lines"), rw: top.querySelector("#attn-rows"),
    gr: bottom.querySelector("#attn-grid"), hs: bottom.querySelector("#attn-heads"),
  };
}

/**
 * got: {analyze}; ctx: {state, view (the analysis as shown: special tokens maybe left out), token (the query, an API
 * index), ablateMode}. Returns true when every plot is drawn, false when another frame is needed.
 */
export function show(section, got, ctx) {
  const { hm, ln, gr, hs, rw } = layout(section);
  const analysis = got.analyze.data;
  const view = ctx.view;
  const s = ctx.state;
  // the heatmap, the links and the grid draw `view`: their token positions are positions in view.tokens
  const pos = shownIndices(view).indexOf(ctx.token);
  const vs = { ...s, token: pos < 0 ? null : pos };
  const what = { text: s.text, model: analysis.model, layer: s.layer, head: s.head };
  // the role labels: the table this view's analysis carries (sources.js CARRIES); without one the grid has none
  const roles = { data: got.roles && got.roles.current && got.roles.data ? got.roles.data.roles : null }; // the role table
  const defs = got.roledefs || { data: null };
  const qr = got.queryrows && got.queryrows.data !== null ? got.queryrows : got.queryrows && got.queryrows.pending ? got.queryrows : null;
  const todo = [
    [hm, [view, s.layer, s.head, pos, s.ablate, Math.round(hm.clientWidth / 40), s.combine, s.rows.join(",")],
      () => marked(heatmap.render(hm, { analyze: view, positional: ctx.model && ctx.model.positional }, vs), "attnlab:heatmap", what)],
    // the grid draws every head: from the thumbnails when the answer has them (they stay the same while only the
    // selected layer changes), else from the full attention
    [gr, [view.thumbnails || view.attention, s.layer, s.head, s.ablate, ctx.ablateMode, Math.round(gr.clientWidth / 20), roles.data, defs.data],
      () => marked(grid.render(gr, { analyze: view, ablateMode: ctx.ablateMode, roles: roles.data, defs: defs.data }, vs), "attnlab:grid", { ...what, roles: Boolean(roles.data) })],
    [ln, [view, s.layer, s.head, pos, Math.round(ln.clientWidth / 40), s.overlay.join(",")], () => lines.render(ln, { analyze: view }, vs)],
    [rw, [view, s.layer, s.head, s.combine, s.rows.join(","), qr && qr.data, qr && qr.error, Math.round(rw.clientWidth / 40)],
      () => rows.render(rw, { analyze: view, rows: qr }, vs)],
    [hs, [analysis, s.layer, s.head, Math.round(hs.clientWidth / 40)],
      () => heads.render(hs, { analyze: analysis }, vs)],
  ];
  rows.sync(rw, view, vs); // (the controls follow the query token, which does not redraw the combined row)
  for (const [el, deps, drawIt] of todo) {
    if (!changed(el, deps)) continue;
    drawIt();
    return false; // one plot this frame; the rest in the next ones
  }
  return !(qr && qr.pending) && !(got.roles && got.roles.pending);
}
