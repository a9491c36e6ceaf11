from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import positional
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService
from backend.work import answer

router = APIRouter(prefix="/positional", tags=["positional"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("", response_model=schemas.PositionalResponse)
async def encoding(request: Request, service: Service, n: Annotated[int, Query(ge=1)] = 64,
                   model: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The model's positional encoding for n positions, and position-to-position cosine similarity."""
    service.check_positions_n(n)
    return await answer(request, service, lambda: positional.encoding(service.get(model), n), too_big="ask for fewer positions (`n`)")


@router.post("/decompose", response_model=schemas.DecomposeResponse)
async def decompose(req: schemas.DecomposeRequest, request: Request, service: Service) -> Response:
    """Layer 0's scores for one head split into content/position terms that add up to the score."""
    return await answer(request, service, lambda: positional.decompose(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.layer, req.head))
