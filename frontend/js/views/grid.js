// All layers x heads as small thumbnails. One heatmap holds every head's pattern side by side (tiles
// separated by an empty row and column), so that 4 x 4 heads and 30 x 9 heads draw equally fast.
// It draws from the API's 8-bit `thumbnails` when the answer has them (large models; the hover then says
// "≈0.392", near the precision they have), else from the full-precision `attention`.
// Click: select that layer and head. Shift/Alt/Ctrl-click, or click in ablate mode: ablate it.
// Keyboard: the grid is one tab stop; the arrow keys move the selected head (main.js), Enter or Space
// ablates (or restores) the selected head.
/* global Plotly */
import {
  caption, changed, COLORS, draw, emit, esc, GRID_MASKED, h, hiddenNote, panel, part, plotOf, presenting, selectionShapes, textScale, THEME,
  tokenIndex, tokenLabel, WEIGHT_SCALE,
} from "../plot.js";
import { isAblated, shownText } from "../derive.js";
import { definitionText, fitTileText, labelsOf, ruleText, tileText } from "../roles.js";

// masked cells: mid grey (theme.json masked.grid), apart from the white gaps between tiles and every Viridis colour

const MAX_HOVER_CELLS = 120_000; // beyond this, no per-cell hover text (clicking still works)

/**
 * The weights the grid draws, one accessor for both forms of the answer: weight(l, h, i, j) and its hover
 * text, and the CSV / JSON exports (built only when asked for).
 */
function source(a) {
  const n = a.tokens.length;
  const ix = a.tokens.map((_, i) => tokenIndex(a.tokens, i)); // the API's index of each row and column (hidden tokens)
  const t = a.thumbnails;
  if (t) {
    const [nL, nH] = t.shape; // [layer, head, query, key]
    const { bytes, scale } = t;
    const at = (l, h, i, j) => ((l * nH + h) * n + i) * n + j;
    return {
      weight: (l, h, i, j) => bytes[at(l, h, i, j)] / scale,
      // at 3 decimals: the byte's own 1 / (2 scale) and the rounding's 0.0005 (at 2 decimals, 0.005 more)
      label: (l, h, i, j) => `≈${(bytes[at(l, h, i, j)] / scale).toFixed(3)}`,
      precision: (hover) => hover
        ? ` 8-bit thumbnails: hover shows each weight to within ${Math.ceil((1 / (2 * scale) + 0.0005) * 1e4) / 1e4} (≈); the heatmap shows the selected head in full.`
        : ` 8-bit thumbnails, each weight drawn to within ${(1 / (2 * scale)).toPrecision(1)}; the heatmap shows the selected head in full.`,
      csv: () => {
        const rows = [["layer", "head", "query", "key", "weight_8bit"]];
        for (let l = 0; l < nL; l++)
          for (let h = 0; h < nH; h++)
            for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rows.push([l, h, ix[i], ix[j], (bytes[at(l, h, i, j)] / scale).toFixed(3)]);
        return rows;
      },
      json: () => ({
        model: a.model, interventions: a.interventions, tokens: a.tokens,
        precision: `8-bit: weight = byte / ${scale}, within 1/${2 * scale} of the model's weight`,
        shape: t.shape, scale,
        bytes: Array.from({ length: nL }, (_, l) => Array.from({ length: nH }, (_, h) =>
          Array.from({ length: n }, (_, i) => Array.from(bytes.subarray(at(l, h, i, 0), at(l, h, i, 0) + n))))),
      }),
    };
  }
  const att = a.attention; // [layer][head][query][key], every layer
  return {
    weight: (l, h, i, j) => att[l][h][i][j],
    label: (l, h, i, j) => String(att[l][h][i][j]),
    precision: () => "",
    csv: () => {
      const rows = [["layer", "head", "query", "key", "weight"]];
      att.forEach((heads, l) => heads.forEach((p, h) => p.forEach((row, i) => row.forEach((v, j) => rows.push([l, h, ix[i], ix[j], v])))));
      return rows;
    },
    json: () => ({ model: a.model, interventions: a.interventions, tokens: a.tokens, attention: att }),
  };
}

