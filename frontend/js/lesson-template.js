// The lessons' template language: {{ placeholders }} that name a number (or a token) in the API's answers,
// so that a lesson's text quotes the live numbers of the sentence on screen. Pure functions, no DOM, no
// fetch: the sources are those of the explorer's views (sources.js), which the data layer fetches; lessons.js
// hands their answers in. The grammar is documented in frontend/lessons/README.md; its unit tests are
// tests/frontend/js/lesson-template.test.mjs.
//
//   {{ top_key }}                      a shortcut (SHORTCUTS below)
//   {{ explain.weights.$max | 2 }}     SOURCE . segment . segment ... | format
//   {{ analyze(model=tiny-nope).attention.$layer.$head.$token.#cat }}
//
// segments: a field name, an index (negative: from the end), $layer $head $token $prev $depth (the page's
// selection), $max $min $2nd (index of the largest, smallest, second largest number of the array), $maxcount (how
// many numbers of the array are its largest: 1 where it is alone), $maxalike (how many read as it with two decimals),
// $next (the index of the largest number below the largest: the next after every number that ties for it),
// $maxword (the largest, leaving out special tokens like BOS and masked keys), $maxwordcount (how many of those keys
// have that largest number: 1 where it is alone), $maxwordalike (how many read as it with two decimals), $2ndword (the
// second largest of those keys), $nextword (the largest of those keys below the largest), $max(path) $min(path) (over the array's
// items, comparing each item's `path`), $maxseen $minseen $maxseen(path) $minseen(path) (the same over the keys the
// query can see: those the answer's `mask` marks true left out), #word and #word/2 (the index of the first,
// second, ... token that is `word`), @(path) (the index that `path`, read from the source's top, ends on), $all (a
// list of lists as one list: heads.$all is every head of every layer), $sum(2,3,4) (those items of the array added),
// $maxcount(path) $mincount(path) (how many items have the largest, smallest `path`), $maxalike(path)
// $minalike(path) (how many read as it does with two decimals), $2nd(path) $2ndmin(path) (the index of the second largest,
// smallest `path`), $next(path) $nextmin(path) (the index of the largest `path` below the largest, the smallest above the
// smallest: past every item that ties for it).

import { effectiveToken, probText, shownText } from "./derive.js";
import { schemeWords } from "./labrun.js";
import { SOURCE_NAMES } from "./sources.js";
import { parseAblate, positionIds } from "./vocab.js";

export const SOURCES = SOURCE_NAMES;
export const OVERRIDES = ["model", "positions", "scale", "ablate", "layer", "head", "token", "temp"];

export const SHORTCUTS = Object.freeze({
  query: "analyze.tokens.$token.display",
  query_index: "state.token",
  layer: "state.layer",
  head: "state.head",
  top_key: "explain.tokens.@(weights.$max).display",
  top_key_weight: "explain.weights.$max",
  top_word_key: "explain.tokens.@(weights.$maxword).display",
  top_word_key_weight: "explain.weights.$maxword",
  second_key: "explain.tokens.@(weights.$2nd).display",
  second_key_weight: "explain.weights.$2nd",
  first_token: "explain.tokens.0.display",
  first_token_weight: "explain.weights.0",
  top_next: "predict.predictions.0.display",
  top_next_prob: "predict.predictions.0.prob",
  second_next: "predict.predictions.1.display",
  second_next_prob: "predict.predictions.1.prob",
  entropy: "explain.entropy",
  entropy_flipped: "explain.other_entropy",
  scale: "explain.scale",
  other_scale: "explain.other_scale",
  d_head: "explain.d_head",
  focused_head: "analyze.heads.$layer.$min(entropy).head",
  focused_head_entropy: "analyze.heads.$layer.$min(entropy).entropy",
});

export class TemplateError extends Error {}

/** Split `s` at `sep` where no parenthesis is open. */
function splitTop(s, sep) {
  const out = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) throw new TemplateError(`unbalanced ) in “${s}”`);
    if (ch === sep && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) throw new TemplateError(`unbalanced ( in “${s}”`);
  out.push(cur);
  return out;
}

