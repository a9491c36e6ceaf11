"""The training lab: start a run, follow it (Server-Sent Events, or polling), control it, use what it learned;
and the recorded training of a shipped model (its checkpoints, for a training-step slider)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from backend import schemas
from backend.analysis import roles
from backend.lab import ENDED, LabConflict, LabManager, LabNotFound, no_run
from backend.server import unsent_bytes
from backend.work import gzipped, on_this_machine
from models import replay
from models.config import POSITIONAL_SCHEMES
from models.lab import ROLES, SIZE_NOTES, SIZE_TITLES, SIZES, LabConfig
from models.tasks import TASKS, get_task

router = APIRouter(tags=["lab"], responses={**schemas.ERROR_RESPONSES,
                                            409: {"model": schemas.ErrorDetail,
                                                  "description": "the action does not fit the run's state"}})
STREAM_POLL_S = 0.1  # how often a stream looks for new records
HEARTBEAT_S = 5.0  # a comment line this often keeps proxies from closing a quiet stream


def get_lab(request: Request) -> LabManager:
    return request.app.state.lab


Lab = Annotated[LabManager, Depends(get_lab)]


RunKey = Annotated[str | None, Query(max_length=64, description="the run's key (its state's `key`): a run of this id "
                                                             "with another key is refused (404), as after a restart "
                                                             "of the server, which numbers its runs from 1 again")]


def _run_asked(run_id: int, lab: Lab, key: RunKey = None) -> int:
    """The run id of the path, where the run under it is the one asked for: with `key`, the run that has that key."""
    _call(lab.check_key, run_id, key)
    return run_id


RunId = Annotated[int, Depends(_run_asked)]  # a run's id, checked against the `key` asked with it


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except LabNotFound as e:
        raise HTTPException(404, str(e)) from None
    except LabConflict as e:
        raise HTTPException(409, str(e)) from None


def _state(state: dict, records: list[tuple[int, bytes]] = ()) -> schemas.LabRunState:
    return schemas.LabRunState(**state, records=[json.loads(data) for _, data in records])


def _config(req: schemas.LabRunRequest) -> LabConfig:
    return LabConfig(task=req.task, positional=req.positional, size=req.size, seed=req.seed, lr=req.lr,
                     batch_size=req.batch_size, record_every=req.record_every)


@router.get("/lab/options", response_model=schemas.LabOptions)
def options(lab: Lab) -> schemas.LabOptions:
    """What a run can be: the tasks (each with its description and fixed example), the positional schemes,
    the model sizes, the role scores recorded, the defaults and the server's limits."""
    s = lab.settings
    tasks = []
    for name in TASKS:
        task = get_task(name)
        tasks.append(schemas.LabTaskInfo(**task.to_dict(), example=lab.example(name)))
    return schemas.LabOptions(
        tasks=tasks, positional=list(POSITIONAL_SCHEMES),
        sizes=[schemas.LabSize(name=k, title=SIZE_TITLES[k], note=SIZE_NOTES.get(k), **v) for k, v in SIZES.items()],
        roles=[roles.definition(r) for r in ROLES], defaults=schemas.LabRunRequest(),
        limits=schemas.LabLimits(max_runs=s.lab_max_runs, max_queued=s.lab_max_queued, max_steps=s.lab_max_steps,
                                 max_seconds=s.lab_max_seconds, watch_timeout_s=s.lab_watch_timeout_s,
                                 max_paused_s=s.lab_max_paused_s, checkpoint_mb=s.lab_checkpoint_mb))


@router.post("/lab/runs", response_model=schemas.LabRunState, status_code=201)
def create(req: schemas.LabRunRequest, lab: Lab) -> schemas.LabRunState:
    """Start a training run. It trains in a worker process of its own; when `lab_max_runs` are training it waits
    in a queue (`status` "queued", `queue_position`), and when `lab_max_queued` wait already the answer is a 503.
    Follow it with GET /api/lab/runs/{id}/events (or poll GET /api/lab/runs/{id}): a run that no page watches
    for `lab_watch_timeout_s` is cancelled."""
    run = lab.create(_config(req), req.steps, req.paused)
    return _state(lab.state(run.id))


@router.get("/lab/runs", response_model=schemas.LabRunList)
def runs(lab: Lab) -> schemas.LabRunList:
    """The runs the server keeps (live ones and the most recent ended ones), without their records."""
    return schemas.LabRunList(runs=[schemas.LabRunState(**s) for s in lab.runs()])