/** The outlines: ablated heads (red cross) and the selected one. */
function gridShapes(g, state, whiteGaps) {
  const { tile, n, nL, nH } = g;
  const shapes = [...whiteGaps];
  for (const [l, hd] of state.ablate) {
    if (l >= nL || hd >= nH) continue;
    const x0 = hd * tile - 0.5;
    const y0 = l * tile - 0.5;
    shapes.push({ type: "rect", x0, x1: x0 + n, y0, y1: y0 + n, fillcolor: COLORS.ablatedFill, line: { width: 0 } });
    shapes.push({ type: "line", x0, x1: x0 + n, y0, y1: y0 + n, line: { color: COLORS.ablated, width: 2 } });
    shapes.push({ type: "line", x0, x1: x0 + n, y0: y0 + n, y1: y0, line: { color: COLORS.ablated, width: 2 } });
  }
  const sx = state.head * tile - 0.5;
  const sy = state.layer * tile - 0.5;
  shapes.push(...selectionShapes({ x0: sx - 0.4, x1: sx + n + 0.4, y0: sy - 0.4, y1: sy + n + 0.4 }, 3));
  return shapes;
}

/**
 * White bands over the empty rows and columns between the tiles and around them, under the heatmap: with a grey
 * plot background, a cell with no weight shows grey (masked) inside a tile and white between tiles.
 */
function gapShapes(g, rows, cols) {
  const white = { type: "rect", layer: "below", fillcolor: "#ffffff", line: { width: 0 } };
  const out = [
    { ...white, x0: -1, x1: cols, y0: -1, y1: -0.5 },
    { ...white, x0: -1, x1: cols, y0: rows - 0.5, y1: rows },
    { ...white, x0: -1, x1: -0.5, y0: -1, y1: rows },
    { ...white, x0: cols - 0.5, x1: cols, y0: -1, y1: rows },
  ];
  for (let l = 1; l < g.nL; l++) out.push({ ...white, x0: -1, x1: cols, y0: l * g.tile - 1.5, y1: l * g.tile - 0.5 });
  for (let h = 1; h < g.nH; h++) out.push({ ...white, x0: h * g.tile - 1.5, x1: h * g.tile - 0.5, y0: -1, y1: rows });
  return out;
}

/**
 * Each labelled head's role label on its tile: the API's label text ("prev 0.92"). A causal model's sits in the
 * tile's masked top-right corner, on one line, two, or as its role alone, whichever covers none of the weights
 * (roles.js fitTileText; top left, it sat on the first key's column, a sink's evidence); where none fits it is not
 * drawn (`hidden` counts them, `short` those written as their role alone; the hover names every label). An encoder's tile is weights throughout: its label sits
 * top left, on two lines where the tile is narrow. `labels`: labelsOf() the API's role table (as POST /api/roles
 * gives it; the attention view's analysis carries it), [] while it is on its way. One text trace over the heatmap
 * (not one annotation per label: 200 labels draw in about a third of the time), out of hover and clicks, each label
 * with a dark halo so that it reads on every colour of the scale. Always there, empty without labels: the number of
 * traces stays the same when they arrive. cellPx: a tile's height in px; cell: a weight's cell ({w, h} px) or null
 * (an encoder).
 */
function roleTrace(g, labels, cellPx, cell) {
  const narrow = cellPx < 84;
  const size = cellPx < 34 ? 8 : cellPx < 60 ? 9 : 10;
  const halo = THEME.heads.label_background;
  const shown = size * textScale(); // (draw() scales the fonts in presenter mode)
  const placed = labels.map((lab) => ({ lab, text: cell ? fitTileText(lab.text, g.n, cell, shown) : tileText(lab.text, narrow) }))
    .filter((x) => x.text !== null);
  return {
    trace: {
      type: "scatter", mode: "text", name: "role labels", hoverinfo: "skip", showlegend: false, cliponaxis: false,
      x: placed.map(({ lab }) => lab.head * g.tile - 0.5 + (cell ? g.n : 0)), y: placed.map(({ lab }) => lab.layer * g.tile - 0.5),
      text: placed.map(({ text }) => esc(text).replace("\n", "<br>")),
      customdata: placed.map(({ lab }) => `${lab.layer}.${lab.head}`),
      textposition: cell ? "bottom left" : "bottom right",
      textfont: { size, color: THEME.heads.label_text, shadow: `0 0 2px ${halo}, 0 0 2px ${halo}, 0 0 3px ${halo}` },
    },
    hidden: labels.length - placed.length,
    short: placed.filter(({ lab, text }) => text === lab.text.slice(0, lab.text.lastIndexOf(" "))).length,
  };
}

