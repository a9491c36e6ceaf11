from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import embeddings
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService
from backend.work import answer

router = APIRouter(prefix="/embeddings", tags=["embeddings"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("", response_model=schemas.EmbeddingsResponse)
async def similarity(req: schemas.EmbeddingsRequest, request: Request, service: Service) -> Response:
    """Token-to-token cosine and dot similarity at every depth, the one-hot comparison, and each token's path."""
    return await answer(request, service, lambda: embeddings.embeddings(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained)),
                        too_big="use a shorter text")


@router.get("/neighbors", response_model=schemas.NeighborsResponse)
async def neighbors(request: Request, service: Service,
                    word: Annotated[str | None, Query(max_length=100, openapi_examples={"cat": {"value": "cat"}})] = None,
                    token_id: Annotated[int | None, Query(ge=0, description="a token id instead of a word")] = None,
                    k: Annotated[int, Query(ge=1)] = 10,
                    model: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The vocabulary tokens nearest to `word`'s (or `token_id`'s) embedding by cosine."""
    service.check_neighbors(k)
    if (word is None) == (token_id is None):
        raise ValueError("give either word or token_id")
    return await answer(request, service, lambda: embeddings.neighbors(service.get(model), word, k, token_id=token_id))


@router.post("/analogy", response_model=schemas.AnalogyResponse)
async def analogy(req: schemas.AnalogyRequest, request: Request, service: Service) -> Response:
    """The vocabulary tokens nearest to a - b + c by cosine; with `expect`, where that word ranks among them."""
    service.check_neighbors(req.k)
    return await answer(request, service, lambda: embeddings.analogy(
        service.get(req.model), req.a, req.b, req.c, req.k, expect=req.expect))
