// What every view derives from the API's answers and the page's state, written once: the request parameters of a
// state, the effective query token, the answer without its special tokens (rows and columns picked by index: no
// new numbers), the mask as the answer gives it, how many positions the encoding shows, whether a model gets the
// compact /api/analyze, and whether an input event waits for the typing pause. Pure functions: no DOM, no fetch
// (the data layer, data.js, uses them; so do the tests).

// Models with more heads than this (layers x heads) get the compact /api/analyze: the selected layer at full
// precision and every head as 8-bit thumbnails for the grid, asked for once per sentence.
export const COMPACT_ABOVE_HEADS = 32;

/** Does this model get the compact /api/analyze? */
export const compact = (model) => Boolean(model) && model.n_layers * model.n_heads > COMPACT_ABOVE_HEADS;

/** The sentence, model and interventions of a state: what every model request starts from. */
export function baseParams(state, model) {
  const p = { text: state.text, model: model ? model.name : undefined, positions: state.positions, scale: state.scale, ablate: state.ablate };
  // past the trained length only when the page has agreed to it (state.beyond) and the model can run there
  if (state.beyond && canRunBeyond(model)) p.allow_beyond_trained = true;
  return p;
}

/**
 * Why the server refuses a text without reading it (backend/service.py check_text), in its words, or null: a text
 * with nothing but white space, or more characters than `maxChars` (max_text_chars, counted as the server counts them:
 * an emoji is one). The page says it instead of sending a request it knows is refused.
 */
export function textRefusal(text, maxChars) {
  const t = String(text ?? "");
  if (!t.trim()) return "text is empty: type a sentence";
  const n = maxChars ? Array.from(t).length : 0;
  return maxChars && n > maxChars ? `the sentence is ${n} characters; the sentence box holds at most ${maxChars}` : null;
}

/**
 * Why a word typed for its one token (nearest words, the analogy's a, b, c) cannot be one, known without the server, or
 * null: several words never are (no token of a vocabulary holds a space between two characters; the server's advice
 * for them is "type one word"). Whether one word is one token only the server can say.
 */
export function wordRefusal(word) {
  const words = String(word ?? "").trim().split(/\s+/).filter(Boolean);
  return words.length > 1 ? `“${String(word).trim()}” is ${words.length} words, never one token: type one word` : null;
}

// the most tokens of its own a model adds to a text (a BOS; BERT's [CLS] and [SEP])
const ADDED_TOKENS = 2;

/**
 * Whether `text` surely fits the tokens `model` reads (max_tokens, or max_tokens_beyond where `beyond`), known without
 * the server: a token covers at least one byte of the text's UTF-8 (a byte-level BPE's, a word piece, a character), so
 * a text of n bytes is at most n tokens and those the model adds. A longer text may fit too: only the server counts it.
 * (A tokenizer that expands a character first, as NFKC does a few ligatures, could exceed it: one refusal more, then.)
 */
export function surelyFits(text, model, beyond = false) {
  if (!model) return false;
  const limit = tokenLimit(model, beyond);
  return Number.isInteger(limit) && new TextEncoder().encode(String(text ?? "")).length + ADDED_TOKENS <= limit;
}

/** The most tokens `model` reads: max_tokens, or max_tokens_beyond where `beyond` (the page's agreement) and it can. */
export function tokenLimit(model, beyond = false) {
  return beyond && canRunBeyond(model) ? model.max_tokens_beyond : model.max_tokens;
}

/**
 * How many tokens a refusal for length says the text is, or null: `refusal`, the numbers the API gives beside the
 * message (an answer's `refusal`, api.js; an entry of /api/roles/models's `left_out`), never its words.
 */
export function refusedLength(refusal) {
  return refusal && typeof refusal === "object" && Number.isInteger(refusal.tokens) ? refusal.tokens : null;
}

/**
 * A message as a sentence on the page: a capital first letter and a full stop (the API's messages, "the text is 145
 * tokens ...", are written to be quoted: joined with another they ran on without one). A message that starts with one
 * of `names` (the models' names: "tiny-sinusoidal has 4 layers ...") keeps it as it is spelt.
 */
export function asSentence(message, names = []) {
  const m = String(message || "").trim();
  if (!m) return "";
  const named = names.some((n) => n && m.startsWith(n) && !/^[\w@-]/.test(m.slice(n.length)));
  const capital = named ? m : m[0].toUpperCase() + m.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * A clause that ends on a model's limit, and why the model stops there (its /api/models `why_not_beyond`, a sentence
 * of its own: "The app reads at most 128 tokens ..."), as two sentences; the clause alone, ended, where there is no
 * reason. (Joined with a colon they read "(this text is 171): The app reads ...", a capital inside a sentence.)
 */
