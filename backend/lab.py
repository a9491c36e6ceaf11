"""The training lab on the server: runs, their worker processes, the queue, and what they recorded.

    lab = LabManager(settings)
    run = lab.create(LabConfig(task="copy"), steps=500)   # starts a worker, or queues, or raises Overloaded
    lab.state(run.id)                                     # status, queue place, step, example, checkpoints
    lab.since(run.id, 0)                                  # the records from index 0 on (JSON bytes)
    lab.pause(run.id); lab.step(run.id, 10); lab.resume(run.id); lab.reset(run.id); lab.cancel(run.id)
    lab.register(run.id, step=None)                       # "lab-1@500": a model every explorer view can open

Bounds (Settings, ATTNLAB_LAB_*): at most `lab_max_runs` workers at once (a paused run keeps its worker);
`lab_max_queued` more wait with their place shown; beyond that `create` raises Overloaded (a 503). Each run
stops at its step budget (at most `lab_max_steps`) or after `lab_max_seconds` of training. A run that no page
watches (no event stream open and no poll for `lab_watch_timeout_s`) is cancelled, and so is a run paused for
longer than `lab_max_paused_s`. The records of a run are all kept; its checkpoints (one per record, float32)
are thinned to stay under `lab_checkpoint_mb` (every other one of the middle dropped; the first and the
latest stay). The `lab_keep_runs` most recent ended runs are kept; older ones are forgotten (the models
registered from them stay).

Each worker is a process of the spawn context (backend/labworker.py) with one torch thread at a lower CPU
priority; a thread here reads its pipe. One lock guards every run's state.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import multiprocessing
import secrets
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from backend.service import Overloaded
from backend.settings import Settings
from models import registry
from models.lab import LabConfig, example_info, load_state, model_config, save_folder, summarize
from models.registry import LoadedModel, ModelInfo, architecture, beyond, unavailable_views
from models.tasks import get_task
from models.transformer import Transformer

log = logging.getLogger("attnlab")

LIVE = ("queued", "starting", "running", "paused")
ENDED = ("finished", "cancelled", "failed", "reset")
# how a run ended, for the lessons (schemas.LabRunSummary.end): its step budget spent ("steps"), its time budget
# ("time"), stopped from the page or by the server ("stopped": no page watched it, paused too long, the server
# stopped), failed, or reset; by status, where a finished run says which budget it spent
END_OF = {"cancelled": "stopped", "failed": "failed", "reset": "reset"}
REAP_EVERY_S = 0.2
STOP_GRACE_S = 2.0  # a worker told to stop that is still there after this is terminated


class LabNotFound(LookupError):
    """No run with that id (a 404)."""


class LabConflict(RuntimeError):
    """The action does not fit the run's state, e.g. step while it runs (a 409)."""


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: object  # the server's end of the Pipe
    run: LabRun
    started: float
    next_run: LabRun | None = None  # set while a reset is on its way to the worker
    stopping: bool = False


@dataclass
class LabRun:
    id: int
    config: LabConfig
    steps: int  # the step budget
    paused_start: bool
    created: float
    status: str = "queued"
    reason: str | None = None
    step: int = 0
    seconds: float = 0.0
    budget_seconds: float = 0.0  # what the time budget counts: the training steps with their records
    params: int | None = None
    records: list[bytes] = field(default_factory=list)  # JSON of each record, index = position
    # what summary() reads of each record (SUMMARISED: its losses, accuracy and role scores), kept when it arrives:
    # the attention, nearly all of a record, is never parsed again for a summary
    summaries: list[dict] = field(default_factory=list)
    record_steps: list[int] = field(default_factory=list)
    checkpoints: OrderedDict[int, bytes] = field(default_factory=OrderedDict)  # step -> safetensors bytes
    checkpoint_bytes: int = 0
    registered: list[str] = field(default_factory=list)
    replaced_by: int | None = None
    last_seen: float = 0.0
    streams: int = 0
    paused_since: float | None = None
    ended: float | None = None
    end: str | None = None  # how it ended (schemas.LabRunSummary.end), None while it has not
    version: int = 0  # goes up on every change of the state (not on a new record alone)
    # a server started again numbers its runs from 1: a page that remembers a run knows it by its id and this key
    key: str = field(default_factory=lambda: secrets.token_hex(8))
    worker: Worker | None = None


