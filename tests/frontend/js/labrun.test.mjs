// The training lab's run in the page (frontend/js/labrun.js, frontend/js/lab.js) and the explorer's training-step
// slider: the event stream reduced into what the view draws, each series checked against the records it is picked
// from, and the slider's step selection.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { createLab } from "../../../frontend/js/lab.js";
import {
  answerOf, atStep, canReset, cliSave, exampleLossSeries, firstReaching, initial, lossSeries, lossTable, openOffer, otherSettings, patternOf, reduce, roleSeries, shownIndex, shownRecord,
  statusText,
  TAKEN_UP,
  stepAt, stepIndex, stepsProblem, topHead, typedSteps,
} from "../../../frontend/js/labrun.js";
import { DEFAULTS, parse, serialize } from "../../../frontend/js/state.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

const EXAMPLE = { ids: [0, 5, 6, 5, 6], tokens: ["<|bos|>", "a", "b", "a", "b"], scored: [3, 4], expected: [6, 0], expected_tokens: ["b", "."] };

function run(over = {}) {
  return { id: 1, status: "running", reason: null, queue_position: null, config: { task: "copy", batch_size: 32 }, steps: 100, step: 0, seconds: 0,
    params: 1000, n_layers: 2, n_heads: 2, example: EXAMPLE, n_records: 0, checkpoint_steps: [], registered: [], replaced_by: null, version: 1, key: "k1", ...over };
}

/** Record `index` at step 5 * index: `losses` the five steps' losses, roles from a seed, a 2 x 2 x 2 x 2 attention. */
function record(index, { attention = null, predictions = [6, 6] } = {}) {
  const step = 5 * index;
  const losses = index === 0 ? [] : [0, 1, 2, 3, 4].map((i) => 3 - 0.01 * (step - 4 + i));
  const score = (l, h) => Math.min(1, 0.1 * index * (l + 1) + 0.05 * h);
  return {
    index, step, seconds: 0.1 * step, losses, loss: losses.length ? losses.reduce((a, b) => a + b) / losses.length : null,
    example_loss: 3 - 0.02 * step, accuracy: predictions.filter((p, i) => p === EXAMPLE.expected[i]).length / 2, predictions,
    prediction_tokens: predictions.map((p) => (p === 6 ? "b" : p === 0 ? "." : "?")), attention,
    roles: { induction: [[score(0, 0), score(0, 1)], [score(1, 0), score(1, 1)]], "previous-token": [[0.5, 0.5], [0.5, 0.5]] },
  };
}

test("a run's events become its state: records in order, each once; a missing one is noticed; another run's ignored", () => {
  let s = reduce(initial(), { type: "created", run: run({ records: [record(0)] }) });
  assert.equal(s.run.id, 1);
  assert.equal(s.records.length, 1);
  assert.ok(!("records" in s.run));
  s = reduce(s, { type: "record", record: record(1) });
  s = reduce(s, { type: "record", record: record(1) }); // sent again (a poll overlapping the stream)
  assert.deepEqual(s.records.map((r) => r.index), [0, 1]);
  // the status line follows the records as they come (it said step 605 beside the slider's 685)
  assert.equal(s.run.step, 5);
  assert.match(statusText({ ...s, run: { ...s.run, status: "running" } }), /^Training: step 5 of 100, 0\.5 s/);
  const before = s;
  s = reduce(s, { type: "record", record: record(3) }); // record 2 never came
  assert.ok(s.gap);
  assert.equal(s.records.length, 2);
  assert.equal(s.run.step, 5); // (not the step of a record it did not keep)
  s = reduce(s, { type: "poll", run: run({ version: 3, step: 15, records: [record(2), record(3)] }) });
  assert.ok(!s.gap);
  assert.deepEqual(s.records.map((r) => r.step), [0, 5, 10, 15]);
  assert.equal(s.run.step, 15);
  // a state older than the one held, and a state of another run, change nothing
  assert.equal(reduce(s, { type: "state", run: run({ version: 2, step: 5 }) }), s);
  assert.equal(reduce(s, { type: "state", run: run({ id: 2, version: 9 }) }), s);
  assert.equal(reduce(before, { type: "state", run: run({ id: 7 }) }), before);
  s = reduce(s, { type: "state", run: run({ version: 4, status: "paused", step: 15 }) });
  assert.equal(s.run.status, "paused");
  assert.equal(statusText(s), "Paused at step 15 of 100 (0.0 s in training steps).");
});

test("a record's weights are kept with it: Open in the explorer can open the step the slider shows", () => {
  // a paused run stepped on: its status stays "paused", so no state comes, only records (the button offered step 51 while
  // the slider showed 61, and opened 51)
  let s = reduce(initial(), { type: "created", run: run({ status: "paused", step: 15, checkpoint_steps: [0, 5, 10, 15], records: [0, 1, 2, 3].map((i) => record(i)) }) });
  s = reduce(s, { type: "record", record: record(4) });
  s = reduce(s, { type: "record", record: record(4) }); // sent again
  assert.deepEqual(s.run.checkpoint_steps, [0, 5, 10, 15, 20]);
  assert.equal(shownRecord(s).step, 20);
  // a record after a gap is not kept (nor its step); the server's state, when it comes, has the list as it is (thinned)
  s = reduce(s, { type: "record", record: record(6) });
  assert.deepEqual(s.run.checkpoint_steps, [0, 5, 10, 15, 20]);
  s = reduce(s, { type: "poll", run: run({ status: "paused", version: 5, step: 30, checkpoint_steps: [0, 10, 20, 25, 30], records: [record(5), record(6)] }) });
  assert.deepEqual(s.run.checkpoint_steps, [0, 10, 20, 25, 30]);
});

