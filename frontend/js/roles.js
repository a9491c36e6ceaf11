// What each head does, as the page shows it: the pure logic of the Heads view, the grid's role labels, the Links
// overlay of several heads and the heatmap's combined rows. No DOM, no fetch, and no number of its own: every score,
// label and combined row is the API's (POST /api/roles, /api/roles/probe, /api/analyze `query_rows`); this module
// picks, orders and words them. Tested by tests/frontend/js/roles.test.mjs.
import { schemeWords } from "./labrun.js";
import THEME from "./theme.json" with { type: "json" };

export const PALETTE = THEME.heads.palette;

/** The colour of head `h` wherever several heads are drawn at once (theme.json heads.palette, repeated past its end). */
export const headColor = (h) => PALETTE[h % PALETTE.length];

/** Every head of a role table ([layer][head] of the API's HeadRoles), layer by layer. */
export const flatHeads = (table) => (table ? table.heads.flat() : []);

/** The labelled heads of a role table: [{layer, head, role, text}], the API's label and its text. */
export function labelsOf(table) {
  return flatHeads(table).filter((h) => h.label).map((h) => ({ layer: h.layer, head: h.head, role: h.label, text: h.label_text }));
}

// the size of a label's text, estimated from its font size: a character's width (DejaVu Sans's widest lowercase
// letters and digits are 0.63 em; the few wider ones are not in a label) and a line's height, in em
const CHAR_EM = 0.65;
const LINE_EM = 1.3;
const FIT_PAD_PX = 3;

/**
 * A label as it fits in a causal model's tile, clear of every weight: in the tile's masked top-right corner (query
 * i sees keys 0 to i, so the cells right of the diagonal are empty), on one line ("sink 0.71"), else on two ("sink"
 * over "0.71"), else the role alone ("sink"); null where none fits (the hover and the Heads tab still name it).
 * n: the tile's tokens; cell: a weight's cell in px ({w, h}); size: the font's size in px. The label covers rows
 * 0..r-1 and the keys from n - c on (r, c: its height and width in cells, rounded up); a weight is covered when
 * one of those keys is at most one of those rows.
 */
export function fitTileText(text, n, cell, size) {
  const two = tileText(text, true).split("\n"); // [role, score], or the text alone
  const variants = two.length > 1 ? [[text], two, [two[0]]] : [[text]];
  for (const lines of variants) {
    const w = Math.max(...lines.map((l) => l.length)) * CHAR_EM * size + FIT_PAD_PX;
    const h = lines.length * LINE_EM * size + FIT_PAD_PX;
    if (n - Math.ceil(w / cell.w) >= Math.ceil(h / cell.h)) return lines.join("\n");
  }
  return null;
}

/** A label as a grid tile shows it: on two lines ("prev" / "0.92") where the tile is narrow. */
export function tileText(text, narrow) {
  if (!narrow) return text;
  const i = text.lastIndexOf(" ");
  return i > 0 ? `${text.slice(0, i)}\n${text.slice(i + 1)}` : text;
}

/**
 * The heads ranked by `role`'s score: highest first (lowest first with `asc`), ties by layer then head, heads with
 * no score for that role last either way. The API's `ranking` rule (descending), on the four-decimal scores the page
 * is sent (`ranking` orders the unrounded ones, so heads whose scores round alike may stand otherwise there), and the
 * order in which a lesson's $max(path), $2nd(path) and $next(path) name heads (tests/frontend/js/roles.test.mjs).
 */
export function sortHeads(table, role, asc = false) {
  const score = (h) => (h.scores ? h.scores[role] : undefined);
  const has = (h) => typeof score(h) === "number" && Number.isFinite(score(h));
  return flatHeads(table).slice().sort((a, b) => {
    if (has(a) !== has(b)) return has(a) ? -1 : 1;
    if (has(a) && score(a) !== score(b)) return asc ? score(a) - score(b) : score(b) - score(a);
    return a.layer - b.layer || a.head - b.head;
  });
}

/** The head with the highest `role` score (ties: the lowest layer, then head), or null where no head has one. */
export function strongest(table, role) {
  const top = sortHeads(table, role)[0];
  return top && typeof top.scores[role] === "number" ? top : null;
}

/** An offset in words: 0 is the token itself, 1 the token before (the previous-token role's). */
export function offsetWords(offset) {
  return offset === 0 ? "offset 0: the token itself" : offset === 1 ? "offset 1: the previous token" : `offset ${offset}`;
}

/**
 * "No query of this text counts for <role>, so no head has this score here" (no full stop), where none of the role's
 * queries counts for it (induction on a sentence with no repeated token); null where some query counts, or the counts
 * are not known. `queries`: the role table's count of the queries where each role is possible; `def`: the role's
 * definition (GET /api/roles/definitions), whose name says the role, and with `which` its `queries` too.
 */
