// The position lab: how the tiny models' loss changes past the length they were trained on (one curve per
// positional scheme, the trained length marked), where each scheme enters the computation (one small diagram per
// scheme, the model on screen's highlighted, each step linked to the view that shows its numbers), and how much each
// layer knows about position (R² of a linear probe per depth, every tiny model on one plot). Every number is the
// API's (GET /api/positional/lengths, /probe, /scheme); the page only averages neighbouring positions of a curve
// for the smoothed line (derive.js smooth), and says so.
import { canRunBeyond, modelsBeyond, smooth, withReason } from "../derive.js";
import { caption, changed, draw, emit, esc, fmt, h, panel, part, reason, setValue, THEME } from "../plot.js";

export const id = "poslab";
export const sources = ["lengths", "probe", "schemes"];
// (it reads no sentence: it is drawn even where the page's sentence cannot be analysed)
export const withoutSentence = true;

const SMOOTH_CHOICES = [[1, "none (raw)"], [9, "9 positions"], [17, "17 positions"], [33, "33 positions"], [65, "65 positions"]];
const SCHEME_ORDER = ["sinusoidal", "learned", "rotary", "alibi", "none"];

/** The colour of a positional scheme (theme.json `schemes`: the same in every plot). */
export const schemeColor = (positional) => THEME.schemes[positional] || THEME.schemes.other;

// A story written for this page (1,504 characters: 375 tokens for the tiny models' tokenizer): long enough to look at attention
// at position 300, well past the 128 tokens the tiny models were trained on.
export const LONG_STORY = "Once upon a time, there was a little girl named Lily. She lived in a small house near a big forest with her mom, "
  + "her dad and her dog Max. Every morning Lily and Max went for a walk to the old tree at the end of the road. One day, "
  + "Lily saw a red bird sitting on a branch of the old tree. The bird looked sad. \"Why are you sad, little bird?\" Lily asked. "
  + "The bird said, \"I lost my way home. My nest is by the river, but I cannot find the river.\" Lily wanted to help. "
  + "She said, \"Max and I know the way to the river. Come with us!\" So the bird flew above them, and Lily and Max walked "
  + "along the path into the forest. They walked past the big rocks and the tall trees. They heard the wind in the leaves. "
  + "After a long time, Lily heard water. \"The river is near!\" she said. Max barked and ran ahead. Soon they saw the river, "
  + "blue and shiny in the sun. The bird sang a happy song. \"This is my home!\" it said. \"Thank you, Lily. Thank you, Max.\" "
  + "The bird flew to its nest, where two baby birds were waiting. Lily smiled. She was happy that she could help her new "
  + "friend. Then Lily and Max walked back home. When they came home, Lily told her mom about the red bird and the river. "
  + "Her mom gave her a big hug and said, \"You are very kind, Lily.\" That night, Lily went to bed with a smile. She dreamed "
  + "of the red bird and the river, and she knew that she would visit them again soon. The next day, Lily and Max went to the "
  + "river again. The red bird was there with the two baby birds, and they all sang a song for Lily.";
export const LONG_STORY_QUERY = 300;

/** got: {lengths, probe, schemes} of the data layer; ctx: {state, model, models}. */
export function show(section, got, ctx) {
  const models = [...ctx.models.values()];
  const parts = [got.lengths, got.probe, got.schemes];
  const deps = [...parts.flatMap((v) => [v.data, v.error]), ...(got.schemes.data || []).flatMap((m) => [m.data, m.error]),
    ctx.model, ctx.state.smooth, ctx.state.beyond, ctx.state.present, asTrainedNote(ctx.state)];
  if (changed(section, deps)) {
    render(section, { current: ctx.model, models, lengths: got.lengths, probe: got.probe, schemes: got.schemes }, ctx.state);
  }
  return !parts.some((v) => v.pending);
}

/**
 * What sections 1 and 3 say where the page runs the models with interventions: their numbers were measured on the
 * models as trained, and the page's Positions, √d and ablation controls do not change them ("" where none is on). The
 * banner said "positions shuffled" above curves that did not move.
 */
export function asTrainedNote(state) {
  const on = [];
  if (state.positions === "removed") on.push("positions removed");
  else if (state.positions === "shuffled") on.push("positions shuffled");
  if (state.scale === false) on.push("no division by √d_head");
  if (state.ablate && state.ablate.length) on.push(`${state.ablate.length} ${state.ablate.length === 1 ? "head" : "heads"} ablated`);
  if (!on.length) return "";
  const settings = on.length === 1 ? `setting (${on[0]}) does` : `settings (${on.join(", ")}) do`;
  return ` These numbers were measured on the models as trained: the page's ${settings} not change them.`;
}

