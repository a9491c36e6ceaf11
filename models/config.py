"""ModelConfig: every size and architectural choice of the one Transformer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Positional = Literal["sinusoidal", "learned", "rotary", "alibi", "none"]
Norm = Literal["layernorm", "rmsnorm"]
NormPlacement = Literal["pre", "post"]
Mlp = Literal["gelu", "gelu_tanh", "swiglu"]

POSITIONAL_SCHEMES: tuple[str, ...] = ("sinusoidal", "learned", "rotary", "alibi", "none")
NORMS: tuple[str, ...] = ("layernorm", "rmsnorm")
NORM_PLACEMENTS: tuple[str, ...] = ("pre", "post")
MLPS: tuple[str, ...] = ("gelu", "gelu_tanh", "swiglu")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and choices of a Transformer.

    The defaults describe a small GPT-style decoder: pre-LayerNorm, GELU MLP,
    causal attention, biases, tied input/output embeddings.
    Encoder (BERT-style) models set ``causal=False``, ``norm_placement="post"``,
    ``embed_norm=True``, ``n_token_types=2``, ``final_norm=False`` and, when they have no
    language-model head (MiniLM, a sentence encoder), ``unembed=False``; Llama-style decoders set
    ``norm="rmsnorm"``, ``mlp="swiglu"``, ``positional="rotary"``, ``bias=False``
    and ``n_kv_heads < n_heads``.
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    vocab_size: int = 4096
    max_positions: int = 128
    n_kv_heads: int | None = None  # None: one K/V head per query head
    positional: Positional = "sinusoidal"
    rotary_base: float = 10000.0
    norm: Norm = "layernorm"
    norm_placement: NormPlacement = "pre"
    norm_eps: float = 1e-5
    mlp: Mlp = "gelu"
    causal: bool = True
    bias: bool = True  # biases on Q, K, V, O and the MLP
    tied_embeddings: bool = True
    # False: no unembedding (an encoder without an LM head, like MiniLM): `forward` returns the final
    # hidden states [.., pos, d_model], `run_with_cache` returns logits=None, and there is no `logits` hook
    unembed: bool = True
    embed_norm: bool = False  # a norm right after the embeddings (BERT)
    final_norm: bool = True  # a norm before the unembedding (pre-LN models)
    n_token_types: int = 0  # token-type (segment) embeddings (BERT: 2)
    embed_scale: float = 1.0  # token embeddings are multiplied by this (Vaswani et al.: sqrt(d_model))
    dropout: float = 0.0  # training only; identity in eval mode
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"ModelConfig: {msg}")

        for name in ("d_model", "n_layers", "n_heads", "d_head", "d_mlp", "vocab_size", "max_positions"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) > 0, f"{name} must be a positive int")
        need(self.positional in POSITIONAL_SCHEMES, f"positional must be one of {POSITIONAL_SCHEMES}, not {self.positional!r}")
        need(self.norm in NORMS, f"norm must be one of {NORMS}, not {self.norm!r}")
        need(self.norm_placement in NORM_PLACEMENTS, f"norm_placement must be one of {NORM_PLACEMENTS}")
        need(self.mlp in MLPS, f"mlp must be one of {MLPS}, not {self.mlp!r}")
        kv = self.kv_heads
        need(0 < kv <= self.n_heads and self.n_heads % kv == 0, f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({kv})")
        need(self.positional != "sinusoidal" or self.d_model % 2 == 0, "sinusoidal positions need an even d_model")
        need(self.positional != "rotary" or self.d_head % 2 == 0, "rotary positions need an even d_head")
        need(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def group_size(self) -> int:
        """How many query heads share one K/V head."""
        return self.n_heads // self.kv_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"ModelConfig: unknown fields {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)