# a poll's answer is made one at a time (tens of milliseconds for the largest), so that each looks at what the ones
# before it left unread: made side by side, twelve polls of 46 MB that arrived together all passed the check
_ONE_AT_A_TIME = threading.Lock()


def _check_unsent(request: Request) -> None:
    """The lab's largest answers (a run's records, its weights) wait in memory until their clients read them, as a
    model route's do: past max_unsent_mb over all connections, a 503 with Retry-After (backend/work.py)."""
    request.app.state.service.check_unsent(unsent_bytes())


@router.get("/lab/runs/{run_id}", response_model=schemas.LabRunState)
def poll(run_id: RunId, lab: Lab, request: Request,
         after: Annotated[int, Query(ge=-1, description="the last record index the page has; -1: send all")] = -1
         ) -> Response:
    """The run's state and its records after `after`: the polling fallback of the event stream (each poll counts
    as the page watching the run, answered or not). The records are those the event stream sends, as recorded (all
    of a long run: tens of MB); while answers not read yet hold more than `max_unsent_mb`, a 503 with Retry-After."""
    _call(lab.touch, run_id)
    with _ONE_AT_A_TIME:
        _check_unsent(request)
        state, records = _call(lab.since, run_id, after + 1)
        # the records as they were recorded (each is a LabRecord's JSON, as the event stream sends it), not parsed,
        # validated and written again: for 850 records of 67 KB that made 75 MB more and took 0.2 s per poll
        head = schemas.LabRunState(**state).model_dump_json(exclude={"records"}).encode()
        body = b"".join([head[:-1], b',"records":[', b",".join(data for _, data in records), b"]}"])
    # gzipped here, in this worker thread, for a client on another machine (the app's GZip middleware would do it on
    # the event loop, which answers every other request meanwhile: tens of MB take it a few hundred milliseconds)
    accept = "" if on_this_machine(request.scope) else request.headers.get("accept-encoding", "")
    return gzipped(Response(body, media_type="application/json"), accept)


@router.get("/lab/runs/{run_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-Sent Events: `state` (a LabRunState without records) when the "
                                            "state changes, `record` (a LabRecord; the event id is its index) for "
                                            "each record, `end` (the final LabRunState) when the run has ended and "
                                            "every record is sent; then the stream closes."}})