/** What a line of the loss plot is for the window `w` (derive.js smooth: the positions centred on each point, fewer where
 * the window runs past a curve's end, so the first and last points of a curve average fewer than `w`). */
export function smoothWords(w) {
  return w > 1 ? `Each point of a line is the mean of the ${w} positions centred on it, of fewer within ${(w - 1) / 2} ` +
    "positions of a curve's ends (the raw curve faint behind it)." : "Raw: the loss at each position, as measured.";
}

function section(element, key, title, intro) {
  const sec = part(element, key, () => h("section", { class: "subsection" }, h("h3", {}, title), h("p", { class: "intro" })));
  sec.querySelector(".intro").textContent = intro;
  return sec;
}

// ------------------------------------------------------------------------------------ 1. beyond the trained length

/** The smoothed line of a curve (window `w`); the raw one is the API's `loss`. */
function lossTraces(curves, w, current) {
  const traces = [];
  for (const c of curves) {
    const x = c.loss.map((_, i) => i);
    const on = current && c.model === current.name;
    const color = schemeColor(c.positional);
    if (w > 1) {
      // the raw curve, faint, behind its smoothed line (hover: the raw value and its standard error)
      traces.push({ type: "scatter", mode: "lines", x, y: c.loss, name: `${c.model} (raw)`, legendgroup: c.model, showlegend: false,
        line: { color, width: 1 }, opacity: 0.22, customdata: c.sem,
        hovertemplate: `${esc(c.model)} · position %{x}<br>loss %{y:.3f} ± %{customdata:.3f} (raw)<extra></extra>` });
    }
    traces.push({ type: "scatter", mode: "lines", x, y: w > 1 ? smooth(c.loss, w) : c.loss, name: `${c.model} · ${c.positional}`,
      legendgroup: c.model, line: { color, width: on ? 3.2 : 2, dash: c.positional === "none" ? "dot" : "solid" },
      customdata: c.loss,
      hovertemplate: `${esc(c.model)} · position %{x}<br>` + (w > 1 ? `loss %{y:.3f} (mean of ${w}); raw %{customdata:.3f}` : "loss %{y:.3f}") + "<extra></extra>" });
  }
  return traces;
}

