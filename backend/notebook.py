"""Attention Lab in a Jupyter notebook, without the server: the API's answers as plotly figures.

    from backend.notebook import attention, attribution, logit_lens, show, tokens
    figs = show("The cat sat on the mat.", model=None, layer=0, head=0)   # {name: Figure}
    figs["attention"]                                                    # displays in Jupyter
    [t.text for t in tokens("The cat sat.")]     # ['', 'The', ' cat', ' sat', '.']  (display: '␣cat')
    attention("The cat sat on the mat.", layer=1, head=2, model="tiny-rotary")
    lens = logit_lens("Lily had a ball. Lily gave the ball to")          # .figures, .data, .unavailable
    why = attribution("Lily had a ball. Lily gave the ball to", layer=2, head=1, ablation=True)
    roles("The cat sat on the cat.")                                     # every head's role label
    role_table(probe=True, model="smollm2-135m").roles.heads[18][6]       # the role scores themselves

Every figure is drawn from the same response objects the HTTP API sends (backend.analysis on a forward
pass of backend.service.ModelService), so the numbers equal the API's for the same sentence, model and
interventions. `data(...)` gives those responses themselves (pydantic models: `.model_dump()` for dicts).

The interventions are keyword arguments, as in the API: positions="normal" | "removed" | "shuffled",
scale=True | False, ablate=[(layer, head), ...] (or the page's "1.2,0.3"), seed=0; a text past the model's
trained length runs where a function takes allow_beyond_trained=True, as the API's field. `model=None` is the
default model
(ATTNLAB_DEFAULT_MODEL or tiny-sinusoidal); `models()` lists them. Bad input raises ValueError (or
LookupError for an unknown or missing model) with the same message the API gives in `detail`.

In Jupyter a Figure displays itself; plotly's default notebook renderer embeds plotly.js in the notebook, so
this too works without a network. `fig.write_html("x.html")` saves one figure; `attnlab report` writes all.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import plotly.graph_objects as go
from pydantic import BaseModel, ValidationError

from backend import figures, schemas
from backend.analysis import attention as attention_analysis
from backend.analysis import attribution as attribution_analysis
from backend.analysis import embeddings as embeddings_analysis
from backend.analysis import positional as positional_analysis
from backend.analysis import predict as predict_analysis
from backend.analysis import roles as roles_analysis
from backend.analysis.common import interventions
from backend.analysis.common import tokens as sentence_tokens
from backend.analysis.embeddings import one_token
from backend.report import ReportData, ReportRequest, check, explain_query, figures_of, gather
from backend.service import ModelService, Run
from backend.settings import get_settings
from backend.vocabulary import parse_ablate
from models.registry import ModelInfo

__all__ = ["show", "data", "tokens", "attention", "grid", "explain", "embeddings", "predictions", "positional",
           "positional_similarity", "logit_lens", "attribution", "Explanation", "roles", "role_table", "role_models",
           "role_models_data", "role_definitions", "models", "service", "set_service"]

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
    """The interventions as request fields; `ablate` as [(layer, head), ...] or the page's "1.2,0.3"."""
    heads = parse_ablate(ablate) if isinstance(ablate, str) else \
        [tuple(p) if isinstance(p, (list, tuple)) else p for p in ablate]  # (pydantic says what is not a pair)
    return {"positions": positions, "scale": scale, "ablate": heads, "seed": seed}


R = TypeVar("R", bound=BaseModel)


def _request(cls: type[R], **fields) -> R:
    """A request checked as the API checks it: a ValueError with the API's `detail` (not pydantic's report)."""
    try:
        return cls(**fields)
    except ValidationError as e:
        raise ValueError(schemas.validation_message(e.errors())) from None


def _run(text: str, model: str | None, positions: str, scale: bool, ablate, seed: int, beyond: bool = False) -> Run:
    """A forward pass, checked as the API checks a request (pydantic, then the service's limits)."""
    req = _request(schemas.TextRequest, text=text, model=model, allow_beyond_trained=beyond,
                   **_iv(positions, scale, ablate, seed))
    return _pass(req.model, req.text, interventions(req), req.allow_beyond_trained)


def _pass(model: str | None, text: str, iv, beyond: bool) -> Run:
    """service().run, its message past the trained length in the notebook's words (the API's says "send
    allow_beyond_trained: true")."""
    try:
        return service().run(model, text, iv, beyond)
    except ValueError as e:
        raise ValueError(str(e).replace("send allow_beyond_trained: true", "pass allow_beyond_trained=True")) from None


# --------------------------------------------------------------------------- everything at once

