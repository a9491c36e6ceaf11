// Next-word prediction: top-k next tokens as bars, a temperature slider, the prediction at every
// position next to the token that does come next, and a button that appends the greedy continuation.
import {
  action, barTextPositions, caption, changed, COLORS, draw, emit, esc, h, panel, part, plotOf, reason, setExport, setValue,
} from "../plot.js";
import { continuationKey, count, generatedSteps, keptFlags, probRange, probText, shownIndices, shownText, stepping } from "../derive.js";

export const id = "predictions";
export const sources = ["predict"];

/**
 * got: {predict}; ctx: {state, model, note ({key, text}: what the last Continue said, why it stopped), generated
 * ({key, steps} of the last Continue)}: each shown while the page is the one it was made on (continuationKey).
 */
export function show(section, got, ctx) {
  const v = got.predict;
  const key = continuationKey(ctx.state, ctx.model.name);
  const steps = generatedSteps(ctx.generated, key);
  const note = ctx.note && ctx.note.key === key ? ctx.note.text : "";
  const s = ctx.state;
  // from the selected token, resolved: the state's null is the last token (after Continue, the last generated one)
  const step = stepping(steps, s.token, ctx.analysis ? ctx.analysis.tokens : [], ctx.view ? shownIndices(ctx.view) : null);
  const data = v.unavailable ? { unavailable: v.unavailable } : { predict: v.data, error: v.error, note, steps, step };
  if (changed(section, [v.data, v.error, v.unavailable, note, steps.length, ctx.generated, step.at, s.topk, s.topp, s.sample, s.seed])) render(section, data, s);
  return !v.pending;
}

const TOP_K_CHOICES = [0, 1, 2, 3, 5, 10, 20, 40];

function controls(element) {
  return part(element, "controls", () => {
    const temp = h("input", { type: "range", name: "temp", min: "0.1", max: "5", step: "0.1", value: "1", "aria-label": "temperature" });
    const out = h("output", { class: "temp-label" }, "1.0");
    const topk = h("select", { name: "topk", "aria-label": "top-k" }, TOP_K_CHOICES.map((k) => h("option", { value: String(k) }, k ? String(k) : "all")));
    const topp = h("input", { type: "range", name: "topp", min: "0.05", max: "1", step: "0.05", value: "1", "aria-label": "top-p" });
    const pout = h("output", { class: "topp-label" }, "1.00");
    const mode = h("select", { name: "mode", "aria-label": "how Continue picks each token" },
      h("option", { value: "greedy" }, "greedy (the top token)"), h("option", { value: "sample" }, "sampled from the kept set"));
    const seed = h("input", { type: "number", name: "seed", min: "0", max: String(2 ** 31 - 1), step: "1", placeholder: "new", "aria-label": "seed",
      title: "the seed of the draws: the same seed, sentence and settings draw the same tokens; empty: a new one" });
    const fresh = h("button", { type: "button", name: "new-seed", class: "small", title: "a new seed at the next Continue" }, "new seed");
    const cont = h("button", { type: "button", name: "continue", title: "append the model's next tokens to the sentence" }, "Continue ▸");
    const box = h("div", { class: "controls" }, h("label", {}, "Temperature ", temp, out),
      h("label", { title: "keep at most this many of the most probable tokens" }, "top-k ", topk),
      h("label", { title: "keep the fewest most probable tokens whose probabilities add up to at least p" }, "top-p ", topp, pout),
      h("label", {}, "Continue: ", mode), h("label", { class: "seed" }, "seed ", seed), fresh, cont, h("span", { class: "cont-note", role: "status" }));
    temp.addEventListener("input", () => {
      out.textContent = Number(temp.value).toFixed(1);
      emit(box, { temp: Number(temp.value) });
    });
    topk.addEventListener("change", () => emit(box, { topk: Number(topk.value) }));
    topp.addEventListener("input", () => {
      pout.textContent = Number(topp.value).toFixed(2);
      emit(box, { topp: Number(topp.value) });
    });
    mode.addEventListener("change", () => emit(box, { sample: mode.value === "sample" }));
    seed.addEventListener("change", () => {
      const v = seed.value.trim();
      const n = Number(v);
      emit(box, { seed: v === "" || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1 ? null : n });
    });
    fresh.addEventListener("click", () => emit(box, { seed: null }));
    cont.addEventListener("click", () => action(box, "continue"));
    return box;
  });
}

/**
 * What the generated tokens' box says over them, for the page's positions (`state.positions`): shuffled, each pass of
 * the continuation ran under a shuffle of its own length (Interventions.permutation(n) depends on n), while the
 * attention view shows the whole text under one.
 */
export function stepsIntro(positions) {
  const intro = "Step through them: the selected token moves to each one; “Its attention” shows its row in the attention view.";
  if (positions !== "shuffled") return intro;
  return `${intro} Positions are shuffled: the attention view shows the whole text under one shuffle of its length, ` +
    "while each pass of the continuation ran under a shuffle of the text as long as it was then, so the positions " +
    "there are not the ones the continuation ran with.";
}