test("the slider picks a record; the last one follows the run as it grows", () => {
  let s = reduce(initial(), { type: "created", run: run({ records: [0, 1, 2, 3].map((i) => record(i)) }) });
  assert.equal(shownIndex(s), 3);
  s = reduce(s, { type: "pick", index: 1 });
  assert.equal(shownRecord(s).step, 5);
  s = reduce(s, { type: "record", record: record(4) });
  assert.equal(shownRecord(s).step, 5); // a picked step stays while records come
  s = reduce(s, { type: "pick", index: 99 }); // past the end: the last, and then the latest
  assert.equal(s.pick, null);
  s = reduce(s, { type: "record", record: record(5) });
  assert.equal(shownRecord(s).index, 5);
  s = reduce(s, { type: "pick", index: -3 });
  assert.equal(shownIndex(s), 0);
  assert.equal(shownIndex(initial()), null);
});

test("a refused run and a queued one say so plainly", () => {
  const refused = reduce(initial(), { type: "refused", message: "4 runs are waiting already; try again later" });
  assert.match(statusText(refused), /refused.*4 runs are waiting/);
  const queued = reduce(initial(), { type: "created", run: run({ status: "queued", queue_position: 2 }) });
  assert.match(statusText(queued), /Queued: place 2/);
  assert.match(statusText(initial()), /Train/);
});

test("the loss curve is every step's training loss: each record's losses end at its step and average to its loss", () => {
  const records = [0, 1, 2, 3].map((i) => record(i));
  const { x, y } = lossSeries(records);
  assert.deepEqual(x, [...Array(15).keys()].map((i) => i + 1));
  for (const r of records.slice(1)) {
    const mine = y.filter((_, i) => x[i] > r.step - 5 && x[i] <= r.step);
    assert.ok(Math.abs(mine.reduce((a, b) => a + b) / mine.length - r.loss) < 1e-12);
  }
  assert.deepEqual(exampleLossSeries(records), { x: [0, 5, 10, 15], y: records.map((r) => r.example_loss) });
});

test("the loss curve's table holds both its lines: each step's training loss, and the example's loss at each record", () => {
  const records = [0, 1, 2].map((i) => record(i));
  const rows = lossTable(records);
  assert.deepEqual(rows[0], ["step", "training_loss", "example_loss"]);
  assert.deepEqual(rows.slice(1).map((r) => r[0]), [...Array(11).keys()]); // steps 0 to 10, each once
  // step 0: the untrained model, no training step yet, its loss on the example
  assert.deepEqual(rows[1], [0, "", records[0].example_loss]);
  for (const r of records) assert.equal(rows.find((row) => row[0] === r.step)[2], r.example_loss);
  // each record's training losses, read back from the table, average to the record's loss
  for (const r of records.slice(1)) {
    const mine = rows.slice(1).filter((row) => row[0] > r.step - 5 && row[0] <= r.step).map((row) => row[1]);
    assert.ok(Math.abs(mine.reduce((a, b) => a + b) / mine.length - r.loss) < 1e-12);
  }
  assert.equal(rows.filter((row) => row[2] === "").length, 8); // steps between records: no example loss
});

test("the role curves: one per head, each the record's score of that head", () => {
  const records = [0, 1, 2].map((i) => record(i));
  const series = roleSeries(records, "induction");
  assert.deepEqual(series.map((s) => s.name), ["L0 H0", "L0 H1", "L1 H0", "L1 H1"]);
  for (const s of series) records.forEach((r, i) => assert.equal(s.y[i], r.roles.induction[s.layer][s.head]));
  assert.deepEqual(roleSeries(records, "no-such-role"), []);
  assert.deepEqual(topHead(records[2], "induction"), { layer: 1, head: 1, score: records[2].roles.induction[1][1] });
  const first = firstReaching(records, "induction", 0.4);
  assert.equal(first.step, 10);
  assert.equal(first.layer, 1);
  assert.equal(firstReaching(records, "induction", 2), null);
  // a head with no score (null: no query of the probe counts) is never the top one, even when it comes first
  const some = { roles: { induction: [[null, 0.2], [0.2, null]] } };
  assert.deepEqual(topHead(some, "induction"), { layer: 0, head: 1, score: 0.2 });
  assert.equal(topHead({ roles: { induction: [[null, null]] } }, "induction"), null);
});

