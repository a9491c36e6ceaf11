// Token-to-token links (like BertViz): queries on the left, keys on the right, line opacity and
// thickness = weight; the selected query's links drawn on top in another colour.
import {
  caption, COLORS, draw, emit, esc, h, hiddenNote, panel, plainLabels, plotOf, selectedPattern, tokenIndex, tokenLabel,
} from "../plot.js";
import { shownText } from "../derive.js";
import { headColor, overlayHeads, toggleOverlay } from "../roles.js";

const MAX_LINKS = 1500;

/**
 * The head chips above the links (as BertViz's head view): one per head of the layer, in its colour; a click adds
 * the head to the links drawn or takes it out.
 */
function chips(fig, nH, state) {
  let box = fig.querySelector(":scope > .head-chips");
  if (!box) {
    box = h("div", { class: "head-chips", role: "group", "aria-label": "heads drawn together" });
    fig.insertBefore(box, fig.querySelector(".plot"));
    box.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-head]");
      if (!btn || !box._state) return;
      const { st, n } = box._state;
      if (btn.dataset.head === "all") emit(box, { overlay: [...Array(n).keys()] });
      else if (btn.dataset.head === "one") emit(box, { overlay: [] });
      else emit(box, { overlay: toggleOverlay(st, n, Number(btn.dataset.head)) });
    });
  }
  box._state = { st: state, n: nH };
  const shown = overlayHeads(state, nH);
  const buttons = [h("span", { class: "label" }, "Heads:")];
  for (let hd = 0; hd < nH; hd++) {
    const on = shown.includes(hd);
    const sw = h("span", { class: "swatch" });
    sw.style.background = headColor(hd);
    buttons.push(h("button", { type: "button", class: "head-chip small", "aria-pressed": on ? "true" : "false", dataset: { head: String(hd) },
      title: on ? `head ${hd} is drawn: click to leave it out` : `draw head ${hd} too, in its colour` }, sw, `H${hd}`));
  }
  buttons.push(h("button", { type: "button", class: "small", dataset: { head: "all" }, title: "draw every head of this layer" }, "all"));
  if (shown.length > 1 || shown[0] !== state.head) {
    buttons.push(h("button", { type: "button", class: "small", dataset: { head: "one" }, title: "back to the selected head alone" }, "selected only"));
  }
  box.replaceChildren(...buttons);
  return shown;
}

