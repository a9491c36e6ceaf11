// Shared drawing helpers for the views: escaping, DOM building, plot panels with export buttons,
// token axes and heatmap traces. Nothing here fetches and nothing computes a number the API sends.
// The look (colour scales, fonts, the masked-cell style, captions) is theme.json, which the report's and the
// notebook's figures read too (backend/figures.py).

/* global Plotly */
import { count, shownText } from "./derive.js";
import THEME from "./theme.json" with { type: "json" };
import { spoken } from "./tokentext.js";

export { THEME };

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" };

/** Escape a string for a Plotly label (Plotly reads a little HTML in text; numeric entities are decoded). */
export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export const FONT = THEME.font.family;
// Colour scales that read the same with every common colour-vision deficiency: Viridis (dark purple
// -> yellow, lightness rising throughout) for weights; blue-white-orange for signed values and differences.
export const MASKED_COLOR = THEME.masked.color; // light neutral grey: no Viridis or blue-orange colour is near it
export const GRID_MASKED = THEME.masked.grid;
export const WEIGHT_SCALE = THEME.weights.colorscale;
export const SEQUENTIAL_ALT = THEME.sequential_alt.colorscale; // a second sequential scale (e.g. entropy beside weights)
export const DIVERGING = THEME.diverging.colorscale;
export const COLORS = { bar: THEME.bars.main, other: THEME.bars.other, raw: THEME.bars.raw, sel: THEME.selection.color,
  link: THEME.links.color, ablated: THEME.ablated.color, ablatedFill: THEME.ablated.fill, text: THEME.font.color };
// masked cells: grey stripes (a texture, not only a colour), drawn under a heatmap whose masked cells are gaps
const HATCH = `data:image/svg+xml;base64,${btoa(THEME.masked.pattern_svg
  .replace("{stripe_background}", THEME.masked.stripe_background).replace("{stripe}", THEME.masked.stripe))}`;

/**
 * The interventions an answer was made with, in words (theme.json's captions); "" for none. `tokens`: the tokens the
 * plot shows (without the hidden special tokens, each with its API `index`): a shuffle gives the position of each of
 * them; `positional`: the model's scheme (with none, removing or shuffling positions changes nothing, and it says so).
 */
export function interventionsCaption(iv, { tokens = null, positional = null } = {}) {
  if (!iv) return "";
  const w = THEME.captions.interventions;
  const parts = [];
  const given = (iv.permutation || []).filter((_, i) => !tokens || tokens.some((t, j) => (t.index ?? j) === i));
  if (iv.positions === "removed") parts.push(w.removed);
  else if (iv.positions === "shuffled") parts.push(w.shuffled.replace("{permutation}", given.join(", ")));
  if (positional === "none" && iv.positions !== "normal") parts.push(w.nothing_to_move);
  else if (iv.positions === "shuffled" && (iv.permutation || []).length === 1) parts.push(w.one_position);
  if (!iv.scale) parts.push(w.unscaled);
  if (iv.ablate && iv.ablate.length) {
    const heads = iv.ablate.map(([l, h]) => w.head.replace("{layer}", l).replace("{head}", h)).join(", ");
    parts.push(w.ablated.replace("{heads}", heads));
  }
  return parts.join(" ");
}

/** A layout image that fills one subplot with the "masked" stripes (layout.images). */
export function maskedBackground(xref = "x", yref = "y") {
  return { source: HATCH, xref: `${xref} domain`, yref: `${yref} domain`, x: 0, y: 1, sizex: 1, sizey: 1,
           xanchor: "left", yanchor: "top", sizing: "stretch", layer: "below" };
}
/** How much larger plot text is in presenter mode. */
export const PRESENTER_FONT_SCALE = THEME.font.presenter_scale;

/** Build an element; strings become text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") {
      for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) node.dataset[dk] = dv;
    }
    else if (k === "text") node.textContent = v;
    else if (k === "hidden") node.hidden = true;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The child of `parent` with data-part=`key`, made by `make()` the first time. */
export function part(parent, key, make) {
  let node = parent.querySelector(`:scope > [data-part="${key}"]`);
  if (!node) {
    node = make();
    node.dataset.part = key;
    parent.append(node);
  }
  return node;
}

/** Where each bar's label goes: "auto" (inside where it fits), but outside a bar under a hundredth of the longest, which
 * may be drawn under a pixel long: Plotly leaves such a bar with "auto" (or "inside") without its label. */
export function barTextPositions(probs) {
  const top = Math.max(0, ...probs.filter(Number.isFinite));
  return probs.map((x) => (Number.isFinite(x) && x >= top / 100 && x > 0 ? "auto" : "outside"));
}

// ------------------------------------------------------------------------- downloads

export function download(filename, mime, content) {
  const blob = new Blob([content], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function csvCell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // no formulas when opened in a spreadsheet
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCSV(rows) {
  return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** CSV rows of a matrix: a header of column labels, then one row per row label. */
export function matrixRows(corner, rowLabels, colLabels, z) {
  return [[corner, ...colLabels], ...z.map((row, i) => [rowLabels[i], ...row])];
}

export function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80) || "plot";
}

// ------------------------------------------------------------------------- panels

/**
 * A plot panel inside `parent` (made once, reused): a title, export buttons (PNG, SVG, CSV, JSON),
 * a caption, the plot and a place for the reason a plot does not apply. `shows`: the numbers it draws, as a lesson's
 * placeholders name them, a source and its field ("explain.weights"), or a longer path where two plots draw fields
 * of one record ("labrun.final.accuracy"): a lesson's answer that reads one is brought into sight with this plot
 * (lessons.js readPlot).
 */
export function panel(parent, key, title, { cls = "", formats = ["png", "svg", "csv", "json"], shows = [] } = {}) {
  const fig = part(parent, key, () => {
    const exports = h(
      "span",
      { class: "exports", role: "group", "aria-label": "export" },
      ...formats.map((f) =>
        h("button", { type: "button", class: "export", dataset: { export: f }, title: `download as ${f.toUpperCase()}` }, f.toUpperCase()),
      ),
    );
    const node = h(
      "figure",
      { class: `panel ${cls}`.trim(), dataset: { shows: shows.join(" ") || undefined } },
      h("figcaption", {}, h("span", { class: "panel-title" }), exports),
      h("p", { class: "caption" }),
      h("div", { class: "plot" }),
      h("p", { class: "reason", hidden: true }),
    );
    exports.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-export]");
      if (btn) exportPanel(node, btn.dataset.export);
    });
    return node;
  });
  fig.querySelector(".panel-title").textContent = title;
  return fig;
}

