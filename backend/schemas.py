"""Every request and response of the HTTP API, one pydantic model per view.

Conventions: layers, heads and token indices count from 0. Matrices are nested
lists [row][column]. Attention is [layer][head][query][key]. A masked score (a key
after the query in a causal model) is null. Floats are rounded to 4 decimals, except in
PackedWeights (8-bit values in base64, for the small pictures of every head) and the next-token probabilities of
/api/predict below 0.01 (3 significant figures).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from backend.vocabulary import POSITIONS

Positions = Literal[POSITIONS]  # "normal" | "removed" | "shuffled" (backend/vocabulary.py)
Matrix = list[list[float]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def validation_message(errors: list[dict]) -> str:
    """A request's validation errors (pydantic's `.errors()`) as the API's `detail`: each "field: message", or the
    message alone where it names its field first ("text is empty: ...")."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'decode error')})")
            continue
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        where = ".".join(str(p) for p in loc)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(msg if where and msg.split(" ", 1)[0] == where else f"{where}: {msg}" if where
                     else f"the request body: {msg}")
    return "; ".join(parts) or "invalid request"


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
    ablate: list[tuple[StrictInt, StrictInt]] = Field(default_factory=list, max_length=1000, examples=[[]],
                                                      description="[layer, head] pairs whose output is set to zero, "
                                                                  "e.g. [[1, 2]]")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1, description="seed of the permutation when positions are shuffled")

    @field_validator("ablate", mode="wrap")
    @classmethod
    def _pairs(cls, v: object, handler: ValidatorFunctionWrapHandler) -> list[tuple[int, int]]:
        """pydantic said "Input should be a valid list" of "9.9", "ablate.0: Input should be a valid tuple" of
        [1, 2]: neither said what ablate takes. The message now names the form and gives an example, as the URL's
        form does (backend/vocabulary.py parse_ablate); a list too long keeps pydantic's message, which says it."""
        try:
            return handler(v)
        except ValidationError as e:
            first = e.errors()[0]
            if not first["loc"]:
                if first["type"] == "too_long":
                    raise
                what = f"ablate is {_shown(v)}, not a list of [layer, head] pairs"
            else:
                item = first["loc"][0]
                what = f"ablate item {item} is {_shown(v[item])}, not a [layer, head] pair of whole numbers"  # type: ignore[index]
            raise ValueError(f"{what}: give heads as [[1, 2], [0, 3]] (layer 1's head 2 and layer 0's head 3), "
                             "[] for none") from None


def _shown(v: object, width: int = 40) -> str:
    """A request's value as JSON writes it, cut to `width` characters."""
    text = json.dumps(v, default=repr)
    return text if len(text) <= width else text[:width - 1] + "…"


BEYOND_TRAINED = Field(False, description="allow a text longer than the model's trained length (max_tokens), up to "
                                         "the model's max_tokens_beyond, on a model whose positional scheme can run "
                                         "there (not learned positions); the answer's beyond_trained then says so")


class TextRequest(InterventionFields):
    text: StrictStr = Field(..., description="the sentence to run", examples=["The cat sat on the mat because it was tired."])
    allow_beyond_trained: StrictBool = BEYOND_TRAINED

    _check_text = field_validator("text")(check_text)


class AppliedInterventions(BaseModel):
    positions: Positions
    scale: bool
    ablate: list[tuple[int, int]]
    seed: int | None = Field(None, description="the seed of the permutation: only when positions are shuffled")
    permutation: list[int] | None = Field(None, description="position given to each token when shuffled")
    moved: int | None = Field(None, description="when shuffled: how many tokens were given another token's position "
                                                "(a short sentence's shuffle may leave some, or all, in place)")


TOKEN_TEXT = (
    "the token's exact text: joined, the texts of a sentence's tokens that are not special give the sentence back. "
    "A character whose bytes are split over several tokens belongs to the token with its first byte (the others: "
    "\"\"). A special token: \"\". MiniLM (WordPiece) cannot give every sentence back exactly: its pieces are "
    "lower-cased, without accents and without control characters (a piece's text is the piece after the spaces "
    "typed before it), and spaces after the last piece belong to no token; [UNK] has the characters it replaced. "
    "Changed in 0.2.0: before, this field held what `display` holds now")
DISPLAY_TEXT = ("how the page shows the token: ␣ for a space, ↵ for a newline, <0xNN> for a byte of a character "
                "the vocabulary splits into bytes, ## before a WordPiece piece that continues a word, a special "
                "token by its name ([CLS], <|bos|>)")


class Token(BaseModel):
    id: int
    text: str = Field(..., description=TOKEN_TEXT)
    display: str = Field(..., description=DISPLAY_TEXT)
    position: int = Field(..., description="the token's place in the text (0 first); the position the model was given, "
                                           "unless the interventions shuffled the positions (their `permutation`) or "
                                           "removed them")
    special: bool = Field(False, description="a token the tokenizer adds that stands for no text ([CLS], [SEP], "
                                             "BOS): the UI may hide it. Typed as text, the same token is not special")


def default_query(special: list[bool]) -> int:
    """The query token where none is chosen, given which tokens are special: the last that stands for text (on MiniLM
    the one before [SEP], whose attention is not about the sentence's words), else the last. The page's default is the
    same (frontend/js/derive.js effectiveToken)."""
    return next((i for i in range(len(special) - 1, -1, -1) if not special[i]), len(special) - 1)


class BeyondTrained(BaseModel):
    n_tokens: int = Field(..., description="the tokens of this text, with its special tokens")
    trained_tokens: int = Field(..., description="the longest text the model was trained on, in tokens")
    first_unseen: int = Field(..., description="the first position the model never saw in training (= trained_tokens)")
    warning: str = Field(..., description="one sentence for the page to show")


def _visible():
    return Field(..., description="for each query, how many keys it sees: keys 0 .. visible-1; the keys after them are "
                                  "masked (read from the model's scores, which are -inf there). Causal: query i sees "
                                  "i + 1 keys; bidirectional: all of them")


class RunInfo(BaseModel):
    model: str
    interventions: AppliedInterventions
    tokens: list[Token]
    beyond_trained: BeyondTrained | None = Field(
        None, description="set when the text is longer than the model's trained length (allow_beyond_trained): the "
                          "positions from first_unseen on are positions the model never saw")


LONE_TOKEN_TEXT = ("the token's text on its own: its bytes decoded, with U+FFFD for the bytes of a character it holds "
                   "only part of (as a tokenizer's decode gives them); \"\" for a special token")


class Prediction(BaseModel):
    id: int
    text: str = Field(..., description=LONE_TOKEN_TEXT)
    display: str = Field(..., description=DISPLAY_TEXT)
    special: bool = Field(False, description="a special token (end of text, a control token): it stands for no text")
    prob: float = Field(..., description="its probability (in /api/predict: 4 decimals, or 3 significant figures "
                                         "below 0.01)")


# --------------------------------------------------------------------------- models, health

class Health(BaseModel):
    status: Literal["ok"]