test("a head's pattern is its slice of the 8-bit attention, within half a step of the weights", () => {
  // weights [layer][head][query][key] of a causal 2-token example
  const w = [[[[1, 0], [0.3, 0.7]], [[1, 0], [0.9, 0.1]]], [[[1, 0], [0.55, 0.45]], [[1, 0], [0.02, 0.98]]]];
  const bytes = Uint8Array.from(w.flat(3).map((v) => Math.round(v * 255)));
  const attention = { shape: [2, 2, 2, 2], scale: 255, bytes };
  for (let l = 0; l < 2; l++) for (let hd = 0; hd < 2; hd++) {
    const p = patternOf(attention, l, hd);
    for (let q = 0; q < 2; q++) for (let k = 0; k < 2; k++) assert.ok(Math.abs(p[q][k] - w[l][hd][q][k]) <= 0.5 / 255 + 1e-12);
  }
  assert.equal(patternOf(attention, 2, 0), null);
  assert.equal(patternOf(null, 0, 0), null);
});

test("the model's answer: right where its top token is the expected one", () => {
  const rows = answerOf(EXAMPLE, record(1, { predictions: [6, 6] }));
  assert.deepEqual(rows.map((r) => [r.position, r.expected, r.predicted, r.right]), [[3, "b", "b", true], [4, ".", "b", false]]);
  assert.deepEqual(answerOf(EXAMPLE, null), []);
});

test("the training-step slider: the nearest recorded step, the last one is the model itself", () => {
  const steps = [0, 16, 64, 256, 1000];
  assert.equal(stepIndex(steps, null), 4);
  assert.equal(stepIndex(steps, 16), 1);
  assert.equal(stepIndex(steps, 40), 1); // 16 and 64 are as near: the earlier
  assert.equal(stepIndex(steps, 41), 2);
  assert.equal(stepIndex(steps, 5000), 4);
  assert.equal(stepIndex([], 3), null);
  assert.equal(stepAt(steps, 2), 64);
  assert.equal(stepAt(steps, 4), null);
  assert.equal(stepAt(steps, 9), null);
  assert.equal(stepAt(steps, -1), 0);
  const model = { name: "m", checkpoints: steps.map((s) => ({ step: s, model: `m@${s}` })), default: true };
  const at = atStep(model, 60);
  assert.equal(at.name, "m@64");
  assert.equal(at.checkpoint_of, "m");
  assert.equal(at.step, 64);
  assert.equal(at.default, false);
  assert.equal(atStep(model, null), model);
  assert.equal(atStep(model, 1000), model);
  const plain = { name: "p", checkpoints: null };
  assert.equal(atStep(plain, 16), plain);
});

test("the lab's choices and the training step live in the URL", () => {
  const s = { ...structuredClone(DEFAULTS), view: "lab", tstep: 64, ltask: "reverse", lpos: "none", lsize: "tiny", lsteps: 300, llayer: 1, lhead: 3, lrole: "previous-token" };
  assert.deepEqual(parse(serialize(s)), s);
  const bad = parse("ltask=%3Cb%3E&lsteps=0&tstep=-2&lrole=1x");
  assert.equal(bad.ltask, DEFAULTS.ltask);
  assert.equal(bad.lsteps, null);
  assert.equal(bad.tstep, null);
  assert.equal(bad.lrole, DEFAULTS.lrole);
  // a link made when the lab had role ids of its own opens the same score under the Heads view's id
  assert.deepEqual(["previous_token", "duplicate", "first_token", "induction"].map((r) => parse(`lrole=${r}`).lrole),
    ["previous-token", "duplicate-token", "sink", "induction"]);
});

// ------------------------------------------------------------------------------ lab.js: following a run

function fakeApi() {
  const calls = [];
  const streams = [];
  const api = {
    calls,
    streams,
    polls: [],
    labCreate: async (body) => { calls.push(["create", body]); return run({ id: calls.filter((c) => c[0] === "create").length, records: [] }); },
    labCancel: async ({ id }) => { calls.push(["cancel", id]); return run({ id, status: "cancelled", version: 99 }); },
    labPause: async ({ id }) => { calls.push(["pause", id]); return run({ id, status: "paused", version: 5 }); },
    labRun: async ({ id, after }) => {
      calls.push(["poll", id, after]);
      const next = api.polls.shift() || { status: "running", records: [] };
      return run({ id, version: 10 + calls.length, ...next });
    },
    labEvents: (id, after, on, key) => {
      const es = { id, after, on, key, readyState: 1, closed: false, close() { this.closed = true; this.readyState = 2; } };
      streams.push(es);
      return es;
    },
    labCancelOnLeave: (id) => calls.push(["beacon", id]),
  };
  return api;
}

const tick = () => new Promise((r) => setTimeout(r, 5));

