// Positional encoding: the encoding and position-position similarity; the selected head with positions
// normal, removed and shuffled (and the differences); the four-term split of layer 0's scores; and the
// models of the current model's family (the same but for the positional scheme) on the same sentence.
import { count, keptCells, keptIndices, keptOf, keptPosition, maskOf, masksAny, shownText, similarityCaption } from "../derive.js";
import { schemeWords } from "../labrun.js";
import {
  absMax, caption, changed, DIVERGING, draw, emit, fmt, h, hiddenNote, interventionsCaption, keyLabelsFit, maskedBackground, MASKED_COLOR,
  matrixRows, numbersFit, panel, part, patternAxes, plainLabels, presenting, queryLabelsFit, reason, selectedLabels, setValue, termLabelsNote, textScale,
  THEME, tickIndices, tickSize, tickStep, tokenAxis, tokenHeatmap, WEIGHT_SCALE,
} from "../plot.js";

export const id = "positional";
export const sources = ["positional", "removed", "shuffled", "decompose", "family", "scheme"];

/** got: {positional, removed, shuffled, decompose, family} of the data layer; ctx: {state, model}. */
export function show(section, got, ctx) {
  const deps = [got.positional.data, got.positional.error, got.positional.unavailable, got.removed.data, got.removed.error,
    got.shuffled.data, got.shuffled.error, got.decompose.data, got.decompose.error, got.decompose.unavailable,
    ...(got.family.data || []).flatMap((m) => [m.data, m.error]), got.family.error, ctx.state.layer, ctx.state.head, ctx.state.pn, ctx.state.positions, ctx.query, ctx.model,
    ctx.state.hidespecial,
    got.scheme.data, got.scheme.error];
  if (changed(section, deps)) {
    render(section, {
      current: ctx.model.name,
      positional: ctx.model.positional,
      limits: { max_tokens: ctx.model.max_tokens, max_tokens_beyond: ctx.model.max_tokens_beyond, trained_tokens: ctx.model.trained_tokens },
      causal: ctx.model.kind === "causal",
      encoding: got.positional,
      compare: { removed: got.removed, shuffled: got.shuffled },
      decompose: { ...got.decompose, unavailable: got.decompose.unavailable },
      models: got.family.data || [],
      family: got.family.family || null,
      familyError: got.family.error,
      scheme: got.scheme,
    }, { ...ctx.state, token: ctx.query ?? null });
  }
  return ![got.positional, got.removed, got.shuffled, got.decompose, got.family, got.scheme].some((v) => v.pending);
}

const N_CHOICES = [16, 32, 64, 128, 256, 512];

/** A subsection with its title and intro (both set on every draw: they follow the model). */
function section(element, key, title, intro) {
  const sec = part(element, key, () => h("section", { class: "subsection" }, h("h3"), h("p", { class: "intro" })));
  sec.querySelector("h3").textContent = title;
  sec.querySelector(".intro").textContent = intro;
  return sec;
}

/** answer: the API answer the pattern comes from (its `visible` is the mask); json: the export's fields besides the
 * tokens and the matrix drawn, which it adds (`weights`, or `difference` where diff); sel: the selected query (its API index),
 * labelled whatever the step (null: none), as Beyond attention keeps it; hide: the page's "hide special tokens" (their
 * rows and columns left out, as the Attention view's heatmap does, and the caption says so). */
