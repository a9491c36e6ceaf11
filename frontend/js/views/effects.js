// Beyond attention: the selected head's raw attention beside what it moves (‖α·v·W_O‖, Kobayashi et al., 2020), the
// same for its whole layer, attention rollout through the model (Abnar and Zuidema, 2020), and the measured effect
// of ablating each head on the chosen token's probability (one forward pass per head, asked for a layer at a time:
// on a large model only when the user asks, with a progress bar and a Stop button). Captions: the API's, one
// sentence each. Every number is the API's (POST /api/attribution/attention, carried by the view's /api/analyze, and
// /api/attribution/ablation).
import { count, keptCells, keptOf, keptPosition, probText, temperatureElsewhere } from "../derive.js";
import { ablationAlways } from "../sources.js";
import {
  absMax, caption, changed, COLORS, DIVERGING, draw, emit, h, hiddenNote, maskedBackground, MASKED_COLOR, matrixRows, numbersFit, panel,
  part, plainLabels, patternAxes, reason, textScale, tokenHeatmap, WEIGHT_SCALE,
} from "../plot.js";

export const id = "effects";
export const sources = ["attnattr", "ablation"];

/** got: {attnattr, ablation}; ctx: {state, model}. */
export function show(section, got, ctx) {
  const a = got.attnattr;
  const b = got.ablation;
  const items = Array.isArray(b.data) ? b.data : [];
  const deps = [a.data, a.error, b.unavailable, b.error, b.data === null, ...items.flatMap((x) => [x.data, x.error, x.current]), ctx.state.layer, ctx.state.head, ctx.state.measure, ctx.state.temp, ctx.query, ctx.model, ctx.state.hidespecial];
  if (changed(section, deps)) render(section, { attn: a.data, attnError: a.error, ablation: b, model: ctx.model }, { ...ctx.state, token: ctx.query ?? null });
  return !a.pending && !b.pending;
}

/** A subsection, made once; its title set on every call (it names the selected layer and head). */
function sec(element, key, title) {
  const node = part(element, key, () => h("section", { class: "subsection" }, h("h3"), h("p", { class: "intro" })));
  node.querySelector(":scope > h3").textContent = title;
  return node;
}

/**
 * The whole layer's three panels, three to a row, and their titles: short enough for one line beside the export
 * buttons, as the Q/K/V view's (qkv.js matrixTitles, at most 27 characters), and in presenter mode at 1280x720.
 * "Layer 0: attention, mean of the heads" took two lines there and put its plot below the other two; that it is
 * every head averaged is its caption.
 */
export function layerTitles(layer) {
  return [["lraw", `Layer ${layer}: mean attention`], ["lvw", `Layer ${layer}: ‖Σ α·v·W_O‖`], ["rollout", "Rollout through every layer"]];
}

/** z: a [query][key] matrix of the answer r; max: the colours' top (null: the largest value drawn); sel: the selected
 * query (its API index); kept: what is drawn of r's tokens (derive.js keptOf: special tokens hidden or not); sums: each
 * row of z sums to 1 (an attention pattern), which the caption of a plot without the special tokens takes back. */
function matrixPanel(parent, key, title, all, r, { note, max = 1, name, sel, kept, sums = true }) {
  const fig = panel(parent, key, title);
  const { keep, tokens, hidden } = kept;
  const k = textScale();
  const width = fig.clientWidth || 400;
  const at = keptPosition(keep, sel);
  const { note: untitled, ...axes } = patternAxes(width, tokens, k, at);
  // (an axis too narrow for the title saying which tokens it labels has it said in the caption, as Compare's)
  caption(fig, note + untitled + hiddenNote({ hidden }, sums));
  const z = keptCells(all, keep);
  if (max === null) max = absMax(z);
  const n = tokens.length;
  const masked = r.causal ? (i, j) => j > i : null;
  draw(fig,
    [tokenHeatmap(z, tokens, { masked, zmin: 0, zmax: max, colorscale: WEIGHT_SCALE, label: "value", cellText: numbersFit(fig, n, 10, z) })],
    { ...axes, plot_bgcolor: MASKED_COLOR, images: r.causal ? [maskedBackground()] : [],
      margin: { l: 60, r: 6, t: 6, b: 55 } },
    { name, csv: () => matrixRows("query\\key", plainLabels(tokens), plainLabels(tokens), z), json: { model: r.model, interventions: r.interventions, layer: r.layer, head: r.head, tokens, values: z } });
  return fig;
}

