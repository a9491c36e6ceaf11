"""The lab worker's protocol, run in a thread of this process (the server runs it in a spawned process)."""

import base64
import json
import multiprocessing
import threading

import pytest
import torch

from backend.labworker import run_worker
from models.lab import LabConfig, load_state, model_config
from models.tasks import IGNORE, get_task
from models.transformer import Transformer


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Worker:
    def __init__(self, config, max_steps=1000, max_seconds=600.0, paused=False):
        self.server, end = multiprocessing.Pipe()
        self.thread = threading.Thread(target=run_worker, args=(end, config, max_steps, max_seconds, paused, 0),
                                       daemon=True)
        self.thread.start()

    def until(self, kind, timeout=120):
        """The messages up to and including the next one of `kind`."""
        out = []
        while True:
            assert self.server.poll(timeout), f"no {kind!r} message within {timeout} s; got {[m[0] for m in out]}"
            msg = self.server.recv()
            out.append(msg)
            if msg[0] == kind:
                return out

    def send(self, *cmd):
        self.server.send(cmd)


def records(msgs):
    return [(json.loads(m[1]), m[2], m[3]) for m in msgs if m[0] == "record"]


def test_a_run_records_every_few_steps_and_ends_at_its_step_budget():
    w = Worker(LabConfig(task="copy", record_every=5).to_dict(), max_steps=12)
    msgs = w.until("end")
    assert msgs[0][0] == "ready" and msgs[0][1]["params"] > 0
    recs = records(msgs)
    assert [r[1] for r in recs] == [0, 5, 10, 12]  # step 0, every 5, and the last
    assert [r[0]["index"] for r in recs] == [0, 1, 2, 3] and [r[0]["step"] for r in recs] == [0, 5, 10, 12]
    assert sum(len(r[0]["losses"]) for r in recs) == 12  # every step's loss, once
    assert msgs[-1] == ("end", "reached 12 steps, the run's step budget", "steps")
    w.thread.join(30)
    assert not w.thread.is_alive()


def test_a_run_of_one_step_says_so_in_the_singular():
    w = Worker(LabConfig(task="after-marker", size="tiny").to_dict(), max_steps=1)
    msgs = w.until("end")
    assert [r[1] for r in records(msgs)] == [0, 1]
    assert msgs[-1] == ("end", "reached 1 step, the run's step budget", "steps")  # (not '1 steps')
    w.thread.join(30)


def test_each_record_agrees_with_its_checkpoint():
    """The record was measured on the same weights as the checkpoint sent with it: recompute it from them."""
    cfg = LabConfig(task="reverse", record_every=4)
    w = Worker(cfg.to_dict(), max_steps=8)
    task = get_task("reverse")
    ex = task.example()
    ids, targets = ex.ids[0], ex.targets[0]
    scored = targets != IGNORE
    for rec, _step, ckpt in records(w.until("end")):
        model = Transformer(model_config(cfg, task), init=False)
        model.load_state_dict(load_state(ckpt), strict=True)
        model.eval()
        logits, cache = model.run_with_cache(ids)
        assert rec["predictions"] == logits.argmax(-1)[scored].tolist()
        assert rec["prediction_tokens"] == task.tokenizer().displays(rec["predictions"])
        pattern = torch.stack([cache["pattern", layer] for layer in range(2)])  # [layer, head, q, k]
        packed = torch.frombuffer(bytearray(base64.b64decode(rec["attention"]["data"])), dtype=torch.uint8)
        unpacked = packed.float().reshape(rec["attention"]["shape"]) / 255
        assert unpacked.shape == pattern.shape
        assert float((unpacked - pattern).abs().max()) <= 0.5 / 255 + 1e-6


def test_the_time_budget_ends_a_run():
    w = Worker(LabConfig(task="sort").to_dict(), max_seconds=0.05)
    msgs = w.until("end")
    assert msgs[-1] == ("end", "its time budget of 0.05 s ran out (the training steps with their records)", "time")


def test_each_record_says_what_the_time_budget_has_counted():
    """The page showed the optimiser's seconds beside a time budget that counts the records too (a run "finished"
    at 55 s of a 60 s budget). Each record carries both: the budget's seconds grow with every record and hold the
    optimiser's seconds and more (the records themselves: each measures the example and packs every head)."""
    w = Worker(LabConfig(task="copy", record_every=2).to_dict(), max_steps=12)
    recs = [r[0] for r in records(w.until("end"))]
    assert recs[0]["budget_seconds"] == 0.0 and len(recs) == 7
    spent = [r["budget_seconds"] for r in recs]
    assert spent == sorted(spent) and len(set(spent)) == len(spent)
    for r in recs[1:]:
        assert r["budget_seconds"] >= r["seconds"] - 1e-3, r


def test_paused_it_steps_on_request_and_records_where_it_stops():
    w = Worker(LabConfig(task="copy", record_every=5).to_dict(), paused=True)
    first = w.until("status")
    assert first[-1] == ("status", "paused", 0) and [r[1] for r in records(first)] == [0]
    w.send("step", 3)
    rec, step, _ = records(w.until("record"))[0]
    assert step == 3 and len(rec["losses"]) == 3
    w.send("step", 4)  # passes step 5 (a record on the grid) and stops at 7 (a record where it stops)
    seen = w.until("record") + w.until("record")
    assert [r[1] for r in records(seen)] == [5, 7]
    w.send("resume")
    seen += w.until("status")
    assert seen[-1] == ("status", "running", 7)
    w.send("pause")
    msgs = w.until("status")
    seen += msgs
    step = msgs[-1][2]
    # a record of the paused step: sent now, or already (a pause that came before the next step ran stops at 7)
    assert msgs[-1][:2] == ("status", "paused") and records(seen)[-1][1] == step
    w.send("reset", 5)
    msgs = w.until("status")
    kinds = [m[0] for m in msgs]
    assert kinds[kinds.index("reset"):] == ["reset", "ready", "record", "status"]
    rec = records(msgs)[-1][0]
    assert rec["index"] == 0 and rec["step"] == 0 and msgs[-1] == ("status", "paused", 0)
    w.send("stop")
    w.thread.join(30)
    assert not w.thread.is_alive()


def test_a_failure_is_reported():
    w = Worker({**LabConfig().to_dict(), "task": "nope"})
    assert w.until("failed")[-1][1].startswith("ValueError: unknown task 'nope'")