export const withReason = (clause, why) => `${clause}.${why ? ` ${asSentence(why)}` : ""}`;

/** Whether layer `layer`, head `head` is among `ablate` (the state's or an answer's interventions' [layer, head] pairs). */
export const isAblated = (ablate, layer, head) => Boolean(ablate) && ablate.some(([l, h]) => l === layer && h === head);

/** A token as the page shows it: its display string where the API sends one, else its text. */
export const shownText = (t) => (t.display ?? t.text);

/** “1 layer”, “4 layers”: `n` and its noun, in the plural (`many`, else noun + s) unless n is 1. */
export const count = (n, noun, many = `${noun}s`) => `${n} ${n === 1 ? noun : many}`;

/**
 * What a token chip says of a token's position: its place in the text (`position`, the API's), and where the run
 * gave the model other positions, what it was given (`interventions`, the answer's): the permutation's under
 * shuffled positions, none with the positions removed; `positional` "none" (the model's scheme): it reads none.
 */
export function positionText(position, interventions, positional = null) {
  const iv = interventions || {};
  // a model that reads no positions is given none, whatever the run does with them
  if (positional === "none" && iv.positions !== "normal" && iv.positions !== undefined) return `position ${position} (this model reads no positions)`;
  if (iv.positions === "removed") return `position ${position} in the text (the model was given none: positions removed)`;
  const given = iv.positions === "shuffled" && Array.isArray(iv.permutation) ? iv.permutation[position] : undefined;
  return given === undefined ? `position ${position}` : `position ${position} in the text, given position ${given} (shuffled)`;
}

/**
 * The query token, as an index into the API's `tokens`: the hovered one, else the selected one, else the default:
 * the last one shown that stands for text (on MiniLM the one before [SEP], whose attention is not about the
 * sentence's words), or the last one shown where none does. `shown`: the indices the page shows (all of them, or
 * those left when special tokens are hidden). The lesson server's default is the same (backend/schemas.py
 * default_query).
 */
export function effectiveToken(tokens, { hover = null, token = null } = {}, shown = null) {
  const n = tokens.length;
  const t = hover !== null && hover !== undefined ? hover : token;
  const ok = (i) => Number.isInteger(i) && i >= 0 && i < n && (!shown || shown.includes(i));
  if (ok(t)) return t;
  const order = shown && shown.length ? shown : tokens.map((_, i) => i);
  const text = order.filter((i) => !tokens[i].special);
  return text.length ? text[text.length - 1] : order.length ? order[order.length - 1] : n - 1;
}

/**
 * The mask of an answer that carries `visible` (how many keys each query sees): masked(i, j) is true where query i
 * cannot see key j. `keep`: the answer's indices of the rows and columns drawn (when some are hidden).
 * An answer without `visible` masks nothing.
 */
export function maskOf(answer, keep = null) {
  const visible = answer && answer.visible;
  if (!visible) return null;
  if (!keep) return (i, j) => j >= visible[i];
  return (i, j) => keep[j] >= visible[keep[i]];
}

/** Does the answer mask any cell at all? (a bidirectional model masks none) */
export const masksAny = (answer) => Boolean(answer && answer.visible && answer.visible.some((v) => v < answer.visible.length));

/**
 * The cells that neither side of a comparison sees (query i, key j: masked in both answers), or null where one side
 * sees every cell. A cell masked on one side alone is that side's 0 against the other's weight: a real difference.
 * keep: the indices of the rows and columns drawn (keptIndices; null: all).
 */
export function bothMasked(a, b, keep = null) {
  const ma = masksAny(a) ? maskOf(a, keep) : null;
  const mb = masksAny(b) ? maskOf(b, keep) : null;
  return ma && mb ? (i, j) => ma(i, j) && mb(i, j) : null;
}

const sliceMemo = new WeakMap(); // answer -> {key, view}
const thumbMemo = new WeakMap(); // thumbnails -> {key, thumbs}

/** The indices of the tokens shown: all of them, or those that are not special when `hide` is on (never none). */
export function keptIndices(tokens, hide) {
  if (!hide) return null;
  const keep = [];
  tokens.forEach((t, i) => { if (!t.special) keep.push(i); });
  return keep.length === tokens.length || keep.length === 0 ? null : keep;
}

const cellsMemo = new WeakMap(); // matrix -> {key, cells}
const tokensMemo = new WeakMap(); // tokens -> {key, kept}

/** The tokens an attention plot draws: those of `keep` (keptIndices), each with `index`, its index in the API's
 * tokens; all of them where `keep` is null. Memoised per array. */