/** What a generated token's button says on hover: its position, its probability and the kept set it came from. */
export const stepTitle = (st) =>
  `position ${st.position} · probability ${st.prob} (within the kept set ${st.kept_prob}) · kept set ${count(st.kept_size, "token")}`;

/** The generated tokens of the last Continue: step through them; each one's attention is a click away. */
function stepsPart(element, steps, { at, prev, next, on }, positions) {
  const box = part(element, "steps", () => {
    const node = h("div", { class: "subsection gen" }, h("h3", {}, "The generated tokens"),
      h("p", { class: "intro" }),
      h("div", { class: "gen-steps", role: "group", "aria-label": "generated tokens" }));
    node.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button");
      if (!btn) return;
      if (btn.dataset.position) emit(node, { token: Number(btn.dataset.position) });
      else if (btn.name === "attention") emit(node, { view: "attention" }, { history: "push" });
    });
    return node;
  });
  box.hidden = !steps.length;
  if (!steps.length) return;
  box.querySelector(".intro").textContent = stepsIntro(positions);
  const row = box.querySelector(".gen-steps");
  row.replaceChildren(
    h("button", { type: "button", class: "small", name: "prev", dataset: { position: prev === null ? undefined : String(prev) }, disabled: prev === null, "aria-label": "previous generated token" }, "◂"),
    ...steps.map((st) => h("button", { type: "button", class: "gen", dataset: { position: String(st.position) }, "aria-pressed": st.position === at ? "true" : "false",
      title: stepTitle(st) }, shownText(st.token))),
    h("button", { type: "button", class: "small", name: "next", dataset: { position: next === null ? undefined : String(next) }, disabled: next === null, "aria-label": "next generated token" }, "▸"),
    h("button", { type: "button", name: "attention", disabled: !on }, "Its attention ▸"),
  );
}

/** `x` with `digits` decimals, or all it has where that would round it (a link's temperature 0.15 is not "0.1"). */
function exact(x, digits) {
  const fixed = Number(x).toFixed(digits);
  return Number(fixed) === Number(x) ? fixed : String(Number(x));
}

/** The kept set's share of the probability as the bars write theirs, but for a share short of 1 that 3 decimals would
 * write as all of it ("1.000" beside grey bars of 5e-5): then the API's 4 decimals (0.9999). */
const massText = (mass) => (mass < 1 && probText(mass) === "1.000" ? String(mass) : probText(mass));

/**
 * What the bars' colours say of the kept set (`p`: the /api/predict answer; `sample`: whether Continue samples), or ""
 * where top-k and top-p keep every token. A draw picks only among the kept (blue) tokens; a greedy Continue takes the
 * most probable token, which every kept set holds, so there the set changes nothing Continue does.
 */
export function keptWords(p, sample) {
  const limited = p.kept && p.sampling && (p.sampling.top_k !== null || p.sampling.top_p < 1);
  if (!limited) return "";
  const k = p.predictions.length;
  const by = [p.sampling.top_k ? `top-${p.sampling.top_k}` : "", p.sampling.top_p < 1 ? `top-p ${p.sampling.top_p}` : ""].filter(Boolean).join(", ");
  const set = ` Blue: the kept set of ${by}: ${count(p.kept.size, "token")} holding ${massText(p.kept.mass)} of the probability${p.kept.size > k ? ` (${k} shown)` : ""}`;
  return sample ? `${set}; grey: left out of a draw.`
    : `${set}; grey: left out of it. Continue is greedy: it takes the top token, which is always kept, so the set changes only what a sampled Continue draws from.`;
}

/** The per-position table's caption: its probabilities are at the slider's temperature (the answer's `temperature`),
 * named as the bars' caption names it, at 1 too (the lens and the model picture, beside it, are always at 1). */
export const tableCaption = (temperature) =>
  `✓: the top guess is the token that comes next. prob: the top guess's probability at temperature ${temperature}.`;

