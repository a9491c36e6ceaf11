"""Start `attnlab serve` on a free port in a subprocess, for benchmarks that need a real server; lean clients for
timing its answers (Client) and for loading it from one event loop (LoadClient)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager

import numpy as np
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


# what both clients send with each POST, as the page's fetch does: JSON, and gzip accepted
HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}


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


def as_the_page_holds(answer: object) -> object:
    """A parsed answer with its packed attention (/api/analyze with `packed`) decoded into whole rows, as the page's
    data layer does (frontend/js/derive.js wholeRows): here into a numpy array, 0.40 ms for the default model's 33,280
    weights at 64 tokens, where the page's nested arrays take 0.36 ms in Node's V8 (JSON.parse of the same weights as
    lists and their rows made whole: 1.5 ms)."""
    packed = answer.get("attention_packed") if isinstance(answer, dict) else None
    if packed:
        ints = np.frombuffer(base64.b64decode(packed["data"]), dtype="<u2")
        shape = packed["shape"]
        whole = np.zeros(shape)  # [layer, head, query, key]
        if packed["rows"] == "visible":
            seen = np.arange(shape[-1]) < np.asarray(answer["visible"])[:, None]  # [query, key]
            whole[..., seen] = ints.reshape(*shape[:2], int(seen.sum())) / packed["scale"]
        else:
            whole[...] = ints.reshape(shape) / packed["scale"]
        answer["attention"] = whole
    return answer


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
        self.conn.request("POST", path, body=data, headers=HEADERS)
        r = self.conn.getresponse()
        return r.status, r.read()

    def post(self, path: str, body: dict) -> object:
        """The parsed answer; an error status raises."""
        status, content = self.post_raw(path, body)
        if status != 200:
            raise RuntimeError(f"POST {path}: {status} {content[:300]!r}")
        return as_the_page_holds(orjson.loads(content))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LoadClient:
    """POSTs from one event loop, for a load generator on the server's own cores: each request on a kept-alive
    connection that no other request is using (a new one where all are busy, as a browser opens them), its answer read
    whole (status, head, body of the stated length). Written on asyncio's streams: httpx's AsyncClient costs the
    shared cores about 2.5 ms of CPU per request (measured at 100/s), which the server then lacks."""

    RETRIED = (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError)

    def __init__(self, base: str) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        data = orjson.dumps(body)
        head = {"Host": f"{self.host}:{self.port}", **HEADERS, "Content-Length": str(len(data))}
        request = (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + data
        if self._idle:
            conn = self._idle.pop()
            try:
                return await self._send(conn, request)
            except self.RETRIED:  # an idle connection the server closed (keep_alive_s): once more on a new one
                pass
        return await self._send(await asyncio.open_connection(self.host, self.port), request)

    async def _send(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> tuple[int, bytes]:
        reader, writer = conn
        try:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise asyncio.IncompleteReadError(b"", None)
            status, length, close = int(status_line.split()[1]), None, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
                elif name == b"transfer-encoding":
                    raise RuntimeError("an answer without a length (chunked): this client reads none")
            content = await reader.readexactly(length or 0)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self._idle.append(conn)
        return status, content

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
