// Next-word prediction: top-k next tokens as bars, a temperature slider, the prediction at every
// position next to the token that does come next, and a button that appends the greedy continuation.
import {
  action, caption, changed, COLORS, draw, emit, esc, fmt, h, panel, part, plotOf, reason, setExport, setValue,
} from "../plot.js";
import { shownText } from "../derive.js";

export const id = "predictions";
export const sources = ["predict"];

/** got: {predict}; ctx: {state, note (why a continuation stopped)}. */
export function show(section, got, ctx) {
  const v = got.predict;
  const data = v.unavailable ? { unavailable: v.unavailable } : { predict: v.data, error: v.error, note: ctx.note };
  if (changed(section, [v.data, v.error, v.unavailable, ctx.note])) render(section, data, ctx.state);
  return !v.pending;
}

function controls(element) {
  return part(element, "controls", () => {
    const temp = h("input", { type: "range", name: "temp", min: "0.1", max: "5", step: "0.1", value: "1", "aria-label": "temperature" });
    const out = h("output", { class: "temp-label" }, "1.0");
    const cont = h("button", { type: "button", name: "continue", title: "append the model's most likely next tokens to the sentence" }, "Continue ▸");
    const box = h("div", { class: "controls" }, h("label", {}, "Temperature ", temp, out), cont, h("span", { class: "cont-note" }));
    temp.addEventListener("input", () => {
      out.textContent = Number(temp.value).toFixed(1);
      emit(box, { temp: Number(temp.value) });
    });
    cont.addEventListener("click", () => action(box, "continue"));
    return box;
  });
}

/** data: {predict, error, unavailable, note}; state: {temp}. */
export function render(element, data, state) {
  const ctl = controls(element);
  const row = part(element, "row", () => h("div", { class: "row2" }));
  const barsFig = panel(row, "topk", "Next token after the sentence");
  const tableFig = panel(row, "perpos", "At every position: the model's top guess and what comes next", { formats: ["csv", "json"], cls: "table-panel" });
  const tempInput = ctl.querySelector("input[name=temp]");
  setValue(tempInput, state.temp);
  if (document.activeElement !== tempInput) ctl.querySelector(".temp-label").textContent = Number(state.temp).toFixed(1);
  ctl.querySelector(".cont-note").textContent = (data && data.note) || "";

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
  caption(barsFig, `After the last token “${shownText(tokens[tokens.length - 1])}”, at temperature ${p.temperature}. Lower: sharper; higher: flatter.`);
  draw(
    barsFig,
    [{ type: "bar", orientation: "h", x: p.predictions.map((t) => t.prob), y: p.predictions.map((_, i) => i),
       text: p.predictions.map((t) => t.prob.toFixed(3)), textposition: "auto",
       hovertext: p.predictions.map((t) => `${esc(shownText(t))} (id ${t.id})<br>probability ${t.prob}`), hoverinfo: "text", marker: { color: COLORS.bar } }],
    {
      height: Math.max(240, k * 28 + 60),
      yaxis: { tickmode: "array", tickvals: p.predictions.map((_, i) => i), ticktext: p.predictions.map((t) => esc(shownText(t))), range: [k - 0.5, -0.5], automargin: true },
      xaxis: { title: { text: "probability" }, range: [0, Math.max(0.05, ...p.predictions.map((t) => t.prob)) * 1.1] },
      margin: { l: 90, r: 10, t: 10, b: 45 },
    },
    {
      name: `predictions-${p.model}-t${p.temperature}`,
      csv: () => [["rank", "id", "token", "prob"], ...p.predictions.map((t, i) => [i + 1, t.id, t.display, t.prob])],
      json: { model: p.model, interventions: p.interventions, temperature: p.temperature, tokens, predictions: p.predictions },
    },
  );

  caption(tableFig, "✓: the top guess is the token that comes next.");
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
        h("td", { class: "num" }, top ? fmt(top.prob) : "—"),
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
