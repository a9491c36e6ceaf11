// Q, K and V of the selected head as token x d_head heatmaps (q_rot / k_rot under rotary), and q and
// k of every token together in 2-D with the strongest links drawn as lines.
/* global Plotly */
import {
  absMax, caption, changed, COLORS, DIVERGING, draw, emit, esc, matrixRows, panel, placeLabels, plainLabels, plotOf, queryLabelsFit, queryTitleRoom,
  reason, textScale, textWidth, thinnedAxisTitle, tickIndices, tickStep, tokenAxis, tokenLabel,
} from "../plot.js";
import { count, isAblated, shownText } from "../derive.js";

export const id = "qkv";
export const sources = ["qkv"];

/** got: {qkv}; ctx: {state, token (the query)}. */
export function show(section, got, ctx) {
  const v = got.qkv;
  if (changed(section, [v.data, v.error, ctx.token, ctx.model])) {
    const group = ctx.model && ctx.model.n_kv_heads ? ctx.model.n_heads / ctx.model.n_kv_heads : 1; // query heads per K/V head
    render(section, { qkv: v.data, error: v.error, bias: !ctx.model || ctx.model.bias !== false, group }, { ...ctx.state, token: ctx.token });
  }
  return !v.pending;
}

/**
 * The height of a token × dimension panel for `tokens` and its token axis (k: the presenter's text scale, 1 outside
 * it): as many token labels as have room down it (plot.js queryLabelsFit), the tokens of `keep` (indices: the
 * selected query) among them. A fixed 40 put 30 tokens' labels 16.3 px apart in presenter mode, for labels 15 px high.
 * Where it labels every k-th token its title says so where it has room ("token (every 2nd labelled)", thinnedTitle);
 * where it labels all it has none.
 */
export function tokenRows(tokens, k = 1, keep = []) {
  const n = tokens.length;
  const height = Math.max(240, Math.min(560, n * 22 + 80));
  const step = tickStep(n, queryLabelsFit(height, k));
  // (the room counted as a token heatmap's, below slanted token labels: more than the dimension's numbers take)
  const title = thinnedAxisTitle("token", step, queryTitleRoom(height, tokens, tickIndices(n), k), { k });
  return { height, yaxis: tokenAxis(tokens, { range: [n - 0.5, -0.5], ...title }, step, keep) };
}

function matrixPanel(parent, key, title, m, tokens, meta, note) {
  const fig = panel(parent, key, title);
  caption(fig, note);
  const n = tokens.length;
  const d = m[0] ? m[0].length : 0;
  const lim = absMax(m);
  const hover = m.map((row, i) => row.map((v, j) => `${tokenLabel(tokens, i)}<br>dimension ${j}: ${v}`));
  draw(
    fig,
    [{ type: "heatmap", z: m, x: [...Array(d).keys()], y: [...Array(n).keys()], text: hover, hovertemplate: "%{text}<extra></extra>",
       colorscale: DIVERGING, zmin: -lim, zmax: lim, zmid: 0, colorbar: { thickness: 10, outlinewidth: 0 } }],
    {
      ...tokenRows(tokens, textScale(), [meta.sel]), // (the selected query's row labelled)
      xaxis: { title: { text: "dimension" }, showgrid: false, zeroline: false, automargin: true }, // (the title below the ticks, also turned)
      margin: { l: 70, r: 10, t: 10, b: 45 },
    },
    {
      name: `${key}-${meta.model}-L${meta.layer}-H${meta.head}`,
      csv: () => matrixRows("token\\dimension", plainLabels(tokens), [...Array(d).keys()], m),
      json: { model: meta.model, layer: meta.layer, head: meta.head, tokens, [key]: m },
    },
  );
}

/**
 * The projection's y range where its points lie on a line (one token's q and k: axis 2 holds none of the variance):
 * a third of their x extent about their middle, else null (Plotly's own). The plot keeps x and y at one scale, so it
 * was a few pixels high, its y labels over each other.
 */
export function flatRange(xs, ys) {
  const least = (Math.max(...xs) - Math.min(...xs)) / 3;
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  if (!(least > 0) || hi - lo >= least) return null;
  return [(lo + hi) / 2 - least / 2, (lo + hi) / 2 + least / 2];
}

