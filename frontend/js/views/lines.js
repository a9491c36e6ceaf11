// Token-to-token links (like BertViz): queries on the left, keys on the right, line opacity and
// thickness = weight; the selected query's links drawn on top in another colour.
import {
  caption, COLORS, draw, emit, esc, hiddenNote, panel, plainLabels, plotOf, selectedPattern, tokenIndex, tokenLabel,
} from "../plot.js";
import { shownText } from "../derive.js";

const MAX_LINKS = 1500;

/** data: {analyze}; state: {layer, head, token}. */
export function render(element, data, state) {
  const fig = panel(element, "lines", `Links · layer ${state.layer} · head ${state.head}`);
  const a = data && data.analyze;
  if (!a) return undefined;
  const pattern = selectedPattern(fig, a, state);
  if (!pattern) return undefined;
  const tokens = a.tokens;
  const n = tokens.length;
  const sel = state.token;
  caption(fig, "Left: the query; right: the key. Thicker, darker line = more weight. Click a token on the left to select it." + hiddenNote(a));
  const others = [];
  const mine = [];
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      const w = pattern[q][k];
      if (!(w > 0.005)) continue;
      (q === sel ? mine : others).push([q, k, w]);
    }
  }
  others.sort((x, y) => y[2] - x[2]);
  const shapes = [];
  const dim = sel !== null && sel !== undefined;
  for (const [q, k, w] of others.slice(0, MAX_LINKS)) {
    shapes.push({ type: "line", x0: 0, y0: q, x1: 1, y1: k, layer: "below",
                  line: { color: COLORS.link, width: 0.5 + 4 * w }, opacity: Math.max(0.04, w * (dim ? 0.35 : 0.9)) });
  }
  for (const [q, k, w] of mine) {
    shapes.push({ type: "line", x0: 0, y0: q, x1: 1, y1: k, layer: "below",
                  line: { color: COLORS.sel, width: 1 + 7 * w }, opacity: Math.max(0.15, Math.min(1, 0.2 + w)) });
  }
  const fontSize = n > 40 ? 9 : n > 20 ? 11 : 13;
  const left = {
    type: "scatter", mode: "markers+text", x: tokens.map(() => 0), y: tokens.map((_, i) => i),
    text: tokens.map((t) => esc(shownText(t))), textposition: "middle left", customdata: tokens.map((_, i) => tokenIndex(tokens, i)),
    hovertext: tokens.map((_, i) => `query ${tokenLabel(tokens, i)}`), hoverinfo: "text",
    marker: { size: 7, color: tokens.map((_, i) => (i === sel ? COLORS.sel : COLORS.link)) },
    textfont: { size: fontSize, color: tokens.map((_, i) => (i === sel ? COLORS.sel : COLORS.text)) },
    showlegend: false, cliponaxis: false,
  };
  const right = {
    type: "scatter", mode: "markers+text", x: tokens.map(() => 1), y: tokens.map((_, i) => i),
    text: tokens.map((t) => esc(shownText(t))), textposition: "middle right", customdata: tokens.map((_, i) => tokenIndex(tokens, i)),
    hovertext: tokens.map((_, k) =>
      `key ${tokenLabel(tokens, k)}` + (sel !== null && sel < n ? `<br>weight from query ${tokenIndex(tokens, sel)}: ${pattern[sel][k]}` : ""),
    ),
    hoverinfo: "text", marker: { size: 7, color: COLORS.link }, textfont: { size: fontSize }, showlegend: false, cliponaxis: false,
  };
  const links = () => {
    const out = [];
    for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) if (pattern[q][k] > 0) out.push([q, k, pattern[q][k]]);
    return out;
  };
  const drawing = draw(
    fig,
    [left, right],
    {
      height: Math.max(260, Math.min(1400, n * (fontSize + 11) + 40)),
      xaxis: { range: [-0.9, 1.9], visible: false, fixedrange: true },
      yaxis: { range: [n - 0.4, -0.6], visible: false, fixedrange: true },
      shapes,
      margin: { l: 10, r: 10, t: 10, b: 10 },
      hovermode: "closest",
    },
    {
      name: `links-${a.model}-L${state.layer}-H${state.head}`,
      csv: () => {
        const labels = plainLabels(tokens);
        return [["query", "key", "weight"], ...links().map(([q, k, w]) => [labels[q], labels[k], w])];
      },
      json: () => ({ model: a.model, layer: state.layer, head: state.head, tokens,
                     links: links().map(([q, k, w]) => ({ query: tokenIndex(tokens, q), key: tokenIndex(tokens, k), weight: w })) }),
    },
  );
  const gd = plotOf(fig);
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && p.curveNumber === 0 && Number.isInteger(p.customdata)) emit(element, { token: p.customdata });
    });
  }
  return drawing;
}