/** The legend of the role labels: each label's name (its definition on hover) and the rule with its thresholds. */
/** The first token when the view hides it (special tokens hidden, a start token at position 0): what a sink label's
 * weight is on, though no tile draws its column; else null. */
export function sinkHidden(a) {
  const first = a && a.hidden ? a.hidden.find((t) => t.position === 0) : null;
  return first ? shownText(first) : null;
}

function roleLegend(fig, table, defs, { hidden = 0, short = 0, hover = true } = {}, ablate = [], firstHidden = null) {
  const box = part(fig, "roles-legend", () => h("p", { class: "roles-legend" }));
  box.replaceChildren();
  box.hidden = !defs;
  if (!defs) return;
  const counted = table ? table.queries : {};
  box.append(h("span", { class: "label" }, "Role labels:"));
  for (const d of defs.roles.filter((x) => x.label)) {
    box.append(h("span", { class: "role-key", title: definitionText(d, counted[d.role]), dataset: { role: d.role } },
      h("b", {}, d.short), ` ${d.name}`));
  }
  const labelled = table ? labelsOf(table) : null;
  const n = labelled ? labelled.length : null;
  // an ablated head's label says where it looks; its output is zero (the red cross), which the count says
  const off = labelled ? labelled.filter((l) => isAblated(ablate, l.layer, l.head)).length : 0;
  box.append(h("span", { class: "role-rule" }, `${ruleText(defs.thresholds)} The number is the score (a share of the ` +
    `head's attention, 0 to 1).` + (n === null ? "" : n ? ` ${n} head${n > 1 ? "s" : ""} labelled on this sentence.` :
      " No head is labelled on this sentence.") +
    (off ? ` ${off} of them ${off > 1 ? "are" : "is"} ablated: ${off > 1 ? "they attend" : "it attends"} so, but ${off > 1 ? "their" : "its"} output is set to zero.` : "") +
    (short ? ` ${short} of them show${short > 1 ? "" : "s"} the role alone, without its score, to fit on ${short > 1 ? "their tiles" : "its tile"} at this size.` : "") +
    (hidden ? ` ${hidden} of them ${hidden > 1 ? "do" : "does"} not fit on ${hidden > 1 ? "their tiles" : "its tile"} at this size without covering weights${hover ? ": hover a tile for its label" : ""}.` : "") +
    (firstHidden ? ` The first token, ${firstHidden}, is hidden here: a sink label's weight is on it, a column no tile draws.` : "") +
    " Hover a name for its definition; the Heads tab ranks every head by any role."));
}

function describe(gd, state) {
  gd.setAttribute("aria-label", `every layer and head; selected: layer ${state.layer}, head ${state.head}` +
    `${isAblated(state.ablate, state.layer, state.head) ? " (ablated)" : ""}. ` +
    "Arrow keys: up and down change the layer, left and right the head; Enter or Space: ablate or restore it.");
}

/**
 * The box of the tile of `layer`, `head` in the grid drawn in `element`, in the viewport's pixels ({left, right, top,
 * bottom}); null until the grid is drawn with that head selected.
 */
export function tileBox(element, layer, head) {
  const gd = element && element.querySelector(".plot");
  const g = gd && gd._attnlabGrid;
  const L = gd && gd._fullLayout;
  const area = gd && gd.querySelector(".nsewdrag"); // the plot area
  if (!g || !L || !L.xaxis || !area || g.layer !== layer || g.head !== head) return null;
  const at = area.getBoundingClientRect();
  const xs = [head * g.tile - 0.5, head * g.tile - 0.5 + g.n].map((v) => at.left + L.xaxis.l2p(v));
  const ys = [layer * g.tile - 0.5, layer * g.tile - 0.5 + g.n].map((v) => at.top + L.yaxis.l2p(v));
  return { left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys), bottom: Math.max(...ys) };
}

