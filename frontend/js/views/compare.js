// Compare: two sentences, or one sentence through two models or with two interventions, side by side. Side a is the
// page's sentence, model and interventions; side b differs where the page says (URL text2, model2, positions2,
// scale2, ablate2), so a link names both sides. The selected head on each side, their difference (b − a) where the
// tokens line up, and both sides' next-token predictions, all from one /api/compare answer.
import { beyondNotice, bothMasked, count, keptCells, keptOf, keptPosition, keptTokens, maskOf, masksAny, probRange, probText, shownText } from "../derive.js";
import { sideB } from "../sources.js";
import { positionIds, vocab } from "../vocab.js";
import * as beyondView from "./beyond.js";
import {
  absMax, axisLines, barTextPositions, caption, changed, COLORS, DIVERGING, draw, emit, esc, h, hiddenNote, interventionsCaption, maskedBackground,
  MASKED_COLOR, matrixRows, numbersFit, panel, part, plainLabels, reason, selectedLabels, setValue, squareHeight, textScale, THEME, tokenAxes,
  tokenHeatmap,
} from "../plot.js";

export const id = "compare";
export const sources = ["compare"];

/** The comparisons offered, each its label and side b's settings for the page's state `s` (the positions and the
 * scaling are the other of side a's: "positions shuffled" on a page already shuffled made side b the same as a). */
export const EXAMPLES = [
  { label: () => "trophy: too big / too small", patch: (s) => ({
    text: "The trophy does not fit in the suitcase because it is too big.",
    text2: "The trophy does not fit in the suitcase because it is too small.", model2: "", positions2: "", scale2: null, ablate2: null }) },
  { label: () => "another positional scheme", patch: (s, ctx) => ({ text2: "", model2: otherScheme(ctx.model, ctx.models) || "", positions2: "", scale2: null, ablate2: null }) },
  { label: (s) => (s.positions === "shuffled" ? "positions as trained" : "positions shuffled"),
    patch: (s) => ({ text2: "", model2: "", positions2: s.positions === "shuffled" ? "normal" : "shuffled", scale2: null, ablate2: null }) },
  { label: (s) => (s.scale ? "without √d scaling" : "with √d scaling"),
    patch: (s) => ({ text2: "", model2: "", positions2: "", scale2: !s.scale, ablate2: null }) },
];

/**
 * The first installed model of `model`'s family (the models that differ only in their positional scheme) other than
 * it: the "another positional scheme" example's side b; null for a model of no family (MiniLM, SmolLM2, a lab run),
 * where another model would change everything, not the scheme alone. models: name -> GET /api/models entry.
 */
export function otherScheme(model, models) {
  const fam = model ? vocab.families.find((f) => f.models.includes(model.name)) : null;
  return (fam && fam.models.find((m) => m !== model.name && models.get(m) && models.get(m).available)) || null;
}