export function keptTokens(tokens, keep) {
  if (!keep || !tokens) return tokens;
  const key = keep.join(",");
  const memo = tokensMemo.get(tokens);
  if (memo && memo.key === key) return memo.kept;
  const kept = keep.map((i) => ({ ...tokens[i], index: i }));
  tokensMemo.set(tokens, { key, kept });
  return kept;
}

/** A [query][key] matrix's rows and columns of `keep` (keptIndices; null: the matrix itself), picked by index from
 * the API's numbers (nothing recomputed). Memoised per matrix. */
export function keptCells(m, keep) {
  if (!keep || !m) return m;
  const key = keep.join(",");
  const memo = cellsMemo.get(m);
  if (memo && memo.key === key) return memo.cells;
  const cells = keep.map((i) => keep.map((j) => m[i][j]));
  cellsMemo.set(m, { key, cells });
  return cells;
}

/** What an attention plot of `tokens` draws with "hide special tokens" at `hide`: `keep` (keptIndices), the `tokens`
 * drawn (keptTokens) and the special tokens left out, `hidden` (none where nothing is left out: plot.js hiddenNote). */
export function keptOf(tokens, hide) {
  const keep = keptIndices(tokens, hide);
  return { keep, tokens: keptTokens(tokens, keep), hidden: keep ? tokens.filter((t) => t.special) : [] };
}

/** Where the token of API index `i` is drawn among the kept tokens (null: hidden, or no token). */
export function keptPosition(keep, i) {
  if (!Number.isInteger(i)) return null;
  if (!keep) return i;
  const at = keep.indexOf(i);
  return at < 0 ? null : at;
}

/**
 * The "hide special tokens" box for the sentence on screen (`tokens`: its analysis's, `model`: the model's name,
 * `hide`: the box ticked): off, with why, where no token is special (SmolLM2 adds none), since ticking it would hide
 * nothing; a ticked box stays usable, to untick. null: as the page has it (a sentence with a special token).
 */
export function hideSpecialBox(tokens, model, hide) {
  if (!tokens || !tokens.length || tokens.some((t) => t.special)) return null;
  return { disabled: !hide, title: `${model} adds no special token to this sentence (no BOS, [CLS] or [SEP]): there is nothing to hide` };
}

/**
 * What a phone's closed Settings hide that a new page would not show (main.js writes it on their button), in short
 * words, in the settings' order: the training step the slider picked (`tstep`: an earlier checkpoint's; null, the
 * final model) and "hide special tokens" ticked. The interventions are not named: the page's banner shows them.
 */
export function settingsNotes({ tstep, hidespecial }) {
  return [tstep === null ? "" : `step ${tstep}`, hidespecial ? "no specials" : ""].filter(Boolean);
}

/**
 * An /api/analyze answer as the attention views draw it: with special tokens hidden, their rows and columns are left
 * out, picked by index from the API's numbers. Each kept token gets `index` (its index in the answer), `hidden`
 * lists the tokens left out, `mask` is the answer's mask for the kept rows and columns. Memoised per answer.
 */
export function visibleAnalysis(a, hide) {
  if (!a) return a;
  const { keep, tokens, hidden } = keptOf(a.tokens, hide);
  const key = keep ? keep.join(",") : "";
  const memo = sliceMemo.get(a);
  if (memo && memo.key === key) return memo.view;
  let view;
  if (!keep) view = { ...a, mask: maskOf(a), hidden };
  else {
    view = {
      ...a,
      tokens,
      hidden,
      attention: a.attention.map((heads) => (heads ? heads.map((m) => keptCells(m, keep)) : heads)), // [query][key] -> [kept query][kept key]
      thumbnails: a.thumbnails ? sliceThumbnails(a.thumbnails, keep) : null,
      mask: maskOf(a, keep),
    };
  }
  sliceMemo.set(a, { key, view });
  return view;
}

/** The thumbnails' rows and columns of the kept tokens (bytes [layer, head, query, key]). */
export function sliceThumbnails(t, keep) {
  const key = keep.join(",");
  const memo = thumbMemo.get(t);
  if (memo && memo.key === key) return memo.thumbs;
  const [nL, nH, n] = t.shape; // [layer, head, query, key]
  const m = keep.length;
  const bytes = new Uint8Array(nL * nH * m * m); // [layer, head, kept query, kept key]
  for (let lh = 0; lh < nL * nH; lh++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) bytes[(lh * m + i) * m + j] = t.bytes[(lh * n + keep[i]) * n + keep[j]];
  const thumbs = { ...t, shape: [nL, nH, m, m], bytes };
  thumbMemo.set(t, { key, thumbs });
  return thumbs;
}

/** The API index of each token a (possibly sliced) answer shows. */
export const shownIndices = (view) => view.tokens.map((t, i) => (Number.isInteger(t.index) ? t.index : i));

