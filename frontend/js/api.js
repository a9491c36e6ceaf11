// The HTTP API, one function per endpoint. Fetch only: no state, no DOM; the only module that calls fetch.
// The page asks through the data layer (data.js), which calls these. Every function takes an optional AbortSignal
// as its last argument and throws an Error whose message is the API's `detail` string when the answer is a 4xx or
// 5xx (and, where the text is too long for the model, its numbers as `refusal`). A new API family is one function
// here (and a source in sources.js).
// A model that is still loading on the server answers 503 with Retry-After and `loading` (its name) and
// `progress` (0 to 1): the request is asked again, as often as the load takes (up to LOAD_WAIT_MS), and
// onLoading's listeners hear how far along it is (loading.js shows it).

const RETRIES_WHEN_BUSY = 2;
const LOAD_WAIT_MS = 10 * 60 * 1000;
const loadingListeners = new Set();
let requests = 0;

/**
 * fn({request, model, progress, detail}) each time a request is told its model is loading (progress: 0 to 1, or
 * null), then fn({request, model, done: true}) once that request has its answer, gave up or was aborted
 * (`request`: a number for each request). Returns a function that stops it.
 */
export function onLoading(fn) {
  loadingListeners.add(fn);
  return () => loadingListeners.delete(fn);
}

function tellLoading(info) {
  for (const fn of loadingListeners) {
    try {
      fn(info);
    } catch (err) {
      console.error(err);
    }
  }
}

/** The body of a 503 that says a model is loading ({loading, progress, detail}), else null. */
async function loadingOf(res) {
  if (res.status !== 503 || !res.headers.get("retry-after")) return null;
  try {
    const body = await res.clone().json();
    return body && typeof body.loading === "string" ? body : null;
  } catch {
    return null;
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("aborted", "AbortError")); }, { once: true });
  });
}

/** The wait a 503 asks for (Retry-After, 0.2 to 5 s), in ms. */
const retryAfterMs = (res) => Math.min(5, Math.max(0.2, Number(res.headers.get("retry-after")) || 1)) * 1000;

async function call(method, path, body, signal, busyRetries = RETRIES_WHEN_BUSY) {
  const started = Date.now();
  const request = ++requests;
  let loadingModel = null;
  try {
    for (let busy = 0; ; ) {
      const res = await send(method, path, body, signal);
      const loading = await loadingOf(res);
      if (loading && Date.now() - started < LOAD_WAIT_MS) {
        // the model is loading: say how far along, wait as long as the server asks, ask again
        loadingModel = loading.loading;
        tellLoading({ request, model: loading.loading, progress: loading.progress ?? null, detail: loading.detail });
        await sleep(retryAfterMs(res), signal);
        continue;
      }
      if (res.status === 503 && res.headers.get("retry-after") && busy < busyRetries) {
        // the server is busy: wait as long as it asks (at most 5 s), then ask again
        busy++;
        await sleep(retryAfterMs(res), signal);
        continue;
      }
      return await answer(res);
    }
  } finally {
    if (loadingModel) tellLoading({ request, model: loadingModel, done: true });
  }
}

async function send(method, path, body, signal) {
  const init = { method, signal, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (err) {
    if ((err && err.name === "AbortError") || (signal && signal.aborted)) throw err;
    // no answer at all (the browser's own words: "Failed to fetch", "Load failed", "NetworkError ..."): the server
    // stopped, is restarting, or this machine left its network; the data layer asks again every few seconds
    throw new Error("the server could not be reached (stopped, restarting, or off this network): asking again every few seconds");
  }
}

/**
 * The numbers of a refusal of a text too long for its model ({tokens, limit, model}, and a comparison's `side`), which
 * the 422 gives beside its `detail` (backend/service.py TextTooLong), or null for an answer of another kind.
 */
function lengthRefusal(data) {
  if (!data || !Number.isInteger(data.tokens) || !Number.isInteger(data.limit)) return null;
  const { tokens, limit, model } = data;
  return data.side ? { tokens, limit, model, side: data.side } : { tokens, limit, model };
}

/**
 * The answer's JSON, or an Error with the API's `detail` (and `status`) for a 4xx or 5xx; a refusal of a text too
 * long also has its numbers as `refusal` (lengthRefusal).
 */
async function answer(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d && d.msg) || String(d)).join("; ");
    const err = new Error(typeof detail === "string" && detail ? detail : `the server answered ${res.status} ${res.statusText}`);
    err.status = res.status;
    const refusal = lengthRefusal(data);
    if (refusal) err.refusal = refusal;
    throw err;
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const models = (signal) => call("GET", "/api/models", undefined, signal);
/** The app's vocabulary: views, position modes, the ablate syntax, limits, model families (backend/vocabulary.py). */
export const meta = (signal) => call("GET", "/api/meta", undefined, signal);
/** base64 -> bytes (the browser's own decoder where it has one). */
function fromBase64(s) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * POST /api/analyze. With `thumbnails: true` the answer's `thumbnails` comes decoded:
 * {shape: [layer, head, query, key], scale, bytes: Uint8Array} (weight = byte / scale) in place of the base64 `data`;
 * with `packed: true`, `attention_packed` likewise (its integers two bytes each: derive.js wholeRows reads them).
 */
