// The training lab's run as the page holds it, and the training-step slider of the explorer: pure functions, no DOM,
// no fetch. lab.js feeds the run's events (Server-Sent Events, or the polling fallback) through reduce(); the lab
// view (views/lab.js) draws what the selectors here pick out. Every number is the server's (GET
// /api/lab/runs/{id}, its events, GET /api/models/{name}/training): nothing here computes a new one, it only
// picks and arranges them.

/** Statuses after which a run records nothing more (backend/lab.py ENDED). */
export const ENDED = ["finished", "cancelled", "failed", "reset"];
/** Statuses of a run that holds (or waits for) a worker. */
export const LIVE = ["queued", "starting", "running", "paused"];

/** The step budget typed in the lab's box (its text), up to `max`; `fallback` (the state's) when it is not a whole
 * number from 1 up. */
export function typedSteps(raw, max, fallback) {
  const n = Number(String(raw).trim());
  return String(raw).trim() !== "" && Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
}

/**
 * Why Train cannot start a run with the step budget in the box (`raw`): "" where it holds a whole number from 1 (one
 * over `max` counts as `max`, as typedSteps takes it). Train took the last budget instead of 0, 2.5 or nothing, and a
 * run of another length started with no word.
 */
export function stepsProblem(raw, max) {
  if (typedSteps(raw, max, null) !== null) return "";
  const shown = String(raw ?? "").trim();
  return `Steps: ${shown ? `“${shown.slice(0, 20)}” is not` : "the box is empty, not"} a whole number from 1 to ${max}. ` +
    "Type one, then press Train.";
}

/** The page's lab before any run: no run, no records. */
export function initial() {
  return { run: null, records: [], pick: null, error: null, refused: null, transport: null, gap: false, takenUp: false };
}

const withoutRecords = (run) => {
  const { records, ...rest } = run;
  return rest;
};

/** Append the records that continue `records` (index = its length), ignoring those already held. */
function appendRecords(records, incoming) {
  let out = records;
  let gap = false;
  for (const r of [...incoming].sort((a, b) => a.index - b.index)) {
    if (r.index < out.length) continue; // already held (a reconnected stream resends nothing, a poll may overlap)
    if (r.index > out.length) {
      gap = true; // a record is missing: the caller asks for the run's records again
      break;
    }
    if (out === records) out = records.slice();
    out.push(r);
  }
  return { records: out, gap };
}

/**
 * The next lab state after an event:
 *   {type: "created", run}           a run started (or the run a reset made): its records so far come with it;
 *                                    with `takenUp: true`, a run the page found on loading, not one it started
 *   {type: "state", run}             the run's state changed (a `state` or `end` event, without records)
 *   {type: "record", record}         one record (a `record` event)
 *   {type: "poll", run}              a poll's answer: the state and the records after the page's last
 *   {type: "refused", message}       the server refused the run (503: too many runs wait)
 *   {type: "error", message}         an action failed (the message is the API's detail)
 *   {type: "transport", transport}   how progress arrives: "events" | "polling" | null
 *   {type: "pick", index}            the slider: show the record `index` (null: follow the latest)
 * An event about another run than the current one is ignored (a late answer of a run the page left).
 */
