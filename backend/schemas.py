"""Every request and response of the HTTP API, one pydantic model per view.

Conventions: layers, heads and token indices count from 0. Matrices are nested
lists [row][column]. Attention is [layer][head][query][key]. A masked score (a key
after the query in a causal model) is null. Floats are rounded to 4 decimals, except in
PackedWeights (8-bit values in base64, for the small pictures of every head).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

Positions = Literal["normal", "removed", "shuffled"]
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


class CheckpointInfo(BaseModel):
    step: int
    model: str = Field(..., description="the registry name of the weights at this step")
    tokens_seen: int | None = None
    val_nats_per_token: float | None = Field(None, description="on val.txt, with the stored (8-bit) weights")
    val_bits_per_char: float | None = None
    val_nats_per_token_float32: float | None = Field(None, description="the same before the 8-bit rounding")


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
    checkpoints: list[CheckpointInfo] | None = Field(
        None, description="a model whose training recorded checkpoints: each one's step, the registry name that "
                          "loads it (NAME@STEP) and its validation loss; GET /api/models/{name}/training adds the "
                          "training loss of every step")
    checkpoint_of: str | None = Field(None, description="for a checkpoint NAME@STEP: the model NAME")
    step: int | None = Field(None, description="for a checkpoint NAME@STEP: its training step")


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


class CompareSideResult(RunInfo):
    n_layers: int
    n_heads: int
    layers: list[int] = Field(..., description="the layers in `attention`, in order")
    heads: list[int] = Field(..., description="the heads in `attention`, in order")
    attention: list[list[Matrix]]


class CompareResponse(BaseModel):
    a: CompareSideResult
    b: CompareSideResult
    difference: list[list[Matrix]] | None = Field(None, description="b - a, [layer][head][query][key]")
    difference_unavailable: str | None = None


class ErrorDetail(BaseModel):
    detail: str = Field(..., description="what was wrong, in one readable sentence")


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorDetail, "description": "the body could not be read"},
    404: {"model": ErrorDetail, "description": "unknown model"},
    413: {"model": ErrorDetail, "description": "request body over the limit"},
    422: {"model": ErrorDetail, "description": "invalid input, a limit passed, or a view that does not apply"},
    503: {"model": ErrorDetail, "description": "busy: try again after Retry-After seconds"},
}


# --------------------------------------------------------------------------- training lab (issue 19)

LabStatus = Literal["queued", "starting", "running", "paused", "finished", "cancelled", "failed", "reset"]


class LabRunRequest(Strict):
    task: StrictStr = Field("copy", description="a task of GET /api/lab/options")
    positional: StrictStr = Field("sinusoidal", description="sinusoidal, learned, rotary, alibi or none")
    size: StrictStr = Field("small", description="a model size of GET /api/lab/options")
    steps: StrictInt = Field(1000, ge=1, description="the run's step budget (at most lab_max_steps)")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1, description="seeds the weights and the data: same seed, same run")
    lr: float = Field(3e-3, gt=0, le=0.1, description="AdamW learning rate (after a 10-step warm-up)")
    batch_size: StrictInt = Field(32, ge=1, le=256)
    record_every: StrictInt = Field(5, ge=1, le=1000, description="a record (and a checkpoint) every this many steps")
    paused: StrictBool = Field(False, description="start paused, at step 0 (then step, or resume)")


class LabStepRequest(Strict):
    n: StrictInt = Field(1, ge=1, description="how many steps to train (the run must be paused)")


class LabResetRequest(Strict):
    seed: StrictInt | None = Field(None, ge=0, le=2**31 - 1, description="a new seed; absent: the same one")


class LabRegisterRequest(Strict):
    step: StrictInt | None = Field(None, ge=0, description="a step of `checkpoint_steps`; absent: the latest")


class LabConfigEcho(BaseModel):
    task: str
    positional: str
    size: str
    seed: int
    lr: float
    batch_size: int
    warmup_steps: int
    weight_decay: float
    record_every: int


class LabExample(BaseModel):
    ids: list[int] = Field(..., description="the task's fixed example, BOS first")
    tokens: list[str] = Field(..., description="display string of each token")
    scored: list[int] = Field(..., description="the positions whose next token is scored")
    expected: list[int] = Field(..., description="the right next token at each scored position")
    expected_tokens: list[str]
    probe_ids: list[int] = Field(..., description="the sequence the role scores are measured on: BOS, random tokens, "
                                                  "then the same tokens shuffled")
    probe_tokens: list[str]


class LabRecord(BaseModel):
    index: int = Field(..., description="0, 1, 2, ... in order (the event id of the stream)")
    step: int = Field(..., description="optimiser steps done when this was recorded")
    seconds: float = Field(..., description="seconds spent in optimiser steps so far")
    losses: list[float] = Field(..., description="the training loss of each step since the previous record")
    loss: float | None = Field(..., description="their mean (null at step 0)")
    example_loss: float = Field(..., description="cross-entropy on the example's scored positions, in nats")
    accuracy: float = Field(..., description="share of the example's scored positions predicted right (top-1)")
    predictions: list[int] = Field(..., description="the model's top next token at each scored position")
    prediction_tokens: list[str]
    attention: PackedWeights = Field(..., description="every head's pattern on the example, [layer, head, query, key], "
                                                      "8-bit")
    roles: dict[str, list[list[float]]] = Field(..., description="role -> score [layer][head], on the probe (see "
                                                                 "GET /api/lab/options for each role's definition)")


class LabRunState(BaseModel):
    id: int
    status: LabStatus
    reason: str | None = Field(None, description="why the run ended (or why it was reset)")
    queue_position: int | None = Field(None, description="1 = next to start; null unless queued")
    config: LabConfigEcho
    steps: int = Field(..., description="the step budget")
    step: int = Field(..., description="the step of the latest record")
    seconds: float
    params: int | None
    n_layers: int
    n_heads: int
    example: LabExample
    n_records: int
    checkpoint_steps: list[int] = Field(..., description="steps whose weights are kept: each can be registered as a "
                                                         "model or downloaded")
    registered: list[str] = Field(..., description="models registered from this run (open them in any view)")
    replaced_by: int | None = Field(None, description="after a reset: the run that starts again")
    version: int = Field(..., description="goes up whenever this state changes")
    records: list[LabRecord] = Field(default_factory=list, description="the records from `after` + 1 on")


class LabRunList(BaseModel):
    runs: list[LabRunState]


class LabTaskInfo(BaseModel):
    name: str
    title: str
    description: str = Field(..., description="what a sequence looks like, which positions are scored, the answer")
    seq_len: int
    vocab_size: int
    example: LabExample


class LabSize(BaseModel):
    name: str
    title: str
    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int


class LabLimits(BaseModel):
    max_runs: int
    max_queued: int
    max_steps: int
    max_seconds: float
    watch_timeout_s: float
    max_paused_s: float
    checkpoint_mb: float


class LabOptions(BaseModel):
    tasks: list[LabTaskInfo]
    positional: list[str]
    sizes: list[LabSize]
    roles: dict[str, str] = Field(..., description="role -> how its score is computed")
    defaults: LabRunRequest
    limits: LabLimits


class LabRegistered(BaseModel):
    model: str = Field(..., description="the registry name: use it as `model` in every view")
    run: int
    step: int


class ModelTraining(BaseModel):
    model: str
    steps: int = Field(..., description="the training's last step")
    checkpoints: list[CheckpointInfo]
    train_loss: list[float] = Field(..., description="the training loss of every step, from step 1")
    note: str
