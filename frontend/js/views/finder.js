// The Heads view: what each head does. Every head's role scores (previous-token, sink, self, duplicate-token,
// induction, fixed offset, entropy) in a table sorted by any of them (click a header; click a row to open that head
// in the attention view), on the sentence or on the induction probe (a seeded random sequence repeated twice, with
// the loss on each copy), and the same role across the tiny models side by side. Every score, label and loss is the
// API's (POST /api/roles, /api/roles/probe, /api/roles/models); the definitions on hover are GET /api/roles/definitions.
import { canRunBeyond, count, refusedLength, shownText, withReason } from "../derive.js";
import {
  caption, changed, COLORS, draw, emit, esc, h, panel, part, plotOf, presenting, reason, setExport, setValue, THEME, WEIGHT_SCALE,
} from "../plot.js";
import {
  acrossModelsIntro, definitionText, MAX_PROBE_SEED, modelCaption, noQueryWords, offsetWords, probeDropWords, probeSeed, ruleText, scoreText,
  sortHeads,
} from "../roles.js";
import { familyOf } from "../vocab.js";

export const id = "heads";
export const sources = ["roles", "roleprobe", "roledefs", "rolemodels"];
// (on the probe it reads no sentence: it is drawn even where the page's sentence cannot be analysed)
export const withoutSentence = (state) => state.probe;
// under a sentence the model cannot read (a lab model reads 24 tokens), what the page offers in its place: the probe
export const withoutSentenceOffer = {
  words: "The induction probe reads no sentence: every head can still be scored on it.",
  button: "Run the induction probe",
  patch: { probe: true, role: "induction", asc: false },
};

/** got: {roles, roleprobe, roledefs, rolemodels} of the data layer; ctx: {state, model}. */
export function show(section, got, ctx) {
  const s = ctx.state;
  const table = s.probe ? got.roleprobe : got.roles;
  const deps = [table.data, table.error, got.roledefs.data, got.roledefs.error, got.rolemodels.data, got.rolemodels.error,
    s.probe, s.pseed, s.role, s.asc, s.layer, s.head, ctx.model, presenting()];
  if (changed(section, deps)) render(section, { table, defs: got.roledefs, models: got.rolemodels, model: ctx.model, known: ctx.models }, s);
  return ![table, got.roledefs, got.rolemodels].some((v) => v.pending);
}

function controls(element) {
  return part(element, "controls", () => {
    const seed = h("input", { type: "number", name: "pseed", min: "0", max: String(MAX_PROBE_SEED), step: "1", value: "0",
      "aria-label": "the probe's seed", class: "seed" });
    const box = h("div", { class: "controls finder-controls" },
      h("span", { class: "seg-group", role: "group", "aria-label": "scores on" },
        h("span", { class: "label" }, "Scores on"),
        h("button", { type: "button", class: "small seg", dataset: { on: "text" }, title: "the sentence above" }, "the sentence"),
        h("button", { type: "button", class: "small seg", dataset: { on: "probe" }, title: "random tokens, then the same tokens again" }, "the induction probe")),
      h("label", { title: "the same seed draws the same random tokens" }, "seed ", seed),
      h("button", { type: "button", name: "run-probe", class: "primary small", title: "score every head on the induction probe drawn with this seed" },
        "Run the induction probe"),
      h("label", {}, "rank by ", h("select", { name: "role", "aria-label": "rank the heads by" })),
      h("button", { type: "button", name: "asc", class: "small", title: "highest first, or lowest first" }));
    const note = h("p", { class: "error seed-problem", role: "alert", hidden: true });
    box.append(note);
    const runProbe = () => {
      const got = probeSeed(seed.value);
      note.textContent = got.problem || "";
      note.hidden = !got.problem;
      if (got.problem) return; // (it ran seed 0, the box still showing the number typed)
      emit(box, { probe: true, pseed: got.seed, role: "induction", asc: false }); // the probe is made to find induction heads
    };
    box.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button");
      if (!btn) return;
      if (btn.dataset.on === "probe") runProbe();
      else if (btn.dataset.on) {
        note.hidden = true; // (the seed's problem is the probe's)
        emit(box, { probe: false });
      }
      else if (btn.name === "run-probe") runProbe();
      else if (btn.name === "asc") emit(box, { asc: btn.dataset.asc !== "1" });
    });
    seed.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        runProbe();
      }
    });
    box.querySelector("select").addEventListener("change", (ev) => emit(box, { role: ev.target.value, asc: false }));
    return box;
  });
}

