"""Why this next word: the logit lens, direct logit attribution, attention beside what it moves, and the
measured effect of ablating each head (the maths: models/lens.py, models/attribution.py).

Each answer says which model, interventions, position and token it explains. The ablation effects need one
forward pass per head; they go through ModelService.run, so the server's limits and its concurrency slot
apply to each, and a client asks for a few layers at a time to show progress.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from backend import schemas
from backend.analysis.attention import patterns
from backend.analysis.common import check_index, prediction_fields, rnd, run_info
from backend.service import ModelService, Run
from models import attribution as attr
from models.lens import SUBLAYER_HOOKS, SUBLAYERS, ReadAhead, logit_lens, why_no_lens
from models.registry import LoadedModel
from models.sampling import distribution, top
from models.transformer import Interventions, check_layer_head

LENS_NOTE = ("Each cell reads the residual stream after that sub-layer through the final norm and the unembedding: "
             "a reading of an intermediate state, not what the model would output there (the later blocks still "
             "change it). After the last MLP it is the model's own prediction.")

CAPTIONS = schemas.AttributionCaptions(
    raw="Attention weight: how much of each key's value the head mixes into the query. It is not a causal "
        "explanation: a large weight on a key whose value is small moves little.",
    value_weighted="The size of what the head moves from each key, ‖α v W_O‖ (Kobayashi et al., 2020): it counts the "
                   "values as well as the weights, but not which way the moved vectors point or what later layers "
                   "do with them.",
    rollout="Attention rollout (Abnar and Zuidema, 2020): each layer's attention averaged over its heads (an ablated "
            "head moves nothing and is left out; a layer with every head ablated passes its input on), mixed with the "
            "residual connection and multiplied through the layers, a guess at how far each key can reach each query. "
            "It ignores the values, the MLPs and the norms, and measures no effect.")

PART_LABELS = {"embed": "token embedding", "pos_embed": "positional embedding", "token_type_embed": "token-type embedding",
               "attn_bias": "b_O {layer} (attention output bias)", "mlp": "MLP {layer}",
               "mlp_bias": "MLP {layer} out bias", "norm_bias": "final norm bias", "unembed_bias": "b_U (unembedding bias)"}


# --------------------------------------------------------------------------- the explained token

WHY_NOT = {"lens": why_no_lens, "logit_attribution": attr.why_no_attribution}  # view id -> reason from the config


def check_applies(loaded: LoadedModel, view: str) -> None:
    """A ValueError with the reason where `view` ("lens", "logit_attribution") does not apply to the model."""
    why = loaded.info.unavailable_views.get(view) or WHY_NOT[view](loaded.cfg)
    if why:
        raise ValueError(why)


def resolve_position(run: Run, position: int | None) -> int:
    n = len(run.ids)
    if position is None:
        return n - 1
    check_index("position", position, n)
    return position


def target_token(run: Run, position: int, token_id: int | None, name: str = "token") -> schemas.TargetToken:
    """The token explained at `position` (default: the model's most probable one there), with its probability,
    logit and rank in this run."""
    logits = run.logits[position]  # [vocab]
    vocab = logits.shape[-1]
    if token_id is None:
        token_id = int(logits.argmax())
    elif not 0 <= token_id < vocab:
        raise ValueError(f"{name} {token_id} is not a token id of this model (0 to {vocab - 1})")
    probs = distribution(logits)
    tok = run.loaded.tokenizer
    return schemas.TargetToken(id=token_id, text=tok.token_text(token_id), display=tok.display(token_id),
                               prob=round(float(probs[token_id]), 4), logit=round(float(logits[token_id]), 4),
                               rank=int((logits > logits[token_id]).sum()) + 1)


def _explained(run: Run, position: int | None, token_id: int | None, info: dict | None = None) -> dict:
    """The fields of schemas.Explained; `info`: the run's run_info() where the caller has it already."""
    position = resolve_position(run, position)
    return {**(run_info(run) if info is None else info), "position": position,
            "token": target_token(run, position, token_id), "token_is_default": token_id is None}


def versus_token(run: Run, position: int, token: schemas.TargetToken, versus_id: int | None) -> schemas.TargetToken | None:
    """The token `token` is compared with (None: none); a ValueError where it is the token itself (the difference of
    a logit with itself is 0 whatever the model does: "favours ↵ over ↵")."""
    if versus_id is None:
        return None
    if versus_id == token.id:
        raise ValueError(f"versus is the token explained, “{token.display}” (id {token.id}): compare it with another token")
    return target_token(run, position, versus_id, "versus")


def _target_name(token: schemas.TargetToken, versus: schemas.TargetToken | None) -> str:
    return f"logit(“{token.display}”)" + (f" - logit(“{versus.display}”)" if versus is not None else "")


# --------------------------------------------------------------------------- logit lens

def narrow(multiply_adds: int) -> AbstractContextManager:
    """The `wide` of a caller without a server: tensor work on this thread's own torch threads."""
    return nullcontext()


def lens(run: Run, position: int | None = None, token_id: int | None = None, k: int = 5,
         wide: Callable[[int], AbstractContextManager] = narrow,
         ahead: ReadAhead | None = None) -> schemas.LensResponse:
    """The residual stream at `position` read through the final norm and unembedding after each sub-layer.
    `wide(multiply_adds)`: the context its tensor work runs in (the server's ModelService.spare_threads: an idle
    core's threads, for a product large enough). `ahead`: run_reading_ahead()'s, whose hooks ran in the run's pass."""
    check_applies(run.loaded, "lens")
    return _lens(run, _explained(run, position, token_id), k, wide, ahead)


def run_reading_ahead(service: ModelService, name: str | None, text: str, iv: Interventions, beyond: bool = False,
                      lens_wanted: bool = True) -> tuple[Run, ReadAhead | None]:
    """service.run(name, text, iv, beyond), and where the lens at the last position is wanted and the model's lens is
    read in parts, the ReadAhead whose hooks read its parts on another core while the pass goes on, where one is
    free (ModelService.aside); else None (the lens is one product, or does not apply, or is not wanted)."""
    loaded = service.get(name)
    ahead = None
    if lens_wanted and not (why_no_lens(loaded.cfg) or loaded.info.unavailable_views.get("lens")):
        ahead = ReadAhead(loaded.model, service.aside)
        ahead = ahead if ahead.hooks else None
    return service.run(name, text, iv, beyond, hooks=ahead.hooks if ahead else None), ahead


def _lens(run: Run, head: dict, k: int, wide: Callable[[int], AbstractContextManager],
          ahead: ReadAhead | None = None) -> schemas.LensResponse:
    position, t = head["position"], head["token"].id
    cfg = run.loaded.cfg
    n_layers = cfg.n_layers
    with wide((1 + 2 * n_layers) * cfg.d_model * cfg.vocab_size):  # the unembedding's multiply-adds
        # [1 + 2L, vocab]: the embeddings' reading, then each sub-layer's
        logits = logit_lens(run.loaded.model, run.cache, position, ahead).readings
        # every reading at once, in float32: within 1e-7 of float64 where the answer shows 4 decimals, and a third of
        # the time on a large vocabulary (SmolLM2: 61 readings of 49,152 logits)
        probs = torch.softmax(logits, dim=-1)  # [reading, vocab]
        values, ids = top(probs, min(k, probs.shape[-1]))  # [reading, k]
        ranks = torch.gt(logits, logits[:, t:t + 1]).sum(-1, dtype=torch.int32) + 1  # [reading] (int32: 2x faster)
    # as Python numbers at once (the same as float() and int() of each element, without a tensor index per number)
    values, ids, chosen, ranks = values.tolist(), ids.tolist(), probs[:, t].tolist(), ranks.tolist()

    def cell(i: int, layer: int | None, sublayer: str, hook: str) -> dict:  # a LensCell's fields
        top = [prediction_fields(run.loaded, j, round(p, 4)) for p, j in zip(values[i], ids[i], strict=True)]
        return {"layer": layer, "sublayer": sublayer, "hook": hook, "top": top, "prob": round(chosen[i], 4),
                "rank": ranks[i]}

    cells = [[cell(1 + layer * len(SUBLAYERS) + i, layer, s, f"blocks.{layer}.hook_{SUBLAYER_HOOKS[s]}")
              for i, s in enumerate(SUBLAYERS)] for layer in range(n_layers)]
    # the reading from which the token stays first to the last one (ranks: the embeddings', then each sub-layer's)
    at = max((i + 1 for i, r in enumerate(ranks) if r != 1), default=0)  # after the last reading where it is not
    if at == len(ranks):
        settled = {"reached": False}
    elif at == 0:
        settled = {"reached": True, "layer": None, "sublayer": "embed"}
    else:
        settled = {"reached": True, "layer": (at - 1) // len(SUBLAYERS), "sublayer": SUBLAYERS[(at - 1) % len(SUBLAYERS)]}
    # validated with the answer, every cell and prediction in one call (not a call for each of them)
    return schemas.LensResponse.model_validate({
        **head, "n_layers": n_layers, "sublayers": list(SUBLAYERS), "cells": cells, "note": LENS_NOTE,
        "embedding": cell(0, None, "embed", "blocks.0.hook_resid_pre"), "settled": settled})


def why(run: Run, k: int, wide: Callable[[int], AbstractContextManager] = narrow,
        info: dict | None = None, ahead: ReadAhead | None = None,
        ) -> tuple[schemas.LensResponse, schemas.LogitAttributionResponse]:
    """The logit lens (top `k`) and the direct logit attribution of the last position's most probable token: what
    /api/analyze adds with `why` (its route has run check_why first), the same answers as /api/attribution/lens and
    /logit with their defaults. `info`: the run's run_info() where the caller has it (the analysis's own fields);
    `ahead`: as for lens()."""
    head = _explained(run, None, None, info)  # one explained token for both
    return _lens(run, head, k, wide, ahead), _logit_attribution(run, head)


def check_why(loaded: LoadedModel) -> None:
    """A ValueError naming `why` where the lens or the logit attribution does not apply to the model."""
    try:
        check_applies(loaded, "lens")
        check_applies(loaded, "logit_attribution")
    except ValueError as e:
        raise ValueError(f"why: {e}") from None


# --------------------------------------------------------------------------- direct logit attribution

def _attribution_note(a: attr.LogitAttribution, target: str) -> str:
    if a.norm == "layernorm":
        norm = (f"The final LayerNorm's scale is frozen at its value in this run (it divided the residual by "
                f"{a.scale:.4g}); each part is centred, as the norm centres their sum, so nothing is lost and the parts "
                f"add up to {target}, to the model's float32 rounding (uncentred, they would add "
                f"{a.centring_removed:.4f} to it).")
    elif a.norm == "rmsnorm":
        norm = (f"The final RMSNorm's scale is frozen at its value in this run (it divided the residual by "
                f"{a.scale:.4g}); RMSNorm does not centre, so nothing is removed and the parts add up to {target}.")
    else:
        norm = f"This model has no final norm: the parts add up to {target} as they are."
    parts = ("each MLP, the embeddings and the biases" if any(p.kind.endswith("_bias") for p in a.parts)
             else "each MLP and the embeddings")
    return (f"What each head (its output through W_O), {parts} add to "
            f"{target} directly. {norm} Only direct effects count: what a head writes also changes what later "
            "heads and MLPs do, and that is counted in them.")


def logit_attribution(run: Run, position: int | None = None, token_id: int | None = None,
                      versus_id: int | None = None) -> schemas.LogitAttributionResponse:
    check_applies(run.loaded, "logit_attribution")
    return _logit_attribution(run, _explained(run, position, token_id), versus_id)


def _logit_attribution(run: Run, head: dict, versus_id: int | None = None) -> schemas.LogitAttributionResponse:
    position = head["position"]
    versus = versus_token(run, position, head["token"], versus_id)
    a = attr.logit_attribution(run.loaded.model, run.cache, run.logits, position, head["token"].id, versus_id)
    target = _target_name(head["token"], versus)
    parts = [schemas.AttributionPart(kind=p.kind, layer=p.layer, label=PART_LABELS[p.kind].format(layer=p.layer),
                                     value=round(p.value, 4)) for p in a.parts]
    return schemas.LogitAttributionResponse(
        **head, versus=versus, target=target, logit=round(a.logit, 4), total=round(a.total, 4), heads=rnd(a.heads),
        heads_total=round(float(a.heads.sum()), 4), parts=parts, norm=a.norm, norm_scale=round(a.scale, 6),
        centring_removed=None if a.centring_removed is None else round(a.centring_removed, 4),
        note=_attribution_note(a, target))


# --------------------------------------------------------------------------- attention beside what it moves

def attention_attribution(run: Run, layer: int, head: int, residual: float = 0.5) -> schemas.AttentionAttributionResponse:
    """For one head and for the whole model: raw attention, value-weighted attention and rollout."""
    cfg = run.loaded.cfg
    check_layer_head(cfg, layer, head)
    pat = patterns(run)  # [layer, head, q, k]
    means, heads = attr.live_means(pat, run.iv.ablate)  # [layer, q, k]: over the heads that move something; [layer]
    rolled = attr.rollouts_of_means(means, heads, residual)  # [layer, q, k]: through each layer
    moved, layer_moved = attr.value_weighted_head_and_layer(run.loaded.model, run.cache, layer, head)  # [q, k] each
    # the six [q, k] maps rounded at once, in float64
    raw, value_weighted, layer_raw, layer_value_weighted, rollout, rollout_to_layer = rnd(torch.stack([
        pat[layer, head].double(), moved, means[layer], layer_moved, rolled[-1], rolled[layer]]))
    return schemas.AttentionAttributionResponse(
        **run_info(run), layer=layer, head=head, causal=cfg.causal, residual=residual, raw=raw,
        value_weighted=value_weighted, layer_raw=layer_raw, layer_value_weighted=layer_value_weighted,
        rollout=rollout, rollout_to_layer=rollout_to_layer, captions=CAPTIONS)


# --------------------------------------------------------------------------- measured ablation effects

def ablation_caption(token: schemas.TargetToken) -> str:
    return (f"The measured change in the probability of “{token.display}” when each head's output is set to zero, one "
            "full forward pass per head: the effect of removing that head with the rest of the model as it is. It "
            "misses what shows only when several heads are removed together, or when other heads make up for one.")


def check_layers(run: Run, layers: list[int] | None) -> list[int]:
    cfg = run.loaded.cfg
    layers = list(range(cfg.n_layers)) if layers is None else layers
    for layer in layers:
        try:
            check_layer_head(cfg, layer)
        except ValueError as e:
            raise ValueError(f"layers: {e}") from None
    return layers


def ablation(service: ModelService, run: Run, layers: list[int] | None = None, position: int | None = None,
             token_id: int | None = None, versus_id: int | None = None) -> schemas.AblationResponse:
    """For each head of `layers` (default all), the run again with that head ablated too (through
    service.run: cached, and each pass holds the server's slot), and the change in the token's probability."""
    check_applies(run.loaded, "logit_attribution")
    cfg = run.loaded.cfg
    layers = check_layers(run, layers)
    service.check_ablation_heads(len(layers) * cfg.n_heads)
    head = _explained(run, position, token_id)
    position, t = head["position"], head["token"].id
    versus = versus_token(run, position, head["token"], versus_id)

    def target(logits: torch.Tensor) -> float:
        row = logits[position].double()  # [vocab]
        return float(row[t] - (row[versus_id] if versus_id is not None else 0.0))

    base_prob, base_value = float(distribution(run.logits[position])[t]), target(run.logits)
    beyond = len(run.ids) > run.loaded.info.max_tokens  # `run` was allowed past the trained length: so are these
    effects, passes, reused = [], 0, 0
    for layer in layers:
        row = []
        for h in range(cfg.n_heads):
            already = (layer, h) in run.iv.ablate
            if already:
                other = run
            else:
                iv = dataclasses.replace(run.iv, ablate=(*run.iv.ablate, (layer, h)))
                reused += service.known(run.name, run.text, iv)  # kept (or being computed for another request)
                other = service.run(run.name, run.text, iv, beyond)
                passes += 1
            prob, value = float(distribution(other.logits[position])[t]), target(other.logits)
            row.append(schemas.AblationEffect(layer=layer, head=h, prob=round(prob, 4), delta_prob=round(prob - base_prob, 4),
                                              value=round(value, 4), delta_value=round(value - base_value, 4),
                                              already_ablated=already))
        effects.append(row)
    return schemas.AblationResponse(**head, versus=versus, target=_target_name(head["token"], versus),
                                    value=round(base_value, 4), n_layers=cfg.n_layers, n_heads=cfg.n_heads, layers=layers,
                                    effects=effects, passes=passes, reused=reused, caption=ablation_caption(head["token"]))