test("lab.js follows a run's event stream, and falls back to polling when the stream keeps failing", async () => {
  globalThis.EventSource = function EventSource() {};
  const api = fakeApi();
  const lab = createLab(api);
  let changes = 0;
  lab.subscribe(() => changes++);
  await lab.train({ task: "copy", steps: 100 });
  assert.deepEqual(api.calls[0], ["create", { task: "copy", steps: 100 }]);
  assert.equal(api.streams.length, 1);
  const es = api.streams[0];
  assert.equal(es.after, -1);
  assert.equal(es.key, "k1"); // (the server refuses a stream of another run under this id)
  es.on.open();
  es.on.record(record(0));
  es.on.record(record(1));
  es.on.state(run({ version: 2, step: 5 }));
  assert.equal(lab.view.transport, "events");
  assert.deepEqual(lab.view.records.map((r) => r.step), [0, 5]);
  assert.equal(lab.view.run.step, 5);
  assert.ok(changes > 0);
  // the stream fails three times: the page polls from the last record it has
  api.polls.push({ status: "running", step: 10, records: [record(2)] }, { status: "finished", step: 10, records: [] });
  es.on.error(es);
  es.on.error(es);
  es.on.error(es);
  assert.ok(es.closed);
  assert.equal(lab.view.transport, "polling");
  for (let i = 0; i < 100 && lab.view.run.status !== "finished"; i++) await tick();
  assert.deepEqual(api.calls.filter((c) => c[0] === "poll").map((c) => c[2]), [1, 2]);
  assert.equal(lab.view.run.status, "finished");
  assert.deepEqual(lab.view.records.map((r) => r.step), [0, 5, 10]);
  assert.equal(lab.view.transport, null);
  lab.leave(); // an ended run: nothing to stop
  assert.ok(!api.calls.some((c) => c[0] === "beacon"));
  delete globalThis.EventSource;
});

test("lab.js: a new Train stops the page's live run first; leaving the page stops its run", async () => {
  globalThis.EventSource = function EventSource() {};
  const api = fakeApi();
  const lab = createLab(api);
  await lab.train({ task: "copy" });
  await lab.train({ task: "reverse" });
  assert.deepEqual(api.calls.map((c) => c[0]), ["create", "cancel", "create"]);
  assert.ok(api.streams[0].closed);
  // an event of the stream the page left changes nothing
  const held = lab.view;
  api.streams[0].on.record(record(0));
  assert.equal(lab.view, held);
  lab.leave();
  assert.deepEqual(api.calls.at(-1), ["beacon", 2]);
  assert.ok(api.streams[1].closed);
  delete globalThis.EventSource;
});

/** A page's run of 3000 steps on a fake server, its stream open with records 0 and 1 in (EventSource faked). */
async function trainingWithTwoRecords() {
  globalThis.EventSource = function EventSource() {};
  const api = fakeApi();
  const lab = createLab(api);
  await lab.train({ task: "copy", steps: 3000 });
  const es = api.streams[0];
  es.on.record(record(0));
  es.on.record(record(1));
  return { api, lab, es };
}

test("lab.js: a run the server no longer has (it restarted) is given up, not followed into another run of the same id", async () => {
  const { api, lab, es } = await trainingWithTwoRecords();
  // the server restarts: the stream fails and is closed by the browser, the poll finds no run 1
  let gone = true;
  const labRun = api.labRun;
  api.labRun = async (args) => {
    if (gone) { api.calls.push(["poll", args.id, args.after]); throw Object.assign(new Error("no training run 1; the runs kept now are: none"), { status: 404 }); }
    return labRun(args);
  };
  es.readyState = 2;
  es.on.error(es);
  for (let i = 0; i < 50 && lab.view.transport !== null; i++) await tick();
  assert.equal(lab.view.transport, null);
  assert.equal(lab.view.run.status, "failed"); // ended: its buttons off, its status line says why
  assert.match(statusText(lab.view), /^Failed at step 5 of \d+: the server no longer has this run/);
  // another page's new run gets the id 1 on the new server: this page does not take it for its own
  gone = false;
  api.polls.push({ status: "running", step: 145, steps: 300, records: [record(2)] });
  const polls = api.calls.filter((c) => c[0] === "poll").length;
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(api.calls.filter((c) => c[0] === "poll").length, polls);
  assert.deepEqual(lab.view.records.map((r) => r.step), [0, 5]);
  lab.leave();
  delete globalThis.EventSource;
});

