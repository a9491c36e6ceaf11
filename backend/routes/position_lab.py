"""The positional-encoding lab: where each scheme enters, loss past the trained length, the probe of position."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend import schemas
from backend.analysis import position_lab
from backend.deps import get_service
from backend.service import ModelService

router = APIRouter(prefix="/positional", tags=["positional"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/scheme", response_model=schemas.SchemeResponse)
def scheme(service: Service, n: Annotated[int, Query(ge=1, description="distances 0 .. n-1 of ALiBi's bias")] = 64,
           model: Annotated[str | None, Query(max_length=200)] = None) -> schemas.SchemeResponse:
    """Where the model's positional scheme enters the computation (added to the embedding before Q, K and V; rotating
    q and k in every layer; a bias on the scores of every layer; nothing), as the steps of one attention layer with
    the scheme's steps marked, the hook points and views that show those numbers, and, for ALiBi, each head's bias
    by distance (what it has instead of an encoding)."""
    service.check_positions_n(n)
    return position_lab.scheme(service.get(model), n)


@router.get("/lengths", response_model=schemas.LengthCurves)
def lengths() -> schemas.LengthCurves:
    """The loss at each position of long validation windows (4x the trained length: 512 tokens for the tiny models),
    one curve per tiny model; a model that cannot run past its trained length (learned positions) stops there and
    says why. Measured by `python -m models.measure` (too slow for a request); a model not measured yet, or measured
    on other weights, is listed in `missing` with the command that measures it."""
    return position_lab.lengths()


@router.get("/probe", response_model=schemas.ProbeResults)
def probe() -> schemas.ProbeResults:
    """How much each layer knows about position: R² on held-out text of a ridge regression from the residual stream
    at each depth (the block input, then after each block) to the token's position, for every tiny model. Measured
    by `python -m models.measure`."""
    return position_lab.probe()
