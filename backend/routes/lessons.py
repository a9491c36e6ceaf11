"""GET /api/lessons: the lesson files, parsed; GET /api/share: the address students open, as a QR code."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from backend import schemas
from backend.deps import get_app_settings, get_service
from backend.lesson_steps import LessonNotFound, StepRequest, StepResolution, resolve_step, service_fetcher
from backend.lessons import LessonList, load_lessons
from backend.service import ModelService
from backend.settings import Settings
from backend.share import ALL_INTERFACES, MAX_QR_URL, ShareInfo, is_network_address, qr_svg, student_url
from backend.vocabulary import MAX_SHARE_VIEW
from backend.work import answer

router = APIRouter(tags=["lessons"], responses=schemas.ERROR_RESPONSES)
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/lessons", response_model=LessonList)
def lessons(settings: AppSettings) -> LessonList:
    """The guided lessons: every *.md file of the lessons folder (Settings.lessons_dir, ATTNLAB_LESSONS_DIR),
    read on every request, so that a lesson added as a file shows at the next page load. A file that cannot be
    read as a lesson is left out and named in `errors` with the reason. The format: frontend/lessons/README.md."""
    return load_lessons(settings.lessons_dir, settings.default_model)


def step_resolution(service: ModelService, lesson_id: str, number: int, req: StepRequest, lab=None) -> StepResolution:
    """The one resolver of a lesson step (backend/lesson_steps.py), with the models and lessons of this server:
    the route below and `attnlab lessons check` both call it. Raises LookupError for a lesson, step or model that
    does not exist."""
    found = load_lessons(service.settings.lessons_dir, service.settings.default_model)
    lesson = next((x for x in found.lessons if x.id == lesson_id), None)
    if lesson is None:
        bad = next((e.error for e in found.errors if e.file.endswith(f"{lesson_id}.md")), None)
        raise LessonNotFound(f"there is no lesson {lesson_id!r}" + (f" (its file cannot be read: {bad})" if bad else ""))
    return resolve_lesson_step(service, lesson, number, req, lab)


def resolve_lesson_step(service: ModelService, lesson, number: int, req: StepRequest, lab=None) -> StepResolution:
    """A parsed lesson's step resolved with this service's models (the route and the CLI)."""
    from backend.routes.meta import models as model_list

    models = [m.model_dump(mode="json") for m in model_list(service).models]
    return resolve_step(lesson, number, req, service_fetcher(service, lab), models, service.settings.default_model)


@router.post("/lessons/{lesson_id}/steps/{number}", response_model=StepResolution)
async def lesson_step(lesson_id: Annotated[str, Path(max_length=80, openapi_examples={
                          "next-word-prediction": {"value": "next-word-prediction"}})],
                      number: Annotated[int, Path(ge=1, le=1000, openapi_examples={"1": {"value": 1}})],
                      req: StepRequest, request: Request, service: Service) -> Response:
    """One lesson step resolved on a sentence and a model: whether the lesson applies to the model (else why, and a
    model to switch to), its roles (`@pronoun`, `@repeated/2`, ... found in the sentence, or one plain sentence
    when there is none), the settings it puts the page in (the query token, the heads switched off), its claims
    chosen on the live numbers, the text to show (roles replaced by token indices; the page fills its numbers),
    every number of that text read here with the request it comes from, and the problems (numbers that cannot be
    read). Selection fields left null take the step's own. The format: frontend/lessons/README.md."""
    if req.pn is not None:  # (the `positional` source's n, bounded as GET /api/positional's: refused before any work)
        service.check_positions_n(req.pn, "pn")
    lab = getattr(request.app.state, "lab", None)  # the training lab (the `labrun` source)
    return await answer(request, service, lambda: step_resolution(service, lesson_id, number, req, lab))


@router.get("/share", response_model=ShareInfo)
def share(request: Request, settings: AppSettings,
          view: Annotated[str, Query(max_length=MAX_SHARE_VIEW, description="the page's query string (without `?`), "
                                                                            "to open students on the same view")] = "",
          cut: Annotated[bool, Query(description="the page cut `view` to its lesson step (the whole was longer "
                                                 "than `view` takes): the note says the code opens less")] = False,
          ) -> ShareInfo:
    """The address students should open, and it as an SVG QR code (made here, nothing on the network). It is
    built from the server's own settings and addresses, never from the request's Host header: on all interfaces
    (`--host 0.0.0.0`) the network address this page was opened through (the socket's own), or this machine's
    network address when the page was opened on 127.0.0.1; else the address the server listens on."""
    local = request.scope.get("server") or (None, None)  # the socket's own address: (ip, port)
    port = local[1] or settings.port
    if settings.host in ALL_INTERFACES and local[0] and is_network_address(str(local[0])):
        base, reachable = f"http://{local[0]}:{port}/", True
    else:
        base, reachable = student_url(settings.host, port)
    if reachable:
        note = None
    elif settings.host in ALL_INTERFACES:
        note = "No network address was found on this machine: connect it to the classroom network."
    else:
        note = (f"The server listens on {settings.host} only, so other machines cannot open this address: "
                f"restart it with `make run HOST=0.0.0.0 PORT={port}` (or `.venv/bin/attnlab serve --host 0.0.0.0 "
                f"--port {port}`).")
    pairs = parse_qsl(view, keep_blank_values=False)
    url = base + (f"?{urlencode(pairs)}" if pairs else "")
    if len(url) > MAX_QR_URL or cut:
        short = [(k, v) for k, v in pairs if k in ("lesson", "step")]
        url = base + (f"?{urlencode(short)}" if short else "")
        extra = ("This view's address is too long for a QR code (a long sentence): the code opens "
                 + ("the lesson step" if short else "the start page") + ".")
        note = f"{note} {extra}" if note else extra
    return ShareInfo(url=url, base_url=base, reachable=reachable, note=note, qr_svg=qr_svg(url))
