"""Running one request's model work: in a worker thread, inside one slot of the service's limiter, stopped when the
client goes away, the answer serialised there (in pieces, backend/encode.py), bounded in size and gzipped there.

A model route is an `async def` that checks what it can at once and then hands its work to `answer()`:

    @router.post("/analyze", response_model=schemas.AnalyzeResponse)
    async def analyze(req: schemas.AnalyzeRequest, request: Request, service: Service) -> Response:
        return await answer(request, service, lambda: attention.analyze(service.run(...), ...))

Everything that costs (the forward passes, a continuation's passes, turning the cache into lists, the JSON, the
gzip) runs in the worker thread while it holds the slot, so at most max_concurrent_runs requests compute at once and
the event loop stays free for /api/health; that thread runs at a lower CPU priority than the loop. (The app's GZip
middleware would compress on the event loop: 71 ms for a SmolLM2 report of 7.4 MB on a busy machine, during which
no other request is answered; it passes an answer gzipped here as it is.) The route's `response_model` still
documents the answer in /docs.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import os
import sys
import threading
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.encode import dump
from backend.server import unsent_bytes
from backend.service import ModelService

WATCH_S = 0.2  # how often the event loop looks whether the client is still there
# GZIP_LEVEL 1: an /api/analyze answer of the default model at 79 tokens (565 KB of JSON) compresses to 114 KB in
# 3.5 ms of CPU, against 94 KB in 26 ms at level 6; that time is the server's on every uncached answer, while a
# classroom network carries the extra 20 KB in a few milliseconds. The app's GZip middleware uses the same level.
GZIP_LEVEL = 1
GZIP_MIN_BYTES = 1024  # smaller answers go as they are (the middleware's minimum_size)


# Model work runs at a lower CPU priority than the event loop (Linux: a thread's own nice value), so that on a busy
# machine the loop is scheduled first whenever it has something to do: /api/health, the page's files, 503s.
WORK_NICE = 5
_thread = threading.local()


def lower_priority() -> None:
    """Raise the calling thread's nice value by WORK_NICE, once per thread (a pool's threads are reused)."""
    if getattr(_thread, "niced", False) or sys.platform != "linux":
        return
    _thread.niced = True
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORK_NICE))
    except OSError:  # not allowed here: the work runs at the loop's priority, as before
        pass


def on_this_machine(scope: Scope) -> bool:
    """Whether the request's client is on this machine (a loopback address). Behind a proxy that uvicorn trusts
    (--forwarded-allow-ips), the client is the one the proxy names."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:  # not an address (a test client's name)
        return False


def gzipped(response: Response, accept_encoding: str) -> Response:
    """The response gzipped (in the calling thread) when the client accepts gzip and it is worth it; else as it is.
    zlib lets go of the GIL while it compresses, so other threads run meanwhile."""
    if ("gzip" not in accept_encoding.lower() or "content-encoding" in response.headers
            or len(response.body) < GZIP_MIN_BYTES):
        return response
    packed = gzip.compress(response.body, GZIP_LEVEL, mtime=0)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    headers.update({"content-encoding": "gzip", "vary": "Accept-Encoding"})
    return Response(packed, status_code=response.status_code, headers=headers, media_type=response.media_type)


async def answer(request: Request, service: ModelService, work: Callable[[], BaseModel | Response], *,
                 check: Callable[[], None] | None = None, elsewhere: Callable[[], bytes | None] | None = None,
                 too_big: str = "") -> Response:
    """Run work() in a worker thread within one slot (ModelService.work); a JSON answer over max_answer_mb is a 422
    whose detail ends with `too_big` (what to ask instead). check(), when given, runs first in the same thread
    without a slot: a limit it can tell from the request (it may load a model and tokenize, never run one).
    elsewhere(), when given, runs next: the answer's JSON bytes made in another process (backend/overflow.py), or
    None (then work() makes it here).
    Overloaded, Cancelled, ValueError and LookupError go to the app's handlers."""
    cancel = threading.Event()
    # over loopback the bytes cost nothing, while compressing and unpacking them costs both ends CPU (at 64 tokens of
    # the default model: 1.8 ms to pack 366 KB, 0.6 ms to unpack, against a 5.7 ms forward pass)
    accept = "" if on_this_machine(request.scope) else request.headers.get("accept-encoding", "")

    def sized(body: bytes) -> Response:
        service.check_answer_size(len(body), too_big)
        return Response(body, media_type="application/json")

    def in_thread() -> Response:
        lower_priority()
        if check is not None:
            check()
        body = elsewhere() if elsewhere is not None else None
        if body is not None:
            return gzipped(sized(body), accept)
        with service.work(cancel):
            result = work()
            if not isinstance(result, Response):
                # the bytes of model_dump_json(), in pieces: the GIL is never held for long
                result = sized(dump(result))
            return gzipped(result, accept)

    async def watch() -> None:
        # the first look after WATCH_S: most answers are made by then (each look costs a cancel scope of its own)
        while not cancel.is_set():
            await asyncio.sleep(WATCH_S)
            if await request.is_disconnected():
                cancel.set()
                return

    # a plain asyncio task, not an anyio task group: cancelling a group's scope formats the repr of the task that
    # cancels (anyio's message), 0.1 ms of the event loop's time on every answer
    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        response = await run_in_threadpool(in_thread)
    finally:
        watcher.cancel()
    # an answer stays in memory until its client has read it: while clients that read slowly hold max_unsent_mb,
    # a 503 (the pass is in the result cache: asking again costs little) rather than one more (backend/server.py)
    service.check_unsent(unsent_bytes())
    return response


class LoopLag:
    """How late the event loop runs: a task asks to wake every EVERY_S and keeps the most it woke late. That is how
    long anything the loop answers (/api/health, a 503) could have waited for it: a thread holding the GIL, a garbage
    collection, this process's threads not scheduled. GET /api/ready reports it (`loop_lag_ms`)."""

    EVERY_S = 0.05

    def __init__(self) -> None:
        self.worst_s = 0.0

    async def run(self) -> None:
        """Measure until cancelled, from 0 (the app's lifespan runs it from each start)."""
        loop = asyncio.get_running_loop()
        self.worst_s = 0.0
        while True:
            asked = loop.time()
            await asyncio.sleep(self.EVERY_S)
            self.worst_s = max(self.worst_s, loop.time() - asked - self.EVERY_S)


class RemoteGZipMiddleware(GZipMiddleware):
    """Starlette's GZip middleware for clients on other machines; a client on this one gets the bytes as they are
    (on_this_machine), as the model routes' answers do."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
        self.plain = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and on_this_machine(scope):
            await self.plain(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
