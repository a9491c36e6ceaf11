// The attention arithmetic for one layer, head and query: q, each k, q·k, ÷ scale, the mask,
// softmax, each v times its weight, and the sum; beside it the same row with scaling flipped.
import {
  caption, changed, COLORS, draw, esc, fmt, h, panel, part, plainLabels, plotOf, reason, setExport, textScale, thinnedTitle, tickStep, tokenAxis,
} from "../plot.js";
import { shownText } from "../derive.js";

export const id = "arithmetic";
export const sources = ["explain"];

/** got: {explain}; ctx: {state, token (the query)}. */
export function show(section, got, ctx) {
  const v = got.explain;
  if (changed(section, [v.data, v.error])) render(section, { explain: v.data, error: v.error }, { ...ctx.state, token: ctx.token });
  return !v.pending;
}

function vec(values) {
  return h("div", { class: "vec", title: values.map((v) => fmt(v)).join(" ") }, values.map((v) => fmt(v)).join("  "));
}

/** What q·k is divided by, in the intro's formula "score = q·k ÷ …": √d_head with its value in brackets (written
 * "÷ √40 = 6.325", the formula read as a score of 6.325), or 1 with the scaling off. */
export function scaleWords(e) {
  return e.scale === 1 ? "1 (scaling off)" : `√${e.d_head} (√${e.d_head} = ${fmt(e.scale)})`;
}

/** The ALiBi term of the intro's formula, as the run has it: no distance with the positions removed (the bias is 0). */
function alibiWords(e) {
  const slope = `this head's slope m = ${fmt(e.slope, 4)}`;
  const positions = e.interventions ? e.interventions.positions : "normal";
  if (positions === "removed") return ` + the ALiBi bias, 0 here: with the positions removed there is no distance (${slope}); `;
  const distance = positions === "shuffled" ? "the distance between the shuffled positions" : "distance";
  return ` + the ALiBi bias −m × ${distance} (${slope}); `;
}

/** Whether the explained head is ablated in its run (its output z is set to 0; explain's `output` is Σ w·v). */
const ablatedHere = (e) => e.ablated === true;

/** Where the keys and values come from on a grouped-query model (one K/V head shared by several query heads), or "". */
export function sharedWords(e) {
  if (!(e.group_size > 1)) return "";
  const first = e.kv_head * e.group_size;
  return ` The keys and values are K/V head ${e.kv_head}'s, which heads ${first} to ${first + e.group_size - 1} of this layer share ` +
    "(grouped-query attention): only q is this head's own.";
}

/** On a rotary model, that q and the keys shown are the rotated ones (what q·k uses), or "" (nothing is rotated). */
export function rotaryWords(e) {
  if (!e.rotated) return "";
  const by = e.interventions && e.interventions.positions === "shuffled" ? "its shuffled position" : "its position";
  return ` q and each k are the rotated ones (rotary: each turned by an angle that grows with ${by}), as q·k uses them: ` +
    "the Q/K/V view's q_rot and k_rot.";
}

/** The name of a vector of the row: "q (40 numbers)", "q after rotary (40 numbers)". */
export const vectorLabel = (e, name) => `${name}${e.rotated ? " after rotary" : ""} (${e.d_head} numbers)`;

const total = (xs) => xs.reduce((a, b) => a + b, 0);

const MASK_LABEL_PX = 14; // a vertical "masked" in 10 px type needs a bar about this wide
const MASK_RANGE_PX = 130; // room for "masked: keys 41 to 114" across a run of masked keys

/**
 * The "masked" labels over the bar charts: one upright on each masked key where each key has `slotPx` of room for
 * it; else one label over the run of masked keys (a long text's dozens, 5 px apart, ran together into a smear).
 */
export function maskNotes(mask, slotPx) {
  const masked = mask.flatMap((m, i) => (m ? [i] : []));
  if (!masked.length) return [];
  const note = (x, text, upright) => ({ x, y: 0, yref: "y", text, ...(upright ? { textangle: -90 } : {}), showarrow: false,
    font: { size: 10, color: "#666" }, yanchor: "bottom" });
  const first = masked[0];
  const last = masked[masked.length - 1];
  if (slotPx >= MASK_LABEL_PX || last - first + 1 !== masked.length) return masked.map((i) => note(i, "masked", true));
  // a causal mask hides the keys after the query: one run, labelled once across it (upright where it is narrow)
  const wide = masked.length * slotPx >= MASK_RANGE_PX;
  return [note((first + last) / 2, wide ? `masked: keys ${first} to ${last}` : "masked", !wide)];
}