/** The form that sets side b (made once); its fields follow the state unless the student is typing in them. */
function controls(section, ctx) {
  const form = part(section, "controls", () => {
    const text2 = h("textarea", { name: "text2", rows: "1", maxlength: String(vocab.limits.max_text_chars || 2000), spellcheck: "false",
      placeholder: "the same sentence as side a", "aria-label": "side b: sentence" });
    const model2 = h("select", { name: "model2", "aria-label": "side b: model" });
    const positions2 = h("select", { name: "positions2", "aria-label": "side b: positions" });
    const scale2 = h("select", { name: "scale2", "aria-label": "side b: divide scores by √d_head" },
      h("option", { value: "" }, "the same"), h("option", { value: "1" }, "on"), h("option", { value: "0" }, "off"));
    const ablate2 = h("input", { type: "text", name: "ablate2", size: "10", placeholder: "the same", spellcheck: "false", autocomplete: "off",
      "aria-label": "side b: ablated heads, e.g. 1.2,0.3 or none", title: vocab.ablate ? vocab.ablate.description : "" });
    const apply = h("button", { type: "submit", class: "primary" }, "Compare");
    const clear = h("button", { type: "button", class: "small", name: "clear" }, "same as a");
    const box = h("form", { class: "compare-form", autocomplete: "off" },
      h("span", { class: "side-badge side-b" }, "b"),
      h("label", { class: "grow" }, h("span", { class: "label" }, "Sentence"), text2),
      h("label", {}, h("span", { class: "label" }, "Model"), model2),
      h("label", {}, h("span", { class: "label" }, "Positions"), positions2),
      h("label", {}, h("span", { class: "label" }, "√d"), scale2),
      h("label", {}, h("span", { class: "label" }, "Ablate"), ablate2),
      apply, clear);
    const examples = h("div", { class: "examples compare-examples", role: "group", "aria-label": "comparisons to try" },
      h("span", { class: "label" }, "Try"),
      EXAMPLES.map((ex, i) => h("button", { type: "button", class: "example", dataset: { example: String(i) } })));
    const wrap = h("div", { class: "compare-controls" }, box, examples);
    const send = () => {
      const patch = { text2: text2.value.trim() ? text2.value : "", model2: model2.value, positions2: positions2.value,
        scale2: scale2.value === "" ? null : scale2.value === "1" };
      const raw = ablate2.value.trim();
      patch.ablate2 = raw === "" ? null : raw; // read by main.js with the page's one ablate parser
      emit(box, patch, { history: "push" });
    };
    box.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send();
    });
    text2.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        send();
      }
    });
    for (const sel of [model2, positions2, scale2]) sel.addEventListener("change", send);
    clear.addEventListener("click", () => emit(box, { text2: "", model2: "", positions2: "", scale2: null, ablate2: null }, { history: "push" }));
    examples.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-example]");
      if (b) emit(box, EXAMPLES[Number(b.dataset.example)].patch(wrap._state, wrap._ctx), { history: "push" });
    });
    return wrap;
  });
  form._state = ctx.state;
  form._ctx = ctx;
  form.querySelectorAll("button[data-example]").forEach((b) => { b.textContent = EXAMPLES[Number(b.dataset.example)].label(ctx.state); });
  // (offered only where the model has a family: elsewhere it would pick a whole other model)
  form.querySelector("button[data-example='1']").hidden = !otherScheme(ctx.model, ctx.models);
  const s = ctx.state;
  const model2 = form.querySelector("select[name=model2]");
  const names = [...ctx.models.values()].map((m) => m.name).join(",");
  if (model2.dataset.names !== names) {
    model2.replaceChildren(h("option", { value: "" }, "the same"),
      ...[...ctx.models.values()].map((m) => h("option", { value: m.name, disabled: !m.available }, m.name)));
    model2.dataset.names = names;
  }
  const positions2 = form.querySelector("select[name=positions2]");
  if (positions2.options.length !== positionIds().length + 1) {
    positions2.replaceChildren(h("option", { value: "" }, "the same"), ...positionIds().map((p) => h("option", { value: p }, p)));
  }
  setValue(form.querySelector("textarea[name=text2]"), s.text2);
  setValue(model2, s.model2);
  setValue(positions2, s.positions2);
  setValue(form.querySelector("select[name=scale2]"), s.scale2 === null ? "" : s.scale2 ? "1" : "0");
  const ab = form.querySelector("input[name=ablate2]");
  setValue(ab, s.ablate2 === null ? "" : s.ablate2.length ? s.ablate2.map(([l, hd]) => `${l}.${hd}`).join(",") : "none");
  return form;
}

/** One side in words: its sentence (when the sentences differ), model and interventions, and the answer's warning
 * where it ran past the model's trained length; `positional`: its model's scheme (a model without positions says that
 * removing or shuffling them changes nothing). Where the other side has an intervention this one has not, this one
 * says its own of the same kind, in the same form ("Positions as trained." facing "Positions removed."); a side with
 * nothing to say of its own: "As trained." */