/**
 * How many positions the encoding heatmap shows: what the page asks for (`pn`), at most what a learned table holds
 * (its trained length, which may be longer than the texts the model is given here; a sinusoidal encoding has no end).
 */
export function positionalLength(model, pn) {
  return model.positional === "sinusoidal" ? pn : Math.min(pn, model.trained_tokens ?? model.max_tokens);
}

/**
 * An analysis asked with `visible_only` (each query's row of `attention` ends after the keys it sees, `visible[query]`
 * of them) with its rows whole again: the masked keys after them as 0, as a plain answer has them; one asked with
 * `packed` (its `attention_packed` decoded by api.js) with `attention` made from those integers, rows whole. In place
 * (the answer is the page's own, just parsed); a plain answer is left as it is.
 */
export function wholeRows(a) {
  if (a && a.attention_packed && a.attention_packed.bytes) {
    a.attention = unpackedAttention(a.attention_packed, a.visible);
    delete a.attention_packed;
    return a;
  }
  if (!a || !Array.isArray(a.attention) || !Array.isArray(a.visible)) return a;
  const n = a.visible.length;
  for (const layer of a.attention) {
    for (const matrix of layer || []) for (const row of matrix) while (row.length < n) row.push(0);
  }
  return a;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The API's packed attention ({shape: [layer, head, query, key], dtype: "uint16", scale, rows, bytes}) as nested
 * arrays [layer][head][query][key] with whole rows: weight = integer / scale (the same numbers as the JSON lists: both
 * the nearest double to a 4-decimal number), a key a query does not see 0. rows "visible": the bytes hold each
 * query's first visible[query] keys only.
 */
export function unpackedAttention(packed, visible) {
  const [nl, nh, nq, nk] = packed.shape;
  const { bytes, scale } = packed;
  const count = bytes.length >> 1;
  let ints;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) ints = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    ints = Uint16Array.from({ length: count }, (_, i) => view.getUint16(2 * i, true));
  }
  const seen = packed.rows === "visible" ? visible : null;
  let i = 0;
  const out = new Array(nl);
  for (let l = 0; l < nl; l++) {
    const layer = (out[l] = new Array(nh));
    for (let h = 0; h < nh; h++) {
      const matrix = (layer[h] = new Array(nq));
      for (let q = 0; q < nq; q++) {
        const n = seen ? seen[q] : nk;
        const row = (matrix[q] = new Array(nk));
        for (let k = 0; k < n; k++) row[k] = ints[i++] / scale;
        for (let k = n; k < nk; k++) row[k] = 0;
      }
    }
  }
  if (i !== count) throw new Error(`the packed attention holds ${count} numbers, its shape ${i}`);
  return out;
}

/**
 * A compact answer (`layers` names the layers it holds in full) with `attention` indexed by layer: attention[l] is
 * that layer's [head][query][key], or null for a layer the answer does not hold. Every other answer is left as it is.
 */
export function byLayer(a) {
  if (!a || !Array.isArray(a.layers) || a.layers.length === a.n_layers && a.layers.every((l, i) => l === i)) return a;
  const attention = Array.from({ length: a.n_layers }, () => null);
  a.layers.forEach((l, i) => { attention[l] = a.attention[i]; });
  return { ...a, attention };
}

// ---------------------------------------------------------------------------------------------- sampling

/**
 * The sampling of a state as /api/predict takes it ({method, top_k, top_p, seed}). `forKept`: only what decides the
 * kept set (top-k, top-p), or null when they are at their defaults (so the request stays the plain one).
 */
export function samplingOf(state, { forKept = false } = {}) {
  const top_k = state.topk > 0 ? state.topk : null;
  const top_p = state.topp;
  if (forKept) return top_k === null && top_p === 1 ? null : { top_k, top_p };
  return { method: state.sample ? "sample" : "greedy", top_k, top_p, seed: state.sample ? state.seed : null };
}

/**
 * Which of the listed predictions are in the kept set: the API's `kept.size` most probable tokens are (the list is
 * in order of probability). [true, true, false, ...]; every one when the answer has no kept set.
 */
export function keptFlags(predictions, kept) {
  const size = kept && Number.isInteger(kept.size) ? kept.size : Infinity;
  return predictions.map((_, i) => i < size);
}

