"""The one object routes talk to: models by name, the limits, and forward passes (cached)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from backend.alloc import trim_allocator
from backend.settings import Settings
from models import registry
from models.registry import LoadedModel, ModelInfo
from models.transformer import ActivationCache, Interventions


class Overloaded(RuntimeError):
    """Too many forward passes waiting (a 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class UnknownModel(LookupError):
    """A model name that is not in the registry (a 404)."""


class ModelNotInstalled(LookupError):
    """A registered model whose package is missing (a 422 that says how to install it)."""


@dataclass(frozen=True)
class Run:
    """One forward pass: the model, the token ids, and what the model computed."""

    loaded: LoadedModel
    text: str
    ids: tuple[int, ...]
    logits: torch.Tensor | None  # [pos, vocab]; None for a model without a next-word head (MiniLM)
    cache: ActivationCache

    @property
    def nbytes(self) -> int:
        """The memory its tensors hold (each storage counted once: many hook values share one)."""
        tensors = [*self.cache.values(), *([] if self.logits is None else [self.logits])]
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        return sum(storages.values())

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def iv(self) -> Interventions:
        return self.cache.interventions


class ModelService:
    """Models by name (loaded once, on first use) and a cache of forward passes bounded in memory:
    the least recently used go first once they hold more than settings.result_cache_mb, but the
    KEEP_RUNS most recent always stay, so that a large model's pass (a few hundred MB for SmolLM2 at
    128 tokens) and the passes its views compare it with are reused too."""

    KEEP_RUNS = 4
    TRIM_AFTER_BYTES = 64 * 2**20  # give freed memory back to the kernel after dropping this much (see trim_allocator)

    def __init__(self, settings: Settings,
                 list_models: Callable[[], list[ModelInfo]] = registry.list_models,
                 load: Callable[[str], LoadedModel] = registry.load):
        self.settings = settings
        self._list_models = list_models
        self._load = load
        self._runs: OrderedDict[tuple, tuple[Run, int]] = OrderedDict()  # key -> (run, its bytes)
        self._cache_budget = int(settings.result_cache_mb * 2**20)
        self.cached_bytes = 0
        self._dropped_bytes = 0  # since the last trim
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_runs)
        self._waiting = 0

    # ---------------------------------------------------------------- models

    def models(self) -> list[ModelInfo]:
        return self._list_models()

    def resolve(self, name: str | None) -> str:
        return self.settings.default_model if name is None else name

    def get(self, name: str | None) -> LoadedModel:
        name = self.resolve(name)
        try:
            return self._load(name)
        except KeyError as e:
            raise UnknownModel(e.args[0] if e.args else f"unknown model {name!r}") from None
        except LookupError as e:
            raise ModelNotInstalled(str(e)) from None

    # ---------------------------------------------------------------- limits

    def check_text(self, text: str) -> None:
        limit = self.settings.max_text_chars
        if not text.strip():
            raise ValueError("text is empty: type a sentence")
        if len(text) > limit:
            raise ValueError(f"text is {len(text)} characters; the limit is {limit} characters (max_text_chars)")

    def check_top_k(self, k: int) -> None:
        if k > self.settings.max_top_k:
            raise ValueError(f"top_k is {k}; the limit is {self.settings.max_top_k} (max_top_k)")

    def check_temperature(self, t: float) -> None:
        if not 0 < t <= self.settings.max_temperature:
            raise ValueError(f"temperature is {t}; it must be more than 0 and at most "
                             f"{self.settings.max_temperature} (max_temperature)")

    def check_continue(self, n: int) -> None:
        if n > self.settings.max_continue_tokens:
            raise ValueError(f"continue_tokens is {n}; the limit is {self.settings.max_continue_tokens} "
                             "(max_continue_tokens)")

    def check_neighbors(self, k: int) -> None:
        if k > self.settings.max_neighbors:
            raise ValueError(f"k is {k}; the limit is {self.settings.max_neighbors} (max_neighbors)")

    def check_positions_n(self, n: int) -> None:
        if n > self.settings.max_positions_n:
            raise ValueError(f"n is {n}; the limit is {self.settings.max_positions_n} (max_positions_n)")

    def max_tokens(self, info: ModelInfo, beyond: bool = False) -> int:
        """The most tokens a text may have on this model; with `beyond` (a request's allow_beyond_trained), past the
        trained length up to max_beyond_tokens where the model can run there (ModelInfo.why_not_beyond is None)."""
        if beyond and info.why_not_beyond is None:
            return max(info.max_tokens, self.settings.max_beyond_tokens)
        return info.max_tokens

    def tokenize(self, loaded: LoadedModel, text: str, beyond: bool = False) -> list[int]:
        self.check_text(text)
        ids = loaded.tokenizer.encode(text)
        limit = self.max_tokens(loaded.info, beyond)
        if len(ids) > limit:
            said = f"the text is {len(ids)} tokens (with its special tokens); "
            if limit > loaded.info.max_tokens:
                raise ValueError(said + f"model {loaded.name!r} runs at most {limit} tokens past its trained length "
                                        "(max_beyond_tokens)")
            longer = self.max_tokens(loaded.info, beyond=True)
            if longer > limit:
                hint = (f", the length it was trained on; send allow_beyond_trained: true to run it on up to {longer} "
                        "tokens (positions it never saw)")
            else:
                at_trained = loaded.info.why_not_beyond and loaded.info.trained_tokens == limit
                hint = f". {loaded.info.why_not_beyond}" if at_trained else ""
            raise ValueError(said + f"model {loaded.name!r} reads at most {limit} tokens (max_tokens)" + hint)
        return ids

    # ---------------------------------------------------------------- forward passes

    def run(self, name: str | None, text: str, iv: Interventions, beyond: bool = False) -> Run:
        """The forward pass of `text` (cached). beyond: allow more tokens than the model was trained on (max_tokens)."""
        loaded = self.get(name)
        ids = self.tokenize(loaded, text, beyond)
        iv.check(loaded.cfg)
        key = (loaded.name, text, iv)
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self._runs.move_to_end(key)
                return hit[0]
        with self._slot():
            logits, cache = self._forward(loaded, ids, iv)
        result = Run(loaded, text, tuple(ids), logits, cache)
        if self._cache_budget <= 0:
            return result
        size = result.nbytes
        with self._lock:
            if key not in self._runs:  # (another request may have stored the same run meanwhile)
                self._runs[key] = (result, size)
                self.cached_bytes += size
            while self.cached_bytes > self._cache_budget and len(self._runs) > self.KEEP_RUNS:
                _, (_, dropped) = self._runs.popitem(last=False)
                self.cached_bytes -= dropped
                self._dropped_bytes += dropped
            trim = self._dropped_bytes >= self.TRIM_AFTER_BYTES
            if trim:
                self._dropped_bytes = 0
        if trim:
            trim_allocator()
        return result

    def _forward(self, loaded: LoadedModel, ids: list[int], iv: Interventions):
        # (tokenize has checked the length against the app's limits; the model still refuses what it cannot run)
        return loaded.model.run_with_cache(torch.tensor(ids), iv, max_tokens=len(ids))

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """Bounded concurrency: wait for a free slot, but refuse at once when too many wait already."""
        s = self.settings
        with self._lock:
            if self._waiting >= s.max_queued_runs:
                raise Overloaded(f"the server is busy ({s.max_queued_runs} requests waiting); try again in a moment")
            self._waiting += 1
        try:
            acquired = self._slots.acquire(timeout=s.queue_timeout_s)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise Overloaded(f"the server is busy (no forward pass free within {s.queue_timeout_s:g} s); "
                             "try again in a moment")
        try:
            yield
        finally:
            self._slots.release()