def data(text: str, model: str | None = None, layer: int = 0, head: int = 0, *, query: int | None = None,
         positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0, top_k: int = 10,
         temperature: float = 1.0, depth: int | None = None, metric: str = "cosine", token: int | str | None = None,
         versus: int | str | None = None) -> ReportData:
    """The API's answers for one sentence: .analyze, .explain (for `query`, default the last token that stands for
    text), .embeddings, .predict (at `temperature`; None where the model does not predict), .positional (None where
    the model has no encoding), .lens and .logit (why the next word after `query`: `token`, default the model's most
    probable one there, against `versus` where given; None where they do not apply), .attention_attribution (head
    `layer`, `head` beside what it moves), .unavailable (view or part -> why it does not apply)."""
    req = _request(ReportRequest, text=text, model=model, layer=layer, head=head, query=query, top_k=top_k,
                   temperature=temperature, depth=depth, metric=metric, token=_token_id(model, token),
                   versus=_token_id(model, versus, "versus"), **_iv(positions, scale, ablate, seed))
    check(service(), req)  # the report's own limits (a text past them: its words, as attnlab report says them)
    return gather(service(), req)


def show(text: str, model: str | None = None, layer: int = 0, head: int = 0, *, query: int | None = None,
         positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0, top_k: int = 10,
         temperature: float = 1.0, depth: int | None = None, metric: str = "cosine", token: int | str | None = None,
         versus: int | str | None = None) -> dict[str, go.Figure]:
    """The main views of a sentence as named figures (the same as in `attnlab report`):

    attention (layer/head, the query's row outlined), grid (every layer x head), explain (the arithmetic for
    `query`, default the last token that stands for text), embeddings_first / embeddings_last (token similarity at
    the first depth and at `depth`, default the last), and, where they apply, predictions (at `temperature`),
    positional / positional_similarity, lens, attribution_heads / attribution_parts (after `query`, of `token`
    against `versus`) and attention_attribution. A view that does not apply to the model is left out;
    `data(...).unavailable` says why."""
    return figures_of(data(text, model, layer, head, query=query, positions=positions, scale=scale, ablate=ablate,
                           seed=seed, top_k=top_k, temperature=temperature, depth=depth, metric=metric, token=token,
                           versus=versus))


def tokens(text: str, model: str | None = None) -> list[schemas.Token]:
    """The tokens of `text` as the API gives them, without a forward pass: `.text` is each token's exact text
    (joined, the texts of the tokens that are not `.special` give `text` back, as TransformerLens' to_str_tokens
    does, except for what a WordPiece model's normaliser changes: MiniLM lower-cases and drops accents), `.display`
    what the page shows (a space as ␣, a newline as ↵, a byte of a split character as <0xE6>). A text past the
    model's trained length is cut into tokens as far as allow_beyond_trained=True would run it."""
    req = _request(schemas.TextRequest, text=text, model=model)
    s = service()
    loaded = s.get(req.model)
    return sentence_tokens(loaded, req.text, tuple(s.tokenize(loaded, req.text, beyond=True)))


# --------------------------------------------------------------------------- one figure each

def attention(text: str, layer: int = 0, head: int = 0, model: str | None = None, *, positions: str = "normal",
              scale: bool = True, ablate=(), seed: int = 0, allow_beyond_trained: bool = False) -> go.Figure:
    """One head's pattern, query x key (as /api/analyze's attention[layer][head])."""
    run = _run(text, model, positions, scale, ablate, seed, allow_beyond_trained)
    resp = attention_analysis.analyze(run, 1)
    return figures.attention_heatmap(resp, layer, head)


def grid(text: str, model: str | None = None, *, positions: str = "normal", scale: bool = True, ablate=(),
         seed: int = 0, highlight: tuple[int, int] | None = None, allow_beyond_trained: bool = False) -> go.Figure:
    """Every layer x head (as /api/analyze's attention)."""
    run = _run(text, model, positions, scale, ablate, seed, allow_beyond_trained)
    return figures.heads_grid(attention_analysis.analyze(run, 1), highlight=highlight)


def explain(text: str, layer: int = 0, head: int = 0, query: int | None = None, model: str | None = None, *,
            positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0,
            allow_beyond_trained: bool = False) -> go.Figure:
    """The attention arithmetic for one query (default: the last token that stands for text, as the report's), as
    /api/attention/explain."""
    run = _run(text, model, positions, scale, ablate, seed, allow_beyond_trained)
    if query is None:
        query = explain_query(attention_analysis.analyze(run, 1).tokens)
    return figures.explain_bars(attention_analysis.explain(run, layer, head, query))


def embeddings(text: str, depth: int | str = -1, model: str | None = None, measure: str = "cosine", *,
               positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0,
               allow_beyond_trained: bool = False) -> go.Figure:
    """Token x token similarity at one depth (0: token embedding, -1: after the last block, or a label such
    as "after block 1" or "one-hot"), as /api/embeddings."""
    run = _run(text, model, positions, scale, ablate, seed, allow_beyond_trained)
    return figures.embedding_similarity(embeddings_analysis.embeddings(run), depth, measure)