test("a run the server no longer has offers no step to open in the explorer, and says why", async () => {
  const { api, lab, es } = await trainingWithTwoRecords();
  // ended as it should, the weights of the step shown (5, kept with its record) can be opened
  const ended = reduce(lab.view, { type: "state", run: { ...lab.view.run, status: "cancelled", reason: "stopped", version: 50 } });
  assert.deepEqual(openOffer(ended), { step: 5, enabled: true, label: "Open step 5 in the explorer", why: "" });
  assert.equal(openOffer(initial()).enabled, false);
  // the server restarts: unreachable a while, then it has no run 1: the run is given up (failed), its weights gone
  let down = true;
  api.labRun = async () => {
    if (down) { down = false; throw new Error("the server could not be reached (stopped, restarting, or off this network)"); }
    throw Object.assign(new Error("no training run 1; the runs kept now are: none"), { status: 404 });
  };
  es.readyState = 2;
  es.on.error(es);
  for (let i = 0; i < 400 && lab.view.transport !== null; i++) await tick();
  assert.equal(lab.view.run.status, "failed");
  assert.equal(lab.view.error, null); // (the server is back: not still said unreachable under the status line)
  // nor is it reset: its id may be another page's run on the new server, which Reset would replace
  assert.ok(canReset(ended.run));
  assert.ok(!canReset(lab.view.run));
  const offer = openOffer(lab.view);
  assert.equal(offer.enabled, false);
  assert.equal(offer.step, null);
  assert.doesNotMatch(offer.label, /step \d/);
  assert.match(offer.why, /server no longer has this run's weights.*no step of it can be opened in the explorer/);
  assert.match(statusText(lab.view), /the server no longer has this run .*nor its weights to open in the explorer/);
  lab.leave();
  delete globalThis.EventSource;
});

test("Open in the explorer of a finished run the server has since lost (404) gives the run up", async () => {
  const { api, lab, es } = await trainingWithTwoRecords();
  es.on.end(run({ status: "finished", reason: "done", step: 5, checkpoint_steps: [0, 5], version: 9 }));
  assert.equal(openOffer(lab.view).enabled, true);
  api.labRegister = async () => { throw Object.assign(new Error("no training run 1; the runs kept now are: none"), { status: 404 }); };
  assert.equal(await lab.register(5), null);
  assert.equal(lab.view.run.status, "failed");
  assert.equal(openOffer(lab.view).enabled, false);
  assert.match(statusText(lab.view), /the server no longer has this run/);
  lab.leave();
  delete globalThis.EventSource;
});

test("lab.js: a run of the same id with another key (a server started again, a new run 1 already) is given up too", async () => {
  // a poll that came after another page's new run 1 found no 404: the page drew that run's records as its own
  const { api, lab, es } = await trainingWithTwoRecords();
  api.polls.push({ status: "running", step: 145, key: "k2", records: [record(2)] });
  es.readyState = 2;
  es.on.error(es);
  for (let i = 0; i < 50 && lab.view.transport !== null; i++) await tick();
  assert.equal(lab.view.run.status, "failed");
  assert.match(statusText(lab.view), /^Failed at step 5 of \d+: the server no longer has this run/);
  assert.deepEqual(lab.view.records.map((r) => r.step), [0, 5]);
  // the stream of a run 1 with another key (a reconnect to the new server) is given up alike
  const again = createLab(api);
  await again.train({ task: "copy", steps: 3000 });
  api.streams.at(-1).on.state(run({ id: 2, key: "other", version: 7, step: 40 }));
  assert.equal(again.view.run.status, "failed");
  assert.equal(again.view.run.step, 0);
  lab.leave();
  again.leave();
  delete globalThis.EventSource;
});

test("lab.js: a refused run (503) is shown as refused; another failure as an error", async () => {
  globalThis.EventSource = function EventSource() {};
  const api = fakeApi();
  api.labCreate = async () => { throw Object.assign(new Error("the lab's queue is full (4 runs wait); try again later"), { status: 503 }); };
  const lab = createLab(api);
  await lab.train({ task: "copy" });
  assert.match(lab.view.refused, /queue is full/);
  assert.equal(lab.view.run, null);
  api.labCreate = async () => run({ records: [] });
  await lab.train({ task: "copy" });
  api.labPause = async () => { throw Object.assign(new Error("run 1 is not running (paused)"), { status: 409 }); };
  await lab.pause();
  assert.match(lab.view.error, /not running/);
  assert.equal(lab.view.refused, null);
  delete globalThis.EventSource;
});

test("typedSteps: the number in the box, up to the limit; the fallback for anything that is not a whole number from 1", () => {
  assert.equal(typedSteps("100", 5000, 1000), 100);
  assert.equal(typedSteps(" 120 ", 5000, 1000), 120);
  assert.equal(typedSteps("9000", 5000, 1000), 5000);
  for (const bad of ["", " ", "0", "-5", "2.5", "abc", "1e", null, undefined]) assert.equal(typedSteps(bad, 5000, 1000), 1000, String(bad));
  assert.equal(typedSteps("1e2", 5000, 1000), 100); // (as the number input itself reads it)
});

test("a run that its time budget ended says the seconds it counts apart from the budget's", () => {
  const run = { status: "finished", step: 296, steps: 1000, seconds: 4.7, reason: "its time budget of 5 s ran out (the training steps with their records)" };
  assert.equal(statusText({ run }), "Finished at step 296 of 1000 (4.7 s in training steps): its time budget of 5 s ran out (the training steps with their records).");
});

test("where the controls set another run than the one on screen, the status says what that run is", () => {
  const run = { status: "finished", steps: 850, config: { task: "copy", positional: "learned", size: "tiny" } };
  assert.equal(otherSettings(run, { task: "copy", positional: "learned", size: "tiny", steps: 850 }), "");
  assert.equal(otherSettings(run, { task: "copy", positional: "learned", size: "small", steps: 1000 }),
    "The run on screen: copy, learned positions, size tiny, 850 steps; the settings above are for the next Train.");
  assert.match(otherSettings({ ...run, config: { ...run.config, positional: "none" } }, { task: "copy", positional: "learned", size: "tiny", steps: 850 }), /copy, no positions/);
  assert.equal(otherSettings(null, { task: "copy" }), "");
});

test("the status line counts the time budget as the server does (steps with their records) and warns where it ends first", () => {
  // it said "55.2 s in training steps" beside "its time budget of 60 s ran out": the budget counts the records too,
  // and a step budget the time budget could not reach was found out only when the run stopped
  const limits = { max_seconds: 60 };
  const at = (over) => statusText({ ...initial(), run: run({ step: 400, steps: 2000, seconds: 16, budget_seconds: 20, ...over }) }, limits);
  // 20 s for 400 steps: 2000 steps would take 100 s, past the 60 s; the budget ends near step 60 / (20 / 400) = 1200
  assert.equal(at({}), "Training: step 400 of 2000, 16.0 s in training steps (20.0 s of the 60 s time budget, with the records). At this pace the time budget ends near step 1200, before step 2000.");
  // within reach: no warning
  assert.equal(at({ steps: 1000 }), "Training: step 400 of 1000, 16.0 s in training steps (20.0 s of the 60 s time budget, with the records).");
  // paused: what was spent, no forecast (a paused run does not spend its budget)
  assert.equal(at({ status: "paused" }), "Paused at step 400 of 2000 (16.0 s in training steps; 20.0 s of the 60 s time budget, with the records).");
  // a record carries the budget spent, and the line follows it
  let s = reduce(initial(), { type: "created", run: run({ records: [record(0)] }) });
  s = reduce(s, { type: "record", record: { ...record(1), budget_seconds: 0.7 } });
  assert.equal(s.run.budget_seconds, 0.7);
  assert.match(statusText(s, limits), /0\.7 s of the 60 s time budget/);
});

/** A tab's sessionStorage, in memory. */
function memoryStorage() {
  const memory = new Map();
  return { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, String(v)), removeItem: (k) => memory.delete(k) };
}