/** data: {predict, error, unavailable, note, steps, step (derive.stepping's, from the selected token)}; state: {temp, ...}. */
export function render(element, data, state) {
  const ctl = controls(element);
  const row = part(element, "row", () => h("div", { class: "row2 plots-level captions-below" }));
  const barsFig = panel(row, "topk", "Next token after the sentence");
  const tableFig = panel(row, "perpos", "At every position: the model's top guess and what comes next", { formats: ["csv", "json"], cls: "table-panel" });
  const tempInput = ctl.querySelector("input[name=temp]");
  setValue(tempInput, state.temp);
  if (document.activeElement !== tempInput) ctl.querySelector(".temp-label").textContent = exact(state.temp, 1);
  ctl.querySelector(".cont-note").textContent = (data && data.note) || "";
  const topkSelect = ctl.querySelector("select[name=topk]");
  if (![...topkSelect.options].some((o) => Number(o.value) === state.topk)) {
    // a top-k from a link that is not one of the choices: an option of its own, in order, so the box says what is used
    const after = [...topkSelect.options].find((o) => Number(o.value) > state.topk);
    topkSelect.insertBefore(h("option", { value: String(state.topk) }, String(state.topk)), after || null);
  }
  setValue(topkSelect, state.topk);
  const toppInput = ctl.querySelector("input[name=topp]");
  setValue(toppInput, state.topp);
  if (document.activeElement !== toppInput) ctl.querySelector(".topp-label").textContent = exact(state.topp, 2);
  setValue(ctl.querySelector("select[name=mode]"), state.sample ? "sample" : "greedy");
  const seedInput = ctl.querySelector("input[name=seed]");
  setValue(seedInput, state.seed === null ? "" : state.seed);
  seedInput.disabled = !state.sample;
  ctl.querySelector("button[name=new-seed]").disabled = !state.sample || state.seed === null;
  stepsPart(element, (data && data.steps) || [], (data && data.step) || {}, state.positions);

  const why = data && (data.unavailable || data.error);
  if (why) {
    ctl.hidden = Boolean(data.unavailable);
    reason(barsFig, why);
    tableFig.hidden = true;
    return;
  }
  ctl.hidden = false;
  tableFig.hidden = false;
  const p = data && data.predict;
  if (!p) return;
  const k = p.predictions.length;
  const tokens = p.tokens;
  const kept = keptFlags(p.predictions, p.kept);
  caption(barsFig, `After the last token “${shownText(tokens[tokens.length - 1])}”, at temperature ${p.temperature}. Lower: sharper; higher: flatter.${keptWords(p, state.sample)}`);
  draw(
    barsFig,
    [{ type: "bar", orientation: "h", x: p.predictions.map((t) => t.prob), y: p.predictions.map((_, i) => i),
       // outside the bars too short for one: Plotly draws no label on a bar of under a pixel where it may choose
       text: p.predictions.map((t) => probText(t.prob)), textposition: barTextPositions(p.predictions.map((t) => t.prob)), customdata: kept,
       hovertext: p.predictions.map((t, i) => `${esc(shownText(t))} (id ${t.id})<br>probability ${t.prob}${p.kept ? (kept[i] ? "<br>in the kept set" : "<br>left out") : ""}`),
       hoverinfo: "text", marker: { color: kept.map((on) => (on ? COLORS.bar : COLORS.raw)) } }],
    {
      height: Math.max(240, k * 28 + 60),
      yaxis: { tickmode: "array", tickvals: p.predictions.map((_, i) => i), ticktext: p.predictions.map((t) => esc(shownText(t))), range: [k - 0.5, -0.5], automargin: true },
      // (ticks in decimals as the bars' labels: plotly writes 0.0001 as "100μ")
      xaxis: { title: { text: "probability" }, range: probRange(p.predictions.map((t) => t.prob)), exponentformat: "none" },
      margin: { l: 90, r: 10, t: 10, b: 45 },
    },
    {
      name: `predictions-${p.model}-t${p.temperature}`,
      csv: () => [["rank", "id", "token", "prob"], ...p.predictions.map((t, i) => [i + 1, t.id, t.display, t.prob])],
      json: { model: p.model, interventions: p.interventions, temperature: p.temperature, tokens, predictions: p.predictions },
    },
  );

  caption(tableFig, tableCaption(p.temperature));
  const body = h("tbody");
  for (const row of p.per_position) {
    const top = row.top[0];
    const next = row.actual_next === null ? null : tokens[row.position + 1];
    const hit = next && top && top.id === row.actual_next;
    body.append(
      h("tr", { class: hit ? "hit" : null },
        h("td", { class: "num" }, String(row.position)),
        h("td", { class: "tokname" }, shownText(tokens[row.position])),
        h("td", { class: "tokname" }, top ? shownText(top) : "—"),
        h("td", { class: "num" }, top ? probText(top.prob) : "—"),
        h("td", { class: "tokname" }, next ? shownText(next) : "(end)"),
        h("td", { class: "mark" }, hit ? "✓" : "")),
    );
  }
  const table = h("table", { class: "perpos" },
    h("thead", {}, h("tr", {}, ["pos", "token", "predicted next", "prob", "actual next", ""].map((t) => h("th", { scope: "col" }, t)))), body);
  const wrap = plotOf(tableFig);
  wrap.classList.add("table-wrap", "tall");
  wrap.replaceChildren(table);
  setExport(tableFig, {
    name: `per-position-${p.model}-t${p.temperature}`,
    csv: () => [["position", "token", "top1_id", "top1_token", "top1_prob", "actual_next_id", "actual_next_token"],
      ...p.per_position.map((r) => [r.position, tokens[r.position].display, r.top[0] && r.top[0].id, r.top[0] && r.top[0].display, r.top[0] && r.top[0].prob,
        r.actual_next, r.actual_next === null ? null : tokens[r.position + 1].display])],
    json: { model: p.model, temperature: p.temperature, tokens, per_position: p.per_position },
  });
}
