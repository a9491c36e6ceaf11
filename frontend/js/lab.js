// The training lab's data: the page's one run, followed over Server-Sent Events (GET /api/lab/runs/{id}/events),
// or, when the stream fails, by polling GET /api/lab/runs/{id}; its controls (train, pause, resume, step, reset,
// cancel, open in the explorer, save its weights), each asked with the run's key. A part of the data layer: it calls
// api.js and holds what came back, reduced by labrun.js; the lab view draws `lab.view` and asks for actions through
// main.js. Nothing here draws.
//
// A run stops when its page goes: the page that started it cancels it as it unloads (a beacon), and the server cancels
// a run that no stream and no poll has watched for its `watch_timeout_s` anyway (a page that took the run up on
// loading, such as a duplicated tab, leaves it to the server: the tab that started it may still be training it). The tab remembers its run (sessionStorage), so
// a reloaded page shows it again, stopped, with its records, as long as the server keeps it (`lab_keep_runs`).
import * as realApi from "./api.js";
import { initial, isEnded, isLive, reduce } from "./labrun.js";

const POLL_MS = 250; // the polling fallback: four polls a second
const STREAM_ERRORS = 3; // a stream that fails this often in a row gives way to polling
const REMEMBERED = "attnlab-lab-run"; // the sessionStorage key of the tab's run

/** The tab's sessionStorage, or a store that keeps nothing where there is none (a test, a browser that refuses it). */
function sessionStore() {
  try {
    if (globalThis.sessionStorage) return globalThis.sessionStorage;
  } catch {
    // (storage refused: nothing is remembered)
  }
  return { getItem: () => null, setItem: () => {}, removeItem: () => {} };
}

