"""Every request and response of the HTTP API, one pydantic model per view.

Conventions: layers, heads and token indices count from 0. Matrices are nested
lists [row][column]. Attention is [layer][head][query][key]. A masked score (a key
after the query in a causal model) is null. Floats are rounded to 4 decimals, except in
PackedWeights (8-bit values in base64, for the small pictures of every head).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from backend.vocabulary import POSITIONS

Positions = Literal[POSITIONS]  # "normal" | "removed" | "shuffled" (backend/vocabulary.py)
Matrix = list[list[float]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_text(v: str) -> str:
    """Non-blank, and only real characters (JSON can carry lone surrogates like \\ud800; they are not text)."""
    if not v.strip():
        raise ValueError("text is empty: type a sentence")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text has a lone surrogate {v[e.start]!r} at index {e.start}, which is not a character") from None
    return v


# --------------------------------------------------------------------------- shared pieces

class InterventionFields(Strict):
    model: StrictStr | None = Field(None, description="a registry name; default: the default model", max_length=200)
    positions: Positions = Field("normal", description="positional information: normal, removed or shuffled")
    scale: StrictBool = Field(True, description="divide scores by sqrt(d_head) (as trained) or not")
    ablate: list[tuple[StrictInt, StrictInt]] = Field(default_factory=list, max_length=1000,
                                          description="[layer, head] pairs whose output is set to zero")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1, description="seed of the permutation when positions are shuffled")


class TextRequest(InterventionFields):
    text: StrictStr = Field(..., description="the sentence to run", examples=["The cat sat on the mat because it was tired."])

    _check_text = field_validator("text")(check_text)


class AppliedInterventions(BaseModel):
    positions: Positions
    scale: bool
    ablate: list[tuple[int, int]]
    seed: int
    permutation: list[int] | None = Field(None, description="position given to each token when shuffled")


class Token(BaseModel):
    id: int
    text: str = Field(..., description="display string: a space shows as ␣, a partial character as <0xNN>")
    position: int
    special: bool = Field(False, description="a token that stands for no text ([CLS], [SEP], BOS): the UI may hide it")


def _visible():
    return Field(..., description="for each query, how many keys it sees: keys 0 .. visible-1; the keys after them are "
                                  "masked (read from the model's scores, which are -inf there). Causal: query i sees "
                                  "i + 1 keys; bidirectional: all of them")


class RunInfo(BaseModel):
    model: str
    interventions: AppliedInterventions
    tokens: list[Token]


class Prediction(BaseModel):
    id: int
    text: str
    prob: float


# --------------------------------------------------------------------------- models, health

class Health(BaseModel):
    status: Literal["ok"]


class ModelSummary(BaseModel):
    name: str
    title: str
    kind: Literal["causal", "bidirectional"]
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    positional: str
    vocab_size: int
    max_tokens: int
    params: int
    source: str
    licence: str
    metrics: dict[str, float | int | str | None]
    available: bool
    install: str | None
    default: bool
    unavailable_views: dict[str, str] = Field(..., description="view -> why it does not apply to this model")


class ModelList(BaseModel):
    default: str
    models: list[ModelSummary]


# --------------------------------------------------------------------------- analyze

class AnalyzeRequest(TextRequest):
    top_k: StrictInt = Field(10, ge=1, description="how many next-token predictions")
    layers: list[StrictInt] | None = Field(
        None, max_length=1000,
        description="the layers whose full-precision attention to return in `attention`, in this order (each once); "
                    "absent: every layer; []: none (e.g. with `thumbnails`)")
    thumbnails: StrictBool = Field(False, description="also return every layer x head pattern as 8-bit values "
                                                      "(`thumbnails`): enough to draw them small")

    @field_validator("layers")
    @classmethod
    def _each_layer_once(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            seen: set[int] = set()
            for layer in v:
                if layer in seen:
                    raise ValueError(f"layer {layer} is listed more than once")
                seen.add(layer)
        return v


class HeadSummary(BaseModel):
    layer: int
    head: int
    entropy: float = Field(..., description="mean over queries of the pattern row's entropy, in nats")
    previous_token: float = Field(..., description="mean weight on the previous token")
    first_token: float = Field(..., description="mean weight on the first token (BOS)")
    self_token: float = Field(..., description="mean weight on the query's own token")


class PackedWeights(BaseModel):
    """Weights in [0, 1] as one byte each: weight = byte / scale, within 1 / (2 scale) of the model's value."""

    shape: list[int] = Field(..., description="[layer, head, query, key]")
    dtype: Literal["uint8"] = "uint8"
    scale: int = Field(255, description="weight = byte / scale")
    data: str = Field(..., description="base64 of the bytes, in row-major order of `shape` (the key varies fastest); "
                                       "a masked cell is 0")


