"""The logit lens: the residual stream read through the final norm and the unembedding at every depth.

In a pre-norm model the residual stream after every sub-layer is a vector of the same kind as the one
the final norm and the unembedding turn into the next-token logits. Applying those two steps to an
intermediate residual (nostalgebraist, 2020) gives a distribution over the vocabulary at that depth:

    reading(x) = softmax(unembed(ln_final(x)))

It is a reading of an intermediate state, not what the model would output there: the later blocks were
trained to change that state, and the final norm was trained on the last one. After the last MLP the
reading is the model's own output, exactly (the same two steps on the same vector).

The lens reads after the attention sub-layer (`blocks.{l}.hook_resid_mid`) and after the MLP
(`blocks.{l}.hook_resid_post`) of every block, and, as a starting point, the input of block 0
(`blocks.0.hook_resid_pre`: the embeddings alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.config import ModelConfig
from models.transformer import ActivationCache, Transformer, project_vocab

SUBLAYERS = ("attn", "mlp")  # the lens reads after each: resid_mid, resid_post
SUBLAYER_HOOKS = {"attn": "resid_mid", "mlp": "resid_post"}


def why_no_lens(cfg: ModelConfig) -> str | None:
    """Why the logit lens does not apply to a model with this config (None where it does)."""
    if not cfg.unembed:
        return ("This model has no unembedding (no next-word head): it is an encoder whose final vectors are never "
                "turned into token probabilities, so there is nothing to read its residual stream through.")
    if cfg.norm_placement == "post":
        return ("This model normalises after each sub-layer (post-norm): the residual stream is rescaled at every "
                "step, so its intermediate states are not vectors the final unembedding was trained to read.")
    return None


def unembed_bias(model: Transformer) -> torch.Tensor | None:
    """The unembedding's bias b_U [vocab], or None (tied embeddings, or a model without biases)."""
    return None if model.cfg.tied_embeddings else getattr(model, "b_U", None)


def read(model: Transformer, x: torch.Tensor) -> torch.Tensor:
    """Residual vectors [..., d_model] -> logits [..., vocab]: the final norm (if any), then the unembedding,
    as the model's forward pass applies them after the last block."""
    if model.ln_final is not None:
        x = model.ln_final(x)
    return project_vocab(x, model.unembed, unembed_bias(model))  # [..., vocab]


def check_position(position: int, n: int) -> None:
    if not 0 <= position < n:
        raise ValueError(f"position {position} does not exist: the text has {n} tokens, so position is 0 to {n - 1}")


@dataclass(frozen=True)
class LensReading:
    """What the lens reads at one position."""

    position: int
    readings: torch.Tensor  # [1 + layer * sublayer, vocab]: the input of block 0, then after each sub-layer in order

    @property
    def embedding(self) -> torch.Tensor:
        return self.readings[0]  # [vocab]: logits read from the input of block 0

    @property
    def logits(self) -> torch.Tensor:
        return self.readings[1:].view(-1, len(SUBLAYERS), self.readings.shape[-1])  # [layer, sublayer, vocab]


@torch.inference_mode()
def logit_lens(model: Transformer, cache: ActivationCache, position: int) -> LensReading:
    """The logits read from the residual stream at `position`, after every sub-layer of every block.

    Raises ValueError where the lens does not apply (why_no_lens) or the position does not exist."""
    why = why_no_lens(model.cfg)
    if why:
        raise ValueError(why)
    n_layers = model.cfg.n_layers
    check_position(position, cache["resid_pre", 0].shape[0])
    points = [cache["resid_pre", 0][position]]
    points += [cache[SUBLAYER_HOOKS[s], layer][position] for layer in range(n_layers) for s in SUBLAYERS]
    return LensReading(position, read(model, torch.stack(points)))  # [1 + layer * sublayer, vocab]