/**
 * A probability as the predictions view writes it (bars, table, kept mass): 3 decimals from 0.01 up (0.196), two
 * significant figures below (0.0023, 0.0060, 0.000084: decimals all the way, as a learner reads the bars beside them,
 * where "8.4e-5" read as no smaller than 0.0023), so that a flat distribution (a high temperature, a large
 * vocabulary) does not read "0.000" on every bar. Both figures are written where the second is 0 (0.00598: "0.0060",
 * beside 0.0063; "0.006" read as one figure fewer); the API gives three there (analysis/common.py prob_round). Under
 * 0.000001 (an API answer of 0 too): "< 0.000001". `decimals`: of an answer rounded to that many decimals (the logit
 * lens's 4): below 0.01 its decimals are all the figures there are, and a 0 is under half the last ("< 0.0001").
 */
export function probText(p, { decimals = null } = {}) {
  if (p === null || p === undefined || !Number.isFinite(Number(p))) return "—";
  const x = Number(p);
  if (decimals !== null && Math.abs(x) < 0.01) return x === 0 ? `< ${(10 ** -decimals).toFixed(decimals)}` : x.toFixed(decimals);
  if (Math.abs(x) < 1e-6) return "< 0.000001";
  const two = Number(x.toPrecision(2));
  if (Math.abs(x) >= 0.01 || Math.abs(two) >= 0.01) return x.toFixed(3);
  return x.toFixed(1 - Math.floor(Math.log10(Math.abs(two))));
}

/** The probability axis of bars of `probs`: from 0 to a little past the largest, whatever its size (a floor, say
 * 0.05, leaves the bars of a flat distribution too short to see). [0, max]. */
export function probRange(probs) {
  const top = Math.max(0, ...probs.filter(Number.isFinite));
  return [0, (top > 0 ? top : 1e-4) * 1.1];
}

/**
 * What a continuation's steps and note hold for: the sentence it made, the model and what else changes a step's
 * probabilities (positions, scaling, ablated heads, temperature, the kept set's top-k and top-p). Another model or
 * ablation on the same sentence gives other numbers, and another tokenizer other positions.
 */
export function continuationKey(state, model) {
  return JSON.stringify([state.text, model, state.positions, state.scale, state.ablate, state.temp, state.topk, state.topp]);
}

/**
 * The generated tokens a continuation left in the sentence, while the page is still the one it made them on
 * (`key`: continuationKey of the page now): [{position, ...step}] (the API's steps, each at its token's position),
 * else []. `generated`: {key, steps}.
 */
export function generatedSteps(generated, key) {
  if (!generated || generated.key !== key || !Array.isArray(generated.steps)) return [];
  return generated.steps.map((s) => ({ ...s, position: s.token.position }));
}

/** The generated position after (`by` = 1) or before (-1) `token` (an API index, resolved: not null), or null when
 * there is none; from a token that is not a generated one, the first (or the last). */
export function stepTo(steps, token, by) {
  const positions = steps.map((s) => s.position);
  if (!positions.length) return null;
  const at = positions.indexOf(token);
  if (at < 0) return by > 0 ? positions[0] : positions[positions.length - 1];
  const next = at + by;
  return next >= 0 && next < positions.length ? positions[next] : null;
}

/**
 * The stepping through the generated tokens from the selected token: `token` is the state's (null: the default,
 * as is one past the end; effectiveToken, not hovered) of the API's `tokens`, `shown` the indices on screen. After
 * Continue nothing is pinned, so the selected token is the last generated one: stepping goes on from there, not
 * from outside the steps. {at: the selected index, prev, next (stepTo's), on: whether `at` is a generated token}.
 */
export function stepping(steps, token, tokens, shown = null) {
  const at = effectiveToken(tokens, { token }, shown);
  return { at, prev: stepTo(steps, at, -1), next: stepTo(steps, at, 1), on: steps.some((s) => s.position === at) };
}

/** Whether the predictions view's temperature slider is off 1: a view whose probabilities are at temperature 1 (the
 * analysis's: the lens, the ablation effects, the model picture) then says so. */
export const temperatureElsewhere = (state) => Boolean(state) && state.temp !== undefined && state.temp !== 1;

// ---------------------------------------------------------------------------------- past the trained length

/** Can this model (a /api/models entry) run on a text longer than its trained length (allow_beyond_trained)? */
export const canRunBeyond = (model) =>
  Boolean(model) && Number.isInteger(model.max_tokens_beyond) && model.max_tokens_beyond > model.max_tokens;

/**
 * The names of the models (a list of /api/models entries) that can run past their trained length, to offer for a text
 * too long for another model: not a training-lab run (trained on a few dozen tokens of a task, with its own tokens: a
 * letter each for the synthetic tasks), and, given the text's length in tokens, only those that read that many past
 * their trained length (the length on the model that refused it: the tiny models share one tokenizer).
 */
export const modelsBeyond = (models, tokens = 0) => models
  .filter((m) => m.available !== false && (m.lab_run ?? null) === null && canRunBeyond(m) && m.max_tokens_beyond >= tokens)
  .map((m) => m.name);