function attentionPart(element, data, state) {
  const head = sec(element, "head", `Layer ${state.layer}, head ${state.head}: attention beside what it moves`);
  const whole = sec(element, "whole", `Layer ${state.layer} and the whole model`);
  // (each caption under its plot: Rollout's, eight lines beside one, put the row's other plots far below their titles)
  const row1 = part(head, "row", () => h("div", { class: "row2 plots-level captions-below" }));
  const row2 = part(whole, "row", () => h("div", { class: "row3 plots-level captions-below" }));
  const titles = [[row1, "raw", "Raw attention"], [row1, "vw", "‖α·v·W_O‖: what the head moves"],
    ...layerTitles(state.layer).map(([key, title]) => [row2, key, title])];
  for (const [row, key, title] of titles) panel(row, key, title);
  if (data.attnError) {
    for (const [row, key, title] of titles) reason(panel(row, key, title), data.attnError);
    return;
  }
  const r = data.attn;
  if (!r || r.layer !== state.layer || r.head !== state.head) return;
  const c = r.captions;
  // ablated heads (their output is zero): the layer's mean and the rollout leave them out, as the API does
  const off = r.interventions.ablate.filter(([l]) => l === r.layer).map(([, hd]) => hd);
  const nHeads = data.model ? data.model.n_heads : null;
  const anyOff = r.interventions.ablate.length > 0;
  head.querySelector(".intro").textContent = off.includes(r.head)
    ? `Head ${r.head} is ablated: its output is set to zero, so what it attends to moves nothing (its weights are still computed).` : "";
  whole.querySelector(".intro").textContent = `Rollout mixes in the residual connection with weight ${r.residual}: each layer is (1 − ${r.residual})·A + ${r.residual}·I, `
    + (anyOff ? "A the mean of its heads that are not ablated (I where all are)." : "A the mean of its heads.");
  const tag = `${r.model}-L${r.layer}-H${r.head}`;
  const lnote = !off.length ? "Every head of the layer, averaged."
    : off.length === nHeads ? "Every head of this layer is ablated: it moves nothing (shown as zero)."
      : `The layer's heads that are not ablated, averaged (${off.length} ablated left out: ${off.length > 1 ? "heads" : "head"} ${off.join(", ")}).`;
  // special tokens hidden: their rows and columns left out of every plot, as the Attention view's heatmap does
  const kept = keptOf(r.tokens, state.hidespecial);
  const sel = state.token;
  matrixPanel(row1, "raw", titles[0][2], r.raw, r, { note: c.raw, name: `attention-raw-${tag}`, sel, kept });
  matrixPanel(row1, "vw", titles[1][2], r.value_weighted, r, { note: c.value_weighted, max: null, name: `value-weighted-${tag}`, sel, kept, sums: false });
  matrixPanel(row2, "lraw", titles[2][2], r.layer_raw, r, { note: lnote, name: `attention-layer-${tag}`, sel, kept });
  matrixPanel(row2, "lvw", titles[3][2], r.layer_value_weighted, r, { note: "What the whole layer moves from each key.", max: null, name: `value-weighted-layer-${tag}`, sel, kept, sums: false });
  matrixPanel(row2, "rollout", titles[4][2], r.rollout, r, { note: c.rollout, name: `rollout-${r.model}`, sel, kept });
}

