"""Pieces every view's answer shares: rounding, tokens, the interventions that were applied."""

from __future__ import annotations

import base64
import binascii
import math
import weakref

import numpy as np
import torch

from backend import schemas
from backend.service import Run
from models.registry import LoadedModel
from models.tokenizer import Tokenizer
from models.transformer import Interventions

DECIMALS = 4
SINGLE_BELOW = 100  # see rounded()
TOLIST_CHUNK = 1 << 14  # elements per tolist() call: it holds the GIL for its whole run (see backend/encode.py)


def _round(t: torch.Tensor) -> torch.Tensor:
    x = t.detach().to(torch.float64, copy=True)  # (a copy even of a float64 tensor: rounded in place below)
    return torch.round(x, decimals=DECIMALS, out=x)


def number(x: float) -> float | None:
    """A score as the API gives it: rounded to DECIMALS places; None where it is nan (no query counted)."""
    return round(x, DECIMALS) if math.isfinite(x) else None


def rnd(t: torch.Tensor) -> list:
    """A tensor as nested lists of floats rounded to DECIMALS places."""
    return tolist(_round(t))


def rounded(t: torch.Tensor) -> np.ndarray:
    """The numbers of rnd(t), as a numpy array: for a large field of an answer that is only sent (assigned after
    validation; backend/encode.py writes it as the JSON of rnd(t), with the same bytes, without making a Python float
    of each number: 3.7 ms of tolist() saved on the 65,536 weights of the default model at 64 tokens). float32 where
    every number is under SINGLE_BELOW in size: a number of at most 6 significant digits (4 decimals, 2 before the
    point) is the shortest form of its nearest float32 (FLT_DIG), so orjson writes the same bytes from it as from the
    float64, in three quarters of the time (1.0 against 1.3 ms for those weights); float64 otherwise."""
    x = _round(t).contiguous()
    if x.numel() and bool((x.abs() < SINGLE_BELOW).all()):  # (False where a number is nan or infinite)
        x = x.float()
    return x.numpy()


def tolist(t: torch.Tensor) -> list:
    """t.tolist(), made slice by slice along the first dimension where t is large, so that no single call holds the
    GIL for long."""
    if t.dim() <= 1 or t.numel() <= TOLIST_CHUNK:
        return t.tolist()
    return [tolist(x) for x in t]


def rnd_masked(t: torch.Tensor) -> list:
    """Like rnd, with a number that is not finite as None: -inf (a masked score) or nan (a score no query counted)."""
    return _finite_or_none(rnd(t), t.dim())


def _finite_or_none(x, depth: int):
    if depth == 0:
        return x if math.isfinite(x) else None
    if depth > 1:
        return [_finite_or_none(v, depth - 1) for v in x]
    isfinite = math.isfinite
    return [v if isfinite(v) else None for v in x]


PACKED_SCALE = 10**DECIMALS  # packed_rounded(): a number of DECIMALS places as an integer


def packed_rounded(t: torch.Tensor, visible: list[int] | None = None) -> schemas.PackedWeights | None:
    """Weights [..., query, key] as rnd() rounds them, as 16-bit integers (weight * PACKED_SCALE, which is what
    torch.round(x, decimals=DECIMALS) divides by 10**DECIMALS), base64: the same numbers as rnd()'s and rounded()'s
    (their shortest forms are those 4-decimal numbers). `visible`: only each query's first visible[query] keys, one row
    after another. None where a weight is not in [0, 1] (or not a number)."""
    if t.dim() < 2:
        return None
    k = torch.round(t.detach().double() * PACKED_SCALE)  # [..., query, key]
    if k.numel():
        low, high = torch.aminmax(k)
        if not (low >= 0 and high <= PACKED_SCALE):  # (False for a nan)
            return None
    k = k.to(torch.int16).numpy().astype("<u2")  # 0 .. 10,000 (a no-op on a little-endian machine)
    if visible is not None:
        k = k[..., np.arange(t.shape[-1]) < np.asarray(visible)[:, None]]  # [..., sum(visible)]: query by query
    return schemas.PackedWeights(shape=list(t.shape), dtype="uint16", scale=PACKED_SCALE,
                                 rows="whole" if visible is None else "visible",
                                 data=binascii.b2a_base64(k.tobytes(), newline=False).decode("ascii"))


def packed_weights(t: torch.Tensor, scale: int = 255) -> schemas.PackedWeights:
    """Weights in [0, 1] (a masked cell is 0) as one byte each, base64: byte = round(weight * scale)."""
    q = torch.round(t.detach().float().clamp(0, 1) * scale).to(torch.uint8).contiguous()
    return schemas.PackedWeights(shape=list(q.shape), scale=scale, data=base64.b64encode(q.numpy().tobytes()).decode())


def interventions(req: schemas.InterventionFields) -> Interventions:
    """The request's interventions; the seed only where it matters (positions shuffled), so that another seed with
    positions normal or removed is the same pass (one cache entry) and the same answer."""
    seed = req.seed if req.positions == "shuffled" else 0
    return Interventions(positions=req.positions, scale=req.scale, ablate=tuple(map(tuple, req.ablate)), seed=seed)


def token(loaded: LoadedModel, token_id: int, position: int, text: str | None = None,
          special: bool | None = None) -> schemas.Token:
    """A token of the model's vocabulary; `text` and `special` as in its sentence, else as the token on its own."""
    tok = loaded.tokenizer
    return schemas.Token(id=token_id, text=tok.token_text(token_id) if text is None else text,
                         display=tok.display(token_id), position=position,
                         special=tok.is_special(token_id) if special is None else special)