# the fields of a record that models.lab.summarize reads
SUMMARISED = ("step", "seconds", "loss", "example_loss", "accuracy", "roles")


def no_run() -> dict:
    """The summary of no run at all (a lesson opened before the page trained anything): nothing reached."""
    return {"run": None, "status": "none", "ended": False, "end": None, "reason": None, "steps": None, "config": None,
            "task": None, "positional": None, "size": None, "seed": None, **summarize([])}


class LabManager:
    def __init__(self, settings: Settings, context: str = "spawn"):
        self.settings = settings
        self._ctx = multiprocessing.get_context(context)
        self._lock = threading.RLock()
        self._runs: OrderedDict[int, LabRun] = OrderedDict()
        self._queue: list[int] = []
        self._workers: list[Worker] = []
        self._ids = itertools.count(1)
        self._registered = 0
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()
        self._examples: dict[str, dict] = {}

    # ---------------------------------------------------------------- reading

    def get(self, run_id: int) -> LabRun:
        run = self._runs.get(run_id)
        if run is None:
            known = ", ".join(map(str, self._runs)) or "none"
            raise LabNotFound(f"no training run {run_id}; the runs kept now are: {known}")
        return run

    def check_key(self, run_id: int, key: str | None) -> None:
        """With `key` (a run's state's `key`), refuse (LabNotFound) the run of this id when it is another run: a server
        started again numbers its runs from 1 again. None: any run of this id."""
        if key is not None and self.state(run_id)["key"] != key:
            raise LabNotFound(f"training run {run_id} is another run than the one asked for (its key differs): the "
                              "server may have restarted")

    def example(self, task: str) -> dict:
        if task not in self._examples:
            self._examples[task] = example_info(get_task(task))
        return self._examples[task]

    def state(self, run_id: int, touch: bool = False) -> dict:
        with self._lock:
            run = self.get(run_id)
            if touch:
                run.last_seen = time.monotonic()
            return self._state(run)

    def _state(self, run: LabRun) -> dict:
        cfg = model_config(run.config)
        return {
            "id": run.id, "status": run.status, "reason": run.reason,
            "queue_position": self._queue.index(run.id) + 1 if run.id in self._queue else None,
            "config": run.config.to_dict(), "steps": run.steps, "step": run.step, "seconds": round(run.seconds, 3),
            "budget_seconds": round(run.budget_seconds, 3),
            "params": run.params, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
            "example": self.example(run.config.task), "n_records": len(run.records),
            "checkpoint_steps": list(run.checkpoints), "registered": list(run.registered),
            "replaced_by": run.replaced_by, "version": run.version, "key": run.key,
        }

    def runs(self) -> list[dict]:
        with self._lock:
            return [self._state(r) for r in self._runs.values()]

    def since(self, run_id: int, cursor: int) -> tuple[dict, list[tuple[int, bytes]]]:
        """The run's state and its records from index `cursor` on."""
        with self._lock:
            run = self.get(run_id)
            cursor = max(0, cursor)
            return self._state(run), list(enumerate(run.records[cursor:], start=cursor))

    def summary(self, run_id: int, records: int | None = None) -> dict:
        """What the run reached over its first `records` records (None: all of them now): models.lab.summarize,
        with the run's id, status, step budget and settings; `ended` says that the run records nothing more and the
        summary covers every record (what a lesson's reveal waits for); `end` and `reason`, how it ended and why,
        once it has."""
        with self._lock:
            run = self.get(run_id)
            n = len(run.records) if records is None else max(0, min(records, len(run.records)))
            recs, status, steps, config = run.summaries[:n], run.status, run.steps, run.config.to_dict()
            end, reason = run.end, run.reason
            complete = n == len(run.records)
        ended = status in ENDED and complete
        return {"run": run_id, "status": status, "ended": ended, "end": end if ended else None,
                "reason": reason if ended else None, "steps": steps, "config": config, "task": config["task"],
                "positional": config["positional"], "size": config["size"], "seed": config["seed"], **summarize(recs)}

    def touch(self, run_id: int) -> None:
        with self._lock:
            self.get(run_id).last_seen = time.monotonic()

    def open_stream(self, run_id: int) -> None:
        """Count an event stream of the run as open; Overloaded (a 503: the page polls instead) when
        `lab_max_streams` are open already, over all runs."""
        with self._lock:
            run = self.get(run_id)
            limit = self.settings.lab_max_streams
            if sum(r.streams for r in self._runs.values()) >= limit:
                raise Overloaded(f"the training lab has {limit} event streams open, the most it follows at once "
                                 "(lab_max_streams); follow the run by polling GET /api/lab/runs/{id}", retry_after=5)
            run.streams += 1
            run.last_seen = time.monotonic()

    def close_stream(self, run_id: int) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                run.streams = max(0, run.streams - 1)
                run.last_seen = time.monotonic()

    # ---------------------------------------------------------------- creating and controlling

    def check_steps(self, steps: int) -> None:
        limit = self.settings.lab_max_steps
        if not 1 <= steps <= limit:
            raise ValueError(f"steps is {steps}; it must be 1 to {limit} (lab_max_steps)")

    def create(self, config: LabConfig, steps: int, paused: bool = False) -> LabRun:
        self.check_steps(steps)
        with self._lock:
            if self._closed.is_set():
                raise Overloaded("the server is shutting down", retry_after=5)
            s = self.settings
            free = len(self._workers) < s.lab_max_runs
            if not free and len(self._queue) >= s.lab_max_queued:
                raise Overloaded(
                    f"the training lab is busy: {len(self._workers)} run(s) training and {len(self._queue)} waiting, "
                    f"the most it takes (lab_max_runs={s.lab_max_runs}, lab_max_queued={s.lab_max_queued}); "
                    "try again when a run ends", retry_after=10)
            now = time.monotonic()
            run = LabRun(id=next(self._ids), config=config, steps=steps, paused_start=paused, created=now, last_seen=now)
            self._runs[run.id] = run
            self._forget_old()
            if free and not self._queue:
                self._start(run)
            else:
                self._queue.append(run.id)
                run.status = "queued"
            self._ensure_reaper()
            return run

    def _forget_old(self) -> None:
        ended = [r for r in self._runs.values() if r.status in ENDED]
        for run in ended[:max(0, len(ended) - self.settings.lab_keep_runs)]:
            del self._runs[run.id]

    def _start(self, run: LabRun) -> None:
        server_end, worker_end = self._ctx.Pipe()
        from backend.labworker import run_worker

        process = self._ctx.Process(
            target=run_worker, name=f"attnlab-lab-{run.id}", daemon=True,
            args=(worker_end, run.config.to_dict(), run.steps, self.settings.lab_max_seconds, run.paused_start,
                  self.settings.lab_nice))
        process.start()
        worker_end.close()  # (the worker holds its end; ours closed, its exit reads as end-of-file here)
        worker = Worker(process=process, conn=server_end, run=run, started=time.monotonic())
        run.worker, run.status = worker, "starting"
        run.version += 1
        self._workers.append(worker)
        threading.Thread(target=self._read, args=(worker,), name=f"lab-reader-{run.id}", daemon=True).start()

    def _start_queued(self) -> None:
        while self._queue and len(self._workers) < self.settings.lab_max_runs:
            run = self._runs.get(self._queue.pop(0))
            if run is not None and run.status == "queued":
                self._start(run)
        for run_id in self._queue:
            self._runs[run_id].version += 1  # their places changed

    def _live(self, run_id: int) -> LabRun:
        run = self.get(run_id)
        if run.status not in LIVE:
            # (how it ended, once: a reason such as 'cancelled from the page' names its status already)
            how = run.reason if (run.reason or "").startswith(run.status) else f"{run.status}: {run.reason}"
            raise LabConflict(f"run {run_id} has ended ({how}); start a new run or reset it")
        return run

    def _send(self, run: LabRun, *cmd) -> None:
        if run.worker is None:
            raise LabConflict(f"run {run.id} is {run.status}: it has no worker yet")
        try:
            run.worker.conn.send(cmd)
        except OSError:
            pass  # the worker is going; its reader thread records why

    def pause(self, run_id: int) -> dict:
        with self._lock:
            run = self._live(run_id)
            if run.status != "running":
                raise LabConflict(f"run {run_id} is {run.status}, not running: nothing to pause")
            self._send(run, "pause")
            self._set_status(run, "paused")  # (at once: the commands reach the worker in order)
            return self._state(run)

    def resume(self, run_id: int) -> dict:
        with self._lock:
            run = self._live(run_id)
            if run.status != "paused":
                raise LabConflict(f"run {run_id} is {run.status}, not paused: nothing to resume")
            self._send(run, "resume")
            self._set_status(run, "running")
            return self._state(run)

    def step(self, run_id: int, n: int) -> dict:
        limit = self.settings.lab_max_steps
        if not 1 <= n <= limit:
            raise ValueError(f"n is {n}; it must be 1 to {limit} (lab_max_steps)")
        with self._lock:
            run = self._live(run_id)
            if run.status != "paused":
                raise LabConflict(f"run {run_id} is {run.status}: pause it first, then step")
            self._send(run, "step", n)
            return self._state(run)

    def cancel(self, run_id: int, reason: str = "cancelled") -> dict:
        with self._lock:
            run = self.get(run_id)
            if run.status in LIVE:
                self._end(run, "cancelled", reason)
            return self._state(run)

    def reset(self, run_id: int, seed: int | None = None) -> LabRun:
        """Start again from step 0 with the same settings (and `seed` if given), as a new run with a new id.
        A run with a worker hands it to the new run (no new process, no queue) while no other run waits; else the
        new run queues like any (behind the runs waiting: a reset does not jump the queue)."""
        with self._lock:
            run = self.get(run_id)
            config = run.config if seed is None else LabConfig(**{**run.config.to_dict(), "seed": seed})
            worker = run.worker
            if run.status not in ("running", "paused") or worker is None or worker.stopping or self._queue:
                s = self.settings
                if worker is not None and run.status in LIVE and len(self._queue) >= s.lab_max_queued:
                    raise Overloaded(  # (checked before the run ends: it goes on)
                        f"other runs wait for the training lab and its queue is full (lab_max_queued="
                        f"{s.lab_max_queued}): run {run.id} goes on; reset it when a run ends", retry_after=10)
                if run.status in LIVE:
                    self._end(run, "cancelled", "reset")
                return self.create(config, run.steps, run.paused_start)
            now = time.monotonic()
            new = LabRun(id=next(self._ids), config=config, steps=run.steps, paused_start=run.status == "paused",
                         created=now, last_seen=now, status="starting", worker=worker)
            self._runs[new.id] = new
            worker.next_run = new
            worker.started = now  # the watchdog's limit counts from here: the worker starts the new run afresh
            self._send(run, "reset", seed)
            run.worker = None
            self._finish(run, "reset", f"reset: run {new.id} starts again from step 0")
            run.replaced_by = new.id
            run.records, run.summaries, run.checkpoints, run.checkpoint_bytes = [], [], OrderedDict(), 0
            self._forget_old()
            return new

    @staticmethod
    def _set_status(run: LabRun, status: str) -> None:
        if run.status != status:
            run.status = status
            run.paused_since = time.monotonic() if status == "paused" else None
        run.version += 1

    def _finish(self, run: LabRun, status: str, reason: str, end: str | None = None) -> None:
        """End `run` with `status` and `reason`; `end` (schemas.LabRunSummary.end): which budget a finished run
        spent, else from the status (END_OF)."""
        if run.id in self._queue:
            self._queue.remove(run.id)
        run.status, run.reason, run.ended = status, reason, time.monotonic()
        run.end = end or END_OF[status]
        run.version += 1

    def _end(self, run: LabRun, status: str, reason: str) -> None:
        """End a live run: its worker is told to stop (and terminated if it does not)."""
        self._finish(run, status, reason)
        worker = run.worker
        if worker is not None and not worker.stopping:
            worker.stopping = True
            try:
                worker.conn.send(("stop",))
            except OSError:
                pass
            threading.Thread(target=self._stop, args=(worker,), daemon=True).start()

    @staticmethod
    def _stop(worker: Worker) -> None:
        worker.process.join(STOP_GRACE_S)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(STOP_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()

    # ---------------------------------------------------------------- the worker's messages

    def _read(self, worker: Worker) -> None:
        while True:
            try:
                msg = worker.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as e:  # a message that cannot be read: the worker is of no more use
                log.error("training lab: unreadable message from run %s: %s", worker.run.id, e)
                break
            with self._lock:
                self._handle(worker, msg)
        worker.process.join(STOP_GRACE_S)
        if worker.process.is_alive():
            self._stop(worker)
        with self._lock:
            self._gone(worker)

    def _handle(self, worker: Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "reset" and worker.next_run is not None:
            worker.run, worker.next_run = worker.next_run, None
            return
        run = worker.run
        if run.status not in LIVE:
            return  # a cancelled run's last words
        if kind == "ready":
            run.params = msg[1]["params"]
        elif kind == "record":
            _, data, step, ckpt = msg
            run.records.append(data)
            run.record_steps.append(step)
            run.step = step
            rec = json.loads(data)
            run.summaries.append({k: rec.get(k) for k in SUMMARISED})
            run.seconds, run.budget_seconds = rec["seconds"], rec["budget_seconds"]
            run.checkpoints[step] = ckpt
            run.checkpoint_bytes += len(ckpt)
            self._thin(run)
        elif kind == "status":
            _, status, step = msg
            run.step = step
            self._set_status(run, status)
        elif kind == "end":
            self._finish(run, "finished", msg[1], msg[2])
        elif kind == "failed":
            self._finish(run, "failed", f"training failed: {msg[1]}")

    def _thin(self, run: LabRun) -> None:
        budget = self.settings.lab_checkpoint_mb * 2**20
        while run.checkpoint_bytes > budget and len(run.checkpoints) > 2:
            steps = list(run.checkpoints)
            for step in steps[1:-1:2]:  # every other one of the middle: the first and the latest stay
                run.checkpoint_bytes -= len(run.checkpoints.pop(step))
            run.version += 1

    def _gone(self, worker: Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        for run in (worker.run, worker.next_run):
            if run is not None and run.status in LIVE:
                code = worker.process.exitcode
                self._finish(run, "failed", f"the training process stopped unexpectedly (exit code {code})")
            if run is not None and run.worker is worker:
                run.worker = None
        self._start_queued()

    # ---------------------------------------------------------------- the watchdog

    def _ensure_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, name="lab-watchdog", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        s = self.settings
        while not self._closed.wait(REAP_EVERY_S):
            now = time.monotonic()
            with self._lock:
                for run in list(self._runs.values()):
                    if run.status not in LIVE:
                        continue
                    if run.streams == 0 and now - run.last_seen > s.lab_watch_timeout_s:
                        self._end(run, "cancelled", f"no page watched this run for {s.lab_watch_timeout_s:g} s "
                                                    "(no event stream open, no poll)")
                    elif run.status == "paused" and run.paused_since is not None and \
                            now - run.paused_since > s.lab_max_paused_s:
                        self._end(run, "cancelled", f"paused for more than {s.lab_max_paused_s:g} s "
                                                    "(lab_max_paused_s): its worker was freed for other runs")
                    elif run.worker is not None and now - run.worker.started > s.lab_max_seconds + s.lab_max_paused_s + 60:
                        self._end(run, "failed", "the training process overran its time budget")

    @property
    def closed(self) -> bool:
        """Shut down: it takes no more runs (the app makes a new one when it starts again)."""
        return self._closed.is_set()

    def shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            workers = list(self._workers)
            for run in self._runs.values():
                if run.status in LIVE:
                    self._finish(run, "cancelled", "the server stopped")
            for worker in workers:
                worker.stopping = True
                try:
                    worker.conn.send(("stop",))
                except OSError:
                    pass
        for worker in workers:
            self._stop(worker)

    # ---------------------------------------------------------------- using what was trained

    def _checkpoint(self, run: LabRun, step: int | None) -> tuple[int, bytes]:
        if not run.checkpoints:
            raise LabConflict(f"run {run.id} has no checkpoint yet ({run.status}); wait for its first record")
        if step is None:
            step = next(reversed(run.checkpoints))
        if step not in run.checkpoints:
            kept = list(run.checkpoints)
            raise ValueError(f"run {run.id} has no checkpoint at step {step}; the steps kept are {kept}")
        return step, run.checkpoints[step]

    def _record_at(self, run: LabRun, step: int) -> dict:
        for s, data in zip(reversed(run.record_steps), reversed(run.records), strict=False):
            if s == step:
                return json.loads(data)
        return {}

    def register(self, run_id: int, step: int | None = None) -> str:
        """Register the run's weights at `step` (default: the latest checkpoint) as the model `lab-<id>@<step>`,
        for the life of the server; every explorer view then works on it."""
        with self._lock:
            run = self.get(run_id)
            step, data = self._checkpoint(run, step)
            name = f"lab-{run.id}@{step}"
            if name in registry.names():
                return name
            if self._registered >= self.settings.lab_max_registered:
                raise ValueError(f"{self._registered} lab models are registered, the limit "
                                 f"(lab_max_registered); restart the server to clear them")
            rec = self._record_at(run, step)
            config = run.config
        task = get_task(config.task)
        cfg = model_config(config, task)
        params = sum(t.numel() for t in load_state(data).values())
        metrics = {"step": step, "example_accuracy": rec.get("accuracy"), "example_loss": rec.get("example_loss"),
                   "train_seconds": rec.get("seconds")}
        info = ModelInfo(
            name=name, title=f"Lab run {run.id}: {task.title}, {config.positional} positions, {config.size}, "
                             f"step {step}",
            kind="causal", n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model,
            d_head=cfg.d_head, positional=cfg.positional, vocab_size=cfg.vocab_size, max_tokens=cfg.max_positions,
            params=params, source=f"trained in the training lab (run {run.id}, seed {config.seed}): {task.description}",
            licence="CDLA-Sharing-1.0" if config.task == "tinystories" else "", metrics=metrics,
            unavailable_views=unavailable_views(cfg), **architecture(cfg), **beyond(cfg, cfg.max_positions),
            lab_run=run.id)

        def load(progress=None) -> LoadedModel:  # (a registry loader: it may report progress; this one is quick)
            model = Transformer(cfg, init=False)
            model.load_state_dict(load_state(data), strict=True, assign=True)
            return LoadedModel(name, model.eval(), task.tokenizer(), info)

        with self._lock:
            if name not in registry.names():
                registry.register(name, lambda: info, load)
                self._registered += 1
            if name not in run.registered:
                run.registered.append(name)
                run.version += 1
        return name

    def files(self, run_id: int, step: int | None = None) -> tuple[str, bytes]:
        """The run's weights at `step` as a zip of model.safetensors, tokenizer.json and card.json (the files
        of `attnlab train`); returns (file name, bytes)."""
        with self._lock:
            run = self.get(run_id)
            step, data = self._checkpoint(run, step)
            rec = self._record_at(run, step)
            config = run.config
        folder_name = f"lab-{run.id}-step-{step}"
        with tempfile.TemporaryDirectory() as tmp:
            out = save_folder(Path(tmp) / folder_name, config, load_state(data), step, rec.get("seconds", 0.0),
                              metrics={"example_accuracy": rec.get("accuracy"),
                                       "example_loss": rec.get("example_loss")})
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for name in ("model.safetensors", "tokenizer.json", "card.json"):
                    z.write(out / name, f"{folder_name}/{name}")
        return f"{folder_name}.zip", buf.getvalue()