export function describe(side, other, positional = null) {
  const w = THEME.captions.interventions;
  const mine = side.interventions || {};
  const theirs = other.interventions || {};
  // each kind in the order interventionsCaption writes them: positions, scaling, ablated heads
  const iv = [
    interventionsCaption({ ...mine, scale: true, ablate: [] }, { positional })
      || (theirs.positions && theirs.positions !== "normal" && positional !== "none" ? w.positions_as_trained : ""),
    mine.scale === false ? w.unscaled : theirs.scale === false ? w.scaled : "",
    interventionsCaption({ positions: "normal", scale: true, ablate: mine.ablate || [] })
      || ((theirs.ablate || []).length ? w.none_ablated : ""),
  ].filter(Boolean).join(" ");
  return `${side.model} · ${iv || w.as_trained}` + (side.tokens.length !== other.tokens.length || side.tokens.some((t, i) => t.id !== other.tokens[i].id)
    ? ` · ${count(side.tokens.length, "token")}` : "") + (side.beyond_trained ? ` · ${side.beyond_trained.warning}` : "");
}

/** A side's caption: describe()'s words, then, with special tokens hidden (`hide`), the sentence saying so, and
 * `labels`, its pattern's words on the labels its axes have no title for (pattern), a full stop between them
 * ("· 6 tokens Special tokens hidden" ran the two together). */
export function sideCaption(side, other, positional, hide, labels = "") {
  const said = describe(side, other, positional);
  const note = sideKept(side, hide).note + labels;
  return note && !/[.!?)]$/.test(said) ? `${said}.${note}` : said + note;
}

/**
 * The note for a comparison refused for a text too long (`c`: the answer, with its `refusal`'s numbers): beyondNotice's,
 * of the side the refusal names and on that side's model and positions ("Side a: ...", "Side b: ..."), or null for
 * another error. Its button acts on that side: side a's opens the page's model; side b's sets side b's (model2), past
 * the trained length (the page's one agreement, `beyond`, which side b's request follows too: sources.js compare).
 * Opening side b's text on the page's model left side b refused as it was. `b`: side b as sent (sideB), `s`: the page's
 * state, `models`: the /api/models entries by name.
 */
export function refusedSide(c, b, s, models) {
  const side = c.refusal && c.refusal.side === "a" ? "a" : "b";
  const model = models.get((c.refusal && c.refusal.model) || (side === "a" ? s.model : b.model));
  const state = side === "a" ? s : { ...s, positions: b.positions || s.positions };
  const notice = beyondNotice({ model, state, error: c.error, status: c.status, refusal: c.refusal, models: [...models.values()] });
  if (!notice) return null;
  const open = side === "b" && notice.open ? { open: { model2: notice.open.model, beyond: notice.open.beyond } } : {};
  return { ...notice, text: `Side ${side}: ${notice.text}`, ...open };
}

/** Where one side's model lacks the selected head (the other's has it): that, in words; else "". */
function lacking(side, s) {
  return side.attention_unavailable
    ? `${side.model} has no layer ${s.layer}, head ${s.head} (it has ${count(side.n_layers, "layer")} × ${side.n_heads} heads).` : "";
}

/** The positions whose tokens differ between the two sides (tokens lined up one to one: the answer's same_token). */
export function apartPositions(r) {
  return (r.same_token || []).map((ok, i) => (ok ? null : i)).filter((i) => i !== null);
}

/** The positions each pattern labels whatever its step (plot.js tokenAxes' keep: [positions, words, a caption's
 * words]): those whose tokens differ and the selected query `token` (null: none), as Beyond attention keeps it. */
export function keptLabels(r, token) {
  // the words that differ first: of two labels too close to draw both (tickIndices), what the sides differ in stays
  // (the trophy's "␣big / ␣small" at 15 gave way to the last token, selected, at 16); the caption then says which of
  // the selected query's row and column is labelled (plot.js selectedLabels)
  return [[apartPositions(r), "the ones that differ", apartLabels], ...(Number.isInteger(token) ? [selectedLabels(token)] : [])];
}