/** The ablation source's items -> {done, total, effects [layer][head] of the answers in, first answer}. */
export function ablationProgress(items, nLayers) {
  const effects = Array.from({ length: nLayers }, () => null);
  let done = 0;
  let first = null;
  let error = null;
  let passes = 0; // the ablated runs the answers asked for (a head ablated already needs none: its cell is the run itself)
  let reused = 0; // of those, the runs the server had kept: not computed again
  for (const x of items) {
    if (x.error) error = error || x.error;
    if (!x.current || !x.data) continue;
    done++;
    first = first || x.data;
    passes += x.data.passes;
    reused += x.data.reused || 0;
    x.data.layers.forEach((l, i) => { effects[l] = x.data.effects[i]; });
  }
  return { done, total: items.length, effects, first, error, passes, reused };
}

/** The note once every layer is measured: the forward passes computed, the runs kept from before, the heads skipped. */
export function measureNote(p, heads) {
  const computed = p.passes - p.reused;
  const already = heads - p.passes; // heads ablated before: their cells needed no pass
  const kept = p.reused ? `, ${count(p.reused, "run")} kept from before` : "";
  return `${heads} heads, ${count(computed, "forward pass", "forward passes")}${kept}` +
    (already ? ` (${already} already ablated: ${already > 1 ? "their cells are" : "its cell is"} left blank, as ablating a head again changes nothing).` : ".");
}

