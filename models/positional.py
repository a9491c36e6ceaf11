"""Positional schemes: sinusoidal, learned, rotary, ALiBi and none.

Additive schemes (sinusoidal, learned) produce a vector per position that is added
to the token embedding before the first block, so it reaches Q, K and V alike.
Rotary rotates q and k inside every attention layer by an angle that grows with
the position, so q.k depends only on the offset between two positions.
ALiBi (Press et al., 2022) adds nothing to any vector: every head adds -m_h * distance
to its scores, a linear penalty on how far back a key is, with a fixed slope per head.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.config import ModelConfig


def sinusoidal_encoding(n: int, d: int) -> torch.Tensor:
    """The encoding of "Attention Is All You Need", section 3.5.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)).
    Returns a float32 tensor [n, d].
    """
    if n < 0 or d <= 0 or d % 2:
        raise ValueError(f"sinusoidal_encoding needs n >= 0 and an even d > 0, got n={n}, d={d}")
    pos = torch.arange(n, dtype=torch.float64)[:, None]  # [pos, 1]
    two_i = torch.arange(0, d, 2, dtype=torch.float64)[None, :]  # [1, d/2]
    angle = pos / torch.pow(10000.0, two_i / d)  # [pos, d/2]
    pe = torch.empty(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


class LearnedPositions(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_pos = nn.Parameter(torch.zeros(cfg.max_positions, cfg.d_model))

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.W_pos[positions]  # [..., pos, d_model]


class SinusoidalPositions(nn.Module):
    """The table of the trained length, built once; a position past it is computed from the same formula."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.register_buffer("table", sinusoidal_encoding(cfg.max_positions, cfg.d_model), persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        n = self.table.shape[0]
        if positions.numel() == 0 or int(positions.max()) < n:
            return self.table[positions]  # [..., pos, d_model]
        longer = sinusoidal_encoding(int(positions.max()) + 1, self.table.shape[1]).to(self.table)  # [pos, d_model]
        return longer[positions]  # [..., pos, d_model]


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021), "rotate half" layout.

    Dimension j of the first half is paired with dimension j + d/2; the pair is
    rotated by pos * base^(-2j/d).
    """

    def __init__(self, d_head: int, base: float, max_positions: int):
        super().__init__()
        self.d_head = d_head
        inv_freq = 1.0 / (base ** (torch.arange(0, d_head, 2, dtype=torch.float64) / d_head))  # [d/2]
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        cos, sin = self._tables(torch.arange(max_positions, dtype=torch.float64))
        self.register_buffer("cos_table", cos, persistent=False)
        self.register_buffer("sin_table", sin, persistent=False)

    def _tables(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angle = positions.double()[:, None] * self.inv_freq[None, :]  # [pos, d/2]
        angle = torch.cat([angle, angle], dim=-1)  # [pos, d]
        return angle.cos().float(), angle.sin().float()

    def angles(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of each position's angles, [1, pos, 1, d_head], for `rotate` (one lookup per forward pass)."""
        if positions.numel() and int(positions.max()) < self.cos_table.shape[0] and int(positions.min()) >= 0:
            cos, sin = self.cos_table[positions], self.sin_table[positions]  # [pos, d]
        else:
            cos, sin = self._tables(positions)
        return cos[None, :, None, :], sin[None, :, None, :]  # [1, pos, 1, d_head]

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: [batch, pos, head, d_head]; positions: [pos] (any integers)."""
        return rotate(x, *self.angles(positions))


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [batch, pos, head, d_head] rotated by the angles whose cos and sin `Rotary.angles` gives."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # [batch, pos, head, d_head]
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """The per-head slopes m_h of ALiBi (Press et al., 2022, section 3 and their reference code).

    For n heads, a power of two, m_h = 2^(-8h/n) for h = 1..n (4 heads: 1/4, 1/16, 1/64, 1/256).
    Otherwise the slopes of the nearest smaller power of two, then every other slope of the next one."""
    if n_heads <= 0:
        raise ValueError(f"alibi_slopes needs n_heads > 0, got {n_heads}")

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    p = 2 ** math.floor(math.log2(n_heads))
    slopes = power_of_two(p)
    if p < n_heads:
        slopes += power_of_two(2 * p)[0::2][: n_heads - p]
    return torch.tensor(slopes, dtype=torch.float64)


def alibi_bias(slopes: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The bias ALiBi adds to the scores, [head, q_pos, k_pos]: -m_h * |position(q) - position(k)|.

    In a causal model with positions in order, |i - j| is i - j, the distance back to the key; with
    shuffled positions the distance is between the positions the tokens were given."""
    pos = positions.double()
    distance = (pos[:, None] - pos[None, :]).abs()  # [q_pos, k_pos]
    return (-slopes.double()[:, None, None] * distance[None]).float()  # [head, q_pos, k_pos]


