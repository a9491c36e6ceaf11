// Per-head summary from /api/analyze `heads`: entropy, previous-token, first-token and self weight,
// each as a small layer x head table of colours with the numbers written in. The three weights are the Heads
// tab's previous-token, sink and self scores (one definition, models/roles.py), so the two agree.
import { caption, draw, emit, panel, plotOf, presenting, selectionShapes, SEQUENTIAL_ALT, textScale, WEIGHT_SCALE } from "../plot.js";

// colour-blind-safe sequential scales: the weights on the same scale as the attention heatmaps, entropy on another
const MEASURES = [
  ["entropy", "entropy (nats)", SEQUENTIAL_ALT],
  ["previous_token", "previous-token weight", WEIGHT_SCALE],
  ["first_token", "first-token weight", WEIGHT_SCALE],
  ["self_token", "own-token weight", WEIGHT_SCALE],
];

const ROW_GAP = 48; // px between the two rows of panels on a narrow screen (60 in presenter mode: its larger labels)

/**
 * The grid's ygap that leaves ROW_GAP pixels between `rows` rows in `plotHeight` (plotly gives each row 1 / (rows -
 * ygap) of the height, of which the share ygap is the gap).
 */
const rowGap = (plotHeight, rows, gap = ROW_GAP) => (rows > 1 ? (rows * gap) / (plotHeight + gap) : 0.1);