function parseOverrides(text) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*=\s*(.+)$/.exec(part);
    if (!m || !OVERRIDES.includes(m[1])) throw new TemplateError(`“${part}” is not an override (${OVERRIDES.join(", ")})`);
    out[m[1]] = m[2].trim();
  }
  return out;
}

const OFF = ["0", "false", "off", "no"];

/**
 * The page's state with a placeholder's overrides applied (a new object): `ablate=1.3+0.2` in the syntax of every
 * other ablate (vocab.js), `ablate=selected` (the selected layer and head), `scale=off`, numbers as numbers; `model=`
 * also explains that model's own top-1 (`target` and `versus` null). Throws TemplateError for a value it cannot use.
 */
export function applyOverrides(state, overrides) {
  const s = { ...state };
  for (const [key, raw] of Object.entries(overrides)) {
    if (key === "model") Object.assign(s, { model: raw, target: null, versus: null }); // another model's ids: other tokens
    else if (key === "positions") {
      if (!positionIds().includes(raw)) throw new TemplateError(`positions=${raw}: it is one of ${positionIds().join(", ")}`);
      s.positions = raw;
    } else if (key === "scale") s.scale = !OFF.includes(String(raw).toLowerCase());
    else if (key === "ablate" && raw === "selected") continue; // the selected head, once layer= and head= are read
    else if (key === "ablate") {
      try {
        s.ablate = parseAblate(raw);
      } catch (err) {
        throw new TemplateError(err.message);
      }
    } else {
      const n = Number(raw);
      if (!Number.isFinite(n) || (key !== "temp" && !Number.isInteger(n))) throw new TemplateError(`${key}=${raw} is not a number`);
      s[key] = n;
    }
  }
  if (overrides.ablate === "selected") s.ablate = [[s.layer, s.head]];
  return s;
}

/** "explain.weights.$max | 2" -> {source, overrides, spec, segments, format, expr}. Throws TemplateError. */
export function parse(placeholder) {
  let [expr, format = ""] = splitTop(placeholder, "|").map((s) => s.trim());
  if (!expr) throw new TemplateError("an empty placeholder");
  if (Object.hasOwn(SHORTCUTS, expr)) expr = SHORTCUTS[expr];
  const parts = splitTop(expr, ".").map((s) => s.trim());
  const m = /^([a-z]+)(?:\((.*)\))?$/.exec(parts[0]);
  if (!m || !SOURCES.includes(m[1])) {
    throw new TemplateError(`“${parts[0]}” is neither a shortcut (${Object.keys(SHORTCUTS).join(", ")}) nor a source (${SOURCES.join(", ")})`);
  }
  const overrides = m[2] !== undefined ? parseOverrides(m[2]) : {};
  const segments = parts.slice(1);
  if (segments.some((s) => !s)) throw new TemplateError(`an empty path step in “${expr}”`);
  return { source: m[1], overrides, spec: sourceSpec(m[1], overrides), segments, format, expr };
}

/** The name of a source with its overrides, e.g. "analyze(model=tiny-nope,positions=removed)". */
export function sourceSpec(source, overrides) {
  const keys = Object.keys(overrides).sort();
  return keys.length ? `${source}(${keys.map((k) => `${k}=${overrides[k]}`).join(",")})` : source;
}

/** Every placeholder in a text: [{start, end, raw}] (the text outside them is plain). */
export function scan(text) {
  const out = [];
  const re = /\{\{(.*?)\}\}/g;
  let m;
  while ((m = re.exec(text))) out.push({ start: m.index, end: m.index + m[0].length, raw: m[1] });
  return out;
}

// ------------------------------------------------------------------------------------ evaluation

/** A token's text as a word: "␣cat" -> "cat"; a token that is only space or a line break stays as shown. */
export function wordOf(tokenText) {
  const text = String(tokenText);
  return text.replace(/␣/g, " ").trim() || text;
}