export async function analyze(body, signal) {
  const data = await call("POST", "/api/analyze", body, signal);
  for (const key of ["thumbnails", "attention_packed"]) {
    if (data && data[key]) {
      const { data: b64, ...rest } = data[key];
      data[key] = { ...rest, bytes: fromBase64(b64) };
    }
  }
  return data;
}
export const qkv = (body, signal) => call("POST", "/api/qkv", body, signal);
export const explain = (body, signal) => call("POST", "/api/attention/explain", body, signal);
export const embeddings = (body, signal) => call("POST", "/api/embeddings", body, signal);
/** Nearest vocabulary tokens to a `word`, or to a token by `token_id` (works for BOS and partial-byte tokens too). */
export const neighbors = ({ word, token_id, k, model }, signal) =>
  call("GET", `/api/embeddings/neighbors${query({ word, token_id, k, model })}`, undefined, signal);
export const analogy = (body, signal) => call("POST", "/api/embeddings/analogy", body, signal);
export const positional = ({ n, model }, signal) => call("GET", `/api/positional${query({ n, model })}`, undefined, signal);
export const decompose = (body, signal) => call("POST", "/api/positional/decompose", body, signal);
/** Where a model's positional scheme enters the computation (and ALiBi's bias by distance, `n` distances). */
export const scheme = ({ model, n }, signal) => call("GET", `/api/positional/scheme${query({ model, n })}`, undefined, signal);
/** The loss at each position past the trained length, one curve per tiny model (lengths.json). */
export const lengths = (signal) => call("GET", "/api/positional/lengths", undefined, signal);
/** R² of the linear probe of position at each depth, per tiny model (probe.json). */
export const probe = (signal) => call("GET", "/api/positional/probe", undefined, signal);
export const predict = (body, signal) => call("POST", "/api/predict", body, signal);
export const compare = (body, signal) => call("POST", "/api/compare", body, signal);
export const lessons = (signal) => call("GET", "/api/lessons", undefined, signal);
export const lessonStep = ({ lesson, step, body }, signal) => call("POST", `/api/lessons/${encodeURIComponent(lesson)}/steps/${Number(step)}`, body, signal);
/** What each head does: role scores and labels on a text (POST /api/roles). */
export const roles = (body, signal) => call("POST", "/api/roles", body, signal);
/** Each role score in plain words, with its formula, and the labelling rule with its thresholds. */
export const roleDefinitions = (signal) => call("GET", "/api/roles/definitions", undefined, signal);
/** The induction probe: seeded random tokens twice, every head's role scores on it and each token's loss. */
export const roleProbe = (body, signal) => call("POST", "/api/roles/probe", body, signal);
/** The role tables of several models (default: the tiny models) on the same text or probe. */
export const roleModels = (body, signal) => call("POST", "/api/roles/models", body, signal);
/** The heatmap's combined row: /api/analyze with `query_rows` (and `layers: []`: no full attention). */
export const queryRows = (body, signal) => call("POST", "/api/analyze", body, signal);
export const share = ({ view, cut }, signal) => call("GET", `/api/share${query({ view, cut })}`, undefined, signal);
/**
 * The address of GET /api/report (a download, so a link rather than a fetch): the page's selections, each under the
 * API's name (`ablate` in the URL's form, "1.2,0.3").
 */
export const reportURL = ({ text, model, layer, head, query: q, positions, scale, ablate, temperature, depth, metric, token, versus, hide_special }) =>
  `/api/report${query({ text, model, layer, head, query: q, positions, scale, ablate, temperature, depth, metric, token, versus, hide_special })}`;
/** Why this next word (POST /api/attribution/...): the logit lens, direct logit attribution, attention beside what it
 * moves (value-weighted, rollout), the measured effect of ablating each head of some layers. */