class LoadState(BaseModel):
    state: Literal["not_loaded", "loading", "loaded", "failed"] = Field(
        ..., description="loaded: answers at once; not_loaded: the first request starts its load (in the background: "
                         "it answers 503 with Retry-After until loaded); loading; failed: the last load failed")
    progress: float | None = Field(None, ge=0, le=1, description="while loading: the fraction done, where known")
    error: str | None = Field(None, description="failed: why")

class Ready(BaseModel):
    """Whether the server can take work now (GET /api/ready: 200 when ready, else 503 with this same answer)."""

    ready: bool = Field(..., description="the default model is loaded and the server is not saturated")
    default_model: str
    default_model_loaded: bool
    saturated: bool = Field(..., description="as many requests wait for a forward pass as may (max_queued_runs): a "
                                             "new one is refused at once with 503")
    busy: bool = Field(..., description="every slot is taken: a new request waits for one")
    running: int = Field(..., description="requests holding a slot (at most max_concurrent_runs)")
    waiting: int = Field(..., description="requests waiting for a slot")
    passes: int = Field(..., description="forward passes computing now")
    peak_passes: int = Field(..., description="the most forward passes computing at once since the server started")
    passes_done: int = Field(..., description="forward passes done since the server started")
    joined: int = Field(..., description="requests that waited for a forward pass another request was computing (the "
                                         "same model, text and interventions) instead of computing it again")
    refused: int = Field(..., description="requests refused with 503 since the server started")
    loop_lag_ms: float = Field(..., description="the most the event loop has run late since the server started (ms): "
                                                "how long /api/health could have waited for it")
    max_concurrent_runs: int
    max_queued_runs: int
    helpers: int = Field(..., description="helper processes for analyses of new sentences while this one is busy "
                                          "(helper_processes; they start when a load first needs them)")
    helpers_ready: int = Field(..., description="helper processes started, with the default model loaded")
    helper_answers: int = Field(..., description="analyses the helper processes answered since the server started")


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
    load: LoadState = Field(..., description="whether this server process has loaded the model yet")
    max_report_tokens: int = Field(..., description="the longest text (tokens) a report takes on this model: a report "
                                                    "draws every head (max_report_weights)")
    d_mlp: int = Field(..., description="the width of each MLP's hidden layer")
    norm: Literal["layernorm", "rmsnorm"]
    norm_placement: Literal["pre", "post"] = Field(
        ..., description="pre: each sub-layer reads a normalised copy of the residual stream (GPT-2, Llama); "
                         "post: the sum of residual and sub-layer output is normalised (BERT)")
    final_norm: bool = Field(..., description="a norm between the last block and the unembedding")
    mlp: Literal["gelu", "gelu_tanh", "swiglu"] = Field(..., description="the MLP's activation (swiglu: a gated MLP)")
    unembed: bool = Field(..., description="has an unembedding (a next-word head); false for an encoder like MiniLM")
    tied_embeddings: bool = Field(..., description="the unembedding is the token embedding matrix, transposed (false "
                                                   "where the model has no unembedding)")
    bias: bool = Field(..., description="the projections (Q, K, V, O, MLP) have biases")
    token_types: int = Field(0, description="how many token-type (segment) embeddings the model adds to the token "
                                            "embedding (BERT: 2; the app's texts are all type 0); 0: none")
    embed_scale: float = Field(1.0, description="the token embedding is multiplied by this before the position is added "
                                                "(the tiny models: √d_model; 1: not scaled)")
    trained_tokens: int | None = Field(None, description="the longest text the model was trained on (its context), "
                                                         "in tokens; null: unknown")
    max_tokens_beyond: int = Field(..., description="the most tokens a request with allow_beyond_trained may send "
                                                    "(max_beyond_tokens); equal to max_tokens where the model does not "
                                                    "run past it (why_not_beyond)")
    why_not_beyond: str | None = Field(None, description="why the model does not run on more than max_tokens "
                                                         "(learned positions stop at the trained length); null: it "
                                                         "can, up to max_tokens_beyond")
    checkpoints: list[CheckpointInfo] | None = Field(
        None, description="a model whose training recorded checkpoints: each one's step, the registry name that "
                          "loads it (NAME@STEP) and its validation loss; GET /api/models/{name}/training adds the "
                          "training loss of every step")
    checkpoint_of: str | None = Field(None, description="for a checkpoint NAME@STEP: the model NAME")
    step: int | None = Field(None, description="for a checkpoint NAME@STEP: its training step")
    lab_run: int | None = Field(None, description="a model the training lab registered (lab-<run>@<step>): the run "
                                                  "it comes from; null: not a lab run")


class ModelList(BaseModel):
    default: str
    models: list[ModelSummary]
    tiny_models: list[str] = Field(default_factory=list, description="the tiny models that differ only in their "
                                                                      "positional scheme, in the order the page compares "
                                                                      "them (those installed)")


# --------------------------------------------------------------------------- analyze

