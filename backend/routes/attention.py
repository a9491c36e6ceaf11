from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend import schemas
from backend.analysis import attention
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(tags=["attention"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("/analyze", response_model=schemas.AnalyzeResponse)
def analyze(req: schemas.AnalyzeRequest, service: Service) -> schemas.AnalyzeResponse:
    """Tokens, every head's attention pattern, a summary per head, and the top next tokens.

    `layers` limits the full-precision `attention` to those layers (the answer's `layers` names them);
    `thumbnails` adds every layer x head pattern as 8-bit values, enough for small pictures of them all.
    """
    service.check_top_k(req.top_k)
    return attention.analyze(service.run(req.model, req.text, interventions(req)), req.top_k,
                             layers=req.layers, thumbnails=req.thumbnails)


@router.post("/qkv", response_model=schemas.QKVResponse)
def qkv(req: schemas.QKVRequest, service: Service) -> schemas.QKVResponse:
    """Q, K, V and the output z of one layer's heads, [token][d_head]; for one head, q and k in 2-D too."""
    return attention.qkv(service.run(req.model, req.text, interventions(req)), req.layer, req.head)


@router.post("/attention/explain", response_model=schemas.ExplainResponse)
def explain(req: schemas.ExplainRequest, service: Service) -> schemas.ExplainResponse:
    """The attention arithmetic for one query of one head: q.k, / scale, mask, softmax, weighted values."""
    return attention.explain(service.run(req.model, req.text, interventions(req)), req.layer, req.head, req.query)


@router.post("/compare", response_model=schemas.CompareResponse)
def compare(req: schemas.CompareRequest, service: Service) -> schemas.CompareResponse:
    """The attention of two texts, two models or two interventions, and their difference (b - a) where both have as
    many tokens (`same_token` then says which positions hold the same token); with `top_k`, each side's top next
    tokens too."""
    service.check_top_k(req.top_k)
    runs = [service.run(side.model, side.text, interventions(side)) for side in (req.a, req.b)]
    return attention.compare(*runs, layer=req.layer, head=req.head, k=req.top_k)