function patternPanel(parent, key, title, all, allTokens, { answer, diff = false, name, json, note, sel = null, hide = false }) {
  const fig = panel(parent, key, title);
  const { keep, tokens, hidden } = keptOf(allTokens, hide);
  const z = keptCells(all, keep);
  const at = keptPosition(keep, sel);
  const width = fig.clientWidth || 400;
  // an axis that labels every k-th token without a title to say so (a narrow panel: the five models' strip) has it
  // said in the caption
  const { note: untitled, ...axes } = patternAxes(width, tokens, textScale(), at);
  caption(fig, (note || "") + untitled + hiddenNote({ hidden }, !diff));
  const masked = maskOf(answer, keep);
  if (!changed(fig, [z, tokens, (answer.visible || []).join(","), diff, at, untitled])) return fig;
  const n = tokens.length;
  const lim = diff ? absMax(z) : 1;
  const labels = plainLabels(tokens);
  draw(
    fig,
    [tokenHeatmap(z, tokens, {
      masked, zmin: diff ? -lim : 0, zmax: lim, zmid: diff ? 0 : undefined,
      colorscale: diff ? DIVERGING : WEIGHT_SCALE, label: diff ? "difference" : "weight", cellText: numbersFit(fig, n, 10),
    })],
    {
      ...axes,
      plot_bgcolor: MASKED_COLOR,
      images: masksAny(answer) ? [maskedBackground()] : [],
      margin: { l: 60, r: 6, t: 6, b: 55 },
    },
    // (the export holds what is drawn: the tokens kept and their rows and columns, as the CSV)
    { name, csv: () => matrixRows("query\\key", labels, labels, z), json: { ...json, tokens, [diff ? "difference" : "weights"]: z } },
  );
  return fig;
}

/** The encoding section's title and intro for the model's positional scheme (what its plots or its message show). */
function encodingWords(data) {
  const alibi = data.scheme && data.scheme.data && data.scheme.data.alibi;
  if (alibi || data.positional === "alibi") {
    return ["What ALiBi has instead: a bias by distance",
      "No vector is added to the embedding. Each head adds −slope × distance to its scores, after the scaling."];
  }
  if (data.positional === "rotary") {
    return ["What rotary positions do instead: a rotation",
      "No vector is added to the embedding. In every attention layer q and k are rotated by an angle that grows with the " +
      "position, so a score depends on how far apart the two tokens are."];
  }
  if (data.positional === "none") {
    return ["No positional encoding",
      "Nothing is added to the embedding and nothing is rotated: " + (data.causal
        ? "the model learns about order only from the causal mask (each token sees only the tokens before it)."
        : "the model sees its tokens as a bag of words.")];
  }
  return ["The encoding itself", "A vector for each position, added to the token embedding before Q, K and V are computed."];
}

/**
 * The colour range of the encoding's heatmap: its largest |value|, unless a few values dwarf the rest (MiniLM's table:
 * |values| mostly under 0.1, two near 1.9 at position 0, and at ±1.9 the whole heatmap was white); then the 99.9th
 * percentile of |value|, the few beyond it drawn in the end colours. {lim, beyond (how many lie past lim), max (the
 * value of largest size), at: [position, dimension] of it}.
 */
export function encodingRange(z) {
  let max = 0;
  let at = [0, 0];
  z.forEach((row, i) => row.forEach((v, j) => {
    if (v !== null && Math.abs(v) > Math.abs(max)) [max, at] = [v, [i, j]];
  }));
  const sizes = z.flat().filter((v) => v !== null).map(Math.abs).sort((a, b) => a - b);
  const quantile = (p) => sizes[Math.floor(p * (sizes.length - 1))] || 0;
  const top = Math.abs(max);
  if (!(top > 4 * quantile(0.99))) return { lim: top || 1, beyond: 0, max, at };
  const lim = quantile(0.999);
  return { lim, beyond: sizes.filter((v) => v > lim).length, max, at };
}

/** What the encoding's caption adds where its colours stop short of its largest values (encodingRange); "" if not. */
export function encodingCaption(range, count) {
  if (!range.beyond) return "";
  return ` The colours stop at ±${range.lim.toPrecision(2)} so that the rest show: ${range.beyond} of the ` +
    `${count.toLocaleString("en")} values ${range.beyond === 1 ? "lies" : "lie"} beyond, in the end colours (the largest ${range.max.toPrecision(3)} at ` +
    `position ${range.at[0]}, dimension ${range.at[1]}; hover shows each value).`;
}

/**
 * What the encoding's caption says of the `n` positions drawn (`asked`: the menu's number) against the model's own
 * limits (`limits`: its /api/models max_tokens, max_tokens_beyond, trained_tokens): a learned table that ends before
 * `asked` (a training-lab model's 24: the caption said "so 64 cannot be drawn", a number on no control), and positions
 * past the trained length, which a formula draws but the model never saw in training. "" when neither.
 */