/**
 * Token texts as words (wordOf), except where two different tokens would read alike (“␣happy” and “happy”, “␣↵” and
 * “↵”): those keep their ␣ as the token strip shows them, so that a text never shows two tokens as one word.
 */
export function tokenWords(texts) {
  const seen = new Map(); // word -> the different texts that read as it
  for (const t of texts) {
    const w = wordOf(t);
    if (!seen.has(w)) seen.set(w, new Set());
    seen.get(w).add(String(t));
  }
  return texts.map((t) => (seen.get(wordOf(t)).size > 1 ? String(t) : wordOf(t)));
}

/**
 * What follows a token's text in a lesson's text where another token of the sentence reads as the same word: " (token
 * 7)" where `path` (resolve()'s) ends on the text of one of `root`'s own tokens (`tokens.7.display`, `tokens.7.text`:
 * the sentence's), else "" (case ignored: "The" and "the" are one word to the reader). The one rule, as
 * backend/lesson_steps.py token_note() (whose position_note also names a word of a role, a word in pieces by all its
 * tokens); a placeholder formatted `| word` (a text that names the token's position itself) goes without.
 */
export function tokenNote(root, path) {
  const at = tokenAt(root, path);
  if (at === null) return "";
  const words = root.tokens.map((t) => wordOf(t.display).toLowerCase());
  return words.filter((w) => w === words[at]).length > 1 ? ` (token ${at})` : "";
}

/** The index of the token of `root`'s own `tokens` whose text `path` (resolve()'s) ends on (`tokens.7.display`,
 * `tokens.7.text`: 7), else null. */
function tokenAt(root, path) {
  if (!root || !Array.isArray(root.tokens) || path.length !== 3 || path[0] !== "tokens" || !Number.isInteger(path[1])) return null;
  return path[2] === "display" || path[2] === "text" ? path[1] : null;
}

/**
 * A placeholder's value as the lesson's text shows it (lessons.js evaluate; backend/lesson_steps.py shown_text):
 * {text} for a number, {text, word, note} for a token's text (`word` for tokenWords, `note` tokenNote's, left out
 * with `| word`). `| self` writes "itself" where the token named is the query's own: the answer's `query` (explain's)
 * where it has one, else `query`, the selected token; anywhere else it is written as with no format.
 */
export function placeholderText(value, fmt, root, path, query) {
  if (typeof value !== "string") return { text: format(value, fmt) };
  const at = tokenAt(root, path);
  if (fmt === "self" && at !== null && at === (Number.isInteger(root.query) ? root.query : query)) return { text: "itself" };
  const note = fmt === "word" ? "" : tokenNote(root, path);
  const text = format(value, fmt) + note;
  return fmt === "raw" ? { text } : { text, word: value, note };
}

/**
 * A head role's number in a step's text (`{{@strongest-head.delta_prob | 4}}`, backend/lesson_steps.py HEAD_FIELDS):
 * the page has no source for it, so it shows the server's read of it, one of the step's `numbers` (head_number):
 * {text, expr, src, path, fmt, kind, request} as lessons.js evaluate() gives for the others, {error} where the server
 * could not read it; null for any other placeholder (the page's own to read).
 */
export function stepNumber(raw, numbers) {
  const key = String(raw).trim();
  if (!/^@[a-z][a-z-]*(?:\/\d+)?\.[\w.-]+\s*(\|.*)?$/.test(key)) return null; // (as lesson_steps.py _bare_role, with a path)
  const n = (numbers || []).find((x) => x.placeholder === key);
  if (!n) return { error: `the step's answer has no ${key}` };
  if (n.error) return { error: n.error };
  const [expr, fmt = ""] = key.split("|").map((s) => s.trim());
  return { text: n.shown, expr, src: n.source, path: n.path, fmt, kind: typeof n.value, request: null };
}

function argBy(arr, better, skip = () => false) {
  let best = -1;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (v === null || v === undefined || typeof v !== "number" || skip(i)) continue;
    if (best < 0 || better(v, arr[best])) best = i;
  }
  if (best < 0) throw new TemplateError("no number to compare");
  return best;
}

