from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend import schemas
from backend.analysis import embeddings
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(prefix="/embeddings", tags=["embeddings"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("", response_model=schemas.EmbeddingsResponse)
def similarity(req: schemas.EmbeddingsRequest, service: Service) -> schemas.EmbeddingsResponse:
    """Token-to-token cosine and dot similarity at every depth, the one-hot comparison, and each token's path."""
    return embeddings.embeddings(service.run(req.model, req.text, interventions(req), req.allow_beyond_trained))


@router.get("/neighbors", response_model=schemas.NeighborsResponse)
def neighbors(service: Service, word: Annotated[str | None, Query(max_length=100)] = None,
              token_id: Annotated[int | None, Query(ge=0, description="a token id instead of a word")] = None,
              k: Annotated[int, Query(ge=1)] = 10,
              model: Annotated[str | None, Query(max_length=200)] = None) -> schemas.NeighborsResponse:
    """The vocabulary tokens nearest to `word`'s (or `token_id`'s) embedding by cosine."""
    service.check_neighbors(k)
    if (word is None) == (token_id is None):
        raise ValueError("give either word or token_id")
    return embeddings.neighbors(service.get(model), word, k, token_id=token_id)


@router.post("/analogy", response_model=schemas.AnalogyResponse)
def analogy(req: schemas.AnalogyRequest, service: Service) -> schemas.AnalogyResponse:
    """The vocabulary tokens nearest to a - b + c by cosine."""
    service.check_neighbors(req.k)
    return embeddings.analogy(service.get(req.model), req.a, req.b, req.c, req.k)