export function positionsNote(n, asked, limits = null) {
  const trained = limits ? limits.trained_tokens ?? limits.max_tokens : null;
  if (n < asked) {
    return ` The model has a vector for positions 0 to ${n - 1} only` +
      (trained === n ? ` (its trained length of ${n} tokens)` : "") + ": there is none past them to draw.";
  }
  if (Number.isInteger(trained) && n > trained) {
    return ` The model was trained on texts of at most ${trained} tokens: it never saw positions ${trained} to ${n - 1}.`;
  }
  return "";
}

/**
 * The "Positions shown" menu's choices and the one it shows: the number drawn (`drawn`, the answer's n: fewer than
 * `asked` where a learned table ends before it), added to N_CHOICES where it is not one of them. A training-lab model
 * with learned positions has 24: the menu said 64 above "learned encoding of 24 positions".
 */
export function positionChoices(asked, drawn = null) {
  const shown = Number.isInteger(drawn) && drawn < asked ? drawn : asked;
  const choices = N_CHOICES.includes(shown) ? N_CHOICES : [...N_CHOICES, shown].sort((a, b) => a - b);
  return { choices, shown };
}

/** What the page's run does with the scheme drawn below (the scheme as trained): nothing where it gives positions.
 * Shuffled: the chips show each token's place in the text, and the position it was given only in their tooltips (no
 * hover on a phone); the panel "Positions shuffled" lists the positions given (the same seed as the page's run). */
export function runWords(data, state) {
  if (data.positional === "none" || state.positions === "normal") return "";
  return state.positions === "removed"
    ? " The page's run now has its positions removed: none of this enters it (the attention views show that run)."
    : " The page's run now shuffles the positions: each token gets the position of another place (the panel " +
      "“Positions shuffled” below lists them; a token chip's number is its place in the text, its tooltip the position it was given).";
}

function encodingPart(element, data, state) {
  const [title, intro] = encodingWords(data);
  const sec = section(element, "enc", title, intro + runWords(data, state));
  const ctl = part(sec, "ctl", () => {
    const sel = h("select", { name: "pn", "aria-label": "number of positions" }, N_CHOICES.map((v) => h("option", { value: String(v) }, String(v))));
    const box = h("div", { class: "controls" }, h("label", {}, "Positions shown ", sel));
    sel.addEventListener("change", () => emit(box, { pn: Number(sel.value) }));
    return box;
  });
  const row = part(sec, "row", () => h("div", { class: "row2 plots-level captions-below" }));
  const encFig = panel(row, "encoding", "Encoding: position × dimension");
  const simFig = panel(row, "possim", "Position × position cosine similarity");
  const enc = data.encoding || {};
  ctl.hidden = Boolean(enc.unavailable);
  const menu = ctl.querySelector("select");
  const fill = (pick) => {
    const { choices, shown } = pick;
    if (menu._choices !== choices.join(",")) {
      menu._choices = choices.join(",");
      menu.replaceChildren(...choices.map((v) => h("option", { value: String(v) }, String(v))));
    }
    setValue(menu, shown);
  };
  fill(positionChoices(state.pn));
  const alibi = data.scheme && data.scheme.data && data.scheme.data.alibi;
  if (enc.unavailable && alibi) {
    simFig.hidden = true;
    alibiPart(encFig, data.scheme.data);
    return;
  }
  encFig.querySelector(".panel-title").textContent = enc.unavailable ? "No position vectors to draw" : "Encoding: position × dimension";
  if (enc.unavailable || enc.error) {
    reason(encFig, enc.unavailable || enc.error);
    simFig.hidden = true;
    return;
  }
  simFig.hidden = false;
  const r = enc.data;
  // a learned table ends at its length: the menu shows what is drawn, not the larger number asked for
  if (r) fill(positionChoices(state.pn, r.n));
  if (!r || !changed(encFig, [r])) return;
  const positions = [...Array(r.n).keys()];
  const dims = [...Array(r.d_model).keys()];
  const range = encodingRange(r.encoding);
  const lim = range.lim;
  caption(encFig, `${r.positional} encoding of ${r.n} positions, ${r.d_model} dimensions (${r.model}).` +
    positionsNote(r.n, state.pn, data.limits) +
    encodingCaption(range, r.n * r.d_model));
  draw(encFig,
    [{ type: "heatmap", z: r.encoding, x: dims, y: positions, colorscale: DIVERGING, zmin: -lim, zmax: lim, zmid: 0,
       hovertemplate: "position %{y}<br>dimension %{x}<br>value %{z}<extra></extra>", colorbar: { thickness: 10, outlinewidth: 0 } }],
    // (automargin: the title below the tick labels; with the presenter's larger text it sat over "50" and "100")
    { height: 380, xaxis: { title: { text: "dimension" }, showgrid: false, zeroline: false, automargin: true },
      yaxis: { title: { text: "position" }, autorange: "reversed", showgrid: false, zeroline: false }, margin: { l: 55, r: 10, t: 10, b: 45 } },
    { name: `positional-encoding-${r.model}-n${r.n}`, csv: () => matrixRows("position\\dimension", positions, dims, r.encoding),
      json: { model: r.model, positional: r.positional, n: r.n, d_model: r.d_model, encoding: r.encoding } });
  caption(simFig, similarityCaption(r.similarity));
  draw(simFig,
    [{ type: "heatmap", z: r.similarity, x: positions, y: positions, colorscale: DIVERGING, zmin: -1, zmax: 1, zmid: 0,
       hovertemplate: "position %{y} · position %{x}<br>cosine %{z}<extra></extra>", colorbar: { thickness: 10, outlinewidth: 0 } }],
    { height: 380, xaxis: { title: { text: "position" }, showgrid: false, zeroline: false, constrain: "domain", automargin: true },
      yaxis: { title: { text: "position" }, autorange: "reversed", showgrid: false, zeroline: false, scaleanchor: "x", constrain: "domain" },
      margin: { l: 55, r: 10, t: 10, b: 45 } },
    { name: `positional-similarity-${r.model}-n${r.n}`, csv: () => matrixRows("position\\position", positions, positions, r.similarity),
      json: { model: r.model, positional: r.positional, n: r.n, similarity: r.similarity } });
}

