"""Next-word prediction: top-k at a temperature, per position, and a greedy continuation."""

from __future__ import annotations

import torch

from backend import schemas
from backend.analysis.common import run_info, token
from backend.service import Run
from models.registry import LoadedModel


def why_no_prediction(loaded: LoadedModel) -> str | None:
    return loaded.info.unavailable_views.get("predictions")


def _top(loaded: LoadedModel, logits: torch.Tensor, k: int, temperature: float) -> list[schemas.Prediction]:
    logits = logits.double()
    # subtract the maximum before dividing: a tiny temperature then tends to argmax instead of inf - inf
    probs = torch.softmax((logits - logits.max()) / temperature, dim=-1)
    values, ids = probs.topk(min(k, probs.shape[-1]))
    return [schemas.Prediction(id=int(i), text=loaded.tokenizer.display(int(i)), prob=round(float(p), 4))
            for p, i in zip(values, ids, strict=True)]


def top_k(run: Run, k: int, temperature: float) -> tuple[list[schemas.Prediction] | None, str | None]:
    why = why_no_prediction(run.loaded)
    if why:
        return None, why
    return _top(run.loaded, run.logits[-1], k, temperature), None


@torch.inference_mode()
def predict(run: Run, k: int, temperature: float, continue_tokens: int) -> schemas.PredictResponse:
    why = why_no_prediction(run.loaded)
    if why:
        raise ValueError(why)
    loaded = run.loaded
    n = len(run.ids)
    per_position = [schemas.PositionPredictions(position=i, actual_next=run.ids[i + 1] if i + 1 < n else None,
                                                top=_top(loaded, run.logits[i], k, temperature))
                    for i in range(n)]
    continuation = cont_tokens = stopped = None
    if continue_tokens:
        ids = list(run.ids)
        limit = loaded.cfg.max_positions
        new: list[int] = []
        logits = run.logits[-1]
        while len(new) < continue_tokens:
            if len(ids) >= limit:
                stopped = f"the model reads at most {limit} tokens"
                break
            nxt = int(logits.argmax())
            ids.append(nxt)
            new.append(nxt)
            if len(new) < continue_tokens and len(ids) < limit:
                logits = loaded.model(torch.tensor(ids), run.iv)[-1]  # [vocab]
        continuation = loaded.tokenizer.decode(new)
        cont_tokens = [token(loaded, t, n + i) for i, t in enumerate(new)]
    return schemas.PredictResponse(**run_info(run), temperature=temperature,
                                   predictions=_top(loaded, run.logits[-1], k, temperature),
                                   per_position=per_position, continuation=continuation,
                                   continuation_tokens=cont_tokens, stopped=stopped)