export function reduce(s, ev) {
  switch (ev.type) {
    case "created": {
      const records = ev.run.records || [];
      return { ...initial(), run: withoutRecords(ev.run), records: appendRecords([], records).records, takenUp: Boolean(ev.takenUp) };
    }
    case "state":
    case "poll": {
      if (!s.run || ev.run.id !== s.run.id) return s;
      const run = ev.run.version >= s.run.version || ev.type === "poll" ? withoutRecords(ev.run) : s.run;
      if (!ev.run.records || !ev.run.records.length) return run === s.run ? s : { ...s, run };
      const { records, gap } = appendRecords(s.records, ev.run.records);
      return { ...s, run, records, gap };
    }
    case "record": {
      if (!s.run) return s;
      const { records, gap } = appendRecords(s.records, [ev.record]);
      if (records === s.records && gap === s.gap) return s;
      // the run is at this record's step (as the server's state says once its next state comes): the status line and
      // the slider read the same record, not a state a few records old
      const r = records[records.length - 1]; // (the record received, where it was appended: not one after a gap)
      if (records === s.records) return { ...s, gap };
      // the server keeps each record's weights with it (backend/lab.py; thinning them raises the version, so a state
      // with the list as it is then follows): a paused run stepped on sends records and no state
      const kept = s.run.checkpoint_steps || [];
      const run = {
        ...s.run,
        ...(Number.isInteger(r.step) && r.step > s.run.step ? {
          step: r.step,
          seconds: typeof r.seconds === "number" ? r.seconds : s.run.seconds,
          budget_seconds: typeof r.budget_seconds === "number" ? r.budget_seconds : s.run.budget_seconds,
        } : {}),
        ...(Number.isInteger(r.step) && !kept.includes(r.step) ? { checkpoint_steps: [...kept, r.step] } : {}),
      };
      return { ...s, run, records, gap };
    }
    case "refused":
      return { ...initial(), refused: ev.message };
    case "error":
      return { ...s, error: ev.message };
    case "transport":
      return s.transport === ev.transport ? s : { ...s, transport: ev.transport };
    case "pick": {
      const n = s.records.length;
      const index = ev.index === null || ev.index === undefined || n === 0 ? null : Math.max(0, Math.min(n - 1, ev.index));
      // the last record picked: follow the latest as it grows
      return { ...s, pick: index === n - 1 ? null : index };
    }
    default:
      return s;
  }
}

/** The index of the record shown: the one picked with the slider, else the latest; null before any record. */
export function shownIndex(s) {
  if (!s.records.length) return null;
  return s.pick === null ? s.records.length - 1 : Math.min(s.pick, s.records.length - 1);
}

export const shownRecord = (s) => {
  const i = shownIndex(s);
  return i === null ? null : s.records[i];
};

export const isLive = (run) => Boolean(run) && LIVE.includes(run.status);
export const isEnded = (run) => Boolean(run) && ENDED.includes(run.status);

/**
 * Whether Reset (start again with the same settings) applies: not to a run reset already, nor to one the server no
 * longer has (`lost`), whose id may name another page's run on a server started again.
 */
export const canReset = (run) => Boolean(run) && run.status !== "reset" && !run.lost;

/** Why a run the server no longer has (lab.js marks it `lost`) offers no step to open in the explorer. */
export const LOST_OPEN = "The server no longer has this run's weights (it may have restarted): no step of it can be opened in the explorer.";

/**
 * The lab's "Open in the explorer": {step, enabled, label, why}. The step is the one the slider shows where its weights
 * are kept (else the latest kept), offered once the run is not training; a run the server no longer has (`lost`: it
 * restarted) offers none, and `why` says so.
 */
export function openOffer(s) {
  const run = s.run;
  if (run && run.lost) return { step: null, enabled: false, label: "Open in the explorer", why: LOST_OPEN };
  const rec = shownRecord(s);
  const kept = run ? run.checkpoint_steps || [] : [];
  const step = rec && kept.includes(rec.step) ? rec.step : kept.length ? kept[kept.length - 1] : null;
  return {
    step,
    enabled: step !== null && (run.status === "paused" || isEnded(run)),
    label: step === null ? "Open in the explorer" : `Open step ${step} in the explorer`,
    why: "",
  };
}

/**
 * The run's id and the command that saves the step offered (openOffer) from a terminal, or "" where none is offered:
 * `attnlab lab save RUN` asks for the run's id, which the page showed nowhere else. `origin`: the page's
 * (location.origin); the command's --url is said where it is not the command's default server.
 */
export function cliSave(s, origin = "") {
  const run = s.run;
  const offer = openOffer(s);
  if (!run || !offer.enabled) return "";
  const url = origin && origin !== "http://127.0.0.1:8000" ? ` --url ${origin}` : "";
  return `This is run ${run.id}: attnlab lab save ${run.id} --step ${offer.step}${url} --out FOLDER saves it from a terminal.`;
}

/**
 * Where the lab's controls (`chosen`: {task, positional, size, steps}, what Train would start) differ from the run on
 * screen (a lesson's next step sets them; the run before stays): what that run is, in one sentence; else "".
 */
