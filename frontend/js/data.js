// The page's one data layer: every request the page makes goes through here (api.js is the only module that calls
// fetch, and only this module calls api.js for data). The explorer and the lesson panel are both its clients.
//
//   resolve(owner, name, ctx)  a source of sources.js for a context: {data, error, unavailable, pending, current, request}
//   prefetch(owner, name, ctx) a source's request started now, where it reads no other source (asked with the analysis)
//   request(spec)              a one-off request through the same cache (a promise): /api/models, the lessons, ...
//   begin(owner) / end(owner)  a client's round: the slots it did not ask for this round are let go
//
// One cache keyed by the request (bounded, least recently used first out). The same request from two clients is one
// request: the second joins the first while it is on its way (a lesson step and the explorer showing the same view
// send one /api/analyze). A slot (owner:name) holds one request at a time: when it asks for another, the old one is
// let go, and a request that nobody holds any more is aborted while on its way. An answer only reaches the slot that
// asked for exactly that request, so a stale answer never replaces a newer one; while a slot's new request is on its
// way the slot shows its previous answer.
import * as realApi from "./api.js";
import { byLayer, wholeRows } from "./derive.js";
import { SOURCES } from "./sources.js";

const RETRY_FAILED_AFTER_MS = 5000; // a network failure or a 5xx is asked again after this, when still wanted
const READS_ANOTHER = Symbol("reads another source"); // thrown by prefetch's `need`