function tokensOf(root, ctx) {
  if (root && Array.isArray(root.tokens)) return root.tokens;
  if (ctx.tokens) return ctx.tokens;
  throw new TemplateError("no tokens to find a word in");
}

function findWord(spec, tokens) {
  const m = /^#(.+?)(?:\/(\d+))?$/.exec(spec);
  const word = m[1].toLowerCase();
  let nth = m[2] ? Number(m[2]) : 1;
  for (let i = 0; i < tokens.length; i++) {
    if (wordOf(tokens[i].display).toLowerCase() === word && --nth === 0) return i;
  }
  throw new TemplateError(`there is no ${m[2] ? `${m[2]}th ` : ""}token “${m[1]}” in this sentence`);
}

/**
 * Follow `segments` from `root`. ctx: {layer, head, token (null = the last), depth (null = the last), tokens}.
 * Returns {value, path}: path is the list of concrete keys taken (indices resolved).
 */
export function resolve(root, segments, ctx) {
  let cur = root;
  const path = [];
  for (const seg of segments) {
    let key;
    if (cur === null || cur === undefined) throw new TemplateError(`nothing at ${path.join(".") || "the top"}`);
    if (/^-?\d+$/.test(seg)) {
      key = Number(seg);
      if (Array.isArray(cur) && key < 0) key += cur.length;
      // a number on a record is its key: lengths.models.0.at.512 (as backend/lesson_steps.py resolve_path)
      else if (!Array.isArray(cur) && typeof cur === "object" && Object.hasOwn(cur, seg)) key = seg;
    } else if (seg === "$layer") key = ctx.layer;
    else if (seg === "$head") key = ctx.head;
    else if (seg === "$token" || seg === "$prev") {
      key = effectiveToken(tokensOf(root, ctx), { token: ctx.token });
      if (seg === "$prev") key -= 1;
    } else if (seg === "$depth") {
      key = ctx.depth === null || ctx.depth === undefined || !Array.isArray(cur) || ctx.depth >= cur.length ? cur.length - 1 : ctx.depth;
    } else if (seg === "$all") {
      // every item of a list of lists, as one list (heads.$all: every head of every layer)
      if (!Array.isArray(cur) || !cur.every(Array.isArray)) throw new TemplateError(`$all needs a list of lists at ${path.join(".") || "the top"}`);
      cur = cur.flat();
      path.push("$all");
      continue;
    } else if (/^\$sum\(\s*\d+(\s*,\s*\d+)*\s*\)$/.test(seg)) {
      // $sum(2,3,4): those items added (a word in pieces: the server writes $sum(@role) so)
      const picked = seg.slice(5, -1).split(",").map(Number);
      if (!Array.isArray(cur) || !picked.every((i) => i < cur.length && typeof cur[i] === "number")) {
        throw new TemplateError(`${seg} needs a list of numbers with those indices at ${path.join(".") || "the top"}`);
      }
      cur = picked.reduce((total, i) => total + cur[i], 0);
      path.push(seg);
      continue;
    } else if (seg === "$max" || seg === "$min") {
      key = argBy(cur, seg === "$max" ? (a, b) => a > b : (a, b) => a < b);
    } else if (seg === "$maxcount" || seg === "$maxalike") {
      // how many numbers of the list are its largest (1: it alone), or read as it does with two decimals (the lesson
      // text's, the heatmap cells'), it too
      const top = cur[argBy(cur, (a, b) => a > b)];
      const same = seg === "$maxcount" ? (v) => v === top : (v) => format(v, "2") === format(top, "2");
      cur = cur.filter((v) => typeof v === "number" && same(v)).length;
      path.push(seg);
      continue;
    } else if (seg === "$2nd") {
      const first = argBy(cur, (a, b) => a > b);
      key = argBy(cur, (a, b) => a > b, (i) => i === first);
    } else if (seg === "$next") {
      // the largest below the largest: past every number that ties for it
      const top = cur[argBy(cur, (a, b) => a > b)];
      key = argBy(cur, (a, b) => a > b, (i) => cur[i] === top);
    } else if (/^\$(?:(max|min)(count|alike)|2nd(min)?|next(min)?)\((.+)\)$/.test(seg)) {
      // over a list of records, by `path`: $maxcount(path) $mincount(path), how many have the largest / smallest (1:
      // it alone); $maxalike(path) $minalike(path), how many read as it does with two decimals (the lesson text's,
      // the per-head summary's), it too; $2nd(path) $2ndmin(path), the index of the second largest / smallest (the
      // next after the one $max(path) / $min(path) picks); $next(path) $nextmin(path), the index of the largest below
      // the largest / the smallest above the smallest, past every record that ties for it; as backend/lesson_steps.py
      // resolve_path
      const m = /^\$(?:(max|min)(count|alike)|2nd(min)?|next(min)?)\((.+)\)$/.exec(seg);
      if (!Array.isArray(cur)) throw new TemplateError(`${seg} needs a list`);
      const sub = splitTop(m[5], ".").map((s) => s.trim());
      const vals = cur.map((item) => resolve(item, sub, { ...ctx, tokens: tokensOf(root, ctx) }).value);
      const better = m[1] === "min" || m[3] || m[4] ? (a, b) => a < b : (a, b) => a > b;
      const first = argBy(vals, better);
      if (m[2]) {
        const same = m[2] === "count" ? (v) => v === vals[first] : (v) => format(v, "2") === format(vals[first], "2");
        cur = vals.filter((v) => typeof v === "number" && same(v)).length;
        path.push(seg);
        continue;
      }
      key = argBy(vals, better, seg.startsWith("$next") ? (i) => vals[i] === vals[first] : (i) => i === first);
    } else if (["$maxword", "$maxwordcount", "$maxwordalike", "$2ndword", "$nextword"].includes(seg)) {
      // (a special token, or a key the query cannot see: the answer's `mask`)
      const toks = tokensOf(root, ctx);
      const hidden = root && Array.isArray(root.mask) ? root.mask : [];
      const notWord = (i) => Boolean(toks[i] && toks[i].special) || Boolean(hidden[i]);
      key = argBy(cur, (a, b) => a > b, notWord);
      if (seg === "$maxwordcount" || seg === "$maxwordalike") {
        // how many of those keys have that largest number (1: it alone), or read as it does with two decimals (it too)
        const top = cur[key];
        const same = seg === "$maxwordcount" ? (v) => v === top : (v) => format(v, "2") === format(top, "2");
        cur = cur.filter((v, i) => !notWord(i) && typeof v === "number" && same(v)).length;
        path.push(seg);
        continue;
      }
      if (seg === "$2ndword") {
        const first = key; // the second largest of those keys
        key = argBy(cur, (a, b) => a > b, (i) => notWord(i) || i === first);
      }
      if (seg === "$nextword") {
        const top = cur[key]; // the largest of those keys below the largest: past every key that ties for it
        key = argBy(cur, (a, b) => a > b, (i) => notWord(i) || cur[i] === top);
      }
    } else if (/^\$(max|min)(seen|\(.+\)|seen\(.+\))$/.test(seg)) {
      // $max(path) $min(path): over a list of records, by `path`; $maxseen $minseen (and with a path): only the keys
      // the query can see (leaving out those the answer's `mask` marks true), as backend/lesson_steps.py resolve_path
      const m = /^\$(max|min)(seen)?(?:\((.+)\))?$/.exec(seg);
      if (!Array.isArray(cur)) throw new TemplateError(`${seg} needs a list`);
      const hidden = m[2] && root && Array.isArray(root.mask) ? root.mask : null;
      if (m[2] && !(hidden && hidden.length === cur.length)) throw new TemplateError(`${seg} needs an answer with a mask as long as the list`);
      const sub = m[3] ? splitTop(m[3], ".").map((s) => s.trim()) : [];
      const vals = cur.map((item) => resolve(item, sub, { ...ctx, tokens: tokensOf(root, ctx) }).value);
      key = argBy(vals, m[1] === "max" ? (a, b) => a > b : (a, b) => a < b, (i) => Boolean(hidden && hidden[i]));
    } else if (seg.startsWith("#")) {
      key = findWord(seg, tokensOf(root, ctx));
    } else if (/^@\(.+\)$/.test(seg)) {
      const sub = splitTop(seg.slice(2, -1), ".").map((s) => s.trim());
      const inner = resolve(root, sub, ctx).path; // the index its last step landed on
      key = inner[inner.length - 1];
      if (!Number.isInteger(key)) throw new TemplateError(`${seg} does not end on an index`);
    } else if (/^[A-Za-z_][\w-]*$/.test(seg)) key = seg;
    else throw new TemplateError(`“${seg}” is not a path step`);
    if (typeof key === "number" && !Array.isArray(cur)) throw new TemplateError(`${path.join(".")} is not a list`);
    if (typeof key === "string" && (Array.isArray(cur) || typeof cur !== "object" || !Object.hasOwn(cur, key))) {
      throw new TemplateError(`no “${key}” at ${path.join(".") || "the top"}`);
    }
    if (typeof key === "number" && (key < 0 || key >= cur.length)) throw new TemplateError(`index ${key} is outside ${path.join(".") || "the list"} (length ${cur.length})`);
    path.push(key);
    cur = cur[key];
  }
  return { value: cur, path };
}