class QuerySelection(Strict):
    queries: list[StrictInt] = Field(
        ..., min_length=1, max_length=1000,
        description="token positions (each once) whose attention rows to combine: the heatmap's selected query tokens")
    combine: Literal["sum", "mean"] = Field(
        "sum", description="sum: the rows added (each key's total weight from the selection); mean: that divided by "
                           "the number of queries")

    @field_validator("queries")
    @classmethod
    def _each_query_once(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            dup = next(q for i, q in enumerate(v) if q in v[:i])
            raise ValueError(f"query {dup} is listed more than once")
        return v


class QueryRows(BaseModel):
    queries: list[int] = Field(..., description="the positions combined, as requested")
    combine: Literal["sum", "mean"]
    weights: list[Matrix] = Field(
        ..., description="[layer][head][key]: every layer's (whatever `layers` says) combined row per head; in a "
                         "causal model a query adds 0 for the keys after it")


class HeadChoice(Strict):
    layer: StrictInt
    head: StrictInt


class AnalyzeRequest(TextRequest):
    top_k: StrictInt = Field(10, ge=1, description="how many next-token predictions")
    layers: list[StrictInt] | None = Field(
        None, max_length=1000,
        description="the layers whose full-precision attention to return in `attention`, in this order (each once); "
                    "absent: every layer; []: none (e.g. with `thumbnails`)")
    thumbnails: StrictBool = Field(False, description="also return every layer x head pattern as 8-bit values "
                                                      "(`thumbnails`): enough to draw them small")
    visible_only: StrictBool = Field(
        False, description="each query's row of `attention` ends after the keys it sees (`visible[query]` numbers): a "
                           "causal model's masked zeros after them are left out, half the numbers of a long text; the "
                           "page asks so")
    packed: StrictBool = Field(
        False, description="`attention`'s numbers as 16-bit integers in `attention_packed` (base64, weight = integer "
                           "/ 10,000: the same 4-decimal numbers), `attention` then empty: less than half the bytes of the lists, "
                           "decoded in a quarter of the time their JSON takes to parse; the page asks so")
    heads: StrictBool = Field(True, description="the per-head summary (`heads`); false: left out (null), for a view "
                                                "that does not show it")
    roles: StrictBool = Field(False, description="also return every head's role scores and label (`roles`, as "
                                                 "POST /api/roles gives them): the labels of the layer x head grid")
    query_rows: QuerySelection | None = Field(
        None, description="also return, for every layer and head, the attention rows of these query positions summed "
                          "or averaged (`query_rows`): the heatmap's row for a selection of query tokens")
    why: StrictBool = Field(False, description="also return why the model predicts its next word: the logit lens "
                                               "(`lens`, the top `top_k` of each reading) and the direct logit "
                                               "attribution (`logit`) of the last position's most probable token, as "
                                               "POST /api/attribution/lens and /logit answer them by default (422 "
                                               "where they do not apply: an encoder)")
    attention_attribution: HeadChoice | None = Field(
        None, description="also return one head's attention beside what it moves, and rollout (`attention_attribution`), "
                          "as POST /api/attribution/attention answers them for this `layer` and `head` (residual 0.5)")

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
    """One head's summary: the role table's previous-token, sink and self scores under the names the attention
    view shows, and the mean entropy in nats. Each is a mean over the queries where it is possible, as the role
    table counts them (no special token as a query; no weight on position 0 but the first-token weight's); null
    where no query counts (a sentence too short for a token before the query)."""

    layer: int
    head: int
    entropy: float | None = Field(..., description="mean over the queries that see at least 2 tokens (special ones "
                                                   "left out) of the pattern row's entropy, in nats")
    previous_token: float | None = Field(..., description="mean weight on the token just before the query (the "
                                                          "previous-token role's score)")
    first_token: float | None = Field(..., description="mean weight on the first token (BOS or [CLS], else the "
                                                       "first word): the sink role's score")
    self_token: float | None = Field(..., description="mean weight on the query's own token (the self role's score)")


class PackedWeights(BaseModel):
    """Weights as integers of one or two bytes, base64: weight = integer / scale. uint8 (`thumbnails`, the training
    lab's records): scale 255, within 1 / 510 of the model's value. uint16 (`attention_packed`): scale 10,000, the
    same numbers as the 4-decimal lists of `attention`."""

    shape: list[int] = Field(..., description="[layer, head, query, key]")
    dtype: Literal["uint8", "uint16"] = Field("uint8", description="each integer's type; uint16: little-endian")
    scale: int = Field(255, description="weight = integer / scale")
    rows: Literal["whole", "visible"] = Field(
        "whole", description="whole: every cell of `shape`, a masked cell 0; visible: each query's first "
                             "`visible[query]` keys only (the answer's `visible`), the masked cells after them left out")
    data: str = Field(..., description="base64 of the integers, in row-major order of `shape` (the key varies "
                                       "fastest)")


class AnalyzeResponse(RunInfo):
    n_layers: int
    n_heads: int
    causal: bool = Field(..., description="true: a query cannot see later keys (those cells are masked, weight 0)")
    visible: list[int] = _visible()
    layers: list[int] = Field(..., description="the layers in `attention`, in order: every layer unless the request "
                                                "named some")
    attention: list[list[Matrix]] = Field(..., description="[layer][head][query][key], for the layers in `layers`; "
                                                          "with `visible_only`, each row's first `visible[query]` keys; "
                                                          "[] where `attention_packed` holds them")
    attention_packed: PackedWeights | None = Field(
        None, description="with `packed`: the numbers of `attention` as uint16 (weight = integer / 10,000), shape "
                          "[len(layers), head, query, key], rows `visible` with `visible_only`; null without `packed`, "
                          "or where a weight is not a number in [0, 1] (then `attention` holds them)")
    thumbnails: PackedWeights | None = Field(None, description="on request: every layer x head pattern, 8-bit, "
                                                               "[layer, head, query, key]")
    heads: list[list[HeadSummary]] | None = Field(..., description="[layer][head]; null where the request left it "
                                                                    "out (`heads: false`)")
    predictions: list[Prediction] | None = Field(None, description="top-k next tokens after the last position")
    predictions_unavailable: str | None = None
    unseen_characters: list[str] | None = Field(
        None, description="the characters of the text that never occur in the model's training text, each once, in "
                          "the order they come ([] when there are none; null where the training text is not known, "
                          "as for the pretrained models)")
    roles: RoleTable | None = Field(None, description="on request: every head's role scores and label, of every "
                                                      "layer (whatever `layers` says)")
    query_rows: QueryRows | None = Field(None, description="on request: the selected queries' rows combined, "
                                                          "[layer][head][key]")
    lens: LensResponse | None = Field(None, description="on request (`why`): the logit lens of the last position's "
                                                        "most probable token, as POST /api/attribution/lens")
    logit: LogitAttributionResponse | None = Field(None, description="on request (`why`): its direct logit "
                                                                     "attribution, as POST /api/attribution/logit")
    attention_attribution: AttentionAttributionResponse | None = Field(
        None, description="on request (`attention_attribution`): that head's attention beside what it moves, and "
                          "rollout, as POST /api/attribution/attention")


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
    z: Matrix = Field(..., description="[token][d_head]: the head's output, the weighted sum of values (0 where the "
                                       "request ablates the head: the model sets it to 0)")
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
    q: list[float] = Field(..., description="[d_head], after any rotary rotation (see `rotated`)")
    rotated: bool = Field(False, description="q and the keys are rotated by their positions (rotary positions; false "
                                             "with the positions removed, where nothing is rotated): POST /api/qkv's "
                                             "q_rot and k_rot, not its q and k")
    kv_head: int = Field(..., description="the K/V head the keys and values are of (grouped-query models share one "
                                          "among group_size query heads; else the head itself)")
    group_size: int = Field(..., description="how many query heads share these keys and values (1: none)")
    ablated: bool = Field(..., description="the request's interventions switch this head off: its row is computed as "
                                           "always, but the model sets its output z to 0 (nothing of it is added to "
                                           "the residual stream)")
    keys: Matrix = Field(..., description="[key][d_head], after any rotary rotation")
    values: Matrix = Field(..., description="[key][d_head]")
    raw_scores: list[float | None] = Field(..., description="q.k for each key (null where masked)")
    scaled_scores: list[float | None] = Field(..., description="raw score / scale (null where masked)")
    slope: float | None = Field(None, description="ALiBi: this head's slope m; null for other schemes")
    bias: list[float | None] | None = Field(None, description="ALiBi: -slope x distance for each key, added to the "
                                                              "scaled score (0 with positions removed; null where "
                                                              "masked); null for other schemes")
    scores: list[float | None] = Field(..., description="what the softmax takes: scaled_scores + bias under ALiBi, "
                                                        "else scaled_scores (null where masked); the model's own "
                                                        "hook_attn_scores row")
    mask: list[bool] = Field(..., description="true where the key is hidden from this query")
    weights: list[float] = Field(..., description="softmax of scores (the scaled scores, + the bias under ALiBi): the "
                                                  "model's pattern row")
    weighted_values: Matrix = Field(..., description="[key][d_head]: each value times its weight")
    output: list[float] = Field(..., description="the sum of the weighted values: this head's z for the query (with "
                                                 "`ablated`, what z would be: the model sets it to 0)")
    entropy: float
    other_scale: float = Field(..., description="the scale of the comparison row: 1 if scaling is on, else sqrt(d_head)")
    other_weights: list[float] = Field(..., description="softmax of raw_scores / other_scale (+ bias under ALiBi): the "
                                                        "row with scaling flipped")
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
    layers: list[SimilarityLayer] = Field(..., description="the token embedding; + position where the model adds a "
                                                           "position vector (sinusoidal, learned; MiniLM's also adds "
                                                           "its token type and embedding norm), or the block input "
                                                           "where a model without one changes the embedding before "
                                                           "block 0; then after each block (`label` names each)")
    paths: list[Matrix] = Field(..., description="[token][depth][2]: each token's vector on two principal axes")
    path_labels: list[str]
    explained: list[float]


class Neighbor(BaseModel):
    id: int
    text: str = Field(..., description=LONE_TOKEN_TEXT)
    display: str = Field(..., description=DISPLAY_TEXT)
    cosine: float


class NeighborsResponse(BaseModel):
    model: str
    word: str
    token: Token
    neighbors: list[Neighbor]


class AnalogyRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"a": "king", "b": "man", "c": "woman",
                                                               "expect": "queen"}]})

    model: StrictStr | None = Field(None, max_length=200)
    a: StrictStr = Field(..., description="a - b + c", max_length=100)
    b: StrictStr = Field(..., max_length=100)
    c: StrictStr = Field(..., max_length=100)
    expect: StrictStr | None = Field(None, max_length=100, description="a word you expect a - b + c to be near (d in "
                                                                        "b : a = c : d, as man : king = woman : queen): "
                                                                        "the answer says where it ranks")
    k: StrictInt = Field(10, ge=1)

    @field_validator("a", "b", "c")
    @classmethod
    def _words(cls, v: str, info: ValidationInfo) -> str:
        if not v.strip():  # (a word box: "text is empty: type a sentence" said the wrong thing)
            raise ValueError(f"{info.field_name} is empty: type a word")
        return check_text(v)


