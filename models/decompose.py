"""Split attention scores into content.content, content.position, position.content, position.position.

In a model with an additive positional encoding, the first layer's input is x = e + p
(token embedding plus position vector, then a norm). Every step up to the scores is
linear except the norm's division by each token's spread; taking that divisor from
the real input, the norm is linear too, so q = q_content + q_position and
k = k_content + k_position exactly (biases go with the content part), and

    score = (q_c.k_c + q_c.k_p + q_p.k_c + q_p.k_p) / scale

adds up to the model's own score. Later layers mix position into every vector, so
only layer 0 is split.

Under ALiBi nothing positional reaches q or k: the position part of every vector is zero,
so the three terms with a position in them are zero, and the position enters as a fifth
term of its own, the bias -m_h * distance that the head adds after the scaling:

    score = q.k / scale + bias

where q.k is content.content, and the bias is the whole position term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.config import ModelConfig
from models.positional import alibi_bias
from models.transformer import ActivationCache, Norm, Transformer, check_layer_head


@dataclass
class ScoreTerms:
    content_content: torch.Tensor  # [q_pos, k_pos]
    content_position: torch.Tensor
    position_content: torch.Tensor
    position_position: torch.Tensor
    scores: torch.Tensor  # the model's own scores, [q_pos, k_pos]
    bias: torch.Tensor | None = None  # ALiBi: -m_h * distance added to the scaled scores, [q_pos, k_pos]; else None


def why_not_for(cfg: ModelConfig) -> str | None:
    """Why no layer of a model with this config can be split (None where layer 0 can)."""
    if cfg.positional == "rotary":
        return ("Under rotary positions q and k are rotated, not added to, so a score does not split "
                "into content and position terms.")
    if cfg.positional == "none":
        return "This model has no positional encoding, so every score is content-content."
    return None


def why_not(model: Transformer, layer: int) -> str | None:
    reason = why_not_for(model.cfg)
    if reason:
        return reason
    if layer != 0:
        return (f"Only layer 0 sees the positional encoding as a separate term; by layer {layer} "
                "attention and MLPs have mixed it into every vector. Choose layer 0.")
    return None


def _norm_parts(norm: Norm, parts: list[torch.Tensor], total: torch.Tensor) -> list[torch.Tensor]:
    """Apply `norm` to a sum of parts, with its per-token divisor taken from the total; bias joins parts[0]."""
    if norm.kind == "layernorm":
        centre = total - total.mean(-1, keepdim=True)
        inv = torch.rsqrt(centre.pow(2).mean(-1, keepdim=True) + norm.eps)  # [pos, 1]
        out = [(p - p.mean(-1, keepdim=True)) * inv * norm.w for p in parts]
        if norm.b is not None:
            out[0] = out[0] + norm.b
    else:
        inv = torch.rsqrt(total.pow(2).mean(-1, keepdim=True) + norm.eps)
        out = [p * inv * norm.w for p in parts]
    return out


@torch.inference_mode()
def decompose_scores(model: Transformer, cache: ActivationCache, layer: int, head: int) -> ScoreTerms:
    reason = why_not(model, layer)
    if reason:
        raise ValueError(reason)
    check_layer_head(model.cfg, layer, head)
    cfg = model.cfg
    content = cache["hook_embed"]  # [pos, d_model]
    if cfg.n_token_types:
        content = content + cache["hook_token_type_embed"]
    n = content.shape[0]
    # ALiBi adds nothing to the vectors: their position part is zero, and the bias is a term of its own
    position = cache["hook_pos_embed"] if cfg.positional != "alibi" else torch.zeros_like(content)  # [pos, d_model]
    parts, total = [content, position], content + position
    if model.embed_ln is not None:
        parts = _norm_parts(model.embed_ln, parts, total)
        total = parts[0] + parts[1]
    block = model.blocks[0]
    if cfg.norm_placement == "pre":
        parts = _norm_parts(block.ln1, parts, total)
    attn = block.attn
    kv = head // cfg.group_size
    q = [p @ attn.W_Q[head] for p in parts]  # [pos, d_head] each
    k = [p @ attn.W_K[kv] for p in parts]
    if attn.b_Q is not None:
        q[0] = q[0] + attn.b_Q[head]
        k[0] = k[0] + attn.b_K[kv]
    scale = math.sqrt(cfg.d_head) if cache.interventions.scale else 1.0
    mask = torch.ones(n, n, dtype=torch.bool).triu(1) if cfg.causal else torch.zeros(n, n, dtype=torch.bool)

    def term(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T / scale).masked_fill(mask, float("-inf"))  # [q_pos, k_pos]

    bias = None
    if cfg.positional == "alibi":
        bias = torch.zeros(n, n)  # [q_pos, k_pos]: positions removed, no penalty
        if cache.interventions.positions != "removed":
            given = torch.tensor(cache.permutation) if cache.permutation is not None else torch.arange(n)  # [pos]
            bias = alibi_bias(model.alibi_slopes, given)[head]  # [q_pos, k_pos]
        bias = bias.masked_fill(mask, float("-inf"))
    return ScoreTerms(term(q[0], k[0]), term(q[0], k[1]), term(q[1], k[0]), term(q[1], k[1]),
                      cache["attn_scores", layer, head], bias)
