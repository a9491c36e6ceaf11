"""The training lab's API on a real server (the event stream needs one): runs in worker processes, their
control, the limits (queue, 503, cancel, a page that has gone), and using what a run trained."""

import io
import json
import statistics
import threading
import time
import zipfile
from contextlib import contextmanager

import httpx
import pytest
import torch
import uvicorn

from backend.main import create_app
from backend.settings import Settings
from models import registry
from models.tasks import TASKS
from tests.ports import free_port

BASE = dict(lab_max_runs=1, lab_max_queued=1, lab_watch_timeout_s=600, lab_nice=0)
SPAWN_S = 240  # a worker process imports torch: seconds on an idle machine, minutes on an overloaded one


@contextmanager
def serve(**overrides):
    app = create_app(Settings(**{**BASE, **overrides}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api", timeout=120) as client:
            yield app, client
    finally:
        server.should_exit = True
        thread.join(60)


def wait_for(fn, timeout=SPAWN_S, every=0.1, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(every)


def state(client, run_id, after=None):
    r = client.get(f"/lab/runs/{run_id}", params={} if after is None else {"after": after})
    assert r.status_code == 200, r.text
    return r.json()


def events(client, run_id, stop=lambda ev, data: ev == "end", **params):
    """Read the run's event stream until stop(event, data); returns [(event, id, data)]."""
    out = []
    with client.stream("GET", f"/lab/runs/{run_id}/events", params=params) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        ev, eid = None, None
        for line in r.iter_lines():
            if line.startswith(":") and stop("keep-alive", None):  # (a quiet stream sends only these)
                return out
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("id: "):
                eid = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                out.append((ev, eid, data))
                if stop(ev, data):
                    return out
                ev, eid = None, None
    return out


@pytest.fixture(autouse=True)
def _forget_registered(own_registry):
    """A run registered as a model (lab-N@STEP) is forgotten after its test, so that a later module does not list it
    (tests/backend/test_cli.py compares the models listed with `attnlab models`)."""


@pytest.fixture(scope="module")
def lab_server():
    with serve() as (app, client):
        yield app, client


def test_options_list_every_task_scheme_size_role_and_limit(lab_server):
    _, c = lab_server
    o = c.get("/lab/options").json()
    assert [t["name"] for t in o["tasks"]] == list(TASKS)
    copy = o["tasks"][0]
    assert "distinct letters" in copy["description"] and copy["example"]["tokens"][0] == "<|bos|>"
    assert [copy["example"]["tokens"][i + 1] for i in copy["example"]["scored"]] == copy["example"]["expected_tokens"]
    assert o["positional"] == ["sinusoidal", "learned", "rotary", "alibi", "none"]
    assert {s["name"] for s in o["sizes"]} == {"tiny", "small", "medium"}
    # the role scores a record carries: the Heads view's, with its definitions' words
    defs = {d["role"]: d for d in c.get("/roles/definitions").json()["roles"]}
    assert [d["role"] for d in o["roles"]] == ["induction", "previous-token", "duplicate-token", "sink"]
    assert all(d == defs[d["role"]] for d in o["roles"])
    assert o["limits"]["max_runs"] == 1 and o["limits"]["max_steps"] == Settings().lab_max_steps
    assert o["defaults"]["task"] == "copy"


@pytest.mark.parametrize("body, words", [
    ({"task": "juggle"}, "unknown task 'juggle'"), ({"positional": "spiral"}, "positional must be one of"),
    ({"size": "huge"}, "size must be one of"), ({"steps": 10**6}, "lab_max_steps"), ({"steps": 0}, "steps"),
    ({"lr": 5}, "lr"), ({"surprise": 1}, "surprise"),
])
def test_bad_runs_are_refused_with_a_reason(lab_server, body, words):
    _, c = lab_server
    r = c.post("/lab/runs", json=body)
    assert r.status_code == 422 and words in r.json()["detail"]


def test_unknown_runs_and_models(lab_server):
    _, c = lab_server
    for method, path in (("GET", "/lab/runs/999"), ("POST", "/lab/runs/999/pause"), ("GET", "/lab/runs/999/events"),
                         ("POST", "/lab/runs/999/register"), ("GET", "/lab/runs/999/files")):
        r = c.request(method, path)
        assert r.status_code == 404 and "no training run 999" in r.json()["detail"]
    r = c.get("/models/tiny-learned/training")
    assert r.status_code == 404 and "no recorded training history" in r.json()["detail"]


def test_an_action_on_an_ended_run_says_how_it_ended_once(lab_server):
    """'run 4 has ended (cancelled from the page)', not '(cancelled: cancelled from the page)'; and a run reset, not
    '(reset: reset: run 5 starts again from step 0)'."""
    app, c = lab_server
    run = c.post("/lab/runs", json={"task": "after-marker", "size": "tiny", "steps": 5, "paused": True}).json()
    assert c.post(f"/lab/runs/{run['id']}/cancel").json()["reason"] == "cancelled from the page"
    detail = c.post(f"/lab/runs/{run['id']}/resume").json()["detail"]
    assert detail.startswith(f"run {run['id']} has ended (cancelled from the page)"), detail
    new = c.post(f"/lab/runs/{run['id']}/reset").json()
    try:
        wait_for(lambda: state(c, new["id"])["status"] == "paused", what="the worker's start")
        newer = c.post(f"/lab/runs/{new['id']}/reset").json()
        reason = state(c, new["id"])["reason"]
        assert reason.count("reset") == 1 and str(newer["id"]) in reason, reason
        detail = c.post(f"/lab/runs/{new['id']}/pause").json()["detail"]
        assert detail.count("reset") == 1 + detail.count("or reset it"), detail
    finally:
        for r in c.get("/lab/runs").json()["runs"]:
            c.post(f"/lab/runs/{r['id']}/cancel")
        # the module's server takes one run and queues one: the next test starts once these workers have gone
        wait_for(lambda: not app.state.lab._workers, timeout=30, what="the workers' exit")


def test_a_run_is_known_by_its_key_as_well_as_its_id(lab_server):
    """A server started again numbers its runs from 1 again: a page's event stream that reconnected to it (the
    browser does so by itself, with the same address) followed another page's run 1 as its own. Each run has a random
    key; a stream asked with another key is refused, as a run the server does not have."""
    _, c = lab_server
    first = c.post("/lab/runs", json={"steps": 3000, "paused": True}).json()
    try:
        second = c.post("/lab/runs", json={"task": "sort"}).json()
        keys = {first["key"], second["key"], state(c, first["id"])["key"]}
        assert len(keys) == 2 and all(len(k) >= 16 for k in keys)  # random, one per run, the same in every state
        with c.stream("GET", f"/lab/runs/{first['id']}/events", params={"key": second["key"]}) as r:
            assert r.status_code == 404, r.status_code  # (a 200 is a stream that would not end: read nothing of it)
            assert "another run" in json.loads(r.read())["detail"]
        assert events(c, first["id"], stop=lambda ev, data: ev == "state", key=first["key"])[0][0] == "state"
    finally:
        for run in (first, second):
            c.post(f"/lab/runs/{run['id']}/cancel")


@pytest.mark.slow
def test_a_run_steps_resets_trains_to_its_budget_and_opens_in_the_explorer(lab_server, tmp_path):
    app, c = lab_server
    r = c.post("/lab/runs", json={"task": "copy", "steps": 30, "record_every": 5, "paused": True})
    assert r.status_code == 201, r.text
    run = r.json()["id"]
    wait_for(lambda: state(c, run)["status"] == "paused", what="the worker's start")
    assert c.post(f"/lab/runs/{run}/resume").status_code == 200
    assert c.post(f"/lab/runs/{run}/step", json={"n": 2}).status_code == 409  # running: pause first
    assert c.post(f"/lab/runs/{run}/pause").status_code == 200
    wait_for(lambda: state(c, run)["status"] == "paused", what="the pause")
    # reset: a new run takes over the worker from step 0; the old one says where it went
    new = c.post(f"/lab/runs/{run}/reset", json={"seed": 1}).json()
    assert new["id"] != run and new["config"]["seed"] == 1
    old = state(c, run)
    assert old["status"] == "reset" and old["replaced_by"] == new["id"] and old["n_records"] == 0
    run = new["id"]
    s = wait_for(lambda: (s := state(c, run))["status"] == "paused" and s["n_records"] >= 1 and s, what="the reset")
    assert s["records"][0]["step"] == 0 and s["records"][0]["index"] == 0
    assert c.post(f"/lab/runs/{run}/step", json={"n": 3}).status_code == 200
    wait_for(lambda: state(c, run)["step"] == 3, what="three steps")
    assert state(c, run)["status"] == "paused"
    c.post(f"/lab/runs/{run}/resume")
    done = wait_for(lambda: (s := state(c, run))["status"] == "finished" and s, what="the end of the run")
    assert done["reason"] == "reached 30 steps, the run's step budget" and done["step"] == 30
    recs = done["records"]
    assert [r["step"] for r in recs] == [0, 3, 5, 10, 15, 20, 25, 30]
    assert [r["index"] for r in recs] == list(range(len(recs)))
    assert sum(len(r["losses"]) for r in recs) == 30
    assert done["checkpoint_steps"] == [r["step"] for r in recs]
    assert c.post(f"/lab/runs/{run}/resume").status_code == 409  # it has ended
    # what the run reached (GET /api/lab/summary), recomputed from its records here
    summ = c.get("/lab/summary", params={"run": run}).json()
    assert (summ["run"], summ["status"], summ["ended"], summ["steps"], summ["records"]) == (
        run, "finished", True, 30, len(recs))
    assert (summ["end"], summ["reason"]) == ("steps", done["reason"])
    assert (summ["task"], summ["positional"], summ["seed"]) == ("copy", "sinusoidal", 1)
    x = summ["thresholds"]["loss"]
    below = [r for r in recs if r["loss"] is not None and r["loss"] < x]
    assert summ["loss"]["reached"] == bool(below) and summ["loss"]["step"] == (below[0]["step"] if below else None)
    best = [max((v, -l, -h) for l, row in enumerate(r["roles"]["induction"]) for h, v in enumerate(row)) for r in recs]
    final = summ["final"]
    assert (final["best_score"], final["best_layer"], final["best_head"]) == (best[-1][0], -best[-1][1], -best[-1][2])
    assert (summ["final"]["step"], summ["final"]["accuracy"], summ["final"]["loss"]) == (30, recs[-1]["accuracy"], recs[-1]["loss"])
    three = c.get("/lab/summary", params={"run": run, "records": 3}).json()
    assert (three["records"], three["final"]["step"], three["ended"]) == (3, recs[2]["step"], False)  # not every record
    assert (three["end"], three["reason"]) == (None, None)  # (how it ended is said with `ended`)
    none = c.get("/lab/summary").json()
    assert (none["run"], none["status"], none["ended"], none["final"]["step"], none["end"]) == (
        None, "none", False, None, None)
    assert c.get("/lab/summary", params={"run": 10**6}).status_code == 404
    # a lesson's step on the lab reads this run (lab_run): its claims follow the run's numbers, not the file's
    step = c.post("/lessons/watch-an-induction-head-appear/steps/4",
                  json={"text": "The cat sat.", "lab_run": run, "lab_records": len(recs)}).json()
    # learned: the example right and the training loss below the threshold; the example alone; not learned; not ended
    right, low = recs[-1]["accuracy"] >= summ["thresholds"]["accuracy"], recs[-1]["loss"] < x
    assert summ["final"]["loss_below"] == low
    assert step["problems"] == [] and [cl["holds"] for cl in step["claims"]] == [right and low, right and not low, not right,
                                                                                 False]
    shown = {n["placeholder"]: n for n in step["numbers"]}
    assert shown["labrun.final.accuracy | pct"]["value"] == recs[-1]["accuracy"]
    assert shown["labrun.final.accuracy | pct"]["request"] == {
        "method": "GET", "path": "/api/lab/summary", "params": {"run": run, "records": len(recs)}}
    # with the run's key, as the page sends it: another run under that id (after a restart) is not read
    key = state(c, run)["key"]
    keyed = c.post("/lessons/watch-an-induction-head-appear/steps/4",
                   json={"text": "The cat sat.", "lab_run": run, "lab_records": len(recs), "lab_key": key}).json()
    assert keyed["problems"] == [] and [cl["holds"] for cl in keyed["claims"]] == [cl["holds"] for cl in step["claims"]]
    other = c.post("/lessons/watch-an-induction-head-appear/steps/4",
                   json={"text": "The cat sat.", "lab_run": run, "lab_records": len(recs), "lab_key": "x" * 16}).json()
    assert any("another run" in p for p in other["problems"]), other["problems"]
    no_run = c.post("/lessons/watch-an-induction-head-appear/steps/4", json={"text": "The cat sat."}).json()
    assert no_run["problems"] == [] and [cl["holds"] for cl in no_run["claims"]] == [False, False, False, True]
    # polling from a record on; the event stream gives the same records, then the end
    assert [r["index"] for r in state(c, run, after=4)["records"]] == [5, 6, 7]
    stream = events(c, run)
    assert [(e, i) for e, i, _ in stream if e == "record"] == [("record", i) for i in range(len(recs))]
    assert [d for e, _, d in stream if e == "record"] == recs
    assert stream[-1][0] == "end" and stream[-1][2]["status"] == "finished"
    assert [i for e, i, _ in events(c, run, after=5) if e == "record"] == [6, 7]
    # the last step becomes a model every view opens
    reg = c.post(f"/lab/runs/{run}/register").json()
    assert reg == {"model": f"lab-{run}@30", "run": run, "step": 30}
    listed = {m["name"]: m for m in c.get("/models").json()["models"]}
    assert listed[reg["model"]]["positional"] == "sinusoidal" and listed[reg["model"]]["max_tokens"] == 24
    # it says it is the lab run's (the page offers no lab run for a sentence too long for another model)
    assert listed[reg["model"]]["lab_run"] == run
    assert all(m["lab_run"] is None for name, m in listed.items() if not name.startswith("lab-"))
    for path, body in (("/analyze", {}), ("/qkv", {"layer": 1}), ("/predict", {}),
                       ("/attention/explain", {"layer": 0, "head": 0, "query": 3})):
        r = c.post(path, json={"text": "abcdabc", "model": reg["model"], **body})
        assert r.status_code == 200, (path, r.text)
    a = c.post("/analyze", json={"text": "a b c d a b c", "model": reg["model"]}).json()
    assert a["tokens"][0]["display"] == "<|bos|>"
    assert [t["text"] for t in a["tokens"]] == ["", "a", " b", " c", " d", " a", " b", " c"]
    # the Heads view of the registered model on the probe's letters shows the last record's role scores
    probe = done["example"]["probe_tokens"]
    assert probe[0] == "<|bos|>"
    got = c.post("/roles", json={"text": "".join(probe[1:]), "model": reg["model"]}).json()
    assert [t["id"] for t in got["tokens"]] == done["example"]["probe_ids"]
    for role, scores in recs[-1]["roles"].items():
        heads = [h["scores"][role] for row in got["roles"]["heads"] for h in row]
        assert [v for row in scores for v in row] == pytest.approx(heads, abs=1e-4), role
    assert c.post(f"/lab/runs/{run}/register", json={"step": 3}).json()["model"] == f"lab-{run}@3"
    r = c.post(f"/lab/runs/{run}/register", json={"step": 4})
    assert r.status_code == 422 and "the steps kept are [0, 3, 5" in r.json()["detail"]
    # the record of step 30 is what the registered model does on the example (its answer)
    loaded = registry.load(reg["model"])
    ex = done["example"]
    with torch.no_grad():
        logits = loaded.model(torch.tensor(ex["ids"]))  # [pos, vocab]
    assert logits.argmax(-1)[ex["scored"]].tolist() == recs[-1]["predictions"]
    # the files of `attnlab train`, as `attnlab lab save` fetches them
    f = c.get(f"/lab/runs/{run}/files")
    assert f.status_code == 200 and f.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(f.content)) as z:
        z.extractall(tmp_path)
    folder = tmp_path / f"lab-{run}-step-30"
    saved = registry.load_folder(folder)
    with torch.no_grad():
        assert torch.equal(saved.model(torch.tensor(ex["ids"])), logits)
    assert json.loads((folder / "card.json").read_text())["training"]["lab"]["seed"] == 1


@pytest.mark.slow
def test_a_second_run_queues_a_third_is_refused_and_cancel_stops_the_worker():
    with serve() as (app, c):
        lab = app.state.lab
        first = c.post("/lab/runs", json={"steps": 3000, "paused": True}).json()
        assert first["status"] == "starting" and first["queue_position"] is None
        second = c.post("/lab/runs", json={"task": "sort"}).json()
        assert second["status"] == "queued" and second["queue_position"] == 1
        third = c.post("/lab/runs", json={})
        assert third.status_code == 503 and third.headers["retry-after"] == "10"
        assert "lab_max_queued=1" in third.json()["detail"]
        wait_for(lambda: state(c, first["id"])["status"] == "paused", what="the first worker's start")
        process = lab.get(first["id"]).worker.process
        assert process.is_alive()
        cancelled = c.post(f"/lab/runs/{first['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        summ = c.get("/lab/summary", params={"run": first["id"]}).json()
        assert (summ["ended"], summ["end"], summ["reason"]) == (True, "stopped", "cancelled from the page")
        wait_for(lambda: not process.is_alive(), timeout=30, what="the worker's exit")
        # the queued run starts in the freed place
        wait_for(lambda: state(c, second["id"])["status"] in ("running", "finished"), what="the second run's start")
        process = lab.get(second["id"]).worker.process
        # the beacon of a page that goes away says so: a reloaded page shows the run with that reason
        left = c.post(f"/lab/runs/{second['id']}/cancel", params={"left": "true"}).json()
        assert (left["status"], left["reason"]) == ("cancelled", "its page was closed or reloaded")
        wait_for(lambda: not process.is_alive(), timeout=30, what="the second worker's exit")
        assert state(c, first["id"])["checkpoint_steps"] == [0]  # what it recorded stays


@pytest.mark.slow
def test_a_run_that_spends_its_time_budget_says_so_in_its_summary():
    """A run ended by the server's time budget, short of its steps: the summary says `end: "time"` (the lessons then
    do not advise more steps)."""
    with serve(lab_max_seconds=1.0) as (app, c):
        run = c.post("/lab/runs", json={"steps": 3000}).json()["id"]
        done = wait_for(lambda: (s := state(c, run))["status"] == "finished" and s, what="the time budget")
        summ = c.get("/lab/summary", params={"run": run}).json()
        assert done["step"] < 3000 and summ["final"]["step"] == done["step"]
        assert (summ["ended"], summ["end"], summ["reason"]) == (True, "time", done["reason"])
        assert "time budget of 1 s ran out" in done["reason"]


@pytest.mark.slow
def test_a_run_lives_while_watched_and_stops_when_its_page_has_gone():
    with serve(lab_watch_timeout_s=3) as (app, c):
        run = c.post("/lab/runs", json={"steps": 3000, "paused": True}).json()["id"]
        wait_for(lambda: state(c, run)["status"] == "paused", what="the worker's start")  # (polling watches it)
        process = app.state.lab.get(run).worker.process
        # an open event stream watches it, longer than the timeout
        opened = time.monotonic()
        got = events(c, run, stop=lambda ev, data: time.monotonic() - opened > 5)
        assert got[0][0] == "record" and any(e == "state" for e, _, _ in got)
        assert app.state.lab.get(run).status == "paused"
        # the stream closed and no poll: the run is cancelled, its worker stops
        wait_for(lambda: app.state.lab.get(run).status == "cancelled", timeout=15, what="the cancel")
        assert "no page watched this run for 3 s" in app.state.lab.get(run).reason
        wait_for(lambda: not process.is_alive(), timeout=30, what="the worker's exit")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


P95_RATIO = 3.0  # the bound asserted: p95 while a run trains <= 3 x p95 idle + 0.25 s
P95_SLACK_S = 0.25


@pytest.mark.slow
def test_the_explorer_stays_quick_while_a_run_trains():
    """/api/analyze p95 while a training runs, against the same measure just before (both on new texts, no cached
    passes). The bound is loose for a noisy 2-core machine; the benchmark measures the real ratio."""
    with serve(result_cache_mb=0, lab_nice=10) as (app, c):
        def p95(tag):
            times = []
            for i in range(40):
                t0 = time.perf_counter()
                r = c.post("/analyze", json={"text": f"The {tag} cat number {i} sat on the mat near the old dog."})
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
            return percentile(times, 0.95), statistics.median(times)

        p95("warm")
        idle, idle_median = p95("idle")
        run = c.post("/lab/runs", json={"steps": 3000}).json()["id"]
        wait_for(lambda: state(c, run)["step"] >= 10, what="training under way")
        busy, busy_median = p95("busy")
        s = state(c, run)
        assert s["status"] == "running" and s["step"] > 10  # it trained all along
        c.post(f"/lab/runs/{run}/cancel")
        print(f"analyze p95: idle {idle * 1000:.0f} ms, while training {busy * 1000:.0f} ms "
              f"(medians {idle_median * 1000:.0f}, {busy_median * 1000:.0f} ms)")
        assert busy <= P95_RATIO * idle + P95_SLACK_S, (idle, busy)


@pytest.mark.slow
def test_the_server_stops_while_a_page_follows_a_paused_run():
    """A class leaves a run paused with its page open (its event stream never ends): Ctrl+C printed "Waiting for
    connections to close" and the server did not stop, so the teacher could not restart it. It stops within a few
    seconds, closing the stream."""
    import signal
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/api"
        wait_for(lambda: _answers(f"{base}/health"), timeout=120, what="the server")
        with httpx.Client(base_url=base, timeout=60) as client:
            run = client.post("/lab/runs", json={"task": "copy", "steps": 100, "paused": True}).json()
            done = threading.Event()

            def follow():  # the page: an event stream open on the paused run
                try:
                    with httpx.stream("GET", f"{base}/lab/runs/{run['id']}/events", timeout=None) as r:
                        for _ in r.iter_lines():
                            pass
                except httpx.HTTPError:
                    pass
                done.set()

            threading.Thread(target=follow, daemon=True).start()
            time.sleep(2)
            proc.send_signal(signal.SIGINT)  # Ctrl+C
            start = time.monotonic()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pytest.fail("the server still runs 30 s after Ctrl+C, waiting for the event stream")
            assert time.monotonic() - start < 15
            assert done.wait(10)  # the stream was closed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_action_on_a_run_checks_its_key(lab_server):
    """After a restart, a page's run id may be another page's run: each action the page sends with its run's key
    (a poll, pause, resume, step, reset, cancel, register, the files, the beacon of a page that goes, the summary the
    lessons quote) is refused
    under another key (404) and leaves that run as it was; with its own key each one answers."""
    _, c = lab_server
    mine = c.post("/lab/runs", json={"task": "sort", "size": "tiny", "steps": 3000, "paused": True}).json()
    other = "x" * 22
    try:
        wait_for(lambda: state(c, mine["id"])["status"] == "paused", what="the paused run")
        wait_for(lambda: state(c, mine["id"])["checkpoint_steps"], what="its first checkpoint")
        path = f"/lab/runs/{mine['id']}"
        asks = [("GET", path, None), ("POST", f"{path}/pause", None), ("POST", f"{path}/resume", None),
                ("POST", f"{path}/step", {"n": 1}), ("POST", f"{path}/reset", None),
                ("POST", f"{path}/cancel", None), ("POST", f"{path}/register", None), ("GET", f"{path}/files", None)]
        before = state(c, mine["id"])
        for method, url, body in asks:
            r = c.request(method, url, params={"key": other}, json=body)
            assert r.status_code == 404 and "another run" in r.json()["detail"], (url, r.text)
        r = c.get("/lab/summary", params={"run": mine["id"], "key": other})
        assert r.status_code == 404 and "another run" in r.json()["detail"], r.text
        after = state(c, mine["id"])
        assert (after["status"], after["step"], after["registered"]) == (before["status"], before["step"], [])
        assert c.get(f"{path}/files", params={"key": mine["key"]}).status_code == 200
        summary = c.get("/lab/summary", params={"run": mine["id"], "key": mine["key"]})
        assert summary.status_code == 200 and summary.json()["run"] == mine["id"]
        r = c.post(f"{path}/register", params={"key": mine["key"]})
        assert r.status_code == 200 and state(c, mine["id"], )["registered"] == [r.json()["model"]]
        r = c.post(f"{path}/cancel", params={"key": mine["key"], "left": True})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
    finally:
        c.post(f"/lab/runs/{mine['id']}/cancel")


def test_event_streams_are_bounded_server_wide_and_a_refused_page_polls_instead():
    """Each open event stream looks at its run ten times a second on the event loop: a thousand of them (one client
    opening streams in a loop) took half a core and delayed /api/health by up to 0.6 s. Past lab_max_streams open at
    once, a stream is refused with 503 and Retry-After (the page then polls); a stream closed frees its place."""
    with serve(lab_max_runs=0, lab_max_queued=2, lab_max_streams=2) as (app, c):
        run = c.post("/lab/runs", json={"steps": 10}).json()  # queued (no worker may start): no process spawned
        assert run["status"] == "queued"
        path = f"/lab/runs/{run['id']}/events"
        with c.stream("GET", path) as one, c.stream("GET", path) as two:
            assert one.status_code == two.status_code == 200
            refused = c.get(path)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert "lab_max_streams" in refused.json()["detail"]
            assert state(c, run["id"])["status"] == "queued"  # polling still answers
        wait_for(lambda: sum(r.streams for r in app.state.lab._runs.values()) == 0, timeout=10,
                 what="the closed streams' places freed")
        with c.stream("GET", path) as again:
            assert again.status_code == 200


@pytest.mark.slow
def test_a_reset_does_not_jump_the_queue_and_its_worker_counts_time_from_the_reset():
    """A reset hands its worker to the new run only while no other run waits: with one waiting, the new run queues
    behind it (else one page resetting again and again kept the lab's only worker from the class). And the worker
    handed over is watched from the reset on: the watchdog's limit (a run's time and pause budgets plus a minute)
    counted from the worker's first start failed a run that resets had made, however new, as 'overran its time
    budget'."""
    with serve(lab_max_runs=1, lab_max_queued=2) as (app, c):
        lab = app.state.lab
        a = c.post("/lab/runs", json={"steps": 3000, "paused": True}).json()["id"]
        wait_for(lambda: state(c, a)["status"] == "paused", what="the worker's start")
        before = time.monotonic()
        a1 = c.post(f"/lab/runs/{a}/reset").json()
        assert a1["status"] == "starting" and a1["queue_position"] is None  # no one waits: it takes the worker
        assert lab.get(a1["id"]).worker.started >= before
        b = c.post("/lab/runs", json={"task": "sort", "paused": True}).json()
        assert b["queue_position"] == 1
        a2 = c.post(f"/lab/runs/{a1['id']}/reset").json()
        assert (a2["status"], a2["queue_position"]) == ("queued", 2)
        assert state(c, a1["id"])["status"] in ("cancelled", "reset")
        wait_for(lambda: state(c, b["id"])["status"] == "paused", what="the waiting run's start")
        assert state(c, a2["id"])["queue_position"] == 1
        for run in (b["id"], a2["id"]):
            c.post(f"/lab/runs/{run}/cancel")
