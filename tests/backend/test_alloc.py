"""The allocator settings the server applies at start (backend.alloc)."""

import gc
import resource
import sys

import pytest
import torch
from fastapi.testclient import TestClient

from backend import alloc
from backend.alloc import tune_allocator
from backend.main import create_app
from backend.settings import Settings
from models import registry


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_after_tuning_a_forward_pass_reuses_the_memory_of_the_last_one():
    assert tune_allocator() is True
    loaded = registry.load("tiny-sinusoidal")
    ids = torch.randint(0, loaded.cfg.vocab_size, (loaded.cfg.max_positions,))
    for _ in range(3):
        loaded.model.run_with_cache(ids)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        loaded.model.run_with_cache(ids)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
    # untuned, each pass maps its larger buffers afresh (the 2 MB of logits alone are 512 pages)
    assert faults < 100, f"{faults:.0f} page faults per pass"


def test_tune_gc_sets_the_youngest_threshold_only_and_the_app_applies_it():
    before = gc.get_threshold()
    try:
        alloc.tune_gc(1234)
        assert gc.get_threshold() == (1234, *before[1:])
        gc.set_threshold(*before)
        with TestClient(create_app(Settings())):
            assert gc.get_threshold() == (alloc.GC_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)


def test_tune_switch_interval_and_the_app_applies_it():
    before = sys.getswitchinterval()
    try:
        alloc.tune_switch_interval(0.002)
        assert sys.getswitchinterval() == 0.002
        sys.setswitchinterval(before)
        with TestClient(create_app(Settings())):
            assert sys.getswitchinterval() == alloc.SWITCH_INTERVAL_S
    finally:
        sys.setswitchinterval(before)