export function plotOf(fig) {
  return fig.querySelector(".plot");
}

export function caption(fig, text) {
  const p = fig.querySelector(".caption");
  p.textContent = text || "";
  p.hidden = !text;
}

/** An export's content: given as it is, or as a function that builds it (called when the button is clicked). */
const built = (v) => (typeof v === "function" ? v() : v);

function exportPanel(fig, format) {
  const info = fig._export;
  if (!info) return;
  const name = safeName(info.name);
  const gd = plotOf(fig);
  if (format === "png" || format === "svg") {
    if (!gd._fullLayout) return;
    Plotly.downloadImage(gd, {
      format,
      filename: name,
      width: gd._fullLayout.width,
      height: gd._fullLayout.height,
      scale: format === "png" ? 2 : 1,
    });
  } else if (format === "csv") {
    download(`${name}.csv`, "text/csv;charset=utf-8", toCSV(built(info.csv)));
  } else if (format === "json") {
    download(`${name}.json`, "application/json", JSON.stringify(built(info.json), null, 2));
  }
}

// Plotly's own `responsive` resizing is off: it re-measures only on a window resize and then takes its height from the
// page (a panel toggled beside it left a plot 20 px high). The page redraws its plots itself when their width
// changes (main.js watches it), each at the width of its box and the height its view sets.
const CONFIG = {
  responsive: false,
  displaylogo: false,
  // sendChartToCloud would upload the plot to Plotly's cloud: this page runs offline and sends nothing out
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "sendChartToCloud"],
};

// the page's phone layout (the CSS's breakpoint), its media query parsed once
const PHONE = typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(max-width: 640px)") : null;

/** Whether the page has its phone layout now. */
export const onPhone = () => Boolean(PHONE && PHONE.matches);

/** Call fn each time the page takes or leaves its phone layout (a window narrowed or widened, a phone turned). */
export function whenPhoneChanges(fn) {
  if (PHONE && PHONE.addEventListener) PHONE.addEventListener("change", fn);
}

/** The least width of the views' box for the projector's larger plot text (PRESENTER_FONT_SCALE): a lesson open beside
 * them on a 1024 px projector leaves about 600 px, where at that size the heatmaps' token labels ran out of their plots,
 * the per-head summary's titles into each other and axis titles past the plots' edges (1280 px leaves 860). */
const PRESENTER_LEAST_WIDTH = 700;

/** Whether the plots are drawn for the projector: presenter mode, where the views have room for its larger text (the
 * page redraws its plots when their box's width changes). */
export function presenting() {
  if (!document.body.classList.contains("presenter")) return false;
  const views = document.getElementById("views");
  return !views || !views.clientWidth || views.clientWidth >= PRESENTER_LEAST_WIDTH;
}

/** How much larger than the layout's own sizes draw() sets the plots' text now: PRESENTER_FONT_SCALE while presenting(),
 * else 1 (for the views that make room for their labels). */
export const textScale = () => (presenting() ? PRESENTER_FONT_SCALE : 1);

/**
 * A copy of a layout or trace with every font size (font, tickfont, textfont, ...) multiplied by k: the objects on
 * the way to a font are copied, the rest passed on as they are (data arrays too). The one given is left as it was:
 * objects that two charts share (the arithmetic's "masked" labels over both its bar charts) were scaled once for
 * each chart, the second drawn at k * k.
 */
export function scaledFonts(obj, k, depth = 0) {
  if (!obj || typeof obj !== "object" || depth > 6) return obj;
  let out = obj;
  const set = (key, v) => {
    if (v === obj[key]) return;
    if (out === obj) out = Array.isArray(obj) ? obj.slice() : { ...obj };
    out[key] = v;
  };
  for (const [key, v] of Object.entries(obj)) {
    if (!v || typeof v !== "object") continue;
    if (/font$/i.test(key) && !Array.isArray(v)) {
      const size = Array.isArray(v.size) ? v.size.map((x) => x * k) : typeof v.size === "number" ? v.size * k : v.size;
      set(key, { ...v, size });
    } else if (key !== "z" && key !== "x" && key !== "y" && key !== "text" && key !== "customdata") {
      set(key, scaledFonts(v, k, depth + 1));
    }
  }
  return out;
}

export function baseLayout(layout = {}) {
  return {
    font: { family: FONT, size: THEME.font.size, color: THEME.font.color },
    paper_bgcolor: THEME.paper,
    plot_bgcolor: THEME.paper,
    margin: { l: 60, r: 20, t: 10, b: 50 },
    hoverlabel: { font: { family: FONT, size: THEME.font.hover_size } },
    ...layout,
  };
}

/**
 * Draw into a panel with Plotly.react. `exp` = {name, csv: rows, json: object}: what the CSV and
 * JSON buttons save (built from the data the view was given). `csv` and `json` may be functions that
 * build them: then nothing is built until a button is clicked (do that for anything larger than a few rows).
 */
