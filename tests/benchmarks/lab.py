"""The training lab against the explorer: POST /api/analyze while a lab run trains, against the same while it is
paused, on one `attnlab serve` of this machine.

One run of the copy task (the default size, its worker at the default nice) trains in the server's worker
process. In each round the run is paused for a block of requests, then resumed for another block; every request
is a new sentence (result cache off), so each one is a forward pass. The paused blocks are the baseline measured
in the same run: rounds alternate, so a change in the machine's other load falls on both sides.
"""

from __future__ import annotations

import statistics
import time

import httpx

from backend.settings import Settings
from tests.benchmarks.common import verdict
from tests.benchmarks.server import serve

BOUND_RATIO = 3.0  # the bound tests/backend/test_lab.py asserts: p95 training <= 3 x p95 paused + 0.25 s
BOUND_SLACK_S = 0.25


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def _wait(client: httpx.Client, run: int, test, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = client.get(f"/lab/runs/{run}", params={"after": 10**9}).json()
        if test(s):
            return s
        if time.monotonic() > deadline:
            raise TimeoutError(f"lab run {run}: {s['status']} at step {s['step']}")
        time.sleep(0.2)


def run(quick: bool = False) -> str:
    rounds, block = (3, 10) if quick else (6, 20)
    env = {"ATTNLAB_RESULT_CACHE_MB": "0", "ATTNLAB_LAB_WATCH_TIMEOUT_S": "3600",
           "ATTNLAB_LAB_MAX_SECONDS": "3600", "ATTNLAB_LAB_MAX_PAUSED_S": "3600"}
    times: dict[str, list[float]] = {"paused": [], "training": []}
    with serve(env, timeout=300) as (base, _proc), httpx.Client(base_url=base + "/api", timeout=120) as c:
        n = 0

        def block_of(kind: str) -> None:
            nonlocal n
            for _ in range(block):
                n += 1
                t0 = time.perf_counter()
                r = c.post("/analyze", json={"text": f"The cat number {n} sat on the mat near the old dog."})
                times[kind].append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text

        for _ in range(5):  # warm up the model and the route
            c.post("/analyze", json={"text": "A warm-up sentence."})
        r = c.post("/lab/runs", json={"task": "copy", "steps": Settings().lab_max_steps, "paused": True})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        _wait(c, run_id, lambda s: s["status"] == "paused")
        for _ in range(rounds):
            block_of("paused")
            before = _wait(c, run_id, lambda s: True)["step"]
            c.post(f"/lab/runs/{run_id}/resume")
            _wait(c, run_id, lambda s, before=before: s["status"] == "running" and s["step"] > before)  # training under way
            block_of("training")
            c.post(f"/lab/runs/{run_id}/pause")
        time.sleep(1.0)  # (the worker's record of the step it paused at)
        steps_trained = _wait(c, run_id, lambda s: True)["step"]
        c.post(f"/lab/runs/{run_id}/cancel")
    idle, busy = times["paused"], times["training"]
    p_idle, p_busy = pct(idle, 0.95), pct(busy, 0.95)
    bound = BOUND_RATIO * p_idle + BOUND_SLACK_S
    return "\n".join([
        "## The explorer while a lab run trains\n",
        f"POST /api/analyze on `tiny-sinusoidal`, a new sentence each time (result cache off), {rounds} rounds of "
        f"{block} requests with the lab's copy run paused, then {block} with it training (one worker, one torch "
        f"thread, nice {Settings().lab_nice}); {steps_trained} training steps during the training blocks.\n",
        "| what | median | p95 | bound | |", "| --- | ---: | ---: | ---: | --- |",
        f"| run paused | {statistics.median(idle) * 1000:.1f} ms | {p_idle * 1000:.1f} ms | | |",
        f"| run training | {statistics.median(busy) * 1000:.1f} ms | {p_busy * 1000:.1f} ms | "
        f"{bound * 1000:.0f} ms | {verdict(p_busy, bound)} |",
        f"| ratio of the p95s | | {p_busy / p_idle:.2f} | {BOUND_RATIO:g} + slack | |", ""])
