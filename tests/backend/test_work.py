"""backend/work.py: a model route's answer is made, sized and gzipped in its worker thread, not on the event loop."""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading

import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient

from backend import work
from tests.loops import run_apart


def test_gzipped_packs_only_what_the_client_accepts_and_is_worth_it():
    body = json.dumps({"weights": [[0.125] * 200] * 20}).encode()
    packed = work.gzipped(Response(body, media_type="application/json"), "br, gzip;q=0.9")
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(packed.body) == body and len(packed.body) < len(body) / 10
    assert int(packed.headers["content-length"]) == len(packed.body)
    assert packed.media_type == "application/json"
    for accept, size in [("identity", len(body)), ("", len(body)), ("gzip", work.GZIP_MIN_BYTES - 1)]:
        plain = work.gzipped(Response(body[:size], media_type="application/json"), accept)
        assert "content-encoding" not in plain.headers and plain.body == body[:size]
    done = Response(b"x" * 5000, headers={"content-encoding": "br"})
    assert work.gzipped(done, "gzip") is done


def test_an_analysis_is_gzipped_once_in_its_worker_thread(client, monkeypatch):
    threads: list[str] = []
    compress = gzip.compress

    def spy(data, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return compress(data, *args, **kwargs)

    monkeypatch.setattr(work.gzip, "compress", spy)
    body = {"text": "The cat sat on the mat because it was tired.", "layers": [0, 1]}
    packed = client.post("/api/analyze", json=body)  # the test client accepts gzip and unpacks it
    assert packed.status_code == 200 and packed.headers["content-encoding"] == "gzip"
    assert len(threads) == 1 and threads[0] != threading.main_thread().name
    assert threads[0] != "MainThread" and "worker" in threads[0].lower(), threads
    plain = client.post("/api/analyze", json=body, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(threads) == 1
    assert plain.json() == packed.json()  # the same answer, only packed


def test_on_this_machine_is_a_loopback_client():
    for host, local in [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("192.168.1.20", False),
                        ("10.0.0.1", False), ("fe80::1", False), ("testclient", False), ("localhost", False)]:
        assert work.on_this_machine({"client": (host, 50000)}) is local, host
    assert not work.on_this_machine({"client": None}) and not work.on_this_machine({})


def test_a_client_on_this_machine_gets_answers_and_files_as_they_are(client, monkeypatch):
    """Over loopback the model answers and the middleware's answers go unpacked; from another machine, gzipped."""
    packs: list[int] = []
    compress = gzip.compress

    def spy(data, *args, **kwargs):
        packs.append(len(data))
        return compress(data, *args, **kwargs)

    monkeypatch.setattr(work.gzip, "compress", spy)
    body = {"text": "The cat sat on the mat because it was tired.", "layers": [0, 1]}
    with TestClient(client.app, base_url="http://127.0.0.1", client=("127.0.0.1", 41000)) as local, \
            TestClient(client.app, base_url="http://127.0.0.1", client=("192.168.1.20", 41000)) as remote:
        for path, ask in [("/api/analyze", lambda c: c.post("/api/analyze", json=body)),
                          ("/api/models", lambda c: c.get("/api/models"))]:
            near, far = ask(local), ask(remote)
            assert near.status_code == far.status_code == 200, path
            assert "content-encoding" not in near.headers, path
            assert far.headers["content-encoding"] == "gzip", path
            assert near.json() == far.json(), path
    assert len(packs) == 1  # the remote analysis, packed in its worker thread (the middleware packs with zlib)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_model_work_runs_niced_below_the_event_loop(client, monkeypatch):
    seen: list[tuple[int, int]] = []
    compress = gzip.compress

    def spy(data, *args, **kwargs):
        tid = threading.get_native_id()
        seen.append((tid, os.getpriority(os.PRIO_PROCESS, tid)))
        return compress(data, *args, **kwargs)

    monkeypatch.setattr(work.gzip, "compress", spy)
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # this thread: never a worker of the app
    client.post("/api/analyze", json={"text": "Nice work, said the cat.", "layers": [0]})
    (tid, nice), = seen
    assert tid != threading.get_native_id() and nice == min(19, loop_nice + work.WORK_NICE)
    client.post("/api/analyze", json={"text": "Nice work again, said the dog.", "layers": [0]})
    assert all(n == nice for t, n in seen if t == tid)  # once per thread, not once per request


def test_loop_lag_keeps_the_most_the_event_loop_ran_late():
    import asyncio
    import time

    lag = work.LoopLag()

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(lag.run())
        await asyncio.sleep(0.2)
        time.sleep(0.3)  # the loop held: nothing it waits for can run meanwhile
        await asyncio.sleep(0.1)
        task.cancel()

    run_apart(main(), timeout=10)
    assert 0.25 <= lag.worst_s < 1.0


def test_ready_reports_how_late_the_event_loop_ran(client):
    body = client.get("/api/ready").json()
    assert isinstance(body["loop_lag_ms"], float) and body["loop_lag_ms"] >= 0