/**
 * The projection's caption: what the marks and the lines are, and the selected query's lines, true of those drawn.
 * The lines are the 2n strongest weights of the whole pattern, so on a long text the selected query may have none of
 * them ("The selected query's links are red" with nothing red): then it says so, and that each of its weights is at
 * most the weakest drawn. p: the answer's projection; sel: the selected query's index (null: none).
 */
export function projectionCaption(p, tokens, sel, rot = false) {
  const drawn = p.links.length;
  const head = `Circles: queries; diamonds: keys${rot ? " (after rotary)" : ""}. Lines: the ${drawn > 1 ? `${drawn} strongest attention weights` : "strongest attention weight"} (query → key), darker = more weight.`;
  if (sel === null || sel === undefined || !tokens[sel] || !drawn) return head;
  const own = p.links.filter(([qi]) => qi === sel).length;
  if (own) return `${head} The selected query's ${own > 1 ? `${own} links are` : "link is"} red.`;
  const weakest = Math.min(...p.links.map(([, , w]) => w));
  return `${head} The selected query, ${sel} “${shownText(tokens[sel])}”, has none of them: each of its weights is at most ${weakest}, the weakest drawn.`;
}

/**
 * The projection's marks as [trace, token] (trace 0: the circles, queries; 1: the diamonds, keys) in the order their
 * labels are offered room (plot.js placeLabels): the selected query's circle and diamond (`sel`: its index; null for
 * none), then both ends of each line drawn (`links`: [query, key, weight]) from the strongest, then the rest in the
 * sentence's order.
 */
export function labelOrder(n, links, sel) {
  const order = [];
  const seen = new Set();
  const add = (trace, i) => {
    if (!Number.isInteger(i) || i < 0 || i >= n || seen.has(trace * n + i)) return;
    seen.add(trace * n + i);
    order.push([trace, i]);
  };
  add(0, sel);
  add(1, sel);
  for (const [qi, ki] of [...links].sort((a, b) => b[2] - a[2])) {
    add(0, qi);
    add(1, ki);
  }
  for (let i = 0; i < n; i++) {
    add(0, i);
    add(1, i);
  }
  return order;
}

/**
 * The box [left, top, right, bottom] in px of the label of a mark `marker` px across at `at` ([x, y] px), `width` px
 * across at `size` px, as Plotly draws it: centred above the mark (a circle's: "top center") or below it (a
 * diamond's), its baseline a quarter of the size beyond the mark's edge above, three quarters below (the edge:
 * marker / 1.6 + 1 px off its centre), the text from about 0.95 of the size above its baseline to 0.25 below.
 */
export function labelBox([x, y], width, size, marker, above) {
  const edge = marker / 1.6 + 1;
  const base = above ? y - edge - 0.25 * size : y + edge + 0.75 * size;
  return [x - width / 2, base - 0.95 * size, x + width / 2, base + 0.25 * size];
}

/**
 * Which tokens' marks the projection `p` labels: [queries, keys], each a Set of token indices, the marks of labelOrder
 * whose labels have room (placeLabels). at: a point's [x, y] px; size: the labels' px; marker(trace, i): a mark's px
 * across; width(text, size): a label's px across.
 */
export function projectionLabels(p, tokens, sel, { at, size, marker, width }) {
  const order = labelOrder(tokens.length, p.links, sel);
  const boxes = order.map(([trace, i]) =>
    labelBox(at((trace ? p.k : p.q)[i]), width(shownText(tokens[i]), size), size, marker(trace, i), trace === 0));
  const shown = [new Set(), new Set()];
  for (const j of placeLabels(boxes)) shown[order[j][0]].add(order[j][1]);
  return shown;
}

/**
 * The projection caption's words on its labels (`shown`: projectionLabels') where some of the 2n marks go without:
 * how many are labelled and which were offered room first (labelOrder); "" where all are.
 */
export function labelsNote(shown, n, sel, links) {
  const drawn = shown[0].size + shown[1].size;
  if (drawn >= 2 * n) return "";
  const first = [...(Number.isInteger(sel) && sel >= 0 && sel < n ? ["the selected query's"] : []), ...(links.length ? ["the strongest lines' ends"] : [])];
  return ` Labelled: ${drawn} of the ${count(2 * n, "mark")}, as many as have room${first.length ? ` (${first.join(" first, then ")}${first.length > 1 ? "" : " first"})` : ""}; ` +
    "hover over a mark for its token.";
}

