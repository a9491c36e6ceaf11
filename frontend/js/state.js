// One state object for the whole page, mirrored in the URL query string both ways: every change is written to the
// URL, and a URL (a copied link, back/forward) is read into the state. Which views, position modes and limits exist,
// and how ablated heads are written, come from the server's vocabulary (vocab.js): the page reads the URL once that
// is in.
import { formatAblate, parseAblate, positionIds, viewIds, vocab } from "./vocab.js";

export const METRICS = ["cosine", "dot"];

export const DEFAULTS = Object.freeze({
  text: "The cat sat on the mat because it was tired.",
  model: "", // "" = the API's default model (filled in once /api/models answers)
  view: "attention",
  layer: 0,
  head: 0,
  token: null, // the selected query token; null = the last token that stands for text (derive.js effectiveToken)
  positions: "normal",
  scale: true,
  ablate: [], // [[layer, head], ...]
  temp: 1,
  depth: null, // embeddings: index into `layers`; null = the last depth
  metric: "cosine",
  word: "", // nearest words to this word; "" = the selected token
  a: "king",
  b: "man",
  c: "woman",
  expect: "queen", // the word expected near a − b + c (its rank is shown); "" = none
  pn: 64, // positions shown in the positional-encoding heatmap
  // the Compare view's side b: what differs from side a (the sentence, model and interventions above); "" / null = the same
  text2: "",
  model2: "",
  positions2: "",
  scale2: null,
  ablate2: null,
  lesson: "", // the guided lesson shown in the lesson panel ("" = none; lessons.js); URL lesson=ID
  step: 1, // its step, counted from 1; URL step=N
  present: false, // presenter mode: large type, high contrast (body class "presenter"; URL present=1)
  hidespecial: false, // hide [CLS], [SEP], BOS from the token strip and the attention axes (URL hidespecial=1)
  // why this next word (the lens, attribution and beyond-attention views): the token explained and a second one
  target: null, // a token id; null = the model's most probable next token at the selected position
  versus: null, // a token id: explain logit(target) - logit(versus); null = the logit alone
  measure: false, // beyond attention: measure every head's ablation effect on a large model (small ones: always)
  // sampling (the predictions view): the kept set of top-k / top-p, and how Continue picks each token
  topk: 0, // 0 = no limit
  topp: 1, // 1 = no limit
  sample: false, // false: greedy (the most probable token); true: a draw from the kept set
  seed: null, // the seed of the draws; null = a new one each time (the answer reports it, and the page keeps it)
  beyond: false, // send allow_beyond_trained: a text past the model's trained length runs, with a warning (URL beyond=1)
  smooth: 17, // the position lab's loss curves: positions averaged (1 = the raw curve); URL smooth=N
  // the explorer's training-step slider: the model at this recorded training step (NAME@STEP); null = the final model
  tstep: null,
  // the training lab: the run's task, positional scheme, size and step budget (null: the server's default), and the
  // head and role score its plots show
  ltask: "copy",
  lpos: "sinusoidal",
  lsize: "small",
  lsteps: null,
  llayer: 0,
  lhead: 0,
  lrole: "induction",
  // what each head does (the Heads view, the Links overlay, the heatmap's combined rows)
  overlay: [], // heads of the selected layer drawn together in Links ([] = the selected head only); URL overlay=0,2
  rows: [], // query tokens (API indices) whose rows the heatmap combines; URL rows=3,5
  combine: "one", // the heatmap's rows: one (the query token's) | sum | mean (of `rows`, or of the query token)
  probe: false, // the Heads view scores the induction probe instead of the sentence (URL probe=1)
  pseed: 0, // the probe's seed (URL pseed=N)
  role: "previous-token", // the role the head finder ranks by and compares across models (URL role=induction)
  asc: false, // rank lowest first (URL asc=1)
});

// boolean keys: written to the URL as 1 / 0 (scale2 may also be null: absent)
const FLAGS = ["scale", "present", "hidespecial", "scale2", "measure", "sample", "beyond", "probe", "asc"];
const OFF = ["0", "false", "off", "no"];

// keys always written, so that a copied link names them even at their defaults
const ALWAYS = ["text", "model", "view", "layer", "head", "token"];

export const state = structuredClone({ ...DEFAULTS });

const listeners = new Set();

function int(v, fallback, min = 0, max = Number.MAX_SAFE_INTEGER) {
  if (v === null || v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) return fallback;
  return n;
}

function num(v, fallback, min, max) {
  if (v === null || v === undefined || v === "") return fallback;
  const n = Number(v);
  return Number.isFinite(n) && n >= min && n <= max ? n : fallback;
}