/** A caption's words on the labels of the tokens that differ, by the names of the axes without a title that label all
 * of them (`whole`) and some of them (`part`: one too close to another kept label left out, tickIndices): "the
 * differing tokens' rows and some of their columns". ("some of the ones that differ" left to guess on which axis.) */
export function apartLabels(whole, part) {
  const some = part.length ? `some of ${whole.length ? "their" : "the differing tokens'"} ${axisLines(part, true)}` : "";
  return [whole.length ? `the differing tokens' ${axisLines(whole, true)}` : "", some].filter(Boolean).join(" and ");
}

/** keptLabels' positions where the plot draws them (keep: keptIndices, null for all; one left out is null). */
const keptAt = (labels, keep) => labels.map(([at, ...words]) => [at.map((i) => keptPosition(keep, i)), ...words]);

/** The rows and columns a side's plots draw (keptIndices: null for all), and the caption's sentence saying which special
 * tokens are left out ("" when none). */
export function sideKept(side, hide) {
  const { keep, hidden } = keptOf(side.tokens, hide);
  return { keep, note: hiddenNote({ hidden }) };
}

/** apart: the API positions labelled whatever the step (keptLabels); special tokens hidden where `s.hidespecial`
 * (keptIndices). Returns the caption's words on the labels of an axis too narrow for its title (plot.js tokenAxes' note). */
function pattern(fig, side, label, s, apart = [], cellText = null) {
  const all = side.attention[0] && side.attention[0][0]; // [query][key] of the one layer and head asked for
  if (!all) {
    reason(fig, lacking(side, s) || `No weights for layer ${s.layer}, head ${s.head}.`);
    return "";
  }
  const { keep, tokens } = keptOf(side.tokens, s.hidespecial);
  const z = keptCells(all, keep);
  const n = tokens.length;
  const masked = maskOf(side, keep);
  const height = squareHeight(n, { max: 620, per: n > 40 ? 10 : 24 });
  const width = fig.clientWidth || 400;
  const at = keptAt(apart, keep); // (the words that differ from the other side and the selected query are labelled)
  const { note, ...axes } = tokenAxes(width, tokens, height, n > 6, at, textScale());
  draw(fig, [tokenHeatmap(z, tokens, { masked, zmin: 0, zmax: 1, cellText })], {
    height,
    plot_bgcolor: MASKED_COLOR,
    images: masksAny(side) ? [maskedBackground()] : [],
    ...axes,
    margin: { l: 70, r: 6, t: 6, b: 60 },
  }, {
    name: `compare-${label}-${side.model}-L${s.layer}-H${s.head}`,
    csv: () => matrixRows("query\\key", plainLabels(tokens), plainLabels(tokens), z),
    json: { side: label, model: side.model, interventions: side.interventions, layer: s.layer, head: s.head, tokens, weights: z },
  });
  return note;
}