export function otherSettings(run, chosen) {
  if (!run || !run.config || !chosen) return "";
  const cfg = run.config;
  const differs = cfg.task !== chosen.task || cfg.positional !== chosen.positional || cfg.size !== chosen.size || run.steps !== chosen.steps;
  if (!differs) return "";
  return `The run on screen: ${cfg.task}, ${schemeWords(cfg.positional)}, size ${cfg.size}, ${run.steps} steps; the settings above are for the next Train.`;
}

/** A positional scheme in words: "sinusoidal positions", "ALiBi positions" (its name as its paper writes it), "no positions". */
export const schemeWords = (positional) => (positional === "none" ? "no positions"
  : `${positional === "alibi" ? "ALiBi" : positional} positions`);

/**
 * The run in one sentence: its place in the queue, its step, or why it ended. `limits` (GET /api/lab/options
 * `limits`): with them, the seconds of the time budget spent (the server counts the records too, `budget_seconds`) and,
 * while it trains, the step near which the budget ends at its pace when that is before the step budget.
 */
export function statusText(s, limits = null) {
  const line = runText(s, limits);
  // a live run the page found on loading is another tab's where the tab was duplicated (it copies the run it remembers)
  return s.takenUp && isLive(s.run) ? `${line} ${TAKEN_UP}` : line;
}

export const TAKEN_UP = "This run was going on when this page opened: it may be another tab's (a duplicated " +
  "tab shares its run), and Pause, Step and Cancel here act on it there too. It stops when the tab that started it " +
  "closes, or once no page follows it.";

function runText(s, limits) {
  if (s.refused) return `The server refused the run: ${s.refused}`;
  const run = s.run;
  if (!run) return "No run yet: pick a task, a positional scheme and a size, then Train.";
  const at = `step ${run.step} of ${run.steps}`;
  const secs = `${run.seconds.toFixed(1)} s in training steps`; // (the optimiser's own time: the records are not counted)
  const spent = typeof run.budget_seconds === "number" ? run.budget_seconds : null;
  const budget = limits && spent !== null ? `${spent.toFixed(1)} s of the ${limits.max_seconds} s time budget, with the records` : "";
  // at the pace so far (budget seconds a step), the step at which the time budget runs out, if before the step budget
  const pace = spent !== null && run.step > 0 ? spent / run.step : 0;
  const endsAt = limits && pace > 0 ? Math.floor(limits.max_seconds / pace) : Infinity;
  const forecast = endsAt < run.steps ? ` At this pace the time budget ends near step ${endsAt}, before step ${run.steps}.` : "";
  switch (run.status) {
    case "queued":
      return `Queued: place ${run.queue_position} in the line (the server trains a limited number of runs at once).`;
    case "starting":
      return "Starting the training process…";
    case "running":
      return `Training: ${at}, ${secs}${budget ? ` (${budget})` : ""}.${forecast}`;
    case "paused":
      return `Paused at ${at} (${secs}${budget ? `; ${budget}` : ""}).`;
    case "finished":
      return `Finished at ${at} (${secs}): ${run.reason}.`;
    case "cancelled":
      return `Stopped at ${at}: ${run.reason}.`;
    case "failed":
      return `Failed at ${at}: ${run.reason}.`;
    case "reset":
      return `Started again as run ${run.replaced_by}.`;
    default:
      return `${run.status}, ${at}.`;
  }
}

/** The training loss of every step the records hold: {x: steps, y: losses} (each record's `losses` end at its step). */
export function lossSeries(records) {
  const x = [];
  const y = [];
  for (const r of records) {
    const n = r.losses.length;
    r.losses.forEach((loss, i) => {
      x.push(r.step - n + 1 + i);
      y.push(loss);
    });
  }
  return { x, y };
}

/** The loss on the fixed example at each record: {x: steps, y: losses}. */
export function exampleLossSeries(records) {
  return { x: records.map((r) => r.step), y: records.map((r) => r.example_loss) };
}

/**
 * The loss plot's table (its CSV): a row per step, [step, training loss, loss on the example], "" where a step has
 * none (step 0, before any training step, has no training loss; the example's loss is measured at each record only).
 */
export function lossTable(records) {
  const rows = new Map(); // step -> [step, training loss, example loss]
  const row = (step) => rows.get(step) || rows.set(step, [step, "", ""]).get(step);
  const train = lossSeries(records);
  train.x.forEach((step, i) => { row(step)[1] = train.y[i]; });
  for (const r of records) row(r.step)[2] = r.example_loss;
  return [["step", "training_loss", "example_loss"], ...[...rows.values()].sort((a, b) => a[0] - b[0])];
}

