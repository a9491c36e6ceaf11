"""Training checkpoints kept small: 8-bit weights, so a model's whole training history fits in the repository.

    quantize(state_dict)      -> {name: int8 values, name + SCALE: per-row scales}  (a pure function)
    dequantize(tensors)       -> a state dict of float32 tensors again
    save(path, state_dict)    writes quantize(...) as safetensors; load(path) reads it back dequantized
    log_spaced_steps(n, k)    the k training steps to record out of n: 0, then log-spaced, the last one n

Every tensor of two or more dimensions is stored as int8 with one float32 scale per row (its last axis):
w ~= q * scale, scale = max|row| / 127, so each weight is off by at most scale / 2. Vectors (biases, norm
weights) stay float32: they are small. A tiny model's checkpoint is then about a quarter of its float32 size.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SCALE = ".__scale__"  # the suffix of the tensor that holds a quantized tensor's per-row scales
FORMAT = "attnlab-int8-rows"


def quantize(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, t in state_dict.items():
        t = t.detach().float()
        if t.dim() < 2:
            out[name] = t.contiguous()
            continue
        scale = t.abs().amax(dim=-1, keepdim=True) / 127.0  # [..., 1]
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row: any scale gives 0
        out[name] = torch.round(t / scale).clamp(-127, 127).to(torch.int8).contiguous()
        out[name + SCALE] = scale.contiguous()
    return out


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        if name.endswith(SCALE):
            continue
        scale = tensors.get(name + SCALE)
        out[name] = t.float() * scale if scale is not None else t.float()
    return out


def save(path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    save_file(quantize(state_dict), str(path), metadata={"format": FORMAT, **(metadata or {})})


def load(path: str | Path) -> dict[str, torch.Tensor]:
    return dequantize(load_file(str(path)))


def log_spaced_steps(total: int, count: int, first: int = 16) -> list[int]:
    """`count` steps out of a run of `total`: step 0 (the initial weights), then `count - 1` steps spaced
    evenly in log(step) from `first` to `total` (each at least one after the one before)."""
    if total < 1 or count < 2:
        raise ValueError(f"log_spaced_steps needs total >= 1 and count >= 2, got {total}, {count}")
    first = max(1, min(first, total // count))  # a short run: start lower, so that the steps stay distinct
    n = count - 1
    steps = [0]
    for i in range(n):
        s = total if n == 1 else round(math.exp(math.log(first) + (math.log(total) - math.log(first)) * i / (n - 1)))
        steps.append(min(total, max(s, steps[-1] + 1)))
    return sorted(set(steps))