export function draw(fig, traces, layout, exp, config = {}) {
  const reason = fig.querySelector(".reason");
  reason.hidden = true;
  reason.textContent = "";
  const gd = plotOf(fig);
  gd.hidden = false;
  fig.classList.remove("unavailable");
  fig._export = exp;
  fig.querySelector(".exports").hidden = false;
  const name = safeName(exp ? exp.name : "plot");
  let full = baseLayout(layout);
  // Plotly's default for the tick labels, "hide past div", measures every label against the plot's box (a layout
  // of the page per label, as each one's style is set between two measures): 40-50 ms of each 32-token heatmap.
  // The margins hold the labels (automargin, or margins made for them), so none is hidden that way.
  for (const k of Object.keys(full)) if (/^[xy]axis\d*$/.test(k)) full[k] = { ticklabeloverflow: "allow", ...full[k] };
  // the width of its box now (a hidden box has none: then Plotly's default)
  if (full.width === undefined && gd.clientWidth > 0) full.width = gd.clientWidth;
  full.autosize = false;
  // a screen reader meets the chart as one picture, named by its panel's title and what its data shows (a view that
  // makes the plot a control of its own, as the grid does, sets its role and label after this)
  const title = fig.querySelector(".panel-title");
  gd.setAttribute("role", "img");
  gd.setAttribute("aria-label", chartWords(title ? title.textContent : "", traces, layout));
  if (presenting()) {
    // presenter mode: larger text in the plots too (the page's CSS cannot reach inside the SVG)
    full = scaledFonts(full, PRESENTER_FONT_SCALE);
    traces = traces.map((t) => scaledFonts(t, PRESENTER_FONT_SCALE));
  }
  return Plotly.react(gd, traces, full, {
    ...CONFIG,
    // a phone: no mode bar (a touch screen shows it over the top of the plot; the panel's own PNG and SVG buttons
    // save the picture, and a drag still zooms, a double tap resets)
    ...(onPhone() ? { displayModeBar: false } : {}),
    toImageButtonOptions: { format: "png", filename: name, scale: 2 },
    ...config,
  });
}

const UNESCAPED = Object.fromEntries(Object.entries(ENTITIES).map(([c, e]) => [e, c]));
/** A label Plotly reads as a little HTML ("query 3 “cat”<br>weight 0.5"), as words: line breaks as commas (as `br`
 * says: a tick label's is a wrap), no tags. */
