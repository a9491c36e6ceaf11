from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import predict as prediction
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService
from backend.work import answer

router = APIRouter(tags=["predict"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("/predict", response_model=schemas.PredictResponse)
async def predict(req: schemas.PredictRequest, request: Request, service: Service) -> Response:
    """Top-k next tokens at a temperature with the kept set of top-k / top-p sampling, the predictions at every
    position, and a continuation, greedy or sampled with a seed (reported, so that it can be repeated).

    The continuation adds at most `continue_tokens` tokens, one forward pass each, and stops at the model's
    `max_tokens` (with `allow_beyond_trained`, its `max_tokens_beyond`; `stopped` says so). The whole request holds
    one of the server's `max_concurrent_runs` slots."""
    service.check_top_k(req.top_k)
    service.check_temperature(req.temperature)
    service.check_continue(req.continue_tokens)

    def work() -> schemas.PredictResponse:
        run = service.run(req.model, req.text, interventions(req), req.allow_beyond_trained)
        return prediction.predict(run, req.top_k, req.temperature, req.continue_tokens, req.sampling,
                                  next_logits=lambda ids: service.next_logits(run.loaded, ids, run.iv),
                                  limit=service.max_tokens(run.loaded.info, req.allow_beyond_trained))

    return await answer(request, service, work, too_big="ask for a smaller `top_k` or use a shorter text")