function difference(fig, r, s, query = null, cellText = null) {
  const lacks = lacking(r.a, s) || lacking(r.b, s);
  if (lacks) {
    reason(fig, `No difference: ${lacks} Pick a head both models have to compare their patterns.`);
    return "";
  }
  if (!r.difference) {
    reason(fig, `No cell-by-cell difference: ${r.difference_unavailable || "the API sent none"}. The two patterns are side by side above.`);
    return "";
  }
  const a = r.a;
  const b = r.b;
  // a position whose tokens differ shows both: "big / small"
  const same = r.same_token || a.tokens.map(() => true);
  const both = a.tokens.map((t, i) => (same[i] ? t : { ...t, display: `${shownText(t)} / ${shownText(b.tokens[i])}`, special: t.special || b.tokens[i].special }));
  // special tokens hidden: the positions where either side has one are left out (rows and columns)
  const { keep, tokens, hidden } = keptOf(both, s.hidespecial);
  const z = keptCells(r.difference[0][0], keep);
  const n = tokens.length;
  // a cell is masked only where neither side sees it: masked on one side alone, it is that side's 0 against the
  // other's weight, a real difference (a causal model beside an encoder)
  const masked = bothMasked(a, b, keep);
  const lim = absMax(z);
  const height = squareHeight(n, { max: 620, per: n > 40 ? 10 : 24 });
  const width = fig.clientWidth || 400;
  const at = keptAt(keptLabels(r, query), keep);
  // ("Ben / <|bos|>" is long); the positions that differ are labelled whatever the step: the caption names them
  const { note, ...axes } = tokenAxes(width, tokens, height, n > 6 || !same.every(Boolean), at, textScale());
  draw(fig, [tokenHeatmap(z, tokens, { masked, zmin: -lim, zmax: lim, zmid: 0, colorscale: DIVERGING, label: "b − a", cellText })], {
    height,
    plot_bgcolor: MASKED_COLOR,
    images: masked ? [maskedBackground()] : [],
    ...axes,
    margin: { l: 70, r: 6, t: 6, b: 60 },
  }, {
    name: `compare-difference-L${s.layer}-H${s.head}`,
    csv: () => matrixRows("query\\key", plainLabels(tokens), plainLabels(tokens), z),
    json: { a: { model: a.model, interventions: a.interventions }, b: { model: b.model, interventions: b.interventions }, layer: s.layer, head: s.head,
      // (what is drawn: each side's tokens kept and their rows and columns, as the CSV)
      tokens_a: keptTokens(a.tokens, keep), tokens_b: keptTokens(b.tokens, keep), same_token: r.same_token && keep ? keep.map((i) => r.same_token[i]) : r.same_token, difference: z },
  });
  return hiddenNote({ hidden }, false) + apartNote(r, keep) + note;
}

/** The difference's caption on the positions whose tokens differ on the two sides (r: a compare answer), among those
 * drawn (keep: keptIndices, null for all; a position left out with the special tokens is not named). */
export function apartNote(r, keep = null) {
  const apart = apartPositions(r).filter((i) => !keep || keep.includes(i));
  if (!apart.length) return ` Every position${keep ? " drawn" : ""} holds the same token on both sides.`;
  const many = apart.length > 1;
  const named = apart.map((i) => `${i} (“${shownText(r.a.tokens[i])}” / “${shownText(r.b.tokens[i])}”)`).join(", ");
  return ` Position${many ? "s" : ""} ${named} hold${many ? "" : "s"} different tokens on the two sides: ${many ? "their" : "its"} rows and columns compare different words.`;
}

function predictions(fig, side, label) {
  if (side.predictions_unavailable) {
    reason(fig, side.predictions_unavailable);
    return;
  }
  const p = side.predictions || [];
  const k = p.length;
  caption(fig, `After “${shownText(side.tokens[side.tokens.length - 1])}” (temperature 1).`);
  draw(fig, [{ type: "bar", orientation: "h", x: p.map((t) => t.prob), y: p.map((_, i) => i), text: p.map((t) => probText(t.prob)), textposition: barTextPositions(p.map((t) => t.prob)),
    hovertext: p.map((t) => `${esc(shownText(t))} (id ${t.id})<br>probability ${t.prob}`), hoverinfo: "text", marker: { color: label === "a" ? COLORS.other : COLORS.bar } }], { // (the side's badge colour)
    height: Math.max(200, k * 28 + 60),
    yaxis: { tickmode: "array", tickvals: p.map((_, i) => i), ticktext: p.map((t) => esc(shownText(t))), range: [k - 0.5, -0.5], automargin: true },
    xaxis: { title: { text: "probability" }, range: probRange(p.map((t) => t.prob)), exponentformat: "none" },
    margin: { l: 90, r: 10, t: 10, b: 45 },
  }, { name: `compare-predictions-${label}-${side.model}`, csv: () => [["rank", "id", "text", "prob"], ...p.map((t, i) => [i + 1, t.id, t.text, t.prob])],
    json: { side: label, model: side.model, predictions: p } });
}