/** data: {analyze}; state: {layer, head}. */
export function render(element, data, state) {
  const fig = panel(element, "heads", "Per-head summary");
  const a = data && data.analyze;
  if (!a) return;
  const nL = a.n_layers;
  const nH = a.n_heads;
  const cap = "Each number is a mean over the words where it applies, as the Heads tab counts them: a special token " +
    "(BOS, [CLS], [SEP]) is never the query, the entropy counts the queries that see at least two tokens (a causal " +
    "model's first query sees only itself: its entropy is 0 whatever the head), of the three weights only the " +
    "first-token weight counts the first token, and the previous-token weight starts at the third token. So the three " +
    "weights are that tab's previous-token, sink and self scores. Low entropy = a focused head; a blank cell: no word counts. Hover for the exact value; click a cell to " +
    "select that head.";
  const traces = [];
  // four panels in a row; two rows of two on a narrow screen; one above another where two titles side by side would
  // run into each other (presenter mode with a lesson open on a 1024 px projector: "entropy (nats)" over
  // "previous-token weight" in a panel 270 px wide)
  const width = element.clientWidth || 800;
  const margin = { l: 50, r: 10, t: 28, b: 36 };
  const k = textScale();
  const titleWidth = (m) => MEASURES[m][1].length * 12 * 0.6 * k; // (about 0.6 em a character, at the titles' 12 px)
  const pairsFit = [0, 2].every((m) => titleWidth(m) + titleWidth(m + 1) + 12 <= width - margin.l - margin.r);
  // (the titles are larger in presenter mode: four side by side need more room there)
  const cols = width >= (presenting() ? 820 : 560) ? MEASURES.length : pairsFit ? 2 : 1;
  const rowsN = MEASURES.length / cols;
  const showNumbers = nH <= 6 && nL <= 16 && (width - 60) / cols / nH >= (presenting() ? 44 : 32);
  // the entropy's colours end at this sentence's highest entropy (the weights' at 1): without the numbers in the
  // cells, the caption says which colour is what
  const entropies = a.heads.flat().map((hs) => hs.entropy).filter((v) => v !== null && v !== undefined);
  const top = entropies.length ? Math.max(...entropies) : null;
  caption(fig, cap + (showNumbers ? "" : ` Colours: ${top ? `entropy from dark (0 nats, a focused head) to yellow (${top.toFixed(2)} nats, ` +
    "the highest here); " : ""}the three weights from dark (0) to yellow (1), as in the heatmap.`));
  const height = Math.max(200, Math.min(900, nL * (nL > 12 ? 24 : 34) + 80)) * rowsN;
  const layout = {
    // two rows: ROW_GAP pixels between them, room for the lower titles under the upper panels' head labels (the grid's
    // ygap is a share of a row's height: a fixed share left 50 px on the default model and 209 px on SmolLM2's 30 layers)
    grid: { rows: rowsN, columns: cols, pattern: "independent", xgap: 0.06, ygap: rowGap(height - margin.t - margin.b, rowsN, presenting() ? 60 : ROW_GAP) },
    annotations: [],
    shapes: [],
    margin,
    height,
  };
  MEASURES.forEach(([key, label, scale], m) => {
    const s = m === 0 ? "" : String(m + 1);
    const z = a.heads.map((row) => row.map((hs) => hs[key]));
    traces.push({
      type: "heatmap", z, x: [...Array(nH).keys()], y: [...Array(nL).keys()], colorscale: scale, showscale: false,
      zmin: 0, ...(key === "entropy" ? (top ? { zmax: top } : {}) : { zmax: 1 }), texttemplate: showNumbers ? "%{z:.2f}" : "", textfont: { size: 10 },
      hovertemplate: `layer %{y} · head %{x}<br>${label}: %{z}<extra></extra>`, hoverongaps: false,
      xaxis: `x${s}`, yaxis: `y${s}`, xgap: 1, ygap: 1,
    });
    // the ranges are the grid's, not the data's: a panel whose cells are all blank keeps every layer and head
    layout[`xaxis${s}`] = { tickmode: "array", tickvals: [...Array(nH).keys()], ticktext: [...Array(nH).keys()].map((i) => (nH > 6 ? `${i}` : `H${i}`)),
      range: [-0.5, nH - 0.5], showgrid: false, zeroline: false, fixedrange: true, tickfont: { size: 10 } };
    layout[`yaxis${s}`] = { showticklabels: m % cols === 0, ticks: m % cols === 0 ? "outside" : "", tickmode: "array", tickvals: [...Array(nL).keys()], ticktext: [...Array(nL).keys()].map((i) => `L${i}`),
      range: [nL - 0.5, -0.5], showgrid: false, zeroline: false, fixedrange: true, tickfont: { size: 10 } };
    if (z.every((row) => row.every((v) => v === null))) {
      layout.annotations.push({ text: "no word counts", xref: `x${s} domain`, yref: `y${s} domain`, x: 0.5, y: 0.5, showarrow: false,
        font: { size: 11, color: "#555" } });
    }
    // two to a row, the left title starts at its panel's left edge and the right one ends at its right edge: centred
    // on panels narrower than they are (presenter mode with a lesson open), the right one ran past the plot's edge
    const [x, xanchor] = cols === 2 ? (m % 2 ? [1, "right"] : [0, "left"]) : [0.5, "center"];
    // (3 px above its panel: 2% of the panel's height was 14 px on SmolLM2's 30 layers, past the plot's top margin and,
    // on the lower row, over the upper panels' head labels)
    layout.annotations.push({ text: label, xref: `x${s} domain`, yref: `y${s} domain`, x, y: 1, yshift: 3, xanchor,
      yanchor: "bottom", showarrow: false, font: { size: 12 } });
    layout.shapes.push(...selectionShapes({ xref: `x${s}`, yref: `y${s}`, x0: state.head - 0.5, x1: state.head + 0.5,
      y0: state.layer - 0.5, y1: state.layer + 0.5 }, 2.5));
  });
  const rows = () => {
    const out = [["layer", "head", ...MEASURES.map(([k]) => k)]];
    a.heads.forEach((row) => row.forEach((hs) => out.push([hs.layer, hs.head, ...MEASURES.map(([k]) => hs[k])])));
    return out;
  };
  draw(fig, traces, layout, { name: `head-summary-${a.model}`, csv: rows, json: { model: a.model, heads: a.heads } });
  const gd = plotOf(fig);
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && Number.isInteger(p.x) && Number.isInteger(p.y)) emit(element, { layer: p.y, head: p.x });
    });
  }
}