/** A step's text cut at its first line `+++` (a guess asked for before the answer): {shown, hidden}, hidden null
 * where it has none. What follows the line is shown once the student asks for it (and the plots stay blurred till
 * then). */
export function splitReveal(body) {
  const lines = String(body || "").split("\n");
  const at = lines.findIndex((l) => l.trim() === "+++");
  if (at < 0) return { shown: String(body || ""), hidden: null };
  return { shown: lines.slice(0, at).join("\n"), hidden: lines.slice(at + 1).join("\n") };
}

/** The sentence on screen as the lesson panel's note names it ("This step is on … ; the lesson’s is …"): `linked`,
 * the page opened from a shared page's link and still on its sentence: "the link’s sentence"; `text` the sentence the
 * page's address brought (`opened`: a lesson link's `&text=`, or a page reloaded on it), which may or may not have been
 * typed here: the sentence itself, quoted (cut to `max` characters with "…" where longer), true of both; else one the
 * student typed: "your sentence". */
export function sentenceWhose(text, { linked = false, opened = null, max = 48 } = {}) {
  if (linked) return "the link’s sentence";
  if (opened !== null && text === opened) {
    const chars = Array.from(String(text).trim());
    return `“${chars.length > max ? `${chars.slice(0, max - 1).join("").trimEnd()}…` : chars.join("")}”`;
  }
  return "your sentence";
}