test("after a reload the page shows the run it had (stopped as the page went), and forgets one the server no longer has", async () => {
  // a reload said "No run yet": the curves of a run trained for minutes were gone, though the server keeps them
  globalThis.EventSource = function EventSource() {};
  const storage = memoryStorage();
  const api = fakeApi();
  const first = createLab(api, storage);
  await first.train({ task: "copy", steps: 100 });
  first.leave(); // the page goes: its run is cancelled with a beacon
  assert.deepEqual(api.calls.at(-1), ["beacon", 1]);
  // the page that loads next, in the same tab
  api.polls.push({ status: "cancelled", reason: "its page was closed or reloaded", step: 10, records: [record(0), record(1), record(2)] });
  const again = createLab(api, storage);
  await again.restore();
  assert.deepEqual(api.calls.at(-1), ["poll", 1, -1]); // all its records
  assert.equal(again.view.run.id, 1);
  assert.deepEqual(again.view.records.map((r) => r.step), [0, 5, 10]);
  assert.equal(statusText(again.view), "Stopped at step 10 of 100: its page was closed or reloaded."); // (ended: no word of another tab)
  assert.equal(api.streams.length, 1); // (the first page's): an ended run is not followed
  // a run still live (the beacon lost) is followed again, so the server sees it watched
  api.polls.push({ status: "running", step: 10, records: [record(0)] });
  const live = createLab(api, storage);
  await live.restore();
  assert.equal(api.streams.length, 2);
  // a server started again whose run 1 is another page's (another key): forgotten, not shown as this page's
  api.polls.push({ status: "running", step: 300, key: "k2", records: [record(0)] });
  const other = createLab(api, storage);
  await other.restore();
  assert.equal(other.view.run, null);
  assert.equal(storage.getItem("attnlab-lab-run"), null);
  await first.train({ task: "copy", steps: 100 }); // (remembered again, for what follows)
  // a server that no longer has it (restarted, or it kept newer runs): the page forgets it and shows no run
  const gone = createLab({ ...api, labRun: async () => { throw Object.assign(new Error("no run 1"), { status: 404 }); } }, storage);
  await gone.restore();
  assert.equal(gone.view.run, null);
  assert.equal(gone.view.error, null);
  assert.equal(storage.getItem("attnlab-lab-run"), null);
  // a page with no run remembered asks nothing
  const calls = api.calls.length;
  await createLab(api, storage).restore();
  assert.equal(api.calls.length, calls);
});

test("a page that took up a live run (a duplicated tab copies the tab's storage) does not stop it when it goes", async () => {
  // closing the duplicate stopped the run the first tab was training, and that tab said "its page was closed"
  globalThis.EventSource = function EventSource() {};
  const storage = memoryStorage();
  const api = fakeApi();
  const first = createLab(api, storage);
  await first.train({ task: "copy", steps: 100 });
  api.polls.push({ status: "running", step: 10, records: [record(0), record(1)] });
  const duplicate = createLab(api, storage);
  await duplicate.restore();
  assert.equal(duplicate.view.run.id, 1); // shown, and followed
  assert.equal(duplicate.view.run.status, "running");
  // and says so: its Pause and Cancel act on the first tab's run, which the first tab stops as it closes
  assert.ok(statusText(duplicate.view).endsWith(TAKEN_UP), statusText(duplicate.view));
  assert.ok(!statusText(first.view).includes(TAKEN_UP), statusText(first.view)); // the tab that started it
  duplicate.leave();
  assert.equal(api.calls.filter((c) => c[0] === "beacon").length, 0); // (the server stops it once nothing watches it)
  // the page that started it stops it when it goes; so does one that started its own run after taking one up
  first.leave();
  assert.deepEqual(api.calls.at(-1), ["beacon", 1]);
  await duplicate.train({ task: "copy", steps: 100 });
  duplicate.leave();
  assert.deepEqual(api.calls.at(-1), ["beacon", 2]);
});