/** ALiBi's bias by distance, one line per head (GET /api/positional/scheme's `alibi`). */
function alibiPart(fig, sch) {
  fig.querySelector(".panel-title").textContent = "ALiBi: each head's bias by distance (every layer alike)";
  const a = sch.alibi;
  if (!changed(fig, [a])) return;
  caption(fig, `Bias added to the score of a key d tokens before the query: −m_h × d, slopes m_h = ${a.slopes.map((m) => fmt(m, 4)).join(", ")} (Press et al., 2022). A steep slope keeps a head close to the query.`);
  const scale = DIVERGING;
  draw(fig, a.bias.map((row, hd) => ({
    type: "scatter", mode: "lines", x: a.distance, y: row, name: `head ${hd} · m ${fmt(a.slopes[hd], 4)}`,
    line: { width: 2, color: scale[Math.round((hd / Math.max(1, a.bias.length - 1)) * (scale.length - 1))][1] },
    hovertemplate: `head ${hd}<br>distance %{x}<br>bias %{y:.4f}<extra></extra>`,
  })), {
    // short titles and the legend above the plot: in a narrow panel with the presenter's larger text the titles ran
    // past the plot's edges and the legend below ran over the x title
    height: 380, xaxis: { title: { text: "distance d (query − key)" }, zeroline: false, automargin: true },
    yaxis: { title: { text: "bias on the score" }, zeroline: true },
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
    margin: { l: 60, r: 10, t: 10, b: 50 },
  }, { name: `alibi-bias-${sch.model}`, csv: () => [["distance", ...a.slopes.map((_, hd) => `head ${hd}`)], ...a.distance.map((d, i) => [d, ...a.bias.map((r) => r[i])])],
    json: { model: sch.model, ...a } });
}

/**
 * Layer L, head H of a /api/compare matrix list. The positional view asks for one layer and head, and the
 * API then sends only that slice with `layers` and `heads` naming it. undefined: this answer is for
 * another layer or head; null: the model has no such layer or head.
 */
function slice(side, matrices, L, H) {
  if (!matrices) return null;
  if (L >= side.n_layers || H >= side.n_heads) return null;
  const li = side.layers ? side.layers.indexOf(L) : L;
  const hi = side.heads ? side.heads.indexOf(H) : H;
  if (li < 0 || hi < 0) return undefined;
  return (matrices[li] && matrices[li][hi]) || null;
}