function ablationPart(element, data, state) {
  const m = data.model;
  const s = sec(element, "ablation", "Measured: the effect of ablating each head");
  const bar = part(s, "measure", () => {
    const box = h("div", { class: "measure" },
      h("button", { type: "button", name: "measure" }, "Measure"),
      h("progress", { max: "1", value: "0" }),
      h("span", { class: "measure-note", role: "status" }));
    box.querySelector("button").addEventListener("click", () => emit(box, { measure: box.dataset.on !== "1" }));
    return box;
  });
  const fig = panel(s, "effects", "Change in the token's probability with the head ablated");
  const b = data.ablation;
  const always = ablationAlways(m);
  const btn = bar.querySelector("button");
  const prog = bar.querySelector("progress");
  const note = bar.querySelector(".measure-note");
  if (b.unavailable || (b.error && !Array.isArray(b.data))) {
    bar.hidden = true;
    caption(fig, ""); // (a caption of the heatmap drawn before, another sentence's)
    reason(fig, b.unavailable || b.error);
    return;
  }
  bar.hidden = false;
  const heads = m.n_layers * m.n_heads;
  const items = Array.isArray(b.data) ? b.data : [];
  const p = ablationProgress(items, m.n_layers);
  const measuring = always || Boolean(state.measure);
  if (!measuring && p.done === 0 && !b.pending) {
    // a large model, not asked yet
    bar.dataset.on = "0";
    btn.hidden = false;
    // a head ablated already needs no pass of its own (its cell is the run as it is)
    const off = new Set((state.ablate || []).filter(([l, h]) => l < m.n_layers && h < m.n_heads).map(([l, h]) => `${l}.${h}`)).size;
    const need = heads - off;
    btn.textContent = `Measure all ${heads} heads (${count(need, "forward pass", "forward passes")}, a layer at a time)`;
    btn.title = "";
    prog.hidden = true;
    note.textContent = "";
    caption(fig, "");
    reason(fig, "Not measured yet: each head needs a forward pass of its own.");
    return;
  }
  const stopped = !measuring && p.done < p.total; // the layers measured before Stop stay; the rest on request
  bar.dataset.on = measuring ? "1" : "0";
  btn.hidden = always || p.done === p.total; // measured: nothing to stop
  btn.textContent = stopped ? `Measure the other ${count(p.total - p.done, "layer")}` : "Stop";
  btn.title = stopped ? "" : "Stop measuring (the layers measured so far stay)";
  prog.hidden = p.done === p.total;
  prog.max = p.total || 1;
  prog.value = p.done;
  note.textContent = p.error ? p.error
    : stopped ? `Stopped: ${p.done} of ${count(p.total, "layer")} measured.`
      : p.done < p.total ? `${p.done} of ${count(p.total, "layer")} measured…` : measureNote(p, heads);
  if (!p.first) return;
  const L = m.n_layers;
  const H = m.n_heads;
  // a head ablated before has no cell: switching it off again changes nothing by construction, which a 0.000 would
  // show as a head that does not matter
  const z = p.effects.map((row) => (row ? row.map((e) => (e.already_ablated ? null : e.delta_prob)) : Array(H).fill(null)));
  const lim = absMax(z);
  const t = p.first.token;
  // (the colours say the opposite of the attribution view's, where blue is a head that helps: said here)
  caption(fig, `${p.first.caption} Orange: lower without the head (it helped the token); blue: higher (it held the token back).`);
  // (the probability as the run is, then what each cell shows: "Change in p(x) = 0.48" read as a change of 0.48)
  const temp = temperatureElsewhere(state) ? " (at temperature 1)" : ""; // (the slider is the predictions view's)
  // the position explained, where it is not the last (the query token chosen): "p(“␣down”) after “␣sat”"
  const at = p.first.tokens && p.first.position < p.first.tokens.length - 1 ? ` after “${p.first.tokens[p.first.position].display}” (token ${p.first.position})` : "";
  // (the API's 4 decimals, written as the lens writes them: a 0 read "is 0", a probability of none)
  fig.querySelector(".panel-title").textContent = `p(“${t.display}”)${at} is ${probText(t.prob, { decimals: 4 })}${temp}: its change with each head ablated`;
  const hover = p.effects.map((row, l) => (row ? row.map((e) => (e.already_ablated
    ? `layer ${l}, head ${e.head}<br>already ablated in this run: not measured (off again, it changes nothing)`
    : `layer ${l}, head ${e.head}<br>p = ${e.prob} (${e.delta_prob >= 0 ? "+" : ""}${e.delta_prob})`)) : Array(H).fill(`layer ${l}: not measured yet`)));
  const xs = [...Array(H).keys()];
  const ys = [...Array(L).keys()];
  draw(fig,
    [{ type: "heatmap", z, x: xs, y: ys, zmin: -lim, zmax: lim, zmid: 0, colorscale: DIVERGING, customdata: hover, hovertemplate: "%{customdata}<extra></extra>",
       xgap: 1, ygap: 1, texttemplate: L * H <= 64 ? "%{z:.3f}" : "", colorbar: { thickness: 10, outlinewidth: 0 } }],
    { height: Math.max(220, L * (L > 12 ? 16 : 40) + 90), plot_bgcolor: MASKED_COLOR,
      xaxis: { title: { text: "head" }, tickmode: "array", tickvals: xs, showgrid: false, zeroline: false },
      yaxis: { title: { text: "layer" }, tickmode: "array", tickvals: ys, range: [L - 0.5, -0.5], showgrid: false, zeroline: false },
      shapes: [{ type: "rect", x0: state.head - 0.5, x1: state.head + 0.5, y0: state.layer - 0.5, y1: state.layer + 0.5, line: { color: COLORS.sel, width: 2.5 } }],
      margin: { l: 50, r: 10, t: 10, b: 45 } },
    { name: `ablation-${m.name}-pos${p.first.position}-tok${t.id}`, csv: () => matrixRows("layer\\head", ys, xs, z), json: items.map((x) => x.data).filter(Boolean) });
  const gd = fig.querySelector(".plot");
  // (again after each draw: a plot that showed a reason was purged, listeners and all)
  if (gd.removeAllListeners) gd.removeAllListeners("plotly_click");
  {
    gd.on("plotly_click", (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (pt && Number.isInteger(pt.x) && Number.isInteger(pt.y)) emit(fig, { layer: pt.y, head: pt.x }, { history: "push" });
    });
  }
}

/** data: {attn, attnError, ablation: {data, error, unavailable, pending}, model}; state: {layer, head, measure}. */
export function render(element, data, state) {
  attentionPart(element, data, state);
  ablationPart(element, data, state);
}
