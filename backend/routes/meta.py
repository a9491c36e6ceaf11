from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend import schemas
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(tags=["meta"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/health", response_model=schemas.Health)
def health() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get("/models", response_model=schemas.ModelList)
def models(service: Service) -> schemas.ModelList:
    """Every model: sizes, positional scheme, source, licence, metrics, whether it is installed, which
    views do not apply to it (with the reason), and whether it is loaded (or loading, and how far along)."""
    default = service.settings.default_model

    def load(name: str) -> schemas.LoadState:
        st = service.status(name)
        return schemas.LoadState(state=st.state, progress=st.progress, error=st.error)

    return schemas.ModelList(default=default, models=[
        schemas.ModelSummary(**{**m.to_dict(), "default": m.name == default, "load": load(m.name)})
        for m in service.models()])
