"""GET /api/lessons: the lesson files, parsed; GET /api/share: the address students open, as a QR code."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request

from backend import schemas
from backend.deps import get_app_settings
from backend.lessons import LessonList, load_lessons
from backend.settings import Settings
from backend.share import LOOPBACK_HOSTS, MAX_QR_URL, ShareInfo, qr_svg, student_url

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
    """The address students should open, and it as an SVG QR code (made here, nothing on the network). A page
    opened on this machine (127.0.0.1) shares this machine's network address; one opened through the network
    shares the address it was opened with."""
    port = request.url.port or settings.port
    seen_host = (request.url.hostname or "").strip("[]")
    if seen_host and seen_host not in LOOPBACK_HOSTS and not seen_host.startswith("127."):
        base, reachable = student_url(seen_host, port)
        note = None
    else:
        base, reachable = student_url(settings.host, port)
        if reachable:
            note = None
        elif settings.host in ("0.0.0.0", "::"):
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