def predictions(text: str, model: str | None = None, top_k: int = 10, temperature: float = 1.0, *,
                positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0,
                allow_beyond_trained: bool = False) -> go.Figure:
    """The top-k next tokens, as /api/predict (a ValueError says why for a model that does not predict)."""
    req = _request(schemas.PredictRequest, text=text, model=model, top_k=top_k, temperature=temperature,
                   allow_beyond_trained=allow_beyond_trained, **_iv(positions, scale, ablate, seed))
    s = service()
    s.check_top_k(req.top_k)
    s.check_temperature(req.temperature)
    run = _pass(req.model, req.text, interventions(req), req.allow_beyond_trained)
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


# --------------------------------------------------------------------------- why this next word

class Explanation(NamedTuple):
    """Figures by name, the API's answers they are drawn from by name, and the parts that do not apply to the
    model (name -> why)."""

    figures: dict[str, go.Figure]
    data: dict[str, BaseModel]
    unavailable: dict[str, str]


def _token_id(model: str | None, token: int | str | None, name: str = "token") -> int | None:
    """A token id, or a string that is one token: as typed (" Paris", with its space), else with a space before."""
    if token is None or isinstance(token, int):
        return token
    if not isinstance(token, str):
        raise ValueError(f"{name} must be a token id (int) or a string that is one token, not {type(token).__name__}")
    return one_token(service().get(model), token, name)


def logit_lens(text: str, position: int | None = None, token: int | str | None = None, model: str | None = None, *,
               top_k: int = 5, positions: str = "normal", scale: bool = True, ablate=(), seed: int = 0,
               allow_beyond_trained: bool = False) -> Explanation:
    """The logit lens, as /api/attribution/lens: the residual stream at `position` (default: the last) read through
    the final norm and the unembedding after the attention and after the MLP of every block. `token` (an id or a
    one-token string; default: the model's top-1 there) is the token whose probability the table shows.

    figures: "lens" (depth x sub-layer, coloured by the token's probability, each cell's top token written in it);
    data: "lens" (schemas.LensResponse). A model without a next-word head raises ValueError with the reason."""
    req = _request(schemas.LensRequest, text=text, model=model, position=position, token=_token_id(model, token),
                   top_k=top_k, allow_beyond_trained=allow_beyond_trained, **_iv(positions, scale, ablate, seed))
    s = service()
    s.check_top_k(req.top_k)
    attribution_analysis.check_applies(s.get(req.model), "lens")
    resp = attribution_analysis.lens(_pass(req.model, req.text, interventions(req), req.allow_beyond_trained),
                                     req.position, req.token, req.top_k)
    return Explanation({"lens": figures.lens_table(resp)}, {"lens": resp}, {})


