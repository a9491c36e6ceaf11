from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend import schemas
from backend.analysis import predict as prediction
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(tags=["predict"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("/predict", response_model=schemas.PredictResponse)
def predict(req: schemas.PredictRequest, service: Service) -> schemas.PredictResponse:
    """Top-k next tokens at a temperature, the predictions at every position, and a greedy continuation."""
    service.check_top_k(req.top_k)
    service.check_temperature(req.temperature)
    service.check_continue(req.continue_tokens)
    run = service.run(req.model, req.text, interventions(req), req.allow_beyond_trained)
    return prediction.predict(run, req.top_k, req.temperature, req.continue_tokens,
                              limit=service.max_tokens(run.loaded.info, req.allow_beyond_trained))
