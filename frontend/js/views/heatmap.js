// The selected layer and head as a query x key heatmap; masked cells grey with the hover text "masked".
import {
  caption, draw, emit, hiddenNote, interventionsCaption, maskedBackground, MASKED_COLOR, matrixRows, panel, plainLabels, plotOf, presenting,
  queryTitleRoom, selectedPattern, selectionShapes, squareHeight, textScale, THEME, thinnedTitle, tickIndices, tickStep, tokenAxis, tokenHeatmap,
  tokenIndex,
} from "../plot.js";
import { isAblated } from "../derive.js";
import { toggleRow } from "../roles.js";

/** Presenter mode: the fewest pixels a query row of the heatmap is drawn in (a thinner one blurs into its neighbours
 * on a projector). */
const PRESENTER_MIN_ROW = 4;

/** About the px of a heatmap of n tokens that are not its rows: the margins and the slanted key labels (k: the
 * presenter's text scale, 1 outside it). */
const chromeOf = (n, k) => (n > 8 ? 130 : 70) * k;

/**
 * The heatmap's token axes for `tokens` in a view `width` px wide and a plot `height` px high (k: the presenter's
 * text scale, 1 outside it). A long text labels every k-th token, as many as have room at the labels' size: on x
 * (slanted) 16 px each across the plot's width, at most 48; on y 12 px each, down the height less the margins and the
 * slanted key labels (presenter mode with a lesson open: 12 labels of its larger text in about 155 px). The titles
 * say which are labelled (thinnedTitle), the query's where the plot is high enough for it.
 */
export function heatmapAxes(tokens, width, height, k = 1) {
  const n = tokens.length;
  const xStep = tickStep(n, Math.min(48, Math.floor((width - 150) / (16 * k))));
  const yStep = tickStep(n, Math.floor((height - chromeOf(n, k)) / (12 * k)));
  // (the room below the plot counted from the key labels drawn: 130 px times k for all of it left lesson 7's 12
  // tokens the bare "query" at 1280x720 in presenter mode, over a plot 227 px high)
  const keys = tickIndices(n, xStep);
  const yTitle = thinnedTitle("query", yStep, queryTitleRoom(height, tokens, keys, k), { k });
  return {
    xaxis: tokenAxis(tokens, { title: { text: thinnedTitle("key", xStep, Infinity, { all: "key (attended to)", hover: true }) }, side: "bottom", tickangle: n > 8 ? -45 : 0 }, xStep, [], keys),
    yaxis: tokenAxis(tokens, { title: { text: yTitle }, autorange: false, range: [n - 0.5, -0.5] }, yStep),
  };
}

/**
 * data: {analyze}: /api/analyze as derive.js's visibleAnalysis gives it: `mask(i, j)` (the answer's own mask, null
 * for none), and maybe without the special tokens (each token then has `index`, its index in the API's data, and
 * `hidden` lists the tokens left out); state: {layer, head, token (position in analyze.tokens), ablate}.
 * Returns the drawing (a promise).
 */
export function render(element, data, state) {
  const fig = panel(element, "heatmap", `Attention · layer ${state.layer} · head ${state.head}`);
  const a = data && data.analyze;
  if (!a) return undefined;
  const pattern = selectedPattern(fig, a, state);
  if (!pattern) return undefined;
  const tokens = a.tokens;
  const n = tokens.length;
  const masked = a.mask || null;
  const anyMasked = Boolean(masked) && tokens.some((_, i) => masked(i, n - 1));
  const ablated = isAblated(state.ablate, state.layer, state.head);
  const applied = interventionsCaption(a.interventions, { tokens, positional: data.positional });
  caption(
    fig,
    `Each row is a query token, each column a key it can attend to` + (a.hidden && a.hidden.length ? "." : "; a row sums to 1.") +
      (anyMasked ? ` ${THEME.masked.words}` : "") +
      hiddenNote(a) +
      (ablated ? " This head is ablated: its output is set to zero (the pattern is still computed)." : "") +
      (applied ? ` ${applied}` : ""),
  );
  const cellWidth = ((element.clientWidth || 600) - 150) / n; // about: the width less the axis labels and colour bar
  const trace = tokenHeatmap(pattern, tokens, {
    masked,
    zmin: 0,
    zmax: 1,
    cellText: n <= 14 && cellWidth >= (presenting() ? 42 : 30) ? "%{z:.2f}" : null, // numbers only where they fit
    colorbar: { title: { text: "weight", side: "right" } },
  });
  const sel = state.token;
  const shapes =
    sel !== null && sel < n ? selectionShapes({ xref: "x", yref: "y", x0: -0.5, x1: n - 0.5, y0: sel - 0.5, y1: sel + 0.5 }) : [];
  // the rows picked for the combined row (Shift- or Ctrl-click): a dashed outline in the head colour of the rows
  const picked = state.combine && state.combine !== "one" ? (state.rows || []) : [];
  tokens.forEach((_, i) => {
    if (!picked.includes(tokenIndex(tokens, i))) return;
    shapes.push({ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: n - 0.5, y0: i - 0.45, y1: i + 0.45, fillcolor: "rgba(0,0,0,0)",
                  line: { color: THEME.selection.color, width: 2, dash: "dot" }, name: `row-${tokenIndex(tokens, i)}` });
  });
  let height = squareHeight(n, { max: n > 40 ? 1400 : 900, per: n > 40 ? 12 : 30 });
  const scale = textScale();
  const chrome = chromeOf(n, scale);
  if (presenting()) {
    // one plot large, and all of it on the screen: no higher than the room below the plot's top (at the page's top);
    // but a long text's query rows keep PRESENTER_MIN_ROW px each, the page scrolling to the rest as the normal
    // mode's taller heatmap does (fitted below a long text's warning and strip, 221 rows had 164 px: 0.7 px a row)
    const top = plotOf(fig).getBoundingClientRect().top + window.scrollY;
    const fit = Math.floor(window.innerHeight - top - 12);
    const readable = Math.min(height, Math.ceil(n * PRESENTER_MIN_ROW + chrome));
    height = Math.max(260, Math.min(height, Math.max(fit, readable)));
  }
  const drawing = draw(
    fig,
    [trace],
    {
      height,
      plot_bgcolor: MASKED_COLOR,
      images: anyMasked ? [maskedBackground()] : [],
      ...heatmapAxes(tokens, element.clientWidth || 600, height, scale),
      shapes,
      margin: { l: 70, r: 10, t: 10, b: 60 },
    },
    {
      name: `attention-${a.model}-L${state.layer}-H${state.head}`,
      csv: () => {
        const labels = plainLabels(tokens);
        return matrixRows("query\\key", labels, labels, pattern);
      },
      json: { model: a.model, interventions: a.interventions, layer: state.layer, head: state.head, tokens, weights: pattern },
    },
  );
  const gd = plotOf(fig);
  gd._attnlabTokens = tokens;
  gd._attnlabRows = { rows: state.rows || [], combine: state.combine || "one" };
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (!p || !Number.isInteger(p.y)) return;
      const i = tokenIndex(gd._attnlabTokens || [], p.y);
      const e = ev.event || {};
      if (e.shiftKey || e.ctrlKey || e.metaKey) {
        // Shift- or Ctrl-click: add the row to (or take it out of) the rows the heatmap combines
        const { rows, combine } = gd._attnlabRows;
        emit(element, { rows: toggleRow(rows, i), combine: combine === "one" ? "sum" : combine });
      } else emit(element, { token: i });
    });
  }
  return drawing;
}