/** data: {table, defs, models, model}: sources of the data layer; state: the page's state. */
export function render(element, data, state) {
  const ctl = controls(element);
  const defs = data.defs.data;
  for (const b of ctl.querySelectorAll("button[data-on]")) b.setAttribute("aria-pressed", String((b.dataset.on === "probe") === state.probe));
  setValue(ctl.querySelector("input[name=pseed]"), state.pseed);
  const select = ctl.querySelector("select[name=role]");
  if (defs && select.options.length !== defs.roles.length) {
    select.replaceChildren(...defs.roles.map((d) => h("option", { value: d.role, title: definitionText(d) }, d.name)));
  }
  const role = defs && defs.roles.some((d) => d.role === state.role) ? state.role : "previous-token";
  setValue(select, role);
  const asc = ctl.querySelector("button[name=asc]");
  asc.dataset.asc = state.asc ? "1" : "0";
  asc.textContent = state.asc ? "lowest first ▲" : "highest first ▼";

  probePart(element, data, state);
  const row = part(element, "row", () => h("div", { class: "finder-row" }));
  tablePanel(row, data, state, role);
  modelsPart(element, data, state, role);
}

// ------------------------------------------------------------------------------------------------ the probe

function probePart(element, data, state) {
  const sec = part(element, "probe", () => h("section", { class: "subsection probe-part" }, h("h3", {}, "The induction probe"),
    h("p", { class: "intro" }), h("p", { class: "probe-loss" }), h("p", { class: "probe-tokens tokname" })));
  sec.hidden = !state.probe;
  const fig = panel(sec, "probe-plot", "Loss on each token of the probe");
  fig.hidden = !state.probe; // (a hidden section's panel is hidden itself too: no empty plot on the page)
  if (!state.probe) return;
  const src = data.table;
  const intro = sec.querySelector(".intro");
  const loss = sec.querySelector(".probe-loss");
  const toks = sec.querySelector(".probe-tokens");
  if (src.error) {
    intro.textContent = "";
    loss.textContent = "";
    toks.textContent = "";
    reason(fig, src.error);
    return;
  }
  const r = src.data;
  if (!r || !r.probe) {
    intro.textContent = "Computing…";
    return;
  }
  const p = r.probe;
  intro.textContent = `A sentence rarely repeats itself, so this probe does: ${p.length} random tokens of ${r.model}'s vocabulary ` +
    `(drawn with seed ${p.seed}), then the same ${p.length} again` + (p.first_half[0] > 0 ? ", after the start token" : "") +
    ". A head that attends to the token after the earlier copy of the current one is an induction head; a model that " +
    "uses it predicts the repeat much better than the first copy.";
  loss.textContent = p.loss_unavailable ? `No loss: ${p.loss_unavailable}.`
    : `Loss per token: ${scoreText(p.first_half_loss)} nats on the first copy, ${scoreText(p.second_half_loss)} on the repeat: ` +
      `${p.loss_drop >= 0 ? "a drop" : "a rise"} of ${scoreText(Math.abs(p.loss_drop))} nats (${probeDropWords(p.loss_drop)}).`;
  loss.dataset.drop = p.loss_drop === null || p.loss_drop === undefined ? "" : String(p.loss_drop);
  const first = r.tokens.slice(p.first_half[0], p.first_half[1]).map(shownText);
  toks.textContent = `seed ${p.seed}: ${first.join(" · ")}  ‖ then the same again`;
  if (p.loss_unavailable || !p.token_loss) {
    reason(fig, `No loss: ${p.loss_unavailable || "not given"}.`);
    return;
  }
  const x = p.token_loss.map((_, i) => i);
  const half = (a, b, name, color) => ({ type: "scatter", mode: "lines", name, x: x.slice(a, b), y: p.token_loss.slice(a, b),
    line: { color, width: 1.5 }, hovertext: x.slice(a, b).map((i) => `position ${i} “${esc(shownText(r.tokens[i]))}”: ` +
      (p.token_loss[i] === null ? "no loss (no token before it to predict it from)" : `${p.token_loss[i]} nats`)), hoverinfo: "text" });
  const mean = (a, b, v, color) => ({ type: "line", xref: "x", yref: "y", x0: a - 0.5, x1: b - 0.5, y0: v, y1: v, line: { color, width: 2, dash: "dash" } });
  caption(fig, "−ln p(token | the tokens before it), at each position; dashed: each copy's mean.");
  draw(fig, [half(p.first_half[0], p.first_half[1], "first copy", COLORS.other), half(p.second_half[0], p.second_half[1], "repeat", COLORS.bar)], {
    height: 220, margin: { l: 55, r: 10, t: 10, b: 40 }, legend: { orientation: "h", x: 1, xanchor: "right", y: 1.12 },
    xaxis: { title: { text: "position" }, zeroline: false }, yaxis: { title: { text: "loss (nats)" }, rangemode: "tozero" },
    shapes: [mean(...p.first_half, p.first_half_loss, COLORS.other), mean(...p.second_half, p.second_half_loss, COLORS.bar)],
  }, { name: `probe-loss-${r.model}-seed${p.seed}`, csv: () => [["position", "token", "loss"], ...x.map((i) => [i, r.tokens[i].display, p.token_loss[i]])],
       json: { model: r.model, probe: p, tokens: r.tokens } });
}

