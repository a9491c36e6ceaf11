from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend import schemas, vocabulary
from backend.deps import get_service
from backend.service import ModelService
from models import registry

router = APIRouter(tags=["meta"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/health", response_model=schemas.Health)
async def health() -> schemas.Health:
    """The server answers: in the event loop itself (no worker thread, no lock), so it answers at once however
    busy the models are. Whether it can take work: GET /api/ready."""
    return schemas.Health(status="ok")


@router.get("/ready", response_model=schemas.Ready,
            responses={503: {"model": schemas.Ready, "description": "not ready: the default model is not loaded yet, "
                                                                    "or the server is saturated"}})
async def ready(request: Request) -> JSONResponse:
    """Whether the default model is loaded and the server can take more work, with the limiter's counters: 200
    when ready, else 503 (the same answer). Like /api/health, it never waits for a thread or a lock."""
    service = request.app.state.service
    stats = service.stats()
    default = service.settings.default_model
    loaded = service.model_ready(default)
    saturated = stats["waiting"] >= stats["max_queued_runs"]
    body = schemas.Ready(ready=loaded and not saturated, default_model=default, default_model_loaded=loaded,
                         saturated=saturated, busy=stats["running"] >= stats["max_concurrent_runs"],
                         loop_lag_ms=round(request.app.state.loop_lag.worst_s * 1000, 1), **stats,
                         **request.app.state.overflow.stats())
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/models", response_model=schemas.ModelList)
def models(service: Service) -> schemas.ModelList:
    """Every model: sizes, positional scheme, source, licence, metrics, whether it is installed, which
    views do not apply to it (with the reason), and whether it is loaded (or loading, and how far along)."""
    default = service.settings.default_model

    def load(name: str) -> schemas.LoadState:
        st = service.status(name)
        return schemas.LoadState(state=st.state, progress=st.progress, error=st.error)

    infos = service.models()
    return schemas.ModelList(default=default, models=[
        schemas.ModelSummary(**{**m.to_dict(), "default": m.name == default, "load": load(m.name),
                                "max_report_tokens": service.max_report_tokens(m),
                                "max_tokens_beyond": service.max_tokens(m, beyond=True)}) for m in infos],
        tiny_models=[name for name in registry.TINY_ORDER if any(m.name == name and m.available for m in infos)])


@router.get("/meta", response_model=schemas.Meta)
def meta(service: Service) -> schemas.Meta:
    """The app's vocabulary, defined once on the server (backend/vocabulary.py): the views (the page's tabs) and the
    parts of a view a model can lack, the position modes, the syntax of ablated heads with examples, the limits, the
    model kinds, and the families of models that differ only in their positional scheme. The page builds its tabs,
    menus and URL parsing from this answer."""
    return schemas.Meta(**vocabulary.meta(service.settings, service.models()))
