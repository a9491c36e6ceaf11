"""What each part of the model adds to a prediction, and attention weighed by what it moves.

Direct logit attribution. In a pre-norm model the final residual stream at a position is a sum:

    x = token embedding (+ positional embedding)
        + sum over layers of ( sum over heads of z_h W_O[h]  +  b_O
                               + MLP output without its bias  +  MLP out bias )

and the logit of token t is  ln_final(x) . u_t + b_U[t],  u_t the unembedding column of t. With the final
norm's divisor sigma frozen at its value in the run, the norm is linear:

    LayerNorm: ln_final(x) = (x - mean(x)) / sigma * w + b        RMSNorm: x / sigma * w

so the logit splits exactly into one term per part, each part centred (LayerNorm) before it is scaled:

    logit = sum over parts p of (p - mean(p)) . (w * u_t / sigma)  +  b . u_t  +  b_U[t]

Centring each part loses nothing: the centred parts add up to the centred residual. What centring takes out
of the parts is their common mean direction; were the parts not centred they would add up to the logit
plus `centring_removed` = mean(x) * sum(w * u_t) / sigma. A head's part includes its value bias b_V (it
reaches the output through the pattern, whose rows sum to 1). For the difference of two tokens the same
holds with u_t - u_t2 and b_U[t] - b_U[t2].

Attention weighed by what it moves (Kobayashi et al., 2020): head h at query i takes from key j the vector
alpha_ij (v_j W_O[h]) (v_j including b_V). The norm of that vector, per head, and the norm of its sum over
the heads of a layer, say how much each key contributes to the attention output, where the weight alone
does not (a large weight on a key whose value is small moves little).

Attention rollout (Abnar and Zuidema, 2020): each layer's head-averaged pattern A, mixed with the identity
for the residual connection, (1 - r) A + r I with rows renormalised, multiplied through the layers. It
follows attention only: it ignores the values, the MLPs and the norms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.config import ModelConfig
from models.lens import check_position, unembed_bias
from models.transformer import ActivationCache, Transformer, check_layer_head

PART_KINDS = ("embed", "pos_embed", "token_type_embed", "attn_bias", "mlp", "mlp_bias", "norm_bias", "unembed_bias")


def why_no_attribution(cfg: ModelConfig) -> str | None:
    """Why direct logit attribution does not apply to a model with this config (None where it does)."""
    if not cfg.unembed:
        return ("This model has no unembedding (no next-word head), so there is no token logit to attribute: "
                "it is an encoder whose final vectors are never turned into token probabilities.")
    if cfg.norm_placement == "post" or cfg.embed_norm:
        return ("This model normalises after each sub-layer (post-norm), so its final residual is not a sum of "
                "what each head and MLP wrote, and a logit does not split into their parts.")
    return None


@dataclass(frozen=True)
class Part:
    """One term of the logit that is not a head: `kind` (PART_KINDS), the layer it belongs to (or None)."""

    kind: str
    layer: int | None
    value: float


@dataclass(frozen=True)
class LogitAttribution:
    position: int
    token: int
    versus: int | None
    heads: torch.Tensor  # [layer, head] float64: each head's z_h W_O[h] (centred, scaled) . u
    parts: tuple[Part, ...]  # everything else, in the order the forward pass adds it
    total: float  # heads.sum() + the parts: equals `logit`
    logit: float  # the model's own logit of `token` (minus that of `versus`) at `position`
    norm: str | None  # "layernorm", "rmsnorm", or None (no final norm)
    scale: float  # sigma: what the final norm divided the residual by in this run (1 without a final norm)
    centring_removed: float | None  # LayerNorm: what the parts would add beyond the logit uncentred; else None


@torch.inference_mode()
def logit_attribution(model: Transformer, cache: ActivationCache, logits: torch.Tensor, position: int, token: int,
                      versus: int | None = None) -> LogitAttribution:
    """Split the logit of `token` (minus that of `versus`) at `position` into one term per head, MLP,
    embedding and bias, with the final norm's scale frozen at its value in this run. See the module's text."""
    cfg = model.cfg
    why = why_no_attribution(cfg)
    if why:
        raise ValueError(why)
    n = cache["resid_pre", 0].shape[0]
    check_position(position, n)
    for name, t in (("token", token), ("versus", versus)):
        if t is not None and not 0 <= t < cfg.vocab_size:
            raise ValueError(f"{name} {t} is not a token id of this model (0 to {cfg.vocab_size - 1})")
    W_U = model.unembed  # [d_model, vocab]
    u = W_U[:, token].double()  # [d_model]
    if versus is not None:
        u = u - W_U[:, versus].double()
    x = cache["resid_post", cfg.n_layers - 1][position].double()  # [d_model]: the final residual
    norm = model.ln_final
    removed = None
    if norm is None:
        scale, g = 1.0, u
    elif norm.kind == "layernorm":
        scale = math.sqrt(float((x - x.mean()).pow(2).mean()) + norm.eps)
        g_raw = norm.w.double() * u / scale  # [d_model]
        removed = float(x.mean() * g_raw.sum())
        g = g_raw - g_raw.mean()  # (p - mean(p)) . g_raw == p . (g_raw - mean(g_raw))
    else:
        scale = math.sqrt(float(x.pow(2).mean()) + norm.eps)
        g = norm.w.double() * u / scale

    # every part that is not a head, one vector per row [part, d_model] through g at once (in float64)
    kinds: list[tuple[str, int | None]] = [("embed", None)]
    rows = [cache["hook_embed"][position]]
    for kind in ("pos_embed", "token_type_embed"):
        if f"hook_{kind}" in cache:
            kinds.append((kind, None))
            rows.append(cache[f"hook_{kind}"][position])
    for layer, block in enumerate(model.blocks):
        attn, mlp = block.attn, block.mlp
        if attn.b_O is not None:
            kinds.append(("attn_bias", layer))
            rows.append(attn.b_O)
        kinds.append(("mlp", layer))
        rows.append(cache["mlp_out", layer][position])  # its bias taken out below, where it has one
        if mlp.b_out is not None:
            kinds.append(("mlp_bias", layer))
            rows.append(mlp.b_out)
    values = (torch.stack(rows).double() @ g).tolist()  # [part]
    for i, (kind, _) in enumerate(kinds):
        if kind == "mlp_bias":
            values[i - 1] -= values[i]  # the MLP's part without its out bias: (out - b_out) . g
    parts = [Part(kind, layer, v) for (kind, layer), v in zip(kinds, values, strict=True)]
    # what a unit of z adds: W_O[h] @ g, in the weights' precision (a float64 copy of every W_O would cost more
    # than the rest), summed in float64
    per_unit = torch.stack([b.attn.W_O.reshape(-1, cfg.d_model) @ g.to(b.attn.W_O.dtype)
                            for b in model.blocks])  # [layer, head * d_head]
    z = torch.stack([cache["z", layer][position] for layer in range(cfg.n_layers)])  # [layer, head, d_head]
    heads = (z.double().flatten(1) * per_unit.double()).view(cfg.n_layers, cfg.n_heads, -1).sum(-1)  # [layer, head]
    if norm is not None and norm.b is not None:
        parts.append(Part("norm_bias", None, float(norm.b.double() @ u)))
    b_U = unembed_bias(model)
    if b_U is not None:
        parts.append(Part("unembed_bias", None, float(b_U[token]) - (float(b_U[versus]) if versus is not None else 0.0)))
    logit = float(logits[position, token].double() - (logits[position, versus].double() if versus is not None else 0))
    total = float(heads.sum()) + math.fsum(p.value for p in parts)
    return LogitAttribution(position, token, versus, heads, tuple(parts), total, logit,
                            None if norm is None else norm.kind, scale, removed)


# --------------------------------------------------------------------------- attention, weighed

def _ablated_heads(cache: ActivationCache, layer: int) -> list[int]:
    return [h for (l2, h) in cache.interventions.ablate if l2 == layer]


@torch.inference_mode()
def value_weighted(model: Transformer, cache: ActivationCache, layer: int, head: int | None = None) -> torch.Tensor:
    """‖alpha_ij (v_j W_O[h])‖ for one head, or ‖sum over heads of alpha^h_ij (v^h_j W_O[h])‖ for the whole
    layer (head None): [q_pos, k_pos] (Kobayashi et al., 2020)."""
    check_layer_head(model.cfg, layer, head)
    pattern, sent = _sent(model, cache, layer)
    return _moved_by_head(pattern, sent, head) if head is not None else _moved_by_layer(pattern, sent)


@torch.inference_mode()
def value_weighted_head_and_layer(model: Transformer, cache: ActivationCache, layer: int,
                                  head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(value_weighted(model, cache, layer, head), value_weighted(model, cache, layer)), from one reading of the
    values."""
    check_layer_head(model.cfg, layer, head)
    pattern, sent = _sent(model, cache, layer)
    return _moved_by_head(pattern, sent, head), _moved_by_layer(pattern, sent)