def _ablation_in_pieces(s: ModelService, run: Run, position: int | None, token: int | None,
                        versus: int | None) -> schemas.AblationResponse:
    """Every head's measured ablation effect, asked a few layers at a time within the service's limit."""
    cfg = run.loaded.cfg
    per = max(1, s.settings.max_ablation_heads // cfg.n_heads)
    pieces = [attribution_analysis.ablation(s, run, list(range(start, min(start + per, cfg.n_layers))), position,
                                            token, versus) for start in range(0, cfg.n_layers, per)]
    first = pieces[0]
    return first.model_copy(update={"layers": [l for p in pieces for l in p.layers],
                                    "effects": [row for p in pieces for row in p.effects],
                                    "passes": sum(p.passes for p in pieces), "reused": sum(p.reused for p in pieces)})


def attribution(text: str, position: int | None = None, token: int | str | None = None,
                versus: int | str | None = None, model: str | None = None, layer: int = 0, head: int = 0, *,
                residual: float = 0.5, ablation: bool = False, positions: str = "normal", scale: bool = True,
                ablate=(), seed: int = 0, allow_beyond_trained: bool = False) -> Explanation:
    """Why this next word, as /api/attribution/logit, /attention and (with ablation=True) /ablation:

    figures "heads" (what each head adds to the logit of `token`, or to logit(token) - logit(versus)), "parts"
    (the embeddings, MLPs and biases; with the heads they add up to the logit), "attention" (for `layer`, `head`:
    the weights, ‖alpha v W_O‖ and rollout) and "ablation" (the measured change in the token's probability with
    each head ablated: one forward pass per head, asked a few layers at a time within the server's limit);
    data: "logit", "attention", "ablation", the answers they are drawn from. Where the logit attribution does not
    apply (an encoder: no next-word head) only "attention" is made, and `unavailable` says why."""
    s = service()
    req = _request(schemas.AblationRequest, text=text, model=model, position=position, token=_token_id(model, token),
                   versus=_token_id(model, versus, "versus"), allow_beyond_trained=allow_beyond_trained,
                   **_iv(positions, scale, ablate, seed))
    attention_req = _request(schemas.AttentionAttributionRequest, text=text, model=model, layer=layer, head=head,
                             residual=residual, **_iv(positions, scale, ablate, seed))
    loaded = s.get(req.model)
    run = _pass(req.model, req.text, interventions(req), req.allow_beyond_trained)
    out_figures: dict[str, go.Figure] = {}
    out_data: dict[str, BaseModel] = {}
    unavailable: dict[str, str] = {}
    try:
        attribution_analysis.check_applies(loaded, "logit_attribution")
    except ValueError as e:
        unavailable["logit_attribution"] = str(e)
    if not unavailable:
        logit = attribution_analysis.logit_attribution(run, req.position, req.token, req.versus)
        out_figures.update(heads=figures.attribution_heads(logit), parts=figures.attribution_parts(logit))
        out_data["logit"] = logit
    att = attribution_analysis.attention_attribution(run, attention_req.layer, attention_req.head,
                                                     attention_req.residual)
    out_figures["attention"] = figures.attention_attribution(att)
    out_data["attention"] = att
    if ablation and not unavailable:
        effects = _ablation_in_pieces(s, run, req.position, req.token, req.versus)
        out_figures["ablation"] = figures.ablation_effects(effects)
        out_data["ablation"] = effects
    return Explanation(out_figures, out_data, unavailable)


# --------------------------------------------------------------------------- head roles

def role_definitions() -> schemas.RoleDefinitions:
    """Every role score in plain words with its formula and which queries count, and the labelling rule."""
    return roles_analysis.definitions()


def _text_or_probe(text: str | None, probe: bool) -> None:
    """A ValueError that says what to pass where a role function has neither a text nor the probe (pydantic's own
    error named the request's fields)."""
    if (text is None) == (not probe):
        raise ValueError("give a text, or probe=True for the induction probe (not both)" if probe else
                         "give a text (the sentence to score the heads on), or probe=True for the induction probe")


def role_table(text: str | None = None, model: str | None = None, *, probe: bool = False, probe_seed: int = 0,
               probe_length: int | None = None, sort_by: str | None = None, positions: str = "normal", scale: bool = True,
               ablate=(), seed: int = 0) -> schemas.RolesResponse:
    """Every head's role scores and label, as /api/roles: on `text`, or with probe=True on the induction probe
    (`probe_seed`, `probe_length`: default 50 or the longest that fits the model; its per-token losses in .probe).
    `sort_by` a role: .roles.ranking lists every head by it, highest first."""
    _text_or_probe(text, probe)
    spec = _request(schemas.ProbeSpec, seed=probe_seed, length=probe_length) if probe else None
    req = _request(schemas.RolesRequest, text=text, probe=spec, sort_by=sort_by, model=model, **_iv(positions, scale, ablate, seed))
    s = service()
    iv, opts = interventions(req), roles_analysis.Options.of(req)
    if req.probe is not None:
        return roles_analysis.on_probe(s, req.model, req.probe, iv, opts)
    return roles_analysis.on_text(s, req.model, req.text, iv, opts)


def roles(text: str | None = None, model: str | None = None, role: str | None = None, *, probe: bool = False,
          probe_seed: int = 0, probe_length: int | None = None, positions: str = "normal", scale: bool = True, ablate=(),
          seed: int = 0) -> go.Figure:
    """Every head's role label, layer x head (with `role`: that role's score for every head), as /api/roles."""
    resp = role_table(text, model, probe=probe, probe_seed=probe_seed, probe_length=probe_length,
                      positions=positions, scale=scale, ablate=ablate, seed=seed)
    return figures.role_grid(resp, role)


def role_models(role: str = "induction", text: str | None = None, models: list[str] | None = None, *,
                probe: bool = False, probe_seed: int = 0, probe_length: int | None = None) -> go.Figure:
    """One role's score for every head of several models side by side (default: the tiny models that ship with
    the project), on the same text or each on the probe, as /api/roles/models. `.data` of the answer:
    role_models_data."""
    return figures.role_models(role_models_data(text, models, probe=probe, probe_seed=probe_seed,
                                                probe_length=probe_length), role)


def role_models_data(text: str | None = None, models: list[str] | None = None, *, probe: bool = False,
                     probe_seed: int = 0, probe_length: int | None = None, sort_by: str | None = None) -> schemas.RolesModelsResponse:
    """The role tables of several models on the same text or probe, as /api/roles/models."""
    _text_or_probe(text, probe)
    spec = _request(schemas.ProbeSpec, seed=probe_seed, length=probe_length) if probe else None
    req = _request(schemas.RolesModelsRequest, text=text, probe=spec, models=models, sort_by=sort_by)
    return roles_analysis.across_models(service(), req)
