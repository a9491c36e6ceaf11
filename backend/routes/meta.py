from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend import schemas
from backend.deps import get_service
from backend.service import ModelService
from models import registry

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
    infos = service.models()
    return schemas.ModelList(default=default, models=[
        schemas.ModelSummary(**{**m.to_dict(), "default": m.name == default,
                                "max_tokens_beyond": service.max_tokens(m, beyond=True)}) for m in infos],
        tiny_models=[name for name in registry.TINY_ORDER if any(m.name == name and m.available for m in infos)])
