"""GET /api/lessons: the lesson files, parsed; GET /api/share: the address students open, as a QR code."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request

from backend import schemas
from backend.deps import get_app_settings
from backend.lessons import LessonList, load_lessons
from backend.settings import Settings
from backend.share import ALL_INTERFACES, MAX_QR_URL, ShareInfo, is_network_address, qr_svg, student_url

router = APIRouter(tags=["lessons"], responses=schemas.ERROR_RESPONSES)
AppSettings = Annotated[Settings, Depends(get_app_settings)]


@router.get("/lessons", response_model=LessonList)
def lessons(settings: AppSettings) -> LessonList:
    """The guided lessons: every *.md file of the lessons folder (Settings.lessons_dir, ATTNLAB_LESSONS_DIR),
    read on every request, so that a lesson added as a file shows at the next page load. A file that cannot be
    read as a lesson is left out and named in `errors` with the reason. The format: frontend/lessons/README.md."""
    return load_lessons(settings.lessons_dir, settings.default_model)


@router.get("/share", response_model=ShareInfo)
def share(request: Request, settings: AppSettings,
          view: Annotated[str, Query(max_length=4000, description="the page's query string (without `?`), to "
                                                                  "open students on the same view")] = "") -> ShareInfo:
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
                "restart it with `attnlab serve --host 0.0.0.0`.")
    pairs = parse_qsl(view, keep_blank_values=False)
    url = base + (f"?{urlencode(pairs)}" if pairs else "")
    if len(url) > MAX_QR_URL:
        short = [(k, v) for k, v in pairs if k in ("lesson", "step")]
        url = base + (f"?{urlencode(short)}" if short else "")
        extra = ("This view's address is too long for a QR code (a long sentence): the code opens "
                 + ("the lesson step" if short else "the start page") + ".")
        note = f"{note} {extra}" if note else extra
    return ShareInfo(url=url, base_url=base, reachable=reachable, note=note, qr_svg=qr_svg(url))