def _sent(model: Transformer, cache: ActivationCache, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's pattern [head, q_pos, k_pos] and what each head sends from each key, v_j W_O[h] (zero for an
    ablated head) [head, k_pos, d_model], in float64."""
    cfg = model.cfg
    pattern = cache["pattern", layer].double()  # [head, q_pos, k_pos]
    v = cache["v", layer].double()  # [pos, kv_head, d_head]
    if cfg.group_size > 1:
        v = v.repeat_interleave(cfg.group_size, dim=1)  # [pos, head, d_head]
    W_O = model.blocks[layer].attn.W_O.double()  # [head, d_head, d_model]
    sent = torch.bmm(v.transpose(0, 1), W_O)  # [head, k_pos, d_model]
    for h in _ablated_heads(cache, layer):
        sent[h] = 0.0
    return pattern, sent


def _moved_by_head(pattern: torch.Tensor, sent: torch.Tensor, head: int) -> torch.Tensor:
    return pattern[head] * sent[head].norm(dim=-1)[None, :]  # [q_pos, k_pos]: alpha_ij ‖v_j W_O[h]‖


def _moved_by_layer(pattern: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
    # for each key j, [q_pos, head] @ [head, d_model]: sum over heads of alpha^h_ij (v^h_j W_O[h])
    moved = torch.bmm(pattern.permute(2, 1, 0), sent.transpose(0, 1))  # [k_pos, q_pos, d_model]
    return moved.norm(dim=-1).T  # [q_pos, k_pos]


def rollout(patterns: torch.Tensor, residual: float = 0.5, ablated: tuple[tuple[int, int], ...] = ()) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema, 2020) through the layers of `patterns` [layer, head, q_pos, k_pos]:
    the product, last layer first, of (1 - residual) * (mean over heads of the pattern) + residual * I, each
    with its rows renormalised. The mean leaves out ablated heads ((layer, head) pairs, their output is zero);
    a layer whose heads are all ablated passes the residual alone (the identity). -> [q_pos, k_pos]"""
    return rollouts(patterns, residual, ablated)[-1]