function heads(v, key, problems) {
  try {
    return parseAblate(v);
  } catch (err) {
    problems.push(`The link's ${key} could not be read (${err.message}): no head is switched off.`);
    return [];
  }
}

/**
 * A query string -> a state (what the URL does not name stays at its default; what it names wrongly too).
 * `problems` collects a sentence for each value the page could not use.
 */
export function parse(search, problems = []) {
  const q = new URLSearchParams(search);
  const s = structuredClone({ ...DEFAULTS });
  const limits = vocab.limits;
  // line breaks as the sentence box keeps them (it shows "a\r\nb" as "a\nb": the page analysed what it did not show)
  const lines = (v) => v.replace(/\r\n?/g, "\n");
  if (q.has("text")) s.text = lines(q.get("text"));
  if (q.has("model")) s.model = q.get("model").slice(0, 200);
  if (q.has("view")) {
    if (viewIds().includes(q.get("view"))) s.view = q.get("view");
    else problems.push(`There is no view “${q.get("view").slice(0, 40)}”: showing ${DEFAULTS.view}.`);
  }
  s.layer = int(q.get("layer"), DEFAULTS.layer);
  s.head = int(q.get("head"), DEFAULTS.head);
  s.token = int(q.get("token"), null);
  for (const key of ["layer", "head", "token"]) {
    const raw = q.get(key);
    if (raw !== null && raw !== "" && int(raw, null) === null) {
      problems.push(`The link's ${key} “${raw.slice(0, 20)}” is not a whole number from 0 up: showing ` +
        `${key === "token" ? "the last token that stands for text" : `${key} ${DEFAULTS[key]}`}.`);
    }
  }
  if (positionIds().includes(q.get("positions"))) s.positions = q.get("positions");
  else if (q.has("positions")) {
    // (a hand-typed link's "positions=shuffle" showed normal positions with nothing said, under a lesson about shuffling)
    problems.push(`The link's positions “${q.get("positions").slice(0, 20)}” is not one of ${positionIds().join(", ")}: ` +
      `showing ${DEFAULTS.positions} positions.`);
  }
  for (const k of FLAGS) if (q.has(k)) s[k] = !OFF.includes(q.get(k).toLowerCase());
  if (q.has("ablate")) s.ablate = heads(q.get("ablate"), "ablate", problems);
  s.temp = num(q.get("temp"), DEFAULTS.temp, 0.1, limits.max_temperature ?? 5);
  s.depth = int(q.get("depth"), null);
  if (METRICS.includes(q.get("metric"))) s.metric = q.get("metric");
  for (const k of ["word", "a", "b", "c", "expect"]) if (q.has(k)) s[k] = q.get(k).slice(0, 100);
  s.pn = int(q.get("pn"), DEFAULTS.pn, 1, limits.max_positions_n ?? 512);
  if (q.has("text2")) s.text2 = lines(q.get("text2"));
  if (q.has("model2")) s.model2 = q.get("model2").slice(0, 200);
  if (positionIds().includes(q.get("positions2"))) s.positions2 = q.get("positions2");
  if (q.has("ablate2")) s.ablate2 = heads(q.get("ablate2"), "ablate2", problems);
  if (/^[a-z0-9][a-z0-9-]{0,79}$/.test(q.get("lesson") || "")) s.lesson = q.get("lesson");
  s.step = int(q.get("step"), DEFAULTS.step, 1, 999);
  s.target = int(q.get("target"), null);
  s.versus = int(q.get("versus"), null);
  if (s.versus === s.target) s.versus = null; // (a logit minus itself: see update)
  s.topk = int(q.get("topk"), DEFAULTS.topk, 0, limits.max_top_k ?? 50);
  s.topp = num(q.get("topp"), DEFAULTS.topp, 0.01, 1);
  s.seed = int(q.get("seed"), null, 0, 2 ** 31 - 1);
  s.smooth = int(q.get("smooth"), DEFAULTS.smooth, 1, 101) | 1; // a centred window: odd (derive.smooth averages 2k+1)
  s.tstep = int(q.get("tstep"), null);
  for (const k of ["ltask", "lpos", "lsize"]) if (/^[a-z0-9][a-z0-9_-]{0,39}$/.test(q.get(k) || "")) s[k] = q.get(k);
  const lrole = LAB_ROLE_BEFORE[q.get("lrole")] || q.get("lrole") || "";
  if (/^[a-z][a-z-]{0,39}$/.test(lrole)) s.lrole = lrole;
  s.lsteps = int(q.get("lsteps"), null, 1, 1_000_000);
  s.llayer = int(q.get("llayer"), DEFAULTS.llayer, 0, 999);
  s.lhead = int(q.get("lhead"), DEFAULTS.lhead, 0, 999);
  // (a hand-typed "overlay=1,x" drew head 1 alone and kept the x in the link, with nothing said)
  s.overlay = listOf(q, "overlay", 4096, "Links draws the selected head alone", problems);
  s.rows = listOf(q, "rows", 1 << 20, "the heatmap combines no rows", problems);
  if (COMBINE.includes(q.get("combine"))) s.combine = q.get("combine");
  s.pseed = int(q.get("pseed"), DEFAULTS.pseed, 0, 2 ** 31 - 1);
  if (/^[a-z][a-z-]{0,39}$/.test(q.get("role") || "")) s.role = q.get("role");
  return s;
}