class AnalyzeResponse(RunInfo):
    n_layers: int
    n_heads: int
    causal: bool = Field(..., description="true: a query cannot see later keys (those cells are masked, weight 0)")
    visible: list[int] = _visible()
    layers: list[int] = Field(..., description="the layers in `attention`, in order: every layer unless the request "
                                                "named some")
    attention: list[list[Matrix]] = Field(..., description="[layer][head][query][key], for the layers in `layers`")
    thumbnails: PackedWeights | None = Field(None, description="on request: every layer x head pattern, 8-bit, "
                                                               "[layer, head, query, key]")
    heads: list[list[HeadSummary]] = Field(..., description="[layer][head]")
    predictions: list[Prediction] | None = Field(None, description="top-k next tokens after the last position")
    predictions_unavailable: str | None = None


# --------------------------------------------------------------------------- qkv

class QKVRequest(TextRequest):
    layer: StrictInt
    head: StrictInt | None = Field(None, description="one head, or all heads when absent")


class HeadQKV(BaseModel):
    head: int
    kv_head: int = Field(..., description="the K/V head this query head reads (grouped-query models share them)")
    q: Matrix = Field(..., description="[token][d_head], before any rotary rotation")
    k: Matrix
    v: Matrix
    z: Matrix = Field(..., description="[token][d_head]: the head's output, the weighted sum of values")
    q_rot: Matrix | None = Field(None, description="q after the rotary rotation (rotary models)")
    k_rot: Matrix | None = None


class Projection(BaseModel):
    q: Matrix = Field(..., description="[token][2]: the q vectors (as used in the scores) on two principal axes")
    k: Matrix = Field(..., description="[token][2]: the k vectors on the same axes")
    explained: list[float] = Field(..., description="share of the variance of the two axes")
    links: list[tuple[int, int, float]] = Field(..., description="[query, key, weight]: the strongest weights")


class QKVResponse(RunInfo):
    layer: int
    d_head: int
    heads: list[HeadQKV]
    projection: Projection | None = Field(None, description="for one head: q and k together in 2-D")


# --------------------------------------------------------------------------- explain

class ExplainRequest(TextRequest):
    layer: StrictInt
    head: StrictInt
    query: StrictInt = Field(..., description="token index of the query")


class ExplainResponse(RunInfo):
    layer: int
    head: int
    query: int
    d_head: int
    scale: float = Field(..., description="what the scores were divided by: sqrt(d_head), or 1 with scaling off")
    q: list[float]
    keys: Matrix = Field(..., description="[key][d_head], after any rotary rotation")
    values: Matrix = Field(..., description="[key][d_head]")
    raw_scores: list[float | None] = Field(..., description="q.k for each key (null where masked)")
    scaled_scores: list[float | None] = Field(..., description="raw score / scale (null where masked)")
    mask: list[bool] = Field(..., description="true where the key is hidden from this query")
    weights: list[float] = Field(..., description="softmax of the scaled scores: the model's pattern row")
    weighted_values: Matrix = Field(..., description="[key][d_head]: each value times its weight")
    output: list[float] = Field(..., description="the sum of the weighted values: this head's z for the query")
    entropy: float
    other_scale: float = Field(..., description="the scale of the comparison row: 1 if scaling is on, else sqrt(d_head)")
    other_weights: list[float] = Field(..., description="softmax of raw_scores / other_scale: the row with scaling flipped")
    other_entropy: float


# --------------------------------------------------------------------------- embeddings

class EmbeddingsRequest(TextRequest):
    pass


class SimilarityLayer(BaseModel):
    label: str
    cosine: Matrix
    dot: Matrix


class EmbeddingsResponse(RunInfo):
    onehot: SimilarityLayer = Field(..., description="one-hot vectors: 1 for the same token id, else 0")
    layers: list[SimilarityLayer] = Field(..., description="input embedding, + positions, then after each block")
    paths: list[Matrix] = Field(..., description="[token][depth][2]: each token's vector on two principal axes")
    path_labels: list[str]
    explained: list[float]


class Neighbor(BaseModel):
    id: int
    text: str
    cosine: float


class NeighborsResponse(BaseModel):
    model: str
    word: str
    token: Token
    neighbors: list[Neighbor]


class AnalogyRequest(Strict):
    model: StrictStr | None = Field(None, max_length=200)
    a: StrictStr = Field(..., description="a - b + c", max_length=100)
    b: StrictStr = Field(..., max_length=100)
    c: StrictStr = Field(..., max_length=100)
    k: StrictInt = Field(10, ge=1)

    _check_words = field_validator("a", "b", "c")(check_text)


class AnalogyResponse(BaseModel):
    model: str
    a: Token
    b: Token
    c: Token
    neighbors: list[Neighbor] = Field(..., description="nearest tokens to a - b + c by cosine, a, b and c left out")


# --------------------------------------------------------------------------- positional

class PositionalResponse(BaseModel):
    model: str
    positional: str
    n: int
    d_model: int
    encoding: Matrix = Field(..., description="[position][dimension]")
    similarity: Matrix = Field(..., description="[position][position] cosine similarity")


class DecomposeRequest(TextRequest):
    layer: StrictInt = 0
    head: StrictInt = 0