def live_means(patterns: torch.Tensor, ablated: tuple[tuple[int, int], ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Each layer's attention averaged over its heads that are not ablated (their output is zero: they move
    nothing), [layer, q_pos, k_pos] in float64 (zero where every head of a layer is ablated), and how many heads
    each layer has left [layer]."""
    n_layers, n_heads = patterns.shape[:2]
    dead = {(layer, head) for layer, head in ablated if layer < n_layers and head < n_heads}
    if not dead:  # nothing ablated: the plain mean over the heads, without the mask's work (half the rollout's time)
        return patterns.double().mean(1), torch.full((n_layers,), float(n_heads), dtype=torch.float64)
    live = torch.ones(patterns.shape[:2], dtype=torch.float64)  # [layer, head]: 0 for an ablated head
    for layer, head in dead:
        live[layer, head] = 0.0
    heads = live.sum(1)  # [layer]
    return torch.einsum("lhqk,lh->lqk", patterns.double(), live) / heads.clamp(min=1)[:, None, None], heads


def rollouts(patterns: torch.Tensor, residual: float = 0.5, ablated: tuple[tuple[int, int], ...] = ()) -> torch.Tensor:
    """The rollout through each prefix of the layers: [layer, q_pos, k_pos], row l the rollout of layers 0 to l
    (rollout(patterns[:l + 1]), all of them from one pass through the layers)."""
    return rollouts_of_means(*live_means(patterns, ablated), residual)


def rollouts_of_means(means: torch.Tensor, heads: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """rollouts() from live_means()'s answer (each layer's mean over its live heads [layer, q, k], how many [layer]),
    for a caller that has it already."""
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual is {residual}; it must be between 0 and 1")
    n_layers, n = means.shape[0], means.shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    mean = torch.where((heads == 0)[:, None, None], eye, means)  # a layer with every head ablated passes the residual on
    a = (1.0 - residual) * mean + residual * eye
    a = a / a.sum(-1, keepdim=True)  # [layer, q_pos, k_pos]
    out = torch.empty_like(a)
    prev = eye
    for layer in range(n_layers):
        prev = out[layer] = a[layer] @ prev  # [q_pos, k_pos]
    return out
