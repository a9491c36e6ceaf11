// Embeddings: one-hot vs dense similarity, token-token similarity at every depth (slider, cosine/dot),
// each token's path through the depths in 2-D, the nearest words, and a - b + c.
import {
  absMax, caption, changed, COLORS, DIVERGING, draw, emit, esc, h, matrixRows, numbersFit, panel, part, plainLabels,
  reason, setValue, textScale, tokenAxes, tokenHeatmap, WEIGHT_SCALE,
} from "../plot.js";
import { shownText } from "../derive.js";
import { sharedIdsNote } from "../tokentext.js";

const PALETTE = ["#1c7ed6", "#f08c00", "#2f9e44", "#ae3ec9", "#0c8599", "#e8590c", "#5c940d", "#d6336c", "#495057", "#3b5bdb"];

export const id = "embeddings";
export const sources = ["embeddings", "neighbors", "analogy"];

/** got: {embeddings, neighbors, analogy}; ctx: {state, token (the selected token)}. */
export function show(section, got, ctx) {
  const e = got.embeddings;
  const nb = got.neighbors;
  const an = got.analogy;
  const s = ctx.state;
  const deps = [e.data, e.error, nb.data, nb.error, an.data, an.error, ctx.token, s.depth, s.metric, s.word, s.a, s.b, s.c, s.expect];
  if (changed(section, deps.concat([ctx.model]))) {
    render(section, { emb: e.data, error: e.error, neighbors: nb, analogy: an }, { ...s, token: ctx.token, model: ctx.model });
  }
  return !(e.pending || nb.pending || an.pending);
}

function controls(element) {
  return part(element, "controls", () => {
    const metric = h("select", { name: "metric", "aria-label": "similarity measure" },
      h("option", { value: "cosine" }, "cosine"), h("option", { value: "dot" }, "dot product"));
    const depth = h("input", { type: "range", name: "depth", min: "0", max: "0", step: "1", value: "0", "aria-label": "depth" });
    const depthLabel = h("output", { class: "depth-label" });
    const box = h("div", { class: "controls" },
      h("label", {}, "Similarity ", metric),
      h("label", { class: "depth" }, "Depth ", depth, depthLabel));
    metric.addEventListener("change", () => emit(box, { metric: metric.value }));
    depth.addEventListener("input", () => emit(box, { depth: Number(depth.value) }));
    return box;
  });
}

/** The two token axes of a similarity heatmap `width` px wide and `height` px high (k: the presenter's text scale, 1
 * outside it): as many slanted labels as have room across (at most 36), as many as have room down (plot.js
 * tokenAxes), not all of them over each other; a thinned axis's title says which are labelled ("token (every 2nd)"),
 * and where it has no room for one the caption's `note` does ("Labelled: every 4th column; hover over a cell ..."). */
export function similarityAxes(width, height, tokens, k = 1) {
  return tokenAxes(width, tokens, height, tokens.length > 8, [], k, { most: 36, names: ["token", "token"], noted: ["column", "row"] });
}

/** A similarity heatmap in `fig` under the caption `words`, and the note on its labels (similarityAxes). */
function simHeatmap(fig, words, z, tokens, metric, name, meta) {
  const isCos = metric === "cosine" || metric === "onehot";
  const lim = isCos ? 1 : absMax(z);
  const n = tokens.length;
  const labels = plainLabels(tokens);
  const k = textScale();
  const height = Math.max(260, Math.min(520, n * 26 + 90));
  const { note, ...axes } = similarityAxes(fig.clientWidth || 600, height, tokens, k);
  caption(fig, words + note);
  draw(
    fig,
    [tokenHeatmap(z, tokens, {
      names: ["token", "and token"],
      zmin: metric === "onehot" ? 0 : -lim, zmax: lim, zmid: metric === "onehot" ? undefined : 0,
      colorscale: metric === "onehot" ? WEIGHT_SCALE : DIVERGING, label: metric === "dot" ? "dot" : "cosine",
      cellText: numbersFit(fig, n, 12, z),
    })],
    {
      height,
      ...axes,
      margin: { l: 70, r: 10, t: 10, b: 60 },
    },
    { name, csv: () => matrixRows("token\\token", labels, labels, z), json: { ...meta, tokens, metric, similarity: z } },
  );
}