function noQuery(queries, role, def, which = false) {
  if (!queries || queries[role] !== 0) return null;
  const what = def ? `${def.name}${which && def.queries ? ` (${def.queries})` : ""}` : role;
  return `No query of this text counts for ${what}, so no head has this score here`;
}

/** Why a role's column of the ranked table is all "—" on a text (noQuery, with which queries count), after a space;
 * "" where some query counts, or the counts are not known. */
export function noQueryWords(queries, role, def) {
  const none = noQuery(queries, role, def, true);
  return none ? ` ${none}: every score is “—”.` : "";
}

/**
 * The caption of one model's panel across models (`r`: one of POST /api/roles/models' results): its scheme, its
 * strongest head for `role` (with the offset for fixed-offset: the strongest fixed offset of a tiny model is 1, the
 * previous token, which the question "fixed-offset heads?" must not read as a longer offset), and the probe's loss.
 * `def`: the role's definition, whose name says a role that no query of the text counts for.
 */
export function modelCaption(r, role, def = null) {
  const top = strongest(r.roles, role);
  const words = schemeWords(r.positional);
  const scheme = `${words[0].toUpperCase()}${words.slice(1)}`;
  const loss = r.probe && !r.probe.loss_unavailable
    ? ` Probe loss ${scoreText(r.probe.first_half_loss)} → ${scoreText(r.probe.second_half_loss)} nats.` : "";
  // (no head: why, where no query counts for the role; the ranked table above says which queries would)
  // (heads of the same score: the caption names the first in sortHeads' order, and says the others tie with it)
  const tied = top ? flatHeads(r.roles).filter((x) => x !== top && x.scores[role] === top.scores[role]) : [];
  const ties = tied.length === 1 ? `, tied with L${tied[0].layer} H${tied[0].head}` : tied.length ? `, tied with ${tied.length} other heads` : "";
  // heads whose lower score the grid shows as the strongest's (0.1921 and 0.1887: both "0.19"): the strongest's score
  // with the digits that tell it from the next one's (up to 4, the API's), and which read alike
  const shown = top ? scoreText(top.scores[role]) : "";
  const alike = top ? sortHeads(r.roles, role).filter((x) => x !== top && !tied.includes(x) && typeof x.scores[role] === "number" &&
    scoreText(x.scores[role]) === shown) : [];
  let digits = 2;
  while (alike.length && digits < 4 && scoreText(top.scores[role], digits) === scoreText(alike[0].scores[role], digits)) digits++;
  const next = alike[0];
  const also = !alike.length ? ""
    : alike.length === 1 ? `; L${next.layer} H${next.head} (${scoreText(next.scores[role], digits)}) reads ${shown} too`
      : `; ${alike.length} other heads read ${shown} too, the next L${next.layer} H${next.head} ${scoreText(next.scores[role], digits)}`;
  return `${scheme}. ` + (top ? `Strongest: L${top.layer} H${top.head} ${scoreText(top.scores[role], digits)}` +
    (role === "fixed-offset" && top.offset !== null ? ` (${offsetWords(top.offset)})` : "") + `${ties}${also}.`
    : `${noQuery(r.roles.queries, role, def) || "No head has this score here"}.`) + loss;
}

/** The thresholds of the labelling rule in words (GET /api/roles/definitions `thresholds`). */
export function ruleText(t) {
  if (!t) return "";
  return `A head carries a label when its strongest role scores at least ${t.min_score}, at least ${t.min_margin} ` +
    `above its next role, over at least ${t.min_queries} queries, by the scores as computed (a score just under ` +
    `${t.min_score} may show rounded as ${Number(t.min_score).toFixed(2)}); otherwise it is unlabelled. Broad (entropy) ` +
    "describes a head and is never a label. A fixed offset of 1 or 0 is the previous-token or own-token role (its " +
    "score differs: it also counts the second token, whose key at offset 1 is the first token, left out; on a short " +
    "sentence that lowers it a lot), so it is not a next role (nor a label).";
}

/** A role's hover text: its definition in words, the formula, which queries count and how many did here. */
export function definitionText(def, counted = null) {
  if (!def) return "";
  return `${def.name}: ${def.words}\nFormula: ${def.formula}\nQueries that count: ${def.queries}` +
    (counted === null || counted === undefined ? "" : ` (${counted} here)`);
}

/** "0.923" -> "0.92"; no score (null: no query counted) -> "—". */
export const scoreText = (v, digits = 2) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "—");

/**
 * What the induction probe's loss drop (first copy minus repeat, in nats) says: "much" (over 1: the model predicts the
 * repeat far better), "some" (0.3 to 1), "same" (within 0.3 either way) or "worse" (the repeat 0.3 or more above).
 * The bands of lesson 11's reveal, whose `when` blocks tests/frontend/js/roles.test.mjs checks against this.
 */
