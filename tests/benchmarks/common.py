"""Timing helpers: interleaved repeated runs, medians, and the machine's description."""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection


@dataclass
class Timing:
    samples: list[float]  # seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1000

    def cell(self) -> str:
        return f"{self.median_ms:.2f} ms ({self.min_ms:.2f}-{self.max_ms:.2f})"


def interleaved(fns: dict[str, Callable[[], object]], runs: int = 25, warmup: int = 3) -> dict[str, Timing]:
    """Run each function `runs` times, round-robin, after `warmup` rounds; time each call."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - start)
    return {name: Timing(samples) for name, samples in out.items()}


def _round_ratios(a: Timing, b: Timing) -> list[float]:
    return sorted(x / y for x, y in zip(a.samples, b.samples, strict=True))


def paired_ratio(a: Timing, b: Timing) -> float:
    """Median over rounds of a's time / b's time in the same round.

    The runs are interleaved, so the two calls of a round saw about the same machine load: each
    round's ratio compares like with like, and the median of them shrugs off a round in which only
    one side was disturbed."""
    return statistics.median(_round_ratios(a, b))


def ratio_cell(a: Timing, b: Timing) -> str:
    """The paired ratio and the middle half of the per-round ratios: `0.950 (0.91-0.99)`."""
    q1, _, q3 = statistics.quantiles(_round_ratios(a, b), n=4)
    return f"{paired_ratio(a, b):.3f} ({q1:.2f}-{q3:.2f})"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
            f"load average {load:.2f} at the start")


def verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    if ok:
        return "met"
    miss = value - target if lower_is_better else target - value
    return f"missed by {miss:.2g}" if miss < 0.01 else f"missed by {miss:.2f}"


def _suite(suite: Callable[..., str], quick: bool, out: Connection) -> None:
    out.send(suite(quick=quick))
    out.close()


def run_apart(suite: Callable[..., str], quick: bool) -> str:
    """suite(quick=quick), a module-level function that returns its section of the record, run in a process of its
    own (spawned, not forked: a fresh interpreter that inherits nothing of this one)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_suite, args=(suite, quick, send), name=f"benchmark {suite.__module__}")
    proc.start()
    send.close()  # (this process's copy: with the child's end alone left, a child that dies ends the wait below)
    try:
        section = receive.recv()
    except EOFError:  # it died before sending: its traceback is on stderr
        section = None
    proc.join()
    if section is None:
        raise RuntimeError(f"{suite.__module__}: its process ended (exit code {proc.exitcode}) without its section")
    return section