/** The head a K or V panel shows: the query head's, and the K/V head it reads where `group` heads share one (grouped-query). */
export const kvHeadName = (layer, hd, group = 1) => `L${layer} H${hd.head}${group > 1 ? ` (K/V head ${hd.kv_head})` : ""}`;

/**
 * The Q, K and V panels' titles for `layer` and the head `hd` (rot: rotary, whose panels show q_rot and k_rot). Short
 * enough for one line beside the export buttons in a panel a third of 1280 px wide (about 230 px: 27 characters of
 * the title's bold type): "K after rotary (k_rot) · L0 H0 (K/V head 0)" took two on SmolLM2, and pushed its plot
 * below the other two. What rotary does is the panels' caption.
 */
export function matrixTitles(layer, hd, group = 1, rot = false) {
  const kv = kvHeadName(layer, hd, group);
  return { q: `${rot ? "q_rot" : "Q"} · L${layer} H${hd.head}`, k: `${rot ? "k_rot" : "K"} · ${kv}`, v: `V · ${kv}` };
}

/** data: {qkv, error, bias, group}; state: {layer, head, token}. */
export function render(element, data, state) {
  const grid = element.querySelector(":scope > [data-part=mats]") || (() => {
    const div = document.createElement("div");
    div.dataset.part = "mats";
    div.className = "row3 plots-level captions-below";
    element.append(div);
    return div;
  })();
  const bottom = element.querySelector(":scope > [data-part=bottom]") || (() => {
    const div = document.createElement("div");
    div.dataset.part = "bottom";
    div.className = "row2 plots-level captions-below";
    element.append(div);
    return div;
  })();
  if (data && data.error) {
    for (const key of ["q", "k", "v"]) reason(panel(grid, key, key.toUpperCase()), data.error);
    reason(panel(bottom, "projection", "q and k in 2-D"), data.error);
    reason(panel(bottom, "z", "z"), data.error);
    return;
  }
  const r = data && data.qkv;
  if (!r) return;
  const hd = r.heads[0];
  const tokens = r.tokens;
  const meta = { model: r.model, layer: r.layer, head: hd.head, sel: state.token };
  const rot = Boolean(hd.q_rot);
  const b = (x) => (data.bias === false ? "" : `β_${x} + `); // (a model without biases: SmolLM2)
  const given = r.interventions ? r.interventions.positions : "normal";
  const rotNote = (x) => (given === "removed" ? `Not rotated: the positions are removed, so ${x}_rot = ${x} (what the score q·k uses).`
    : `${x.toUpperCase()} after the rotary rotation (${x}_rot): what the score q·k uses.`);
  const titles = matrixTitles(r.layer, hd, data.group, rot);
  matrixPanel(grid, "q", titles.q, rot ? hd.q_rot : hd.q, tokens, meta, rot ? rotNote("q") : `q = ${b("q")}Ω_q x for every token.`);
  matrixPanel(grid, "k", titles.k, rot ? hd.k_rot : hd.k, tokens, meta, rot ? rotNote("k") : `k = ${b("k")}Ω_k x.`);
  matrixPanel(grid, "v", titles.v, hd.v, tokens, meta, `v = ${b("v")}Ω_v x: what a token passes on when attended to.`);

  const fig = panel(bottom, "projection", "q and k of every token on two shared axes");
  const ablated = Boolean(r.interventions) && isAblated(r.interventions.ablate, r.layer, hd.head);
  matrixPanel(bottom, "z", `z: the head's output · L${r.layer} H${hd.head}`, hd.z, tokens, meta,
    ablated ? "This head is ablated: the model sets its output z to 0 (its weights and values above are still computed)."
      : "z = Σ weight × v for each query: what this head adds (before W_O).");
  const p = r.projection;
  if (!p) {
    reason(fig, "The API sent no 2-D projection for this head.");
    return;
  }
  const n = tokens.length;
  const sel = state.token;
  caption(fig, projectionCaption(p, tokens, sel, rot));
  const shapes = p.links.map(([qi, ki, w]) => ({
    type: "line", x0: p.q[qi][0], y0: p.q[qi][1], x1: p.k[ki][0], y1: p.k[ki][1], layer: "below",
    line: { color: qi === sel ? COLORS.sel : "#868e96", width: 0.6 + 4 * w }, opacity: Math.max(0.15, Math.min(1, w + (qi === sel ? 0.3 : 0))),
  }));
  const names = tokens.map((t) => esc(shownText(t)));
  const size = n > 30 ? 9 : 11;
  const marker = (trace, i) => (trace === 0 && i === sel ? 14 : 9);
  // (the labels come once the axes are laid out: which have room depends on where the marks fall, below. Drawn with
  // text, each "" there, Plotly drew no label where a later restyle gave one.)
  const traces = [
    { type: "scatter", mode: "markers", name: "q (query)", x: p.q.map((c) => c[0]), y: p.q.map((c) => c[1]),
      textposition: "top center", customdata: tokens.map((_, i) => i),
      hovertext: tokens.map((_, i) => `q of ${tokenLabel(tokens, i)}`), hoverinfo: "text",
      marker: { symbol: "circle", size: tokens.map((_, i) => marker(0, i)), color: tokens.map((_, i) => (i === sel ? COLORS.sel : COLORS.bar)) },
      textfont: { color: "#1864ab", size } },
    { type: "scatter", mode: "markers", name: "k (key)", x: p.k.map((c) => c[0]), y: p.k.map((c) => c[1]),
      textposition: "bottom center", customdata: tokens.map((_, i) => i),
      hovertext: tokens.map((_, i) => `k of ${tokenLabel(tokens, i)}`), hoverinfo: "text",
      marker: { symbol: "diamond", size: 9, color: COLORS.other }, textfont: { color: "#d9480f", size } },
  ];
  const pct = (v) => `${(v * 100).toFixed(1)}%`;
  const flat = flatRange([...p.q, ...p.k].map((c) => c[0]), [...p.q, ...p.k].map((c) => c[1]));
  const drawing = draw(
    fig,
    traces,
    {
      height: 460, shapes, hovermode: "closest",
      xaxis: { title: { text: `axis 1 (${pct(p.explained[0])} of the variance)` }, zeroline: false, constrain: "domain" },
      yaxis: { title: { text: `axis 2 (${pct(p.explained[1])})` }, zeroline: false, scaleanchor: "x", scaleratio: 1, constrain: "domain",
        ...(flat ? { range: flat } : {}) },
      // (its foot just above the plot area, the margin growing to hold it: at y 1.08, a fraction of the height, it lay
      // over the top tick label where the plot was short and the labels large)
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      margin: { l: 60, r: 10, t: 30, b: 50 },
    },
    {
      name: `qk-projection-${r.model}-L${r.layer}-H${hd.head}`,
      csv: () => [["token", "q_x", "q_y", "k_x", "k_y"], ...plainLabels(tokens).map((t, i) => [t, p.q[i][0], p.q[i][1], p.k[i][0], p.k[i][1]]),
            [], ["query", "key", "weight"], ...p.links.map(([qi, ki, w]) => [qi, ki, w])],
      json: { model: r.model, layer: r.layer, head: hd.head, tokens, projection: p },
    },
  );
  const gd = plotOf(fig);
  // each mark labelled where its label keeps off those labelled before it (projectionLabels), at the px Plotly put it
  // (the scale of the text: the presenter's, which draw() gives the labels); hover names every mark
  Promise.resolve(drawing).then(() => {
    const L = gd._fullLayout;
    if (!L || gd.data[0].x !== traces[0].x) return; // (drawn again since)
    const at = ([x, y]) => [L.xaxis.l2p(x), L.yaxis.l2p(y)];
    const shown = projectionLabels(p, tokens, sel, { at, size: size * textScale(), marker, width: textWidth });
    caption(fig, projectionCaption(p, tokens, sel, rot) + labelsNote(shown, n, sel, p.links));
    return Plotly.restyle(gd, { mode: "markers+text", text: shown.map((s) => names.map((t, i) => (s.has(i) ? t : ""))) }, [0, 1]);
  }, () => {});
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (pt && Number.isInteger(pt.customdata)) emit(element, { token: pt.customdata });
    });
  }
}
