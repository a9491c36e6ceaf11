"""The one object routes talk to: models by name, the limits, and forward passes (cached).

Models load once, on first use. For the web app (background_loads=True), a model that is not loaded yet loads
in a background thread, once: a request waits for it at most settings.load_wait_s (1 s), then gets
ModelLoading (a 503 with Retry-After and how far along the load is) and asks again. The command line and the
notebook wait for the load instead.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from backend.alloc import trim_allocator
from backend.settings import Settings, torch_threads
from backend.vocabulary import count
from models import registry
from models.registry import LoadedModel, LoadStatus, ModelInfo
from models.transformer import ActivationCache, HookFn, Interventions, check_layer_head

T = TypeVar("T")


class Overloaded(RuntimeError):
    """Too many forward passes waiting (a 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class ModelLoading(Overloaded):
    """A model that is loading in the background (a 503 with Retry-After and how far along it is)."""

    PAGE = "the page asks again until it has loaded"

    def __init__(self, name: str, progress: float | None, retry_after: int = 1, then: str = PAGE):
        done = "" if progress is None else f" ({round(100 * progress)}% done)"
        super().__init__(f"model {name!r} is loading{done}; {then} (try again in {retry_after} s)", retry_after)
        self.model = name
        self.progress = progress


class ModelLoadFailed(RuntimeError):
    """A model whose load failed (a 503 without Retry-After: the next request after LOAD_RETRY_S tries again)."""
class Cancelled(RuntimeError):
    """The request's client went away: its work stopped before the next forward pass (nobody reads the answer)."""


class UnknownModel(LookupError):
    """A model name that is not in the registry (a 404)."""


class ModelNotInstalled(LookupError):
    """A registered model whose package is missing (a 422 that says how to install it)."""


class TextTooLong(ValueError):
    """A text longer than a model reads: a 422 whose body gives, beside the message (`detail`), the text's length on
    the model in tokens (`tokens`), the most it reads there (`limit`), the model (`model`) and, on a comparison, the
    side the text is on (`side`). The page reads these, not the message's words."""

    def __init__(self, message: str, tokens: int | None = None, limit: int | None = None, model: str | None = None,
                 side: str | None = None):
        super().__init__(message)  # (the fields travel with the message from a helper process: pickled as state)
        self.tokens, self.limit, self.model, self.side = tokens, limit, model, side

    def fields(self) -> dict:
        """The numbers the answer carries beside its message."""
        got = {"tokens": self.tokens, "limit": self.limit, "model": self.model}
        return got | ({"side": self.side} if self.side else {})

    def on_side(self, side: str) -> TextTooLong:
        """The refusal of a comparison's side: the side and its model named before the message."""
        return TextTooLong(f"side {side} ({self.model}): {self}", self.tokens, self.limit, self.model, side)


_paused = 0  # loads under way with the collector paused
_enabled_before = True  # whether the collector ran before the first of them
_paused_lock = threading.Lock()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a model loads (in any thread). Its objects, by the hundred thousand,
    would start collections over and over, each walking everything made so far while it holds the GIL (at the
    server's start, before the first freeze, four full collections in a row took 23, 50, 90 and 117 ms: measured); the
    load's objects are then frozen (load_now), so no collection ever walks them."""
    global _paused, _enabled_before
    with _paused_lock:
        if _paused == 0:
            _enabled_before = gc.isenabled()
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _enabled_before:
                gc.enable()


class _Flight:
    """A forward pass being computed: the requests that ask for the same one meanwhile wait for it (ModelService._cached)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.run: Run | None = None  # set when it succeeded


class _LoadJob:
    """One background load of a model: the thread, and how it ended."""

    def __init__(self, name: str):
        self.name = name
        self.done = threading.Event()
        self.loaded: LoadedModel | None = None
        self.error: Exception | None = None
        self.finished = 0.0  # time.monotonic() when it ended

    def result(self) -> LoadedModel:
        if self.error is not None:
            raise type(self.error)(*self.error.args)  # a new exception each time: many requests may raise it
        assert self.loaded is not None
        return self.loaded


@dataclass(frozen=True)
class Run:
    """One forward pass: the model, the token ids, and what the model computed."""

    loaded: LoadedModel
    text: str
    ids: tuple[int, ...]
    logits: torch.Tensor | None  # [pos, vocab]; None for a model without a next-word head (MiniLM)
    cache: ActivationCache
    # parts of the answers that every answer of this pass shares, made by the first that needs them (the tokens:
    # backend/analysis/common.run_info); an answer is written and never changed, so they can share one object
    shared: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        """The memory its tensors hold (each storage counted once: many hook values share one)."""
        storages = self.cache.storage_bytes()
        if self.logits is not None:
            storages[self.logits.untyped_storage().data_ptr()] = self.logits.untyped_storage().nbytes()
        return sum(storages.values())

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def iv(self) -> Interventions:
        return self.cache.interventions


class ModelService:
    """Models by name (loaded once, on first use) and a cache of forward passes bounded in memory: the least
    recently used go first once they hold more than settings.result_cache_mb, and a pass larger than that whole
    budget is not kept (its requests sent at once still share it). A large model's passes count like any others: at
    512 MB, two passes of SmolLM2 at 124 tokens (203 MB each) stay, a comparison's two sides; keeping the four most
    recent past the budget, as before, held 0.8 GB (measured)."""

    # Freed memory goes back to the kernel (trim_allocator) after dropping TRIM_AFTER_RUNS runs of the size just stored,
    # at least TRIM_AFTER_BYTES and at most TRIM_AT_MOST. Each trim gives back the holes that the next passes would
    # have reused, and they fault their memory in again: trimming after every 64 MB dropped, the server's answers with
    # the logit lens on SmolLM2 (a 36 MB pass at 25 tokens) faulted a median 8,800 pages (34 MB) each, and took 256 ms
    # against 240 ms untrimmed (measured). The bytes dropped since the last trim bound what the process holds beyond
    # its results.
    TRIM_AFTER_BYTES = 64 * 2**20
    TRIM_AFTER_RUNS = 8
    TRIM_AT_MOST = 256 * 2**20
    LOAD_RETRY_S = 30.0  # after a failed load, requests get its error for this long; the next one tries again

    def __init__(self, settings: Settings,
                 list_models: Callable[[], list[ModelInfo]] = registry.list_models,
                 load: Callable[[str], LoadedModel] = registry.load, *,
                 background_loads: bool = False,
                 loaded: Callable[[str], LoadedModel | None] = registry.loaded,
                 status: Callable[[str], LoadStatus] = registry.status):
        self.settings = settings
        self._list_models = list_models
        self._load = load
        self._loaded = loaded
        self._status = status
        self.background_loads = background_loads
        self._jobs: dict[str, _LoadJob] = {}
        self._runs: OrderedDict[tuple, tuple[Run, int]] = OrderedDict()  # key -> (run, its bytes)
        self._flights: dict[tuple, _Flight] = {}  # key -> the pass of it being computed now
        self._cache_budget = int(settings.result_cache_mb * 2**20)
        self.cached_bytes = 0
        self._dropped_bytes = 0  # since the last trim
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_runs)
        self._waiting = 0
        self._init_budget()
        self._threads = torch_threads(settings)

    # ---------------------------------------------------------------- models

    def models(self) -> list[ModelInfo]:
        return self._list_models()

    def resolve(self, name: str | None) -> str:
        return self.settings.default_model if name is None else name

    def get(self, name: str | None) -> LoadedModel:
        """The model, loaded. With background_loads, a model not loaded yet loads in the background and this
        waits for it at most settings.load_wait_s, then raises ModelLoading; else it waits for the load."""
        name = self.resolve(name)
        if not self.background_loads:
            return self.load_now(name)
        loaded = self._loaded(name)
        if loaded is not None:
            return loaded
        job = self._job(name)
        if job.done.wait(self.settings.load_wait_s):
            return job.result()
        st = self._status(name)
        raise ModelLoading(name, st.progress if st.state == "loading" else None)

    def load_now(self, name: str | None) -> LoadedModel:
        """The model, loaded now if it is not yet (this waits for the load).

        What is alive when a model has loaded (the model, its tokenizer's vocabulary, the app) lives as long as the
        server: it is frozen out of the garbage collector's view (gc.freeze). A full collection walks every object
        it sees while holding the GIL, and the requests' allocations start one now and then: with SmolLM2 loaded,
        145 ms each (measured), during which no other thread runs and /api/health waits; after freezing, 0.0 ms."""
        name = self.resolve(name)
        try:
            if name in self._ready:
                return self._load(name)
            with _collector_paused():  # a load makes objects by the hundred thousand, all to be frozen below
                loaded = self._load(name)
                gc.freeze()  # the model just loaded, and all before it: out of every later full collection
            self._ready.update({name, loaded.name})  # (the name asked for, and the model's own)
            return loaded
        except KeyError as e:
            raise UnknownModel(e.args[0] if e.args else f"unknown model {name!r}") from None
        except LookupError as e:
            raise ModelNotInstalled(str(e)) from None
        except Exception as e:  # a broken file, no memory: the server's trouble, said plainly
            raise ModelLoadFailed(f"model {name!r} could not be loaded: {type(e).__name__}: {e}") from e

    def status(self, name: str) -> LoadStatus:
        """Whether the model is loaded, loading (how far along), failed (why), or not loaded yet."""
        return self._status(name)

    def _job(self, name: str) -> _LoadJob:
        """The background load of `name`: the one running, a recent failure, or a new one (started here). A name
        that is not registered or not installed is refused at once, without a thread."""
        with self._lock:
            job = self._jobs.get(name)
            if job is not None and (not job.done.is_set() or (isinstance(job.error, ModelLoadFailed)
                                                              and time.monotonic() - job.finished < self.LOAD_RETRY_S)):
                return job
        try:
            meta = registry.info(name)
        except KeyError as e:
            raise UnknownModel(e.args[0]) from None
        if not meta.available:
            raise ModelNotInstalled(f"model {name!r} is not installed; install it with: {meta.install}")
        with self._lock:
            job = self._jobs.get(name)
            if job is not None and not job.done.is_set():
                return job  # another request started it meanwhile
            job = self._jobs[name] = _LoadJob(name)

        def run() -> None:
            try:
                job.loaded = self.load_now(name)
            except Exception as e:
                job.error = e
            finally:
                job.finished = time.monotonic()
                job.done.set()

        threading.Thread(target=run, name=f"load {name}", daemon=True).start()
        return job

    # ---------------------------------------------------------------- limits

    @staticmethod
    def setting(name: str) -> str:
        """How a message names a limit: the setting and the environment variable that changes it."""
        return f"{name}, ATTNLAB_{name.upper()}"

    def check_text(self, text: str) -> None:
        limit = self.settings.max_text_chars
        if not text.strip():
            raise ValueError("text is empty: type a sentence")
        if len(text) > limit:
            raise ValueError(f"text is {len(text)} characters; the limit is {limit} characters ({self.setting('max_text_chars')})")

    def check_top_k(self, k: int) -> None:
        if k > self.settings.max_top_k:
            raise ValueError(f"top_k is {k}; the limit is {self.settings.max_top_k} ({self.setting('max_top_k')})")

    def check_temperature(self, t: float) -> None:
        if not 0 < t <= self.settings.max_temperature:
            raise ValueError(f"temperature is {t}; it must be more than 0 and at most "
                             f"{self.settings.max_temperature} ({self.setting('max_temperature')})")

    def check_continue(self, n: int) -> None:
        if n > self.settings.max_continue_tokens:
            raise ValueError(f"continue_tokens is {n}; the limit is {self.settings.max_continue_tokens} "
                             f"({self.setting('max_continue_tokens')})")

    def check_neighbors(self, k: int) -> None:
        if k > self.settings.max_neighbors:
            raise ValueError(f"k is {k}; the limit is {self.settings.max_neighbors} ({self.setting('max_neighbors')})")

    def check_ablation_heads(self, n: int) -> None:
        limit = self.settings.max_ablation_heads
        if n > limit:
            raise ValueError(f"this asks to ablate {n} heads, one forward pass each; the limit is {limit} per request "
                             "(max_ablation_heads): ask for fewer layers at a time")

    def check_positions_n(self, n: int, field: str = "n") -> None:
        """n positions of an encoding (its cosine table is n x n): at most max_positions_n. `field`: how the request
        names n (a lesson step's `pn`)."""
        if n > self.settings.max_positions_n:
            raise ValueError(f"{field} is {n}; the limit is {self.settings.max_positions_n} "
                             f"({self.setting('max_positions_n')})")

    def max_tokens(self, info: ModelInfo, beyond: bool = False) -> int:
        """The most tokens a text may have on this model; with `beyond` (a request's allow_beyond_trained), past the
        trained length up to max_beyond_tokens where the model can run there (ModelInfo.why_not_beyond is None)."""
        if beyond and info.why_not_beyond is None:
            return max(info.max_tokens, self.settings.max_beyond_tokens)
        return info.max_tokens

    def tokenize(self, loaded: LoadedModel, text: str, beyond: bool = False) -> list[int]:
        self.check_text(text)
        ids = loaded.tokenizer.encode(text)
        if all(i in loaded.tokenizer.special_ids for i in ids):  # (MiniLM's normaliser drops a zero-width space, NUL)
            raise ValueError(f"text has no character model {loaded.name!r} reads: its tokenizer keeps none of them, so "
                             "only its special tokens would run; type a sentence")
        limit = self.max_tokens(loaded.info, beyond)
        if len(ids) > limit:
            special = sum(i in loaded.tokenizer.special_ids for i in ids)  # (SmolLM2 adds none)
            said = f"the text is {len(ids)} tokens" + (
                f" (with its {special} special token{'s' if special > 1 else ''}); " if special else "; ")
            if limit > loaded.info.max_tokens:
                raise TextTooLong(said + f"model {loaded.name!r} runs at most {limit} tokens in all, past its trained "
                                         f"length of {loaded.info.max_tokens} too (max_beyond_tokens): cut at least "
                                         f"{count(len(ids) - limit, 'token')}", len(ids), limit, loaded.name)
            longer = self.max_tokens(loaded.info, beyond=True)
            if longer >= len(ids):
                hint = (f", the length it was trained on; send allow_beyond_trained: true to run it on up to {longer} "
                        "tokens (positions it never saw)")
            elif longer > limit:  # too long even past the trained length: offer nothing that would fail too
                hint = (f", the length it was trained on, and at most {longer} past it (max_beyond_tokens): cut at "
                        f"least {count(len(ids) - longer, 'token')}")
            else:
                at_trained = loaded.info.why_not_beyond and loaded.info.trained_tokens == limit
                hint = (f". {loaded.info.why_not_beyond.rstrip('.')}" if at_trained else "") + \
                    f"; cut at least {count(len(ids) - limit, 'token')}"
            raise TextTooLong(said + f"model {loaded.name!r} reads at most {limit} tokens (max_tokens)" + hint,
                              len(ids), limit, loaded.name)
        return ids

    # ---------------------------------------------------------------- what one answer may cost

    def max_report_tokens(self, info: ModelInfo) -> int:
        """The longest text (in tokens) a report may take on this model: it draws every head, so at most
        max_report_weights attention weights (layers x heads x tokens^2); never more than the model reads."""
        return min(info.max_tokens, math.isqrt(self.settings.max_report_weights // (info.n_layers * info.n_heads)))

    def check_report(self, loaded: LoadedModel, n_tokens: int) -> None:
        info, limit = loaded.info, self.max_report_tokens(loaded.info)
        if n_tokens > limit:
            raise TextTooLong(
                f"the text is {n_tokens} tokens; a report on {info.name} takes at most {limit} tokens: it draws all "
                f"{info.n_layers * info.n_heads} heads ({info.n_layers} layers x {info.n_heads} heads), and a report "
                f"holds at most {self.settings.max_report_weights:,} attention weights ({self.setting('max_report_weights')})",
                n_tokens, limit, info.name)

    def check_compare(self, sides: list[tuple[LoadedModel, int]], layer: int | None, head: int | None) -> None:
        """A comparison holds each side's attention (the layers and heads asked for, tokens^2 each) and, when the
        two have the same shape, their difference: at most max_compare_weights weights in all."""
        def weights(loaded: LoadedModel, n: int) -> int:
            cfg = loaded.cfg
            try:
                check_layer_head(cfg, layer, head)
            except ValueError:
                return 0  # this side's model lacks them: it sends no attention
            return (1 if layer is not None else cfg.n_layers) * (1 if head is not None else cfg.n_heads) * n * n

        (a, na), (b, nb) = sides
        shapes = [(x.cfg.n_layers, x.cfg.n_heads, n) for x, n in sides]
        both = weights(a, na) and weights(b, nb)
        total = weights(a, na) + weights(b, nb) + (weights(a, na) if both and shapes[0] == shapes[1] else 0)
        limit = self.settings.max_compare_weights
        if total > limit:
            advice = ("use shorter texts" if layer is not None and head is not None
                      else "name a `layer` and a `head`, or use shorter texts")
            raise ValueError(f"this comparison would hold {total:,} attention weights ({na} and {nb} tokens); the limit "
                             f"is {limit:,} ({self.setting('max_compare_weights')}): {advice}")

    def check_answer_size(self, nbytes: int, hint: str = "") -> None:
        """An answer of nbytes (JSON) may be sent: else a 422 that says how big it was and what to ask instead."""
        limit = self.settings.max_answer_mb
        if nbytes > limit * 1e6:
            raise ValueError(f"the answer would be {nbytes / 1e6:.1f} MB; the limit is {limit:g} MB "
                             f"({self.setting('max_answer_mb')})" + (f": {hint}" if hint else ""))

    def check_unsent(self, nbytes: int) -> None:
        """Answers that their clients have not read yet hold nbytes (backend.server.unsent_bytes): past
        max_unsent_mb, Overloaded (a 503 with Retry-After) rather than one more."""
        limit = self.settings.max_unsent_mb
        if nbytes > limit * 1e6:
            with self._lock:
                self._refused += 1
            raise Overloaded(f"the server holds {nbytes / 1e6:.0f} MB of answers that their clients have not read yet "
                             f"(slow networks); the limit is {limit:g} MB ({self.setting('max_unsent_mb')}): try "
                             "again in a moment", retry_after=2)

    # ---------------------------------------------------------------- forward passes

    def run(self, name: str | None, text: str, iv: Interventions, beyond: bool = False,
            hooks: Mapping[str, HookFn] | None = None) -> Run:
        """The forward pass of `text` (cached). beyond: allow more tokens than the model was trained on (max_tokens).
        hooks: functions run_with_cache calls where this request computes the pass (not when it comes from the cache
        or from another request computing it); they must leave the values as they are (return None)."""
        loaded = self.get(name)
        ids = self.tokenize(loaded, text, beyond)
        iv.check(loaded.cfg)
        return self._cached(self._text_key(loaded.name, text, iv), loaded, text, ids, iv, hooks)

    def run_ids(self, name: str | None, ids: list[int], iv: Interventions, text: str | None = None) -> Run:
        """A forward pass on given token ids (the induction probe, which no text tokenizes to), with the same
        limits, cache and concurrency slots as `run`; `text` is what the Run shows as its text (default: the ids
        decoded)."""
        loaded = self.get(name)
        limit = loaded.info.max_tokens
        if len(ids) > limit:
            raise ValueError(f"the input is {len(ids)} tokens; model {loaded.name!r} reads at most {limit} tokens "
                             "(max_tokens)")
        iv.check(loaded.cfg)
        text = loaded.tokenizer.decode(ids) if text is None else text
        return self._cached((loaded.name, ("ids", tuple(ids)), iv), loaded, text, list(ids), iv)

    @staticmethod
    def _text_key(name: str, text: str, iv: Interventions) -> tuple:
        """The cache's key of the pass of `text` on model `name` (its resolved name)."""
        return (name, text, iv)

    def known(self, name: str | None, text: str, iv: Interventions) -> bool:
        """Whether the pass of `text` is cached or being computed now (a `run` of it would not compute it again)."""
        key = self._text_key(self.resolve(name), text, iv)
        with self._lock:
            return key in self._runs or key in self._flights

    def busy(self) -> bool:
        """Whether a request holds a slot now (read without a lock)."""
        return self._running > 0

    def _cached(self, key: tuple, loaded: LoadedModel, text: str, ids: list[int], iv: Interventions,
                hooks: Mapping[str, HookFn] | None = None) -> Run:
        """The run of `key` from the cache; else, when another request is computing that same pass now, its run once
        it is done (a view's requests sent at once, a class sending one sentence: one pass); else computed here."""
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self._runs.move_to_end(key)
                return hit[0]
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            else:
                self._joined += 1
        if not leader:
            while not flight.done.wait(self.POLL_S):
                self.check_cancelled()
            if flight.run is not None:
                return flight.run
            return self._cached(key, loaded, text, ids, iv, hooks)  # its pass failed (or its client went): try here
        try:
            with self._slot(), self._counted():
                logits, cache = self._forward(loaded, ids, iv, hooks)
            flight.run = result = Run(loaded, text, tuple(ids), logits, cache)
            self._store(key, result)
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return result

    def _store(self, key: tuple, result: Run) -> None:
        """Keep `result` in the cache, within its budget (the least recently used go first); a run larger than the
        whole budget is not kept."""
        if self._cache_budget <= 0:
            return
        size = result.nbytes
        if size > self._cache_budget:
            return
        with self._lock:
            if key not in self._runs:
                self._runs[key] = (result, size)
                self.cached_bytes += size
            while self.cached_bytes > self._cache_budget:
                _, (_, dropped) = self._runs.popitem(last=False)
                self.cached_bytes -= dropped
                self._dropped_bytes += dropped
            trim = self._dropped_bytes >= min(max(self.TRIM_AFTER_BYTES, self.TRIM_AFTER_RUNS * size),
                                              self.TRIM_AT_MOST)
            if trim:
                self._dropped_bytes = 0
        if trim:
            trim_allocator()

    def _forward(self, loaded: LoadedModel, ids: list[int], iv: Interventions,
                 hooks: Mapping[str, HookFn] | None = None):
        if torch.get_num_threads() != self._threads:  # a setting of the calling thread (OpenMP), so set where we run
            torch.set_num_threads(self._threads)
        # (tokenize has checked the length against the app's limits; the model still refuses what it cannot run)
        return loaded.model.run_with_cache(torch.tensor(ids), iv, hooks=hooks, max_tokens=len(ids))

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """Bounded concurrency: wait for a free slot, but refuse at once when too many wait already. A thread that
        holds a slot (see work()) does not take a second one. A request whose client has gone stops waiting."""
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        s = self.settings
        with self._lock:
            if self._waiting >= s.max_queued_runs:
                self._refused += 1
                raise Overloaded(f"the server is busy ({s.max_queued_runs} requests waiting); try again in a moment")
            self._waiting += 1
        try:
            deadline = time.monotonic() + s.queue_timeout_s
            acquired = False
            while not acquired and (left := deadline - time.monotonic()) > 0:
                acquired = self._slots.acquire(timeout=min(left, self.POLL_S))
                if not acquired:
                    self.check_cancelled()
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            with self._lock:
                self._refused += 1
            raise Overloaded(f"the server is busy (no forward pass free within {s.queue_timeout_s:g} s); "
                             "try again in a moment")
        with self._lock:
            self._running += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._lock:
                self._running -= 1
            self._slots.release()

    # ---------------------------------------------------------------- one budget for all model work

    POLL_S = 0.25  # how often a request waiting for a slot looks whether its client is still there

    def _init_budget(self) -> None:
        self._local = threading.local()  # per request thread: slots held (depth), the request's cancel flag
        self._running = 0  # slots held now
        self._side: ThreadPoolExecutor | None = None  # aside(): work beside a request's own, on another core
        self._passes = 0  # forward passes computing now, counted around the model call itself
        self._peak_passes = 0  # the most at once since the start
        self._passes_done = 0
        self._joined = 0  # requests that waited for another's pass of the same text instead of computing it again
        self._refused = 0  # 503s given (queue full or no slot within queue_timeout_s)
        self._ready: set[str] = set()  # models loaded: a request for one runs without loading it first

    @contextmanager
    def work(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Hold one slot of the limiter for all the model work of one request done in this thread: its forward
        passes, a continuation's passes and the post-processing that turns them into an answer, all of it in torch's
        inference mode (no request needs a gradient, and each tensor operation then skips autograd's bookkeeping: on
        the default model at 16 tokens, the analysis of a kept pass written to JSON took 0.91x the thread CPU time, a
        new sentence's whole analysis 0.96-0.99x). Past the queue: Overloaded (a 503 with Retry-After). When `cancel`
        is set (the client went away), the work stops with Cancelled before its next forward pass, and waiting for a
        slot stops too."""
        self._local.cancel = cancel
        try:
            self.check_cancelled()
            with self._slot(), torch.inference_mode():
                yield
        finally:
            self._local.cancel = None

    # multiply-adds from which a product gains from a second core: the logit lens's unembedding on SmolLM2 (1.7e9)
    # 90 -> 66 ms; on the default model (6e6) starting the threads cost more than they saved (1.7 -> 2.2 ms)
    SPARE_ABOVE = 10**8

    @contextmanager
    def spare_threads(self, multiply_adds: int) -> Iterator[None]:
        """Inside a request's work(), around a product of `multiply_adds` (SPARE_ABOVE or more): where another slot
        is free and no request waits for one, hold it too and run this thread's torch operations on its threads as
        well; else change nothing. Never waits: under load, or for a small product, it is a no-op."""
        if multiply_adds < self.SPARE_ABOVE or not self._take_spare():
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(threads + self._threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            self._give_back()

    def _take_spare(self) -> bool:
        """Take a free slot where no request waits for one (never waits); give it back with _give_back()."""
        with self._lock:
            took = self._waiting == 0 and self._slots.acquire(blocking=False)
            if took:
                self._running += 1
        return took

    def _give_back(self) -> None:
        with self._lock:
            self._running -= 1
        self._slots.release()

    def aside(self, work: Callable[[], T]) -> Future[T] | None:
        """Run `work` on another core, beside this request's own work, where another slot is free and no request
        waits for one (as spare_threads): on the service's side thread, which holds that slot until `work` ends.
        Else None (the caller does the work itself later). Never waits."""
        if not self._take_spare():
            return None
        with self._lock:
            if self._side is None:
                self._side = ThreadPoolExecutor(1, thread_name_prefix="aside", initializer=self._side_thread)

        def run() -> T:
            try:
                return work()
            finally:
                self._give_back()

        return self._side.submit(run)

    def _side_thread(self) -> None:
        from backend.work import lower_priority  # (backend.work builds on this module)

        lower_priority()
        torch.set_num_threads(self._threads)

    def check_cancelled(self) -> None:
        cancel = getattr(self._local, "cancel", None)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the client went away; the work stopped")

    @contextmanager
    def _counted(self) -> Iterator[None]:
        """Around one forward pass: stop first if the client went away; count it (stats(): at most
        max_concurrent_runs at once, which the load test measures)."""
        self.check_cancelled()
        with self._lock:
            self._passes += 1
            self._peak_passes = max(self._peak_passes, self._passes)
        try:
            yield
        finally:
            with self._lock:
                self._passes -= 1
                self._passes_done += 1

    def next_logits(self, loaded: LoadedModel, ids: list[int], iv: Interventions) -> torch.Tensor:
        """One more forward pass of a greedy continuation (no cache kept): the last position's logits [vocab].
        Inside the request's slot (taken here when the thread holds none); Cancelled when its client has gone."""
        with self._slot(), self._counted():
            return self._next_logits(loaded, ids, iv)

    def _next_logits(self, loaded: LoadedModel, ids: list[int], iv: Interventions) -> torch.Tensor:
        with torch.inference_mode():
            return loaded.model(torch.tensor(ids), iv, max_tokens=len(ids))[-1]  # [pos, vocab] -> [vocab]

    def model_ready(self, name: str) -> bool:
        """Whether the model is loaded (never loads it, never waits)."""
        return name in self._ready or self._loaded(name) is not None

    def stats(self) -> dict[str, int]:
        """The limiter now, read without a lock (a health check must never wait): slots held (running), requests
        waiting for one, forward passes computing now and the most at once since the start, passes done, requests
        that joined another's pass, 503s."""
        return {"running": self._running, "waiting": self._waiting, "passes": self._passes,
                "peak_passes": self._peak_passes, "passes_done": self._passes_done, "joined": self._joined, "refused": self._refused,
                "max_concurrent_runs": self.settings.max_concurrent_runs,
                "max_queued_runs": self.settings.max_queued_runs}