const plainText = (s, br = ", ") => String(s).replace(/<br\s*\/?>/gi, br).replace(/<[^>]*>/g, "").replace(/&(amp|lt|gt|#34|#39);/g, (e) => UNESCAPED[e]);
const num = (v) => String(Number(Number(v).toPrecision(3))).replace("-", "−");
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

/** The value of `values` that is highest, its index and the range of them all (null: none is a number). */
function highest(values) {
  let best = -1;
  let lo = Infinity;
  values.forEach((v, i) => {
    if (!isNum(v)) return;
    lo = Math.min(lo, v);
    if (best < 0 || v > values[best]) best = i;
  });
  return best < 0 ? null : { at: best, lo, hi: values[best] };
}

/** The axis `which` ("x", "y") of trace `t` in `layout`: its title and the label it gives a value (its tick text). */
function axisOf(t, layout, which) {
  const ax = layout[`${which}axis${(t[`${which}axis`] || which).slice(1)}`] || {};
  const title = plainText((ax.title && (ax.title.text ?? ax.title)) || "").trim();
  const at = (v) => (Array.isArray(ax.tickvals) && ax.ticktext && ax.tickvals.indexOf(v) >= 0 ? ax.ticktext[ax.tickvals.indexOf(v)] : v);
  return { title, label: (v) => plainText(at(v), " ") };
}

/** What a trace says of its point `i` (row, column for a heatmap): its hover text (where it has words), else the
 * point's place on the axes, by their titles and tick labels. */
function pointName(t, layout, i, j = null) {
  // (a hover written by a hovertemplate reads customdata; a cell's text is its number printed, a word only at times)
  const pick = (a) => (a && (j === null ? a[i] : a[i] && a[i][j]));
  const said = [t.hovertext, t.customdata, t.text].map(pick).find((s) => typeof s === "string" && /\p{L}/u.test(s));
  if (said) return plainText(said);
  const [x, y] = [axisOf(t, layout, "x"), axisOf(t, layout, "y")];
  if (j !== null) return `${y.title || "row"} ${y.label(t.y ? t.y[i] : i)}, ${x.title || "column"} ${x.label(t.x ? t.x[j] : j)}`;
  return t.orientation === "h" ? y.label(t.y ? t.y[i] : i) : x.label(t.x ? t.x[i] : i);
}

/** " (and 2 other cells at 1)": how many more points read as the highest does, at the words' digits; "" for none. */
const sameAs = (n, what, value) => (n > 0 ? ` (and ${count(n, `other ${what}`)} at ${value})` : "");

function traceWords(t, layout) {
  if (t.type === "heatmap") {
    const z = t.z || [];
    let top = null; // {i, j, lo, hi}: a loop, not an object per cell (a 512 x 160 encoding is drawn as one heatmap)
    z.forEach((row, i) => {
      const best = highest(row || []);
      if (best && (!top || best.hi > top.hi)) top = { i, j: best.at, lo: Math.min(best.lo, top ? top.lo : Infinity), hi: best.hi };
      else if (best) top.lo = Math.min(top.lo, best.lo);
    });
    const size = `a heatmap of ${z.length} × ${Math.max(0, ...z.map((row) => (row || []).length))} cells`;
    if (!top) return `${size}, none with a value`;
    // the other cells that read as the highest does (1 and 0.9997: both "1"): said, not left out
    const hi = num(top.hi);
    let alike = -1;
    z.forEach((row) => (row || []).forEach((v) => { if (isNum(v) && num(v) === hi) alike += 1; }));
    return `${size}, values ${num(top.lo)} to ${hi}; the highest: ${pointName(t, layout, top.i, top.j)}${sameAs(alike, "cell", hi)}`;
  }
  if (t.type === "bar") {
    const values = (t.orientation === "h" ? t.x : t.y) || [];
    const top = highest(values);
    const bars = `a bar chart of ${count(values.length, "bar")}${t.name ? ` (${plainText(t.name)})` : ""}`;
    if (!top) return bars;
    const hi = num(top.hi);
    const alike = values.filter((v) => isNum(v) && num(v) === hi).length - 1;
    return `${bars}, ${num(top.lo)} to ${hi}; the highest: ${pointName(t, layout, top.at)}${sameAs(alike, "bar", hi)}`;
  }
  const ys = (t.y || []).filter(isNum);
  const name = t.name ? ` “${plainText(t.name)}”` : "";
  const range = ys.length ? `, ${num(Math.min(...ys))} to ${num(Math.max(...ys))}` : "";
  return /lines/.test(t.mode || "lines") ? `a line${name} of ${count(ys.length, "point")}${range}` : `${count(ys.length, "point")}${name}${range}`;
}

/**
 * A chart in words, for a screen reader (the plot's aria-label): its title, then what its traces draw, each read
 * from its own data: a heatmap's size, range and highest cell (named as its hover names it, else by its axes); bars:
 * how many, their range and the highest; a line or points: how many and their range. Past four traces, how many more.
 */
export function chartWords(title, traces, layout = {}) {
  const shown = traces.filter((t) => t && t.visible !== false && (t.type !== "scatter" || (t.y || []).some(isNum)));
  const words = shown.slice(0, 4).map((t) => traceWords(t, layout));
  if (shown.length > 4) words.push(`and ${count(shown.length - 4, "more trace")}`);
  const head = title ? `${title}: ` : "";
  return spoken(`${head}${words.join("; ") || "no data drawn"}.`);
}

/** Set what a table panel's CSV and JSON buttons save. */
export function setExport(fig, exp) {
  fig._export = exp;
  fig.querySelector(".exports").hidden = !exp;
  fig.classList.remove("unavailable");
  plotOf(fig).hidden = false;
  const r = fig.querySelector(".reason");
  r.hidden = true;
}

/**
 * The selected head's pattern [query][key] from an /api/analyze answer as the data layer gives it (`attention`
 * indexed by layer; null for a layer a compact answer does not hold), or null after saying why in `fig`.
 */
export function selectedPattern(fig, analyze, state) {
  const layer = analyze.attention[state.layer];
  const pattern = layer && layer[state.head];
  if (!pattern) {
    const have = state.layer >= 0 && state.layer < analyze.n_layers && state.head >= 0 && state.head < analyze.n_heads;
    reason(fig, have ? `The answer holds no full-precision weights for layer ${state.layer}.` : `This model has no layer ${state.layer}, head ${state.head}.`);
  }
  return pattern || null;
}

/** Show one sentence saying why this plot does not apply, instead of an empty plot. */
export function reason(fig, text) {
  fig._deps = null;
  const gd = plotOf(fig);
  if (gd._fullLayout) Plotly.purge(gd);
  gd.hidden = true;
  fig._export = null;
  fig.querySelector(".exports").hidden = true;
  fig.classList.add("unavailable");
  const p = fig.querySelector(".reason");
  p.textContent = text;
  p.hidden = false;
}

// ------------------------------------------------------------------------- axes and traces

/** A numeric token axis (0..n-1) labelled with the escaped token strings: duplicates stay apart. step, keep: which are
 * labelled (tickIndices), or `ticks`, those positions as the caller has worked them out already. */
export function tokenAxis(tokens, extra = {}, step = 1, keep = [], ticks = tickIndices(tokens.length, step, keep)) {
  const n = tokens.length;
  const every = ticks;
  return {
    tickmode: "array",
    tickvals: every,
    ticktext: every.map((i) => esc(shownText(tokens[i]))),
    range: [-0.5, n - 0.5],
    showgrid: false,
    zeroline: false,
    tickfont: { size: tickSize(n) },
    automargin: true,
    ...extra,
    // upright labels, slanted where they would overlap (a narrow plot, a phone: "<|bos|>" ran into "The")
    ...(extra.tickangle === 0 ? { tickangle: "auto", autotickangles: [0, -45, -90] } : {}),
  };
}

/** "i “text”": i is the token's index in the API's data (`index` when some tokens are hidden from the plot). */
export function tokenLabel(tokens, i) {
  const t = tokens[i];
  return `${t.index ?? i} “${esc(shownText(t))}”`;
}

/** The API's index of the token drawn at plot position i (tokens may be a slice, see main.js). */
export function tokenIndex(tokens, i) {
  const t = tokens[i];
  return t && Number.isInteger(t.index) ? t.index : i;
}

/** The caption's sentence about hidden special tokens (derive.js slices them out and sets `hidden`). */
export function hiddenNote(a, rowsSum = true) {
  if (!a || !a.hidden || !a.hidden.length) return "";
  const names = [...new Set(a.hidden.map((t) => shownText(t)))].join(", ");
  return ` Special tokens hidden (${names}): their rows and columns are left out` + (rowsSum ? ", so a row may sum to less than 1." : ".");
}

/** A selection outline that shows on every colour of every scale: a black line with a white one inside. */
export function selectionShapes(rect, width = 2.5) {
  return [
    { type: "rect", fillcolor: "rgba(0,0,0,0)", ...rect, line: { color: THEME.selection.outline, width: width + 2 } },
    { type: "rect", fillcolor: "rgba(0,0,0,0)", ...rect, line: { color: THEME.selection.outline_inner, width: width - 0.5 } },
  ];
}

/** Plain (unescaped) labels for CSV/JSON. */
export function plainLabels(tokens) {
  return tokens.map((t, i) => `${t.index ?? i}:${shownText(t)}`);
}

/**
 * A cell's number where it fits (a `cellText` for tokenHeatmap), else null: at most `max` tokens and cells at least
 * 30 px wide in `fig` (its width less about 150 px of axis labels and colour bar), 30 px times the presenter scale in
 * presenter mode (its numbers are that much larger: "-0.29" is 36 px wide there). Panels that share a row have
 * narrower cells than the Attention view's heatmap. With `z`, the cells must also be wide enough for its widest number.
 */
export function numbersFit(fig, n, max = 12, z = null) {
  const cellWidth = ((fig.clientWidth || 400) - 150) / n;
  // `z`, where given: the widest number, with two decimals, about 6 px a character (a dot product of a large model's
  // residual stream runs to 9 digits before the point)
  let chars = 0;
  for (const row of z || []) for (const v of row) if (v !== null && v !== undefined) chars = Math.max(chars, v.toFixed(2).length);
  const least = Math.max(30, 6 * chars) * textScale();
  return n <= max && cellWidth >= least ? "%{z:.2f}" : null;
}

/**
 * A heatmap of a token x token matrix. Cells that are null or listed in `masked` are gaps: they show the
 * plot background (MASKED_COLOR, striped with maskedBackground()) and the hover text "masked". `names`: what a row
 * and a column are in the hover (attention: query and key; a similarity: two tokens).
 */
export function tokenHeatmap(z, tokens, { masked = null, zmin, zmax, zmid, colorscale = WEIGHT_SCALE, label = "weight",
  showscale = true, cellText = null, xaxis, yaxis, colorbar, names = ["query", "key"] } = {}) {
  const n = tokens.length;
  const shown = [];
  const hover = [];
  for (let i = 0; i < z.length; i++) {
    const row = [];
    const hrow = [];
    for (let j = 0; j < z[i].length; j++) {
      const isMasked = (masked && masked(i, j)) || z[i][j] === null || z[i][j] === undefined;
      row.push(isMasked ? null : z[i][j]);
      hrow.push(
        `${names[0]} ${tokenLabel(tokens, i)}<br>${names[1]} ${tokenLabel(tokens, j)}<br>` + (isMasked ? "masked" : `${label} ${z[i][j]}`),
      );
    }
    shown.push(row);
    hover.push(hrow);
  }
  const trace = {
    type: "heatmap",
    z: shown,
    x: [...Array(z[0] ? z[0].length : 0).keys()],
    y: [...Array(z.length).keys()],
    text: hover,
    hovertemplate: "%{text}<extra></extra>",
    hoverongaps: true,
    colorscale,
    showscale,
    xgap: n <= 24 ? 1 : 0,
    ygap: n <= 24 ? 1 : 0,
    colorbar: { thickness: 12, len: 0.9, outlinewidth: 0, ...(colorbar || {}) },
  };
  if (zmin !== undefined) trace.zmin = zmin;
  if (zmax !== undefined) trace.zmax = zmax;
  if (zmid !== undefined) trace.zmid = zmid;
  if (xaxis) trace.xaxis = xaxis;
  if (yaxis) trace.yaxis = yaxis;
  if (cellText) {
    trace.texttemplate = cellText;
    trace.textfont = { size: n > 12 ? 8 : 10 };
  }
  return trace;
}

/** Largest absolute value of a matrix (nulls skipped): a symmetric colour range for diverging scales. */
export function absMax(...matrices) {
  let m = 0;
  for (const z of matrices) for (const row of z) for (const v of row) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m || 1;
}

/** The size of a token axis's labels: smaller on a long text. */
export function tickSize(n) {
  return n > 40 ? 9 : n > 20 ? 11 : 12;
}

/**
 * How many slanted key labels a token heatmap `width` px wide has room for, 16 px apart (16 px times the presenter's
 * scale `k` in presenter mode): its width less the query labels beside it (the longest of `tokens`, about 0.6 of the
 * labels' size a character), the colour bar with its numbers (about 30 px and 35 px times k) and 40 px of padding.
 * At least 3. (A fixed 110 px for all of these left the trophy's 17 keys 15 px apart, slanted into each other.)
 */
export function keyLabelsFit(width, tokens, k = 1) {
  return Math.max(3, Math.floor(keyRoom(width, tokens, k) / (16 * k)));
}

/** The px across a token heatmap `width` px wide that its keys have (keyLabelsFit): its width less the query labels
 * beside it, the colour bar with its numbers and 40 px of padding. */
export function keyRoom(width, tokens, k = 1) {
  const longest = Math.max(0, ...tokens.map((t) => [...shownText(t)].length));
  return width - 40 - 0.6 * tickSize(tokens.length) * k * longest - (30 + 35 * k);
}

/**
 * The px down a token heatmap `height` px high that its query axis's title has (thinnedTitle's room): the height
 * less the key labels below the plot, slanted `angle`° (45 unless told; 90 upright, 0 level: the longest of those at
 * the positions `keys` the key axis labels, tickIndices, about 0.6 of their size a character, times sin angle), and
 * about 50 px times k of top margin, key title and padding. (130 px times the presenter's scale for all of these left
 * the lesson's 12 tokens at 1280x720 the bare title "query" over a plot 227 px high, where "query (every 2nd)" takes
 * about 170.)
 */
export function queryTitleRoom(height, tokens, keys, k = 1, angle = 45) {
  const longest = Math.max(0, ...keys.map((i) => [...shownText(tokens[i])].length));
  const sin = Math.abs(Math.sin((angle * Math.PI) / 180));
  return height - 0.6 * tickSize(tokens.length) * k * longest * sin - 50 * k;
}

/**
 * How many upright token labels a heatmap `height` px high has room for down its side: 14 px apart (14 px times the
 * presenter's scale `k` in presenter mode: its labels are 18 px high) beside about 130 px of margins and slanted key
 * labels. At least 3.
 */
export function queryLabelsFit(height, k = 1) {
  return Math.max(3, Math.floor((height - 130) / (14 * k)));
}

/**
 * The groups of `keep` ([indices, words, said]: the labels drawn whatever the step, tickIndices) that `axes` of n
 * tokens ([step, ticks, name]: each axis's step, the positions it labels, as drawn, and what it labels) label off
 * their step: each group's words (`said`, a caption's, where `caption` and the group has them; a function of the names
 * of the axes that label all of the group and of those that label some of it: selectedLabels, Compare's keptLabels),
 * "some of ..." where an axis leaves one of its positions unlabelled (too close to another drawn whatever the step:
 * Compare's two words that differ side by side);
 * none where each one labelled falls on the step. (A regular label left out, tickIndices, stands within a label's room
 * of one of these off its step: the words say what stands in its place.)
 */
export function offStepGroups(keep, axes, n, caption = false) {
  return keep.flatMap(([indices, words, said = words]) => {
    const mine = indices.filter((i) => Number.isInteger(i) && i >= 0 && i < n);
    if (!axes.some(([step, ticks]) => mine.some((i) => i % step !== 0 && ticks.includes(i)))) return [];
    const drawn = axes.map(([, ticks, name]) => [name, mine.filter((i) => ticks.includes(i)).length]);
    const whole = drawn.filter(([, k]) => k === mine.length).map(([name]) => name);
    const part = drawn.filter(([, k]) => k > 0 && k < mine.length).map(([name]) => name);
    if (caption && typeof said === "function") return [said(whole, part)];
    return [`${whole.length === axes.length ? "" : "some of "}${caption ? said : words}`];
  });
}

/** The words of the labels an axis of n tokens labelling `ticks` draws off its `step` (thinnedTitle's `also`:
 * offStepGroups), joined ("the ones that differ and the selected one"); "" where it labels every step-th and no other. */
export function offStepWords(keep, step, ticks, n) {
  return offStepGroups(keep, [[step, ticks]], n).join(" and ");
}

/** tokenAxes' keep group of the selected query `sel` (its plot position; null for none), with a caption's words for
 * the axes that label it (offStepGroups: a word that differs beside it on Compare can take its place on one axis, where
 * "the selected query's row and column" was half true). */
export const selectedLabels = (sel) => [[sel], "the selected one", (names) => `the selected query's ${axisLines(names)}`];

/** What the token axes `names` label of a token, by their names: a query axis its "row", a key axis its "column" ("row
 * and column" for both; "rows", "columns" where `plural`). */
export function axisLines(names, plural = false) {
  const s = plural ? "s" : "";
  return [names.includes("query") && `row${s}`, names.includes("key") && `column${s}`].filter(Boolean).join(" and ");
}

/**
 * A caption's words on which tokens a heatmap of n tokens labels where an axis labels every k-th token without a
 * title to say so (`axes`: [name, step, ticks] of such axes, the positions each labels; one at step 1 labels all):
 * "Labelled: every 13th key, and the selected query's row and column" (the labels of `keep` drawn off a step,
 * offStepGroups); "" where none is left to say. (The Positional view's terms have no axis titles; a panel too
 * narrow for a title's words.)
 */
export function termLabelsNote(axes, keep = [], n = Infinity) {
  const thinned = axes.filter(([, step]) => step > 1);
  if (!thinned.length) return "";
  const every = thinned.map(([name, step]) => `every ${ordinal(step)} ${name}`).join(" and ");
  const also = offStepGroups(keep, thinned.map(([name, step, ticks]) => [step, ticks, name]), n, true).join(" and ");
  return ` Labelled: ${every}${also ? `, and ${also}` : ""}; hover over a cell for its tokens.`;
}

/** The least positions apart two labels of n tokens stand on an axis `px` long (tickIndices' room): `per` px a label of
 * the fit rules' 12 px text (keyLabelsFit's 16 px, queryLabelsFit's 14, times k) for the axis's smaller text on a long
 * text (tickSize), at most `step` (the regular labels' room). The fit rules count whole labels and round the step up:
 * 51 tokens slanted at 9 px in presenter mode need about 4.6 positions each where every 7th is labelled. */
function labelRoom(n, step, px, per) {
  return Math.min(step, (n * per * tickSize(n)) / 12 / Math.max(1, px));
}

/** The steps of tokenAxes' labels (tickStep) for a heatmap `width` px wide and `height` px high: {xStep, yStep,
 * titled: whether the query axis has a title's room, across: the px its keys are counted in, xRoom, yRoom: the least
 * positions apart of two labels, labelRoom}. */
export function tokenSteps(width, tokens, height, k = 1, most = Infinity) {
  const n = tokens.length;
  const yStep = tickStep(n, queryLabelsFit(height, k));
  // the query axis's title takes a line of the width (about 24 px times k) from the keys: it is drawn only where
  // they keep room for 3 labels beside it (12 tokens in a 243 px panel, presenter mode with a lesson open: the plot
  // 64 px wide, its 3 key labels ran into each other)
  const titled = yStep > 1 && keyRoom(width - 24 * k, tokens, k) >= 3 * 16 * k;
  const across = titled ? width - 24 * k : width;
  const xStep = tickStep(n, Math.min(most, keyLabelsFit(across, tokens, k)));
  // (the px keyLabelsFit and queryLabelsFit count their labels in)
  const xRoom = labelRoom(n, xStep, keyRoom(across, tokens, k), 16 * k);
  return { xStep, yStep, titled, across, xRoom, yRoom: labelRoom(n, yStep, height - 130, 14 * k) };
}

/** The two token axes of a heatmap `width` px wide and `height` px high: a long text labels every k-th token, as many as
 * have room (slanted ones across the width left beside the query labels and colour bar, upright ones down its height:
 * keyLabelsFit, queryLabelsFit; across, at most `most`), not all of them over each other. k: the presenter's text
 * scale, 1 outside it. An axis that labels every k-th token says so in its title where it has room (thinnedTitle:
 * "key (every 2nd labelled)", "query (every 3rd)"); one that labels every token has no title. keep: the labels drawn
 * whatever the step, as [indices, words, a caption's words] (selectedLabels): an axis that draws one off its step names
 * them in its title ("key (every 2nd, and the selected one)"), or has none where that has no room. names: what a column
 * and a row are in the titles (a similarity's: "token" both); `noted`: in the note, names unless told (a similarity's
 * "column" and "row": "every 4th token" did not say which axis). Returns {xaxis, yaxis, note: the caption's words on
 * the labels of the axes without a title, termLabelsNote}. */
export function tokenAxes(width, tokens, height, slant, keep = [], k = 1, { most = Infinity, names = ["key", "query"], noted = names } = {}) {
  const n = tokens.length;
  const at = keep.flatMap(([indices]) => indices);
  const { xStep, yStep, titled, across, xRoom, yRoom } = tokenSteps(width, tokens, height, k, most);
  const keys = tickIndices(n, xStep, at, xRoom);
  const queries = tickIndices(n, yStep, at, yRoom);
  const title = (name, step, ticks, room) => thinnedAxisTitle(name, step, room, { k, also: offStepWords(keep, step, ticks, n) });
  const xaxis = tokenAxis(tokens, { tickangle: slant ? -45 : 0, ...title(names[0], xStep, keys, keyRoom(across, tokens, k)) }, xStep, at, keys);
  const yaxis = tokenAxis(tokens, { range: [n - 0.5, -0.5], ...title(names[1], titled ? yStep : 1, queries, queryTitleRoom(height, tokens, keys, k)) }, yStep, at, queries);
  // (the axes' own labels and titles: a note worked out apart from them could say what they do not draw)
  const untitled = [[noted[0], xStep, keys], [noted[1], yStep, queries]].filter((_, j) => ![xaxis, yaxis][j].title);
  return { xaxis, yaxis, note: termLabelsNote(untitled, keep, n) };
}

/**
 * The height of a token × token pattern panel `width` px wide for `tokens`, and its token axes (k: the presenter's text
 * scale, 1 outside it): as many labels as have room across and down (tokenAxes, and its caption's `note`), with the
 * selected query `sel` (its plot position; null for none) among them. A fixed 110 px for the query labels and colour bar and 30 labels down put
 * 30 tokens' query labels 11.6 px apart in presenter mode, for labels 15 px high, and the five-model strip's 30 keys 10 px apart
 * at 1280x800. (The attention beside what it moves, views/effects.js; the Positional view's patterns.)
 */
export function patternAxes(width, tokens, k = 1, sel = null) {
  const n = tokens.length;
  const height = Math.max(240, Math.min(440, n * 22 + 90));
  return { height, ...tokenAxes(width, tokens, height, n > 6, [selectedLabels(sel)], k) };
}

/**
 * A training-step axis from step 0 to `last` (the lab's loss and role plots, the replay's "How it learned"): ticks at
 * whole steps only, 1, 2 or 5 times a power of ten apart, as many as have room across `width` px of plot at the text
 * size k (PRESENTER_FONT_SCALE in presenter mode). Plotly's own ticks put a 3-step run's at 0.5, 1.5 and 2.5.
 */
export function stepAxis(last, width = 600, k = 1) {
  const end = Math.max(1, Math.round(last));
  const per = Math.max(44, (String(end).length * 7 + 36) * k); // a label (7 px a digit) and the gap after it
  const room = Math.max(2, Math.floor(width / per)); // ticks
  let dtick;
  for (let p = 1; !dtick; p *= 10) dtick = [p, 2 * p, 5 * p].find((d) => Math.floor(end / d) + 1 <= room);
  return { title: { text: "training step" }, range: [0, end], zeroline: false, tickmode: "linear", tick0: 0, dtick };
}

/** 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd". */
export const ordinal = (k) => `${k}${k % 100 >= 11 && k % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][k % 10] || "th"}`;

/** The px across of an axis title's `text` at about 8.4 px a letter (0.6 of Plotly's title size, 1.2 times the
 * layout's 12 px) times the presenter's scale `k`: titleWidth where the page has no canvas to measure it on. */
export function estimatedWidth(text, k = 1) {
  return [...text].length * 8.4 * k;
}

/** A titleWidth measured on a canvas 2d context `ctx` in the plots' font (FONT) at an axis title's size (Plotly's:
 * 1.2 times the layout's, which the presenter's scale `k` multiplies, rounded): 8.4 px a letter is a cautious estimate of it
 * ("query (every 2nd labelled)" measures 186 px in the page's font at 1280x800, 218 estimated). */
export function measuredWidth(ctx) {
  return (text, k = 1) => measureOn(ctx, text, Math.round(THEME.font.size * k * 1.2)); // (Plotly's title size of the scaled layout font)
}

/** The px across of `text` drawn on the canvas 2d context `ctx` in the plots' font (FONT) at `px` px. */
function measureOn(ctx, text, px) {
  ctx.font = `${px}px ${FONT}`;
  return ctx.measureText(text).width;
}

let canvasContext; // (undefined: not looked for yet; null: none)
/** A canvas 2d context to measure text on, or null where there is none (node has no document, the tests' stand-in no
 * canvas). */
function canvas2d() {
  if (canvasContext === undefined) {
    canvasContext = typeof document !== "undefined" && document.createElement ? document.createElement("canvas").getContext?.("2d") ?? null : null;
  }
  return canvasContext;
}

let canvasWidth = null;
/** The px across of an axis title's `text` (k: the presenter's text scale): measured on a canvas where the page has
 * one (measuredWidth), else estimated (estimatedWidth: node). */
export function titleWidth(text, k = 1) {
  if (!canvasWidth) canvasWidth = canvas2d() ? measuredWidth(canvas2d()) : estimatedWidth;
  return canvasWidth(text, k);
}

/** The px across of a plot's `text` in the plots' font (FONT) at `px` px: measured on a canvas where the page has one,
 * else about 0.6 of its size a character (node). */
export function textWidth(text, px) {
  const ctx = canvas2d();
  return ctx ? measureOn(ctx, text, px) : [...text].length * 0.6 * px;
}

/**
 * Which of a plot's point labels have room: `boxes` ([left, top, right, bottom] in px, the one most wanted first) taken
 * in turn, each where it overlaps none of those taken before it, so the first is always taken and all are where none
 * overlaps another. Returns the indices of those taken, in that order. (The Q/K view's projection labelled all 2n
 * points: on a 40-token sentence most of them lay over each other in its crowded middle, none of those readable.)
 */
export function placeLabels(boxes) {
  const placed = [];
  boxes.forEach((box, i) => {
    if (!placed.some((j) => overlap(boxes[j], box))) placed.push(i);
  });
  return placed;
}

const overlap = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

/**
 * The title of a token axis that labels every `step`-th token (tickStep): it says which are labelled, in the longest
 * of its forms that fits `room` px of the axis (`measure`: the width of a title at the presenter's scale `k`,
 * titleWidth unless told) ("key (every 2nd labelled; hover for all)" where `hover`, "key (every 2nd labelled)",
 * "key (every 2nd)"), the `bare` where none fits (the bare `name` unless told); `all` where every token is labelled.
 * `also`: the words for the labels drawn off the step ("the selected one": tickIndices' keep), said in every form
 * ("key (every 2nd, and the selected one)"): without them a form would not be true of the axis drawn.
 */
export function thinnedTitle(name, step, room, { k = 1, all = name, hover = false, bare = name, also = "", measure = titleWidth } = {}) {
  if (step <= 1) return all;
  const every = `every ${ordinal(step)}`;
  const and = also ? `, and ${also}` : "";
  return [...(hover ? [`${name} (${every} labelled${and}; hover for all)`] : []), `${name} (${every} labelled${and})`, `${name} (${every}${and})`]
    .find((t) => measure(t, k) <= room) ?? bare;
}

/** An axis's title saying which tokens it labels (thinnedTitle's words without a bare or all-labelled form): {title:
 * {text}} where it labels every `step`-th token and a form fits `room`, else {} (no title: an empty one still takes
 * about 20 px of the plot's width and height). */
export function thinnedAxisTitle(name, step, room, { k = 1, hover = false, also = "", measure = titleWidth } = {}) {
  const text = thinnedTitle(name, step, room, { k, hover, also, measure, all: "", bare: "" });
  return text ? { title: { text } } : {};
}

/** Label every k-th token on a small plot's axis so that about `fit` labels show (hover shows them all). */
export function tickStep(n, fit = 30) {
  return n > fit ? Math.ceil(n / fit) : 1;
}

/**
 * The token indices an axis of n tokens labels: every step-th, and each of `keep` (the positions a caption names, as
 * Compare's differing tokens) with the regular ones closer than `room` positions to it left out, so that the labels
 * keep their room (labelRoom; a step unless told). Without `keep`, a position that differs between Compare's sides
 * could be one the step skipped. Of those of `keep` closer than `room` to each other, the first in its order alone:
 * Compare's two words that differ side by side (6 and 7, every 2nd labelled) ran into each other (offStepGroups says
 * "some of" them; hover names each).
 */
export function tickIndices(n, step = 1, keep = [], room = step) {
  const must = [];
  for (const i of keep.filter((i) => Number.isInteger(i) && i >= 0 && i < n)) {
    if (!must.some((m) => Math.abs(m - i) < room)) must.push(i);
  }
  const every = [];
  for (let i = 0; i < n; i += step) if (!must.some((k) => Math.abs(k - i) < room)) every.push(i);
  return [...new Set([...every, ...must])].sort((x, y) => x - y);
}

/** A height for a token x token heatmap: readable for 3 tokens and for 128. */
export function squareHeight(n, { min = 280, max = 620, per = 30, extra = 90 } = {}) {
  return Math.round(Math.min(max, Math.max(min, n * per + extra)));
}

export function fmt(v, digits = 3) {
  return v === null || v === undefined ? "—" : Number(v).toFixed(digits);
}

// ------------------------------------------------------------------------- events out of a view

/** A view asks for a state change (main.js applies it): e.g. emit(el, {layer: 2, head: 1}). */
export function emit(node, patch, { history = "replace", ablate = null } = {}) {
  node.dispatchEvent(new CustomEvent("attnlab:state", { bubbles: true, detail: { patch, history, ablate } }));
}

/** A view asks for an action main.js performs (e.g. "continue", "analogy"). */
export function action(node, name, detail = {}) {
  node.dispatchEvent(new CustomEvent("attnlab:action", { bubbles: true, detail: { name, ...detail } }));
}

/** Set an input's value unless the user is typing in it. */
export function setValue(input, value) {
  if (document.activeElement !== input && input.value !== String(value)) input.value = String(value);
}

/**
 * True when `fig` has not yet been drawn from exactly these inputs (compared with ===), and records them;
 * lets a view skip redrawing a plot whose data did not change.
 */
export function changed(fig, deps) {
  const prev = fig._deps;
  if (prev && prev.length === deps.length && prev.every((d, i) => d === deps[i])) return false;
  fig._deps = deps;
  tracked.add(fig);
  return true;
}

const tracked = new Set(); // the elements changed() has recorded inputs for

/** Forget what every plot was drawn from, so that the next refresh redraws them all (presenter mode, a new size). */
export function forgetDrawn() {
  for (const el of tracked) el._deps = null;
  tracked.clear();
}

/**
 * Performance marks for benchmarks (tests/benchmarks/browser.py), the latest MARKS_KEPT of each name kept:
 * `attnlab:input` (a keystroke in the sentence; detail {text}), `attnlab:heatmap` and `attnlab:grid` (that plot
 * drawn; detail {text, model, layer, head}: what it shows; the grid's also {roles}: drawn with the role table).
 */
export function mark(name, detail) {
  if (performance.getEntriesByName(name, "mark").length >= MARKS_KEPT) performance.clearMarks(name);
  performance.mark(name, { detail });
}
const MARKS_KEPT = 16;

/** mark(name, detail) once a plot's drawing (a Plotly.react promise, or nothing) is done. */
export function marked(drawing, name, detail) {
  Promise.resolve(drawing).then(() => mark(name, detail), () => {});
}