export const lens = (body, signal) => call("POST", "/api/attribution/lens", body, signal);
export const logit = (body, signal) => call("POST", "/api/attribution/logit", body, signal);
export const attnattr = (body, signal) => call("POST", "/api/attribution/attention", body, signal);
export const ablation = (body, signal) => call("POST", "/api/attribution/ablation", body, signal);

// ------------------------------------------------------------------------------------ the training lab (issue 19)

/** A lab record with its attention decoded: {shape: [layer, head, query, key], scale, bytes} (weight = byte / scale). */
function labRecord(r) {
  if (r && r.attention && typeof r.attention.data === "string") {
    const { data: b64, ...rest } = r.attention;
    r.attention = { ...rest, bytes: fromBase64(b64) };
  }
  return r;
}
const labState = (run) => {
  if (run && Array.isArray(run.records)) run.records.forEach(labRecord);
  return run;
};
// a run's address; `key` (its state's key), where the page has it, makes the server refuse another run under that id
// (404), as after a restart, which numbers runs from 1 again
const runPath = (id, what = "", params = {}) => `/api/lab/runs/${encodeURIComponent(id)}${what}${query(params)}`;

export const labOptions = (signal) => call("GET", "/api/lab/options", undefined, signal);
/** Start a run; a full server answers 503 at once (no retry: the page says so). */
export const labCreate = (body, signal) => call("POST", "/api/lab/runs", body, signal, 0).then(labState);
/** A run's state and its records after `after` (the polling fallback of labEvents). */
export const labRun = ({ id, after, key }, signal) => call("GET", runPath(id, "", { after, key }), undefined, signal).then(labState);
export const labPause = ({ id, key }, signal) => call("POST", runPath(id, "/pause", { key }), undefined, signal).then(labState);
export const labResume = ({ id, key }, signal) => call("POST", runPath(id, "/resume", { key }), undefined, signal).then(labState);
export const labStep = ({ id, key, n }, signal) => call("POST", runPath(id, "/step", { key }), { n }, signal).then(labState);
export const labReset = ({ id, key, seed }, signal) => call("POST", runPath(id, "/reset", { key }), seed === undefined ? undefined : { seed }, signal).then(labState);
export const labCancel = ({ id, key }, signal) => call("POST", runPath(id, "/cancel", { key }), undefined, signal).then(labState);
export const labRegister = ({ id, key, step }, signal) => call("POST", runPath(id, "/register", { key }), step === undefined ? undefined : { step }, signal);
/**
 * A run's weights at a kept `step` (absent: the latest) as the zip of GET /api/lab/runs/{id}/files, the files of
 * `attnlab train`: {name (the server's file name), blob}.
 */
export async function labFiles({ id, key, step }, signal) {
  const res = await send("GET", runPath(id, "/files", { step, key }), undefined, signal);
  if (!res.ok) await answer(res); // (throws the API's detail)
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
  return { name: name ? name[1] : `lab-${id}.zip`, blob: await res.blob() };
}
/** What a run reached over its first `records` records (null: all of them now); no `run`: the summary of no run. */
export const labSummary = ({ run, records, key }, signal) => call("GET", `/api/lab/summary${query({ run, records, key })}`, undefined, signal);
/** Stop a run while the page goes away (a beacon outlives the page; the server also stops a run nobody watches). */
export const labCancelOnLeave = (id, key) => navigator.sendBeacon(runPath(id, "/cancel", { left: true, key }));
/**
 * GET /api/lab/runs/{id}/events as an EventSource: on.state(run) and on.end(run) (states without records),
 * on.record(record) (its attention decoded), on.open(), on.error(eventSource). Returns the EventSource: close() it.
 * `key`: the run's key (the server refuses a stream of another run under that id, after a restart).
 */
export function labEvents(id, after, on, key = null) {
  const es = new EventSource(runPath(id, "/events", { after, key }));
  es.addEventListener("state", (ev) => on.state(JSON.parse(ev.data)));
  es.addEventListener("record", (ev) => on.record(labRecord(JSON.parse(ev.data))));
  es.addEventListener("end", (ev) => {
    es.close();
    on.end(JSON.parse(ev.data));
  });
  es.addEventListener("open", () => on.open && on.open());
  es.addEventListener("error", () => on.error && on.error(es));
  return es;
}
/** A model's recorded training: its checkpoints (NAME@STEP) and the training loss of every step. */
export const training = ({ model }, signal) => call("GET", `/api/models/${encodeURIComponent(model)}/training`, undefined, signal);
