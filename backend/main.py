"""create_app(): the FastAPI application, its lifespan, routers and static files."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import threading
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import figures, schemas
from backend.alloc import tune_allocator, tune_gc, tune_switch_interval
from backend.lab import LabManager
from backend.lesson_steps import LessonNotFound
from backend.middleware import GuardMiddleware, HeadMiddleware, HostMiddleware
from backend.overflow import Overflow
from backend.routes import attention, attribution, embeddings, lab, lessons, meta, position_lab, positional, predict, report, roles
from backend.routes.report import Forbidden
from backend.service import (
    Cancelled,
    ModelLoadFailed,
    ModelLoading,
    ModelNotInstalled,
    ModelService,
    Overloaded,
    TextTooLong,
    UnknownModel,
)
from backend.settings import Settings, get_settings, torch_threads
from backend.share import host_form, machine_hosts, with_final_dots
from backend.work import LoopLag, RemoteGZipMiddleware

log = logging.getLogger("attnlab")
FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
STATIC = Path(__file__).resolve().parent / "static"


def plotly_js() -> Path:
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


class Precompressed:
    """A large static file gzipped once (not on every request, as the GZip middleware would), with an ETag so
    that a browser that has it asks with If-None-Match and gets a 304. Made lazily, once, under a lock."""

    def __init__(self, path: Path, media_type: str):
        self.path, self.media_type = path, media_type
        self._lock = threading.Lock()
        self._made: tuple[bytes, bytes, str] | None = None  # (raw, gzipped, etag)

    def made(self) -> tuple[bytes, bytes, str]:
        if self._made is not None:
            return self._made
        with self._lock:
            if self._made is None:
                raw = self.path.read_bytes()
                self._made = (raw, gzip.compress(raw, 9, mtime=0), f'"{hashlib.sha256(raw).hexdigest()[:32]}"')
            return self._made

    def response(self, request: Request) -> Response:
        raw, packed, etag = self.made()
        headers = {"etag": etag, "cache-control": "no-cache", "vary": "accept-encoding"}  # no-cache: ask, then 304
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(packed, media_type=self.media_type, headers={**headers, "content-encoding": "gzip"})
        return Response(raw, media_type=self.media_type, headers=headers)


def swagger_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


# the routes whose answer is JSON made by backend.work.answer (bounded by max_answer_mb)
JSON_MODEL_ROUTES = ("/api/analyze", "/api/qkv", "/api/attention/explain", "/api/compare", "/api/embeddings",
                     "/api/embeddings/neighbors", "/api/embeddings/analogy", "/api/positional",
                     "/api/positional/decompose", "/api/predict")


def _document_limits(schema: dict, settings: Settings, models: list[str]) -> dict:
    """Write the limits of `settings` and the model names into the OpenAPI schema, so /docs shows them."""
    limits = {"text": {"minLength": 1, "maxLength": settings.max_text_chars, "pattern": r"\S"},
              "a": {"minLength": 1, "pattern": r"\S"}, "b": {"minLength": 1, "pattern": r"\S"},
              "c": {"minLength": 1, "pattern": r"\S"},
              "top_k": {"maximum": settings.max_top_k}, "temperature": {"maximum": settings.max_temperature},
              "continue_tokens": {"maximum": settings.max_continue_tokens}, "k": {"maximum": settings.max_neighbors},
              "n": {"maximum": settings.max_positions_n}, "word": {"minLength": 1, "pattern": r"\S"},
              "length": {"maximum": settings.max_probe_length}, "models": {"maxItems": settings.max_role_models}}
    answers = (f" At most {settings.max_answer_mb:g} MB of JSON (max_answer_mb, ATTNLAB_MAX_ANSWER_MB): past it, a 422 "
               "that says what to ask for instead.")
    info = schema.setdefault("info", {})
    info["description"] = info.get("description", "") + (
        "\n\nLimits (each an `ATTNLAB_*` setting; past one, a 422 that names it): every request that does model "
        f"work holds one of {settings.max_concurrent_runs} slots (ATTNLAB_MAX_CONCURRENT_RUNS) for all of it, a "
        f"continuation's passes included; at most {settings.max_queued_runs} wait (ATTNLAB_MAX_QUEUED_RUNS), each "
        f"at most {settings.queue_timeout_s:g} s (ATTNLAB_QUEUE_TIMEOUT_S); past that, 503 with Retry-After. A request "
        f"body holds at most {settings.max_body_bytes:,} bytes (ATTNLAB_MAX_BODY_BYTES; 413). A JSON answer holds at "
        f"most {settings.max_answer_mb:g} MB (ATTNLAB_MAX_ANSWER_MB), a report {settings.max_report_weights:,} "
        f"attention weights (ATTNLAB_MAX_REPORT_WEIGHTS), a comparison {settings.max_compare_weights:,} "
        "(ATTNLAB_MAX_COMPARE_WEIGHTS). A request whose Host header is not one of the server's own names "
        "(127.0.0.1, localhost, [::1]; on all interfaces this machine's names and addresses; ATTNLAB_ALLOWED_HOSTS) "
        "gets 400. GET /api/health always answers at once; GET /api/ready says whether the server can take work.")
    paths = schema.get("paths", {})
    for path in JSON_MODEL_ROUTES:
        for op in paths.get(path, {}).values():
            op["description"] = op.get("description", "") + answers
    compare = paths.get("/api/compare", {}).get("post")
    if compare:
        compare["description"] = compare.get("description", "").replace(
            "`max_compare_weights`", f"`max_compare_weights` ({settings.max_compare_weights:,})")
    report_op = paths.get("/api/report", {}).get("get")
    if report_op:
        report_op["description"] = report_op.get("description", "").replace(
            "`max_report_weights`", f"`max_report_weights` ({settings.max_report_weights:,})")

    def patch(prop_name: str, prop: dict) -> None:
        if prop_name in limits:
            prop.update(limits[prop_name])
        if prop_name == "model" and "anyOf" in prop:
            for option in prop["anyOf"]:
                if option.get("type") == "string":
                    option["enum"] = models

    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if name == "StepRequest":  # the page's selection, whose text, word and a, b, c it resolves a step on as they
            # are (blank ones included: the step says what it cannot read), so none of the limits above is enforced
            for prop_name, prop in component.get("properties", {}).items():
                if prop_name == "model":
                    patch(prop_name, prop)
        elif name.endswith("Request") or name in ("CompareSide", "ProbeSpec"):
            for prop_name, prop in component.get("properties", {}).items():
                patch(prop_name, prop)
    for item in schema.get("paths", {}).values():
        for op in item.values():
            for param in op.get("parameters", []):
                patch(param["name"], param.get("schema", {}))
    return schema


def allowed_hosts(settings: Settings) -> set[str]:
    """The Host names this server answers: 127.0.0.1, localhost and [::1]; on all interfaces this machine's own
    names and addresses too; and settings.allowed_hosts ("*": any)."""
    return machine_hosts(settings.host) | with_final_dots({host_form(h) for h in settings.allowed_hosts})


def _answer_with(status: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": str(exc)})
    return handler


def prepare_routes(app: FastAPI) -> None:
    """Each route's parameters and body made into pydantic fields now. FastAPI (0.137 and newer) makes those of an
    included router on the first request that reaches it, in the event loop: 50-60 ms of schema building on this
    machine for /api/report's or /api/compare's router, during which no other request is answered."""
    for route in app.router.routes:
        for _ in getattr(route, "effective_route_contexts", tuple)():
            pass


def create_app(settings: Settings | None = None, service: ModelService | None = None) -> FastAPI:
    settings = settings or get_settings()
    # models other than the default load in the background: a request never waits long on a load (see service.py)
    service = service or ModelService(settings, background_loads=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if tune_allocator():  # before the first forward pass and before the thread pool allocates
            log.info("allocator: freed buffers kept for reuse, at most 2 arenas (backend/alloc.py)")
        tune_gc()  # fewer collections, each a pause of every thread (backend/alloc.py)
        tune_switch_interval()  # the event loop gets the GIL back sooner from the model threads (backend/alloc.py)
        threading.Thread(target=plotly_file.made, name="gzip plotly.js", daemon=True).start()  # ready for the first page
        figures.warm()  # plotly's validators read now, and frozen out of the collector with the default model below
        log.info("%d torch thread(s) per forward pass, %d passes at once", torch_threads(settings),
                 settings.max_concurrent_runs)
        loaded = service.load_now(settings.default_model)  # before the server answers
        log.info("default model %s loaded (%s parameters)", loaded.name, f"{loaded.info.params:,}")
        service.models()  # every model's card and package looked up once, so a first request for one is quick
        prepare_routes(app)
        if app.state.lab.closed:  # the app started again after a shutdown (as a test client does)
            app.state.lab = LabManager(settings)
        lag = asyncio.get_running_loop().create_task(app.state.loop_lag.run())
        yield
        lag.cancel()
        app.state.lab.shutdown()  # the training lab's worker processes
        app.state.overflow.shutdown()  # the helper processes

    app = FastAPI(title="Attention Lab", version="0.2.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="What a small transformer does with your sentence: tokens, attention, Q/K/V, "
                              "embeddings, positional encoding and next-word prediction, from the model's own "
                              "intermediates.")
    app.state.settings = settings
    app.state.service = service
    app.state.loop_lag = LoopLag()  # measured while the app runs (its lifespan runs it)
    app.state.lab = LabManager(settings)
    app.state.overflow = Overflow(settings)  # helper processes, started when a load of new sentences needs them

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": schemas.validation_message(exc.errors())})

    # errors a request can cause, each answered {"detail": its message} with its status (499: the client went away
    # and nobody reads it, "client closed request" as nginx logs it)
    for error, status in ((ValueError, 422), (UnknownModel, 404), (ModelNotInstalled, 422), (Forbidden, 403),
                          (Cancelled, 499), (ModelLoadFailed, 503), (LessonNotFound, 404)):
        app.add_exception_handler(error, _answer_with(status))

    @app.exception_handler(TextTooLong)
    async def too_long(request: Request, exc: TextTooLong) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc), **exc.fields()})

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        content: dict = {"detail": str(exc)}
        if isinstance(exc, ModelLoading):
            content.update(loading=exc.model, progress=exc.progress)
        return JSONResponse(status_code=503, content=content, headers={"Retry-After": str(exc.retry_after)})

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _document_limits(base, settings, [m.name for m in service.models() if m.available])
        return app.openapi_schema

    app.openapi = openapi

    routers = (meta.router, attention.router, embeddings.router, positional.router, predict.router, report.router,
               lessons.router, attribution.router, roles.router, position_lab.router, lab.router)
    for router in routers:
        app.include_router(router, prefix="/api")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and request.url.path.startswith("/api/"):
            # a path served by two routes (GET and POST /api/lab/runs): Allow names the methods of both, not only
            # those of the route that matched first
            path = request.url.path.removeprefix("/api")
            methods = {m for r in routers for route in r.routes if isinstance(route, APIRoute)
                       and route.path_regex.match(path) for m in route.methods}
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)

    plotly_file = Precompressed(plotly_js(), "text/javascript")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly(request: Request) -> Response:
        return plotly_file.response(request)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse((STATIC / "docs.html").read_text(encoding="utf-8"))

    app.mount("/vendor/swagger", StaticFiles(directory=swagger_dir()), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["content-type"])
    # the answers of the model routes come gzipped from their worker thread (backend/work.py), which the middleware
    # passes as they are; it compresses the rest (small answers, the page's files) at the same level; a client on
    # this machine gets every answer as it is
    app.add_middleware(RemoteGZipMiddleware)
    app.add_middleware(HostMiddleware, allowed=allowed_hosts(settings))
    app.add_middleware(GuardMiddleware, max_body=settings.max_body_bytes)
    app.add_middleware(HeadMiddleware)
    if (FRONTEND / "index.html").is_file():
        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(FRONTEND / "index.html", media_type="text/html")

        # each folder of the page at its own path, so that /api/... is never shadowed by static files
        for folder in sorted(p for p in FRONTEND.iterdir() if p.is_dir()):
            app.mount(f"/{folder.name}", StaticFiles(directory=folder), name=f"frontend-{folder.name}")
    else:
        log.warning("no frontend at %s: serving the API only", FRONTEND)
    return app