// ------------------------------------------------------------------------------------------------ the table

function tablePanel(row, data, state, role) {
  const fig = panel(row, "table", "Every head, ranked", { formats: ["csv", "json"], cls: "table-panel" });
  const src = data.table;
  const defs = data.defs.data;
  if (src.error || data.defs.error) {
    caption(fig, ""); // ("Computing…" while it was on its way)
    reason(fig, src.error || data.defs.error);
    return;
  }
  const r = src.data;
  if (!r || !defs || (state.probe && !r.probe)) {
    caption(fig, "Computing…");
    return;
  }
  const t = r.roles;
  const byRole = Object.fromEntries(defs.roles.map((d) => [d.role, d]));
  const what = state.probe ? `the induction probe (seed ${r.probe.seed})` : "the sentence";
  const off = new Set(((r.interventions && r.interventions.ablate) || []).map(([l, hd]) => `${l}.${hd}`));
  const offWords = off.size ? ` A head marked “off” is ablated in this run: its scores are of the attention it still computes, but its output is 0, so it moves nothing.` : "";
  const opens = state.probe ? "click a row to open that head on the sentence (the attention view shows the sentence, not the probe)" : "click a row to open that head";
  // a text too short for any role (SmolLM2 reads "Dogs" as one token, with no start token before it): every cell "—"
  const none = t.roles.every((ro) => !t.queries[ro]);
  const noneWords = none ? ` No query of ${what} counts for any role (it is ${count(r.tokens.length, "token")} long): every score is “—”; type a longer sentence.`
    : noQueryWords(t.queries, role, byRole[role]); // (the column ranked by, all “—”: induction on a text with no repeat)
  caption(fig, `${r.model} on ${what}: each score a share of the head's attention (0 to 1; broad: how evenly it spreads, also 0 to 1), averaged over ` +
    `the queries where its role is possible. Click a column to rank by it; ${opens}.${offWords}${noneWords} ${ruleText(defs.thresholds)}`);
  const heads = sortHeads(t, role, state.asc);
  const head = h("tr", {}, h("th", { scope: "col" }, "head"), h("th", { scope: "col" }, "label"),
    ...t.roles.map((ro) => {
      const d = byRole[ro];
      const on = ro === role;
      return h("th", { scope: "col", class: on ? "sorted" : null, dataset: { role: ro }, tabindex: "0", "aria-sort": on ? (state.asc ? "ascending" : "descending") : "none",
        title: `${definitionText(d, t.queries[ro])}\nClick to rank by it.` }, d ? d.short : ro, on ? (state.asc ? " ▲" : " ▼") : "");
    }));
  const body = h("tbody");
  for (const hr of heads) {
    const cur = hr.layer === state.layer && hr.head === state.head;
    const isOff = off.has(`${hr.layer}.${hr.head}`);
    body.append(h("tr", { class: [cur ? "current" : "", isOff ? "ablated" : ""].join(" ").trim() || null, tabindex: "0", dataset: { layer: String(hr.layer), head: String(hr.head) },
      title: `open layer ${hr.layer}, head ${hr.head} in the attention view${isOff ? " (ablated in this run: its output is 0)" : ""}` },
      h("td", { class: "num" }, `L${hr.layer} H${hr.head}`, isOff ? h("span", { class: "off" }, " off") : ""),
      h("td", { class: "role-label" }, hr.label_text || ""),
      ...t.roles.map((ro) => {
        const v = hr.scores[ro];
        const cell = h("td", { class: `weight${ro === role ? " sorted" : ""}`, dataset: { role: ro } });
        const bar = h("span", { class: "bar" });
        bar.style.width = `${Math.round(100 * Math.max(0, Math.min(1, v || 0)))}%`;
        cell.append(bar, h("span", { class: "val" }, scoreText(v) + (ro === "fixed-offset" && hr.offset !== null && v !== null ? ` (d=${hr.offset})` : "")));
        return cell;
      })));
  }
  const tableEl = h("table", { class: "finder" }, h("thead", {}, head), body);
  const wrap = plotOf(fig);
  wrap.classList.add("table-wrap", "tall");
  wrap.replaceChildren(tableEl);
  // a narrow screen shows a few columns (the head's stays, sticky): the one the rows are ranked by is brought into sight
  const sorted = tableEl.querySelector("th.sorted");
  if (sorted && wrap.scrollWidth > wrap.clientWidth) {
    const first = tableEl.querySelector("th").offsetWidth;
    if (sorted.offsetLeft + sorted.offsetWidth > wrap.scrollLeft + wrap.clientWidth || sorted.offsetLeft - first < wrap.scrollLeft) {
      wrap.scrollLeft = Math.max(0, sorted.offsetLeft - first - 8);
    }
  }
  if (!wrap._attnlabClick) {
    wrap._attnlabClick = true;
    const open = (tr) => emit(wrap, { view: "attention", layer: Number(tr.dataset.layer), head: Number(tr.dataset.head) }, { history: "push" });
    const sortBy = (th) => emit(wrap, th.dataset.role === wrap._attnlabRole ? { asc: !wrap._attnlabAsc } : { role: th.dataset.role, asc: false });
    wrap.addEventListener("click", (ev) => {
      const th = ev.target.closest("th[data-role]");
      if (th) return sortBy(th);
      const tr = ev.target.closest("tbody tr[data-layer]");
      if (tr) open(tr);
    });
    wrap.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      const th = ev.target.closest("th[data-role]");
      const tr = ev.target.closest("tbody tr[data-layer]");
      if (th || tr) ev.preventDefault();
      if (th) sortBy(th);
      else if (tr) open(tr);
    });
  }
  wrap._attnlabRole = role;
  wrap._attnlabAsc = state.asc;
  setExport(fig, {
    name: `head-roles-${r.model}${state.probe ? `-probe-seed${r.probe.seed}` : ""}`,
    csv: () => [["layer", "head", "label", ...t.roles, "offset"], ...heads.map((x) => [x.layer, x.head, x.label_text || "", ...t.roles.map((ro) => x.scores[ro]), x.offset])],
    json: { model: r.model, interventions: r.interventions, on: state.probe ? { probe: r.probe } : { text: state.text }, roles: t },
  });
}