/** A sentence with its full stop: none added where it ends in one already, inside a closing quote or not
 * ("… the lesson’s is “The cat sat.”", not "… sat.”."). */
export function endSentence(text) {
  return /[.!?…]["”’)]*$/.test(text) ? text : `${text}.`;
}

/** Whether choice `index` answers question `q` rightly: its answer, or a key tied with it (top-key's `tied`). */
export function isRight(q, index) {
  return index >= 0 && (index === q.answer || (q.tied || []).includes(index));
}

/**
 * A predict-then-reveal question's choices and answer, from the answer of its source: `top-key` (explain: the keys
 * the query sees, special tokens left out, each named as the token strip names it (a byte <0x9F>, a space ␣), a word
 * the sentence repeats labelled with its position; the answer is the one with the most weight, and `tied` every key
 * with that same weight where there are several) or `next-word`
 * (predict: the top four next tokens, in an order that gives nothing away; the answer is the first). Null where
 * there is nothing to choose between: a `top-key` query that sees fewer than two words, whose question is left out.
 */
export function questionChoices(kind, d, want = null) {
  if (kind === "loss-step" || kind === "lab-accuracy") {
    // a run of another task, scheme or size than the step sets (the run before, still on screen) answers nothing:
    // `other` says what it is
    const other = otherRun(d, want);
    if (other) d = null;
    if (kind === "loss-step") {
      // the bins are the question's; the answer is the run's: the first record below the loss threshold, or, once
      // the run has ended without one, the last choice; null while neither is known
      // a run that ended before the last choice's first step without the loss falling (stopped, or given fewer
      // steps) cannot tell which later choice is right: `cut`, and no answer
      const choices = LOSS_STEP_CHOICES.map((label, index) => ({ index, label }));
      let answer = null;
      let cut = false;
      if (d && d.loss && d.loss.reached) answer = LOSS_STEP_BINS.filter((b) => d.loss.step >= b).length;
      else if (d && d.ended && d.final && d.final.step !== null && d.final.step + 1 >= LOSS_STEP_BINS[LOSS_STEP_BINS.length - 1]) answer = LOSS_STEP_BINS.length;
      else if (d && d.ended) cut = true;
      return { choices, answer, other, cut };
    }
    // the accuracy when the run ends: of a run that spent its steps (one stopped or out of time is not that run)
    const choices = ACCURACY_CHOICES.map((label, index) => ({ index, label }));
    const cut = Boolean(d && d.ended && d.end && d.end !== "steps");
    const acc = d && d.ended && !cut && d.final ? d.final.accuracy : null;
    return { choices, answer: acc === null || acc === undefined ? null : ACCURACY_BINS.filter((b) => acc >= b).length, other, cut };
  }
  if (kind === "top-key") {
    const choices = [];
    d.tokens.forEach((t, i) => {
      if (!d.mask[i] && !t.special) choices.push({ index: i, label: wordOf(t.display) }); // as the strip names it
    });
    // a query that sees fewer than two words (a causal model's first word) has nothing to choose between: no
    // question (backend/lesson_steps.py top_key_choices, `asked`)
    if (choices.length < 2) return null;
    // a word that occurs more than once is told apart by its position (the number under it in the token strip)
    const count = new Map();
    for (const c of choices) count.set(c.label, (count.get(c.label) || 0) + 1);
    for (const c of choices) {
      if (count.get(c.label) > 1) Object.assign(c, { label: `${c.label} (${c.index})`, repeated: true });
    }
    const answer = choices.reduce((best, c) => (best < 0 || d.weights[c.index] > d.weights[best] ? c.index : best), -1);
    // keys with the very same weight as the answer's (one word twice with no positions: the same key) are right too
    const tied = choices.filter((c) => d.weights[c.index] === d.weights[answer]).map((c) => c.index);
    return { choices, answer, tied: tied.length > 1 ? tied : [] };
  }
  if (kind === "next-word") {
    // each choice as the probability bars beside it write the token (␣ for its leading space), so that a guess
    // reads as the bar it is checked against
    const top = d.predictions.slice(0, 4).map((p, i) => ({ index: i, label: shownText(p), id: p.id }));
    return { choices: top.sort((x, y) => x.id - y.id), answer: 0 };
  }
  throw new TemplateError(`“${kind}” is not a question (${Object.keys(QUESTION_SOURCES).join(", ")})`);
}

/**
 * The reveal of a `top-key` question (`q` from questionChoices, `d` its explain answer, `chosen` the choice's index, -1
 * for none): the key the query gives most and its weight, as placeholders, and keys tied with it with it; a word the
 * sentence repeats is named with its position (the number under it in the token strip) where its placeholder is
 * filled, as everywhere (tokenNote: "the (token 5) gets 0.31", where a bare "the" could be either copy).
 */
export function topKeyReveal(q, d, chosen) {
  // the start token's share where the sentence has one (SmolLM2 has none: its position 0 is a word)
  const start = d.tokens[0] && d.tokens[0].special && !d.mask[0]
    ? " (the start token, where a head parks what it does not need, gets {{first_token_weight | 2}})" : "";
  const key = (i) => `**{{explain.tokens.${i}.display}}**`;
  const digits = apart(q, chosen, d.weights);
  const top = q.tied.length
    ? `${q.tied.map(key).join(" and ")} each get {{explain.weights.${q.answer} | ${digits}}}`
    : `${key(q.answer)} gets {{explain.weights.${q.answer} | ${digits}}}`;
  return `The model: ${top} of the attention of **{{query}}**${start}.\n\n` +
    (chosen < 0 ? "" : isRight(q, chosen) ? "✓ You predicted it."
      : `✗ You chose ${key(chosen)}: it gets {{explain.weights.${chosen} | ${digits}}}.`);
}

/**
 * The reveal of a `next-word` question (`q` from questionChoices, `d` its predict answer, `chosen` the choice's
 * index, -1 for none): the model's top token and its probability, and the guess's where it is another.
 */
export function nextWordReveal(q, d, chosen) {
  const digits = apart(q, chosen, d.predictions.map((p) => p.prob));
  return `The model’s top guess: **{{top_next}}**, with probability {{top_next_prob | ${digits}}}.\n\n` +
    (chosen < 0 ? "" : isRight(q, chosen) ? "✓ You predicted it."
      : `✗ You chose **{{predict.predictions.${chosen}.display}}**: probability {{predict.predictions.${chosen}.prob | ${digits}}}.`);
}

/** The decimals a reveal shows the answer's number and a wrong guess's with: 2, or where the two read alike at 2
 * (0.1692 and 0.1734: "0.17" and "0.17", beside a ✗) the digits that tell them apart, up to 4. */
function apart(q, chosen, numbers) {
  let digits = 2;
  const wrong = chosen >= 0 && !isRight(q, chosen);
  while (wrong && digits < 4 && format(numbers[chosen], `${digits}`) === format(numbers[q.answer], `${digits}`)) digits++;
  return digits;
}

/**
 * The lab's run `d` (a labrun summary) where it is not the run a step asks about: "copy with learned positions, size
 * tiny" (its task, scheme and size), else "" (no run, or it has what `want` names: {task, positional, size}, each
 * null or absent where the step leaves it to the page).
 */
export function otherRun(d, want) {
  if (!d || d.run === null || d.run === undefined || !want) return "";
  const differs = ["task", "positional", "size"].some((k) => want[k] !== null && want[k] !== undefined && d[k] !== want[k]);
  return differs ? `${d.task} with ${schemeWords(d.positional)}, size ${d.size}` : "";
}

/** Each question kind's source (backend/lesson_steps.py QUESTION_SOURCES: the same table). */
export const QUESTION_SOURCES = Object.freeze({ "top-key": "explain", "next-word": "predict", "loss-step": "labrun", "lab-accuracy": "labrun" });
/** loss-step: the choices' bounds (a step below the first bound is the first choice, ...). */
export const LOSS_STEP_BINS = [100, 300, 1000];
const LOSS_STEP_CHOICES = ["before step 100", "steps 100 to 299", "steps 300 to 999", "step 1000 or later, or not within the run"];
/** lab-accuracy: the choices' bounds on the accuracy on the task's example when the run ends. */
export const ACCURACY_BINS = [0.4, 0.9];
const ACCURACY_CHOICES = ["less than 40%", "40% to 89%", "90% or more"];

/** A value as the lesson text shows it. Numbers: 2 decimals unless the format says, a whole number with its
 * thousands grouped as the views' captions write them (4,092); strings: as a word. */
export function format(value, fmt) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (fmt === "pct") return `${Math.round(value * 100)}%`;
    if (fmt === "prob4") return probText(value, { decimals: 4 }); // (a probability of the logit lens, as it writes it)
    if (fmt === "int" || (fmt === "" && Number.isInteger(value))) return (Math.round(value) + 0).toLocaleString("en"); // (+ 0: -0 as 0)
    const digits = /^\d$/.test(fmt) ? Number(fmt) : 2;
    const text = value.toFixed(digits);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text; // a small negative number shows as 0.00, not -0.00
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return fmt === "raw" ? value : wordOf(value);
  throw new TemplateError("this names a list or an object, not one value: add a path step");
}
