"""GET /api/report: the handout of backend/report.py as a downloadable HTML file (the page's "download report")."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend import schemas
from backend.deps import get_service
from backend.report import TOP_K, ReportRequest, build, check
from backend.service import ModelLoading, ModelService
from backend.vocabulary import ABLATE_SYNTAX, parse_ablate
from backend.work import answer

router = APIRouter(tags=["report"], responses=schemas.ERROR_RESPONSES)
Service = Annotated[ModelService, Depends(get_service)]

HTML_200 = {200: {"description": "one self-contained HTML file (plotly.js inline, nothing on the network), "
                                 "sent as an attachment",
                  "content": {"text/html": {"schema": {"type": "string"}}}},
            403: {"model": schemas.ErrorDetail, "description": "asked by another site's page (Sec-Fetch-Site)"}}
# Sec-Fetch-Site values of a request the page itself makes (same-origin) or the user typed or bookmarked (none);
# browsers send the header on every request, downloads included; tools such as curl send none (allowed)
OWN_SITE = {"same-origin", "none"}


class Forbidden(PermissionError):
    """A request refused for where it comes from (a 403)."""


@router.get("/report", response_class=Response, responses=HTML_200)
async def report(request: Request, service: Service,
           text: Annotated[str, Query(description="the sentence to run", openapi_examples={
               "sentence": {"value": "The cat sat on the mat because it was tired."}})],
           model: Annotated[str | None, Query(max_length=200, description="a registry name; default: the default "
                                                                         "model")] = None,
           layer: Annotated[int, Query(description="the layer of the head shown large")] = 0,
           head: Annotated[int, Query(description="the head shown large")] = 0,
           positions: Annotated[schemas.Positions, Query(description="positional information")] = "normal",
           scale: Annotated[bool, Query(description="divide scores by sqrt(d_head) (as trained) or not")] = True,
           ablate: Annotated[str, Query(max_length=20_000, description="heads whose output is set to zero, as in "
                                                                      f"the page's URL: {ABLATE_SYNTAX}")] = "",
           seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="seed of the permutation when positions are "
                                                                      "shuffled")] = 0,
           top_k: Annotated[int, Query(ge=1, description="how many next-token predictions")] = TOP_K,
           query: Annotated[int | None, Query(description="the query token whose arithmetic is shown (its index; "
                                                          "default: the last token that stands for text)")] = None,
           temperature: Annotated[float, Query(gt=0, description="the temperature of the next-token "
                                                                 "predictions")] = 1.0,
           depth: Annotated[int | None, Query(description="the depth of the second similarity map (0: the token "
                                                          "embedding; default: after the last block)")] = None,
           metric: Annotated[Literal["cosine", "dot"], Query(description="the similarity measure")] = "cosine",
           token: Annotated[int | None, Query(description="the token id the Why section explains after the query token "
                                                          "(default: the model's most probable one there); "
                                                          "refused on a model that predicts no next token (MiniLM)")] = None,
           versus: Annotated[int | None, Query(description="a second token id: the attribution explains "
                                                           "logit(token) - logit(versus)")] = None,
           hide_special: Annotated[bool, Query(description="leave the special tokens ([CLS], [SEP], BOS) out of the "
                                                           "tokens, the attention heatmap and the grid, as the page "
                                                           "does when it hides them")] = False,
           ) -> Response:
    """One HTML file with the main views of the sentence: the tokens, the attention of `layer`/`head` with the
    `query` row outlined, every layer x head, the attention arithmetic for `query`, token similarity, the
    next-token predictions, the positional encoding and why the next word after `query` (the logit lens for
    `token`, the logit attribution of `token` against `versus`) (or why a view does not apply to the model), and
    which model and settings made it, and when. The page's Download report passes every selection it has. The same
    file as `attnlab report`.

    A report draws every head, so on a large model it takes a shorter text: at most `max_report_weights`
    (ATTNLAB_MAX_REPORT_WEIGHTS) attention weights, layers x heads x tokens^2 (`max_report_tokens` of each model in
    /api/models). A request another site's page makes (its `Sec-Fetch-Site` header neither `same-origin` nor
    `none`) is refused with 403: a report costs seconds of the server's time and changes nothing."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in OWN_SITE:
        raise Forbidden(f"a report is made only for this app's own page (Sec-Fetch-Site is {site[:40]!r}): open "
                        "the app and use its Download report button")
    try:
        req = ReportRequest(text=text, model=model, layer=layer, head=head, positions=positions, scale=scale,
                            ablate=parse_ablate(ablate), seed=seed, top_k=top_k, query=query,
                            temperature=temperature, depth=depth, metric=metric, token=token,
                            versus=versus, hide_special=hide_special)
    except ValidationError as e:
        raise ValueError(schemas.validation_message(e.errors())) from None

    def work() -> Response:
        name, html = build(service, req)
        return Response(content=html.encode("utf-8"), media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    def checked() -> None:
        try:
            check(service, req)
        except ModelLoading as e:  # a download: the page does not ask again by itself, as it does for its views
            raise ModelLoading(e.model, e.progress, e.retry_after,
                               then="download the report again once it has loaded") from None

    return await answer(request, service, work, check=checked)