/**
 * data: {analyze, ablateMode, roles, defs}: `roles` the API's role table (each labelled head's label is drawn on its
 * tile), `defs` GET /api/roles/definitions (the legend); `analyze` has `thumbnails` ({shape, scale, bytes}, see api.js) or the full
 * `attention` of every layer, and `mask(i, j)` (the answer's mask, derive.js); state: {layer, head, ablate}.
 * Returns the drawing (a promise).
 */
export function render(element, data, state) {
  const fig = panel(element, "grid", "Every layer × head");
  const a = data && data.analyze;
  if (!a) return undefined;
  const nL = a.n_layers;
  const nH = a.n_heads;
  const n = a.tokens.length;
  const tile = n + 1; // n cells and one empty row/column between tiles
  const rows = nL * tile - 1;
  const cols = nH * tile - 1;
  const src = source(a);
  const hover = rows * cols <= MAX_HOVER_CELLS; // (past it the tiles answer no hover: the captions say nothing of it)
  const masked = a.mask || null;
  const anyMasked = Boolean(masked) && a.tokens.some((_, i) => masked(i, n - 1));
  caption(
    fig,
    (data.ablateMode ? "Ablate mode: click a head to switch it off or on." : "Click a head to select it; Shift-click (or turn on ablate mode) to ablate it.") +
      " Keys: arrows move the selection, Enter ablates it." +
      (anyMasked ? ` ${THEME.masked.grid_words}` : "") + src.precision(hover) + hiddenNote(a, false),
  );
  const gd = plotOf(fig);
  const g = { tile, n, nL, nH, layer: state.layer, head: state.head };
  const width = element.clientWidth || 600;
  // the same weights as last time (only the selection or the ablated heads changed): move the outlines only
  // (the mask by value: another layer of the same sentence is a new answer with the same mask)
  const maskKey = (a.visible || []).join(",");
  const table = data.roles || null;
  const cell = Math.max(26, Math.min(120, (width - 70) / nH, 1300 / nL));
  if (!changed(fig, [a.thumbnails || a.attention, n, nL, nH, maskKey, width, presenting(), table]) && gd._fullLayout && gd._attnlabGaps) {
    roleLegend(fig, table, data.defs || null, gd._attnlabFit, state.ablate, sinkHidden(a));
    gd._attnlabGrid = g;
    describe(gd, state);
    return Plotly.relayout(gd, { shapes: gridShapes(g, state, gd._attnlabGaps) });
  }
  // the role table's labels, where it is this model's (an answer of another model may still be on screen)
  const fits = table && table.heads.length === nL && (table.heads[0] || []).length === nH;
  const labelled = fits ? labelsOf(table) : [];
  const labelOf = new Map(labelled.map((x) => [`${x.layer}.${x.head}`, x.text]));
  // the cells: built again only for new weights, not when only the role labels changed (the same z array goes back
  // to Plotly). The hover text names the labels.
  if (changed(gd, [a.thumbnails || a.attention, n, nL, nH, maskKey])) {
    const z = Array.from({ length: rows }, () => new Array(cols).fill(null));
    for (let l = 0; l < nL; l++) {
      for (let hd = 0; hd < nH; hd++) {
        for (let i = 0; i < n; i++) {
          const zr = z[l * tile + i];
          for (let j = 0; j < n; j++) if (!masked || !masked(i, j)) zr[hd * tile + j] = src.weight(l, hd, i, j); // a masked cell stays empty (grey)
        }
      }
    }
    gd._attnlabZ = z;
  }
  const z = gd._attnlabZ;
  let text = null;
  if (hover) {
    text = Array.from({ length: rows }, () => new Array(cols).fill(""));
    // each token by the API's index and its text, as the heatmap and the strip name it (with special tokens hidden,
    // plot position i is not token i)
    const names = a.tokens.map((_, i) => tokenLabel(a.tokens, i));
    for (let l = 0; l < nL; l++) {
      for (let hd = 0; hd < nH; hd++) {
        const name = `layer ${l} · head ${hd}${labelOf.has(`${l}.${hd}`) ? ` · ${esc(labelOf.get(`${l}.${hd}`))}` : ""}<br>query `;
        for (let i = 0; i < n; i++) {
          const tr = text[l * tile + i];
          for (let j = 0; j < n; j++) tr[hd * tile + j] = `${name}${names[i]} → key ${names[j]}: ${z[l * tile + i][hd * tile + j] === null ? "masked" : src.label(l, hd, i, j)}`;
        }
      }
    }
  }
  const trace = {
    // hoverongaps: a masked cell (a gap, grey) answers hover and click too: clicking anywhere on a tile selects its head
    type: "heatmap", z, colorscale: WEIGHT_SCALE, zmin: 0, zmax: 1, showscale: false, hoverongaps: true,
    ...(hover ? { text, hovertemplate: "%{text}<extra></extra>" } : { hoverinfo: "none" }),
  };
  // a weight's cell in px (the plot's box less its margins, over the axes' ranges), where the tile's top-right
  // corner is masked (a causal model): the labels go there, clear of the weights
  const margin = { l: 55, r: 8, t: 8, b: 28 };
  const height = Math.round(nL * cell + 60);
  const cornered = Boolean(masked) && n > 1 && masked(0, n - 1);
  const cellBox = cornered ? { w: ((gd.clientWidth || width) - margin.l - margin.r) / (cols + 1), h: (height - margin.t - margin.b) / (rows + 1) } : null;
  const { trace: labels, hidden, short } = roleTrace(g, labelled, cell, cellBox);
  gd._attnlabFit = { hidden, short, hover };
  roleLegend(fig, table, data.defs || null, gd._attnlabFit, state.ablate, sinkHidden(a));
  const gaps = anyMasked ? gapShapes(g, rows, cols) : [];
  const centre = (k) => k * tile + (n - 1) / 2;
  // "head 11" needs about 52 px (more in presenter mode, where the text is larger): narrower columns say "H11", which
  // fits where "head 11" was turned and cut at the plot's bottom (MiniLM's twelve heads in presenter mode)
  const perHead = ((gd.clientWidth || width) - margin.l - margin.r) / nH;
  const headName = (hd) => (nH > 12 ? `${hd}` : perHead >= 52 * textScale() ? `head ${hd}` : `H${hd}`);
  const drawing = draw(
    fig,
    [trace, labels],
    {
      height,
      plot_bgcolor: anyMasked ? GRID_MASKED : THEME.paper,
      xaxis: { tickmode: "array", tickvals: [...Array(nH).keys()].map(centre), ticktext: [...Array(nH).keys()].map(headName),
               range: [-1, cols], showgrid: false, zeroline: false, fixedrange: true, ticks: "", tickfont: { size: 11 } },
      yaxis: { tickmode: "array", tickvals: [...Array(nL).keys()].map(centre), ticktext: [...Array(nL).keys()].map((l) => (nL > 12 ? `L${l}` : `layer ${l}`)),
               range: [rows, -1], showgrid: false, zeroline: false, fixedrange: true, ticks: "", tickfont: { size: nL > 16 ? 9 : 11 } },
      shapes: gridShapes(g, state, gaps),
      margin,
      hovermode: "closest",
    },
    { name: `attention-grid-${a.model}`, csv: src.csv, json: src.json },
  );
  gd._attnlabGrid = g;
  gd._attnlabGaps = gaps;
  gd.tabIndex = 0;
  gd.setAttribute("role", "group");
  describe(gd, state);
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.addEventListener("keydown", (ev) => {
      const gr = gd._attnlabGrid;
      if (!gr || (ev.key !== "Enter" && ev.key !== " ") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      ev.preventDefault();
      emit(element, {}, { ablate: { layer: gr.layer, head: gr.head, modifier: true } });
    });
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      const gr = gd._attnlabGrid;
      if (!p || !gr) return;
      const layer = Math.floor(p.y / gr.tile);
      const head = Math.floor(p.x / gr.tile);
      if (layer < 0 || layer >= gr.nL || head < 0 || head >= gr.nH) return;
      const e = ev.event || {};
      const modifier = Boolean(e.shiftKey || e.altKey || e.ctrlKey || e.metaKey);
      emit(element, { layer, head }, { ablate: { layer, head, modifier } });
    });
  }
  return drawing;
}