/** data: {explain, error}; state: {layer, head, token}. */
export function render(element, data, state) {
  const intro = part(element, "intro", () => h("div", { class: "explain-intro" }));
  const bars = part(element, "bars", () => h("div", { class: "row2" }));
  // the query's d_head numbers, wrapped, just above the table whose k column each is dotted with (in the intro,
  // their lines pushed a phone's charts below a lesson's sheet)
  const query = part(element, "query", () => h("div", { class: "qvec" }));
  const scoresFig = panel(bars, "scores", "Scores: q·k, then ÷ scale", { shows: ["explain.raw_scores", "explain.scaled_scores", "explain.bias", "explain.scores"] });
  const weightsFig = panel(bars, "weights", "Weights: softmax of the scores", { shows: ["explain.weights"] });
  const tableFig = panel(element, "table", "The arithmetic, key by key",
    { formats: ["csv", "json"], cls: "table-panel", shows: ["explain.values", "explain.weighted_values", "explain.output"] });
  if (data && data.error) {
    intro.replaceChildren(h("p", { class: "reason" }, data.error));
    query.replaceChildren();
    reason(scoresFig, data.error);
    reason(weightsFig, data.error);
    reason(tableFig, data.error);
    return;
  }
  const e = data && data.explain;
  if (!e) return;
  const tokens = e.tokens;
  const n = tokens.length;
  const qTok = shownText(tokens[e.query]);
  const alibi = Array.isArray(e.bias); // ALiBi: the softmax takes the scaled score plus the head's distance bias
  // the score columns of both downloads: q·k, ÷ scale, and under ALiBi the bias and the score the softmax takes
  const scoreHead = ["raw_score", "scaled_score", ...(alibi ? ["bias", "score"] : [])];
  const scoreRow = (i) => [e.raw_scores[i], e.scaled_scores[i], ...(alibi ? [e.bias[i], e.scores[i]] : [])];

  intro.replaceChildren(
    h(
      "p",
      {},
      `Layer ${e.layer} · head ${e.head} · query token ${e.query} `,
      h("span", { class: "tokname" }, `“${qTok}”`),
      `. For each key: score = q·k ÷ ${scaleWords(e)}`,
      alibi ? alibiWords(e) : "; ",
      e.mask.some(Boolean) ? "keys after the query are masked (left out); " : "no key is masked; ",
      ablatedHere(e) ? "weight = softmax of the scores; Σ weight × v is what the head would add, but it is ablated: the model sets its output z to 0."
        : "weight = softmax of the scores; output = Σ weight × v.",
      rotaryWords(e),
      sharedWords(e),
    ),
    h(
      "p",
      { class: "entropies" },
      `Entropy of this row: ${fmt(e.entropy)} nats (÷ ${fmt(e.scale)}). With scaling flipped (÷ ${fmt(e.other_scale)}): ${fmt(e.other_entropy)} nats.`,
    ),
  );
  query.replaceChildren(h("span", { class: "label" }, vectorLabel(e, "q")), vec(e.q));

  // ---- bar charts
  const x = [...Array(n).keys()];
  // a long text: every k-th key labelled, as many as have room slanted 16 px apart across the plot (hover names each),
  // 16 px times the presenter's scale in its larger type (30 keys in presenter mode were labelled all, into each other)
  const scale = textScale();
  const step = tickStep(n, Math.max(3, Math.floor(((scoresFig.clientWidth || 600) - 80) / (16 * scale))));
  const axis = tokenAxis(tokens, { title: { text: thinnedTitle("key", step, Infinity, { hover: true }) }, tickangle: n > 8 ? -45 : 0 }, step);
  const hov = (label, arr) =>
    arr.map((v, i) => `key ${i} “${esc(shownText(tokens[i]))}”<br>${label}: ${v === null ? "masked" : v}`);
  // (the plot's width less its 65 px of margins, shared by the n keys; in the presenter's larger type, as if narrower)
  const masks = maskNotes(e.mask, ((scoresFig.clientWidth || 600) - 65) / n / scale);
  draw(
    scoresFig,
    [
      { type: "bar", name: "q·k", x, y: e.raw_scores, marker: { color: COLORS.raw }, hovertext: hov("q·k", e.raw_scores), hoverinfo: "text" },
      { type: "bar", name: `q·k ÷ ${fmt(e.scale)}`, x, y: e.scaled_scores, marker: { color: COLORS.bar }, hovertext: hov("scaled score", e.scaled_scores), hoverinfo: "text" },
      ...(alibi ? [{ type: "bar", name: `q·k ÷ ${fmt(e.scale)} + ALiBi bias`, x, y: e.scores, marker: { color: COLORS.other }, hovertext: hov("score with the bias", e.scores), hoverinfo: "text" }] : []),
    ],
    { height: 300, barmode: "group", xaxis: axis, yaxis: { title: { text: "score" }, zeroline: true, automargin: true }, annotations: masks,
      legend: { orientation: "h", y: 1.02, x: 0, yanchor: "bottom" }, margin: { l: 55, r: 10, t: 50, b: 60 } },
    {
      name: `explain-scores-${e.model}-L${e.layer}-H${e.head}-q${e.query}`,
      csv: () => [["key", ...scoreHead, "masked"], ...plainLabels(tokens).map((t, i) => [t, ...scoreRow(i), e.mask[i]])],
      json: { model: e.model, layer: e.layer, head: e.head, query: e.query, scale: e.scale, raw_scores: e.raw_scores, scaled_scores: e.scaled_scores, ...(alibi ? { slope: e.slope, bias: e.bias, scores: e.scores } : {}), mask: e.mask },
    },
  );
  draw(
    weightsFig,
    [
      { type: "bar", name: `÷ ${fmt(e.scale)} (as run) · entropy ${fmt(e.entropy)}`, x, y: e.weights, marker: { color: COLORS.bar }, hovertext: hov("weight", e.weights), hoverinfo: "text" },
      { type: "bar", name: `÷ ${fmt(e.other_scale)} (flipped) · entropy ${fmt(e.other_entropy)}`, x, y: e.other_weights, marker: { color: COLORS.other }, hovertext: hov("weight with scaling flipped", e.other_weights), hoverinfo: "text" },
    ],
    { height: 300, barmode: "group", xaxis: axis, yaxis: { title: { text: "weight" }, range: [0, 1.02] }, annotations: masks,
      legend: { orientation: "h", y: 1.02, x: 0, yanchor: "bottom" }, margin: { l: 55, r: 10, t: 50, b: 60 } },
    {
      name: `explain-weights-${e.model}-L${e.layer}-H${e.head}-q${e.query}`,
      csv: () => [["key", "weight", "weight_scaling_flipped"], ...plainLabels(tokens).map((t, i) => [t, e.weights[i], e.other_weights[i]])],
      json: { model: e.model, layer: e.layer, head: e.head, query: e.query, scale: e.scale, weights: e.weights, entropy: e.entropy,
              other_scale: e.other_scale, other_weights: e.other_weights, other_entropy: e.other_entropy },
    },
  );

  // ---- the table
  caption(tableFig, "Numbers rounded to 3 decimals for reading; hover a vector for all of it, or download the exact values.");
  const head = h(
    "tr",
    {},
    ["#", "key", `k${e.rotated ? " after rotary" : ""} (${e.d_head})`, "q·k", `÷ ${fmt(e.scale)}`, ...(alibi ? ["+ bias", "score"] : []), "mask", "weight", `weight ÷ ${fmt(e.other_scale)}`, `v (${e.d_head})`, "weight × v"].map((t) =>
      h("th", { scope: "col" }, t),
    ),
  );
  const body = h("tbody");
  for (let i = 0; i < n; i++) {
    const masked = e.mask[i];
    body.append(
      h(
        "tr",
        { class: masked ? "masked" : null, dataset: { key: String(i) } },
        h("td", { class: "num" }, String(i)),
        h("td", { class: "tokname" }, shownText(tokens[i])),
        h("td", {}, vec(e.keys[i])),
        h("td", { class: "num" }, fmt(e.raw_scores[i])),
        h("td", { class: "num" }, fmt(e.scaled_scores[i])),
        ...(alibi ? [h("td", { class: "num" }, fmt(e.bias[i])), h("td", { class: "num" }, fmt(e.scores[i]))] : []),
        h("td", { class: "mask" }, masked ? "masked" : "—"),
        h("td", { class: "num weight", dataset: { weight: String(e.weights[i]) } }, h("span", { class: "bar", style: `width:${Math.round(e.weights[i] * 100)}%` }), h("span", { class: "val" }, fmt(e.weights[i]))),
        h("td", { class: "num other" }, fmt(e.other_weights[i])),
        h("td", {}, vec(e.values[i])),
        h("td", {}, vec(e.weighted_values[i])),
      ),
    );
  }
  const foot = h(
    "tfoot",
    {},
    // (under the columns before "weight": #, key, k, q·k, ÷ scale, ALiBi's bias and score, mask)
    // the weights' sums, added up here from the rows above: each softmax row sums to 1
    h("tr", {}, h("th", { colspan: String(alibi ? 8 : 6), scope: "row" }, "sum"), h("td", { class: "num sum" }, fmt(total(e.weights))), h("td", { class: "num sum" }, fmt(total(e.other_weights))), h("td", { class: "num" }, ablatedHere(e) ? "= Σ weight × v (ablated: z = 0) →" : "= output z →"), h("td", {}, vec(e.output))),
  );
  const table = h("table", { class: "explain" }, h("thead", {}, head), body, foot);
  const plot = plotOf(tableFig);
  plot.classList.add("table-wrap");
  plot.replaceChildren(table);
  setExport(tableFig, {
    name: `explain-${e.model}-L${e.layer}-H${e.head}-q${e.query}`,
    csv: () => {
      const before = [...scoreHead, "masked", "weight", "weight_scaling_flipped"];
      const blank = before.map(() => ""); // q under the k columns, the output under the wv columns
      return [
        ["key", ...before, ...e.q.map((_, d) => `k${d}`), ...e.q.map((_, d) => `v${d}`), ...e.q.map((_, d) => `wv${d}`)],
        ...plainLabels(tokens).map((t, i) => [t, ...scoreRow(i), e.mask[i], e.weights[i], e.other_weights[i], ...e.keys[i], ...e.values[i], ...e.weighted_values[i]]),
        ["q", ...blank, ...e.q],
        ["output", ...blank, ...e.q.map(() => ""), ...e.q.map(() => ""), ...e.output],
      ];
    },
    json: e,
  });
}