test("lab.js asks for every action on its run with the run's key, and an action answered 404 gives the run up", async () => {
  // after a restart the run's id may be another page's run: the key makes the server refuse it (404), so a Pause,
  // Reset or the beacon of a page that goes never acts on a run that is not this page's
  const { api, lab } = await trainingWithTwoRecords();
  const asked = [];
  const answer = (name, status) => async (args) => {
    asked.push([name, args.id, args.key]);
    return run({ id: args.id, status, version: 50 + asked.length });
  };
  api.labPause = answer("pause", "paused");
  api.labResume = answer("resume", "running");
  api.labStep = answer("step", "paused");
  api.labCancel = answer("cancel", "cancelled");
  api.labCancelOnLeave = (id, key) => asked.push(["beacon", id, key]);
  await lab.pause();
  await lab.step(10);
  await lab.resume();
  lab.leave();
  await lab.cancel();
  assert.deepEqual(asked, [["pause", 1, "k1"], ["step", 1, "k1"], ["resume", 1, "k1"], ["beacon", 1, "k1"], ["cancel", 1, "k1"]]);
  // a server started again since: another run 1 (its key differs) or none; either way 404 and the run is lost
  const again = await trainingWithTwoRecords();
  again.api.labPause = async () => { throw Object.assign(new Error("training run 1 is another run than the one asked for"), { status: 404 }); };
  await again.lab.pause();
  assert.equal(again.lab.view.run.status, "failed");
  assert.equal(again.lab.view.run.lost, true);
  assert.equal(again.lab.view.error, null); // (said once, in the status line)
  assert.match(statusText(again.lab.view), /the server no longer has this run/);
  again.lab.leave();
  delete globalThis.EventSource;
});

test("lab.js saves the run's weights at the step asked for, with its key; a 404 gives the run up", async () => {
  const { api, lab } = await trainingWithTwoRecords();
  const asked = [];
  api.labFiles = async (args) => {
    asked.push(args);
    return { name: `lab-1-step-${args.step}.zip`, blob: "zip" };
  };
  assert.deepEqual(await lab.files(5), { name: "lab-1-step-5.zip", blob: "zip" });
  assert.deepEqual(await lab.files(null), { name: "lab-1-step-undefined.zip", blob: "zip" }); // (null: the latest)
  assert.deepEqual(asked, [{ id: 1, key: "k1", step: 5 }, { id: 1, key: "k1", step: undefined }]);
  api.labFiles = async () => { throw Object.assign(new Error("no training run 1"), { status: 404 }); };
  assert.equal(await lab.files(5), null);
  assert.equal(lab.view.run.lost, true);
  assert.equal(openOffer(lab.view).enabled, false); // (the view's Save offers what Open offers: nothing now)
  lab.leave();
  delete globalThis.EventSource;
});

test("the run's id and the command that saves it are written where its weights are offered", () => {
  // `attnlab lab save RUN` asks for "the run's id (as the lab shows it)", and the lab showed no id: only the page's
  // data-run-id attribute held it
  const ended = { run: run({ id: 7, status: "cancelled", step: 45, checkpoint_steps: [5, 45] }), records: [] };
  assert.equal(cliSave(ended, "http://127.0.0.1:8000"),
    "This is run 7: attnlab lab save 7 --step 45 --out FOLDER saves it from a terminal.");
  // another server than the command's default: its address too
  assert.equal(cliSave(ended, "http://127.0.0.1:8103"),
    "This is run 7: attnlab lab save 7 --step 45 --url http://127.0.0.1:8103 --out FOLDER saves it from a terminal.");
  // nothing to save yet (training), or a run the server lost: nothing said
  assert.equal(cliSave({ run: run({ id: 7, status: "running", checkpoint_steps: [5] }), records: [] }, "http://127.0.0.1:8000"), "");
  assert.equal(cliSave({ run: run({ id: 7, status: "cancelled", lost: true, checkpoint_steps: [5] }), records: [] }, "http://127.0.0.1:8000"), "");
  assert.equal(cliSave(initial(), "http://127.0.0.1:8000"), "");
});

test("stepsProblem: Train starts no run where the box holds no whole number from 1, and says why", () => {
  // 0, 2.5 or an empty box started a run of the last budget (3000 steps after a 5000 typed before) with no word
  for (const ok of ["1", "150", " 120 ", "9000"]) assert.equal(stepsProblem(ok, 3000), "", ok);
  assert.equal(stepsProblem("0", 3000), "Steps: “0” is not a whole number from 1 to 3000. Type one, then press Train.");
  assert.match(stepsProblem("2.5", 3000), /“2\.5” is not a whole number from 1 to 3000/);
  assert.match(stepsProblem("-5", 500), /“-5” is not a whole number from 1 to 500/);
  assert.match(stepsProblem("", 3000), /the box is empty, not a whole number from 1 to 3000/);
  assert.match(stepsProblem("  ", 3000), /the box is empty/);
});

