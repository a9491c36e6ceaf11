"""One lesson step resolved on a sentence and a model: the one implementation of roles, model kinds and claim
conditions, used by the page (POST /api/lessons/{id}/steps/{n}) and by `attnlab lessons check`.

Resolving a step:
1. whether the lesson applies to the model (`needs:` in the lesson file: causal, bidirectional, positions,
   added-positions, start-token, predictions), else why, and which model to switch to;
2. its roles (backend/lesson_roles.py): `token: @pronoun` gives the query token, `ablate: @strongest-head` the head
   whose ablation changes the prediction most, `@noun` in a placeholder a token index; a role with no match gives
   one plain sentence (the page offers the lesson's own sentence);
3. its claims: each `::: when {{...}} > 0.5` block of the text is kept when its condition holds on the live
   numbers, else its `::: else` block (frontend/lessons/README.md documents the syntax);
4. every number of the resulting text read from the answers of the API (the same functions its routes call, with
   the same parameters the page's data layer sends: frontend/js/sources.js), so that a number that cannot be read
   is a problem, reported with the line.

The text handed to the page has its roles replaced by token indices (`{{explain.weights.@noun}}` ->
`{{explain.weights.3}}`, `{{@noun}}` -> the word) and its claims chosen: the page fills the numbers through its
data layer as for any other placeholder, and never evaluates a role or a condition itself. A head role's number
(`{{@strongest-head.delta_prob | 4}}`: HEAD_FIELDS, of the head the role chose) stays a placeholder, which the page
fills with the step's own read of it (`numbers`, head_number), having no source for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from backend.lesson_roles import (
    ROLE_RE,
    ROLES,
    Word,
    missing_message,
    piece_note,
    pieces_note,
    position_note,
    words_of,
)

# --------------------------------------------------------------------------- the answer


class RoleFound(BaseModel):
    role: str = Field(..., description="as written: `pronoun`, `repeated/2`, ...")
    word: str | None = Field(None, description="the word found (null: none in this sentence)")
    tokens: list[int] = Field(default_factory=list, description="the indices of the word's tokens")
    index: int | None = Field(None, description="the token that stands for the word: its last")


class NumberRead(BaseModel):
    placeholder: str = Field(..., description="as it stands in `body` (roles replaced)")
    value: Any = Field(None, description="the value read (a number, a token's text, ...)")
    shown: str | None = Field(None, description="the value as the page shows it")
    source: str | None = Field(None, description="the source with its overrides, e.g. `explain(scale=on)`")
    request: dict | None = Field(None, description="the API request it was read from: {method, path, params}")
    path: list[int | str] = Field(default_factory=list, description="where in the answer: the keys taken")
    error: str | None = None
    waiting: str | None = Field(None, description="set with `error` where the number waits on the student: a box of "
                                                   "the page they emptied, or filled with a word the model cannot use "
                                                   "(TYPED_SOURCES); said to them")


class ClaimChosen(BaseModel):
    line: int = Field(..., description="the line of its `::: when` in the lesson file")
    condition: str
    holds: bool | None = Field(None, description="null: the condition could not be evaluated")
    operands: list[NumberRead] = Field(default_factory=list, description="the numbers it compared")
    shown: str = Field(..., description="the text shown: the `when` block, the `else` block, or nothing")


class ResolvedSettings(BaseModel):
    view: str
    layer: int
    head: int
    token: int | None = Field(None, description="the query token's index (null: the sentence could not be read)")
    positions: str
    scale: bool
    ablate: list[tuple[int, int]]
    temp: float | None = None
    word: str | None = None
    a: str | None = None
    b: str | None = None
    c: str | None = None
    expect: str | None = None
    depth: int | None = None
    metric: str | None = None
    pn: int | None = None


class StepRequest(BaseModel):
    """The sentence and model on screen, and the page's selection (null: the step's own, roles resolved)."""
    # the body /docs fills in: the sentence alone (otherwise it invents a value for every selection, which is refused)
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Once upon a time, there was a little"}]})

    text: StrictStr = Field(..., min_length=1, max_length=2000)
    model: StrictStr | None = Field(None, max_length=200)
    layer: StrictInt | None = Field(None, ge=0, le=10_000)
    head: StrictInt | None = Field(None, ge=0, le=10_000)
    token: StrictInt | None = Field(None, ge=0, le=100_000)
    positions: StrictStr | None = Field(None, max_length=20)
    scale: StrictBool | None = None
    ablate: list[tuple[StrictInt, StrictInt]] | None = Field(None, max_length=1000)
    temp: StrictFloat | None = Field(None, gt=0, le=100)
    word: StrictStr | None = Field(None, max_length=100)
    depth: StrictInt | None = Field(None, ge=0, le=10_000)
    a: StrictStr | None = Field(None, max_length=100, description="the analogy's a − b + c, as on the page")
    b: StrictStr | None = Field(None, max_length=100)
    c: StrictStr | None = Field(None, max_length=100)
    expect: StrictStr | None = Field(None, max_length=100, description="the word expected near a − b + c (\"\": none)")
    pn: StrictInt | None = Field(None, ge=1, le=100_000, description="how many positions the encoding heatmap shows "
                                                                 "(at most max_positions_n, as GET /api/positional's n)")
    target: StrictInt | None = Field(None, ge=0, le=10_000_000, description="the token the `lens` and `logit` sources "
                                                                      "explain, as the page's Token menu (null: the "
                                                                      "model's top-1)")
    versus: StrictInt | None = Field(None, ge=0, le=10_000_000, description="the `logit` source: logit(target) - "
                                                                      "logit(versus), as the page's minus menu (null: "
                                                                      "the logit alone)")
    lab_run: StrictInt | None = Field(None, ge=0, description="the training lab's run on the page (the `labrun` source); "
                                                        "null: none")
    lab_records: StrictInt | None = Field(None, ge=0, description="summarise its first this many records (null: all now)")
    lab_key: StrictStr | None = Field(None, max_length=64, description="that run's key (its state's `key`): a run of "
                                                                 "that id with another key is not read (null: any)")
    allow_beyond_trained: StrictBool = Field(False, description="the page has agreed to run a text longer than the "
                                                            "model's trained length (its *Run it past the trained "
                                                            "length*): the step's sources are asked with it, as the "
                                                            "views are")


class StepResolution(BaseModel):
    lesson: str
    step: int
    title: str
    model: str = Field(..., description="the model it was resolved on")
    text: str
    applies: bool = Field(..., description="false: the lesson (or this step) does not apply to this model")
    why: str | None = Field(None, description="why it does not apply, in one sentence")
    switch_to: str | None = Field(None, description="a model it applies to (the lesson's own), to offer")
    missing: str | None = Field(None, description="a role the sentence has no match for, said plainly (the page "
                                                  "offers `lesson_sentence` instead)")
    lesson_sentence: str = Field(..., description="the step's own sentence, to offer with one click")
    lesson_model: str | None = Field(None, description="with `missing`: the lesson's own model, where the lesson's "
                                                       "sentence does not work on this one either (the page offers "
                                                       "the two together); null: the sentence alone works here")
    settings: ResolvedSettings = Field(..., description="where the step puts the page on this sentence and model")
    from_roles: list[str] = Field(default_factory=list, description="the settings that came from a role (to apply "
                                                                     "again when the sentence changes)")
    roles: list[RoleFound] = Field(default_factory=list)
    body: str = Field(..., description="the text to show: roles replaced by indices, claims chosen; placeholders "
                                       "left for the page to fill")
    question: str | None = Field(None, description="the step's question, its roles replaced")
    asked: bool = Field(False, description="whether the step's question is asked here: a top-key question whose query "
                                           "sees fewer than two words has nothing to choose between, and is left "
                                           "out (frontend/js/lesson-template.js questionChoices)")
    claims: list[ClaimChosen] = Field(default_factory=list)
    numbers: list[NumberRead] = Field(default_factory=list, description="every placeholder of `body`, read here")
    problems: list[str] = Field(default_factory=list, description="numbers that cannot be read, errors: a lesson "
                                                                  "author's to fix")
    waiting: list[str] = Field(default_factory=list, description="what the text waits for from the student, said to "
                                                                 "them: numbers that cannot be read because of what "
                                                                 "they typed in the page's boxes (the claims that "
                                                                 "read them are left out until then)")


# --------------------------------------------------------------------------- the API, in-process


API_PATHS = {  # api (as frontend/js/api.js names it) -> the HTTP method and path it calls
    "analyze": ("POST", "/api/analyze"), "explain": ("POST", "/api/attention/explain"), "qkv": ("POST", "/api/qkv"),
    "predict": ("POST", "/api/predict"), "embeddings": ("POST", "/api/embeddings"),
    "neighbors": ("GET", "/api/embeddings/neighbors"), "analogy": ("POST", "/api/embeddings/analogy"),
    "positional": ("GET", "/api/positional"), "decompose": ("POST", "/api/positional/decompose"),
    "ablation": ("POST", "/api/attribution/ablation"),
    "lens": ("POST", "/api/attribution/lens"), "logit": ("POST", "/api/attribution/logit"),
    "attnattr": ("POST", "/api/attribution/attention"), "scheme": ("GET", "/api/positional/scheme"),
    "lengths": ("GET", "/api/positional/lengths"), "probe": ("GET", "/api/positional/probe"),
    "roles": ("POST", "/api/roles"), "roleDefinitions": ("GET", "/api/roles/definitions"),
    "roleProbe": ("POST", "/api/roles/probe"), "roleModels": ("POST", "/api/roles/models"),
    "labSummary": ("GET", "/api/lab/summary"),
}


def service_fetcher(service, lab=None) -> Callable[[str, dict], dict]:
    """(api, params) -> the answer as JSON data: what the route of API_PATHS answers, computed by the same
    analysis functions with the same checks (the caller holds the service's slot). `lab`: the server's
    backend.lab.LabManager (None: there is no training lab here, as in `attnlab lessons check`)."""
    from backend import schemas
    from backend.analysis import attention, attribution, embeddings, position_lab, positional, roles
    from backend.analysis import predict as prediction
    from backend.analysis.common import interventions as iv

    def run(r):
        return service.run(r.model, r.text, iv(r), r.allow_beyond_trained)

    def fetch(api: str, params: dict) -> dict:
        if api == "analyze":
            r = schemas.AnalyzeRequest.model_validate(params)
            service.check_top_k(r.top_k)
            out = attention.analyze(run(r), r.top_k, layers=r.layers)
        elif api == "explain":
            r = schemas.ExplainRequest.model_validate(params)
            out = attention.explain(run(r), r.layer, r.head, r.query)
        elif api == "qkv":
            r = schemas.QKVRequest.model_validate(params)
            out = attention.qkv(run(r), r.layer, r.head)
        elif api == "predict":
            r = schemas.PredictRequest.model_validate(params)
            service.check_top_k(r.top_k)
            service.check_temperature(r.temperature)
            one = run(r)
            out = prediction.predict(one, r.top_k, r.temperature, r.continue_tokens, r.sampling,
                                     next_logits=lambda ids: service.next_logits(one.loaded, ids, one.iv),
                                     limit=service.max_tokens(one.loaded.info, r.allow_beyond_trained))
        elif api == "embeddings":
            r = schemas.EmbeddingsRequest.model_validate(params)
            out = embeddings.embeddings(run(r))
        elif api == "neighbors":
            service.check_neighbors(params.get("k", 10))
            out = embeddings.neighbors(service.get(params.get("model")), params.get("word"), params.get("k", 10),
                                       token_id=params.get("token_id"))
        elif api == "analogy":
            r = schemas.AnalogyRequest.model_validate(params)
            out = embeddings.analogy(service.get(r.model), r.a, r.b, r.c, r.k, expect=r.expect)
        elif api == "positional":
            service.check_positions_n(params.get("n", 64))
            out = positional.encoding(service.get(params.get("model")), params.get("n", 64))
        elif api == "decompose":
            r = schemas.DecomposeRequest.model_validate(params)
            out = positional.decompose(run(r), r.layer, r.head)
        elif api == "ablation":
            r = schemas.AblationRequest.model_validate(params)
            attribution.check_applies(service.get(r.model), "logit_attribution")
            out = attribution.ablation(service, run(r), r.layers, r.position, r.token, r.versus)
        elif api == "lens":
            r = schemas.LensRequest.model_validate(params)
            service.check_top_k(r.top_k)
            attribution.check_applies(service.get(r.model), "lens")
            out = attribution.lens(run(r), r.position, r.token, r.top_k)
        elif api == "logit":
            r = schemas.LogitAttributionRequest.model_validate(params)
            attribution.check_applies(service.get(r.model), "logit_attribution")
            out = attribution.logit_attribution(run(r), r.position, r.token, r.versus)
        elif api == "attnattr":
            r = schemas.AttentionAttributionRequest.model_validate(params)
            out = attribution.attention_attribution(run(r), r.layer, r.head, r.residual)
        elif api == "scheme":
            service.check_positions_n(params.get("n", SCHEME_N))
            out = position_lab.scheme(service.get(params.get("model")), params.get("n", SCHEME_N))
        elif api == "lengths":
            out = position_lab.lengths()
        elif api == "probe":
            out = position_lab.probe()
        elif api == "roles":
            r = schemas.RolesRequest.model_validate(params)
            out = (roles.on_probe(service, r.model, r.probe, iv(r), roles.Options.of(r)) if r.probe is not None
                   else roles.on_text(service, r.model, r.text, iv(r), roles.Options.of(r)))
        elif api == "roleDefinitions":
            out = roles.definitions()
        elif api == "roleProbe":
            r = schemas.ProbeRequest.model_validate(params)
            out = roles.on_probe(service, r.model, r.probe, iv(r), roles.Options.of(r))
        elif api == "roleModels":
            out = roles.across_models(service, schemas.RolesModelsRequest.model_validate(params))
        elif api == "labSummary":
            from backend.lab import no_run
            if params.get("run") is None:
                out = schemas.LabRunSummary(**no_run())
            elif lab is None:
                raise LookupError("there is no training lab here")
            else:
                lab.check_key(params["run"], params.get("key"))
                out = schemas.LabRunSummary(**lab.summary(params["run"], params.get("records")))
        else:
            raise ValueError(f"no API {api!r}")
        return out.model_dump(mode="json")

    return fetch


# --------------------------------------------------------------------------- sources: as frontend/js/sources.js

TOP_K = 10
NEIGHBORS = 10
SCHEME_N = 64  # frontend/js/sources.js: distances of ALiBi's bias
COMPACT_ABOVE_HEADS = 32  # frontend/js/derive.js: larger models get /api/analyze for the selected layer only

# shortcuts: the same table as frontend/js/lesson-template.js SHORTCUTS (tests/backend/test_lesson_steps.py pins it)
SHORTCUTS = {
    "query": "analyze.tokens.$token.display",
    "query_index": "state.token",
    "layer": "state.layer",
    "head": "state.head",
    "top_key": "explain.tokens.@(weights.$max).display",
    "top_key_weight": "explain.weights.$max",
    "top_word_key": "explain.tokens.@(weights.$maxword).display",
    "top_word_key_weight": "explain.weights.$maxword",
    "second_key": "explain.tokens.@(weights.$2nd).display",
    "second_key_weight": "explain.weights.$2nd",
    "first_token": "explain.tokens.0.display",
    "first_token_weight": "explain.weights.0",
    "top_next": "predict.predictions.0.display",
    "top_next_prob": "predict.predictions.0.prob",
    "second_next": "predict.predictions.1.display",
    "second_next_prob": "predict.predictions.1.prob",
    "entropy": "explain.entropy",
    "entropy_flipped": "explain.other_entropy",
    "scale": "explain.scale",
    "other_scale": "explain.other_scale",
    "d_head": "explain.d_head",
    "focused_head": "analyze.heads.$layer.$min(entropy).head",
    "focused_head_entropy": "analyze.heads.$layer.$min(entropy).entropy",
}
OVERRIDES = ("model", "positions", "scale", "ablate", "layer", "head", "token", "temp")
OFF = ("0", "false", "off", "no")


QUESTION_SOURCES = {"top-key": "explain", "next-word": "predict", "loss-step": "labrun", "lab-accuracy": "labrun"}
# ^ each `ask:` kind -> the source its choices and answer come from (frontend/js/lesson-template.js QUESTION_SOURCES)


def top_key_choices(explain: dict) -> list[int]:
    """The keys a top-key question offers (frontend/js/lesson-template.js questionChoices): those the query sees,
    special tokens left out. With fewer than two there is nothing to choose between, and the question is left out."""
    return [i for i, t in enumerate(explain["tokens"]) if not explain["mask"][i] and not t.get("special")]


class LessonNotFound(LookupError):
    """A lesson, a step or a model that does not exist (a 404)."""


class ReadError(ValueError):
    """A number that cannot be read: the page shows it as a red ?, the check reports it."""


def _base(state: dict, model: dict) -> dict:
    base = {"text": state["text"], "model": model["name"], "positions": state["positions"], "scale": state["scale"],
            "ablate": [list(p) for p in state["ablate"]]}
    # past the trained length only where the page has agreed to it (frontend/js/derive.js baseParams)
    return {**base, "allow_beyond_trained": True} if state.get("beyond") else base


def _positional_length(model: dict, pn: int) -> int:
    return pn if model["positional"] == "sinusoidal" else min(pn, model["max_tokens"])


def _unavailable(model: dict, part: str) -> str | None:
    return (model.get("unavailable_views") or {}).get(part)


def source_request(name: str, state: dict, model: dict, overrides: dict, query: int | None,
                   models: dict[str, dict] | None = None) -> tuple[str, dict] | dict:
    """(api, params) that the page's source `name` asks for this state (frontend/js/sources.js), or {"value": ...}
    for a value at hand; raises ReadError where the source does not apply."""
    if name == "analyze":
        params = {**_base(state, model), "top_k": TOP_K}
        if model["n_layers"] * model["n_heads"] > COMPACT_ABOVE_HEADS:
            params["layers"] = [state["layer"]]
        return "analyze", params
    if name == "explain":
        return "explain", {**_base(state, model), "layer": state["layer"], "head": state["head"], "query": query}
    if name == "qkv":
        return "qkv", {**_base(state, model), "layer": state["layer"], "head": state["head"]}
    if name == "predict":
        if why := _unavailable(model, "predictions"):
            raise ReadError(why)
        return "predict", {**_base(state, model), "top_k": TOP_K, "temperature": float(state["temp"])}
    if name == "embeddings":
        return "embeddings", _base(state, model)
    if name == "neighbors":
        if state.get("word"):
            return "neighbors", {"word": state["word"], "k": NEIGHBORS, "model": model["name"]}
        return "neighbors", {"token_id": None, "k": NEIGHBORS, "model": model["name"]}  # filled by the caller
    if name == "analogy":
        if not (state.get("a") and state.get("b") and state.get("c")):
            raise ReadError("Type three words: a − b + c.")
        return "analogy", {"model": model["name"], "a": state["a"], "b": state["b"], "c": state["c"], "k": NEIGHBORS,
                           "expect": state["expect"] or None}
    if name == "positional":
        if why := _unavailable(model, "positional.encoding"):
            raise ReadError(why)
        return "positional", {"n": _positional_length(model, state["pn"]), "model": model["name"]}
    if name == "decompose":
        if why := _unavailable(model, "positional.decompose"):
            raise ReadError(why)
        layer = state["layer"] if "layer" in overrides else 0
        return "decompose", {**_base(state, model), "layer": layer, "head": state["head"]}
    if name in ("lens", "logit"):  # the page's target token (null: the model's top-1) and, for logit, `versus`
        part = "lens" if name == "lens" else "logit_attribution"
        if why := _unavailable(model, part):
            raise ReadError(why)
        # (another model's token ids are other tokens: with `model=` its own top-1)
        target, versus = (None, None) if "model" in overrides else (state.get("target"), state.get("versus"))
        params = {**_base(state, model), "position": query, "token": target}
        return ("lens", {**params, "top_k": TOP_K}) if name == "lens" else ("logit", {**params, "versus": versus})
    if name == "attnattr":
        return "attnattr", {**_base(state, model), "layer": state["layer"], "head": state["head"]}
    if name == "scheme":
        return "scheme", {"model": model["name"], "n": SCHEME_N}
    if name in ("lengths", "probe"):
        return name, {}
    if name == "roles":
        return "roles", _base(state, model)
    if name == "roledefs":
        return "roleDefinitions", {}
    if name == "roleprobe":
        if not state.get("probe"):
            return {"value": None}
        return "roleProbe", {**{k: v for k, v in _base(state, model).items() if k not in ("text", "allow_beyond_trained")},
                             "probe": {"seed": state.get("pseed", 0)}}
    if name == "rolemodels":
        from types import SimpleNamespace

        from backend.vocabulary import families
        every = models or {model["name"]: model}
        fam = next((f["models"] for f in families([SimpleNamespace(**{"n_kv_heads": None, **m}) for m in every.values()])
                    if model["name"] in f["models"]), None)
        if not fam:
            raise ReadError("There are no models that differ only in their positional scheme.")
        names = [n for n in fam if every[n].get("available", True)]
        if not names:
            raise ReadError(f"None of {', '.join(fam)} is installed.")
        if state.get("probe"):
            return "roleModels", {"models": names, "probe": {"seed": state.get("pseed", 0)}}
        return "roleModels", {"models": names, **{k: v for k, v in _base(state, model).items()
                                                  if k in ("text", "allow_beyond_trained")}}
    if name == "labrun":  # the training lab's run on the page (frontend/js/sources.js labrun, labRunOf)
        run = state.get("lab_run")
        if run is None:
            return "labSummary", {"run": None, "records": None}
        return "labSummary", {"run": run, "records": state.get("lab_records"),
                              **({"key": state["lab_key"]} if state.get("lab_key") is not None else {})}
    if name == "model":
        return {"value": model}
    if name == "state":
        return {"value": {**state, "model": model["name"], "token": query, "ablate": [list(p) for p in state["ablate"]]}}
    raise ReadError(f"“{name}” is not a source")


TEXT_FREE_SOURCES = ("model", "scheme", "lengths", "probe", "positional", "analogy", "roledefs", "roleprobe", "labrun")
# ^ the sources whose request above holds neither the sentence nor a token of it


def reads_text(settings: Any, body: str, ask: Any = None) -> bool:
    """Whether a step reads the sentence on screen: a placeholder of its text (any claim, shown or not, and its
    conditions) or of its question, a role, the question's answer, or a setting found in the sentence (a word or role
    as `token`, `head: @top-head` on the sentence, `ablate: @strongest-head`). A step that reads none (the measured
    curves of the position lab, the nearest words of its own `word`) is the same on every sentence: the page does not
    say that it runs on the student's sentence, nor offer the lesson's (frontend/js/lessons.js ownNote). The view is
    not counted: a step is about what its text says."""
    if ask is not None and QUESTION_SOURCES[ask.kind] not in TEXT_FREE_SOURCES:
        return True
    if isinstance(settings.token, str) or settings.ablate_role:
        return True
    if settings.head_role and not (settings.head_role == "top-head" and settings.probe):
        return True
    for expr, name, args, parts in _placeholders(body, ask):
        if "@" in expr or "#" in expr:
            return True  # a role, a word of the sentence
        if any(p in ("$token", "$prev") for p in parts[1:]) or (args and "token" in args):
            return True  # the query token: a token of the sentence
        if name == "state":
            if parts[1:2] == ["token"]:
                return True
        elif name == "neighbors":
            if not settings.word:
                return True  # the nearest words of the selected token
        elif name == "rolemodels":
            if not settings.probe:
                return True
        elif name not in TEXT_FREE_SOURCES:
            return True
    return False


MODEL_FREE_SOURCES = ("lengths", "probe", "roledefs", "labrun", "state")
# ^ the same whatever the page's model: the position lab's measured curves, the role definitions, the training lab's
#   run, the page's own settings
MODEL_FREE_VIEWS = ("poslab", "lab")  # the views that draw nothing of the page's model (their sources are the above)


def reads_model(settings: Any, body: str, ask: Any = None) -> bool:
    """Whether a step reads the page's model: anything of the sentence (its tokens are the model's; reads_text), a
    head chosen by a role, a view that draws the model, a question on it, or a placeholder of a source that is not in
    MODEL_FREE_SOURCES and names no model of its own (`scheme(model=tiny-learned)` does). A step that reads none (the
    position lab's measured curves, the training lab's run) is the same on every model: the page does not say that it
    runs on another model than the lesson's, nor offer the lesson's (frontend/js/lessons.js ownNote)."""
    if settings.view not in MODEL_FREE_VIEWS or settings.head_role or reads_text(settings, body, ask):
        return True
    if ask is not None and QUESTION_SOURCES[ask.kind] not in MODEL_FREE_SOURCES:
        return True
    return any(name not in MODEL_FREE_SOURCES and not (args and "model=" in args)
               for _, name, args, _ in _placeholders(body, ask))


def _placeholders(body: str, ask: Any = None) -> Iterator[tuple[str, str, str | None, list[str]]]:
    """Each {{placeholder}} of a step's text and question: (its expression without its format, shortcuts not
    expanded; the source's name; the source's arguments or None; the path's parts, shortcuts expanded)."""
    for text in (body, (ask.prompt or "") if ask is not None else ""):
        for inner in re.findall(r"\{\{(.*?)\}\}", text, flags=re.S):
            expr = split_top(inner.strip(), "|")[0].strip()
            parts = [p.strip() for p in split_top(SHORTCUTS.get(expr, expr), ".")]
            m = re.fullmatch(r"([a-z]+)(?:\((.*)\))?", parts[0])
            yield expr, (m[1] if m else parts[0]), (m[2] if m else None), parts