/**
 * What the page says about the trained length, for the sentence on screen:
 *   {kind: "warning", text}  the answer ran past the trained length (its beyond_trained): positions never seen
 *   {kind: "offer", text}    the text is too long for the trained length, and the model can run past it if asked
 *   {kind: "cannot", text, models, open}  the text is too long and this model cannot run past its length (why, and
 *                           which can: `models`, their names; `open`: {model, beyond: true}, the state that opens the
 *                           text on one of them, the default model first, or null where none can)
 *   null                     nothing to say
 * analysis: the /api/analyze answer on screen (or null); error, status: its error and HTTP status; refusal: the
 * numbers a 422 for a text too long gives beside its message ({tokens, limit, model}, api.js); models: every
 * /api/models entry. Which notice is decided by the numbers alone, never the message's words: the text's length and
 * the limit it was refused at (the model's max_tokens, or its max_tokens_beyond where the request ran past the
 * trained length), with the model's own limits and the page's agreement (`state.beyond`). A 422 without them, or
 * refused at another limit (a report's), or of another model, is none: its message is shown as it came.
 */
export function beyondNotice({ model, state, analysis = null, error = null, status = 0, refusal = null, models = [] }) {
  if (analysis && analysis.beyond_trained && !error) return { kind: "warning", text: analysis.beyond_trained.warning };
  if (!model || !error || status !== 422) return null;
  const length = refusedLength(refusal);
  const limit = length === null ? null : refusal.limit;
  if (!Number.isInteger(limit) || length <= limit || (refusal.model && refusal.model !== model.name)) return null;
  // the most the model reads past its trained length (null where it cannot run there), and whether the refusal's
  // limit is one of the model's own: its max_tokens, or that
  const beyondLimit = canRunBeyond(model) ? model.max_tokens_beyond : null;
  const atOwn = limit === model.max_tokens;
  if (!atOwn && limit !== beyondLimit) return null;
  const trained = model.trained_tokens ?? model.max_tokens;
  const said = ` (this text is ${length})`;
  // the other models that read a text this long (past their trained length where they can), by name
  const readers = () => models.filter((m) => m.name !== model.name && modelsBeyond([m], length).length).map((m) => m.name);
  // the one model the notice's button opens the text on (the default model where it is one of them), allowed past its
  // trained length (the text is too long for that too, or near it: the page then warns as it does there)
  const opener = (names) => {
    const name = models.find((m) => m.default && names.includes(m.name))?.name ?? names[0];
    return name ? { model: name, beyond: true } : null;
  };
  if (beyondLimit !== null && length <= beyondLimit) {
    // refused at the trained length, and it reads this many past it: offered, unless the page has agreed already
    if (!atOwn || state.beyond) return null;
    // (a model given no positions meets no new position there, only a longer text than any it saw)
    const unseen = model.positional === "none" || state.positions === "removed" ? "a text this long"
      : `the positions from ${trained} on`;
    return { kind: "offer", text: `${model.name} was trained on texts of at most ${trained} tokens${said}. It can read up to ` +
      `${beyondLimit}, but it never saw ${unseen}: what it does there is extrapolation.` };
  }
  if (beyondLimit !== null) {
    // longer than the model reads even past its trained length, whether it was asked to run there or not
    const others = readers();
    return { kind: "cannot", text: `${model.name} cannot read more than ${beyondLimit} tokens, even past its ` +
      `trained length of ${trained}${said}: cut at least ${count(length - beyondLimit, "token")}.` +
      (others.length ? ` Models that can read a text this long: ${others.join(", ")}.` : ""), models: others, open: opener(others) };
  }
  const others = readers();
  // the app's own cap, below the trained length (SmolLM2: 128 of its 8,192): not a limit of the trained length, and
  // the models offered read the text past theirs (which this one would not be)
  const capped = limit < trained;
  const lengths = [...new Set(models.filter((m) => others.includes(m.name)).map((m) => m.trained_tokens ?? m.max_tokens))];
  const offer = !others.length ? ""
    : capped ? ` Models that can read a text this long, past their own trained length${lengths.length === 1 ? ` of ${lengths[0]} tokens` : ""}: `
    : " Models that can run past their trained length: ";
  return { kind: "cannot", text: withReason(`${model.name} cannot read more than ${limit} tokens${capped ? " here" : ""}${said}`, model.why_not_beyond) +
    (others.length ? `${offer}${others.join(", ")}.` : ""), models: others, open: opener(others) };
}