class ExpectedToken(BaseModel):
    token: Token
    cosine: float = Field(..., description="its input embedding's cosine with a - b + c")
    rank: int = Field(..., description="1 + how many candidates have a higher cosine (1: the nearest)")
    of: int = Field(..., description="how many tokens are candidates: the vocabulary less a, b, c and the special "
                                     "tokens")


class AnalogyResponse(BaseModel):
    model: str
    a: Token
    b: Token
    c: Token
    neighbors: list[Neighbor] = Field(..., description="nearest tokens to a - b + c by cosine, a, b and c left out")
    expected: ExpectedToken | None = Field(None, description="with `expect`: where that word ranks among the same "
                                                             "candidates")
    expected_unavailable: str | None = Field(None, description="with `expect`: why it has no rank (not one token, "
                                                               "one of a, b and c, or a special token)")


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
    bias: list[list[float | None]] | None = Field(
        None, description="ALiBi: the bias -slope x distance [query][key] (null: masked), added to the scaled score; "
                          "with ALiBi the three terms with a position in them are 0 and the bias is the whole position "
                          "term; null for other schemes")
    note: str


# --------------------------------------------------------------------------- predict

class Sampling(Strict):
    method: Literal["greedy", "sample"] = Field("greedy", description="greedy: always the most probable token; "
                                                                      "sample: a draw from the kept set")
    top_k: StrictInt | None = Field(None, ge=1, description="keep at most this many of the most probable tokens; "
                                                            "null: no limit")
    top_p: StrictFloat = Field(1.0, gt=0, le=1, description="nucleus: keep the fewest most probable tokens whose "
                                                            "probabilities add up to at least top_p; 1: no limit")
    seed: StrictInt | None = Field(None, ge=0, le=2**31 - 1, description="the seed of the draws (sample); null: a "
                                                                         "new one, reported in the answer")


class PredictRequest(TextRequest):
    top_k: StrictInt = Field(10, ge=1, description="how many next tokens to list")
    temperature: StrictFloat = Field(1.0, gt=0, description="softmax temperature, in (0, max]")
    continue_tokens: StrictInt = Field(0, ge=0, description="continuation: how many tokens to add")
    sampling: Sampling = Field(default_factory=Sampling, description="how the continuation chooses each token, and "
                                                                     "the kept set shown with `predictions`")


class PositionPredictions(BaseModel):
    position: int
    actual_next: int | None = Field(None, description="the id of the token that does come next")
    top: list[Prediction]


class AppliedSampling(BaseModel):
    method: Literal["greedy", "sample"]
    top_k: int | None
    top_p: float
    seed: int | None = Field(..., description="the seed the draws used (sample): send it back to repeat them; null "
                                              "for greedy")


class KeptSet(BaseModel):
    size: int = Field(..., description="how many tokens a draw may pick: the `size` most probable, so the first "
                                       "`size` of `predictions` are in it")
    mass: float = Field(..., description="their total probability at the temperature")


class GenerationStep(BaseModel):
    token: Token = Field(..., description="the generated token, at its position in the extended text")
    prob: float = Field(..., description="its probability at the temperature, before top-k / top-p")
    kept_prob: float = Field(..., description="its probability within the kept set (what a draw used)")
    kept_size: int = Field(..., description="how many tokens were in the kept set at this step")


class PredictResponse(RunInfo):
    temperature: float
    predictions: list[Prediction]
    per_position: list[PositionPredictions]
    sampling: AppliedSampling | None = Field(None, description="how the continuation chose its tokens")
    kept: KeptSet | None = Field(None, description="the kept set of the next token after the text (top-k, top-p at "
                                                   "the temperature)")
    continuation: str | None = Field(None, description="the text the continuation adds, greedy or sampled (`sampling`): "
                                                        "the `text` of its tokens joined (append it to the sentence)")
    continuation_tokens: list[Token] | None = None
    steps: list[GenerationStep] | None = Field(None, description="each generated token with its probability and "
                                                                 "the kept set at that step")
    full_text: str | None = Field(None, description="the text followed by the continuation")
    full_text_same_tokens: bool | None = Field(
        None, description="true when `full_text` reads as exactly the text's tokens followed by the generated ones, "
                          "so analysing it shows each generated token's attention at its position")
    stopped: str | None = Field(None, description="why the continuation stopped early, if it did: the model's length "
                                                   "limit, or its last tokens left out because they began a character "
                                                   "that no token after them finished (the continuation holds whole "
                                                   "characters only)")


# --------------------------------------------------------------------------- compare

class CompareSide(InterventionFields):
    text: StrictStr
    allow_beyond_trained: StrictBool = BEYOND_TRAINED

    _check_text = field_validator("text")(check_text)


class CompareRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"a": {"text": "The cat sat on the mat."},
                                                               "b": {"text": "The dog sat on the mat."}}]})

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
    attention: list[list[Matrix]] = Field(..., description="[layer][head][query][key]; empty where this side's "
                                                           "model lacks the layer or head asked for")
    attention_unavailable: str | None = Field(None, description="where this side's model lacks the layer or head asked "
                                                               "for (the other side's has it): why")
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
                                                            "of the difference line up token for token where it does): "
                                                            "the same id on one model, the same text on two")


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
    max_share_view: int = Field(..., description="the longest query string GET /api/share takes as `view`")


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


# --------------------------------------------------------------------------- attribution: why this next word

class TargetFields(TextRequest):
    position: StrictInt | None = Field(None, description="the token position whose next-token prediction is "
                                                         "explained; default: the last")
    token: StrictInt | None = Field(None, ge=0, description="the id of the token explained; default: the model's "
                                                            "most probable next token at `position`")


class ContrastFields(TargetFields):
    versus: StrictInt | None = Field(None, ge=0, examples=[1],
                                     description="a second token id, not `token`: explain logit(token) - logit(versus) "
                                                 "instead of logit(token)")


class TargetToken(BaseModel):
    id: int
    text: str = Field(..., description=LONE_TOKEN_TEXT)
    display: str = Field(..., description=DISPLAY_TEXT)
    prob: float = Field(..., description="the model's probability for it at `position` (temperature 1)")
    logit: float = Field(..., description="the model's logit for it at `position`")
    rank: int = Field(..., description="1 for the most probable token")


class Explained(RunInfo):
    position: int = Field(..., description="the position whose next-token prediction is explained")
    token: TargetToken = Field(..., description="the token explained")
    token_is_default: bool = Field(..., description="true when no token was asked for: the model's top-1 here")


class LensRequest(TargetFields):
    top_k: StrictInt = Field(5, ge=1, description="how many tokens to read at each depth")


class LensCell(BaseModel):
    layer: int | None = Field(..., description="the block; null for the input of block 0 (the embeddings alone)")
    sublayer: Literal["embed", "attn", "mlp"] = Field(..., description="read after: the embeddings (input of "
                                                                       "block 0), the attention sub-layer, the MLP")
    hook: str = Field(..., description="the residual stream read (a hook name)")
    top: list[Prediction] = Field(..., description="the most probable tokens of this reading")
    prob: float = Field(..., description="the probability of `token` in this reading")
    rank: int = Field(..., description="the rank of `token` in this reading (1: the most probable)")


class LensSettled(BaseModel):
    reached: bool = Field(..., description="whether `token` is the top token at the last reading (then it stays "
                                           "first from `layer`, `sublayer` on)")
    layer: int | None = Field(None, description="the block; null: the embeddings alone (the input of block 0), or "
                                                "not reached")
    sublayer: Literal["embed", "attn", "mlp"] | None = Field(None, description="null: not reached")


class LensResponse(Explained):
    n_layers: int
    sublayers: list[Literal["attn", "mlp"]] = Field(..., description="the columns of `cells`: after attention, "
                                                                    "after the MLP")
    embedding: LensCell = Field(..., description="the input of block 0 read the same way: what the embeddings alone "
                                                 "suggest")
    cells: list[list[LensCell]] = Field(..., description="[layer][sublayer]: the residual stream after each sub-layer "
                                                         "of each block, read through the final norm and unembedding")
    note: str = Field(..., description="what the lens is, in a sentence, for the page to show")
    settled: LensSettled = Field(..., description="the first reading from which `token` is the top token at every "
                                                  "reading after it, to the last (the embeddings', then each "
                                                  "sub-layer's in order)")


class LogitAttributionRequest(ContrastFields):
    pass


class AttributionPart(BaseModel):
    kind: Literal["embed", "pos_embed", "token_type_embed", "attn_bias", "mlp", "mlp_bias", "norm_bias",
                  "unembed_bias"]
    layer: int | None = Field(..., description="the block it belongs to; null for the embeddings and the final biases")
    label: str = Field(..., description="e.g. `MLP 2`, `b_O 1`, `token embedding`")
    value: float = Field(..., description="what it adds to the logit (or the difference)")


class LogitAttributionResponse(Explained):
    versus: TargetToken | None = Field(None, description="the second token, when the difference is explained")
    target: str = Field(..., description="what is split: `logit(t)` or `logit(t) - logit(t2)`")
    logit: float = Field(..., description="the model's own value of the target in this run")
    total: float = Field(..., description="the sum of every head and part (unrounded): equals `logit`")
    heads: Matrix = Field(..., description="[layer][head]: each head's output z_h W_O[h] (its value bias included) "
                                           "through the frozen final norm and the unembedding")
    heads_total: float = Field(..., description="what all heads add together (the sum of `heads`, unrounded)")
    parts: list[AttributionPart] = Field(..., description="everything else, in the order the forward pass adds it: "
                                                          "embeddings, then per block b_O, the MLP and its out bias, "
                                                          "then the final norm's bias and b_U")
    norm: Literal["layernorm", "rmsnorm"] | None = Field(..., description="the final norm (null: none)")
    norm_scale: float = Field(..., description="sigma, what the final norm divided the residual by in this run, "
                                               "frozen for every part (1 without a final norm)")
    centring_removed: float | None = Field(..., description="LayerNorm: the parts are each centred (their mean "
                                                            "subtracted), so they add up to the logit exactly; "
                                                            "uncentred they would add this much more. Null for RMSNorm "
                                                            "(nothing is centred)")
    note: str


class AttentionAttributionRequest(TextRequest):
    layer: StrictInt
    head: StrictInt
    residual: StrictFloat = Field(0.5, ge=0, le=1, description="rollout's weight of the residual connection: each "
                                                              "layer is (1 - residual) A + residual I")


class AttributionCaptions(BaseModel):
    raw: str
    value_weighted: str
    rollout: str


class AttentionAttributionResponse(RunInfo):
    layer: int
    head: int
    causal: bool
    residual: float
    raw: Matrix = Field(..., description="[query][key]: the head's attention weights")
    value_weighted: Matrix = Field(..., description="[query][key]: ‖alpha_ij v_j W_O[h]‖, the size of what the head "
                                                    "moves from each key (Kobayashi et al., 2020)")
    layer_raw: Matrix = Field(..., description="[query][key]: the layer's weights averaged over its heads that are not "
                                               "ablated (zero where all are: the layer moves nothing)")
    layer_value_weighted: Matrix = Field(..., description="[query][key]: ‖sum over heads of alpha_ij v_j W_O[h]‖, "
                                                          "what the whole layer moves from each key")
    rollout: Matrix = Field(..., description="[query][key]: attention rollout through every layer (Abnar and "
                                             "Zuidema, 2020); rows sum to 1")
    rollout_to_layer: Matrix = Field(..., description="[query][key]: rollout through layers 0 to `layer`")
    captions: AttributionCaptions