async def events(run_id: RunId, request: Request, lab: Lab,
                 after: Annotated[int, Query(ge=-1, description="the last record index the page has")] = -1,
                 last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """The run's progress as Server-Sent Events. On reconnecting, the browser's Last-Event-ID (or `after`)
    resumes after the last record it had. While a stream is open the run counts as watched; when the last one
    closes and no poll comes within `lab_watch_timeout_s`, the run is cancelled. At most `lab_max_streams` streams
    are open at once over all runs: one more is a 503 with Retry-After (poll the run instead)."""
    if last_event_id is not None and last_event_id.strip().isdigit():
        after = max(after, int(last_event_id))
    _call(lab.open_stream, run_id)

    async def stream() -> AsyncIterator[str]:
        cursor, version, beat = after + 1, None, time.monotonic()
        try:
            yield "retry: 1000\n\n"
            while True:
                state, records = lab.since(run_id, cursor)
                for index, data in records:
                    yield f"id: {index}\nevent: record\ndata: {data.decode()}\n\n"
                    cursor = index + 1
                if state["version"] != version:
                    version = state["version"]
                    yield f"event: state\ndata: {schemas.LabRunState(**state).model_dump_json()}\n\n"
                if state["status"] in ENDED and cursor >= state["n_records"]:
                    yield f"event: end\ndata: {schemas.LabRunState(**state).model_dump_json()}\n\n"
                    return
                if time.monotonic() - beat > HEARTBEAT_S:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(STREAM_POLL_S)
        except LabNotFound:
            return  # the run was forgotten
        finally:
            lab.close_stream(run_id)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


@router.get("/lab/summary", response_model=schemas.LabRunSummary)
def summary(lab: Lab,
            run: Annotated[int | None, Query(ge=0, description="a run's id; absent: the summary of no run")] = None,
            records: Annotated[int | None, Query(ge=0, description="summarise the run's first this many records; "
                                                                  "absent: all of them now")] = None,
            key: RunKey = None) -> schemas.LabRunSummary:
    """What a run reached: the first record whose training loss is below the lab's loss threshold, the first at
    which a head's induction score reaches the lab's threshold (step, seconds, head, loss then), and the last record's
    numbers, with the thresholds. The lessons on the training lab quote it (their `labrun` source)."""
    if run is None:
        return schemas.LabRunSummary(**no_run())
    _call(lab.check_key, run, key)
    return schemas.LabRunSummary(**_call(lab.summary, run, records))


@router.post("/lab/runs/{run_id}/pause", response_model=schemas.LabRunState)
def pause(run_id: RunId, lab: Lab) -> schemas.LabRunState:
    """Pause a running run (its worker keeps the model; a record of the current step is made)."""
    return _state(_call(lab.pause, run_id))


@router.post("/lab/runs/{run_id}/resume", response_model=schemas.LabRunState)
def resume(run_id: RunId, lab: Lab) -> schemas.LabRunState:
    """Resume a paused run."""
    return _state(_call(lab.resume, run_id))


@router.post("/lab/runs/{run_id}/step", response_model=schemas.LabRunState)
def step(run_id: RunId, req: schemas.LabStepRequest, lab: Lab) -> schemas.LabRunState:
    """Train a paused run `n` more steps; it records the step it reaches and stays paused."""
    return _state(_call(lab.step, run_id, req.n))


@router.post("/lab/runs/{run_id}/reset", response_model=schemas.LabRunState)
def reset(run_id: RunId, lab: Lab, req: schemas.LabResetRequest | None = None) -> schemas.LabRunState:
    """Start again from step 0 with the same settings (and a new `seed` if given), as a new run: the answer is
    the new run (follow its id); the old one ends with status "reset" and `replaced_by`. A live run hands its
    worker to the new one while no other run waits; else (and for an ended run) the new run queues like any other,
    behind the runs waiting (a 503 when the queue is full: the live run then goes on)."""
    new = _call(lab.reset, run_id, None if req is None else req.seed)
    return _state(lab.state(new.id))


@router.post("/lab/runs/{run_id}/cancel", response_model=schemas.LabRunState)
def cancel(run_id: RunId, lab: Lab,
           left: Annotated[bool, Query(description="sent by a page that goes away (closed or reloaded): the "
                                                   "reason says so")] = False) -> schemas.LabRunState:
    """Stop the run and its worker process. Its records and checkpoints stay (register or download them)."""
    reason = "its page was closed or reloaded" if left else "cancelled from the page"
    return _state(_call(lab.cancel, run_id, reason))


@router.post("/lab/runs/{run_id}/register", response_model=schemas.LabRegistered)
def register(run_id: RunId, lab: Lab, req: schemas.LabRegisterRequest | None = None) -> schemas.LabRegistered:
    """Register the run's weights at a kept step (default: the latest) as the model `lab-<run>@<step>`, for the life
    of the server: every view of the explorer then takes it as `model`."""
    name = _call(lab.register, run_id, None if req is None else req.step)
    return schemas.LabRegistered(model=name, run=run_id, step=int(name.rsplit("@", 1)[1]))


@router.get("/lab/runs/{run_id}/files", response_class=Response,
            responses={200: {"content": {"application/zip": {}},
                             "description": "a zip of one folder: model.safetensors, tokenizer.json, card.json"}})
def files(run_id: RunId, lab: Lab, request: Request,
          step: Annotated[int | None, Query(ge=0, description="a kept step; absent: the latest")] = None) -> Response:
    """The run's weights at a kept step as the files `attnlab train` writes (`attnlab lab save` fetches them);
    while answers not read yet hold more than `max_unsent_mb`, a 503 with Retry-After."""
    _check_unsent(request)
    name, data = _call(lab.files, run_id, step)
    return Response(data, media_type="application/zip",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/models/{name}/training", response_model=schemas.ModelTraining)
def training(name: str) -> schemas.ModelTraining:
    """A model's recorded training: each checkpoint's step, the model name that loads it (NAME@STEP) and its
    validation loss, and the training loss of every step (for a training-step slider)."""
    try:
        return schemas.ModelTraining(**replay.training(name))
    except KeyError as e:
        raise HTTPException(404, e.args[0]) from None
