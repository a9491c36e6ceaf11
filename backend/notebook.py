"""Attention Lab in a Jupyter notebook, without the server: the API's answers as plotly figures.

    from backend.notebook import show, attention
    figs = show("The cat sat on the mat.", model=None, layer=0, head=0)   # {name: Figure}
    figs["attention"]                                                    # displays in Jupyter
    attention("The cat sat on the mat.", layer=1, head=2, model="tiny-rotary")

Every figure is drawn from the same response objects the HTTP API sends (backend.analysis on a forward
pass of backend.service.ModelService), so the numbers equal the API's for the same sentence, model and
interventions. `data(...)` gives those responses themselves (pydantic models: `.model_dump()` for dicts).

The interventions are keyword arguments, as in the API: positions="normal" | "removed" | "shuffled",
scale=True | False, ablate=[(layer, head), ...], seed=0. `model=None` is the default model
(ATTNLAB_DEFAULT_MODEL or tiny-sinusoidal); `models()` lists them. Bad input raises ValueError (or
LookupError for an unknown or missing model) with the same message the API gives in `detail`.

In Jupyter a Figure displays itself; plotly's default notebook renderer embeds plotly.js in the notebook, so
this too works without a network. `fig.write_html("x.html")` saves one figure; `attnlab report` writes all.
"""

from __future__ import annotations

import plotly.graph_objects as go

from backend import figures, schemas
from backend.analysis import attention as attention_analysis
from backend.analysis import embeddings as embeddings_analysis
from backend.analysis import positional as positional_analysis
from backend.analysis import predict as predict_analysis
from backend.analysis.common import interventions
from backend.report import ReportData, ReportRequest, explain_query, figures_of, gather
from backend.service import ModelService, Run
from backend.settings import get_settings
from models.registry import ModelInfo

__all__ = ["show", "data", "attention", "grid", "explain", "embeddings", "predictions", "positional",
           "positional_similarity", "models", "service", "set_service"]

_SERVICE: ModelService | None = None


def service() -> ModelService:
    """The notebook's ModelService (made on first use from the ATTNLAB_* settings; models load once)."""
    global _SERVICE
    if _SERVICE is None:
        _SERVICE = ModelService(get_settings())
    return _SERVICE


def set_service(s: ModelService | None) -> None:
    """Use another ModelService (other settings or limits); None: make the default one again on next use."""
    global _SERVICE
    _SERVICE = s


def models() -> list[ModelInfo]:
    """Every registered model (name, kind, sizes, positional scheme, whether installed, views that do not apply)."""
    return service().models()


def _iv(positions: str, scale: bool, ablate, seed: int) -> dict:
    return {"positions": positions, "scale": scale, "ablate": [tuple(p) for p in ablate], "seed": seed}


def _run(text: str, model: str | None, positions: str, scale: bool, ablate, seed: int) -> Run:
    """A forward pass, checked as the API checks a request (pydantic, then the service's limits)."""
    req = schemas.TextRequest(text=text, model=model, **_iv(positions, scale, ablate, seed))
    return service().run(req.model, req.text, interventions(req))


# --------------------------------------------------------------------------- everything at once

def data(text: str, model: str | None = None, layer: int = 0, head: int = 0, *, query: int | None = None,
         positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0, top_k: int = 10,
         temperature: float = 1.0, depth: int | None = None, metric: str = "cosine") -> ReportData:
    """The API's answers for one sentence: .analyze, .explain (for `query`, default the last token),
    .embeddings, .predict (at `temperature`; None where the model does not predict), .positional (None where
    the model has no encoding), .unavailable (view or part -> why it does not apply)."""
    req = ReportRequest(text=text, model=model, layer=layer, head=head, query=query, top_k=top_k,
                        temperature=temperature, depth=depth, metric=metric, **_iv(positions, scale, ablate, seed))
    return gather(service(), req)


