"""create_app(): the FastAPI application, its lifespan, routers and static files."""

from __future__ import annotations

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
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from backend.alloc import tune_allocator
from backend.middleware import GuardMiddleware
from backend.lab import LabManager
from backend.routes import attention, embeddings, lab, lessons, meta, positional, predict, report
from backend.service import ModelNotInstalled, ModelService, Overloaded, UnknownModel
from backend.settings import Settings, get_settings

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


def _readable(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'decode error')})")
            continue
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        loc = ".".join(str(p) for p in loc)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else f"the request body: {msg}")
    return "; ".join(parts) or "invalid request"


def _document_limits(schema: dict, settings: Settings, models: list[str]) -> dict:
    """Write the limits of `settings` and the model names into the OpenAPI schema, so /docs shows them."""
    limits = {"text": {"minLength": 1, "maxLength": settings.max_text_chars, "pattern": r"\S"},
              "a": {"minLength": 1, "pattern": r"\S"}, "b": {"minLength": 1, "pattern": r"\S"},
              "c": {"minLength": 1, "pattern": r"\S"},
              "top_k": {"maximum": settings.max_top_k}, "temperature": {"maximum": settings.max_temperature},
              "continue_tokens": {"maximum": settings.max_continue_tokens}, "k": {"maximum": settings.max_neighbors},
              "n": {"maximum": settings.max_positions_n}, "word": {"minLength": 1, "pattern": r"\S"}}

    def patch(prop_name: str, prop: dict) -> None:
        if prop_name in limits:
            prop.update(limits[prop_name])
        if prop_name == "model" and "anyOf" in prop:
            for option in prop["anyOf"]:
                if option.get("type") == "string":
                    option["enum"] = models

    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") or name == "CompareSide":
            for prop_name, prop in component.get("properties", {}).items():
                patch(prop_name, prop)
    for item in schema.get("paths", {}).values():
        for op in item.values():
            for param in op.get("parameters", []):
                patch(param["name"], param.get("schema", {}))
    return schema


def create_app(settings: Settings | None = None, service: ModelService | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = service or ModelService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if tune_allocator():  # before the first forward pass and before the thread pool allocates
            log.info("allocator: freed buffers kept for reuse, at most 2 arenas (backend/alloc.py)")
        threading.Thread(target=plotly_file.made, name="gzip plotly.js", daemon=True).start()  # ready for the first page
        loaded = service.get(settings.default_model)
        log.info("default model %s loaded (%s parameters)", loaded.name, f"{loaded.info.params:,}")
        yield
        app.state.lab.shutdown()  # the training lab's worker processes

    app = FastAPI(title="Attention Lab", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="What a small transformer does with your sentence: tokens, attention, Q/K/V, "
                              "embeddings, positional encoding and next-word prediction, from the model's own "
                              "intermediates.")
    app.state.settings = settings
    app.state.service = service
    app.state.lab = LabManager(settings)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _readable(exc)})

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(UnknownModel)
    async def unknown_model(request: Request, exc: UnknownModel) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ModelNotInstalled)
    async def not_installed(request: Request, exc: ModelNotInstalled) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)},
                            headers={"Retry-After": str(exc.retry_after)})

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _document_limits(base, settings, [m.name for m in service.models() if m.available])
        return app.openapi_schema

    app.openapi = openapi

    for router in (meta.router, attention.router, embeddings.router, positional.router, predict.router,
                   report.router, lessons.router, lab.router):
        app.include_router(router, prefix="/api")

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
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(GuardMiddleware, max_body=settings.max_body_bytes)
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