function lengthsPart(element, data, state) {
  const sec = section(element, "lengths", "1 · Beyond the trained length",
    "The loss (nats per token; lower is better) at each position of long texts from the validation set, up to 4× the "
    + "length the models were trained on. Left of the line: positions seen in training; right: positions never seen."
    + asTrainedNote(state));
  const ctl = part(sec, "ctl", () => {
    const sel = h("select", { name: "smooth", "aria-label": "smoothing of the loss curves" },
      SMOOTH_CHOICES.map(([v, label]) => h("option", { value: String(v) }, label)));
    const box = h("div", { class: "controls" }, h("label", {}, "Average over ", sel));
    sel.addEventListener("change", () => emit(box, { smooth: Number(sel.value) }));
    return box;
  });
  const w = state.smooth;
  const sel = ctl.querySelector("select");
  // a window the URL names that the menu lacks gets its own entry
  if (!sel.querySelector(`option[value="${w}"]`)) sel.append(h("option", { value: String(w) }, `${w} positions`));
  setValue(sel, w);
  const fig = panel(sec, "lengths-plot", "Loss by position, one curve per positional scheme", { shows: ["lengths.models"] });
  const table = part(sec, "lengths-table", () => h("div", { class: "table-wrap" }));
  const notes = part(sec, "lengths-notes", () => h("ul", { class: "notes" }));
  const v = data.lengths || {};
  if (v.error) {
    reason(fig, v.error);
    table.replaceChildren();
    notes.replaceChildren();
    return;
  }
  const r = v.data;
  if (!r) return;
  const curves = [...r.models].sort((a, b) => SCHEME_ORDER.indexOf(a.positional) - SCHEME_ORDER.indexOf(b.positional));
  const notesList = [];
  for (const c of curves) if (c.why_not_beyond) notesList.push(withReason(`${c.model} stops at position ${c.positions - 1}`, c.why_not_beyond));
  for (const m of r.missing) notesList.push(`${m.model}: not measured. ${m.why}`);
  notes.replaceChildren(...notesList.map((t) => h("li", {}, t)));
  if (!curves.length) {
    reason(fig, "No model has a measured loss by position on this server.");
    table.replaceChildren();
    return;
  }
  const trained = curves[0].trained_tokens;
  const span = Math.max(...curves.map((c) => c.span));
  caption(fig, `${r.layout}. ${smoothWords(w)}`);
  const shapes = [{ type: "line", xref: "x", yref: "paper", x0: trained - 0.5, x1: trained - 0.5, y0: 0, y1: 1,
    line: { color: THEME.schemes.trained, width: 1.5, dash: "dash" } }];
  const annotations = [{ xref: "x", yref: "paper", x: trained - 0.5, y: 1, xanchor: "left", yanchor: "top", showarrow: false,
    text: `trained length: ${trained} tokens`, font: { size: 11, color: THEME.schemes.trained } }];
  for (const c of curves) {
    if (!c.why_not_beyond) continue;
    const last = c.positions - 1;
    const y = smooth(c.loss, w)[last];
    // below the curves (the losses there are the lowest of the plot), with a grey arrow pointing up at the curve's
    // last point (in the curve's colour, the line read as the curve falling to the label)
    annotations.push({ x: last, y, xref: "x", yref: "y", ax: 14, ay: 60, showarrow: true, arrowhead: 2, arrowsize: 1,
      arrowwidth: 1.2, standoff: 3, arrowcolor: THEME.font.color, opacity: 0.8, text: `${esc(c.model)} ends at position ${last}:<br>it has no vector for position ${c.positions}`,
      font: { size: 11, color: THEME.font.color }, bgcolor: "rgba(255,255,255,0.85)", xanchor: "left" });
  }
  draw(fig, lossTraces(curves, w, data.current), {
    height: 400, shapes, annotations,
    xaxis: { title: { text: "position in the text (tokens)" }, range: [0, span - 1], zeroline: false },
    yaxis: { title: { text: "loss (nats per token)" }, zeroline: false },
    // the legend above the plot: below it, it runs into the axis title when the text is larger (presenter, phone)
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" }, margin: { l: 60, r: 15, t: 10, b: 50 },
  }, {
    name: "loss-by-position",
    csv: () => [["model", "positional", "position", "loss", "sem"], ...curves.flatMap((c) => c.loss.map((l, i) => [c.model, c.positional, i, l, c.sem[i]]))],
    json: r,
  });
  // the losses at 128, 256 and 512 tokens, as the API gives them
  const lengths = Object.keys(curves[0].at);
  const head = h("tr", {}, h("th", { scope: "col" }, "model"), h("th", { scope: "col" }, "scheme"),
    ...lengths.map((L) => h("th", { scope: "col", title: `mean loss over positions 0 to ${Number(L) - 1}` }, `first ${L}`)),
    h("th", { scope: "col", title: `mean loss over the last 64 positions before ${lengths[lengths.length - 1]}` }, `last 64 before ${lengths[lengths.length - 1]}`));
  const rows = curves.map((c) => {
    const lastAt = c.at[lengths[lengths.length - 1]];
    return h("tr", { dataset: { model: c.model }, class: data.current && data.current.name === c.model ? "current" : null },
      h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${schemeColor(c.positional)}` }), c.model),
      h("td", {}, c.positional),
      ...lengths.map((L) => h("td", { class: "num", dataset: { at: L } }, c.at[L] ? fmt(c.at[L].mean_loss) : "cannot run")),
      h("td", { class: "num", dataset: { at: "tail" } }, lastAt ? fmt(lastAt.tail_loss) : "cannot run"));
  });
  table.replaceChildren(h("table", { class: "lengths-table" },
    h("caption", {}, "Mean loss (nats per token) over the first L positions: what an evaluation on texts of L tokens measures."),
    h("thead", {}, head), h("tbody", {}, rows)));
}

/** The long-text controls: allow a sentence past the trained length, or open a long story at position 300. */
function tryPart(element, data, state) {
  const sec = section(element, "try", "Try it: a sentence past the trained length", "");
  const m = data.current;
  const can = canRunBeyond(m);
  const others = modelsBeyond(data.models).filter((n) => m && n !== m.name);
  sec.querySelector(".intro").textContent = !m ? "" : can
    ? `${m.name} was trained on at most ${m.trained_tokens ?? m.max_tokens} tokens and can read up to ${m.max_tokens_beyond}. `
      + "Allow longer sentences, or open a long story and look at the attention of a token at position 300: the page warns "
      + "whenever the model is shown positions it never saw in training."
    : withReason(`${m.name} cannot read past ${m.max_tokens} tokens`, m.why_not_beyond)
      + (others.length ? ` Models that can: ${others.join(", ")}.` : "");
  const box = part(sec, "ctl", () => {
    const check = h("input", { type: "checkbox", name: "beyond" });
    const story = h("button", { type: "button", name: "long-story", title: "a story of 1,504 characters (375 tokens for the tiny models), in the attention view with token 300 as the query" },
      "Open a long story at position 300 ▸");
    const b = h("div", { class: "controls" }, h("label", { class: "check" }, check, " allow sentences past the trained length"), story);
    check.addEventListener("change", () => emit(b, { beyond: check.checked }));
    story.addEventListener("click", () => emit(b, { text: LONG_STORY, beyond: true, view: "attention", token: LONG_STORY_QUERY }, { history: "push" }));
    return b;
  });
  box.hidden = !can;
  box.querySelector("input[name=beyond]").checked = Boolean(state.beyond);
}

// ------------------------------------------------------------------------------------ 2. where each scheme enters

const ENTERS = { embedding: "added to the embedding, once", rotation: "rotates q and k, in every layer", scores: "a bias on the scores, in every layer", nothing: "nothing: only the causal mask" };

function diagram(s, on) {
  const color = schemeColor(s.positional);
  const once = s.steps.filter((st) => st.once);
  const every = s.steps.filter((st) => !st.once);
  const box = (st) => {
    const attrs = { class: `step${st.positional ? " positional" : ""}`, dataset: { step: st.id }, title: st.detail };
    if (st.positional) attrs.style = `border-color:${color};background:${color}1f`;
    if (!st.view) return h("span", attrs, st.title);
    return h("button", { ...attrs, type: "button", dataset: { step: st.id, view: st.view }, title: `${st.detail} · shown in the ${st.view} view` }, st.title);
  };
  const flow = (steps) => steps.flatMap((st, i) => (i ? [h("span", { class: "arrow", "aria-hidden": "true" }, "→"), box(st)] : [box(st)]));
  return h("div", { class: `scheme${on ? " current" : ""}`, dataset: { scheme: s.positional, model: s.model }, style: on ? `border-color:${color}` : null },
    h("div", { class: "scheme-head" },
      h("span", { class: "swatch", style: `background:${color}` }),
      h("strong", {}, s.positional), h("span", { class: "scheme-model" }, ` ${s.model}`),
      on ? h("span", { class: "on-screen" }, "on screen") : null),
    h("p", { class: "scheme-enters" }, ENTERS[s.enters] || s.enters,
      s.reaches.length ? ` · reaches ${s.reaches.join(", ")}` : ""),
    h("div", { class: "flow", "aria-label": "once, before the first block" }, h("span", { class: "flow-label" }, "once"), ...flow(once)),
    h("div", { class: "flow", "aria-label": "in every attention layer" }, h("span", { class: "flow-label" }, "each layer"), ...flow(every)),
    h("p", { class: "scheme-summary" }, s.summary));
}

function schemesPart(element, data) {
  const sec = section(element, "schemes", "2 · Where each scheme enters the computation",
    "One attention layer's steps for each scheme; the steps where the position acts are coloured. Click a step to open "
    + "the view that shows its numbers, on that scheme's model.");
  const grid = part(sec, "grid", () => {
    const g = h("div", { class: "schemes" });
    g.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-view]");
      if (!btn) return;
      // a step of another scheme's card shows its numbers on that card's model (the model on screen may not have the
      // step at all: a rotary model has no position vector, only ALiBi has the bias)
      const card = btn.closest(".scheme");
      const other = card && !card.classList.contains("current") && card.dataset.model;
      emit(g, other ? { view: btn.dataset.view, model: other, target: null, versus: null } : { view: btn.dataset.view }, { history: "push" });
    });
    return g;
  });
  const v = data.schemes || {};
  if (v.error) {
    grid.replaceChildren(h("p", { class: "reason" }, v.error));
    return;
  }
  const items = [...(v.data || [])].sort((a, b) => SCHEME_ORDER.indexOf(a.positional) - SCHEME_ORDER.indexOf(b.positional));
  grid.dataset.shows = schemesShown(items, data.current);
  grid.replaceChildren(...items.map((it) => {
    if (it.error) return h("div", { class: "scheme", dataset: { scheme: it.positional || "", model: it.name } }, h("strong", {}, it.name), h("p", { class: "reason" }, it.error));
    if (!it.data) return h("div", { class: "scheme loading", dataset: { model: it.name } }, `${it.name} …`);
    return diagram(it.data, data.current && it.name === data.current.name);
  }));
}

/**
 * What the diagrams draw, as a lesson's placeholders name it (lessons.js readPlot): where the position enters and what
 * it reaches for each model drawn ("scheme(model=tiny-rotary).reaches"), the model on screen's also as the page's own
 * ("scheme.reaches"). Lesson 10 step 4's answer quotes them, and brought the loss curves above the sheet.
 */
export function schemesShown(items, current) {
  const drawn = items.filter((it) => it.data).map((it) => it.name);
  const specs = drawn.map((name) => `scheme(model=${name})`);
  if (current && drawn.includes(current.name)) specs.push("scheme");
  return specs.flatMap((spec) => [`${spec}.enters`, `${spec}.reaches`]).join(" ");
}

// ------------------------------------------------------------------------------------ 3. what each layer knows

function probePart(element, data, state) {
  const sec = section(element, "probe", "3 · How much each layer knows about position", "");
  const fig = panel(sec, "probe-plot", "Position read off the residual stream: R² at each depth", { shows: ["probe.models"] });
  const v = data.probe || {};
  if (v.error) {
    reason(fig, v.error);
    return;
  }
  const r = v.data;
  if (!r) return;
  const curves = [...r.models].sort((a, b) => SCHEME_ORDER.indexOf(a.positional) - SCHEME_ORDER.indexOf(b.positional));
  const first = curves[0];
  sec.querySelector(".intro").textContent = first
    ? `A linear probe: ridge regression from each depth's residual stream to the token's position, fitted on validation text `
      + `(${first.fit_tokens.toLocaleString("en")} tokens) and evaluated on held-out text (${first.held_out_tokens.toLocaleString("en")} tokens). `
      + "R² 1: the position can be read off exactly; 0: no better than guessing the mean position." + asTrainedNote(state)
    : "";
  if (!curves.length) {
    reason(fig, "No model has a measured probe on this server." + r.missing.map((m) => ` ${m.model}: ${m.why}`).join(""));
    return;
  }
  caption(fig, `Target: ${r.target}. Method: ${r.method}.` + r.missing.map((m) => ` ${m.model}: not measured (${m.why}).`).join(""));
  const depthNames = (c) => c.depths.map((d, i) => (i === 0 ? "input" : `block ${i - 1}`));
  const longest = curves.reduce((a, c) => (c.depths.length > a.depths.length ? c : a));
  const traces = curves.map((c) => {
    const on = data.current && c.model === data.current.name;
    return {
      type: "scatter", mode: "lines+markers", x: depthNames(c), y: c.depths.map((d) => d.r2), name: `${c.model} · ${c.positional}`,
      line: { color: schemeColor(c.positional), width: on ? 3.2 : 2, dash: c.positional === "none" ? "dot" : "solid" },
      marker: { size: on ? 9 : 7, color: schemeColor(c.positional) },
      customdata: c.depths.map((d) => [esc(d.label), d.mae, d.r2_fit]),
      hovertemplate: `${esc(c.model)}<br>%{customdata[0]}<br>R² %{y:.3f} held out (%{customdata[2]:.3f} fitted)<br>mean error %{customdata[1]:.1f} positions<extra></extra>`,
    };
  });
  const lo = Math.min(-0.05, ...curves.flatMap((c) => c.depths.map((d) => d.r2)));
  draw(fig, traces, {
    height: 360,
    xaxis: { title: { text: "residual stream after block" }, type: "category",
      categoryorder: "array", categoryarray: depthNames(longest) },
    yaxis: { title: { text: "R² on held-out text" }, range: [lo - 0.02, 1.04], zeroline: true },
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" }, margin: { l: 60, r: 15, t: 10, b: 50 },
  }, {
    name: "position-probe",
    csv: () => [["model", "positional", "depth", "label", "hook", "r2", "r2_fit", "mae", "penalty"],
      ...curves.flatMap((c) => c.depths.map((d, i) => [c.model, c.positional, i, d.label, d.hook, d.r2, d.r2_fit, d.mae, d.penalty]))],
    json: r,
  });
}

/**
 * data: {current (the /api/models entry on screen), models (every entry), lengths, probe, schemes: {data, error}}
 * state: {smooth, beyond}.
 */
export function render(element, data, state) {
  if (!data) return;
  lengthsPart(element, data, state);
  tryPart(element, data, state);
  schemesPart(element, data);
  probePart(element, data, state);
}