export function createData(api = realApi, { maxEntries = 64, now = () => performance.now(), later = (fn, ms) => setTimeout(fn, ms) } = {}) {
  const entries = new Map(); // request key -> {key, spec, data, error, status, pending, ctrl, claims, at}
  const slots = new Map(); // "owner:slot" -> request key
  const last = new Map(); // "owner:slot" -> what it showed last, an answer or a value (shown while the next loads)
  const rounds = new Map(); // owner -> the slots it asked for in this round
  const thumbs = new Map(); // a sentence's base key -> the 8-bit thumbnails of its compact answer (last few sentences)
  const tables = new Map(); // a sentence's base key -> the role table of its compact answer (last few sentences)
  const analysed = new Map(); // a sentence's base key -> true, for the last few sentences analysed (not compact)
  const baseOf = new WeakMap(); // analyze answer -> its base key (sentence, model, interventions)
  const analyzeMs = new Map(); // model -> how long its last new sentence took to analyse
  const tooLong = new Map(); // lengthKey -> the 422 that refused that text's length on that model, {error, refusal} (last few texts)
  const listeners = new Set();
  let inflight = 0;
  let notifying = false;
  let sent = 0; // requests sent so far (tests and the status line)

  const keyOf = (spec) => JSON.stringify([spec.api, spec.params ?? null]);

  function notify() {
    if (notifying) return;
    notifying = true;
    queueMicrotask(() => {
      notifying = false;
      for (const fn of listeners) fn();
    });
  }

  /**
   * The fetch of one request; large-model analyses reuse their sentence's thumbnails and role table (asked for
   * once per sentence: another layer of it needs neither again).
   */
  function call(spec, signal) {
    const args = spec.params === undefined ? [signal] : [spec.params, signal];
    if (spec.api !== "analyze") return { promise: api[spec.api](...args), timed: false };
    const base = sentenceKey(spec.params);
    if (!spec.compact) {
      // only a new sentence is timed: another analysis of the same one (another head's attribution carried) is the
      // server's cached pass
      const promise = api.analyze(spec.params, signal).then((a) => {
        keep(analysed, base, true);
        return tag(byLayer(wholeRows(a)), base);
      });
      return { promise, timed: !analysed.has(base), base };
    }
    const have = thumbs.get(base);
    const table = spec.params.roles ? tables.get(base) : undefined;
    const ask = { ...spec.params, thumbnails: !have, ...(table ? { roles: false } : {}) };
    const promise = api.analyze(ask, signal).then((a) => {
      if (a.thumbnails) keep(thumbs, base, a.thumbnails);
      else a.thumbnails = have;
      if (a.roles) keep(tables, base, a.roles);
      else if (table) a.roles = table;
      return tag(byLayer(wholeRows(a)), base);
    });
    // only a new sentence is timed: another layer of the same sentence is the server's cached pass
    return { promise, timed: !have, base };
  }

  /**
   * The refusal the server gave this request's text on its model, or a Compare side's (said as the API says it
   * there: "side b (tiny-nope): the text is 203 tokens ..."), where one is known; else null.
   */
  function knownRefusal(params) {
    const own = tooLong.get(lengthKey(params));
    if (own) return own;
    for (const side of ["a", "b"]) {
      const p = params && params[side];
      const said = p && typeof p === "object" ? tooLong.get(lengthKey(p)) : undefined;
      if (said) return { error: `side ${side} (${p.model}): ${said.error}`, refusal: { ...said.refusal, side } };
    }
    return null;
  }

  function keep(map, base, value) {
    map.delete(base);
    map.set(base, value);
    while (map.size > 4) map.delete(map.keys().next().value); // the last few sentences
  }

  function tag(a, base) {
    baseOf.set(a, base);
    return a;
  }

  function start(spec, key) {
    const refused = knownRefusal(spec.params);
    if (refused) {
      // the server refused this text's length on this model: another view, layer or intervention of it is refused
      // alike (the same tokens), so it is answered here, not sent for another 422
      const entry = { key, spec, data: null, error: refused.error, refusal: refused.refusal, status: 422, pending: false, ctrl: null, claims: new Set(), at: now() };
      entries.set(key, entry);
      evict();
      return entry;
    }
    const ctrl = new AbortController();
    const entry = { key, spec, data: null, error: null, refusal: null, status: 0, pending: true, ctrl, claims: new Set(), at: now() };
    entries.set(key, entry);
    inflight++;
    sent++;
    const t0 = now();
    let made;
    try {
      made = call(spec, ctrl.signal);
    } catch (err) {
      made = { promise: Promise.reject(err), timed: false };
    }
    made.promise
      .then((data) => {
        entry.data = data;
        for (const slot of entry.claims) last.set(slot, data);
        if (made.timed && spec.params && spec.params.model) analyzeMs.set(spec.params.model, now() - t0);
      })
      .catch((err) => {
        if (err && err.name === "AbortError") {
          if (entries.get(key) === entry) entries.delete(key); // nobody wanted it: not an answer to keep
          return;
        }
        entry.error = (err && err.message) || String(err);
        entry.status = (err && err.status) || 0;
        entry.refusal = (entry.status === 422 && err.refusal) || null;
        if (entry.refusal) {
          // the text's length on that model: the request's own, or a Compare side's (its message names the side first)
          const { side, ...numbers } = entry.refusal;
          const of = side ? spec.params && spec.params[side] : spec.params;
          const named = `side ${side} (${numbers.model}): `;
          const error = side && entry.error.startsWith(named) ? entry.error.slice(named.length) : entry.error;
          if (lengthKey(of)) keep(tooLong, lengthKey(of), { error, refusal: numbers });
        }
      })
      .finally(() => {
        entry.pending = false;
        entry.ctrl = null;
        entry.at = now();
        inflight--;
        notify();
        // no answer at all (the server down or restarting): once it may be asked again, the page is told, so that
        // what is still on screen asks again by itself (its clients re-resolve on notify), and recovers when the
        // server is back without anyone typing
        if (entry.error && !entry.status) {
          later(() => {
            if (entries.get(key) === entry && entry.claims.size > 0) notify();
          }, RETRY_FAILED_AFTER_MS + 100);
        }
      });
    evict();
    return entry;
  }

  function evict() {
    if (entries.size <= maxEntries) return;
    for (const [key, e] of entries) {
      if (entries.size <= maxEntries) break;
      if (!e.pending && e.claims.size === 0) entries.delete(key);
    }
  }

  function release(slot) {
    const key = slots.get(slot);
    slots.delete(slot);
    const e = key && entries.get(key);
    if (!e) return;
    e.claims.delete(slot);
    if (e.pending && e.claims.size === 0 && e.ctrl) {
      e.ctrl.abort();
      entries.delete(key);
    }
  }

  const failedLongAgo = (e) => e.error && (!e.status || e.status >= 500) && now() - e.at > RETRY_FAILED_AFTER_MS;

  /** The entry of `spec`, held by `slot` (the slot's previous request let go). */
  function want(slot, spec) {
    const key = keyOf(spec);
    if (slots.get(slot) !== key) release(slot);
    let e = entries.get(key);
    if (!e || failedLongAgo(e)) e = start(spec, key);
    else {
      entries.delete(key); // most recently used last
      entries.set(key, e);
    }
    e.claims.add(slot);
    slots.set(slot, key);
    return e;
  }

  function shown(slot, e) {
    if (e.data) last.set(slot, e.data);
    const data = e.data || (e.pending ? last.get(slot) || null : null);
    return { data, error: e.error, status: e.status, ...(e.refusal ? { refusal: e.refusal } : {}), pending: e.pending, current: Boolean(e.data),
      request: { api: e.spec.api, params: e.spec.params } };
  }

  /** Whether the cache holds an answer to `spec` (not one on its way, not an error). */
  function answered(spec) {
    const e = spec && entries.get(keyOf(spec));
    return Boolean(e && e.data && !e.pending);
  }

  function settle(slot, r) {
    if (r.api) return shown(slot, want(slot, r));
    // a value at hand; `request`: the request whose answer it is, where it stands for one (sources.js `carried`).
    // It is what the slot shows now, so also what it shows while its next request is on its way.
    if ("value" in r) {
      last.set(slot, r.value);
      return { data: r.value, error: null, pending: false, current: true, ...(r.request ? { request: r.request } : {}) };
    }
    if (r.unavailable) return { data: null, error: null, unavailable: r.unavailable, pending: false, current: true };
    if (r.error) return { data: null, error: r.error, pending: false, current: true };
    if (r.wait) return { data: last.get(slot) || null, error: null, pending: true, current: false };
    if (r.each) {
      let waiting = false; // sequential: an item is asked for only once every item before it has its answer
      const items = r.each.map((x) => {
        const sub = `${slot}:${x.name}`;
        // (`wait`: the source asks for this item once another answer is in)
        if (waiting || x.wait) return { name: x.name, positional: x.positional, data: null, error: null, pending: true, current: false, queued: true };
        // held: an item not answered yet is not asked for (its slot, not held this round, is let go at end())
        if (r.held && !answered(x.spec)) return { name: x.name, positional: x.positional, data: null, error: null, pending: false, current: false };
        touch(slot.slice(0, slot.indexOf(":")), sub); // held this round too, else end() lets it go (and aborts it)
        const one = x.spec ? settle(sub, x.spec) : { data: null, error: x.error, pending: false, current: true };
        if (r.sequential && one.pending) waiting = true;
        return { name: x.name, positional: x.positional, ...one };
      });
      return { data: items, error: null, family: r.family, pending: items.some((x) => x.pending), current: items.every((x) => x.current) };
    }
    return { data: null, error: "a source gave nothing", pending: false, current: true };
  }

  function touch(owner, slot) {
    const r = rounds.get(owner);
    if (r) r.add(slot);
  }

  return {
    /**
     * A source for a context (sources.js), held by `owner` (e.g. "page", "lesson"): what to show now. The sources it
     * depends on (explain needs the analysis) are resolved in the same context.
     */
    resolve(owner, name, ctx) {
      const memo = new Map();
      const need = (n, name = n) => {
        if (memo.has(name)) return memo.get(name);
        const src = SOURCES[n];
        const slot = `${owner}:${name}`;
        touch(owner, slot);
        let out;
        try {
          out = src ? settle(slot, src(ctx, (dep) => need(dep, slotName(ctx, dep)))) : { data: null, error: `unknown source ${n}`, pending: false };
        } catch (err) {
          out = { data: null, error: err.message || String(err), pending: false };
        }
        memo.set(name, out);
        return out;
      };
      return need(name, slotName(ctx, name));
    },

    /**
     * Ask source `name` for a context now, without showing it, where it reads no other source (the Q/K/V of a layer,
     * the positional encoding): the page asks such sources of its view together with a new sentence's
     * analysis instead of after it (the server computes the sentence's pass once for both). A source that reads
     * another (the lens of the query token, which the analysis names) is left for resolve() once that one is in.
     */
    prefetch(owner, name, ctx) {
      const src = SOURCES[name];
      if (!src) return;
      let r;
      try {
        r = src(ctx, () => {
          throw READS_ANOTHER;
        });
      } catch {
        return; // it reads another source (or cannot say yet): nothing asked
      }
      const slot = `${owner}:${slotName(ctx, name)}`;
      touch(owner, slot);
      settle(slot, r);
    },

    /**
     * A one-off request through the cache (joined if the same is on its way): a promise of its answer. `fresh`: ask
     * the server again rather than answer from the cache (the list of models after a lab run registered one).
     */
    request(spec, slot = `once:${keyOf(spec)}`, { fresh = false } = {}) {
      const cached = fresh ? entries.get(keyOf(spec)) : null;
      if (cached && !cached.pending) entries.delete(keyOf(spec));
      const e = want(slot, spec);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (e.pending) return false;
          listeners.delete(check);
          release(slot);
          if (e.error) reject(Object.assign(new Error(e.error), { status: e.status, ...(e.refusal ? { refusal: e.refusal } : {}) }));
          else if (e.data !== null) resolve(e.data);
          else reject(new DOMException("aborted", "AbortError"));
          return true;
        };
        if (!check()) listeners.add(check);
      });
    },

    /** Start a round of `owner`: the slots it does not ask for before end(owner) are let go. */
    begin(owner) {
      rounds.set(owner, new Set());
    },

    end(owner) {
      const used = rounds.get(owner);
      rounds.delete(owner);
      if (!used) return;
      const prefix = `${owner}:`;
      for (const slot of [...slots.keys()]) if (slot.startsWith(prefix) && !used.has(slot)) release(slot);
    },

    /** Call fn whenever an answer arrives (once per burst). Returns the unsubscribe function. */
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },

    /** Requests on their way. */
    inflight: () => inflight,
    /** Requests sent since the page opened. */
    sent: () => sent,
    /** How long `model`'s last new sentence took to analyse (ms), or 0. */
    analyzeMs: (model) => analyzeMs.get(model) || 0,
    /** The base key (sentence, model, interventions) an analyze answer was made for. */
    baseOf: (answer) => (answer ? baseOf.get(answer) || null : null),
    /** The base key a context's analysis has. */
    baseKey: (params) => sentenceKey(params),
    /** Entries in the cache (tests). */
    size: () => entries.size,
  };
}

/** The name of a source's slot within its owner: a lesson step's context (`ctx.slot`) keeps its sources apart. */
function slotName(ctx, name) {
  return ctx.slot ? `${ctx.slot}/${name}` : name;
}

/**
 * The sentence, model and interventions of /api/analyze parameters: what its answers share whatever else they carry
 * (the layers in full, how many predictions, the per-head summary, the role table, the lens and attribution, a head's
 * attention attribution).
 */
function sentenceKey(params) {
  const { layers, top_k: k, heads, roles, why, attention_attribution: head, ...rest } = params;
  return JSON.stringify(rest);
}

/**
 * What a request's refusal for its text's length holds for: the text, the model, and whether it may run past the
 * trained length (positions, scaling, ablated heads, layers, views do not change how many tokens a text is). null for a
 * request without a text and a model of its own.
 */
function lengthKey(params) {
  if (!params || typeof params.text !== "string" || typeof params.model !== "string") return null;
  return JSON.stringify([params.text, params.model, Boolean(params.allow_beyond_trained)]);
}

/** The page's data layer. */
export const data = createData();