/** data: {analyze}; state: {layer, head, token, overlay}. */
export function render(element, data, state) {
  const a0 = data && data.analyze;
  const shownHeads = a0 ? overlayHeads(state, a0.n_heads) : [state.head];
  const several = shownHeads.length > 1 || shownHeads[0] !== state.head;
  const fig = panel(element, "lines", several ? `Links · layer ${state.layer} · heads ${shownHeads.join(", ")}` : `Links · layer ${state.layer} · head ${state.head}`);
  const a = data && data.analyze;
  if (!a) return undefined;
  chips(fig, a.n_heads, state);
  if (several) return renderSeveral(fig, a, state, shownHeads);
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
  const names = labels(tokens, fontSize, sel);
  const left = {
    type: "scatter", mode: "markers+text", x: tokens.map(() => 0), y: tokens.map((_, i) => i),
    text: names, textposition: "middle left", customdata: tokens.map((_, i) => tokenIndex(tokens, i)),
    hovertext: tokens.map((_, i) => `query ${tokenLabel(tokens, i)}`), hoverinfo: "text",
    marker: { size: 7, color: tokens.map((_, i) => (i === sel ? COLORS.sel : COLORS.link)) },
    textfont: { size: fontSize, color: tokens.map((_, i) => (i === sel ? COLORS.sel : COLORS.text)) },
    showlegend: false, cliponaxis: false,
  };
  const right = {
    type: "scatter", mode: "markers+text", x: tokens.map(() => 1), y: tokens.map((_, i) => i),
    text: names, textposition: "middle right", customdata: tokens.map((_, i) => tokenIndex(tokens, i)),
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
    linksLayout(n, fontSize, shapes),
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
  clickable(fig);
  return drawing;
}

/**
 * Several heads of one layer at once, each in its colour (theme.json heads.palette): every link faint, the selected
 * query's links strong; each head's lines end a little apart at the key so that equal links stay visible.
 */
function renderSeveral(fig, a, state, heads) {
  const layer = a.attention[state.layer];
  if (!layer) return selectedPattern(fig, a, state) && undefined;
  const tokens = a.tokens;
  const n = tokens.length;
  const sel = state.token;
  caption(fig, "Left: the query; right: the key. One colour per head (the chips above); thicker, darker line = more weight; " +
    "the selected query's links are drawn strong. Click a token on the left to select it." + hiddenNote(a));
  const shapes = [];
  const spread = heads.length > 1 ? Math.min(0.3, 0.6 / heads.length) : 0;
  const budget = Math.max(100, Math.floor(MAX_LINKS / heads.length));
  heads.forEach((hd, at) => {
    const p = layer[hd];
    if (!p) return;
    const color = headColor(hd);
    const dy = (at - (heads.length - 1) / 2) * spread;
    const faint = [];
    for (let q = 0; q < n; q++) {
      for (let k = 0; k < n; k++) {
        const w = p[q][k];
        if (!(w > 0.005)) continue;
        if (q === sel) shapes.push({ type: "line", x0: 0, y0: q, x1: 1, y1: k + dy, layer: "below", name: `head-${hd}`,
          line: { color, width: 1 + 6 * w }, opacity: Math.max(0.25, Math.min(1, 0.3 + w)) });
        else faint.push([q, k, w]);
      }
    }
    faint.sort((x, y) => y[2] - x[2]);
    for (const [q, k, w] of faint.slice(0, budget)) {
      shapes.push({ type: "line", x0: 0, y0: q, x1: 1, y1: k + dy, layer: "below", name: `head-${hd}`,
        line: { color, width: 0.5 + 3 * w }, opacity: Math.max(0.03, w * 0.3) });
    }
  });
  const fontSize = n > 40 ? 9 : n > 20 ? 11 : 13;
  const names = labels(tokens, fontSize, sel);
  const side = (x, where, hover) => ({
    type: "scatter", mode: "markers+text", x: tokens.map(() => x), y: tokens.map((_, i) => i),
    text: names, textposition: where, customdata: tokens.map((_, i) => tokenIndex(tokens, i)),
    hovertext: tokens.map((_, i) => hover(i)), hoverinfo: "text",
    marker: { size: 7, color: tokens.map((_, i) => (x === 0 && i === sel ? COLORS.sel : COLORS.link)) },
    textfont: { size: fontSize, color: tokens.map((_, i) => (x === 0 && i === sel ? COLORS.sel : COLORS.text)) },
    showlegend: false, cliponaxis: false,
  });
  const left = side(0, "middle left", (i) => `query ${tokenLabel(tokens, i)}`);
  const right = side(1, "middle right", (k) => `key ${tokenLabel(tokens, k)}` + (sel !== null && sel < n
    ? heads.map((hd) => (layer[hd] ? `<br>head ${hd}: ${layer[hd][sel][k]}` : "")).join("") : ""));
  const links = () => {
    const out = [];
    for (const hd of heads) for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) if (layer[hd] && layer[hd][q][k] > 0) out.push([hd, q, k, layer[hd][q][k]]);
    return out;
  };
  const drawing = draw(
    fig,
    [left, right],
    linksLayout(n, fontSize, shapes),
    {
      name: `links-${a.model}-L${state.layer}-H${heads.join("+")}`,
      csv: () => {
        const labels = plainLabels(tokens);
        return [["head", "query", "key", "weight"], ...links().map(([hd, q, k, w]) => [hd, labels[q], labels[k], w])];
      },
      json: () => ({ model: a.model, layer: state.layer, heads, tokens,
                     links: links().map(([hd, q, k, w]) => ({ head: hd, query: tokenIndex(tokens, q), key: tokenIndex(tokens, k), weight: w })) }),
    },
  );
  clickable(fig);
  return drawing;
}

function clickable(fig) {
  const gd = plotOf(fig);
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && p.curveNumber === 0 && Number.isInteger(p.customdata)) emit(fig, { token: p.customdata });
    });
  }
}

const linksHeight = (n, fontSize) => Math.max(260, Math.min(1400, n * (fontSize + 11) + 40));

/**
 * The tokens' names beside their dots: every one where a row has room for its text, else every k-th (and the
 * selected query) so that no two overlap (a text past the trained length has hundreds of rows); hover names all.
 */
function labels(tokens, fontSize, sel) {
  const n = tokens.length;
  const row = (linksHeight(n, fontSize) - 20) / Math.max(1, n); // px per token
  const step = row >= fontSize + 1 ? 1 : Math.ceil((fontSize + 1) / row);
  const near = (i) => sel !== null && i !== sel && Math.abs(i - sel) < step; // (the selected query's name goes first)
  return tokens.map((t, i) => ((i % step === 0 && !near(i)) || i === sel ? esc(shownText(t)) : ""));
}

/** The layout of a Links figure: queries on the left, keys on the right, one row per token. */
function linksLayout(n, fontSize, shapes) {
  return {
    height: linksHeight(n, fontSize),
    xaxis: { range: [-0.9, 1.9], visible: false, fixedrange: true },
    yaxis: { range: [n - 0.4, -0.6], visible: false, fixedrange: true },
    shapes,
    margin: { l: 10, r: 10, t: 10, b: 10 },
    hovermode: "closest",
  };
}
