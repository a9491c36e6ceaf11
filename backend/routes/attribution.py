"""Why this next word: the logit lens, direct logit attribution, attention beside what it moves, and the measured
effect of ablating each head. Every answer names the model, the interventions, the position and the token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import attribution
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService
from backend.work import answer

router = APIRouter(prefix="/attribution", tags=["attribution"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("/lens", response_model=schemas.LensResponse)
async def lens(req: schemas.LensRequest, request: Request, service: Service) -> Response:
    """The logit lens: the residual stream at `position` (default: the last) read through the final norm and the
    unembedding after the attention and after the MLP of every block: the top tokens of each reading, and the
    probability and rank of `token` (default: the model's final top-1). A reading of an intermediate state, not
    what the model would output there. A 422 says why where it does not apply (an encoder, a post-norm model)."""
    service.check_top_k(req.top_k)

    def work() -> schemas.LensResponse:
        # the last position (the default): its parts are read on another core while the pass goes on
        run, ahead = attribution.run_reading_ahead(service, req.model, req.text, interventions(req),
                                                   req.allow_beyond_trained, lens_wanted=req.position is None)
        return attribution.lens(run, req.position, req.token, req.top_k, wide=service.spare_threads, ahead=ahead)

    return await answer(request, service, work, check=lambda: attribution.check_applies(service.get(req.model), "lens"))


@router.post("/logit", response_model=schemas.LogitAttributionResponse)
async def logit(req: schemas.LogitAttributionRequest, request: Request, service: Service) -> Response:
    """Direct logit attribution: what each head (through W_O), each MLP, the embeddings and the biases add to the
    logit of `token` (or to logit(token) - logit(versus)) at `position`, with the final norm's scale frozen at its
    value in the run. The parts add up to the logit; `centring_removed` says what the norm's centring took out of
    them. `heads` is [layer][head]; `parts` the rest."""
    return await answer(request, service, lambda: attribution.logit_attribution(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.position, req.token, req.versus),
        check=lambda: attribution.check_applies(service.get(req.model), "logit_attribution"))


@router.post("/attention", response_model=schemas.AttentionAttributionResponse)
async def attention(req: schemas.AttentionAttributionRequest, request: Request, service: Service) -> Response:
    """Raw attention beside what it moves, for one head and for the whole model: attention weights,
    ‖alpha v W_O‖ (Kobayashi et al., 2020) for the head and its layer, and attention rollout (Abnar and Zuidema,
    2020) through every layer and through `layer`, with `residual` as the weight of the residual connection.
    Applies to every model. `captions` says in a sentence each what they measure and what not."""
    return await answer(request, service, lambda: attribution.attention_attribution(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.layer, req.head, req.residual))


@router.post("/ablation", response_model=schemas.AblationResponse)
async def ablation(req: schemas.AblationRequest, request: Request, service: Service) -> Response:
    """The measured effect of ablating each head of `layers` (default: all) on the probability of `token` at
    `position`: one full forward pass per head, each holding the server's slot, at most max_ablation_heads heads
    per request, so ask a layer (or a few) at a time and show progress. A pass the server has kept is reused."""
    return await answer(request, service, lambda: attribution.ablation(
        service, service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.layers,
        req.position, req.token, req.versus),
        check=lambda: attribution.check_applies(service.get(req.model), "logit_attribution"))
