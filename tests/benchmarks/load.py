"""Classroom load: simulated students against one `attnlab serve` on this machine.

Phase 1 (the class): 100 students for 60 s; each sends POST /api/analyze every 2-5 s,
70% the teacher's sentence, 30% a sentence of their own. Reports errors, latency
percentiles and the server's memory over time.
Phase 2 (the limit): rising rates of distinct sentences (nothing cached) for 5 s each,
until the server starts answering 503; then the load stops and one request checks that
it recovers.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import time

import httpx

from backend.settings import Settings
from tests.benchmarks.common import verdict
from tests.benchmarks.server import LoadClient, rss_mb, serve

TEACHER = "The cat sat on the mat because it was tired."
TARGET_RATE = 150  # new sentences a second without a 503, p95 within 5x one at a time
ANSWER_WITHIN_S = 30  # a request of the rising load not answered by then counts as failed
WORDS = "cat dog bird girl boy tree ball park sun moon river house car fish mom dad friend toy cake box".split()


def own_sentence(rng: random.Random) -> str:
    a, b, c = rng.sample(WORDS, 3)
    return f"The {a} saw a {b} near the {c} and {rng.choice(['smiled', 'ran', 'sang', 'jumped'])}."


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def post_as_a_browser(client: httpx.AsyncClient, path: str, body: dict) -> tuple[httpx.Response, bool]:
    """POST, and where the connection ends with no answer at all, once more on a new one, as a browser does with a
    request that failed on a kept-alive connection before any response header (Chromium: ShouldResendRequest).
    The server closes a connection idle for keep_alive_s (5 s), the students' longest pause: a request that leaves
    just then meets the close. -> (the answer, whether it was sent again)."""
    try:
        return await client.post(path, json=body), False
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return await client.post(path, json=body), True


async def classroom(base: str, pid: int, students: int, seconds: float) -> dict:
    rng = random.Random(0)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_again = 0
    memory: list[tuple[float, float]] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=students, max_keepalive_connections=students)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def student(i: int) -> None:
            nonlocal sent_again
            r = random.Random(i)
            await asyncio.sleep(r.uniform(0, 5))
            while time.perf_counter() < stop:
                text = TEACHER if r.random() < 0.7 else own_sentence(r)
                start = time.perf_counter()
                try:
                    resp, again = await post_as_a_browser(client, "/api/analyze", {"text": text})
                    sent_again += again
                    statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                except httpx.HTTPError:
                    statuses[-1] = statuses.get(-1, 0) + 1
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(r.uniform(2, 5))

        async def sample_memory() -> None:
            start = time.perf_counter()
            while time.perf_counter() < stop:
                memory.append((time.perf_counter() - start, rss_mb(pid)))
                await asyncio.sleep(1)

        await asyncio.gather(sample_memory(), *(student(i) for i in range(students)))
    del rng
    return {"latencies": latencies, "statuses": statuses, "memory": memory, "sent_again": sent_again}


def sentence(i: int) -> str:
    return f"Student {i} wrote: the {WORDS[i % len(WORDS)]} number {i} ran home."


async def one_at_a_time(base: str, n: int) -> list[float]:
    """Seconds per answer for n distinct sentences sent one after another (the ramp's client)."""
    out = []
    client = LoadClient(base)
    try:
        for i in range(n):
            start = time.perf_counter()
            status, content = await asyncio.wait_for(client.post("/api/analyze", {"text": sentence(10**6 + i)}),
                                                     ANSWER_WITHIN_S)
            if status != 200:
                raise RuntimeError(f"{status} {content[:300]!r}")
            out.append(time.perf_counter() - start)
    finally:
        await client.aclose()
    return out


async def ramp(base: str, rates: list[int], seconds: float = 5.0) -> list[tuple[int, int, int, float, float]]:
    """(rate, sent, 503s, p95 of the 200s, the rate the requests went out at) for each rate, distinct sentences so
    nothing is cached. Request i of a step goes out at i / rate seconds from its start (not a sleep of 1 / rate after
    each: that would fall behind by the time each send takes)."""
    out = []
    counter = 0
    client = LoadClient(base)
    loop = asyncio.get_running_loop()
    try:
        for rate in rates:
            results: list[tuple[int, float]] = []

            async def one(text: str, results: list[tuple[int, float]] = results) -> None:
                start = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(client.post("/api/analyze", {"text": text}), ANSWER_WITHIN_S)
                except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError):  # (a timeout is an OSError)
                    status = -1
                results.append((status, time.perf_counter() - start))

            tasks = []
            n = int(rate * seconds)
            begin = loop.time()
            for i in range(n):
                await asyncio.sleep(max(0.0, begin + i / rate - loop.time()))
                counter += 1
                tasks.append(asyncio.create_task(one(sentence(counter))))
            sent_rate = (n - 1) / (loop.time() - begin) if n > 1 else float(rate)
            await asyncio.gather(*tasks)
            ok = [t for s, t in results if s == 200]
            refused = sum(1 for s, _ in results if s == 503)
            out.append((rate, len(results), refused, pct(ok, 95), sent_rate))
            if refused:
                break
            await asyncio.sleep(1)
    finally:
        await client.aclose()
    return out