function interventionsPart(element, data, state) {
  const sec = section(element, "iv", "Positions normal, removed, shuffled", data.positional === "none"
    ? "The selected head on the same sentence with the positions as trained, taken out and shuffled: this model reads no " +
      "position, so there is nothing to take out or shuffle, and the three patterns are the same (both differences 0)."
    : "The selected head on the same sentence with the positional information as trained, taken out, and given to the tokens in a shuffled order.");
  const row = part(sec, "row", () => h("div", { class: "row3 plots-level captions-below" }));
  const diffRow = part(sec, "diff", () => h("div", { class: "row3 plots-level captions-below" }));
  const c = data.compare || {};
  const L = state.layer;
  const H = state.head;
  const sides = [
    ["normal", c.removed && c.removed.data && c.removed.data.a, c.removed && c.removed.error],
    ["removed", c.removed && c.removed.data && c.removed.data.b, c.removed && c.removed.error],
    ["shuffled", c.shuffled && c.shuffled.data && c.shuffled.data.b, c.shuffled && c.shuffled.error],
  ];
  // make the panels in a fixed order, whichever answer arrives first
  for (const [label] of sides) panel(row, label, `Positions ${label} · L${L} H${H}`);
  for (const key of ["removed", "shuffled"]) panel(diffRow, `d-${key}`, `${key} − normal · L${L} H${H}`);
  for (const [label, side, error] of sides) {
    const title = `Positions ${label} · L${L} H${H}`;
    if (error) {
      reason(panel(row, label, title), error);
      continue;
    }
    if (!side) continue;
    const z = slice(side, side.attention, L, H);
    if (z === undefined) continue; // an answer for another layer or head (the new one is on its way)
    if (!z) {
      reason(panel(row, label, title), `This model has no layer ${L}, head ${H}.`);
      continue;
    }
    const perm = side.interventions.permutation;
    // the page's other interventions (scaling, ablated heads) run on every side: said, as they change the pattern
    const others = interventionsCaption({ ...side.interventions, positions: "normal" });
    patternPanel(row, label, title, z, side.tokens, {
      answer: side,
      name: `positions-${label}-${side.model}-L${L}-H${H}`,
      json: { model: side.model, interventions: side.interventions, layer: L, head: H },
      note: patternNote(label, perm, data.positional, others, keptIndices(side.tokens, state.hidespecial)), sel: state.token, hide: state.hidespecial,
    });
  }
  for (const [label, key] of [["removed", "removed"], ["shuffled", "shuffled"]]) {
    const title = `${label} − normal · L${L} H${H}`;
    const res = c[key];
    if (!res) continue;
    if (res.error) {
      reason(panel(diffRow, `d-${key}`, title), res.error);
      continue;
    }
    const r = res.data;
    if (!r) continue;
    if (!r.difference) {
      reason(panel(diffRow, `d-${key}`, title), r.difference_unavailable || "The API sent no difference.");
      continue;
    }
    const z = slice(r.a, r.difference, L, H);
    if (!z) continue;
    patternPanel(diffRow, `d-${key}`, title, z, r.a.tokens, {
      answer: r.a, diff: true, name: `positions-${label}-minus-normal-${r.a.model}-L${L}-H${H}`,
      json: { model: r.a.model, a: r.a.interventions, b: r.b.interventions, layer: L, head: H },
      note: THEME.diverging.difference_words.replace("the first side", "normal positions"), sel: state.token, hide: state.hidespecial,
    });
  }
}

/** The note under the pattern with positions `label` (normal, removed, shuffled), then the page's other interventions.
 * keep: the tokens drawn (keptIndices: special tokens hidden; null: all): the positions listed are theirs, in the
 * order drawn, and those given to the hidden ones are said apart. */