export function createLab(api = realApi, storage = sessionStore()) {
  let view = initial();
  let es = null; // the EventSource following the run
  let poller = null; // the polling fallback's timer
  let streamErrors = 0;
  let busy = 0; // actions on their way
  // whether this page started the run it shows (Train, Reset): only such a run is stopped as the page goes. A run
  // taken up by restore() that is still live may be another tab's (a duplicated tab copies sessionStorage): the server
  // stops it once nothing watches it, its `watch_timeout_s` after the last page that followed it goes.
  let owned = false;
  const listeners = new Set();

  function set(next) {
    if (next === view) return;
    view = next;
    for (const fn of listeners) fn();
  }
  const apply = (ev) => set(reduce(view, ev));
  const after = () => view.records.length - 1;

  function stopFollowing() {
    if (es) es.close();
    es = null;
    clearTimeout(poller);
    poller = null;
  }

  function follow(id) {
    stopFollowing();
    if (typeof EventSource !== "function") {
      poll(id);
      return;
    }
    streamErrors = 0;
    const mine = (fn) => (x) => {
      if (view.run && view.run.id === id) fn(x);
    };
    // a state of another run under the same id (the stream reconnected to a server started again): this one is gone
    const same = (fn) => mine((run) => (sameRun(run) ? fn(run) : lost()));
    es = api.labEvents(id, after(), {
      open: mine(() => {
        streamErrors = 0;
        apply({ type: "transport", transport: "events" });
      }),
      state: same((run) => {
        apply({ type: "state", run });
        if (view.gap) resync(id);
      }),
      record: mine((record) => {
        apply({ type: "record", record });
        if (view.gap) resync(id);
      }),
      end: same((run) => {
        es = null;
        apply({ type: "state", run });
        apply({ type: "transport", transport: null });
      }),
      error: mine((source) => {
        // the browser reconnects by itself (resuming after Last-Event-ID); a stream that keeps failing, or that the
        // browser gave up on, gives way to polling
        streamErrors++;
        if (source.readyState === 2 || streamErrors >= STREAM_ERRORS) poll(id);
      }),
    }, view.run ? view.run.key : null); // (the server refuses a stream of another run of this id: the poll then says)
  }

  /** Whether `run` (a state the server sent for the id followed) is the run on the page: the same key. */
  const sameRun = (run) => !view.run || !view.run.key || !run || run.key === view.run.key;

  /**
   * The server no longer has the run on the page (it restarted, or forgot it): given up, so that a run another page
   * starts under the same id on a new server is never taken for this one.
   */
  function lost() {
    stopFollowing();
    if (!view.run) return;
    apply({ type: "state", run: { ...view.run, status: "failed", version: view.run.version + 1, lost: true,
      reason: "the server no longer has this run (it may have restarted), nor its weights to open in the explorer: " +
        "press Train to start again" } });
    apply({ type: "transport", transport: null });
    if (view.error) apply({ type: "error", message: null }); // (an unreachable server said so meanwhile: it is back)
  }

  /** Poll the run (the fallback of the event stream) until it ends. */
  function poll(id) {
    stopFollowing();
    apply({ type: "transport", transport: "polling" });
    const tick = async () => {
      poller = null;
      if (!view.run || view.run.id !== id) return;
      try {
        const run = await api.labRun({ id, after: after(), key: keyOf() });
        if (!view.run || view.run.id !== id) return;
        if (!sameRun(run)) {
          lost(); // (another page's run under this id, on a server started again)
          return;
        }
        apply({ type: "poll", run });
      } catch (err) {
        if (err.status === 404) {
          lost();
          return;
        }
        apply({ type: "error", message: err.message });
      }
      if (!view.run || view.run.id !== id) return;
      if (isEnded(view.run)) apply({ type: "transport", transport: null });
      else poller = setTimeout(tick, POLL_MS);
    };
    poller = setTimeout(tick, 0);
  }

  /** A record went missing: ask for the records after the last one held. */
  async function resync(id) {
    try {
      apply({ type: "poll", run: await api.labRun({ id, after: after(), key: keyOf() }) });
    } catch (err) {
      if (err.status === 404) lost();
      else apply({ type: "error", message: err.message });
    }
  }

  /**
   * Run an action on the server; its answer (the run's state) is applied, an error is shown. An action on the page's
   * run answered 404 gives the run up: the server no longer has it (or has another run under its id).
   */
  async function act(fn) {
    busy++;
    set({ ...view, error: null });
    try {
      return await fn();
    } catch (err) {
      if (err.status === 503 && !view.run) apply({ type: "refused", message: err.message });
      else if (err.status === 404 && view.run && !view.run.lost) lost();
      else apply({ type: "error", message: err.message });
      return null;
    } finally {
      busy--;
      for (const l of listeners) l();
    }
  }

  const runId = () => (view.run ? view.run.id : null);
  const keyOf = () => (view.run ? view.run.key : null);
  const asked = () => ({ id: runId(), key: keyOf() }); // the page's run as the server is asked for it
  const remember = (run) => {
    try {
      storage.setItem(REMEMBERED, JSON.stringify({ id: run.id, key: run.key }));
    } catch {
      // (a full or refused storage: a reload will not show the run)
    }
  };
  const forget = () => {
    try {
      storage.removeItem(REMEMBERED);
    } catch {
      // (as above)
    }
  };

  const lab = {
    /** What the lab view draws: {run, records, pick, error, refused, transport, gap} (labrun.js). */
    get view() {
      return view;
    },
    /** Actions on their way. */
    busy: () => busy,

    /** Start a run with these settings (LabRunRequest); a run this page still has going is cancelled first. */
    train(params) {
      return act(async () => {
        const old = runId();
        if (old !== null && isLive(view.run)) {
          stopFollowing();
          await api.labCancel(asked()).catch(() => null);
        }
        stopFollowing();
        set(initial());
        owned = false;
        const run = await api.labCreate(params);
        apply({ type: "created", run });
        owned = true;
        remember(run);
        follow(run.id);
        return run;
      });
    },
    /** Say why an action was not sent (the page's own check of what was typed): shown as the lab's error. */
    refuse: (message) => apply({ type: "error", message }),
    pause: () => act(async () => apply({ type: "state", run: await api.labPause(asked()) })),
    resume: () => act(async () => apply({ type: "state", run: await api.labResume(asked()) })),
    step: (n = 1) => act(async () => {
      const id = runId();
      apply({ type: "state", run: await api.labStep({ ...asked(), n }) });
      if (!es && !poller) follow(id);
    }),
    cancel: () => act(async () => apply({ type: "state", run: await api.labCancel(asked()) })),
    /** Start again from step 0 with the same settings: the server answers with the new run, which is followed. */
    reset: () => act(async () => {
      const run = await api.labReset(asked());
      stopFollowing();
      apply({ type: "created", run });
      owned = true;
      remember(run);
      follow(run.id);
      return run;
    }),
    /** Register the run's weights at `step` (default: the latest kept) as a model: its name, or null. */
    register: (step) => act(async () => {
      const id = runId();
      const got = await api.labRegister({ ...asked(), step }); // (404: a server started again, its weights gone)
      await resync(id); // its `registered` list has the model now
      return got.model;
    }),
    /** The run's weights at `step` (default: the latest kept) as a zip, {name, blob}; or null (the page says why). */
    files: (step) => act(async () => api.labFiles({ ...asked(), step: step === null ? undefined : step })),
    /** The slider over the recorded steps: show record `index` (null: the latest). */
    pick(index) {
      apply({ type: "pick", index });
    },
    /**
     * A page loaded in a tab that had a run (a reload): show that run with all its records, and follow it if it is
     * still live (the beacon of the page before lost); forget it where the server has it no more.
     */
    async restore() {
      let kept = null;
      try {
        kept = JSON.parse(storage.getItem(REMEMBERED));
      } catch {
        // (not ours: forgotten below)
      }
      if (view.run) return;
      if (!kept || !Number.isInteger(kept.id)) {
        if (kept !== null) forget();
        return;
      }
      try {
        const run = await api.labRun({ id: kept.id, after: -1, key: kept.key });
        if (view.run) return; // (a run started meanwhile)
        if (run.key !== kept.key) {
          forget(); // another run under that id: a server started again
          return;
        }
        apply({ type: "created", run, takenUp: true });
        owned = false; // (live, it may be another tab's: see `owned`)
        if (isLive(run)) follow(run.id);
      } catch {
        forget(); // (404: a restarted server, or one that kept newer runs; any other failure: nothing to show either)
      }
    },
    /**
     * The page goes away: stop the run it started (the server would stop it once nothing watches it, a little later);
     * a run it took up on loading may be another tab's, and is left to the server.
     */
    leave() {
      const id = runId();
      if (id !== null && owned && isLive(view.run)) api.labCancelOnLeave(id, keyOf());
      stopFollowing();
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
  return lab;
}

/** The page's lab. */
export const lab = createLab();