export function probeDropBand(drop) {
  if (drop > 1) return "much";
  if (drop >= 0.3) return "some";
  if (drop > -0.3) return "same";
  return "worse";
}

const PROBE_DROP_WORDS = {
  much: "the model predicts the repeat far better: it learned the sequence in context, from the first copy",
  some: "somewhat better on the repeat, far from predicting it",
  same: "about the same on both copies: no sign of copying from the first one",
  worse: "worse on the repeat than on the first copy",
};

/**
 * The first sentence of the Heads view's panels across models: what runs through them. `members`: the family's models
 * (the panels); `onScreen`: the model on screen, whose probe or sentence the rest of the view shows; `probe`: whether
 * the panels score the induction probe of seed `seed` (the tiny models share one vocabulary, so one probe: a model
 * with another vocabulary, SmolLM2 or MiniLM, has a probe of its own, and a checkpoint NAME@STEP is not a panel).
 */
export function acrossModelsIntro({ members, onScreen, probe, seed, intervened = false }) {
  const inFamily = members.includes(onScreen);
  const what = probe ? `probe (seed ${seed}; they share one vocabulary, so one probe${inFamily ? "" : `, not ${onScreen}'s above`})` : "sentence";
  // (as trained: the page's interventions, which the table above runs with, are not applied to these)
  // ("final": the trained models, beside a checkpoint NAME@STEP on screen; beside another model, the models by name)
  const them = onScreen.includes("@") ? `The final ${members.join(", ")}` : `The models ${members.join(", ")}`;
  return (inFamily ? `The same ${what} through each model` : `${them}, not ${onScreen}: the same ${what} through each`)
    + (intervened ? ", as trained: without the page's interventions" : "");
}

/** The largest seed of the induction probe (the API's). */
export const MAX_PROBE_SEED = 2 ** 31 - 1;

/**
 * The seed in the Heads view's box (`raw`) as the probe takes it: {seed}, a whole number from 0 to MAX_PROBE_SEED; or
 * {problem}: why the probe is not run (it ran seed 0 for -3, 2.5 or 99999999999, the box still showing the number
 * typed). An empty box is seed 0, the box's default.
 */
export function probeSeed(raw) {
  const text = String(raw ?? "").trim();
  if (text === "") return { seed: 0 };
  const v = Number(text);
  if (Number.isInteger(v) && v >= 0 && v <= MAX_PROBE_SEED) return { seed: v };
  return { problem: `Seed “${text.slice(0, 20)}” is not a whole number from 0 to ${MAX_PROBE_SEED}: the probe was not run. Type one and run the probe again.` };
}

/** The words for a probe's loss drop (probeDropBand's band). */
export const probeDropWords = (drop) => PROBE_DROP_WORDS[probeDropBand(drop)];

// ------------------------------------------------------------------------------------------ several heads at once

/** The heads Links draws: the overlay's (those the model has), else the selected head alone. */
export function overlayHeads(state, nHeads) {
  const chosen = (state.overlay || []).filter((h) => Number.isInteger(h) && h >= 0 && h < nHeads);
  return chosen.length ? chosen : [state.head];
}

/**
 * The overlay after a click on head `h`'s chip: it is added or taken out of the heads drawn. Written as [] when what
 * is left is the selected head alone (the default) or nothing.
 */
export function toggleOverlay(state, nHeads, h) {
  const shown = overlayHeads(state, nHeads);
  const next = shown.includes(h) ? shown.filter((x) => x !== h) : [...shown, h].sort((a, b) => a - b);
  if (!next.length || (next.length === 1 && next[0] === state.head)) return [];
  return next;
}

/** The selected rows after a Shift- or Ctrl-click on row `i` (an API index): added, or taken out when there. */
export function toggleRow(rows, i) {
  return rows.includes(i) ? rows.filter((r) => r !== i) : [...rows, i].sort((a, b) => a - b);
}

/**
 * The query tokens whose rows the heatmap combines: the selected rows that this text has (n tokens), else the query
 * token alone; null when the heatmap shows one row (combine "one").
 */
export function combinedQueries(state, n, token) {
  if (state.combine === "one") return null;
  const rows = (state.rows || []).filter((r) => r >= 0 && r < n);
  return rows.length ? rows : [token];
}

/**
 * The combined row of one head, from /api/analyze's `query_rows` ([layer][head][key]), with the keys the plot shows
 * (`keep`: their API indices; null: every key). Picked by index: no new number.
 */
export function pickRow(queryRows, layer, head, keep = null) {
  const row = queryRows && queryRows.weights[layer] && queryRows.weights[layer][head];
  if (!row) return null;
  return keep ? keep.map((k) => row[k]) : row.slice();
}