SOURCE_NAMES = ("analyze", "explain", "qkv", "predict", "embeddings", "neighbors", "analogy", "positional",
                "decompose", "lens", "logit", "attnattr", "scheme", "lengths", "probe", "model", "state", "roles", "roledefs",
                "roleprobe", "rolemodels", "labrun")


# --------------------------------------------------------------------------- the path language

def split_top(s: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ReadError(f"unbalanced ) in “{s}”")
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise ReadError(f"unbalanced ( in “{s}”")
    out.append(cur)
    return out


def word_of(text: Any) -> str:
    t = str(text)
    return t.replace("␣", " ").strip() or t


def token_note(root: Any, path: list) -> str:
    """What follows a token's text in the lesson's text where another token of the sentence reads as the same word
    (position_note: " (token 7)"): where `path` (resolve_path's) ends on the text of one of the answer's own tokens
    (`tokens.7.display`, `tokens.7.text`: the sentence's), else "". As lesson-template.js tokenNote(); a placeholder
    formatted `| word` (a text that names the token's position itself) goes without."""
    at = _token_at(root, path)
    if at is None:
        return ""
    return position_note([word_of(t.get("display", "")) for t in root["tokens"]], at, [at])


def _token_at(root: Any, path: list) -> int | None:
    """The index of the token of `root`'s own `tokens` whose text `path` ends on (`tokens.7.display`: 7), else None."""
    if (isinstance(root, dict) and isinstance(root.get("tokens"), list) and len(path) == 3 and path[0] == "tokens"
            and isinstance(path[1], int) and not isinstance(path[1], bool) and path[2] in ("display", "text")):
        return path[1]
    return None


def shown_text(value: Any, fmt: str, root: Any, path: list, query: int) -> str:
    """A placeholder's value as the lesson's text shows it (as lesson-template.js placeholderText()): formatted, a
    token's text with its token_note() unless `| word`; `| self` writes "itself" where the token named is the query's
    own (the answer's `query`, explain's, where it has one; else `query`, the selected token), and anywhere else is
    written as with no format."""
    if not isinstance(value, str):
        return format_value(value, fmt)
    at = _token_at(root, path)
    own = root.get("query") if isinstance(root, dict) and isinstance(root.get("query"), int) else query
    if fmt == "self" and at is not None and at == own:
        return "itself"
    return format_value(value, fmt) + ("" if fmt == "word" else token_note(root, path))


def _arg(arr: list, better, skip=lambda i: False) -> int:
    best = -1
    for i, v in enumerate(arr):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or skip(i):
            continue
        if best < 0 or better(v, arr[best]):
            best = i
    if best < 0:
        raise ReadError("no number to compare")
    return best


def _find_word(seg: str, tokens: list[dict]) -> int:
    m = re.fullmatch(r"#(.+?)(?:/(\d+))?", seg)
    word, nth = m[1].lower(), int(m[2] or 1)
    for i, t in enumerate(tokens):
        if word_of(t["display"]).lower() == word:
            nth -= 1
            if nth == 0:
                return i
    raise ReadError(f"there is no {m[2] + 'th ' if m[2] else ''}token “{m[1]}” in this sentence")


def resolve_path(root: Any, segments: list[str], ctx: dict) -> tuple[Any, list]:
    """Follow a placeholder's path from an answer (the same steps as lesson-template.js resolve()). ctx: layer, head,
    token, depth, tokens. -> (value, the concrete keys taken)."""
    cur, path = root, []
    tokens = root["tokens"] if isinstance(root, dict) and isinstance(root.get("tokens"), list) else ctx.get("tokens")
    for seg in segments:
        if cur is None:
            raise ReadError(f"nothing at {'.'.join(map(str, path)) or 'the top'}")
        if re.fullmatch(r"-?\d+", seg):
            key = int(seg)
            if isinstance(cur, list) and key < 0:
                key += len(cur)
            elif isinstance(cur, dict) and seg in cur:  # a number on a record is its key: `at.512`
                key = seg
        elif seg in ("$layer", "$head"):
            key = ctx[seg[1:]]
        elif seg in ("$token", "$prev"):
            key = ctx["token"] - (1 if seg == "$prev" else 0)
        elif seg == "$depth":
            d = ctx.get("depth")
            key = len(cur) - 1 if d is None or not isinstance(cur, list) or d >= len(cur) else d
        elif seg == "$all":  # every item of a list of lists, as one list (heads.$all: every head of every layer)
            if not isinstance(cur, list) or not all(isinstance(x, list) for x in cur):
                raise ReadError(f"$all needs a list of lists at {'.'.join(map(str, path)) or 'the top'}")
            cur = [x for row in cur for x in row]
            path.append("$all")
            continue
        elif re.fullmatch(r"\$sum\(\s*\d+(?:\s*,\s*\d+)*\s*\)", seg):  # $sum(2,3,4): those items added
            picked = [int(i) for i in seg[5:-1].split(",")]
            numbers = isinstance(cur, list) and all(
                i < len(cur) and isinstance(cur[i], (int, float)) and not isinstance(cur[i], bool) for i in picked)
            if not numbers:
                raise ReadError(f"{seg} needs a list of numbers with those indices at "
                                f"{'.'.join(map(str, path)) or 'the top'}")
            cur = sum(cur[i] for i in picked)
            path.append(seg)
            continue
        elif seg in ("$max", "$min"):
            key = _arg(cur, (lambda a, b: a > b) if seg == "$max" else (lambda a, b: a < b))
        elif seg in ("$maxcount", "$maxalike"):  # how many numbers of the list are its largest (1: it alone), or
            # read as it does with two decimals (the lesson text's, the heatmap cells'), it too
            top = cur[_arg(cur, lambda a, b: a > b)]
            numbers = [v for v in cur if isinstance(v, (int, float)) and not isinstance(v, bool)]
            cur = sum(1 for v in numbers if v == top) if seg == "$maxcount" else \
                sum(1 for v in numbers if two_decimals(v) == two_decimals(top))
            path.append(seg)
            continue
        elif seg == "$2nd":
            top = _arg(cur, lambda a, b: a > b)
            key = _arg(cur, lambda a, b: a > b, lambda i, top=top: i == top)
        elif seg == "$next":  # the largest below the largest: past every number that ties for it
            top = cur[_arg(cur, lambda a, b: a > b)]
            key = _arg(cur, lambda a, b: a > b, lambda i, top=top, cur=cur: cur[i] == top)
        elif m := re.fullmatch(r"\$(?:(max|min)(count|alike)|2nd(min)?|next(min)?)\((.+)\)", seg):
            # over a list of records, by `path`: $maxcount(path) $mincount(path), how many have the largest / smallest
            # (1: it alone); $maxalike(path) $minalike(path), how many read as it does with two decimals (the lesson
            # text's, the per-head summary's), it too; $2nd(path) $2ndmin(path), the index of the second largest /
            # smallest (the next after the one $max(path) / $min(path) picks); $next(path) $nextmin(path), the index of
            # the largest below the largest / the smallest above the smallest, past every record that ties for it
            if not isinstance(cur, list):
                raise ReadError(f"{seg} needs a list")
            sub = [s.strip() for s in split_top(m[5], ".")]
            vals = [resolve_path(item, sub, {**ctx, "tokens": tokens})[0] for item in cur]
            better = (lambda a, b: a < b) if m[1] == "min" or m[3] or m[4] else (lambda a, b: a > b)
            first = _arg(vals, better)
            if m[2]:
                numbers = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
                cur = sum(1 for v in numbers if v == vals[first]) if m[2] == "count" else \
                    sum(1 for v in numbers if two_decimals(v) == two_decimals(vals[first]))
                path.append(seg)
                continue
            key = _arg(vals, better, (lambda i, vals=vals, top=vals[first]: vals[i] == top) if seg.startswith("$next")
                       else (lambda i, first=first: i == first))
        elif seg in ("$maxword", "$maxwordcount", "$maxwordalike", "$2ndword", "$nextword"):
            # (a special token, or a key the query cannot see: the `mask`)
            masked = root.get("mask") if isinstance(root, dict) and isinstance(root.get("mask"), list) else []

            def not_word(i, masked=masked):
                return bool(tokens and i < len(tokens) and tokens[i].get("special")) or bool(i < len(masked) and masked[i])
            key = _arg(cur, lambda a, b: a > b, not_word)
            if seg in ("$maxwordcount", "$maxwordalike"):  # how many of those keys have that largest number (1: it
                # alone), or read as it does with two decimals (it too)
                words = [v for i, v in enumerate(cur) if not not_word(i) and isinstance(v, (int, float))
                         and not isinstance(v, bool)]
                cur = sum(1 for v in words if v == cur[key]) if seg == "$maxwordcount" else \
                    sum(1 for v in words if two_decimals(v) == two_decimals(cur[key]))
                path.append(seg)
                continue
            if seg == "$2ndword":  # the second largest of those keys
                key = _arg(cur, lambda a, b: a > b, lambda i, first=key: not_word(i) or i == first)
            if seg == "$nextword":  # the largest of those keys below the largest: past every key that ties for it
                key = _arg(cur, lambda a, b: a > b, lambda i, top=cur[key], cur=cur: not_word(i) or cur[i] == top)
        elif (m := re.fullmatch(r"\$(max|min)(seen)?(?:\((.+)\))?", seg)) and (m[2] or m[3]):
            # $max(path) $min(path): over a list of records, by `path`; $maxseen $minseen (and with a path): only the
            # keys the query can see (leaving out those the answer's `mask` marks true: explain's keys after the query)
            if not isinstance(cur, list):
                raise ReadError(f"{seg} needs a list")
            hidden = root.get("mask") if m[2] and isinstance(root, dict) else None
            if m[2] and not (isinstance(hidden, list) and len(hidden) == len(cur)):
                raise ReadError(f"{seg} needs an answer with a mask as long as the list")
            sub = [s.strip() for s in split_top(m[3], ".")] if m[3] else []
            vals = [resolve_path(item, sub, {**ctx, "tokens": tokens})[0] for item in cur]
            key = _arg(vals, (lambda a, b: a > b) if m[1] == "max" else (lambda a, b: a < b),
                       lambda i, hidden=hidden: bool(hidden and hidden[i]))
        elif seg.startswith("#"):
            if not tokens:
                raise ReadError("no tokens to find a word in")
            key = _find_word(seg, tokens)
        elif re.fullmatch(r"@\(.+\)", seg):
            sub = [s.strip() for s in split_top(seg[2:-1], ".")]
            inner = resolve_path(root, sub, ctx)[1]
            key = inner[-1] if inner else None
            if not isinstance(key, int):
                raise ReadError(f"{seg} does not end on an index")
        elif re.fullmatch(r"[A-Za-z_][\w-]*", seg):
            key = seg
        else:
            raise ReadError(f"“{seg}” is not a path step")
        if isinstance(key, int):
            if not isinstance(cur, list):
                raise ReadError(f"{'.'.join(map(str, path))} is not a list")
            if not 0 <= key < len(cur):
                raise ReadError(f"index {key} is outside {'.'.join(map(str, path)) or 'the list'} (length {len(cur)})")
        elif not isinstance(cur, dict) or key not in cur:
            raise ReadError(f"no “{key}” at {'.'.join(map(str, path)) or 'the top'}")
        path.append(key)
        cur = cur[key]
    return cur, path


def two_decimals(value: float, places: int = 2) -> str:
    """A number as the page writes it with two decimals (JavaScript's toFixed(2), Plotly's `.2f`: half up on the
    number's exact binary value, not Python's half to even), "0.00" for a small negative one; with `places`, that
    many decimals (the ablation heatmap's cells: 3)."""
    text = str(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return text[1:] if re.fullmatch(r"-0\.0*", text) else text


def format_value(value: Any, fmt: str) -> str:
    """As lesson-template.js format()."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if fmt == "pct":
            return f"{math.floor(value * 100 + 0.5)}%"  # half up, as JavaScript's Math.round (not Python's to even)
        if fmt == "prob4":  # a probability of the logit lens's answer (4 decimals) as the lens writes it (derive.js
            # probText with decimals 4): 3 decimals from 0.01, 4 below, "< 0.0001" for a 0; half up, as toFixed
            if value == 0:
                return "< 0.0001"
            places = Decimal("0.0001") if abs(value) < 0.01 else Decimal("0.001")
            return str(Decimal(value).quantize(places, rounding=ROUND_HALF_UP))
        if fmt == "int" or (fmt == "" and float(value).is_integer()):
            return f"{math.floor(value + 0.5):,}"  # thousands grouped (4,092), as the page's captions
        digits = int(fmt) if re.fullmatch(r"\d", fmt) else 2
        text = f"{value:.{digits}f}"
        return text[1:] if re.fullmatch(r"-0\.?0*", text) else text  # 0.00, not -0.00
    if isinstance(value, str):
        return value if fmt == "raw" else word_of(value)
    raise ReadError("this names a list or an object, not one value: add a path step")


# --------------------------------------------------------------------------- conditions

COND_TOKEN = re.compile(r"\s*(?:(\{\{.*?\}\})|(\d+(?:\.\d+)?)|\"([^\"]*)\"|'([^']*)'|(<=|>=|==|!=|<|>|\(|\)|\+|-|\*|/)"
                        r"|([A-Za-z]+))")
WORD_OPS = ("and", "or", "not", "abs")


def tokenize_condition(text: str) -> list[tuple[str, Any]]:
    """`{{explain.weights.@pronoun}} > 0.5 and ...` -> [(kind, value)]; raises ValueError on anything else."""
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        m = COND_TOKEN.match(text, i)
        if not m or m.end() == i:
            raise ValueError(f"cannot read the condition at “{text[i:i + 20]}”")
        if m[1]:
            out.append(("ref", m[1][2:-2].strip()))
        elif m[2]:
            out.append(("num", float(m[2])))
        elif m[3] is not None or m[4] is not None:
            out.append(("str", m[3] if m[3] is not None else m[4]))
        elif m[5]:
            out.append(("op", m[5]))
        else:
            w = m[6].lower()
            if w in ("true", "false"):
                out.append(("bool", w == "true"))
            elif w not in WORD_OPS:
                raise ValueError(f"“{m[6]}” is not a word of a condition (and, or, not, abs; a number in "
                                 "{{ }} braces)")
            else:
                out.append(("op", w))
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
    if not out:
        raise ValueError("an empty condition")
    return out


class _Parser:
    """A small recursive-descent reader of conditions: or / and / not, comparisons, + - * /, abs(), parentheses.
    It builds a tree of tuples; nothing is ever handed to eval."""

    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else ("end", None)

    def take(self, value=None):
        tok = self.peek()
        if value is not None and tok != ("op", value):
            raise ValueError(f"expected “{value}”")
        self.i += 1
        return tok

    def parse(self):
        tree = self.or_()
        if self.peek()[0] != "end":
            raise ValueError(f"unexpected “{self.peek()[1]}”")
        return tree

    def or_(self):
        left = self.and_()
        while self.peek() == ("op", "or"):
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self):
        left = self.not_()
        while self.peek() == ("op", "and"):
            self.take()
            left = ("and", left, self.not_())
        return left

    def not_(self):
        if self.peek() == ("op", "not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self):
        left = self.sum()
        if self.peek()[0] == "op" and self.peek()[1] in ("<", "<=", ">", ">=", "==", "!="):
            op = self.take()[1]
            return ("cmp", op, left, self.sum())
        return left

    def sum(self):
        left = self.prod()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            left = ("arith", op, left, self.prod())
        return left

    def prod(self):
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            left = ("arith", op, left, self.unary())
        return left

    def unary(self):
        if self.peek() == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self):
        kind, value = self.take()
        if kind in ("num", "str", "bool"):
            return ("lit", value)
        if kind == "ref":
            return ("ref", value)
        if (kind, value) == ("op", "abs"):
            self.take("(")
            inner = self.sum()
            self.take(")")
            return ("abs", inner)
        if (kind, value) == ("op", "("):
            inner = self.or_()
            self.take(")")
            return inner
        raise ValueError(f"unexpected “{value}”" if kind != "end" else "the condition ends too early")


def parse_condition(text: str):
    """A condition's text -> its tree (raises ValueError with what is wrong)."""
    return _Parser(tokenize_condition(text)).parse()


def condition_refs(tree) -> list[str]:
    if tree[0] == "ref":
        return [tree[1]]
    return [r for part in tree[1:] if isinstance(part, tuple) for r in condition_refs(part)]


def evaluate_condition(tree, read: Callable[[str], Any]):
    """The value of a condition's tree; read(ref) gives a placeholder's value (raising ReadError when it cannot)."""
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "ref":
        return read(tree[1])
    if kind == "not":
        return not evaluate_condition(tree[1], read)
    if kind in ("and", "or"):
        # both sides read (no short cut: every number a condition names is reported); a side that cannot be read
        # stops the condition unless the other settles it (false for `and`, true for `or`): a guard such as "the
        # query is not the start token and …" holds where the numbers after it cannot be read
        settles = kind == "or"
        sides = []
        for side in (tree[1], tree[2]):
            try:
                sides.append(bool(evaluate_condition(side, read)))
            except ReadError as e:
                sides.append(e)
        if settles in sides:
            return settles
        for v in sides:
            if isinstance(v, ReadError):
                raise v
        return (sides[0] and sides[1]) if kind == "and" else (sides[0] or sides[1])
    if kind == "neg":
        return -_num(evaluate_condition(tree[1], read))
    if kind == "abs":
        return abs(_num(evaluate_condition(tree[1], read)))
    if kind == "arith":
        a, b = _num(evaluate_condition(tree[2], read)), _num(evaluate_condition(tree[3], read))
        if tree[1] == "/" and b == 0:
            raise ReadError("a division by zero")
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else math.nan}[tree[1]]
    if kind == "cmp":
        a, b = evaluate_condition(tree[2], read), evaluate_condition(tree[3], read)
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:  # yes/no (or nothing): == and !=
            if tree[1] not in ("==", "!="):
                raise ReadError("true, false and null can only be compared with == or !=")
            return (a == b) == (tree[1] == "==")
        if isinstance(a, str) or isinstance(b, str):  # words: compared as words, case ignored
            a, b = word_of(a).lower(), word_of(b).lower()
            if tree[1] not in ("==", "!="):
                raise ReadError("words can only be compared with == or !=")
        else:
            a, b = _num(a), _num(b)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[tree[1]]
    raise ReadError(f"unknown condition part {kind}")  # pragma: no cover


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ReadError(f"{v!r} is not a number")
    return v


# --------------------------------------------------------------------------- claim blocks

BLOCK_RE = re.compile(r"^:::\s*(when\s+(?P<cond>.+)|else|)\s*$")


def split_claims(body: str, first_line: int = 1) -> list:
    """The text -> a list of parts: a string (always shown), or (line, condition, when_text, else_text).
    Raises ValueError (with the line) on a block that is not closed, an `else` outside a block, nesting."""
    parts: list = []
    lines = body.split("\n")
    plain: list[str] = []
    block = None
    for n, row in enumerate(lines):
        m = BLOCK_RE.match(row.strip()) if row.strip().startswith(":::") else None
        line = first_line + n
        if m is None:
            (block["else" if block and block["in_else"] else "when"] if block else plain).append(row)
            continue
        if m["cond"] is not None:
            if block:
                raise ValueError(f"line {line}: a `::: when` inside another (close the first with `:::`)")
            try:
                parse_condition(m["cond"])
            except ValueError as e:
                raise ValueError(f"line {line}: {e}") from None
            parts.append("\n".join(plain))
            plain = []
            block = {"line": line, "cond": m["cond"].strip(), "when": [], "else": [], "in_else": False}
        elif row.strip().startswith(":::") and "else" in row:
            if not block or block["in_else"]:
                raise ValueError(f"line {line}: `::: else` outside a `::: when` block")
            block["in_else"] = True
        else:
            if not block:
                raise ValueError(f"line {line}: `:::` closes no `::: when` block")
            parts.append((block["line"], block["cond"], "\n".join(block["when"]), "\n".join(block["else"])))
            block = None
    if block:
        raise ValueError(f"line {block['line']}: the `::: when` block is not closed by a line `:::`")
    parts.append("\n".join(plain))
    return parts


# --------------------------------------------------------------------------- model kinds

NEEDS = {
    "causal": "a causal model (one that reads left to right and predicts the next word)",
    "bidirectional": "a bidirectional model (an encoder that reads the whole sentence at once)",
    "positions": "a model with a positional encoding",
    "added-positions": "a model whose positions are a vector added to the embeddings (sinusoidal or learned)",
    "start-token": "a model that puts a start token before the sentence",
    "predictions": "a model that predicts the next word",
    "tiny": "one of the tiny models trained alike (they share one tokenizer, so a token index names the same token "
            "in each)",
}


POSITIONAL_HOW = {"rotary": "a rotation of each query and key", "alibi": "a bias on the scores that grows with the "
                  "distance"}


def kind_problem(need: str, model: dict, tokens: list[dict] | None) -> str | None:
    """Why `model` is not what `need` asks, or None."""
    name = model["name"]
    if need == "causal" and model["kind"] != "causal":
        return f"{name} is {model['kind']}: it reads the whole sentence in both directions"
    if need == "bidirectional" and model["kind"] != "bidirectional":
        return f"{name} is causal: each token reads only the tokens before it"
    if need == "positions" and model["positional"] == "none":
        return f"{name} has no positional encoding"
    if need == "added-positions" and model["positional"] not in ("sinusoidal", "learned"):
        if model["positional"] == "none":
            return f"{name} has no positional encoding at all"
        how = POSITIONAL_HOW.get(model["positional"], "its own scheme")
        return f"{name} gives positions by {model['positional']} ({how}), not as a vector added to the embeddings"
    if need == "predictions" and (why := _unavailable(model, "predictions")):
        return why.rstrip(".")
    if need == "tiny":
        from models import registry
        if (model.get("checkpoint_of") or name) not in registry.TINY_ORDER:  # (a checkpoint of one is one)
            return f"{name} is not one of them"
    if need == "start-token" and tokens is not None and not (tokens and tokens[0].get("special")):
        return f"{name} puts no start token before the sentence"
    return None


# --------------------------------------------------------------------------- resolving a step

# frontend/js/state.js DEFAULTS: what the page shows where a step sets nothing
STATE_DEFAULTS = {"role": "previous-token", "temp": 1.0, "word": "", "a": "king", "b": "man", "c": "woman",
                  "expect": "queen", "depth": None, "metric": "cosine", "pn": 64}
# the sources whose request is made of what the student types in the page's boxes (the analogy row, the nearest-words
# box): where the student has changed those, a number of theirs that cannot be read waits on the student (a box
# emptied, a word the model cannot use), not on the lesson's author
TYPED_SOURCES = {"analogy": ("a", "b", "c", "expect"), "neighbors": ("word",)}


def _full_stop(text: str) -> str:
    """A message as the lesson panel shows it, a sentence: with its full stop (a ReadError's words, written to be
    quoted after a colon, have none)."""
    return text if text.rstrip("”’\"')").endswith((".", "!", "?")) else f"{text}."


class RoleMissing(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def default_query_of(tokens: list[dict]) -> int:
    """The default query among the API's `tokens` (their `special`): the last that stands for text, as the page's."""
    from backend.schemas import default_query
    return default_query([bool(t.get("special")) for t in tokens])


class StepContext:
    """What a step is resolved on: the answers of the API for one sentence and model (memoised), the state."""

    def __init__(self, fetch: Callable[[str, dict], dict], models: dict[str, dict], model: dict, state: dict,
                 typed: frozenset[str] = frozenset()):
        """`typed`: the fields of TYPED_SOURCES the student changed from the step's own (their numbers wait on the
        student where they cannot be read)."""
        self.fetch, self.models, self.model, self.state, self.typed = fetch, models, model, state, typed
        self.memo: dict[str, dict] = {}
        self.roles: dict[str, RoleFound] = {}
        self.tokens = self.analysis(state, model)["tokens"]
        self.words = words_of(self.tokens)

    def get(self, api: str, params: dict) -> dict:
        import json
        key = json.dumps([api, params], sort_keys=True)
        if key not in self.memo:
            try:
                self.memo[key] = self.fetch(api, params)
            except (ValueError, LookupError) as e:
                raise ReadError(str(e).strip("'\"")) from None
        return self.memo[key]

    def analysis(self, state: dict, model: dict) -> dict:
        api, params = source_request("analyze", state, model, {}, None)
        return self.get(api, params)

    @staticmethod
    def query_of(state: dict, tokens: list) -> int:
        """The selected query token, or where none is (or one past the end), the default (schemas.default_query)."""
        t = state.get("token")
        return t if isinstance(t, int) and 0 <= t < len(tokens) else default_query_of(tokens)

    def source(self, name: str, overrides: dict) -> tuple[Any, dict | None, dict]:
        """(the answer, the request {method, path, params} or None, the path context) of a source."""
        state, model = dict(self.state), self.model
        for key, raw in overrides.items():
            if key == "model":
                if raw not in self.models:
                    raise ReadError(f"there is no model “{raw}”")
                model = self.models[raw]
                if not model.get("available", True):
                    raise ReadError(f"{raw} is not installed")
            elif key == "positions":
                if raw not in ("normal", "removed", "shuffled"):
                    raise ReadError(f"positions={raw}: it is one of normal, removed, shuffled")
                state["positions"] = raw
            elif key == "scale":
                state["scale"] = str(raw).lower() not in OFF
            elif key == "ablate":
                if raw == "selected":
                    continue  # the selected head, once any layer= and head= are read (below)
                from backend.vocabulary import parse_ablate
                try:
                    state["ablate"] = [tuple(p) for p in parse_ablate(raw)]
                except ValueError as e:
                    raise ReadError(str(e)) from None
            else:
                try:
                    n = float(raw)
                except ValueError:
                    raise ReadError(f"{key}={raw} is not a number") from None
                if key != "temp" and not n.is_integer():
                    raise ReadError(f"{key}={raw} is not a number")
                state[key] = n if key == "temp" else int(n)
        if overrides.get("ablate") == "selected":
            state["ablate"] = [(state["layer"], state["head"])]
        # (a source whose request holds no text needs no pass of its model on the sentence: tiny-learned's scheme is
        # read on a sentence longer than tiny-learned can run)
        tokens = self.analysis(state, model)["tokens"] if name not in TEXT_FREE_SOURCES else self.tokens
        query = self.query_of(state, tokens)
        req = source_request(name, state, model, overrides, query, self.models)
        ctx = {"layer": state["layer"], "head": state["head"], "token": query, "depth": state.get("depth"),
               "tokens": tokens}
        if isinstance(req, dict):
            return req["value"], None, ctx
        api, params = req
        if api == "neighbors" and "word" not in params:
            params = {**params, "token_id": tokens[query]["id"]}
        method, path = API_PATHS[api]
        return self.get(api, params), {"method": method, "path": path, "params": params}, ctx

    def fetch_source(self, name: str) -> dict:
        return self.source(name, {})[0]

    # roles ----------------------------------------------------------------

    def role(self, ref: str) -> RoleFound:
        """`pronoun`, `noun/2`: the word found, or RoleMissing with the plain sentence."""
        m = re.fullmatch(r"([a-z][a-z-]*)(?:/(\d+))?", ref)
        if not m or m[1] not in ROLES:
            raise ReadError(f"“@{ref}” is not a role (the roles: {', '.join('@' + r for r in ROLES)})")
        if ref not in self.roles:
            n = int(m[2] or 1)
            word: Word | None = ROLES[m[1]].find(self, n)
            self.roles[ref] = RoleFound(role=ref, word=word.text if word else None,
                                        tokens=word.tokens if word else [], index=word.index if word else None)
        found = self.roles[ref]
        if found.index is None:
            raise RoleMissing(missing_message(m[1], int(m[2] or 1), self.state["text"]))
        return found

    def word_note(self, found: RoleFound) -> str:
        """What follows a role's word where another word of the sentence reads the same (position_note: " (token 7)",
        " (tokens 7 to 9)" for a word in pieces); a token that is no word (@top-key on the start token): among the
        tokens."""
        own = next((i for i, w in enumerate(self.words) if w.tokens == found.tokens), None)
        if own is None:
            return position_note([word_of(t.get("display", "")) for t in self.tokens], found.index, [found.index])
        return position_note([w.text for w in self.words], own, found.tokens)

    def with_roles(self, expr: str) -> str:
        """A placeholder's expression with each `@role` replaced by its token index; `@role` alone: left for
        rewrite() (a word, not an index)."""
        if _bare_role(expr):
            return expr
        # $sum(@role): every token of the word (a word in pieces), before @role alone becomes its one token
        expr = re.sub(r"\$sum\(\s*(" + ROLE_RE.pattern + r")\s*\)",
                      lambda m: f"$sum({','.join(map(str, self.role(m[1][1:]).tokens))})", expr)
        return ROLE_RE.sub(lambda m: str(self.role(m[0][1:]).index), expr)

    # numbers --------------------------------------------------------------

    def read(self, raw: str) -> NumberRead:
        """One placeholder (roles already replaced) read from the answers; a head role's number (HEAD_FIELDS) from
        the role's own answer, head_number()."""
        raw = raw.strip()
        if _bare_role(raw) and "." in raw.split("|")[0]:
            return head_number(self, raw)
        typed = False  # whether it reads a source the student typed the words of (TYPED_SOURCES)
        try:
            expr, fmt = ([s.strip() for s in split_top(raw, "|")] + [""])[:2]
            name, overrides, segments = parse_placeholder(expr)
            spec = name + (f"({','.join(f'{k}={overrides[k]}' for k in sorted(overrides))})" if overrides else "")
            typed = any(k in self.typed for k in TYPED_SOURCES.get(name, ()))
            data, request, ctx = self.source(name, overrides)
            try:
                value, path = resolve_path(data, segments, ctx)
            except ReadError as e:
                return NumberRead(placeholder=raw, source=spec, request=request, error=str(e),
                                  waiting=_unread_part(name, data, segments) if typed else None)
            return NumberRead(placeholder=raw, value=value, shown=shown_text(value, fmt, data, path, ctx["token"]),
                              source=spec, request=request, path=path)
        except ReadError as e:
            return NumberRead(placeholder=raw, error=str(e), waiting=str(e) if typed else None)

    def piece_of(self, expr: str) -> str | None:
        """`{{top_key | piece}}`: where the token whose text `expr` (roles replaced, no format) names is a piece of a
        longer word of its answer's sentence, and not the query's own token, what follows it (piece_note: " (the first
        piece of “hedgehog”)"); else None. A number that cannot be read: None (its placeholder reports it)."""
        try:
            name, overrides, segments = parse_placeholder(expr)
            data, _, ctx = self.source(name, overrides)
            value, path = resolve_path(data, segments, ctx)
        except ReadError:
            return None
        at = _token_at(data, path)
        if at is None or shown_text(value, "self", data, path, ctx["token"]) == "itself":
            return None
        words = words_of(data["tokens"])
        word = next((w for w in words if at in w.tokens), None)
        note = piece_note(word.text, word.tokens, at) if word else ""
        if not note:
            return None
        # (the same piece of the same word twice in the sentence: which copy, in the one parenthesis)
        twice = sum(w.key == word.key and len(w.tokens) == len(word.tokens) for w in words) > 1
        return f" (token {at}, {note[2:]}" if twice else note


def _unread_part(source: str, data: Any, segments: list[str]) -> str:
    """What the student is told where a typed source answered but the number is not in its answer: the analogy's
    expected word, left empty or not one token."""
    if source == "analogy" and segments[:1] == ["expected"] and isinstance(data, dict) and data.get("expected") is None:
        return data.get("expected_unavailable") or "Type the word you expect after ≈ to see where it ranks."
    return f"{source} has no {'.'.join(segments)} for the words typed."


def _bare_role(expr: str) -> bool:
    """`@noun`, `@repeated/2`, or a head role's number `@strongest-head.alike` (HEAD_FIELDS), with any format."""
    return bool(re.fullmatch(r"\s*@[a-z][a-z-]*(?:/\d+)?(?:\.[\w.-]+)?\s*(\|.*)?", expr))


def parse_placeholder(expr: str) -> tuple[str, dict, list[str]]:
    """A placeholder's expression (no format) -> its source's name, overrides and path steps; a shortcut is read as
    its path. Raises ReadError."""
    expr = SHORTCUTS.get(expr.strip(), expr.strip())
    parts = [s.strip() for s in split_top(expr, ".")]
    m = re.fullmatch(r"([a-z]+)(?:\((.*)\))?", parts[0])
    if not m or m[1] not in SOURCE_NAMES:
        raise ReadError(f"“{parts[0]}” is neither a shortcut nor a source ({', '.join(SOURCE_NAMES)})")
    overrides = {}
    for part in filter(None, (p.strip() for p in (m[2] or "").split(","))):
        o = re.fullmatch(r"([a-z]+)\s*=\s*(.+)", part)
        if not o or o[1] not in OVERRIDES:
            raise ReadError(f"“{part}” is not an override ({', '.join(OVERRIDES)})")
        overrides[o[1]] = o[2].strip()
    return m[1], overrides, parts[1:]


def rewrite(text: str, ctx: StepContext) -> str:
    """Roles in a text's placeholders -> token indices; `{{@role}}` -> the word itself; a token's text written
    `| piece` -> the token as a piece of its word where it is one, the note after its bold as a role's `| piece`
    (`**{{top_key | word}}** (the first piece of “hedgehog”)`: the note tells it from a token that reads alike), else
    as `| self` ("itself" where it is the query's own token). Raises RoleMissing."""
    def one(m):
        inner, bold = m.group(1), m.group(2) or ""
        expr, _, fmt = inner.partition("|")
        if fmt.strip() == "piece" and not _bare_role(inner):
            expr = ctx.with_roles(expr.strip())
            note = ctx.piece_of(expr)
            return "{{" + expr + (" | word}}" + bold + note if note else " | self}}" + bold)
        return plain(inner) + bold

    def plain(inner):
        if _bare_role(inner):
            ref, fmt = ([s.strip() for s in inner.split("|")] + [""])[:2]
            if "." in ref:  # a head role's number: left to the page, which shows the step's read of it
                # (head_number) as its other numbers; read here, so that a role that finds no head says so
                head_field(ctx, ref[1:])
                return "{{" + inner + "}}"
            if fmt not in ("piece", "pieces"):
                found = ctx.role(ref[1:])
                return found.word + ("" if fmt == "word" else ctx.word_note(found))
            try:
                found = ctx.role(ref[1:])
            except RoleMissing:  # (no word there, such as a query on the start token: nothing to say)
                return ""
            return piece_note(found.word, found.tokens, found.index) if fmt == "piece" else pieces_note(found.tokens)
        return "{{" + ctx.with_roles(inner) + "}}"
    return re.sub(r"\{\{(.*?)\}\}(\*\*)?", one, text)


def strongest_head(ctx: StepContext, pick_layer: bool = False) -> list[tuple[int, int]]:
    """`ablate: @strongest-head`: the head of strongest_effect()."""
    best = strongest_effect(ctx, pick_layer)
    return [(best["layer"], best["head"])]


def strongest_effect(ctx: StepContext, pick_layer: bool = False) -> dict:
    """`ablate: @strongest-head`: the head whose ablation lowers the probability of the model's top next token the
    most (measured: POST /api/attribution/ablation), over every head of a model with at most 64 heads, else over
    the step's layer; with `pick_layer` (a role that chooses the layer too), over the layer of the head whose
    direct logit attribution to that token is the largest (POST /api/attribution/logit: SmolLM2's 270 heads are too
    many to switch off one by one here, and its layer 0 held none of the heads that mattered). ReadError where no
    head tried lowers it.

    -> {layer, head, delta_prob: its change of that probability, lowest: how many heads tried share that change,
    alike: how many read as it with three decimals (as the Beyond attention heatmap writes its cells), next: the head
    whose change comes next (layer, head, delta_prob; null where only one was tried)}."""
    m = ctx.model
    run = _base({**ctx.state, "ablate": []}, m)
    layers = None  # every head
    if m["n_layers"] * m["n_heads"] > 64:
        heads = ctx.get("logit", run)["heads"] if pick_layer else None  # [layer][head]
        layers = [max(range(len(heads)), key=lambda layer: max(heads[layer]))] if heads else [ctx.state["layer"]]
    params = {**run, "layers": layers}
    a = ctx.get("ablation", params)
    effects = sorted((e for row in a["effects"] for e in row), key=lambda e: e["delta_prob"])  # (stable: ties in order)
    best = effects[0]
    if best["delta_prob"] >= 0:  # (the steps say their head lowers the top token most: of none, that is not true)
        tried = "the one head tried" if len(effects) == 1 else f"any one of the {len(effects)} heads tried"
        raise ReadError(f"switching off {tried} leaves the probability of the top next token as it is or "
                        "raises it: no head lowers it")
    low = best["delta_prob"]
    nxt = effects[1] if len(effects) > 1 else None
    return {"layer": best["layer"], "head": best["head"], "delta_prob": low,
            "lowest": sum(e["delta_prob"] == low for e in effects),
            "alike": sum(two_decimals(e["delta_prob"], 3) == two_decimals(low, 3) for e in effects),
            "next": nxt and {k: nxt[k] for k in ("layer", "head", "delta_prob")}}


SETTING_ROLES = {"strongest-head": strongest_head}


def strongest_head_selected(ctx: StepContext) -> tuple[int, int]:
    """`head: @strongest-head`: the same head as `ablate: @strongest-head`, selected instead of switched off (the
    Beyond attention view then outlines it in the ablation heatmap, measured with every head on); on a model with
    more than 64 heads, of the layer whose head adds the most to the top token's logit, which it selects too."""
    return strongest_head(ctx, pick_layer=True)[0]


def top_head(ctx: StepContext) -> tuple[int, int]:
    """`head: @top-head`: the layer and head ranked first by the step's `role` (default previous-token) on the
    step's role table: the induction probe's with `probe: on`, else the sentence's (ties: the lower layer, then the
    lower head, as the head finder ranks)."""
    role = ctx.state.get("role") or STATE_DEFAULTS["role"]
    table = ctx.fetch_source("roleprobe" if ctx.state.get("probe") else "roles")["roles"]
    scored = [(h["scores"].get(role), h["layer"], h["head"]) for row in table["heads"] for h in row]
    scored = [x for x in scored if x[0] is not None]
    if not scored:
        where = "the probe" if ctx.state.get("probe") else f"“{ctx.state['text']}”"
        raise ReadError(f"no query of {where} counts for the {role} score (its definition, in the Heads view, "
                        "says which do), so no head has one")
    best = min(scored, key=lambda x: (-x[0], x[1], x[2]))
    return best[1], best[2]


def focused_head(ctx: StepContext) -> tuple[int, int]:
    """`head: @focused-head`: in the step's layer, the head that the `focused_head` shortcut names (the lowest mean
    entropy of the analysis's per-head summary; ties: the lower head), read by that shortcut's own path."""
    layer = ctx.state["layer"]
    source, *path = split_top(SHORTCUTS["focused_head"], ".")
    try:
        return layer, resolve_path(ctx.fetch_source(source), path, {"layer": layer})[0]
    except ReadError:
        raise ReadError(f"no query of “{ctx.state['text']}” sees two tokens or more, so no head of layer {layer} has "
                        "a mean entropy") from None


HEAD_ROLES = {"top-head": top_head, "focused-head": focused_head, "strongest-head": strongest_head_selected}

# the head roles whose numbers a text reads, as a path of the role's answer (`{{@strongest-head.delta_prob | 4}}`):
# strongest_effect() of the head `head: @strongest-head` selects
HEAD_FIELDS = {"strongest-head": lambda ctx: strongest_effect(ctx, pick_layer=True)}


def head_field(ctx: StepContext, ref: str) -> NumberRead:
    """`strongest-head.next.delta_prob`: that number of the head role's answer (HEAD_FIELDS), as a condition's operand
    or the text's number (head_number: the page has no source for it, and shows the step's read). Raises ReadError, or
    RoleMissing where the role finds no head."""
    name, *path = ref.strip().split(".")
    if name not in HEAD_FIELDS:
        raise ReadError(f"“@{name}” has no numbers to read (those that have: "
                        f"{', '.join('@' + r for r in HEAD_FIELDS)})")
    try:
        value: Any = HEAD_FIELDS[name](ctx)
    except ReadError as e:  # (no head to choose: as where the role chooses the step's head)
        raise RoleMissing(_full_stop(f"No head could be chosen: {e}")) from None
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ReadError(f"“@{ref}”: there is no {key} there")
        value = value[key]
    return NumberRead(placeholder="@" + ref, value=value, shown=format_value(value, ""), source="@" + name, path=path)


def head_number(ctx: StepContext, raw: str) -> NumberRead:
    """`{{@strongest-head.delta_prob | 4}}` in a step's text: head_field()'s number, `shown` as the page writes a
    number in that format. The page has no source for it: it shows this read of the step's answer (`numbers`),
    marked as every other number of the text (lesson-template.js stepNumber)."""
    ref, fmt = ([s.strip() for s in raw.split("|")] + [""])[:2]
    try:
        n = head_field(ctx, ref[1:])
    except (ReadError, RoleMissing) as e:
        return NumberRead(placeholder=raw, source=ref.split(".")[0], error=getattr(e, "message", None) or str(e))
    return n.model_copy(update={"placeholder": raw, "shown": format_value(n.value, fmt)})


def _works(d: StepResolution) -> bool:
    """Whether a step resolved with everything it needs: it applies, its roles are found, its numbers read."""
    return d.applies and d.missing is None and not d.problems


def resolve_step(lesson, number: int, req: StepRequest, fetch: Callable[[str, dict], dict], models: list[dict],
                 default_model: str) -> StepResolution:
    """Step `number` of `lesson` (backend.lessons.Lesson) on the request's sentence and model: see the module's
    docstring. Raises LookupError for a step or model that does not exist; everything else is in the answer."""
    if not 1 <= number <= len(lesson.steps):
        raise LessonNotFound(f"lesson {lesson.id} has steps 1 to {len(lesson.steps)}, not {number}")
    step = lesson.steps[number - 1]
    s = step.settings
    by_name = {m["name"]: m for m in models}
    name = req.model or s.model or default_model
    if name not in by_name:
        # a recorded training checkpoint of a model (NAME@STEP, as the page's *Training step* slider runs the views
        # on: frontend/js/labrun.js atStep): that model's entry under the checkpoint's name
        base = by_name.get(name.partition("@")[0])
        if base is None or name not in {c.get("model") for c in base.get("checkpoints") or []}:
            raise LessonNotFound(f"there is no model {name!r}")
        by_name[name] = {**base, "name": name, "checkpoint_of": base["name"], "default": False}
    model = by_name[name]
    if not model.get("available", True):
        raise ValueError(f"{name} is not installed")
    own_model = s.model if s.model in by_name else default_model

    def pick(field: str, fallback=None):
        v = getattr(req, field, None)
        if v is not None:
            return v
        v = getattr(s, field, None)
        return fallback if v is None else v

    state = {
        "text": req.text, "layer": pick("layer"), "head": pick("head"),
        "positions": pick("positions"), "scale": pick("scale"),
        "ablate": [tuple(p) for p in (req.ablate if req.ablate is not None else s.ablate)],
        "temp": pick("temp", STATE_DEFAULTS["temp"]), "word": pick("word", STATE_DEFAULTS["word"]),
        **{k: pick(k, STATE_DEFAULTS[k]) for k in ("a", "b", "c", "expect")},  # (an emptied box: "", as typed)
        "depth": pick("depth", STATE_DEFAULTS["depth"]), "metric": s.metric or STATE_DEFAULTS["metric"],
        "pn": pick("pn", STATE_DEFAULTS["pn"]), "hidespecial": False, "token": None,
        "probe": s.probe, "pseed": 0, "role": s.role or STATE_DEFAULTS["role"],
        "lab_run": req.lab_run, "lab_records": req.lab_records, "lab_key": req.lab_key, "target": req.target, "versus": req.versus,
        "beyond": req.allow_beyond_trained,
    }
    state["layer"] = min(state["layer"], model["n_layers"] - 1)
    state["head"] = min(state["head"], model["n_heads"] - 1)
    problems: list[str] = []
    out = dict(lesson=lesson.id, step=number, title=step.title, model=name, text=req.text,
               lesson_sentence=s.text, applies=True)
    from_roles: list[str] = []

    def settings() -> ResolvedSettings:
        return ResolvedSettings(view=s.view, **{k: state[k] for k in ResolvedSettings.model_fields if k != "view"})

    # the boxes the student changed from the step's own words (an emptied box too)
    typed = frozenset(k for fields in TYPED_SOURCES.values() for k in fields
                      if getattr(req, k) is not None and getattr(req, k) != (getattr(s, k) or STATE_DEFAULTS[k]))
    waiting: list[str] = []
    try:
        ctx = StepContext(fetch, by_name, model, state, typed)
    except ReadError as e:
        # (the API's words for its flag are not a student's: the page offers a button for it above)
        why = re.sub(r"send allow_beyond_trained: true to run it", "press “Run it past the trained length” (the page) "
                     "or send allow_beyond_trained: true (the API) to run it", str(e))
        return StepResolution(**out, body="", settings=settings(), problems=[f"the sentence cannot be read: {why}"])

    # the model kinds the lesson needs
    for need in s.needs:
        why = kind_problem(need, model, ctx.tokens)
        if why:
            fits = own_model != name and kind_problem(need, by_name[own_model], None) is None
            whose = "lesson" if all(need in st.settings.needs for st in lesson.steps) else "step"  # (a step's own)
            return StepResolution(**{**out, "applies": False}, body="", settings=settings(),
                                  why=f"This {whose} needs {NEEDS[need]}: {why}.",
                                  switch_to=own_model if fits else None)

    # the step's own words (lesson 3's `word: girl`, `a: boy`) on a model that cannot read one of them as one token (a
    # training-lab model, whose tokens are single letters): the step does not apply there, as on a model of another
    # kind, and the lesson's model is offered; words the student typed are theirs to change (TYPED_SOURCES)
    for source, fields in TYPED_SOURCES.items():
        if name == own_model or typed & set(fields) or not re.search(r"\{\{\s*" + source + r"\b", step.body):
            continue
        try:
            ctx.source(source, {})
        except ReadError as e:
            return StepResolution(**{**out, "applies": False}, body="", settings=settings(),
                                  why=f"This step's words are not tokens of {name}: {e}.", switch_to=own_model)

    try:
        # the query token
        if req.token is not None:
            state["token"] = min(req.token, len(ctx.tokens) - 1)
        elif isinstance(s.token, str) and s.token.startswith("@"):
            state["token"] = ctx.role(s.token[1:]).index
            from_roles.append("token")
        elif isinstance(s.token, str):
            try:
                state["token"] = _find_word("#" + s.token, ctx.tokens)
            except ReadError:
                raise RoleMissing(f"This step needs the word “{s.token.split('/')[0]}”, and “{req.text}” has "
                                  "none.") from None
            from_roles.append("token")
        elif isinstance(s.token, int):
            state["token"] = min(s.token, len(ctx.tokens) - 1)
        else:
            state["token"] = default_query_of(ctx.tokens)
        # the layer and head, where a role chooses them
        if req.layer is None and req.head is None and s.head_role:
            try:
                state["layer"], state["head"] = HEAD_ROLES[s.head_role](ctx)
            except ReadError as e:
                raise RoleMissing(_full_stop(f"No head could be chosen: {e}")) from None
            from_roles += ["layer", "head"]
        # the ablated heads
        if req.ablate is None and s.ablate_role:
            try:
                state["ablate"] = SETTING_ROLES[s.ablate_role](ctx)
            except ReadError as e:
                raise RoleMissing(_full_stop(f"No head could be chosen to switch off: {e}")) from None
            from_roles.append("ablate")
        # whether the heads switched off now are the step's own (its `ablate:` list, or the head its role chose,
        # measured again once the student has changed them): `state.ablate_chosen`, read in a condition, so that a
        # claim about the head the step switched off is not said of the heads the student switched off instead
        own: list[tuple[int, int]] | None = [tuple(p) for p in s.ablate]
        if s.ablate_role:
            own = state["ablate"] if req.ablate is None else None
            if own is None:
                picked = state["layer"]  # (a large model's heads are tried in the step's own layer, not the student's)
                state["layer"] = min(s.layer, model["n_layers"] - 1)
                try:
                    own = SETTING_ROLES[s.ablate_role](ctx)
                except ReadError as e:  # (no head to choose, the student's heads off or not: the step says why)
                    raise RoleMissing(_full_stop(f"No head could be chosen to switch off: {e}")) from None
                finally:
                    state["layer"] = picked
        state["ablate_chosen"] = own is not None and sorted(map(tuple, state["ablate"])) == sorted(map(tuple, own))

        # the claims, chosen on the numbers
        body_parts = []
        claims: list[ClaimChosen] = []
        for part in split_claims(step.body, step.line + 1):
            if isinstance(part, str):
                body_parts.append(part)
                continue
            line, cond, when, other = part
            tree = parse_condition(cond)
            operands: list[NumberRead] = []

            def read(ref: str, operands: list[NumberRead] = operands) -> Any:  # (this claim's operands)
                if _bare_role(ref) and "." in ref:  # a head role's number (HEAD_FIELDS)
                    n = head_field(ctx, ref.strip()[1:])
                    operands.append(n)
                    return n.value
                if _bare_role(ref):
                    return ctx.role(ref.strip()[1:]).word
                n = ctx.read(ctx.with_roles(ref))
                operands.append(n)
                if n.error:
                    raise ReadError(n.error)
                return n.value

            try:
                holds: bool | None = bool(evaluate_condition(tree, read))
            except ReadError as e:
                holds = None
                if operands and operands[-1].waiting:  # (the student's to change: the claim is left out till then)
                    waiting.append(operands[-1].waiting)
                else:
                    problems.append(f"line {line}: the condition “{cond}” cannot be evaluated: {e}")
            shown = when if holds else other if holds is False else ""
            claims.append(ClaimChosen(line=line, condition=cond, holds=holds, operands=operands,
                                      shown=shown.strip()))
            body_parts.append(shown)
        body = rewrite("\n".join(body_parts), ctx)
        body = re.sub(r"\n{3,}", "\n\n", body).strip()
        question = rewrite(step.ask.prompt, ctx) if step.ask and step.ask.prompt else None
    except RoleMissing as e:
        # the lesson's sentence, offered instead, tried on this model as the page would send it (with its leave to run
        # past the trained length, which stays on with the new sentence; once: on that sentence this branch offers
        # nothing further)
        works = req.text == s.text or name == own_model or _works(resolve_step(
            lesson, number, StepRequest(text=s.text, model=name, lab_run=req.lab_run, lab_records=req.lab_records,
                                       lab_key=req.lab_key, allow_beyond_trained=req.allow_beyond_trained),
            fetch, models, default_model))
        return StepResolution(**out, body="", settings=settings(), from_roles=from_roles,
                              roles=list(ctx.roles.values()), missing=e.message,
                              lesson_model=None if works else own_model)
    except ReadError as e:
        problems.append(str(e))
        return StepResolution(**out, body="", settings=settings(), from_roles=from_roles,
                              roles=list(ctx.roles.values()), problems=problems)

    numbers = []
    for m in re.finditer(r"\{\{(.*?)\}\}", body + "\n" + (question or "")):
        n = ctx.read(m.group(1))
        numbers.append(n)
        if n.waiting:
            waiting.append(n.waiting)
        elif n.error:
            problems.append(f"{{{{{n.placeholder}}}}}: {n.error}")
    asked = False
    if step.ask:
        kind_source = QUESTION_SOURCES[step.ask.kind]
        try:
            answer = ctx.source(kind_source, {})[0]
            asked = step.ask.kind != "top-key" or len(top_key_choices(answer)) >= 2
        except ReadError as e:
            problems.append(f"the question ({step.ask.kind}) cannot be asked: {e}")
        else:
            if not asked:
                # nothing to choose between (a top-key query that sees one word): no question, so no answer to keep
                # hidden: the text shows whole, without the line +++ that would ask for a "Show the answer" click
                body = re.sub(r"\n{3,}", "\n\n", re.sub(r"(?m)^[ \t]*\+\+\+[ \t]*$", "", body, count=1)).strip()
    return StepResolution(**out, settings=settings(), from_roles=from_roles, roles=list(ctx.roles.values()),
                          body=body, question=question if asked else None, asked=asked, claims=claims,
                          numbers=numbers,
                          problems=list(dict.fromkeys(problems)), waiting=list(dict.fromkeys(waiting)))
