"""Pieces every converter shares: per-head reshapes, key bookkeeping, parameter counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from models.config import ModelConfig


class ConversionError(ValueError):
    """A source checkpoint this converter cannot represent exactly (say why, in one sentence)."""


def heads_in(w: torch.Tensor, n_heads: int, d_head: int) -> torch.Tensor:
    """An nn.Linear weight [n_heads * d_head, d_model] (y = x @ w.T) -> per head [n_heads, d_model, d_head]."""
    out, d_model = w.shape
    if out != n_heads * d_head:
        raise ConversionError(f"a projection of {out} outputs cannot be {n_heads} heads of {d_head}")
    return w.reshape(n_heads, d_head, d_model).transpose(1, 2).contiguous()  # [head, d_model, d_head]


def heads_out(w: torch.Tensor, n_heads: int, d_head: int) -> torch.Tensor:
    """An nn.Linear weight [d_model, n_heads * d_head] (the output projection) -> [n_heads, d_head, d_model]."""
    d_model, inp = w.shape
    if inp != n_heads * d_head:
        raise ConversionError(f"an output projection of {inp} inputs cannot be {n_heads} heads of {d_head}")
    return w.T.reshape(n_heads, d_head, d_model).contiguous()  # [head, d_head, d_model]


def head_bias(b: torch.Tensor, n_heads: int, d_head: int) -> torch.Tensor:
    return b.reshape(n_heads, d_head).contiguous()  # [head, d_head]


class Source:
    """A source state dict that records which keys were read, so nothing is silently dropped."""

    def __init__(self, sd: Mapping[str, torch.Tensor], prefix: str = ""):
        self.sd = sd
        self.prefix = prefix
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return self.prefix + key in self.sd

    def __getitem__(self, key: str) -> torch.Tensor:
        full = self.prefix + key
        if full not in self.sd:
            raise ConversionError(f"the checkpoint has no tensor {full!r}")
        self.used.add(full)
        return torch.as_tensor(self.sd[full]).detach().to(torch.float32)

    def check_all_used(self, ignore: Iterable[str] = ()) -> None:
        """Raise if a tensor of the source was neither converted nor knowingly ignored (by prefix or suffix)."""
        ignore = tuple(ignore)
        left = sorted(k for k in self.sd if k not in self.used
                      and not any(k.startswith(i) or k.endswith(i) for i in ignore))
        if left:
            more = f" (and {len(left) - 8} more)" if len(left) > 8 else ""
            raise ConversionError(f"tensors this converter does not know: {left[:8]}{more}")


def strip_prefix(sd: Mapping[str, torch.Tensor], marker: str, prefixes: Iterable[str]) -> str:
    """The prefix ('' or one of `prefixes`) under which `marker` is found in the state dict."""
    for p in ("", *prefixes):
        if p + marker in sd:
            return p
    raise ConversionError(f"no {marker!r} in the checkpoint (looked under {['', *prefixes]})")


def count_params(cfg: ModelConfig) -> int:
    """The parameter count of a Transformer with this config, without initialising its weights.

    (Uninitialised CPU tensors are only reserved, not touched, so this is fast; the meta device would
    be too, but its first use imports torch._dynamo, seconds of start-up.)"""
    from models.transformer import Transformer

    return Transformer(cfg, init=False).n_params()