def make_additive(cfg: ModelConfig) -> nn.Module | None:
    if cfg.positional == "learned":
        return LearnedPositions(cfg)
    if cfg.positional == "sinusoidal":
        return SinusoidalPositions(cfg)
    return None


def why_not_beyond(cfg: ModelConfig) -> str | None:
    """Why a model with this config cannot run on more tokens than it was trained on (None where it can).

    Sinusoidal positions are a formula (any position has its vector), rotary angles and ALiBi's distances
    are computed for any position, and a model without positions has nothing to run out of; learned
    positions have one trained vector per position up to max_positions and none after it."""
    if cfg.positional == "learned":
        return (f"Learned positions stop at the trained length: this model has a vector for positions 0 to "
                f"{cfg.max_positions - 1} and none for position {cfg.max_positions} or later.")
    return None


# Where each scheme enters the computation: how, which values it changes, and whether in every layer or once.
SCHEME_ENTRY: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "sinusoidal": ("embedding", ("q", "k", "v"), False),
    "learned": ("embedding", ("q", "k", "v"), False),
    "rotary": ("rotation", ("q", "k"), True),
    "alibi": ("scores", ("scores",), True),
    "none": ("nothing", (), False),
}


def scheme_summary(cfg: ModelConfig) -> str:
    """How the positional scheme of a model with this config enters its computation, in a sentence or two."""
    added = ("is added to the token embedding once, before the first block; from there it reaches Q, K and V alike, "
             "and the residual stream carries it to every later layer.")
    return {
        "sinusoidal": f"A fixed vector per position (sines and cosines of the position at {cfg.d_model // 2} "
                      f"frequencies) {added}",
        "learned": f"A trained vector per position {added}",
        "rotary": ("Nothing is added to the embedding: in every layer, each head rotates q and k by angles that grow "
                   "with the position, so that q·k depends on how far apart the two tokens are; v is not rotated."),
        "alibi": ("Nothing is added to the embedding and q, k, v are untouched: in every layer, each head adds "
                  "-slope × distance to its scores (after the division by √d_head, before the softmax), a linear "
                  "penalty on how far back the key is, with a fixed slope per head."),
        "none": ("Nothing at all: no vector is added, nothing is rotated, no score is biased. Only the causal mask "
                 "(a token sees itself and the tokens before it) tells the model anything about order."
                 if cfg.causal else "Nothing at all: without positions this model sees a bag of tokens."),
    }[cfg.positional]


def scheme_hooks(cfg: ModelConfig) -> list[str]:
    """The hook points whose values show where the scheme acts (empty for none)."""
    layers = range(cfg.n_layers)
    if cfg.positional in ("sinusoidal", "learned"):
        return ["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre"]
    if cfg.positional == "rotary":
        return [f"blocks.{l}.attn.hook_{name}" for l in layers for name in ("q", "rot_q", "k", "rot_k")]
    if cfg.positional == "alibi":
        return [f"blocks.{l}.attn.hook_attn_scores" for l in layers]
    return []


def why_no_encoding(positional: str) -> str | None:
    """None where the model has an additive encoding to show; else the reason, in one sentence."""
    if positional == "rotary":
        return ("This model uses rotary positions: nothing is added to the embeddings; "
                "q and k are rotated by an angle that grows with the position inside every attention layer.")
    if positional == "alibi":
        return ("This model uses ALiBi: nothing is added to the embeddings; each head subtracts a fixed slope "
                "times the distance between query and key from its scores.")
    if positional == "none":
        return ("This model has no positional encoding: attention sees a bag of tokens, "
                "and only the causal mask tells it what came before.")
    return None