test("the lab's attention caption says how near 1 the rows of the recorded 8-bit weights sum", async () => {
  // "a row sums to 1. Weights as the run recorded them (8-bit: within 0.002)" beside rows of recorded weights that sum
  // to 1.0196 (tinystories, 64 keys): the row of 24 keys of 11/255 each sums to 1.0353
  const { patternCaption } = await import("../../../frontend/js/views/lab.js");
  const even = Array.from({ length: 24 }, () => 11 / 255);
  const cap = patternCaption(0, 1, 5, [[1], [0.5, 0.5], even]);
  assert.doesNotMatch(cap, /a row sums to 1\./);
  assert.match(cap, /Layer 0, head 1 at step 5: /);
  assert.match(cap, /a row of them sums to within 0\.036 of 1 here/); // (1.0353: the bound rounded up)
  assert.match(patternCaption(1, 0, 0, [[1], [0.5, 0.5]]), /each row of them sums to 1\.000 here/);
});

test("the lab's attention plot's axis titles say which tokens are labelled where not all are", async () => {
  // the copy lesson's example (24 tokens) had every 2nd labelled in presenter mode (a plot 382 px wide) and on a phone
  // (358 px) under the titles "key (attended to)" and "query"
  const { patternLayout } = await import("../../../frontend/js/views/lab.js");
  const { keyRoom, ordinal, queryTitleRoom } = await import("../../../frontend/js/plot.js");
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let thinned = 0;
  for (const n of [5, 12, 17, 20, 24, 33, 48, 64])
    for (const width of [300, 358, 382, 519, 600, 900])
      for (const k of [1, 1.5]) {
        const tokens = [{ text: "<|bos|>" }, ...Array.from({ length: n - 1 }, (_, i) => ({ text: letters[i % 26] }))];
        const { height, xaxis, yaxis } = patternLayout(tokens, width, k);
        const where = `${n} tokens, ${width} px, k ${k}`;
        for (const [axis, name] of [[xaxis, "key"], [yaxis, "query"]]) {
          const at = axis.tickvals;
          const title = axis.title.text;
          if (at.length === n) {
            assert.doesNotMatch(title, /every/, where);
            continue;
          }
          thinned++;
          const step = at[1] - at[0];
          assert.ok(at.every((v, i) => v === i * step), `${where}: ${at}`);
          // where a form naming the step fits the axis (about 8.4 px a letter times k), the title says it
          // (the key's: the width less the query labels, colour bar and padding, as the other heatmaps count it; the
          // query's: the height less its key labels as drawn, upright where one is wider than its columns)
          const room = name === "key" ? keyRoom(width, tokens, k) : queryTitleRoom(height, tokens, xaxis.tickvals, k, xaxis.tickangle === -90 ? 90 : 0);
          if (`${name} (every ${ordinal(step)})`.length * 8.4 * k <= room)
            assert.match(title, new RegExp(`^${name} \\(every ${ordinal(step)}( labelled)?\\)$`), `${where}: ${title}`);
          else assert.equal(title, name, where);
        }
      }
  assert.ok(thinned > 20);
  // the lesson's cases: 24 tokens in presenter mode and on a phone
  const copy = [{ text: "<|bos|>" }, ...Array.from({ length: 23 }, (_, i) => ({ text: letters[i % 5] }))];
  assert.equal(patternLayout(copy, 382, 1.5).xaxis.title.text, "key (every 2nd)");
  // (a fixed 130 px times k for the key labels and margins left it "query (every 2nd)": its 7-letter key labels stand
  // about 70 px, and the plot is about 400 px high where "query (every 2nd labelled)" takes about 330)
  assert.equal(patternLayout(copy, 382, 1.5).yaxis.title.text, "query (every 2nd labelled)");
  assert.equal(patternLayout(copy, 358, 1).xaxis.title.text, "key (every 2nd labelled)");
  assert.equal(patternLayout(copy, 358, 1).yaxis.title.text, "query (every 2nd labelled)");
  // 17 one-letter tokens in presenter mode, a plot 396 px high: "query (every 2nd)" (about 215 px) has room beside it
  // where 130 px times k left 201 px and the bare "query"
  const short = [{ text: "<|bos|>" }, ...Array.from({ length: 16 }, (_, i) => ({ text: letters[i] }))];
  assert.equal(patternLayout(short, 400, 1.5).yaxis.title.text, "query (every 2nd)");
  // and the reverse: keys of 20 letters stand about 145 px below a plot 396 px high, "query (every 2nd labelled)" has
  // no room beside it where 130 px gave it 266
  const long = [{ text: "<|bos|>" }, ...Array.from({ length: 16 }, (_, i) => ({ text: letters[i].repeat(20) }))];
  assert.equal(patternLayout(long, 400, 1).yaxis.title.text, "query (every 2nd)");
  // beside those 20-letter query labels (about 144 px) the keys have about 151 px, where a fixed 150 px for the labels,
  // colour bar and margins gave them 250 and "key (every 2nd labelled)" (about 202 px)
  assert.equal(patternLayout(long, 400, 1).xaxis.title.text, "key (every 2nd)");
});
