"""Next-word prediction: top-k at a temperature, per position, the kept set of top-k / top-p, and a continuation
that is greedy or sampled with a seed (the sampling maths: models/sampling.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import torch

from backend import schemas
from backend.analysis.common import prediction, prob_round, run_info, token
from backend.service import Run
from models import sampling as sampler
from models.registry import LoadedModel


def why_no_prediction(loaded: LoadedModel) -> str | None:
    return loaded.info.unavailable_views.get("predictions")


def _top(loaded: LoadedModel, logits: torch.Tensor, k: int, temperature: float) -> list[schemas.Prediction]:
    logits = logits.double()
    # subtract the maximum before dividing: a tiny temperature then tends to argmax instead of inf - inf
    probs = torch.softmax((logits - logits.max()) / temperature, dim=-1)
    # ranked by the logits, the order of every temperature: at a tiny one all but the top probability are 0, and the
    # probabilities' own top-k would be the lowest ids, not the next most likely
    ids = logits.topk(min(k, logits.shape[-1])).indices
    values = probs[ids]
    return [prediction(loaded, i, prob_round(p)) for p, i in zip(values.tolist(), ids.tolist(), strict=True)]


def top_k(run: Run, k: int, temperature: float) -> tuple[list[schemas.Prediction] | None, str | None]:
    why = why_no_prediction(run.loaded)
    if why:
        return None, why
    return _top(run.loaded, run.logits[-1], k, temperature), None


def applied(sampling: schemas.Sampling | None) -> schemas.AppliedSampling:
    """The sampling settings as used: a sampled continuation without a seed gets a new one (reported, to repeat)."""
    s = sampling or schemas.Sampling()
    seed = None if s.method == "greedy" else (secrets.randbelow(2**31) if s.seed is None else s.seed)
    return schemas.AppliedSampling(method=s.method, top_k=s.top_k, top_p=s.top_p, seed=seed)


def kept_set(logits: torch.Tensor, temperature: float, s: schemas.AppliedSampling) -> schemas.KeptSet:
    probs = sampler.distribution(logits, temperature)
    keep = sampler.kept(probs, s.top_k, s.top_p)
    return schemas.KeptSet(size=int(keep.sum()), mass=round(float(probs[keep].sum()), 4))


def choose(loaded: LoadedModel, logits: torch.Tensor, temperature: float, s: schemas.AppliedSampling,
           g: torch.Generator | None, position: int) -> schemas.GenerationStep:
    """The next token after `logits` [vocab]: the most probable (greedy) or a draw from the kept set."""
    probs = sampler.distribution(logits, temperature)  # [vocab]
    keep = sampler.kept(probs, s.top_k, s.top_p)  # [vocab] bool
    within = probs * keep
    within = within / within.sum()
    nxt = int(probs.argmax()) if s.method == "greedy" else sampler.sample(within, g)
    return schemas.GenerationStep(token=token(loaded, nxt, position), prob=prob_round(float(probs[nxt])),
                                  kept_prob=prob_round(float(within[nxt])), kept_size=int(keep.sum()))


@torch.inference_mode()
def predict(run: Run, k: int, temperature: float, continue_tokens: int,
            sampling: schemas.Sampling | None = None,
            next_logits: Callable[[list[int]], torch.Tensor] | None = None,
            limit: int | None = None) -> schemas.PredictResponse:
    """`next_logits(ids)` runs one more forward pass of the continuation: the last position's logits [vocab]
    (ModelService.next_logits, which counts it in the request's slot and stops when the client has gone);
    default: the model itself. The continuation stops at `limit` tokens (default: the model's max_tokens)."""
    why = why_no_prediction(run.loaded)
    if why:
        raise ValueError(why)
    loaded = run.loaded
    how = applied(sampling)
    g = None if how.seed is None else sampler.generator(how.seed)
    steps: list[schemas.GenerationStep] = []
    full_text = same_tokens = None
    n = len(run.ids)
    per_position = [schemas.PositionPredictions(position=i, actual_next=run.ids[i + 1] if i + 1 < n else None,
                                                top=_top(loaded, run.logits[i], k, temperature))
                    for i in range(n)]
    continuation = cont_tokens = stopped = None
    if continue_tokens:
        if next_logits is None:
            def next_logits(ids: list[int]) -> torch.Tensor:
                return loaded.model(torch.tensor(ids), run.iv)[-1]  # [pos, vocab] -> [vocab]
        ids = list(run.ids)
        limit = limit or loaded.info.max_tokens
        new: list[int] = []
        logits = run.logits[-1]
        while len(new) < continue_tokens:
            if len(ids) >= limit:
                trained = loaded.info.max_tokens
                reads = (f"{limit} tokens (max_tokens)" if limit == trained else
                         f"{limit} tokens when allowed past its trained length of {trained}")
                stopped = (f"stopped after {len(new)} of {continue_tokens} tokens: model {loaded.name!r} reads at most "
                           f"{reads}, and the text has {len(ids)} now")
                break
            steps.append(choose(loaded, logits, temperature, how, g, len(ids)))
            nxt = steps[-1].token.id
            ids.append(nxt)
            new.append(nxt)
            if len(new) < continue_tokens and len(ids) < limit:
                logits = next_logits(ids)  # [vocab]
        cut = loaded.tokenizer.unfinished(new)  # the sentence gets whole characters: never "��"
        if cut:
            new, steps, ids = new[:-cut], steps[:-cut], ids[:-cut]
            unfinished = (f"the next {cut} tokens began a character that no token after them finished (their bytes "
                          "are left out)" if cut > 1 else
                          "the next token began a character that no token after it finished (its bytes are left out)")
            stopped = f"stopped after {len(new)} of {continue_tokens} tokens: {unfinished}" + (
                f"; and the model could read no further: {stopped.split(': ', 1)[1]}" if stopped else "")
        texts = loaded.tokenizer.token_texts(new)  # each character with the token of its first byte
        continuation = "".join(texts)
        cont_tokens = [token(loaded, t, n + i, text) for i, (t, text) in enumerate(zip(new, texts, strict=True))]
        full_text = run.text + continuation
        same_tokens = loaded.tokenizer.encode(full_text) == ids
    return schemas.PredictResponse(**run_info(run), temperature=temperature,
                                   predictions=_top(loaded, run.logits[-1], k, temperature),
                                   per_position=per_position, sampling=how,
                                   kept=kept_set(run.logits[-1], temperature, how), continuation=continuation,
                                   continuation_tokens=cont_tokens, steps=steps if continue_tokens else None,
                                   full_text=full_text, full_text_same_tokens=same_tokens, stopped=stopped)
