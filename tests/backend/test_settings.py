"""backend/settings.py: values derived from the settings."""

from __future__ import annotations

import os
import threading

import torch

from backend.service import ModelService
from backend.settings import Settings, torch_threads
from models.transformer import Interventions


def test_torch_threads_share_the_cores_among_the_concurrent_passes():
    cores = os.cpu_count() or 1
    assert torch_threads(Settings(max_concurrent_runs=1)) == cores
    assert torch_threads(Settings(max_concurrent_runs=2)) == max(1, cores // 2)
    assert torch_threads(Settings(max_concurrent_runs=cores * 4)) == 1
    assert torch_threads(Settings(torch_threads=3)) == 3


def test_every_forward_pass_runs_with_them():
    seen = []
    service = ModelService(Settings(torch_threads=1, result_cache_mb=0))
    original = service._forward

    def forward(*args):
        out = original(*args)
        seen.append(torch.get_num_threads())
        return out

    service._forward = forward
    def request():
        torch.set_num_threads(3)  # whatever the thread had before
        service.run(None, "The cat sat.", Interventions())

    worker = threading.Thread(target=request)
    worker.start()
    worker.join()
    assert seen == [1]