def children_mb(pid: int) -> list[float]:
    """The memory of each process `pid` started that runs Python code of ours (its helper processes; not
    multiprocessing's resource tracker, a few MB)."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [m for m in (rss_mb(int(k)) for k in kids) if m > 50]


def memory_at(mem: list[tuple[float, float]], t: float) -> float:
    """The server's memory at the first sample from t seconds on (or the last one)."""
    return next((m for s, m in mem if s >= t), mem[-1][1])


def run(quick: bool = False) -> str:
    # warm-up: long enough for the result cache to fill up to its bound (about 8 new sentences a second, about
    # 1 MB each, 512 MB: about 70 s); after it the memory must stay flat
    students, seconds, warm_up = (30, 20, 10) if quick else (100, 150, 90)
    cache_mb = Settings().result_cache_mb
    with serve() as (base, proc):
        result = asyncio.run(classroom(base, proc.pid, students, seconds))
        lat = result["latencies"]
        errors = sum(n for s, n in result["statuses"].items() if s != 200)
        mem = result["memory"]
        after = [m for t, m in mem if t >= warm_up] or [mem[-1][1]]
        growth = max(after) - after[0]
        p95 = pct(lat, 95) * 1000
        lines = ["## Classroom load\n",
                 f"{students} simulated students for {seconds} s against one `attnlab serve` (1 worker, default "
                 "settings): each sends POST /api/analyze every 2-5 s, 70% the teacher's sentence, 30% their own. "
                 f"The result cache keeps forward passes up to {cache_mb:g} MB; the first {warm_up} s fill it.\n",
                 "| what | value | target | |", "| --- | ---: | ---: | --- |",
                 f"| requests | {len(lat)} ({len(lat) / seconds:.1f}/s) | | |",
                 f"| errors (not 200) | {errors} {dict(result['statuses'])} | 0 | {verdict(errors, 0)} |",
                 f"| requests sent again on a new connection (the server had closed the idle one as they left) | "
                 f"{result['sent_again']} | | |",
                 f"| latency median | {statistics.median(lat) * 1000:.1f} ms | | |",
                 f"| latency p95 | {p95:.1f} ms | 500 ms | {verdict(p95, 500)} |",
                 f"| latency max | {max(lat) * 1000:.1f} ms | | |",
                 f"| server memory at 1 s, 10 s, {warm_up} s, {seconds} s | {memory_at(mem, 1):.0f}, "
                 f"{memory_at(mem, 10):.0f}, {memory_at(mem, warm_up):.0f}, {mem[-1][1]:.0f} MB | | |",
                 f"| growth after the warm-up ({warm_up}-{seconds} s, max minus first) | {growth:.0f} MB | flat "
                 f"(under 50 MB) | {'flat' if growth < 50 else 'grew'} |", ""]
        helpers = children_mb(proc.pid)
        lines.insert(-1, f"| helper processes' memory at {seconds} s (backend/overflow.py; not in the rows above) | "
                         f"{', '.join(f'{m:.0f}' for m in helpers) + ' MB' if helpers else 'none started'} | | |")
        single = statistics.median(asyncio.run(one_at_a_time(base, 10 if quick else 40)))
        rates = [10, 20, 40, 80, 150, 200, 300] if not quick else [20, 80, 150, 300]
        before = httpx.get(base + "/api/ready", timeout=10).json()
        steps = asyncio.run(ramp(base, rates))
        after = httpx.get(base + "/api/ready", timeout=10).json()
        lines += ["### Rising load of distinct sentences (nothing cached), 5 s per step\n",
                  f"The same kind of sentence one at a time (after the previous answer): median {single * 1000:.1f} ms. "
                  "The load comes from this process, on the same cores as the server, through one event loop on "
                  "kept-alive connections (tests.benchmarks.server.LoadClient, each answer read whole); each "
                  "request of a step leaves at its time on a fixed schedule (sent at: the rate they left at).\n",
                  "| rate | sent at | requests | 503 answers | p95 of the 200s | p95 / one at a time |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r}/s | {sent:.0f}/s | {n} | {refused} | {p * 1000:.0f} ms | {p / single:.1f} |"
                  for r, n, refused, p, sent in steps]
        sustained = max((r for r, _, refused, _, _ in steps if refused == 0), default=0)
        at = next((p for r, _, refused, p, _ in steps if r == TARGET_RATE and refused == 0), None)
        helped = after["helper_answers"] - before["helper_answers"]
        lines += ["", f"Answered by the server's helper processes ({after['helpers']}, default settings; "
                      f"backend/overflow.py): {helped} of the {sum(n for _, n, _, _, _ in steps)} requests of the rising "
                      "load; the rest by the server itself."]
        lines += ["", f"Target at {TARGET_RATE}/s: no 503 ({'met' if sustained >= TARGET_RATE else 'missed'}) and "
                  f"p95 at most 5x one at a time ("
                  f"{'not reached' if at is None else f'{at / single:.1f}x: ' + verdict(at / single, 5.0)})."]
        time.sleep(2)
        recovered = httpx.post(base + "/api/analyze", json={"text": TEACHER}, timeout=10).status_code
        lines += ["", f"Highest rate answered without a 503: {sustained}/s of uncached sentences. After the load "
                  f"stopped, the next request got {recovered}.", ""]
    return "\n".join(lines)