export const COMBINE = ["one", "sum", "mean"];
/** The training lab's role ids in links made before it took the Heads view's: the same scores under their names. */
const LAB_ROLE_BEFORE = { previous_token: "previous-token", duplicate: "duplicate-token", first_token: "sink" };
const MAX_LIST = 256;

/** "3,5,3" -> [3, 5]: sorted, each once, each an integer in [0, max); what is not one is left out. */
export function intList(v, max) {
  const out = new Set();
  for (const part of String(v ?? "").split(",")) {
    const n = int(part.trim(), null, 0, max - 1);
    if (n !== null) out.add(n);
    if (out.size >= MAX_LIST) break;
  }
  return [...out].sort((x, y) => x - y);
}

/** A link's list (overlay, rows): read whole, or, if a part is not a whole number in [0, max), dropped and said. */
function listOf(q, key, max, instead, problems) {
  const raw = q.get(key);
  if (raw === null) return [];
  const parts = raw.split(",").map((part) => part.trim()).filter((part) => part !== "");
  if (parts.every((part) => int(part, null, 0, max - 1) !== null)) return intList(raw, max);
  problems.push(`The link's ${key} “${raw.slice(0, 20)}” is not a list of whole numbers from 0 up (as 0,2): ${instead}.`);
  return [];
}

function encode(key, value) {
  if (key === "overlay" || key === "rows") return value.join(",");
  if (key === "ablate2" && value && !value.length) return vocab.ablate ? vocab.ablate.none : "none";
  if (key === "ablate" || key === "ablate2") return formatAblate(value);
  if (FLAGS.includes(key)) return value ? "1" : "0";
  return value === null ? "" : String(value);
}

/** A state -> its query string (the keys at their defaults left out, but for those a link always names). */
export function serialize(s = state) {
  const q = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) {
    const value = s[key];
    const isDefault = JSON.stringify(value) === JSON.stringify(DEFAULTS[key]);
    if (ALWAYS.includes(key) ? value === null : isDefault) continue;
    q.set(key, encode(key, value));
  }
  return q.toString();
}

function writeURL(mode) {
  if (mode === "none") return;
  const url = `${location.pathname}?${serialize()}${location.hash}`;
  if (url === `${location.pathname}${location.search}${location.hash}`) return;
  if (mode === "push") history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** Apply a patch, write the URL (replace by default; "push" for navigation), tell the listeners. */
export function update(patch, { history: mode = "replace" } = {}) {
  // a token explained picked as the one it was compared with drops the comparison: logit(t) - logit(t) is 0 whatever
  // the model does, and the API refuses it
  const versus = "versus" in patch ? patch.versus : state.versus;
  if (patch.target !== undefined && patch.target !== null && patch.target === versus) patch = { ...patch, versus: null };
  const changed = new Set();
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in DEFAULTS)) throw new Error(`unknown state key ${key}`);
    if (JSON.stringify(state[key]) !== JSON.stringify(value)) {
      state[key] = structuredClone(value);
      changed.add(key);
    }
  }
  writeURL(mode);
  if (changed.size) for (const fn of listeners) fn(changed);
  return changed;
}

/**
 * Read the current URL into the state (page load, back/forward); returns the problems it found. A URL with a problem
 * is written again from the state, so that what the page could not use leaves the link (and a copy of it).
 */
export function readURL() {
  const problems = [];
  const next = parse(location.search, problems);
  update(next, { history: problems.length ? "replace" : "none" });
  return problems;
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}


export function toggledAblate(layer, head, s = state) {
  const rest = s.ablate.filter(([l, h]) => !(l === layer && h === head));
  if (rest.length === s.ablate.length) rest.push([layer, head]);
  return rest.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}
