"""Start `attnlab serve` on a free port in a subprocess, for benchmarks that need a real server; a lean client for
timing its answers."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager

import orjson

from tests.ports import free_port


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Seconds until GET url answers 200."""
    start = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"no 200 from {url} within {timeout} s")
        time.sleep(0.02)


@contextmanager
def serve(extra_env: dict[str, str] | None = None, timeout: float = 60):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/api/health", proc, timeout)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """POST JSON and parse the answer, on one kept-alive connection, as a browser's fetch and JSON.parse do: the
    timed client costs as little of the round trip as Python allows. http.client sends a small request's head and body
    in one write and reads a body of known length in one call; httpx, in pure Python, costs more per answer (the HTTP
    benchmark times both). The answers are parsed by orjson, as fast as a browser's JSON.parse."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)

    def post_raw(self, path: str, body: dict) -> tuple[int, bytes]:
        data = orjson.dumps(body)
        try:
            return self._send(path, data)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()  # an idle connection the server closed (keep_alive_s): once more on a new one
            return self._send(path, data)

    def _send(self, path: str, data: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json",
                                                             "Accept-Encoding": "gzip"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def post(self, path: str, body: dict) -> object:
        """The parsed answer; an error status raises."""
        status, content = self.post_raw(path, body)
        if status != 200:
            raise RuntimeError(f"POST {path}: {status} {content[:300]!r}")
        return orjson.loads(content)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