/** What the page says where a view would be while the sentence has no analysis: `pending` (one on its way), or why
 * none: a text too long for the trained length that the model can read if asked (`beyond`, beyondNotice's answer,
 * of kind "offer") is not one that "could not be analysed": the note above offers to run it; nor is any sentence on
 * a `model` that is not installed (a link that names it): the note above says how to install it. */
export function emptyMessage({ pending = false, beyond = null, text = null, model = null } = {}) {
  if (pending) return "Computing…";
  // (an empty box: there is no sentence above that "could not be analysed")
  if (text !== null && !String(text).trim()) return "Nothing to show yet: type a sentence above.";
  if (model && model.available === false) {
    return `Nothing to show yet: ${model.name} is not installed here. Install it (the note above says how) or pick another model.`;
  }
  if (beyond && beyond.kind === "offer") return "Nothing drawn yet: this sentence is longer than the model was trained on. Run it past the trained length (the note above) to see its numbers.";
  return "Nothing to show yet: the sentence above could not be analysed.";
}

/**
 * Why a lesson step could not be prepared, for its panel: the error of the sentence's analysis in the page's words.
 * A sentence too long for the model (`notice`: beyondNotice's "offer" or "cannot" for that error) is said as the note
 * by the sentence says it, with what to do (the API's own words name its request flag, "send allow_beyond_trained:
 * true", which a student cannot send). Any other error (`notice` null): as it came.
 */
export function stepProblem(error, notice = null) {
  if (notice && notice.kind === "offer") {
    return `The sentence is too long: ${notice.text} Shorten it, or click “Run it past the trained length” in the note ` +
      "by the sentence.";
  }
  if (notice && notice.kind === "cannot") {
    return `The sentence is too long: ${notice.text} Shorten it${notice.models && notice.models.length ? " or choose one of those models" : ""}.`;
  }
  return `This step could not be prepared: ${error}`;
}

// ---------------------------------------------------------------------------------- the position lab's curves

/**
 * A centred moving average over `window` positions (an odd number; an even one is made odd by adding 1): each point
 * the mean of the values within window/2 of it that exist (fewer at the ends, so the ends are not pulled towards 0).
 * window <= 1: the values as they are. Non-finite values are left out of every mean (a point with none: null).
 */
export function smooth(values, window) {
  const w = Math.max(1, Math.floor(window) | 1);
  if (w <= 1) return values.slice();
  const half = (w - 1) / 2;
  const n = values.length;
  const sum = new Float64Array(n + 1); // prefix sums of the finite values, and their counts
  const cnt = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const ok = Number.isFinite(values[i]);
    sum[i + 1] = sum[i] + (ok ? values[i] : 0);
    cnt[i + 1] = cnt[i] + (ok ? 1 : 0);
  }
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - half);
    const hi = Math.min(n, i + half + 1);
    const c = cnt[hi] - cnt[lo];
    out[i] = c ? (sum[hi] - sum[lo]) / c : null;
  }
  return out;
}

/**
 * An input event of the sentence box that puts in more than a keystroke at once (a paste, a drop, a spelling fix,
 * a text inserted by a tool): no further key is coming, so the page analyses the sentence at once instead of after
 * the typing pause. A composition (an input method at work) is typing.
 */
export function wholeInsert(ev) {
  if (ev.isComposing) return false;
  return ["insertFromPaste", "insertFromDrop", "insertReplacementText"].includes(ev.inputType) || (ev.data || "").length > 1;
}

/**
 * Where a box that scrolls (its scroll offset `scroll`, its visible `size`) must scroll to so that an item at `start`
 * (in the box's content, along the same axis) of `length` is in sight: as it is where the item is in sight already
 * (`margin` clear of its edges); else with the item first, `margin` after the box's start (the token strip's
 * padding: its rows are then whole, the query's row on top, or the last two rows where the browser stops the scroll).
 */
export function intoSight(start, length, scroll, size, margin = 4) {
  if (start - margin < scroll || start + length + margin > scroll + size) return Math.max(0, start - margin);
  return scroll;
}

/**
 * Which sides of a row that scrolls sideways (the tabs in presenter mode and on a phone) hide something: {left, right},
 * from its scrollLeft, clientWidth and scrollWidth (a pixel of rounding is no hidden tab).
 */
export function scrollCues({ scrollLeft, clientWidth, scrollWidth }) {
  return { left: scrollLeft > 1, right: scrollLeft + clientWidth < scrollWidth - 1 };
}

/**
 * The tokens a strip that scrolls (the token strip: two rows, then it scrolls down; one row sideways in presenter mode
 * with a lesson open) hides before and after what is in sight: {before, after}, each {first, last, count} of the
 * chips' token indices, or null where none is hidden. `chips`: [{index, start, end}] along the strip's scroll axis in
 * its content, in order; `scroll`, `size`: the part in sight. A chip cut at an edge counts as hidden (a pixel of
 * rounding does not).
 */
