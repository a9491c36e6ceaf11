"""Positional views: the encoding itself and the four-term split of the first layer's scores."""

from __future__ import annotations

import torch.nn.functional as F

from backend import schemas
from backend.analysis.common import rnd, rnd_masked, run_info
from backend.service import Run
from models.decompose import decompose_scores
from models.positional import sinusoidal_encoding
from models.registry import LoadedModel


def encoding(loaded: LoadedModel, n: int) -> schemas.PositionalResponse:
    cfg = loaded.cfg
    why = loaded.info.unavailable_views.get("positional.encoding")
    if why:
        raise ValueError(why)
    if cfg.positional == "sinusoidal":
        table = sinusoidal_encoding(n, cfg.d_model)
    else:
        if n > cfg.max_positions:
            raise ValueError(f"n is {n}; this model learned {cfg.max_positions} positions (max_tokens)")
        table = loaded.model.pos_embed.W_pos.detach()[:n]
    unit = F.normalize(table.double(), dim=-1)
    return schemas.PositionalResponse(model=loaded.name, positional=cfg.positional, n=n, d_model=cfg.d_model,
                                      encoding=rnd(table), similarity=rnd(unit @ unit.T))


ADDITIVE_NOTE = ("q and k are each split into a content part (from the token embedding{types}, with the biases) and a "
                 "position part ({source}); the norm's per-token divisor is taken from the real input, so the four "
                 "terms add up to the model's score.")


def additive_note(positions: str, token_types: bool = False) -> str:
    """What the split shows for an added encoding, as the run gave the positions (removed: nothing was added, so the
    three terms with a position in them are 0; shuffled: the position part is of the position each token was given).
    `token_types`: the model adds a token-type embedding (BERT), which is content."""
    types = " and its token type" if token_types else ""
    if positions == "removed":
        made = " (the token embedding and its token type)" if token_types else ""
        return (f"With the positions removed no encoding was added: q and k are all content{made}, "
                "content·content is the whole score and the three terms with a position in them are 0.")
    return ADDITIVE_NOTE.format(types=types, source="from the encoding of the position each token was given, in the "
                                "shuffled order" if positions == "shuffled" else "from the positional encoding")


def alibi_note(slope: float, scale: bool, positions: str) -> str:
    """What the split shows under ALiBi, for this head's slope and the run's interventions (scaling on or off; the
    positions normal, shuffled, or removed: then there is no distance, and the bias is 0)."""
    qk = "q·k/√d_head" if scale else "q·k (scaling off: not divided)"
    head = (f"ALiBi adds nothing to the embeddings, so q and k are all content: content·content is the whole of {qk} "
            "and the three terms with a position in them are 0. ")
    if positions == "removed":
        return head + ("The position would enter as the bias, −slope × distance, but with the positions removed there "
                       "is no distance: the bias is 0, and content·content alone is the model's score.")
    distance = "the distance between the shuffled positions" if positions == "shuffled" else "distance"
    # the slope with the four decimals of the view's bias plot and the lessons (1/256: 0.0039 there, 0.00390625 here)
    return head + (f"The position enters as the bias, −slope × {distance} (−{slope:.4f} × {distance} for this head), "
                   "added after the scaling: content·content + bias adds up to the model's score.")


def decompose(run: Run, layer: int, head: int) -> schemas.DecomposeResponse:
    terms = decompose_scores(run.loaded.model, run.cache, layer, head)
    alibi = terms.bias is not None
    note = (alibi_note(float(run.loaded.model.alibi_slopes[head]), run.iv.scale, run.iv.positions) if alibi
            else additive_note(run.iv.positions, bool(run.loaded.cfg.n_token_types)))
    return schemas.DecomposeResponse(
        **run_info(run), layer=layer, head=head, scores=rnd_masked(terms.scores),
        content_content=rnd_masked(terms.content_content), content_position=rnd_masked(terms.content_position),
        position_content=rnd_masked(terms.position_content), position_position=rnd_masked(terms.position_position),
        bias=rnd_masked(terms.bias) if alibi else None, note=note)