def show(text: str, model: str | None = None, layer: int = 0, head: int = 0, *, query: int | None = None,
         positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0, top_k: int = 10,
         temperature: float = 1.0, depth: int | None = None, metric: str = "cosine") -> dict[str, go.Figure]:
    """The main views of a sentence as named figures (the same as in `attnlab report`):

    attention (layer/head, the query's row outlined), grid (every layer x head), explain (the arithmetic for
    `query`, default the last token), embeddings_first / embeddings_last (token similarity at the first depth
    and at `depth`, default the last), and, where they apply, predictions (at `temperature`) and positional /
    positional_similarity. A view that does not apply to the model is left out; `data(...).unavailable` says
    why."""
    return figures_of(data(text, model, layer, head, query=query, positions=positions, scale=scale, ablate=ablate,
                           seed=seed, top_k=top_k, temperature=temperature, depth=depth, metric=metric))


# --------------------------------------------------------------------------- one figure each

def attention(text: str, layer: int = 0, head: int = 0, model: str | None = None, *, positions: str = "normal",
              scale: bool = True, ablate=(), seed: int = 0) -> go.Figure:
    """One head's pattern, query x key (as /api/analyze's attention[layer][head])."""
    run = _run(text, model, positions, scale, ablate, seed)
    resp = attention_analysis.analyze(run, 1)
    return figures.attention_heatmap(resp, layer, head)


def grid(text: str, model: str | None = None, *, positions: str = "normal", scale: bool = True, ablate=(),
         seed: int = 0, highlight: tuple[int, int] | None = None) -> go.Figure:
    """Every layer x head (as /api/analyze's attention)."""
    run = _run(text, model, positions, scale, ablate, seed)
    return figures.heads_grid(attention_analysis.analyze(run, 1), highlight=highlight)


def explain(text: str, layer: int = 0, head: int = 0, query: int | None = None, model: str | None = None, *,
            positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0) -> go.Figure:
    """The attention arithmetic for one query (default: the last token), as /api/attention/explain."""
    run = _run(text, model, positions, scale, ablate, seed)
    if query is None:
        query = explain_query(attention_analysis.analyze(run, 1).tokens)
    return figures.explain_bars(attention_analysis.explain(run, layer, head, query))


def embeddings(text: str, depth: int | str = -1, model: str | None = None, measure: str = "cosine", *,
               positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0) -> go.Figure:
    """Token x token similarity at one depth (0: token embedding, -1: after the last block, or a label such
    as "after block 1" or "one-hot"), as /api/embeddings."""
    run = _run(text, model, positions, scale, ablate, seed)
    return figures.embedding_similarity(embeddings_analysis.embeddings(run), depth, measure)


def predictions(text: str, model: str | None = None, top_k: int = 10, temperature: float = 1.0, *,
                positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0) -> go.Figure:
    """The top-k next tokens, as /api/predict (a ValueError says why for a model that does not predict)."""
    req = schemas.PredictRequest(text=text, model=model, top_k=top_k, temperature=temperature,
                                 **_iv(positions, scale, ablate, seed))
    s = service()
    s.check_top_k(req.top_k)
    s.check_temperature(req.temperature)
    run = s.run(req.model, req.text, interventions(req))
    return figures.predictions_bars(predict_analysis.predict(run, req.top_k, req.temperature, 0))


def _positional(model: str | None, n: int) -> schemas.PositionalResponse:
    s = service()
    s.check_positions_n(n)
    if n < 1:
        raise ValueError(f"n is {n}; it must be at least 1")
    return positional_analysis.encoding(s.get(model), n)


def positional(model: str | None = None, n: int = 64) -> go.Figure:
    """The model's positional encoding for n positions, as /api/positional (ValueError: why it has none)."""
    return figures.positional_heatmap(_positional(model, n))


def positional_similarity(model: str | None = None, n: int = 64) -> go.Figure:
    """Cosine similarity between the encodings of every pair of positions, as /api/positional."""
    return figures.positional_similarity(_positional(model, n))