/**
 * The layer and head of a comparison's answer (`layers` and `heads` of a side whose model has them), with the rest of
 * the page's state: while the next head's answer is on its way the last one is drawn, under its own head's name.
 */
export function answerHead(r, state) {
  const side = [r.a, r.b].find((x) => x.layers && x.layers.length === 1 && x.heads && x.heads.length === 1);
  return side ? { ...state, layer: side.layers[0], head: side.heads[0] } : state;
}

/**
 * Where the two sides differ only in the heads switched off (the same model, tokens, positions and scaling), a layer up
 * to the earliest of those heads is the same on both sides: a head's output reaches only the layers after it (its own
 * pattern is computed as before). That, in words, for the comparison `r` shown at `layer`; else "". Without it the
 * difference was blank, as if switching the head off did nothing.
 */
export function ablationNote(r, layer) {
  const { a, b } = r;
  const ia = a.interventions || {};
  const ib = b.interventions || {};
  const same = a.model === b.model && a.tokens.length === b.tokens.length && a.tokens.every((t, i) => t.id === b.tokens[i].id) &&
    ia.positions === ib.positions && ia.scale === ib.scale && JSON.stringify(ia.permutation ?? null) === JSON.stringify(ib.permutation ?? null);
  if (!same) return "";
  const key = ([l, hd]) => `${l}.${hd}`;
  const only = (x, y) => (x.ablate || []).filter((p) => !(y.ablate || []).some((q) => key(q) === key(p)));
  const sides = [["a", only(ia, ib)], ["b", only(ib, ia)]].filter(([, heads]) => heads.length);
  if (!sides.length) return "";
  const first = Math.min(...sides.flatMap(([, heads]) => heads.map(([l]) => l)));
  if (layer > first) return "";
  const who = sides.map(([name, heads]) => `side ${name} switches off ${heads.map(([l, hd]) => `layer ${l}, head ${hd}`).join(" and ")}`).join("; ");
  const lead = ` The two sides differ only in the heads switched off (${who}): a head's output reaches only the layers after it`;
  if (first >= (a.n_layers ?? Infinity) - 1) {
    return `${lead}, and layer ${first} is the last, so no pattern changes (the difference is 0 in every layer): switching it off ` +
      (a.predictions_unavailable ? "changes only the model's final vectors." : "changes what the model predicts (below).");
  }
  const upTo = first === 0 ? "layer 0" : `layers 0 to ${first}`;
  return `${lead} (its own pattern is computed as before), so the patterns of ${upTo} are the same on both sides (the difference is 0 here): pick layer ${first + 1} or later to see what switching it off changes.`;
}

/**
 * The three patterns' titles for the answer r (null: none yet) and the head s of the patterns drawn: the side, its
 * model and the head, short enough for one line beside the export buttons, as the Q/K/V view's (qkv.js matrixTitles,
 * at most 27 characters), and in presenter mode at 1280x720. "a · tiny-sinusoidal · layer 0 · head 0" took two
 * lines there and put sides a and b's plots below the difference's.
 */
export function panelTitles(r, s) {
  const at = r ? ` · L${s.layer} H${s.head}` : "";
  return { a: r ? `a · ${r.a.model}${r.a.attention_unavailable ? "" : at}` : "a",
           b: r ? `b · ${r.b.model}${r.b.attention_unavailable ? "" : at}` : "b", diff: `b − a${at}` };
}