export function patternNote(label, perm, positional, others, keep = null) {
  // (each a sentence ending in its full stop: "…: 4, 0, 5 Scores not divided by √d_head." ran two together)
  const shown = perm && keep ? keep.map((i) => perm[i]) : perm;
  const hidden = perm && keep ? perm.filter((_, i) => !keep.includes(i)) : [];
  const list = (p) => `${p.slice(0, 16).join(", ")}${p.length > 16 ? ", … (all in the JSON)" : ""}`;
  // what the list's one bracket adds: the hidden tokens' positions, and that a model without positions reads none
  const aside = [hidden.length ? `to the hidden special tokens: ${list(hidden)}` : "", positional === "none" ? "not read by this model" : ""]
    .filter(Boolean).join("; ");
  const given = label === "shuffled" && perm ? `Position given to each token${keep ? " shown" : ""}: ${list(shown)}` +
    (aside ? ` (${aside})` : "") +
    (positional !== "none" && perm.length === 1 ? `. ${THEME.captions.interventions.one_position}` : ".")
    : label === "removed" ? "Positional information taken out." : "Positions as trained.";
  return others ? `${given} ${others}` : given;
}

const TERMS = [
  ["content_content", "content·content"],
  ["content_position", "content·position"],
  ["position_content", "position·content"],
  ["position_position", "position·position"],
  ["scores", "= total score"],
];

const FOUR_TERMS = "score = q·k ÷ scale, with q and k each made from content + position: four terms (content·content, " +
  "content·position, position·content, position·position), each ÷ scale, that add up to the score.";
const ALIBI_TERMS = "q·k ÷ scale + bias: under ALiBi q and k are all content, and the position is the bias, −slope × distance.";
// (where the split does not apply, the intro says how it would go, above a panel saying why it does not here)
const NO_SPLIT = "Where a vector for each position is added to the embedding, q and k are each content + position, and a " +
  "score splits into four terms (content·content, content·position, position·content, position·position). Not on this model:";

const TERM_GAP = 0.05; // the gap between two columns of terms, a share of the plots' width

/**
 * The token labels of the split's terms, `cols` to a row `rowHeight` px high across a figure `width` px wide (k: the
 * presenter's text scale, 1 outside it): their size (smaller than a token axis's, but in presenter mode) and the step
 * of the key labels and of the query labels. As many as have room: the width's slanted labels (plot.js keyLabelsFit)
 * shared among the columns, and a row's height's upright ones (queryLabelsFit), counted at the labels' own size. A
 * fixed 110 px beside them and 36 labels down a row put 30 query labels 11.5 px apart in presenter mode, for labels
 * 9.8 px high.
 */
export function termLabels(width, cols, rowHeight, tokens, k = 1) {
  const n = tokens.length;
  // (in presenter mode the size of every token axis, tickSize, which draw scales as it scales all plot text: 9 px,
  // 12.6 on the projector, was its smallest text)
  const size = k > 1 ? tickSize(n) : n > 14 ? 7 : 9;
  const fit = (k * size) / tickSize(n); // (the fit rules count labels of a token axis's size)
  const across = Math.floor((keyLabelsFit(width, tokens, fit) * (1 - TERM_GAP)) / cols); // (the columns share the width less their gaps)
  return { size, xStep: tickStep(n, Math.max(3, across)), yStep: tickStep(n, queryLabelsFit(rowHeight, fit)) };
}