/** One line per head of a role's score over the records: [{name: "L0 H1", layer, head, x, y}]. */
export function roleSeries(records, role) {
  if (!records.length || !records[0].roles[role]) return [];
  const out = [];
  records[0].roles[role].forEach((row, layer) => row.forEach((_, head) => {
    out.push({ name: `L${layer} H${head}`, layer, head, x: records.map((r) => r.step), y: records.map((r) => r.roles[role][layer][head]) });
  }));
  return out;
}

/** The head with the highest score of `role` in a record: {layer, head, score}, or null (also where no head has a
 * score: null, no query of the probe counts). On a tie the lower layer, then head (as models.lab.summarize). */
export function topHead(record, role) {
  const m = record && record.roles[role];
  if (!m) return null;
  let best = null;
  m.forEach((row, layer) => row.forEach((score, head) => {
    if (score !== null && (!best || score > best.score)) best = { layer, head, score };
  }));
  return best;
}

/** The first record at which a head's score of `role` reaches `threshold`: {step, seconds, layer, head, score}, or null. */
export function firstReaching(records, role, threshold) {
  for (const r of records) {
    const top = topHead(r, role);
    if (top && top.score >= threshold) return { step: r.step, seconds: r.seconds, ...top };
  }
  return null;
}

/**
 * One head's pattern [query][key] from a record's attention, decoded ({shape: [layer, head, query, key], scale,
 * bytes}: weight = byte / scale, row-major, the key varying fastest), or null when it has no such head.
 */
export function patternOf(attention, layer, head) {
  if (!attention || !attention.bytes) return null;
  const [L, H, Q, K] = attention.shape;
  if (layer < 0 || layer >= L || head < 0 || head >= H) return null;
  const base = (layer * H + head) * Q * K; // offset of [layer, head, 0, 0]
  const rows = [];
  for (let q = 0; q < Q; q++) {
    const row = new Array(K);
    for (let k = 0; k < K; k++) row[k] = attention.bytes[base + q * K + k] / attention.scale;
    rows.push(row);
  }
  return rows;
}

/**
 * The model's answer on the example at a record: one entry per scored position, {position, expected, predicted,
 * right} (token strings as the API displays them).
 */
export function answerOf(example, record) {
  if (!record) return [];
  return example.scored.map((position, i) => ({
    position, expected: example.expected_tokens[i], predicted: record.prediction_tokens[i], right: record.predictions[i] === example.expected[i],
  }));
}

// ------------------------------------------------------------------------------ the explorer's training-step slider

/** The steps of a model's recorded checkpoints (its /api/models entry), or [] when it has none. */
export const checkpointSteps = (model) => (model && Array.isArray(model.checkpoints) ? model.checkpoints.map((c) => c.step) : []);

/** The slider position (an index into `steps`) of a training step: the checkpoint nearest to it (the earlier on a tie). */
export function stepIndex(steps, step) {
  if (!steps.length) return null;
  if (step === null || step === undefined) return steps.length - 1; // no step chosen: the final model
  let best = 0;
  for (let i = 1; i < steps.length; i++) if (Math.abs(steps[i] - step) < Math.abs(steps[best] - step)) best = i;
  return best;
}

/**
 * The state's training step for a slider position: null for the last checkpoint (the final model is the model
 * itself, so the URL names no step), else that checkpoint's step.
 */
export function stepAt(steps, index) {
  if (!steps.length) return null;
  const i = Math.max(0, Math.min(steps.length - 1, index));
  return i === steps.length - 1 ? null : steps[i];
}

/**
 * The model a context works on: `model` itself, or at a recorded training step its checkpoint NAME@STEP (the
 * same entry with that name; `checkpoint_of` and `step` say which). `step`: the state's training step (null: final).
 */
export function atStep(model, step) {
  const steps = checkpointSteps(model);
  if (!model || step === null || step === undefined || !steps.length) return model;
  const s = steps[stepIndex(steps, step)];
  if (s === steps[steps.length - 1]) return model;
  return { ...model, name: `${model.name}@${s}`, checkpoint_of: model.name, step: s, default: false };
}