/** got: {compare}; ctx: {state, model, models}. */
export function show(section, got, ctx) {
  controls(section, ctx);
  const page = ctx.state;
  const summary = part(section, "summary", () => h("div", { class: "compare-summary" }));
  const c = got.compare;
  const r = c.error ? null : c.data;
  const s = r ? answerHead(r, page) : page; // (the head of the patterns drawn)
  // panel() sets the title on every call, so the titles are written from the answer each time, drawn or not
  const titles = panelTitles(r, s);
  const row = part(section, "row", () => h("div", { class: "row3 compare-row plots-level captions-below" }));
  const figA = panel(row, "a", titles.a);
  const figB = panel(row, "b", titles.b);
  const figD = panel(row, "diff", titles.diff);
  const prow = part(section, "predictions", () => h("div", { class: "row2" }));
  const predA = panel(prow, "pred-a", "a: next token");
  const predB = panel(prow, "pred-b", "b: next token");
  // an empty box means "the same" as side a, but another model's side b takes none of side a's ablated heads
  const box = section.querySelector("input[name=ablate2]");
  if (box) box.placeholder = s.model2 && ctx.model && s.model2 !== ctx.model.name ? "none" : "the same";
  if (!changed(section, [c.data, c.error, s.layer, s.head, ctx.query, s.hidespecial])) return !c.pending;
  const b = sideB(s, ctx.model);
  if (c.error) {
    // a side too long for its model is said in the page's words, with its offer to run past it where the model can
    const notice = refusedSide(c, b, s, ctx.models);
    const said = notice ? h("p", { class: "beyond" }) : h("p", { class: "reason" }, c.error);
    if (notice) beyondView.render(said, notice);
    summary.replaceChildren(said);
    for (const f of [figA, figB, figD, predA, predB]) reason(f, notice ? "Not drawn: see the note above." : c.error);
    return !c.pending;
  }
  if (!r) return !c.pending;
  const scheme = (side) => (ctx.models.get(side.model) || {}).positional || null;
  // one rule for the row's cell numbers (numbersFit, the panels as wide): asked once, for the longer side, so that both
  // sides and their difference print them or none does (side a's 8 tokens printed theirs beside side b's 9 without)
  const numbers = numbersFit(figA, Math.max(r.a.tokens.length, r.b.tokens.length));
  caption(figA, sideCaption(r.a, r.b, scheme(r.a), s.hidespecial, pattern(figA, r.a, "a", s, keptLabels(r, ctx.query), numbers)));
  caption(figB, sideCaption(r.b, r.a, scheme(r.b), s.hidespecial, pattern(figB, r.b, "b", s, keptLabels(r, ctx.query), numbers)));
  const note = difference(figD, r, s, ctx.query, numbers) + (r.difference ? ablationNote(r, s.layer) : "");
  caption(figD, r.difference ? `${THEME.diverging.difference_words.replace("the first side", "side a")}${note}` : "");
  predictions(predA, r.a, "a");
  predictions(predB, r.b, "b");
  const sameAll = b.text === s.text && b.model === r.a.model && JSON.stringify([b.positions, b.scale, b.ablate]) === JSON.stringify([s.positions, s.scale, s.ablate]);
  summary.replaceChildren(
    h("p", {}, h("span", { class: "side-badge side-a" }, "a"), " ", h("span", { class: "tokname" }, s.text)),
    // side b's sentence where it is another; the same one is said in words, not printed twice (a long text ran to a
    // screenful of the same words above the plots)
    h("p", {}, h("span", { class: "side-badge side-b" }, "b"), " ",
      b.text === s.text ? h("span", { class: "same-text" }, "the same sentence as a") : h("span", { class: "tokname" }, b.text)),
    ...(sameAll ? [h("p", { class: "reason" }, "Side b is the same as side a: give it another sentence, model or intervention above (or try an example).")] : []),
    ...[r.a, r.b].filter((side) => side.attention_unavailable).map((side) => h("p", { class: "reason" }, `${lacking(side, s)} Pick a head both models have to see both patterns and their difference.`)),
  );
  return !c.pending;
}
