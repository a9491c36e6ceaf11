// One state object for the whole page, mirrored in the URL query string both ways:
// every change is written to the URL, and a URL (a copied link, back/forward) is read into the state.

export const VIEWS = ["attention", "arithmetic", "qkv", "embeddings", "positional", "predictions"];
export const POSITIONS = ["normal", "removed", "shuffled"];
export const METRICS = ["cosine", "dot"];

export const DEFAULTS = Object.freeze({
  text: "The cat sat on the mat because it was tired.",
  model: "", // "" = the API's default model (filled in once /api/models answers)
  view: "attention",
  layer: 0,
  head: 0,
  token: null, // the selected query token; null = the last token
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
  pn: 64, // positions shown in the positional-encoding heatmap
  lesson: "", // the guided lesson shown in the lesson panel ("" = none; lessons.js); URL lesson=ID
  step: 1, // its step, counted from 1; URL step=N
  present: false, // presenter mode: large type, high contrast (body class "presenter"; URL present=1)
  hidespecial: false, // hide [CLS], [SEP], BOS from the token strip and the attention axes (URL hidespecial=1)
});

// boolean keys: written to the URL as 1 / 0
const FLAGS = ["scale", "present", "hidespecial"];

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

function parseAblate(v) {
  if (!v) return [];
  const out = [];
  for (const part of v.split(",")) {
    const m = /^(\d{1,4})\.(\d{1,4})$/.exec(part.trim());
    if (m && !out.some(([l, h]) => l === +m[1] && h === +m[2])) out.push([+m[1], +m[2]]);
  }
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

export function parse(search) {
  const q = new URLSearchParams(search);
  const s = structuredClone({ ...DEFAULTS });
  if (q.has("text")) s.text = q.get("text");
  if (q.has("model")) s.model = q.get("model").slice(0, 200);
  if (VIEWS.includes(q.get("view"))) s.view = q.get("view");
  s.layer = int(q.get("layer"), DEFAULTS.layer);
  s.head = int(q.get("head"), DEFAULTS.head);
  s.token = int(q.get("token"), null);
  if (POSITIONS.includes(q.get("positions"))) s.positions = q.get("positions");
  for (const k of FLAGS) if (q.has(k)) s[k] = !["0", "false", "off", "no"].includes(q.get(k).toLowerCase());
  s.ablate = parseAblate(q.get("ablate"));
  s.temp = num(q.get("temp"), DEFAULTS.temp, 0.1, 5);
  s.depth = int(q.get("depth"), null);
  if (METRICS.includes(q.get("metric"))) s.metric = q.get("metric");
  for (const k of ["word", "a", "b", "c"]) if (q.has(k)) s[k] = q.get(k).slice(0, 100);
  s.pn = int(q.get("pn"), DEFAULTS.pn, 1, 512);
  if (/^[a-z0-9][a-z0-9-]{0,79}$/.test(q.get("lesson") || "")) s.lesson = q.get("lesson");
  s.step = int(q.get("step"), DEFAULTS.step, 1, 999);
  return s;
}

function encode(key, value) {
  if (key === "ablate") return value.map(([l, h]) => `${l}.${h}`).join(",");
  if (FLAGS.includes(key)) return value ? "1" : "0";
  return value === null ? "" : String(value);
}

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

/** Read the current URL into the state (page load, back/forward). */
export function readURL() {
  const next = parse(location.search);
  return update(next, { history: "none" });
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function isAblated(layer, head, s = state) {
  return s.ablate.some(([l, h]) => l === layer && h === head);
}

export function toggledAblate(layer, head, s = state) {
  const rest = s.ablate.filter(([l, h]) => !(l === layer && h === head));
  if (rest.length === s.ablate.length) rest.push([layer, head]);
  return rest.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}