function decomposePart(element, data, state) {
  const d = data.decompose || {};
  const r = d.data;
  const bias = Boolean(r && r.bias); // ALiBi: the position enters as a bias on the scores, a fifth panel before the total
  // (the words are set on every draw, from the answer on screen: a redraw for another layer keeps ALiBi's)
  const sec = section(element, "dec", bias ? "Each score split into four terms and ALiBi's bias (layer 0)" : "Each score split into four terms (layer 0)",
    d.unavailable ? NO_SPLIT : bias ? ALIBI_TERMS : FOUR_TERMS);
  const fig = panel(sec, "decompose", `Layer 0 · head ${state.head}: ${d.unavailable ? "no split" : bias ? "the terms, the bias and the total" : "the four terms and the total"}`);
  if (d.unavailable || d.error) {
    reason(fig, d.unavailable || d.error);
    return;
  }
  if (!r || !changed(fig, [r, state.token, state.hidespecial])) return;
  const terms = bias ? [...TERMS.slice(0, 4), ["bias", "+ ALiBi bias"], TERMS[4]] : TERMS;
  // special tokens hidden: their rows and columns left out of every term, as the Attention view's heatmap does
  const { keep, tokens, hidden } = keptOf(r.tokens, state.hidespecial);
  const cells = Object.fromEntries(terms.map(([k]) => [k, keptCells(r[k], keep)]));
  const sel = keptPosition(keep, state.token);
  const n = tokens.length;
  const lim = absMax(...terms.map(([k]) => cells[k]));
  // the terms side by side where each has room for its title (130 px, 180 with the presenter's larger text), else
  // three or two to a row (five or six in a row of 375 px, a phone, or of 820 px in presenter mode with a lesson open:
  // their titles ran into each other over plots too small to read)
  const least = presenting() ? 180 : 130;
  const width = fig.clientWidth || 1000;
  const cols = [terms.length, 3].find((c) => width / c >= least) || 2;
  const gridRows = Math.ceil(terms.length / cols);
  const rowHeight = Math.max(260, Math.min(440, n * 20 + 110));
  const scale = textScale();
  const { size: labelSize, xStep, yStep } = termLabels(width, cols, rowHeight, tokens, scale);
  const keys = tickIndices(n, xStep, [sel]);
  const queries = tickIndices(n, yStep, [sel]);
  caption(fig, r.note + termLabelsNote([["key", xStep, keys], ["query", yStep, queries]], [selectedLabels(sel)], n) + hiddenNote({ hidden }, false));
  // px between two rows: the upper row's labels, slanted 60° (about 0.55 of the font size down per character), then
  // the lower row's titles (a share of the height left the presenter's larger labels over those titles)
  const longest = Math.max(1, ...keys.map((i) => shownText(tokens[i]).length));
  const gap = Math.round(longest * labelSize * scale * 0.55 + 12 * scale * 1.5 + 20);
  const plotHeight = gridRows * (rowHeight - 100) + (gridRows - 1) * gap; // (the margins' 90 px and a little room)
  const layout = {
    grid: { rows: gridRows, columns: cols, pattern: "independent", xgap: TERM_GAP, ygap: gridRows > 1 ? (gridRows * gap) / (plotHeight + gap) : 0.3 },
    annotations: [], height: gridRows > 1 ? plotHeight + 90 : rowHeight, plot_bgcolor: MASKED_COLOR,
    margin: { l: 60, r: 10, t: 30, b: 60 },
    images: [],
  };
  const traces = terms.map(([key, label], m) => {
    const s = m === 0 ? "" : String(m + 1);
    layout.images.push(maskedBackground(`x${s}`, `y${s}`)); // masked scores are null (gaps): the stripes show there
    // (the selected query labelled among every step-th, down and across, as the patterns above keep it)
    layout[`xaxis${s}`] = tokenAxis(tokens, { tickangle: -60, tickfont: { size: labelSize } }, xStep, [sel], keys);
    layout[`yaxis${s}`] = tokenAxis(tokens, { range: [n - 0.5, -0.5], showticklabels: m % cols === 0, tickfont: { size: labelSize } }, yStep, [sel], queries);
    layout.annotations.push({ text: label, xref: `x${s} domain`, yref: `y${s} domain`, x: 0.5, y: 1.01, xanchor: "center", yanchor: "bottom",
      showarrow: false, font: { size: 12, color: key === "scores" ? "#000" : "#333" } });
    return { ...tokenHeatmap(cells[key], tokens, { zmin: -lim, zmax: lim, zmid: 0, colorscale: DIVERGING, label, showscale: m === terms.length - 1,
      colorbar: { thickness: 10, outlinewidth: 0 } }), xaxis: `x${s}`, yaxis: `y${s}` };
  });
  const labels = plainLabels(tokens);
  const rows = () => {
    const out = [["query", "key", ...terms.map(([k]) => k)]];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out.push([labels[i], labels[j], ...terms.map(([k]) => cells[k][i][j])]);
    return out;
  };
  draw(fig, traces, layout, { name: `decompose-${r.model}-L${r.layer}-H${r.head}`, csv: rows, json: { ...r, tokens, ...cells } });
}

/** Whether the model chosen above is one of the family shown. */
const inFamily = (data) => Boolean(data.family && data.family.models.includes(data.current));