// ------------------------------------------------------------------------------------------------ across models

function modelsPart(element, data, state, role) {
  const defs = data.defs.data;
  const d = defs && defs.roles.find((x) => x.role === role);
  const sec = part(element, "models", () => h("section", { class: "subsection" }, h("h3", {}), h("p", { class: "intro" }),
    h("div", { class: "row-auto models-row plots-level captions-below" })));
  sec.querySelector("h3").textContent = `${d ? d.name : role} across the models that differ only in their positional scheme`;
  const fam = data.model ? familyOf(data.model.name) : null;
  const first = fam ? acrossModelsIntro({ members: fam.models, onScreen: data.model.name, probe: state.probe, seed: state.pseed,
    intervened: state.positions !== "normal" || !state.scale || state.ablate.length > 0 })
    : `The same ${state.probe ? "probe" : "sentence"} through each model`;
  sec.querySelector(".intro").textContent = `${first}: the score of every layer × head, with the label where a head has one. Does a model without positional ` +
    "encoding grow fixed-offset heads? Which scheme makes the sharpest previous-token head? A star (*) marks a head labelled " +
    "with this role. Click a head to open it." +
    (d ? ` ${d.words}` : "");
  const grid = sec.querySelector(".models-row");
  const src = data.models;
  const results = (src.data && src.data.results) || [];
  if (src.error) {
    grid.replaceChildren();
    const fig = panel(grid, "models-error", "Across models");
    reason(fig, src.error);
    return;
  }
  if (!results.length) {
    grid.replaceChildren(h("p", { class: "intro" }, "Computing…"));
    return;
  }
  // a model that cannot read a text this long is left out by the server: said under the intro
  const left = (src.data && src.data.left_out) || [];
  sec.querySelector(".intro").textContent += left.map((x) => ` ${leftOutWords(x, data.known && data.known.get(x.model))}`).join("");
  for (const old of grid.querySelectorAll(":scope > :not(figure)")) old.remove();
  const keep = new Set(results.map((r) => `m-${r.model}`));
  for (const fig of grid.querySelectorAll(":scope > figure")) if (!keep.has(fig.dataset.part)) fig.remove();
  for (const r of results) modelPanel(grid, r, role, state, d);
}

