// All layers x heads as small thumbnails. One heatmap holds every head's pattern side by side (tiles
// separated by an empty row and column), so that 4 x 4 heads and 30 x 9 heads draw equally fast.
// Click: select that layer and head. Shift/Alt/Ctrl-click, or click in ablate mode: ablate it.
// Keyboard: the grid is one tab stop; the arrow keys move the selected head (main.js), Enter or Space
// ablates (or restores) the selected head.
import { caption, draw, emit, hiddenNote, panel, plotOf, selectionShapes, WEIGHT_SCALE } from "../plot.js";

const GRID_MASKED = "#b8b8b8"; // masked cells: mid grey, apart from the white gaps between tiles and every Viridis colour

const MAX_HOVER_CELLS = 120_000; // beyond this, no per-cell hover text (clicking still works)

/** data: {analyze, causal, ablateMode}; state: {layer, head, ablate}. */
export function render(element, data, state) {
  const fig = panel(element, "grid", "Every layer × head");
  const a = data && data.analyze;
  if (!a) return;
  const nL = a.n_layers;
  const nH = a.n_heads;
  const n = a.tokens.length;
  const tile = n + 1; // n cells and one empty row/column between tiles
  const rows = nL * tile - 1;
  const cols = nH * tile - 1;
  const hover = rows * cols <= MAX_HOVER_CELLS;
  caption(
    fig,
    (data.ablateMode ? "Ablate mode: click a head to switch it off or on." : "Click a head to select it; Shift-click (or turn on ablate mode) to ablate it.") +
      " Keys: arrows move the selection, Enter ablates it." +
      (data.causal ? " Grey: masked." : "") + hiddenNote(a, false),
  );
  const z = Array.from({ length: rows }, () => new Array(cols).fill(null));
  const masked = data.causal ? Array.from({ length: rows }, () => new Array(cols).fill(null)) : null;
  const text = hover ? Array.from({ length: rows }, () => new Array(cols).fill("")) : null;
  for (let l = 0; l < nL; l++) {
    for (let hd = 0; hd < nH; hd++) {
      const p = a.attention[l][hd];
      for (let i = 0; i < n; i++) {
        const zr = z[l * tile + i];
        for (let j = 0; j < n; j++) {
          const c = hd * tile + j;
          const isMasked = data.causal && j > i;
          if (isMasked) masked[l * tile + i][c] = 1;
          else zr[c] = p[i][j];
          if (hover) text[l * tile + i][c] = `layer ${l} · head ${hd}<br>query ${i} → key ${j}: ${isMasked ? "masked" : p[i][j]}`;
        }
      }
    }
  }
  const traces = [];
  if (masked) {
    traces.push({ type: "heatmap", z: masked, colorscale: [[0, GRID_MASKED], [1, GRID_MASKED]], showscale: false, hoverinfo: "skip", zmin: 0, zmax: 1 });
  }
  traces.push({
    type: "heatmap", z, colorscale: WEIGHT_SCALE, zmin: 0, zmax: 1, showscale: false, hoverongaps: false,
    ...(hover ? { text, hovertemplate: "%{text}<extra></extra>" } : { hoverinfo: "none" }),
  });
  const isAbl = (l, hd) => state.ablate.some(([x, y]) => x === l && y === hd);
  const shapes = [];
  for (let l = 0; l < nL; l++) {
    for (let hd = 0; hd < nH; hd++) {
      const x0 = hd * tile - 0.5;
      const y0 = l * tile - 0.5;
      if (isAbl(l, hd)) {
        shapes.push({ type: "rect", x0, x1: x0 + n, y0, y1: y0 + n, fillcolor: "rgba(201,42,42,0.15)", line: { width: 0 } });
        shapes.push({ type: "line", x0, x1: x0 + n, y0, y1: y0 + n, line: { color: "#c92a2a", width: 2 } });
        shapes.push({ type: "line", x0, x1: x0 + n, y0: y0 + n, y1: y0, line: { color: "#c92a2a", width: 2 } });
      }
    }
  }
  const sx = state.head * tile - 0.5;
  const sy = state.layer * tile - 0.5;
  shapes.push(...selectionShapes({ x0: sx - 0.4, x1: sx + n + 0.4, y0: sy - 0.4, y1: sy + n + 0.4 }, 3));

  const width = element.clientWidth || 600;
  const cell = Math.max(26, Math.min(120, (width - 70) / nH, 1300 / nL));
  const centre = (k) => k * tile + (n - 1) / 2;
  const csv = [["layer", "head", "query", "key", "weight"]];
  for (let l = 0; l < nL; l++)
    for (let hd = 0; hd < nH; hd++) a.attention[l][hd].forEach((row, i) => row.forEach((v, j) => csv.push([l, hd, i, j, v])));
  draw(
    fig,
    traces,
    {
      height: Math.round(nL * cell + 60),
      plot_bgcolor: "#ffffff",
      xaxis: { tickmode: "array", tickvals: [...Array(nH).keys()].map(centre), ticktext: [...Array(nH).keys()].map((h) => (nH > 12 ? `${h}` : `head ${h}`)),
               range: [-1, cols], showgrid: false, zeroline: false, fixedrange: true, ticks: "", tickfont: { size: 11 } },
      yaxis: { tickmode: "array", tickvals: [...Array(nL).keys()].map(centre), ticktext: [...Array(nL).keys()].map((l) => (nL > 12 ? `L${l}` : `layer ${l}`)),
               range: [rows, -1], showgrid: false, zeroline: false, fixedrange: true, ticks: "", tickfont: { size: nL > 16 ? 9 : 11 } },
      shapes,
      margin: { l: 55, r: 8, t: 8, b: 28 },
      hovermode: "closest",
    },
    { name: `attention-grid-${a.model}`, csv, json: { model: a.model, interventions: a.interventions, tokens: a.tokens, attention: a.attention } },
  );
  const gd = plotOf(fig);
  gd._attnlabGrid = { tile, n, nL, nH, layer: state.layer, head: state.head };
  gd.tabIndex = 0;
  gd.setAttribute("role", "group");
  gd.setAttribute("aria-label", `every layer and head; selected: layer ${state.layer}, head ${state.head}` +
    `${state.ablate.some(([x, y]) => x === state.layer && y === state.head) ? " (ablated)" : ""}. ` +
    "Arrow keys: up and down change the layer, left and right the head; Enter or Space: ablate or restore it.");
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.addEventListener("keydown", (ev) => {
      const g = gd._attnlabGrid;
      if (!g || (ev.key !== "Enter" && ev.key !== " ") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      ev.preventDefault();
      emit(element, {}, { ablate: { layer: g.layer, head: g.head, modifier: true } });
    });
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points.find((pt) => pt.data.colorscale === WEIGHT_SCALE) || (ev && ev.points && ev.points[0]);
      const g = gd._attnlabGrid;
      if (!p || !g) return;
      const layer = Math.floor(p.y / g.tile);
      const head = Math.floor(p.x / g.tile);
      if (layer < 0 || layer >= g.nL || head < 0 || head >= g.nH) return;
      const e = ev.event || {};
      const modifier = Boolean(e.shiftKey || e.altKey || e.ctrlKey || e.metaKey);
      emit(element, { layer, head }, { ablate: { layer, head, modifier } });
    });
  }
}
