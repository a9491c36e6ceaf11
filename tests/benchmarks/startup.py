"""From `attnlab serve` to the first 200 on /api/health, and the first page load in Chromium."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from tests.benchmarks.common import verdict
from tests.benchmarks.server import free_port, serve, wait_healthy

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def time_to_health(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        port = free_port()
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", str(port),
                                 "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            wait_healthy(f"http://127.0.0.1:{port}/api/health", proc)
            out.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def first_page_load(runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with serve() as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(runs):
                context = browser.new_context()  # a cold cache every time
                page = context.new_page()
                start = time.perf_counter()
                page.goto(base + "/", wait_until="load")
                out.append(time.perf_counter() - start)
                context.close()
        finally:
            browser.close()
    return out


def run(quick: bool = False) -> str:
    health = time_to_health(5 if quick else 20)
    lines = ["## Start-up\n", "| what | median | min-max | runs | target | |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    med = statistics.median(health)
    lines.append(f"| `attnlab serve` to first 200 on /api/health | {med:.2f} s | {min(health):.2f}-{max(health):.2f} s "
                 f"| {len(health)} | 3 s | {verdict(med, 3.0)} |")
    try:
        page = first_page_load(5 if quick else 20)
        med = statistics.median(page)
        lines.append(f"| first page load (cold cache, plotly.js included and packed, gzip accepted) | {med:.2f} s | "
                     f"{min(page):.2f}-{max(page):.2f} s | {len(page)} | 1.5 s | {verdict(med, 1.5)} |")
    except Exception as e:  # no Chromium or Playwright: say so in the table
        lines.append(f"| first page load | not measured: {type(e).__name__}: {e} | | | 1.5 s | |")
    return "\n".join(lines) + "\n"