/**
 * The family section's intro: which head of each model is drawn, and whether the model chosen above is one of them
 * (a model outside every family, MiniLM or SmolLM2, is shown the first family: then it is said, and no ▸ is promised).
 */
export function familyIntro(data, state) {
  if (data.familyError) return data.familyError;
  const fam = data.family;
  const member = inFamily(data);
  const about = fam ? ` ${fam.title}: ${fam.description}.` : "";
  if (member) {
    return `Layer ${state.layer}, head ${state.head} of each model, with the same interventions (without head ablation); ▸ marks the model chosen above.${about}`;
  }
  // a training step of one of them (NAME@STEP, the explorer's slider): the same layers, heads and tokens, the final weights
  const at = String(data.current || "").indexOf("@");
  const base = at > 0 ? data.current.slice(0, at) : null;
  if (fam && base && fam.models.includes(base)) {
    return `${data.current} is ${base} at training step ${data.current.slice(at + 1)}; these are the final models: layer ${state.layer}, ` +
      `head ${state.head} of each, with the same interventions (without head ablation).${about}`;
  }
  return `${data.current} is not one of these models: each is shown at its own layer and head nearest to layer ${state.layer}, head ${state.head}, ` +
    `with the same interventions (without head ablation), on its own tokens of the sentence.${about}`;
}

/**
 * The head of a family model drawn: the selected one; for a model chosen above that is not of the family, the one
 * nearest it where the family model has no such head (the last layer or head), with a note; else null and why not.
 */
export function familyHead(layer, head, answer, member) {
  const fits = layer < answer.n_layers && head < answer.n_heads;
  if (fits) return { layer, head, note: "" };
  const sizes = `${count(answer.n_layers, "layer")} × ${answer.n_heads} heads`;
  if (member) return { layer: null, head: null, why: `${answer.model} has no layer ${layer}, head ${head} (it has ${sizes}).` };
  const L = Math.min(layer, answer.n_layers - 1);
  const H = Math.min(head, answer.n_heads - 1);
  return { layer: L, head: H, note: `layer ${L}, head ${H} (it has ${sizes})` };
}

function modelsPart(element, data, state) {
  const sec = section(element, "models", "The same sentence through models with different positional schemes", familyIntro(data, state));
  // (each caption under its plot, the plots level, as in the view's other rows)
  const row = part(sec, "row", () => h("div", { class: "row-auto plots-level captions-below" }));
  const member = inFamily(data);
  for (const m of data.models || []) {
    const title = `${m.name === data.current ? "▸ " : ""}${m.name}`;
    const fig = panel(row, `m-${m.name}`, title);
    const words = `${schemeWords(m.positional)}.`; // (a sentence: the note of hidden special tokens follows it)
    caption(fig, words);
    if (m.error) {
      reason(fig, m.error);
      continue;
    }
    if (!m.data) continue;
    const at = familyHead(state.layer, state.head, { model: m.name, n_layers: m.data.n_layers, n_heads: m.data.n_heads }, member);
    const z = at.layer !== null && m.data.attention[at.layer] && m.data.attention[at.layer][at.head];
    if (!z) {
      reason(fig, at.why || `${m.name} sent no pattern for layer ${at.layer}, head ${at.head}.`);
      continue;
    }
    patternPanel(row, `m-${m.name}`, title, z, m.data.tokens, {
      answer: m.data, name: `attention-${m.name}-L${at.layer}-H${at.head}`,
      json: { model: m.name, interventions: m.data.interventions, layer: at.layer, head: at.head },
      note: at.note ? `${schemeWords(m.positional)}; ${at.note}.` : words, sel: state.token, hide: state.hidespecial,
    });
  }
}

/**
 * data: {current, encoding: {data, error, unavailable}, compare: {removed: {data, error}, shuffled: {...}},
 *        decompose: {data, error, unavailable}, models: [{name, positional, data, error}], family, familyError}
 * state: {layer, head, pn}.
 */
export function render(element, data, state) {
  if (!data) return;
  encodingPart(element, data, state);
  interventionsPart(element, data, state);
  decomposePart(element, data, state);
  modelsPart(element, data, state);
}

