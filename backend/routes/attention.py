from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from backend import schemas
from backend.analysis import attention, attribution
from backend.analysis.common import interventions
from backend.deps import get_service
from backend.service import ModelService, TextTooLong
from backend.work import answer
from models.transformer import check_layer_head

router = APIRouter(tags=["attention"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]


@router.post("/analyze", response_model=schemas.AnalyzeResponse)
async def analyze(req: schemas.AnalyzeRequest, request: Request, service: Service) -> Response:
    """Tokens, every head's attention pattern, a summary per head, and the top next tokens.

    `layers` limits the full-precision `attention` to those layers (the answer's `layers` names them);
    `thumbnails` adds every layer x head pattern as 8-bit values, enough for small pictures of them all;
    `roles` adds every head's role scores and label (as POST /api/roles), for the labels on the grid;
    `query_rows` adds, for every layer and head, the rows of the selected query tokens summed or averaged;
    `why` adds the logit lens and the direct logit attribution of the next token (as POST /api/attribution/lens
    and /logit by default), and `attention_attribution` one head's attention beside what it moves (as POST
    /api/attribution/attention), so that a page showing them asks once.
    """
    service.check_top_k(req.top_k)
    return await answer(request, service, lambda: analysis(service, req), check=lambda: check(service, req),
                        elsewhere=lambda: request.app.state.overflow.analyze(service, req),
                        too_big="ask for fewer layers (`layers`, e.g. [0] with `thumbnails` for the rest) or use a "
                                "shorter text")


def check(service: ModelService, req: schemas.AnalyzeRequest) -> None:
    """What /api/analyze can refuse before the pass: `why` where the lens or the attribution does not apply, a head
    that `attention_attribution` names and the model lacks."""
    loaded = service.get(req.model)
    if req.why:
        attribution.check_why(loaded)
    if req.attention_attribution is not None:
        try:
            check_layer_head(loaded.cfg, req.attention_attribution.layer, req.attention_attribution.head)
        except ValueError as e:
            raise ValueError(f"attention_attribution: {e}") from None


def analysis(service: ModelService, req: schemas.AnalyzeRequest) -> schemas.AnalyzeResponse:
    """/api/analyze's answer to `req` (here, or in a helper process: backend/overflow.py)."""
    # with `why`, the lens's parts are read on another core while the pass goes on
    run, ahead = attribution.run_reading_ahead(service, req.model, req.text, interventions(req),
                                               req.allow_beyond_trained, lens_wanted=req.why)
    out = attention.analyze(run, req.top_k, layers=req.layers, thumbnails=req.thumbnails, roles=req.roles,
                            selection=req.query_rows, to_send=True, heads=req.heads,
                            visible_only=req.visible_only, packed=req.packed)
    if req.why:
        info = {name: getattr(out, name) for name in schemas.RunInfo.model_fields}  # its tokens, said once
        out.lens, out.logit = attribution.why(run, req.top_k, wide=service.spare_threads, info=info, ahead=ahead)
    if req.attention_attribution is not None:
        choice = req.attention_attribution
        out.attention_attribution = attribution.attention_attribution(run, choice.layer, choice.head)
    return out


@router.post("/qkv", response_model=schemas.QKVResponse)
async def qkv(req: schemas.QKVRequest, request: Request, service: Service) -> Response:
    """Q, K, V and the output z of one layer's heads, [token][d_head]; for one head, q and k in 2-D too."""
    return await answer(request, service, lambda: attention.qkv(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.layer, req.head),
        too_big="ask for one `head` or use a shorter text")


@router.post("/attention/explain", response_model=schemas.ExplainResponse)
async def explain(req: schemas.ExplainRequest, request: Request, service: Service) -> Response:
    """The attention arithmetic for one query of one head: q.k, / scale, mask, softmax, weighted values."""
    return await answer(request, service, lambda: attention.explain(
        service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.layer, req.head, req.query))


@router.post("/compare", response_model=schemas.CompareResponse)
async def compare(req: schemas.CompareRequest, request: Request, service: Service) -> Response:
    """The attention of two texts, two models or two interventions, and their difference (b - a) where both have as
    many tokens (`same_token` then says which positions hold the same token); with `top_k`, each side's top next
    tokens too.

    An answer holds at most `max_compare_weights` attention weights (ATTNLAB_MAX_COMPARE_WEIGHTS): each side's
    layers x heads x tokens^2 and the difference; name a `layer` and a `head` to compare long texts on a large model.
    A `layer` or `head` that only one side's model has: that side's attention alone (the other side's
    `attention_unavailable` says why), with both sides' predictions.
    """
    service.check_top_k(req.top_k)

    def each_side(do):  # do(loaded, side) for side a, then b; a ValueError names its side and model
        out = []
        for name, side in (("a", req.a), ("b", req.b)):
            loaded = service.get(side.model)
            try:
                out.append(do(loaded, side))
            except TextTooLong as e:  # (its numbers kept)
                raise e.on_side(name) from None
            except ValueError as e:  # ("this model has layers 0 to 3": the page's model may be the other side's)
                raise ValueError(f"side {name} ({loaded.name}): {e}") from None
        return out

    def check() -> None:
        service.check_compare(each_side(lambda loaded, side: (
            loaded, len(service.tokenize(loaded, side.text, side.allow_beyond_trained)))), req.layer, req.head)

    def work() -> schemas.CompareResponse:
        runs = each_side(lambda loaded, side: service.run(loaded.name, side.text, interventions(side),
                                                          side.allow_beyond_trained))
        return attention.compare(*runs, layer=req.layer, head=req.head, k=req.top_k, to_send=True)

    return await answer(request, service, work, check=check, too_big="name a `layer` and a `head`, or use shorter texts")
