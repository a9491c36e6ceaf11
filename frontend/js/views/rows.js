// The heatmap's rows combined: the attention of a selection of query tokens, summed or averaged, for the selected head
// (as BertViz users ask for: what do these words, together, look at?). The numbers are the server's (/api/analyze
// `query_rows`); this draws them as one bar per key. Pick rows with Shift- or Ctrl-click on the heatmap.
import { shownText } from "../derive.js";
import {
  COLORS, caption, draw, emit, esc, fmt, h, panel, part, plainLabels, plotOf, reason, textScale, thinnedAxisTitle, tickStep, tokenAxis,
  tokenIndex,
} from "../plot.js";
import { pickRow, toggleRow } from "../roles.js";

function controls(element) {
  return part(element, "rows-controls", () => {
    const box = h("div", { class: "controls rows-controls", role: "group", "aria-label": "the heatmap's rows" },
      h("span", { class: "label" }, "Rows:"),
      ...["one", "sum", "mean"].map((c) => h("button", { type: "button", class: "small seg", dataset: { combine: c },
        title: { one: "the query token's row (the heatmap as it is)", sum: "the picked rows added: each key's total weight from them",
          mean: "the picked rows averaged" }[c] }, c)),
      // the query token's row in or out: Shift-click without a Shift key (a phone) or a mouse (the keyboard)
      h("button", { type: "button", class: "small", dataset: { addrow: "1" } }),
      h("span", { class: "rows-picked" }),
      h("button", { type: "button", class: "small", dataset: { clear: "1" }, title: "pick no rows (the query token alone)" }, "clear"));
    box.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button");
      if (!btn) return;
      if (btn.dataset.combine) emit(box, { combine: btn.dataset.combine });
      else if (btn.dataset.addrow && box._row) {
        const { rows, combine, query } = box._row;
        emit(box, { rows: toggleRow(rows, query), combine: combine === "one" ? "sum" : combine });
      }
      else if (btn.dataset.clear) emit(box, { rows: [] });
    });
    return box;
  });
}

/**
 * The controls above the combined row, for the state as it is (the query token too, which does not redraw the row):
 * which way the rows are combined, the query's row button, the rows picked. Returns the picked rows this text has.
 */
// every token by its API index, the hidden special tokens too (a picked [CLS] row read "?")
const byIndexOf = (a) => new Map([...(a.hidden || []).map((t) => [t.position, t]), ...a.tokens.map((t, i) => [tokenIndex(a.tokens, i), t])]);

export function sync(element, a, state) {
  const byIndex = byIndexOf(a);
  const ctl = controls(element);
  const on = state.combine !== "one";
  for (const b of ctl.querySelectorAll("button[data-combine]")) b.setAttribute("aria-pressed", b.dataset.combine === state.combine ? "true" : "false");
  const picked = (state.rows || []).filter((r) => r < a.tokens.length + (a.hidden ? a.hidden.length : 0));
  // the query token (its API index): the row the button adds or takes out
  const query = Number.isInteger(state.token) && state.token < a.tokens.length ? tokenIndex(a.tokens, state.token) : null;
  ctl._row = query === null ? null : { rows: state.rows || [], combine: state.combine, query };
  const add = ctl.querySelector("button[data-addrow]");
  add.hidden = query === null;
  if (query !== null) {
    const inRows = (state.rows || []).includes(query);
    add.textContent = `${inRows ? "−" : "+"} row ${query}`;
    add.title = `${inRows ? "take out" : "add"} the row of the query token, ${query} “${shownText(a.tokens[state.token])}” ` +
      "(pick the query on the token strip)";
  }
  ctl.querySelector(".rows-picked").textContent = !on ? "Shift- or Ctrl-click heatmap rows, or add the query's row, to sum or average them."
    : picked.length ? `picked: ${picked.map((r) => `${r} “${byIndex.has(r) ? shownText(byIndex.get(r)) : "?"}”`).join(", ")}`
      : "picked: none, so the query token's row (Shift- or Ctrl-click heatmap rows, or add the query's row, to pick them)";
  ctl.querySelector("button[data-clear]").hidden = !picked.length;
  return picked;
}

/**
 * The bar chart's height and key axis for `tokens` in a chart `width` px wide (k: the presenter's text scale, 1
 * outside it): a long text labels every k-th key (tickStep), as many as have 16 px times k each across the bars (at
 * most 40, at least 3: a phone's 288 px had 28 slanted labels over each other), and its title then says so where it
 * has room (thinnedTitle: "key (every 2nd labelled; hover for all)", ... "key (every 2nd)"), with a line of height
 * added for it; one that labels every key has no title.
 */