/** The one-hot panel's caption: the same id scores 1, another 0, and which tokens are one id for different text. */
export function onehotCaption(tokens) {
  return "Each token as a vector with a single 1, at its id: two tokens score 1 where they are the same id, else 0." +
    sharedIdsNote(tokens, "they score 1");
}

/** The dense panel's caption (`label`: the input embedding's depth label; metric: cosine or dot). */
export function denseCaption(tokens, label, metric) {
  const same = metric === "dot" ? "the same vector" : "the same vector (cosine 1)";
  return `The learned input embedding (${label}), ${metric === "dot" ? "dot product" : "cosine"}: one vector per token id, so ` +
    `related tokens can be close, and the same id is ${same}.` + sharedIdsNote(tokens, `they are ${same}`);
}

/**
 * The depth panel's caption: what a block does to the vectors, by the model's norm placement (its summary's
 * `norm_placement`: "pre", GPT-2 and Llama style; "post", BERT style, each sum normalised).
 */
export function depthCaption(model) {
  const placement = model && model.norm_placement;
  if (placement === "post") {
    return "Move the slider: each block adds to every vector what its attention read from the other tokens and normalises " +
      "the sum (LayerNorm), then adds its MLP's output and normalises again.";
  }
  if (placement === "pre") {
    return "Move the slider: each block adds to every vector what its attention read from the other tokens (and its MLP's output).";
  }
  return "Move the slider: each block changes every vector by what its attention read from the other tokens and by its MLP.";
}

/** The nearest words' caption: the API leaves the word's own token (cosine 1) and the special tokens out of the list. */
export function neighborsCaption(r) {
  const word = `“${shownText(r.token)}”`;
  return `Input-embedding vectors nearest to ${word} (token id ${r.token.id}) by cosine, ${word} itself and the special tokens left out.`;
}

/** The analogy's caption: what is shown, and where the expected word ranks (the answer's own rank and cosine). */
export function analogyCaption(r) {
  const distinct = new Set([r.a.id, r.b.id, r.c.id]).size; // (the same word twice is one token left out)
  const out = distinct === 3 ? "the three left out" : distinct === 2 ? "the two left out" : "it left out";
  const what = `Nearest tokens to “${shownText(r.a)}” − “${shownText(r.b)}” + “${shownText(r.c)}” (${out}).`;
  const e = r.expected;
  if (!e) return r.expected_unavailable ? `${what} ${r.expected_unavailable}` : what;
  const word = `“${shownText(e.token)}”`;
  const where = e.rank === 1 ? `${word}, the word expected, is the nearest (cosine ${e.cosine.toFixed(3)})`
    : `${word}, the word expected, is at rank ${e.rank.toLocaleString("en")} of ${e.of.toLocaleString("en")} (cosine ` +
      `${e.cosine.toFixed(3)}; the nearest: ${r.neighbors[0].cosine.toFixed(3)})` +
      (e.rank <= r.neighbors.length ? ", its bar highlighted" : `, outside the ${r.neighbors.length} shown`);
  return `${what} ${where}.`;
}

function barList(fig, items, name, json, xTitle, mark = null) {
  const k = items.length;
  draw(
    fig,
    [{ type: "bar", orientation: "h", x: items.map((it) => it.cosine), y: items.map((_, i) => i),
       hovertext: items.map((it) => `${esc(shownText(it))} (id ${it.id})<br>cosine ${it.cosine}`), hoverinfo: "text",
       text: items.map((it) => it.cosine.toFixed(3)), textposition: "auto",
       marker: { color: items.map((it) => (it.id === mark ? COLORS.sel : COLORS.bar)) } }],
    {
      height: Math.max(200, k * 24 + 60),
      yaxis: { tickmode: "array", tickvals: items.map((_, i) => i), ticktext: items.map((it) => esc(it.display)), range: [k - 0.5, -0.5], automargin: true },
      xaxis: { title: { text: xTitle } },
      margin: { l: 90, r: 16, t: 10, b: 45 }, // (r: room for half the last tick label, larger in presenter mode)
    },
    { name, csv: () => [["rank", "id", "token", "cosine"], ...items.map((it, i) => [i + 1, it.id, it.display, it.cosine])], json },
  );
}