class AblationRequest(ContrastFields):
    layers: list[StrictInt] | None = Field(
        None, max_length=1000, description="the layers whose heads to ablate one at a time (one forward pass per "
                                           "head); absent: every layer. Ask a layer at a time to show progress")

    @field_validator("layers")
    @classmethod
    def _each_layer_once(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("a layer is listed more than once")
        return v


class AblationEffect(BaseModel):
    layer: int
    head: int
    prob: float = Field(..., description="the probability of `token` with this head ablated too")
    delta_prob: float = Field(..., description="prob - the run's probability of `token`: negative when the head "
                                               "helped the prediction")
    value: float = Field(..., description="the target (logit, or logit difference) with this head ablated too")
    delta_value: float = Field(..., description="value - the run's target")
    already_ablated: bool = Field(..., description="the request's interventions ablate this head already: no change")


class AblationResponse(Explained):
    versus: TargetToken | None = None
    target: str
    value: float = Field(..., description="the target (logit, or logit difference) in the run without extra ablation")
    n_layers: int
    n_heads: int
    layers: list[int] = Field(..., description="the layers in `effects`, in order")
    effects: list[list[AblationEffect]] = Field(..., description="[layer of `layers`][head]")
    passes: int = Field(..., description="ablated runs this answer asked of the server: one per head not already "
                                         "ablated (a run the server had kept is reused, not computed again)")
    reused: int = Field(..., description="of `passes`, the runs the server had kept (or was computing for another "
                                         "request): not computed again for this answer")
    caption: str


class ErrorDetail(BaseModel):
    detail: str = Field(..., description="what was wrong, in one readable sentence")


class Unavailable(ErrorDetail):
    loading: str | None = Field(None, description="the model that is loading, when that is why (else absent)")
    progress: float | None = Field(None, ge=0, le=1, description="how far along its load is, from 0 to 1 (null: not "
                                                               "known)")


class Refused(ErrorDetail):
    tokens: int | None = Field(None, description="where the text is too long for the model: its length in tokens on "
                                                 "it (else absent)")
    limit: int | None = Field(None, description="where the text is too long: the most tokens the model reads there "
                                                "(past its trained length with allow_beyond_trained where it can; a "
                                                "report's own limit on GET /api/report)")
    model: str | None = Field(None, description="where the text is too long: the model it is too long for")
    side: Literal["a", "b"] | None = Field(None, description="POST /api/compare: the side whose text is too long")


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorDetail, "description": "the body could not be read"},
    404: {"model": ErrorDetail, "description": "unknown model"},
    413: {"model": ErrorDetail, "description": "request body over the limit"},
    422: {"model": Refused, "description": "invalid input, a limit passed, or a view that does not apply; a text too "
                                           "long for the model also gives `tokens`, `limit` and `model` as numbers"},
    503: {"model": Unavailable, "description": "busy, or the model is loading (`loading`, `progress`): try again after "
                                                "Retry-After seconds; without Retry-After: the model could not be loaded"},
}


# --------------------------------------------------------------------------- head roles (what each head does)

RoleName = Literal["previous-token", "sink", "self", "duplicate-token", "induction", "fixed-offset", "entropy"]
LabelRole = Literal["previous-token", "sink", "self", "duplicate-token", "induction", "fixed-offset"]


class RoleDefinition(BaseModel):
    role: RoleName
    name: str = Field(..., description="a title")
    short: str = Field(..., description="the word of the grid's label (\"prev\" in \"prev 0.92\")")
    words: str = Field(..., description="what it measures, in plain words")
    formula: str = Field(..., description="A: the head's pattern [query, key]; t: the token ids; Q: the queries that count")
    queries: str = Field(..., description="which queries count (the others are left out of the mean)")
    label: bool = Field(..., description="whether a head can be labelled with this role")


class LabelThresholds(BaseModel):
    min_score: float = Field(..., description="the strongest role's score must be at least this")
    min_margin: float = Field(..., description="... and at least this much above the next role's")
    min_queries: int = Field(..., description="... and counted over at least this many queries")


class RoleDefinitions(BaseModel):
    roles: list[RoleDefinition] = Field(..., description="every role score, in the order tables show them")
    common: str = Field(..., description="the rules every role shares: special tokens, position 0, which queries count")
    labels: str = Field(..., description="the rule that labels a head, in words")
    thresholds: LabelThresholds


class HeadRoles(BaseModel):
    layer: int
    head: int
    scores: dict[RoleName, float | None] = Field(
        ..., description="every role's score (4 decimals); null where no query of this text counts for that role")
    offset: int | None = Field(None, description="the offset d of the fixed-offset score (key = query − d); null "
                                                 "where it has none")
    label: LabelRole | None = Field(None, description="the strongest role when clearly above the others (see "
                                                      "GET /api/roles/definitions); null: unlabelled")
    label_text: str | None = Field(None, description="the grid's label, e.g. \"prev 0.92\" or \"offset 3 0.60\"")
    runner_up: LabelRole | None = Field(None, description="the next strongest role that could be a label")
    margin: float | None = Field(None, description="the strongest candidate's score minus the runner-up's")


class RoleTable(BaseModel):
    roles: list[RoleName] = Field(..., description="the roles, in the order of GET /api/roles/definitions")
    queries: dict[RoleName, int] = Field(..., description="how many queries of this text count for each role")
    heads: list[list[HeadRoles]] = Field(..., description="[layer][head]")
    ranked_by: RoleName | None = Field(None, description="the role of `ranking`, when the request named one")
    ranking: list[tuple[int, int]] | None = Field(
        None, description="every head as [layer, head], highest `ranked_by` score first (ties: lower layer, then "
                          "lower head first; heads with no score last)")


class ProbeSpec(Strict):
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1, description="the random tokens' seed: the same seed gives the "
                                                               "same probe")
    length: StrictInt | None = Field(
        None, ge=2, description="how many random tokens; the probe is them twice (with the model's BOS first where it "
                                "has one). Default: 50, or fewer where the model cannot read or draw that many (the "
                                "longest probe it can read, as many as its ordinary tokens, at most max_probe_length)")


class ProbeResult(BaseModel):
    seed: int
    length: int = Field(..., description="the random tokens in each half")
    first_half: tuple[int, int] = Field(..., description="[start, end) positions of the first copy")
    second_half: tuple[int, int] = Field(..., description="[start, end) positions of the repeat")
    token_loss: list[float | None] | None = Field(
        None, description="each token's loss, −ln p(token | the tokens before it), in nats; null at position 0")
    first_half_loss: float | None = Field(None, description="mean token_loss over the first half's tokens that have one")
    second_half_loss: float | None = Field(None, description="mean token_loss over the repeat")
    loss_drop: float | None = Field(None, description="first_half_loss − second_half_loss: what reading the first "
                                                      "copy taught the model in context")
    loss_unavailable: str | None = Field(None, description="why there is no loss (a model with no next-word head)")


