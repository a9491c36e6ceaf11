"""Running one request's model work: in a worker thread, inside one slot of the service's limiter, stopped when the
client goes away, the answer serialised there (in pieces, backend/encode.py) and bounded in size.

A model route is an `async def` that checks what it can at once and then hands its work to `answer()`:

    @router.post("/analyze", response_model=schemas.AnalyzeResponse)
    async def analyze(req: schemas.AnalyzeRequest, request: Request, service: Service) -> Response:
        return await answer(request, service, lambda: attention.analyze(service.run(...), ...))

Everything that costs (the forward passes, a continuation's passes, turning the cache into lists, the JSON) runs
in the worker thread while it holds the slot, so at most max_concurrent_runs requests compute at once and the
event loop stays free for /api/health. The route's `response_model` still documents the answer in /docs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from backend.encode import dump
from backend.service import ModelService

WATCH_S = 0.2  # how often the event loop looks whether the client is still there


async def answer(request: Request, service: ModelService, work: Callable[[], BaseModel | Response], *,
                 check: Callable[[], None] | None = None, too_big: str = "") -> Response:
    """Run work() in a worker thread within one slot (ModelService.work); a JSON answer over max_answer_mb is a 422
    whose detail ends with `too_big` (what to ask instead). check(), when given, runs first in the same thread
    without a slot: a limit it can tell from the request (it may load a model and tokenize, never run one).
    Overloaded, Cancelled, ValueError and LookupError go to the app's handlers."""
    cancel = threading.Event()

    def in_thread() -> Response:
        if check is not None:
            check()
        with service.work(cancel):
            result = work()
            if isinstance(result, Response):
                return result
            body = dump(result)  # the bytes of model_dump_json(), in pieces: the GIL is never held for long
            service.check_answer_size(len(body), too_big)
            return Response(body, media_type="application/json")

    async def watch() -> None:
        while not cancel.is_set():
            if await request.is_disconnected():
                cancel.set()
                return
            await anyio.sleep(WATCH_S)

    result: Response | None = None
    error: Exception | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            result = await run_in_threadpool(in_thread)
        except Exception as e:  # raised outside the task group, so the app's handlers see it as it is
            error = e
        finally:
            tasks.cancel_scope.cancel()
    if error is not None:
        raise error
    assert result is not None
    return result