/**
 * data: {emb, error, neighbors: {data, error}, analogy: {data, error}, word}; state: {depth, metric, word, a, b, c, expect, token}.
 */
export function render(element, data, state) {
  const ctl = controls(element);
  const row1 = part(element, "row1", () => h("div", { class: "row2 plots-level captions-below" }));
  const row2 = part(element, "row2", () => h("div", { class: "row2 plots-level captions-below" }));
  const row3 = part(element, "row3", () => h("div", { class: "row2 plots-level forms-level" })); // (each panel under its form)
  const oneFig = panel(row1, "onehot", "One-hot vectors: token × token");
  const denseFig = panel(row1, "dense", "Dense embeddings: token × token");
  const depthFig = panel(row2, "depth", "Similarity at a depth");
  const pathFig = panel(row2, "paths", "Each token's path through the depths");
  const nbCol = part(row3, "nbcol", () => h("div", { class: "col" }));
  const anCol = part(row3, "ancol", () => h("div", { class: "col" }));
  const nbForm = part(nbCol, "nbform", () => {
    const input = h("input", { type: "text", name: "word", placeholder: "empty = selected token", maxlength: "100", "aria-label": "word", autocomplete: "off", spellcheck: "false" });
    const form = h("form", { class: "controls inline-form" }, h("label", {}, "Nearest words to ", input), h("button", { type: "submit" }, "Find"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      emit(form, { word: input.value.trim() });
    });
    return form;
  });
  const nbFig = panel(nbCol, "neighbors", "Nearest words");
  const anForm = part(anCol, "anform", () => {
    const mk = (name, label) => h("input", { type: "text", name, maxlength: "100", "aria-label": label, autocomplete: "off", spellcheck: "false", size: "8" });
    const a = mk("a", "a");
    const b = mk("b", "b");
    const c = mk("c", "c");
    const expect = mk("expect", "the word you expect (optional): its rank is shown");
    expect.placeholder = "expected?";
    expect.title = "the word you expect a − b + c to be near (optional): the caption says where it ranks";
    // each operator stays with the box after it, so that a narrow row breaks between terms, not after a sign
    const term = (sign, box) => h("span", { class: "term" }, h("span", {}, sign), box);
    const form = h("form", { class: "controls inline-form" }, h("span", { class: "term" }, h("span", {}, "Analogy:"), a),
      term("−", b), term("+", c), term("≈", expect), h("button", { type: "submit" }, "Find"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      emit(form, { a: a.value.trim(), b: b.value.trim(), c: c.value.trim(), expect: expect.value.trim() });
    });
    return form;
  });
  const anFig = panel(anCol, "analogy", "a − b + c");

  setValue(nbForm.querySelector("input"), state.word);
  for (const k of ["a", "b", "c", "expect"]) setValue(anForm.querySelector(`input[name=${k}]`), state[k]);

  // neighbours and analogy do not depend on the sentence
  const nb = data && data.neighbors;
  // (a refused word leaves no caption of the word before it)
  if (nb && nb.error) {
    caption(nbFig, "");
    reason(nbFig, nb.error);
  } else if (nb && nb.data && changed(nbFig, [nb.data])) {
    const r = nb.data;
    caption(nbFig, neighborsCaption(r));
    barList(nbFig, r.neighbors, `neighbors-${r.model}-${r.word}`, r, "cosine");
  }
  const an = data && data.analogy;
  if (an && an.error) {
    caption(anFig, "");
    reason(anFig, an.error);
  } else if (an && an.data && changed(anFig, [an.data])) {
    const r = an.data;
    caption(anFig, analogyCaption(r));
    barList(anFig, r.neighbors, `analogy-${r.model}-${r.a.text}-${r.b.text}-${r.c.text}`, r, "cosine", r.expected && r.expected.token.id);
  }

  if (data && data.error) {
    for (const f of [oneFig, denseFig, depthFig, pathFig]) reason(f, data.error);
    return;
  }
  const e = data && data.emb;
  if (!e) return;
  const tokens = e.tokens;
  const metric = state.metric;
  const meta = { model: e.model, interventions: e.interventions };

  const metricSel = ctl.querySelector("select[name=metric]");
  setValue(metricSel, metric);
  const range = ctl.querySelector("input[name=depth]");
  const last = e.layers.length - 1;
  const depth = state.depth === null || state.depth > last ? last : state.depth;
  range.max = String(last);
  setValue(range, depth);
  ctl.querySelector(".depth-label").textContent = `${depth}: ${e.layers[depth].label}`;

  // (each caption set with its plot: it says which tokens the plot labels where an axis has no room for a title)
  if (changed(oneFig, [e])) {
    simHeatmap(oneFig, onehotCaption(tokens), e.onehot.cosine, tokens, "onehot", `similarity-onehot-${e.model}`, { ...meta, label: e.onehot.label });
  }
  const dense = e.layers[0];
  if (changed(denseFig, [e, metric])) {
    simHeatmap(denseFig, denseCaption(tokens, dense.label, metric), dense[metric], tokens, metric, `similarity-${e.model}-${dense.label}-${metric}`,
      { ...meta, label: dense.label });
  }

  const layer = e.layers[depth];
  depthFig.querySelector(".panel-title").textContent = `Similarity at depth ${depth}: ${layer.label}`;
  if (changed(depthFig, [e, depth, metric, state.model])) {
    simHeatmap(depthFig, depthCaption(state.model), layer[metric], tokens, metric, `similarity-${e.model}-${layer.label}-${metric}`,
      { ...meta, label: layer.label });
  }

  // paths
  if (!changed(pathFig, [e, state.token])) return;
  const sel = state.token;
  const n = tokens.length;
  const traces = e.paths.map((path, i) => {
    const color = i === sel ? COLORS.sel : PALETTE[i % PALETTE.length];
    return {
      type: "scatter", mode: "lines+markers+text", name: `${i} ${esc(shownText(tokens[i]))}`,
      x: path.map((p) => p[0]), y: path.map((p) => p[1]),
      text: path.map((_, d) => (d === path.length - 1 ? esc(shownText(tokens[i])) : "")), textposition: "top center",
      textfont: { color, size: i === sel ? 13 : 11 },
      hovertext: path.map((p, d) => `${i} “${esc(shownText(tokens[i]))}”<br>${esc(e.path_labels[d])}`), hoverinfo: "text",
      line: { color, width: i === sel ? 4 : 1.5 }, opacity: sel === null || sel === undefined || i === sel ? 1 : 0.55,
      marker: { color, size: path.map((_, d) => (d === 0 ? 6 : d === path.length - 1 ? 10 : 5)), symbol: path.map((_, d) => (d === path.length - 1 ? "circle" : "circle-open")) },
      showlegend: n <= 14,
    };
  });
  caption(pathFig, `Open circles: ${e.path_labels[0]} → … → filled circle: ${e.path_labels[e.path_labels.length - 1]}. Axes: the two main directions of all these vectors (unit length).`);
  const pct = (v) => `${(v * 100).toFixed(1)}%`;
  const rows = () => {
    const labels = plainLabels(tokens);
    const out = [["token", "depth", "label", "x", "y"]];
    e.paths.forEach((path, i) => path.forEach((p, d) => out.push([labels[i], d, e.path_labels[d], p[0], p[1]])));
    return out;
  };
  draw(pathFig, traces, {
    height: 460, hovermode: "closest",
    // (automargin: each title clear of its tick labels; in presenter mode "axis 2" ran over "−0.2")
    xaxis: { title: { text: `axis 1 (${pct(e.explained[0])} of the variance)` }, zeroline: false, automargin: true },
    yaxis: { title: { text: `axis 2 (${pct(e.explained[1])})` }, zeroline: false, automargin: true },
    legend: { font: { size: 10 } },
    margin: { l: 60, r: 10, t: 10, b: 50 },
  }, { name: `paths-${e.model}`, csv: rows, json: { ...meta, tokens, paths: e.paths, path_labels: e.path_labels, explained: e.explained } });
}
