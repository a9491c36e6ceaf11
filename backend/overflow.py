"""Helper processes for the analyses this process has no core for: a load of new sentences on every core.

One process computes one Python thread at a time (the GIL): on the default model a new sentence's analysis is mostly
Python between small tensor operations (about 8 ms of this process's CPU per answer, nearly all of it holding the
GIL), so however many cores the machine has, one process answers at most about 120 new sentences a second. Under
such a load, POST /api/analyze of the default model on a sentence this process has not run (nor is running) goes
to a helper process, where a core is free there:

    overflow = Overflow(settings)                  # nothing starts yet
    body = overflow.analyze(service, req)          # the answer's JSON bytes from a helper, or None: answer here

A helper is another process of this program: the same code, the same weights, one slot and the same torch threads
as a slot here, so its answer is the same bytes (tests/backend/test_overflow.py). It runs no other route and keeps
no forward pass: a view that asks about that sentence next computes its pass here, as for any sentence not cached.

The helpers start the first time a request finds this process busy (another request computing), in the
background; until one has loaded the default model nothing goes to it. A request goes to a helper only when this
process is computing another one now, the sentence is neither cached nor being computed here (then it joins that
pass), and a helper has fewer than DEPTH answers to give; otherwise it waits for a slot here as before. So one
request at a time never leaves this process, and nothing changes for a page on its own.

Settings.helper_processes (ATTNLAB_HELPER_PROCESSES): how many (default: one per core beyond the first; 0: none).
Each holds its own copy of torch and the default model (about 280 MB) and runs at the worker threads' lower
priority; it ends with the app (its lifespan), or within a second of this process when that is killed.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import torch

from backend import schemas
from backend.analysis.common import interventions
from backend.encode import dump
from backend.routes.attention import analysis
from backend.service import ModelService
from backend.settings import Settings, helper_processes, torch_threads
from backend.work import lower_priority

log = logging.getLogger("attnlab")


class Overflow:
    """The helper processes of one app (see the module's doc); thread-safe."""

    # answers given to each helper at once (it computes one, the others wait in its queue). New sentences at 150/s on
    # two cores, one helper (p95 of the answers; one at a time: 9-13 ms): DEPTH 1, 20 of 750 refused with 503 and a
    # p95 of 272 ms (this process took the rest, one thread at a time); 2, none refused, 498 ms; 4, none, 23-31 ms
    DEPTH = 4

    def __init__(self, settings: Settings):
        self.settings = settings
        self.size = helper_processes(settings)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._ready = 0  # helpers that have loaded the default model
        self._busy = 0  # answers being computed in a helper now
        self.answered = 0  # answers the helpers gave
        self.broken = False  # a helper died: no more helpers until a restart (the requests are answered here)

    def analyze(self, service: ModelService, req: schemas.AnalyzeRequest) -> bytes | None:
        """The JSON bytes of /api/analyze's answer to `req`, computed in a helper (see the module's doc), where this
        process is busy and the sentence is new to it; else None (answer it here). A ValueError or LookupError there
        is raised here, of its type and with its message (the app's 422 and 404)."""
        if (self.size == 0 or self.broken or service.resolve(req.model) != self.settings.default_model
                or not service.busy()):
            return None
        if service.known(req.model, req.text, interventions(req)):
            return None  # cached, or being computed here: it joins that pass
        with self._lock:
            if self._pool is None:
                self._start()
            if self._busy >= self.DEPTH * self._ready:
                return None
            self._busy += 1
            pool = self._pool
        try:
            body = pool.submit(_answer, req.model_dump()).result()  # (an exception there is raised here, as it is)
        except BrokenProcessPool:
            log.warning("a helper process died: every answer is computed in this process from now on")
            self.broken = True
            return None
        finally:
            with self._lock:
                self._busy -= 1
        with self._lock:
            self.answered += 1
        return body

    def _start(self) -> None:
        """Start the helpers, in the background (under self._lock); each counts as ready once it has loaded the
        default model."""
        self._pool = ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"), initializer=_init,
                                         initargs=(self.settings.model_dump(), torch_threads(self.settings), os.getpid()))
        for _ in range(self.size):
            self._pool.submit(_ping).add_done_callback(functools.partial(self._started, self._pool))

    def _started(self, pool: ProcessPoolExecutor, done: Future) -> None:
        if done.cancelled():  # shut down before it started
            return
        if done.exception() is not None:
            log.warning("a helper process did not start (%s): every answer is computed in this process", done.exception())
            self.broken = True
            return
        with self._lock:
            if pool is self._pool:  # (not a pool shut down since)
                self._ready += 1

    def stats(self) -> dict[str, int]:
        return {"helpers": self.size, "helpers_ready": self._ready, "helper_answers": self.answered}

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool, self._ready = self._pool, None, 0
        if pool is not None:  # (waiting for its processes to end: else a signal that ends this process right after,
            # as uvicorn raises the one it stopped for, leaves the pool's semaphores to the resource tracker, which warns)
            pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- in a helper process

_service: ModelService | None = None


def _init(settings: dict, threads: int, parent: int) -> None:
    """A helper's start: the worker threads' lower priority, one slot with a slot's torch threads, no kept passes,
    and the default model loaded. Ctrl-C is its parent's to handle; it ends when its parent has gone."""
    global _service
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    lower_priority()
    _service = ModelService(Settings(**{**settings, "max_concurrent_runs": 1, "result_cache_mb": 0,
                                        "helper_processes": 0, "torch_threads": threads}))
    _service.get(None)


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _ping() -> bool:
    return _service is not None


def _answer(body: dict) -> bytes:
    with torch.inference_mode():  # as ModelService.work() computes a request's answer
        return dump(analysis(_service, schemas.AnalyzeRequest.model_validate(body)))