def tokens(loaded: LoadedModel, text: str, ids: tuple[int, ...]) -> list[schemas.Token]:
    """The tokens of a sentence with their exact text (models.tokenizer.Tokenizer.pieces); for ids that the text
    does not tokenize to (a run made from ids), each token's own bytes decoded (Tokenizer.token_texts)."""
    pieces = loaded.tokenizer.pieces(text)
    if [p.id for p in pieces] != list(ids):  # a run made from ids (the induction probe): no text tokenizes to them
        texts = loaded.tokenizer.token_texts(ids)
        return [token(loaded, t, i, "" if loaded.tokenizer.is_special(t) else texts[i]) for i, t in enumerate(ids)]
    return [token(loaded, p.id, i, p.text, p.special) for i, p in enumerate(pieces)]


def prob_round(p: float) -> float:
    """A probability as the API gives it: 4 decimals, or 3 significant figures below 0.01 (at a high temperature
    every probability of a large vocabulary is below 0.001, and 4 decimals would read 0.00034 and 0.00025 alike)."""
    return round(p, 4) if p >= 0.01 else float(f"{p:.3g}")


def prediction(loaded: LoadedModel, token_id: int, prob: float) -> schemas.Prediction:
    return schemas.Prediction(**prediction_fields(loaded, token_id, prob))


# each tokenizer's tokens as schemas.Prediction has them, but for `prob`: {id: {"id", "text", "display", "special"}}
_PREDICTION_FIELDS: weakref.WeakKeyDictionary[Tokenizer, dict[int, dict]] = weakref.WeakKeyDictionary()


def prediction_fields(loaded: LoadedModel, token_id: int, prob: float) -> dict:
    """The fields of schemas.Prediction, for an answer validated as a whole (many predictions: one call). A token's
    text, display and special flag are looked up once per tokenizer: the logit lens names 90 tokens of the default
    model in 36 us, where asking the tokenizer for each took 104 us."""
    tok = loaded.tokenizer
    known = _PREDICTION_FIELDS.get(tok)
    if known is None:
        known = _PREDICTION_FIELDS.setdefault(tok, {})
    fields = known.get(token_id)
    if fields is None:
        fields = known[token_id] = {"id": token_id, "text": tok.token_text(token_id), "display": tok.display(token_id),
                                    "special": tok.is_special(token_id)}
    return {**fields, "prob": prob}


def beyond_trained(run: Run) -> schemas.BeyondTrained | None:
    """The warning of a text longer than the model's trained length (None within it)."""
    n, trained = len(run.ids), run.loaded.cfg.max_positions
    if n <= trained:
        return None
    # a model given no positions (none as its scheme, or removed in this run) meets no unseen position, only a text
    # longer than any it was trained on
    given = run.loaded.info.positional != "none" and run.iv.positions != "removed"
    unseen = (f"so positions {trained} to {n - 1} are positions it never saw in training" if given else
              "a text longer than any it saw in training (it is given no positions, so no position is new to it)")
    return schemas.BeyondTrained(
        n_tokens=n, trained_tokens=trained, first_unseen=trained,
        warning=f"This text is {n} tokens; {run.name} was trained on at most {trained}, {unseen}: what it does there "
                "is extrapolation.")


def run_info(run: Run) -> dict:
    """The fields of schemas.RunInfo: which model and interventions, the tokens, the beyond-trained warning. Made once
    per pass (Run.shared) and shared by its answers: a kept pass answers many requests (the page's other views, a
    class on one sentence), and its tokens cost a tokenization and an object per token (0.27-0.35 ms at 16 tokens,
    measured between passes)."""
    info = run.shared.get("info")
    if info is None:
        info = run.shared["info"] = _run_info(run)
    return dict(info)


def moved(permutation: list[int] | None) -> int | None:
    """How many tokens a shuffle gave another token's position (None: the positions were not shuffled)."""
    return None if permutation is None else sum(p != i for i, p in enumerate(permutation))


def _run_info(run: Run) -> dict:
    iv = run.iv
    return {
        "model": run.name,
        "interventions": schemas.AppliedInterventions(positions=iv.positions, scale=iv.scale,
                                                      ablate=list(iv.ablate),
                                                      seed=iv.seed if iv.positions == "shuffled" else None,
                                                      permutation=run.cache.permutation, moved=moved(run.cache.permutation)),
        "tokens": tokens(run.loaded, run.text, run.ids),
        "beyond_trained": beyond_trained(run),
    }


def special_tokens(run: Run) -> list[bool]:
    """[pos]: which tokens of the pass are special (BOS, [CLS], [SEP]): what the role scores leave out as queries."""
    tok = run.loaded.tokenizer
    return [tok.is_special(i) for i in run.ids]


def visible_keys(run: Run) -> list[int]:
    """For each query, how many keys it sees: keys 0 .. visible - 1; the rest are masked. Read from the model's own
    scores, where a masked cell is -inf (layer 0, head 0: every layer and head of a pass shares the mask). The one
    place the mask is read; an answer that carries `visible` lets the page and the figures draw it without knowing
    why (causal, or none)."""
    scores = run.cache["attn_scores", 0, 0]  # [q, k]
    seen = ~torch.isneginf(scores)  # [q, k]
    visible = seen.sum(-1)  # [q]
    prefix = torch.arange(scores.shape[-1]) < visible[:, None]  # [q, k]: the first `visible` keys
    if not torch.equal(seen, prefix):
        raise RuntimeError("the mask of this pass is not a prefix of the keys for every query")
    return visible.tolist()


def check_index(name: str, value: int, count: int) -> None:
    if not 0 <= value < count:
        only = f"the text has 1 token, so {name} is 0" if count == 1 else \
            f"the text has {count} tokens, so {name} is 0 to {count - 1}"
        raise ValueError(f"{name} {value} does not exist: {only}")
