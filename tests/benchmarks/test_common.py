"""The helpers that turn timings into the figures and verdicts of docs/benchmarks.md."""

from __future__ import annotations

import os

import pytest

from tests.benchmarks.common import Timing, interleaved, paired_ratio, ratio_cell, run_apart, verdict


def test_paired_ratio_is_the_median_of_each_round_s_ratio():
    # a takes 0.9 x b's time in every round but one (a spike), while the machine slows down over the run
    b = Timing([1.0, 2.0, 3.0, 4.0, 5.0])
    a = Timing([0.9, 1.8, 2.7, 3.6, 4.5])
    assert abs(paired_ratio(a, b) - 0.9) < 1e-12
    assert ratio_cell(a, b) == "0.900 (0.90-0.90)"
    spiked = Timing([0.9, 1.8, 2.7, 9.0, 4.5])
    assert abs(paired_ratio(spiked, b) - 0.9) < 1e-12
    assert ratio_cell(spiked, b) == "0.900 (0.90-1.57)"


def test_verdict_shows_a_small_miss_instead_of_rounding_it_to_zero():
    assert verdict(0.99, 1.0) == "met"
    assert verdict(1.0, 1.0) == "met"
    assert verdict(1.004, 1.0) == "missed by 0.004"
    assert verdict(3.5, 3.0) == "missed by 0.50"
    assert verdict(0.5, 1.0, lower_is_better=False) == "missed by 0.50"


def test_interleaved_runs_each_function_the_asked_number_of_times_in_turn():
    calls: list[str] = []
    t = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert len(t["a"].samples) == len(t["b"].samples) == 3


def _section(quick: bool) -> str:  # a suite (module-level: a spawned process finds it by name)
    return f"pid {os.getpid()} quick {quick}"


def _dies(quick: bool) -> str:
    os._exit(3)


def test_run_apart_runs_a_suite_in_a_process_of_its_own_and_returns_its_section():
    pid, quick = run_apart(_section, True).removeprefix("pid ").split(" quick ")
    assert int(pid) != os.getpid() and quick == "True"


def test_run_apart_says_which_suite_died_without_its_section():
    with pytest.raises(RuntimeError, match=r"test_common: its process ended \(exit code 3\)"):
        run_apart(_dies, False)