class DecomposeResponse(RunInfo):
    layer: int
    head: int
    scores: list[list[float | None]] = Field(..., description="the model's scaled scores [query][key] (null: masked)")
    content_content: list[list[float | None]]
    content_position: list[list[float | None]]
    position_content: list[list[float | None]]
    position_position: list[list[float | None]]
    note: str


# --------------------------------------------------------------------------- predict

class PredictRequest(TextRequest):
    top_k: StrictInt = Field(10, ge=1)
    temperature: StrictFloat = Field(1.0, gt=0, description="softmax temperature, in (0, max]")
    continue_tokens: StrictInt = Field(0, ge=0, description="greedy continuation: how many tokens to add")


class PositionPredictions(BaseModel):
    position: int
    actual_next: int | None = Field(None, description="the id of the token that does come next")
    top: list[Prediction]


class PredictResponse(RunInfo):
    temperature: float
    predictions: list[Prediction]
    per_position: list[PositionPredictions]
    continuation: str | None = None
    continuation_tokens: list[Token] | None = None
    stopped: str | None = Field(None, description="why the continuation stopped early, if it did")


# --------------------------------------------------------------------------- compare

class CompareSide(InterventionFields):
    text: StrictStr

    _check_text = field_validator("text")(check_text)


class CompareRequest(Strict):
    a: CompareSide
    b: CompareSide
    layer: StrictInt | None = Field(None, description="only this layer (attention is then [1][head][q][k])")
    head: StrictInt | None = Field(None, description="only this head (attention is then [layer][1][q][k])")
    top_k: StrictInt = Field(0, ge=0, description="also the top-k next tokens of each side (0: none)")


class CompareSideResult(RunInfo):
    n_layers: int
    n_heads: int
    causal: bool = Field(..., description="as in /api/analyze")
    visible: list[int] = _visible()
    layers: list[int] = Field(..., description="the layers in `attention`, in order")
    heads: list[int] = Field(..., description="the heads in `attention`, in order")
    attention: list[list[Matrix]]
    predictions: list[Prediction] | None = Field(None, description="with top_k: the top next tokens after this side's "
                                                                   "last position")
    predictions_unavailable: str | None = Field(None, description="with top_k, where this side's model does not "
                                                                  "predict: why")


class CompareResponse(BaseModel):
    a: CompareSideResult
    b: CompareSideResult
    difference: list[list[Matrix]] | None = Field(None, description="b - a, [layer][head][query][key]")
    difference_unavailable: str | None = None
    same_token: list[bool] | None = Field(None, description="when both sides have as many tokens: for each position, "
                                                            "whether it holds the same token on both sides (the cells "
                                                            "of the difference line up token for token where it does)")


# --------------------------------------------------------------------------- meta: the one vocabulary


class ViewInfo(BaseModel):
    id: str = Field(..., description="the URL's view=")
    title: str
    description: str
    kinds: list[Literal["causal", "bidirectional"]] = Field(..., description="the model kinds it applies to (a model "
                                                                             "can still lack it: its unavailable_views)")
    layer_head: bool = Field(..., description="it shows one layer and head (the layer and head menus, the arrow keys)")


class PartInfo(BaseModel):
    id: str = Field(..., description="VIEW.PART: a part of a view that a model can lack (unavailable_views)")
    title: str


class PositionMode(BaseModel):
    id: Literal[POSITIONS]  # type: ignore[valid-type]
    title: str


class AblateExample(BaseModel):
    text: str
    heads: list[tuple[int, int]] | None = Field(..., description="what it reads as; null: refused")
    error: str | None = None


class AblateSyntax(BaseModel):
    description: str
    pair: str = Field(..., description="a regular expression of one LAYER.HEAD pair")
    separators: str = Field(..., description="a regular expression of what separates pairs")
    none: str = Field(..., description="the word for no head")
    max: int = Field(..., description="at most this many heads")
    examples: list[AblateExample]


class Limits(BaseModel):
    max_text_chars: int
    max_top_k: int
    max_temperature: float
    max_continue_tokens: int
    max_positions_n: int
    max_neighbors: int
    max_ablate: int


class Family(BaseModel):
    id: str
    title: str
    description: str
    models: list[str] = Field(..., description="registry names, in the registry's order")


class Meta(BaseModel):
    views: list[ViewInfo] = Field(..., description="the page's views, in the order of its tabs")
    parts: list[PartInfo]
    positions: list[PositionMode]
    kinds: list[Literal["causal", "bidirectional"]]
    ablate: AblateSyntax
    limits: Limits = Field(..., description="the server's limits (ATTNLAB_* settings)")
    families: list[Family] = Field(..., description="models that differ only in their positional scheme")
    default_model: str


class ErrorDetail(BaseModel):
    detail: str = Field(..., description="what was wrong, in one readable sentence")


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorDetail, "description": "the body could not be read"},
    404: {"model": ErrorDetail, "description": "unknown model"},
    413: {"model": ErrorDetail, "description": "request body over the limit"},
    422: {"model": ErrorDetail, "description": "invalid input, a limit passed, or a view that does not apply"},
    503: {"model": ErrorDetail, "description": "busy: try again after Retry-After seconds"},
}
