"""A real `attnlab serve` on loopback under the load that used to take it down (issue: every expensive request
bounded), and its bounds on a request's head.

The load: 40 SmolLM2 continuations at the longest setting allowed (a text of max_tokens - max_continue_tokens
tokens, continue_tokens = max_continue_tokens: 50 forward passes each), 20 reports and 20 full comparisons of the
longest texts their limits allow, all sent at once. Meanwhile /api/health is asked every 50 ms from its own thread,
/api/ready (the limiter's counters) every 100 ms, and the server's RSS read from /proc every 100 ms. What must hold:
no 5xx but 503, each 503 with Retry-After; at most max_concurrent_runs forward passes at once (counted by the
server around each pass: /api/ready's peak_passes); /api/health under 100 ms every time but in the instant the 80
requests arrive together (BURST_S), and under BURST_BOUND_S then; RSS under RSS_BOUND_MB; normal answers right
after. The numbers are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from backend.settings import Settings
from models import registry
from tests.benchmarks.server import rss_mb
from tests.loops import run_apart
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SMOL = "smollm2-135m"
# /api/health never waits for a slot or a forward pass (each pass of this load takes seconds); what it may wait for is
# the CPU (on two cores the two passes, the load generator and the pollers all run) and the GIL. Slowest answer, with
# the GIL's switch interval at 1 ms (backend/alloc.py): 44, 40, 28, 56 and 19 ms on an idle machine (p99 6-18 ms),
# 53 ms with a busy loop taking one of the two cores (p99 10 ms). At CPython's 5 ms: 44-102 ms idle (p99 25-34 ms),
# up to 131 ms with another test run sharing the cores; before the models were frozen out of the garbage collector
# (service.load_now), 250-450 ms. Over the bound now and then (127 and 138 ms, two runs in six): the first report read
# plotly's table of validators in one json.load holding the GIL, 100 ms (a watchdog thread in the server saw it); read
# at the start since (backend/figures.py warm): 24-64 ms in four runs, p99 7-17 ms. What is left over 100 ms comes in
# the first 0.15 s of the load (seen at 0.10 and 0.15 s: 104 and 79 ms; 117 ms once in CI): the 80 requests arrive in
# the same instant and the event loop reads, checks and hands on each in turn (about 1 ms each, while two model
# threads share the GIL with it), and a health request that comes meanwhile waits behind them. Those are held to
# BURST_BOUND_S; every other answer to HEALTH_BOUND_S. Over it after the burst in three CI runs of four (126-170 ms;
# 119 ms here with the tests before it in the same order), each time while reports were made (a thread in the server
# sampling every 5 ms woke up to 230 ms late then): a report built plotly Figures in pure Python, 2.2 s of GIL-bound
# work each on SmolLM2, and a comparison's answer was validated in one pydantic call of 90 ms. Reports now write
# plain figures (0.65 s) and comparisons assign their weights after validation: slowest after the burst 37-82 ms in
# five runs alone (p99 13-24 ms), 56 ms after the same tests.
HEALTH_BOUND_S = 0.1
BURST_S = 0.5  # from the moment the load is sent
BURST_BOUND_S = 0.25
# SmolLM2 (135 M parameters in float32: 0.54 GB) + the tiny default model + torch, the result cache
# (result_cache_mb 512 MB) and what the two requests that run at
# once hold: the bound below leaves room for those and stays far under the 4.9 GB the same load reached when the
# limiter did not cover continuations
RSS_BOUND_MB = 3000
pytestmark = pytest.mark.slow


@contextmanager
def serve(env: dict[str, str] | None = None, startup_s: float = 300):
    """`attnlab serve` (this checkout's code) on a free loopback port: (base URL, port, process)."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not answer within its start-up time"
            time.sleep(0.1)
        yield base, port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


# --------------------------------------------------------------------------- the load test

def texts_of(client: httpx.Client, n: int, count: int, first: str) -> list[str]:
    """`count` different texts of exactly n SmolLM2 tokens: "Story 00. <first>" padded with " the" (one token
    each), checked on the first and the last through the server itself."""
    def tokens(text: str) -> int:
        deadline = time.monotonic() + 300
        while True:  # the first request starts SmolLM2's load in the background: 503 with Retry-After until it is in
            r = client.post("/api/analyze", json={"text": text, "model": SMOL, "layers": [], "top_k": 1}, timeout=300)
            if r.status_code != 503 or "loading" not in r.json() or time.monotonic() > deadline:
                break
            time.sleep(float(r.headers.get("retry-after", 1)))
        assert r.status_code == 200, r.text
        return len(r.json()["tokens"])

    base = tokens(f"Story 00. {first}")
    assert base <= n, f"the opening is {base} tokens, more than {n}"
    texts = [f"Story {i:02d}. {first}" + " the" * (n - base) for i in range(count)]
    assert tokens(texts[0]) == n and tokens(texts[-1]) == n
    return texts


# A poller runs in its own process: a thread of this one would share its GIL with the load generator, which
# receives and parses the answers, and would measure this process's waits as the server's.
POLL_SCRIPT = r"""
import http.client, json, sys, time
port, path, every = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
start = time.perf_counter()
while True:
    t0 = time.perf_counter()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        took = time.perf_counter() - t0
        print(json.dumps({"at": t0, "status": resp.status, "body": json.loads(body), "took": took}), flush=True)
    except (OSError, http.client.HTTPException, ValueError) as e:
        print(json.dumps({"failure": f"{time.perf_counter() - start:.2f} s: {e!r}"}), flush=True)
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    time.sleep(max(0.0, every - (time.perf_counter() - t0)))
"""


class Poller:
    """GET `path` every `every` seconds over one kept-alive connection, from its own process: samples
    (when asked: time.perf_counter(), the system's monotonic clock; status, JSON body, seconds) and failures, read
    when it stops."""

    def __init__(self, port: int, path: str, every: float):
        self.args = [sys.executable, "-c", POLL_SCRIPT, str(port), path, str(every)]
        self.samples: list[tuple[float, int, dict | None, float]] = []
        self.failures: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.out = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would stall the poller

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=self.out, text=True)

    def finish(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
        self.out.seek(0)
        for line in self.out.read().splitlines():
            if not line.endswith("}"):
                continue  # the last line, cut by terminate()
            x = json.loads(line)
            if "failure" in x:
                self.failures.append(x["failure"])
            else:
                self.samples.append((x["at"], x["status"], x["body"], x["took"]))


class Memory(threading.Thread):
    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(rss_mb(self.pid))
            self.stop.wait(self.every)


async def send_all(base: str, requests: list[tuple[str, str, str, dict | None]]) -> list[tuple[str, int, dict, bytes, float]]:
    """Every request at once: (kind, status, headers, body, seconds)."""
    limits = httpx.Limits(max_connections=len(requests) + 10, max_keepalive_connections=len(requests) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        async def one(kind: str, method: str, path: str, body: dict | None):
            t0 = time.perf_counter()
            if method == "POST":
                r = await client.post(path, json=body)
            else:
                r = await client.get(path, params=body)
            return kind, r.status_code, dict(r.headers), r.content, time.perf_counter() - t0

        return await asyncio.gather(*(one(*req) for req in requests))


def test_forty_continuations_twenty_reports_and_twenty_comparisons_at_once(need):
    need("gguf", why="SmolLM2")
    if not registry.info(SMOL).available:
        pytest.skip(f"{SMOL} is not installed")
    s = Settings()
    info = registry.info(SMOL)
    with serve() as (base, port, proc):
        with httpx.Client(base_url=base, timeout=300) as c:
            # SmolLM2 loaded (its first request), and the texts: the longest each limit allows
            cont_n = info.max_tokens - s.max_continue_tokens
            report_n = next(m for m in c.get("/api/models").json()["models"] if m["name"] == SMOL)["max_report_tokens"]
            compare_n = math.isqrt(s.max_compare_weights // (3 * info.n_layers * info.n_heads))
            conts = texts_of(c, cont_n, 40, "Once upon a time, a little fox lived near a quiet river.")
            reports = texts_of(c, report_n, 20, "A cat sat on the mat.")
            compares = texts_of(c, compare_n, 20, "The girl gave the dog a ball.")
            before = c.get("/api/ready").json()
        requests = []
        for i in range(40):
            requests.append(("continuation", "POST", "/api/predict",
                             {"text": conts[i], "model": SMOL, "continue_tokens": s.max_continue_tokens, "top_k": 5}))
            if i < 20:
                requests.append(("report", "GET", "/api/report", {"text": reports[i], "model": SMOL, "layer": 3}))
                requests.append(("compare", "POST", "/api/compare",
                                 {"a": {"text": compares[i], "model": SMOL},
                                  "b": {"text": compares[i], "model": SMOL, "positions": "removed"}}))
        health, ready, memory = Poller(port, "/api/health", 0.05), Poller(port, "/api/ready", 0.1), Memory(proc.pid)
        for t in (health, ready, memory):
            t.start()
        time.sleep(0.5)  # the pollers' processes have started
        start = time.perf_counter()
        results = run_apart(send_all(base, requests))
        wall = time.perf_counter() - start
        time.sleep(0.3)
        health.finish()
        ready.finish()
        memory.stop.set()
        memory.join(10)
        with httpx.Client(base_url=base, timeout=120) as c:
            t0 = time.perf_counter()
            after = c.post("/api/analyze", json={"text": "The cat sat on the mat after the load."})
            after_s = time.perf_counter() - t0
            after_smol = c.post("/api/predict", json={"text": "After the load, the fox", "model": SMOL,
                                                      "continue_tokens": 3})
            final = c.get("/api/ready").json()

    statuses: dict[tuple[str, int], int] = {}
    for kind, status, _, _, _ in results:
        statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
    health_s = [x[3] for x in health.samples]
    # (perf_counter is the system's monotonic clock on Linux: the pollers' times and this process's compare)
    in_burst = [x[3] for x in health.samples if start <= x[0] + x[3] and x[0] < start + BURST_S]
    after_burst = [x[3] for x in health.samples if x[0] >= start + BURST_S]
    running_seen = max((x[2]["running"] for x in ready.samples if x[2]), default=0)
    passes_seen = max((x[2]["passes"] for x in ready.samples if x[2]), default=0)
    print(f"\nload test: {len(results)} requests in {wall:.1f} s; answers {dict(sorted(statuses.items()))}; "
          f"health: {len(health_s)} answers, slowest {max(health_s) * 1000:.1f} ms, median "
          f"{sorted(health_s)[len(health_s) // 2] * 1000:.1f} ms, p99 {sorted(health_s)[int(len(health_s) * 0.99)] * 1000:.1f} ms, "
          f"{sum(x > 0.1 for x in health_s)} over 100 ms, failures {len(health.failures)}, slowest in the first "
          f"{BURST_S} s of the load {max(in_burst, default=0) * 1000:.1f} ms and after it "
          f"{max(after_burst, default=0) * 1000:.1f} ms; forward passes at "
          f"once: at most {final['peak_passes']} (counted by the server), {passes_seen} seen in /api/ready, slots "
          f"held at once: {running_seen} seen; passes done: {final['passes_done'] - before['passes_done']}; "
          f"refused: {final['refused'] - before['refused']}; the server's event loop late by at most "
          f"{final['loop_lag_ms']} ms (before the load: {before['loop_lag_ms']} ms); RSS {memory.samples[0]:.0f} MB "
          f"at the start, at most {max(memory.samples):.0f} MB; after: analyze {after.status_code} in "
          f"{after_s * 1000:.0f} ms, SmolLM2 predict {after_smol.status_code}")

    assert {status for _, status, _, _, _ in results} <= {200, 503}, statuses
    for kind, status, headers, body, _ in results:
        if status == 503:
            assert headers.get("retry-after", "").isdigit(), (kind, headers)
        elif kind == "continuation":
            answer = json.loads(body)
            assert len(answer["tokens"]) == cont_n and len(answer["continuation_tokens"]) == s.max_continue_tokens
            assert answer["stopped"] is None
        elif kind == "report":
            assert headers["content-type"].startswith("text/html") and body.startswith(b"<!DOCTYPE html>")
        else:
            answer = json.loads(body)
            assert len(answer["a"]["tokens"]) == compare_n and answer["difference"] is not None
    assert any(status == 200 for _, status, _, _, _ in results)  # the server did work, it did not refuse it all
    assert final["peak_passes"] <= s.max_concurrent_runs and running_seen <= s.max_concurrent_runs
    assert not health.failures and len(health_s) > 20
    assert max(health_s) < BURST_BOUND_S, f"slowest health answer {max(health_s) * 1000:.1f} ms"
    assert max(after_burst) < HEALTH_BOUND_S and len(after_burst) > 20, f"slowest after the burst {max(after_burst) * 1000:.1f} ms"
    assert max(memory.samples) < RSS_BOUND_MB
    assert after.status_code == 200 and after_smol.status_code == 200 and after_s < 10


# --------------------------------------------------------------------------- a request's head: size and time

def test_a_slow_or_huge_request_head_is_cut_off():
    env = {"ATTNLAB_HEADER_TIMEOUT_S": "1", "ATTNLAB_MAX_HEADER_BYTES": "8192"}
    with serve(env) as (base, port, proc):
        # a head sent slowly: the connection is closed once the time is up, however busy the client keeps it
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            closed_after = None
            for _ in range(40):
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.1)
                    sock.settimeout(0.01)
                    if sock.recv(1) == b"":
                        closed_after = time.monotonic() - start
                        break
                except TimeoutError:
                    pass
                except OSError:
                    closed_after = time.monotonic() - start
                    break
        assert closed_after is not None and 0.9 < closed_after < 3, closed_after
        # a connection that sends nothing at all is closed too
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            assert sock.recv(1) == b"" and time.monotonic() - start < 3
        # a head over the size, whole in one write or in small pieces: 431, and the connection closed
        head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        for piece in (len(head), 1000):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                try:
                    for i in range(0, len(head), piece):
                        sock.sendall(head[i:i + piece])
                except OSError:  # (closed while sending: the answer is read below)
                    pass
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 431") and b"ATTNLAB_MAX_HEADER_BYTES" in answer, (piece, answer)
        # two requests in one write (pipelined) are both answered; a third head on that connection, over the size
        # in pieces after the answers, is counted from its own start: 431
        small = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(small + small)
            answer = b""
            while answer.count(b'{"status":"ok"}') < 2:
                answer += sock.recv(65536)
            assert answer.count(b"HTTP/1.1 200") == 2
            try:
                for i in range(0, len(head), 1000):
                    sock.sendall(head[i:i + 1000])
            except OSError:
                pass
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 431"), answer
        # a large body with a small head is not a large head
        body = b'{"text": "A body of half a megabyte, mostly spaces."' + b" " * 500_000 + b"}"
        r = httpx.post(base + "/api/analyze", content=body, headers={"content-type": "application/json"}, timeout=120)
        assert r.status_code == 200
        # a normal request, and a kept-alive second one after a pause, still answer
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for pause in (0, 0.5):
            time.sleep(pause)
            conn.request("GET", "/api/health")
            assert conn.getresponse().read() == b'{"status":"ok"}'
        conn.close()
        # and a foreign Host gets 400 from the real server too
        r = httpx.get(base + "/api/health", headers={"host": f"evil.example.com:{port}"})
        assert r.status_code == 400