class RoleAttentionFields(InterventionFields):
    layers: list[StrictInt] = Field(
        default_factory=list, max_length=1000,
        description="the layers whose full-precision attention to return in `attention` (as /api/analyze's "
                    "`layers`, each once); default none: the probe's attention is not on any other endpoint")
    thumbnails: StrictBool = Field(False, description="also return every layer x head pattern as 8-bit values")
    sort_by: RoleName | None = Field(None, description="also rank every head by this role's score (`ranking`)")

    _each_layer_once = field_validator("layers")(AnalyzeRequest._each_layer_once.__func__)


# the body /docs fills in for a request that takes a text or a probe (otherwise it gives both, which is refused)
TEXT_NOT_PROBE = ConfigDict(json_schema_extra={"examples": [{"text": "The cat sat on the mat because the cat was tired."}]})


class RolesRequest(RoleAttentionFields):
    model_config = TEXT_NOT_PROBE

    text: StrictStr | None = Field(None, description="the sentence to score; give either text or probe")
    probe: ProbeSpec | None = Field(None, description="score the induction probe instead of a text")
    allow_beyond_trained: StrictBool = BEYOND_TRAINED

    @field_validator("text")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else check_text(v)

    @model_validator(mode="after")
    def _text_or_probe(self):
        if (self.text is None) == (self.probe is None):
            raise ValueError("give either text or probe (one of them)")
        return self


class ProbeRequest(RoleAttentionFields):
    probe: ProbeSpec = Field(default_factory=ProbeSpec, description="the probe's seed and length")


class RolesResponse(RunInfo):
    n_layers: int
    n_heads: int
    causal: bool
    positional: str = Field(..., description="the model's positional scheme")
    roles: RoleTable
    probe: ProbeResult | None = Field(None, description="for the induction probe: its seed, halves and losses")
    layers: list[int] = Field(default_factory=list, description="the layers in `attention`, as requested")
    attention: list[list[Matrix]] = Field(default_factory=list, description="[layer][head][query][key] for `layers`")
    thumbnails: PackedWeights | None = Field(None, description="on request: every layer x head pattern, 8-bit, "
                                                               "[layer, head, query, key]")