export function rowsLayout(tokens, width, k = 1) {
  const n = tokens.length;
  const step = tickStep(n, Math.min(40, Math.max(3, Math.floor((width - 70) / (16 * k))))); // (less the margins)
  const title = thinnedAxisTitle("key", step, width - 70, { k, hover: true });
  return {
    height: 230 + (title.title ? 20 * k : 0),
    xaxis: tokenAxis(tokens, { tickangle: n > 8 ? -45 : 0, ...title }, step),
  };
}

/**
 * data: {analyze (as shown: maybe without special tokens), rows: the query_rows answer's source ({data, error,
 * pending}) or null while combine is "one"}; state: {layer, head, rows, combine}.
 */
export function render(element, data, state) {
  const a = data.analyze;
  const picked = sync(element, a, state);
  const byIndex = byIndexOf(a);
  const on = state.combine !== "one";
  const fig = panel(element, "rows", "Rows combined");
  fig.hidden = !on;
  if (!on) return undefined;
  const src = data.rows;
  if (!src || (!src.data && !src.error)) {
    caption(fig, "Computing…");
    return undefined;
  }
  if (src.error) {
    reason(fig, src.error);
    return undefined;
  }
  const qr = src.data.query_rows;
  const keep = a.hidden && a.hidden.length ? a.tokens.map((_, i) => tokenIndex(a.tokens, i)) : null;
  const row = pickRow(qr, state.layer, state.head, keep);
  if (!row) {
    reason(fig, `The answer holds no combined row for layer ${state.layer}, head ${state.head}.`);
    return undefined;
  }
  const words = qr.queries.map((q) => `${q} “${byIndex.has(q) ? shownText(byIndex.get(q)) : src.data.tokens[q] ? shownText(src.data.tokens[q]) : "?"}”`);
  fig.querySelector(".panel-title").textContent =
    `${qr.combine === "sum" ? "Sum" : "Mean"} of ${qr.queries.length === 1 ? "row" : "rows"} ${words.join(", ")} · layer ${state.layer} · head ${state.head}`;
  // with special tokens hidden, their keys' weight is not drawn: the bars sum to less (said, with the sum drawn)
  const total = qr.combine === "sum" ? "a row alone sums to 1, so the bars of all keys sum to the number of rows" : "the bars of all keys sum to 1";
  const drawn = keep ? `; without the hidden special tokens' keys these sum to ${fmt(row.reduce((t, v) => t + (v || 0), 0), 3)}` : "";
  const from = picked.length ? "the picked queries" : "the query token's row (no row picked)";
  caption(fig, (qr.combine === "sum" ? `Each key's total weight from ${from}` : `Each key's weight averaged over ${from}`) +
    ` (${total}${drawn}).` + (a.causal ? " A query gives no weight to keys after it." : "") +
    (keep ? " Special tokens hidden: their keys are left out." : ""));
  const n = a.tokens.length;
  const top = Math.max(qr.combine === "mean" ? 1 : 0.05, ...row.map((v) => v || 0));
  const labels = plainLabels(a.tokens);
  return draw(
    fig,
    [{ type: "bar", x: a.tokens.map((_, i) => i), y: row, marker: { color: COLORS.bar },
       text: n <= 16 ? row.map((v) => v.toFixed(2)) : undefined, textposition: "outside", cliponaxis: false,
       hovertext: a.tokens.map((t, i) => `key ${tokenIndex(a.tokens, i)} “${esc(shownText(t))}”: ${row[i]}`), hoverinfo: "text" }],
    {
      ...rowsLayout(a.tokens, plotOf(fig).clientWidth || 600, textScale()),
      yaxis: { title: { text: qr.combine === "sum" ? "summed weight" : "mean weight" }, range: [0, top * 1.15], fixedrange: true },
      margin: { l: 60, r: 10, t: 16, b: 60 },
    },
    {
      name: `rows-${qr.combine}-${src.data.model}-L${state.layer}-H${state.head}`,
      csv: () => [["key", "weight"], ...row.map((v, i) => [labels[i], v])],
      json: { model: src.data.model, layer: state.layer, head: state.head, queries: qr.queries, combine: qr.combine,
              keys: a.tokens.map((_, i) => tokenIndex(a.tokens, i)), weights: row },
    },
  );
}
