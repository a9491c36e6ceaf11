from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import roles
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService
from backend.work import answer

router = APIRouter(tags=["roles"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.get("/roles/definitions", response_model=schemas.RoleDefinitions)
def definitions() -> schemas.RoleDefinitions:
    """Every role score in plain words with its formula and which queries count, the rules they share, and the
    rule (with its thresholds) that labels a head: the text of the page's hover and legend."""
    return roles.definitions()


@router.post("/roles", response_model=schemas.RolesResponse)
async def head_roles(req: schemas.RolesRequest, request: Request, service: Service) -> Response:
    """Every head's role scores (previous-token, sink, self, duplicate-token, induction, fixed offset, entropy) on
    a text, or on the induction probe with `probe`; each head's label when one role is clearly the strongest;
    with `sort_by`, every head ranked by that role; `layers` and `thumbnails` add the attention as /api/analyze
    gives it (the probe's attention is on no other endpoint)."""
    iv, opts = interventions(req), roles.Options.of(req)
    if req.probe is not None:
        return await answer(request, service, lambda: roles.on_probe(service, req.model, req.probe, iv, opts))
    return await answer(request, service, lambda: roles.on_text(service, req.model, req.text, iv, opts,
                                                                req.allow_beyond_trained))


@router.post("/roles/probe", response_model=schemas.RolesResponse)
async def probe(req: schemas.ProbeRequest, request: Request, service: Service) -> Response:
    """The induction probe: `length` random ordinary tokens (drawn with `seed` from the model's vocabulary: no
    special tokens, no byte pieces), then the same tokens again, BOS first where the model has one. Every head's
    role scores on it, and each token's loss: a lower loss on the repeat is learning in context. `layers` and
    `thumbnails` add its attention, as /api/analyze's."""
    return await answer(request, service, lambda: roles.on_probe(service, req.model, req.probe, interventions(req),
                                                                roles.Options.of(req)))


@router.post("/roles/models", response_model=schemas.RolesModelsResponse)
async def across_models(req: schemas.RolesModelsRequest, request: Request, service: Service) -> Response:
    """The head finder across models: the role table of each model (default: the tiny models that ship with the
    project, which differ only in their positional scheme) on the same text or on the probe."""
    return await answer(request, service, lambda: roles.across_models(service, req))