class RolesModelsRequest(Strict):
    model_config = TEXT_NOT_PROBE

    models: list[StrictStr] | None = Field(
        None, min_length=1,
        description="the models to compare (each once, at most max_role_models); default: the tiny models that ship "
                    "with the project")
    text: StrictStr | None = Field(None, description="the sentence to score; give either text or probe")
    probe: ProbeSpec | None = Field(None, description="score each model on the induction probe (drawn from its own "
                                                      "vocabulary: the tiny models share one, so they share the probe)")
    sort_by: RoleName | None = Field(None, description="also rank each model's heads by this role's score")
    allow_beyond_trained: StrictBool = Field(False, description="allow a text longer than a model's trained length "
                                                                "where the model can run there; a model that cannot "
                                                                "is left out (`left_out` says why)")

    @field_validator("text")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else check_text(v)

    @field_validator("models")
    @classmethod
    def _each_once(cls, v: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        for name in v or ():
            if name in seen:
                raise ValueError(f"model {name[:200]!r} is listed more than once")
            seen.add(name)
        return v

    @model_validator(mode="after")
    def _text_or_probe(self):
        if (self.text is None) == (self.probe is None):
            raise ValueError("give either text or probe (one of them)")
        return self


class LeftOutModel(BaseModel):
    model: str
    why: str
    tokens: int | None = Field(None, description="the text's length in tokens on this model, where it is too long "
                                                 "for it (else null)")
    limit: int | None = Field(None, description="the most tokens this model reads, past its trained length where it "
                                                "can, where the text is too long for it (else null)")


class RolesModelsResponse(BaseModel):
    models: list[str] = Field(..., description="the models, in the order of `results`")
    results: list[RolesResponse] = Field(..., description="one role table per model, on the same text or probe")
    left_out: list[LeftOutModel] = Field(default_factory=list, description="with allow_beyond_trained, the models "
                                                                           "that cannot read a text this long, and why")


AnalyzeResponse.model_rebuild()  # (its `roles`, `lens`, `logit` and `attention_attribution` are defined after it)
# --------------------------------------------------------------------------- the positional-encoding lab

class SchemeStep(BaseModel):
    id: str = Field(..., description="embed | add_position | norm | project | rotate | dot | scale | bias | mask | "
                                     "softmax | weighted_sum")
    title: str
    positional: bool = Field(..., description="true where the positional scheme acts (the step to highlight)")
    once: bool = Field(..., description="true: once, before the first block; false: in every attention layer")
    hook: str | None = Field(None, description="the hook point holding the value after this step ({l}: the layer)")
    view: str | None = Field(None, description="the page view that shows this step's numbers")
    detail: str


class SchemeView(BaseModel):
    view: str = Field(..., description="a view of the page (attention, arithmetic, qkv, embeddings, positional, "
                                               "poslab)")
    part: str | None = Field(None, description="the part of the view, where it matters (decompose, encoding, lengths, "
                                               "probe)")
    shows: str = Field(..., description="what that view shows of this scheme")


class AlibiBias(BaseModel):
    slopes: list[float] = Field(..., description="[head]: each head's slope m_h (Press et al., 2022)")
    distance: list[int] = Field(..., description="query position - key position, 0 .. n-1")
    bias: Matrix = Field(..., description="[head][distance]: -m_h x distance, what the head adds to a scaled score")


class RotaryFrequencies(BaseModel):
    base: float
    frequencies: list[float] = Field(..., description="[pair]: radians per position by which the pair (j, j + d_head/2) "
                                                      "of q and k is rotated")


class SchemeResponse(BaseModel):
    model: str
    positional: str
    enters: Literal["embedding", "rotation", "scores", "nothing"] = Field(
        ..., description="embedding: a vector added to the token embedding; rotation: q and k rotated; scores: a bias "
                         "on the scores; nothing")
    reaches: list[str] = Field(..., description="which of q, k, v (or the scores) the position reaches directly")
    every_layer: bool = Field(..., description="the scheme acts in every layer (rotary, ALiBi), not once at the input")
    summary: str
    steps: list[SchemeStep] = Field(..., description="one attention layer's computation, in order, this scheme's "
                                                     "steps marked")
    hook_points: list[str] = Field(..., description="the hook points whose values show where the scheme acts")
    views: list[SchemeView]
    trained_tokens: int
    why_not_beyond: str | None = Field(None, description="why the model cannot run past its trained length; null: it can")
    alibi: AlibiBias | None = Field(None, description="ALiBi: each head's bias by distance (what it has instead of an "
                                                      "encoding)")
    rotary: RotaryFrequencies | None = None


class LengthBin(BaseModel):
    start: int
    end: int = Field(..., description="positions start .. end - 1")
    loss: float


class LengthAt(BaseModel):
    mean_loss: float = Field(..., description="mean over positions 0 .. L-1: what an evaluation in windows of L tokens "
                                              "measures")
    tail_loss: float = Field(..., description="mean over the last 64 positions before L")


class LengthCurve(BaseModel):
    model: str
    positional: str
    trained_tokens: int
    span: int = Field(..., description="the window length, tokens (4 x trained_tokens)")
    positions: int = Field(..., description="how many positions were measured: span, or trained_tokens where the "
                                            "model cannot run past it")
    why_not_beyond: str | None = Field(None, description="why the curve stops at the trained length")
    windows: int
    loss: list[float] = Field(..., description="[position]: mean loss (nats) of the prediction made at that position")
    sem: list[float] = Field(..., description="[position]: its standard error over the windows")
    bins: list[LengthBin]
    at: dict[str, LengthAt | None] = Field(..., description="\"128\", \"256\", \"512\": the loss at that length (null "
                                                            "past the curve's end)")
    trained_mean_loss: float = Field(..., description="mean over positions 0 .. trained_tokens-2, the positions the "
                                                      "card's evaluation scores")
    card_val_nats_per_token: float | None
    command: str
    date: str


class MissingMeasure(BaseModel):
    model: str
    why: str


class LengthCurves(BaseModel):
    unit: Literal["nats per token"] = "nats per token"
    layout: str = Field(..., description="how the validation text was laid out")
    models: list[LengthCurve] = Field(..., description="one curve per tiny model, in the registry's order")
    missing: list[MissingMeasure] = Field(..., description="tiny models without a current measurement, and why")


class ProbeDepth(BaseModel):
    label: str
    hook: str
    r2: float = Field(..., description="R² on the held-out windows")
    r2_fit: float = Field(..., description="R² on the fitting windows")
    mae: float = Field(..., description="mean absolute error on the held-out windows, in positions")
    # "lambda" is a Python keyword
    penalty: float = Field(..., description="the ridge penalty chosen by cross-validation on the fitting part")


class ProbeCurve(BaseModel):
    model: str
    positional: str
    depths: list[ProbeDepth] = Field(..., description="the block input, then after each block")
    fit_tokens: int
    held_out_tokens: int
    command: str
    date: str


class ProbeResults(BaseModel):
    target: str
    method: str
    models: list[ProbeCurve]
    missing: list[MissingMeasure]
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
    budget_seconds: float = Field(..., description="seconds counted against the time budget (lab_max_seconds) so far: "
                                                   "the optimiser steps with the records before this one")
    losses: list[float] = Field(..., description="the training loss of each step since the previous record")
    loss: float | None = Field(..., description="their mean (null at step 0)")
    example_loss: float = Field(..., description="cross-entropy on the example's scored positions, in nats")
    accuracy: float = Field(..., description="share of the example's scored positions predicted right (top-1)")
    predictions: list[int] = Field(..., description="the model's top next token at each scored position")
    prediction_tokens: list[str]
    attention: PackedWeights = Field(..., description="every head's pattern on the example, [layer, head, query, key], "
                                                      "8-bit")
    roles: dict[RoleName, list[list[float | None]]] = Field(
        ..., description="role -> score [layer][head] on the task's probe (GET /api/lab/options: the roles and their "
                         "definitions); null where no query of the probe counts for the role")


class LabRunState(BaseModel):
    id: int
    status: LabStatus
    reason: str | None = Field(None, description="why the run ended (or why it was reset)")
    queue_position: int | None = Field(None, description="1 = next to start; null unless queued")
    config: LabConfigEcho
    steps: int = Field(..., description="the step budget")
    step: int = Field(..., description="the step of the latest record")
    seconds: float = Field(..., description="seconds spent in optimiser steps, at the latest record")
    budget_seconds: float = Field(..., description="seconds counted against the time budget (lab_max_seconds), at the "
                                                   "latest record: the optimiser steps with the records before it")
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
    key: str = Field(..., description="a random key of this run: a server started again numbers its runs from 1 "
                                      "again, so a page that follows or remembers a run checks the key as well as the id")
    records: list[LabRecord] = Field(default_factory=list, description="the records from `after` + 1 on")


class LabLossReached(BaseModel):
    reached: bool = Field(..., description="a record's training loss fell below `thresholds.loss`")
    step: int | None = Field(None, description="the first such record's step")
    seconds: float | None = Field(None, description="its seconds of training")
    loss: float | None = Field(None, description="its training loss (the mean since the record before)")


class LabRoleReached(BaseModel):
    reached: bool = Field(..., description="a head's `thresholds.role` score reached `thresholds.score`")
    step: int | None = Field(None, description="the first such record's step")
    seconds: float | None = None
    layer: int | None = Field(None, description="the head with the highest score then")
    head: int | None = None
    score: float | None = None
    loss: float | None = Field(None, description="the record's training loss")


class LabFinal(BaseModel):
    step: int | None = Field(None, description="the last record summarised")
    seconds: float | None = None
    loss: float | None = Field(None, description="its training loss (the mean since the record before)")
    example_loss: float | None = Field(None, description="the loss on the task's fixed example")
    accuracy: float | None = Field(None, description="the accuracy on the example's scored positions")
    best_score: float | None = Field(None, description="the highest `thresholds.role` score of any head")
    best_layer: int | None = None
    best_head: int | None = None
    learned: bool = Field(..., description="the accuracy on the example is `thresholds.accuracy` or more")
    loss_below: bool = Field(False, description="its training loss (on fresh sequences) is below `thresholds.loss`: "
                                                "with `learned`, the task learned, not the one example alone")


class LabThresholds(BaseModel):
    loss: float = Field(..., description="nats (models.lab.LOSS_DROP)")
    role: str
    score: float = Field(..., description="models.lab.INDUCTION_AT, the lab's threshold")
    accuracy: float = Field(..., description="models.lab.LEARNED_AT: a run at this accuracy has learned the task")


class LabRunSummary(BaseModel):
    """What a run reached over its first records (models.lab.summarize): what the lessons quote and test."""
    run: int | None = Field(..., description="null: no run (a lesson's step before the page trained anything)")
    status: LabStatus | Literal["none"]
    ended: bool = Field(..., description="the run records nothing more and this covers every record")
    end: Literal["steps", "time", "stopped", "failed", "reset"] | None = Field(
        None, description="how the run ended (null until `ended`): its step budget spent, its time budget "
                          "(lab_max_seconds), stopped (from the page, or by the server: no page watched it, paused too "
                          "long, the server stopped), failed, or reset; a lesson advises more steps only after `steps`")
    reason: str | None = Field(None, description="why it ended, in words (null until `ended`)")
    steps: int | None = Field(None, description="the run's step budget")
    config: LabConfigEcho | None = None
    task: str | None = Field(None, description="the run's task (null: no run), for a lesson's conditions")
    positional: str | None = None
    size: str | None = None
    seed: int | None = None
    records: int = Field(..., description="how many records this summarises")
    thresholds: LabThresholds
    loss: LabLossReached
    role: LabRoleReached
    final: LabFinal


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
    note: str | None = Field(None, description="what a model of this size cannot learn, where that matters (the "
                                               "tiny size: one layer cannot form an induction head)")
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
    roles: list[RoleDefinition] = Field(..., description="the role scores a record carries, in the order the lab "
                                                         "offers them: the Heads view's definitions (GET "
                                                         "/api/roles/definitions), measured on the task's probe")
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