export function stripHidden(chips, { scroll, size }) {
  const span = (cs) => (cs.length ? { first: cs[0].index, last: cs[cs.length - 1].index, count: cs.length } : null);
  return {
    before: span(chips.filter((c) => c.start < scroll - 1)),
    after: span(chips.filter((c) => c.end > scroll + size + 1)),
  };
}

/** What the cue by the token strip says of the tokens it hides on one side (stripHidden's before or after). */
export function hiddenWords(span, where) {
  if (!span) return "";
  const which = span.count === 1 ? `token ${span.first}` : `tokens ${span.first}–${span.last}`;
  return `${which} ${where}`;
}

// ---------------------------------------------------------------------------------- the positional view

/** The mean cosine of the pairs of positions `d` apart, for each of `distances` below the number of positions:
 * [{d, mean}]. `sim`: the n × n cosine matrix (GET /api/positional's `similarity`). */
export function similarityByDistance(sim, distances = [1, 4, 16, 64]) {
  const n = sim.length;
  return distances.filter((d) => d < n).map((d) => {
    let sum = 0;
    for (let i = 0; i + d < n; i++) sum += sim[i][i + d];
    return { d, mean: sum / (n - d) };
  });
}

/** The cosine heatmap's caption, read from its numbers: the mean cosine by distance; that nearby positions are more
 * alike only where the means fall with the distance; and the least alike neighbours where they are less alike than
 * the pairs farthest apart are on average (learned positions: position 0, trained apart as the start of every text). */
export function similarityCaption(sim) {
  const by = similarityByDistance(sim);
  const f = (x) => x.toFixed(2);
  if (by.length < 2) return "Cosine of every pair of positions.";
  const means = by.map(({ d, mean }) => `${f(mean)} ${d} apart`).join(", ");
  const falls = by.every((x, i) => i === 0 || x.mean < by[i - 1].mean);
  let odd = 0; // the neighbours least alike: positions odd and odd + 1
  for (let i = 1; i + 1 < sim.length; i++) if (sim[i][i + 1] < sim[odd][odd + 1]) odd = i;
  const apart = falls && sim[odd][odd + 1] < by[by.length - 1].mean;
  return `Cosine of every pair of positions; the mean over the pairs the same distance apart: ${means}. ` +
    (falls ? "On average nearby positions are more alike than distant ones." : "The mean does not fall steadily with the distance.") +
    (apart ? ` Not every pair: positions ${odd} and ${odd + 1} have cosine ${f(sim[odd][odd + 1])}.` : "");
}

/** The step a link's `step=` (`raw`, null where none) opens in a lesson of `steps` steps titled `title`, and a
 * notice where the link named no step of it (past the last: the last; 0, or not a whole number: the first), as an
 * unknown view or layer gets one. */
export function linkStep(raw, steps, title) {
  if (raw === null || raw === undefined || raw === "") return { step: 1, notice: "" };
  const n = Number(raw);
  const whole = /^\s*\d+\s*$/.test(String(raw)) && Number.isInteger(n);
  const step = whole ? Math.min(Math.max(1, n), steps) : 1;
  if (whole && step === n) return { step, notice: "" };
  const named = whole ? String(n) : `“${String(raw).slice(0, 20)}”`;
  return { step, notice: `The lesson “${title}” has ${count(steps, "step")}${steps > 1 ? ` (1 to ${steps})` : ""}: there is no step ${named}; showing step ${step}.` };
}

/**
 * Where a strip of chips in one row that scrolls sideways (the token strip in presenter mode) must scroll to so that
 * chip `q` of `chips` ({start, length} in the strip's content, in order) is in sight: {scroll, pad}. In sight already
 * (`margin` clear of the edges): where it is. Else the strip's left edge is a chip's start (less `margin`), never
 * inside a chip (a sliver of one, "|>" of <|bos|>): the earliest from which the query and the chip after it show whole,
 * else the query's own. `pad`: the room to add at the strip's end (past its `content`, without any room added before)
 * for it to scroll that far (or to stay where it was scrolled with room added).
 */
export function stripScroll(chips, q, { scroll, size, content, margin = 4 }) {
  const c = chips[q];
  let to = scroll;
  if (c.start - margin < scroll || c.start + c.length + margin > scroll + size) {
    const next = chips[q + 1] || c;
    const need = next.start + next.length + margin;
    let i = 0;
    while (i < q && chips[i].start - margin + size < need) i += 1;
    to = Math.max(0, chips[i].start - margin);
  }
  return { scroll: to, pad: Math.max(0, to + size - content) };
}