/**
 * Why a model is left out of the section across models (`x`: an entry of the API's `left_out`, {model, why}), in the
 * page's words: the most it reads (past its trained length where it can run there), this text's length on it (from
 * the entry's `tokens`) and why its positions stop there (`m`: its /api/models entry, with
 * `why_not_beyond`). The API's refusal names its fields ("(max_tokens)") and nests its own brackets; where the page
 * does not know the model or the length, it is quoted as it is.
 */
export function leftOutWords(x, m) {
  const n = refusedLength(x) ?? 0;
  if (!m || !n) return `Left out: ${x.model}, which cannot read this text (${x.why}).`;
  const beyond = canRunBeyond(m);
  return withReason(`Left out: ${x.model}, which reads at most ${beyond ? m.max_tokens_beyond : m.max_tokens} tokens` +
    `${beyond ? ", even past its trained length" : ""} (this text is ${n})`, !beyond && m.why_not_beyond);
}

function modelPanel(grid, r, role, state, def) {
  const fig = panel(grid, `m-${r.model}`, r.model, { formats: ["png", "csv"] });
  fig.dataset.model = r.model;
  const t = r.roles;
  caption(fig, modelCaption(r, role, def));
  const z = t.heads.map((row) => row.map((x) => x.scores[role]));
  const text = t.heads.map((row) => row.map((x) => (x.label === role ? `${scoreText(x.scores[role])}*` : scoreText(x.scores[role]))));
  const hover = t.heads.map((row) => row.map((x) => `layer ${x.layer} · head ${x.head}<br>${esc(role)}: ${scoreText(x.scores[role], 4)}` +
    (role === "fixed-offset" && x.offset !== null ? ` (${offsetWords(x.offset)})` : "") + (x.label_text ? `<br>label: ${esc(x.label_text)}` : "")));
  const nL = r.n_layers;
  const nH = r.n_heads;
  draw(fig, [{
    type: "heatmap", z, text, hovertext: hover, hoverinfo: "text", texttemplate: nH <= 8 ? "%{text}" : "", textfont: { size: 11 },
    colorscale: WEIGHT_SCALE, zmin: 0, zmax: 1, showscale: false, xgap: 1, ygap: 1,
    x: [...Array(nH).keys()], y: [...Array(nL).keys()],
  }], {
    height: Math.max(170, Math.min(420, nL * 34 + 50)), margin: { l: 40, r: 6, t: 6, b: 30 },
    xaxis: { tickmode: "array", tickvals: [...Array(nH).keys()], ticktext: [...Array(nH).keys()].map((i) => `H${i}`), fixedrange: true, showgrid: false, zeroline: false },
    yaxis: { tickmode: "array", tickvals: [...Array(nL).keys()], ticktext: [...Array(nL).keys()].map((i) => `L${i}`), autorange: "reversed", fixedrange: true, showgrid: false, zeroline: false },
    plot_bgcolor: THEME.masked.color,
  }, {
    name: `role-${role}-${r.model}`,
    csv: () => [["layer", "head", role, "label"], ...t.heads.flat().map((x) => [x.layer, x.head, x.scores[role], x.label_text || ""])],
  });
  const gd = plotOf(fig);
  gd._attnlabModel = r.model;
  if (!gd._attnlabClick) {
    gd._attnlabClick = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && Number.isInteger(p.x) && Number.isInteger(p.y)) {
        emit(fig, { model: gd._attnlabModel, layer: p.y, head: p.x, view: "attention" }, { history: "push" });
      }
    });
  }
}
