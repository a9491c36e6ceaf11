from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend import schemas, vocabulary
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(tags=["meta"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/health", response_model=schemas.Health)
def health() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get("/models", response_model=schemas.ModelList)
def models(service: Service) -> schemas.ModelList:
    """Every model: sizes, positional scheme, source, licence, metrics, whether it is installed, and which
    views do not apply to it (with the reason)."""
    default = service.settings.default_model
    return schemas.ModelList(default=default, models=[
        schemas.ModelSummary(**{**m.to_dict(), "default": m.name == default}) for m in service.models()])


@router.get("/meta", response_model=schemas.Meta)
def meta(service: Service) -> schemas.Meta:
    """The app's vocabulary, defined once on the server (backend/vocabulary.py): the views (the page's tabs) and the
    parts of a view a model can lack, the position modes, the syntax of ablated heads with examples, the limits, the
    model kinds, and the families of models that differ only in their positional scheme. The page builds its tabs,
    menus and URL parsing from this answer."""
    return schemas.Meta(**vocabulary.meta(service.settings, service.models()))
