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

On a large vocabulary the unembedding of those points is most of the lens's time (SmolLM2: 61 readings of 49,152
logits, 1.7e9 multiply-adds), so its points are read in parts: the embeddings and the first two thirds of the
blocks, then the rest (`parts`). A part can be read on another core as soon as the forward pass has computed its
points (ReadAhead): the first while the pass computes the later blocks, the last while it computes its own
prediction (the final norm and the unembedding of every position); the parts read after the pass (where no other
core was free) are read together, the unembedding's weight read from memory once for all (project_vocab_each).
Either way each part is a product of its own points alone, the same products, so the readings are the same bit for
bit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch

from models.config import ModelConfig
from models.transformer import BLOCKED_ABOVE, ActivationCache, HookFn, Transformer, hook_name, project_vocab_each

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
    return read_each(model, [x])[0]


def read_each(model: Transformer, xs: list[torch.Tensor], outs: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """read(model, x) of each x of xs (the same numbers), the unembedding's weight read from memory once for all;
    `outs`: where to write them (project_vocab_each)."""
    if model.ln_final is not None:
        xs = [model.ln_final(x) for x in xs]
    return project_vocab_each(xs, model.unembed, unembed_bias(model), outs)  # [..., vocab] each


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


def parts(model: Transformer) -> list[range]:
    """The blocks whose points the lens reads together, in order (the first part also holds the embeddings): all of
    them where the unembedding is small; else the first two thirds, then the rest."""
    n = model.cfg.n_layers
    w = model.unembed
    if w.numel() * w.element_size() <= BLOCKED_ABOVE or n < 3:
        return [range(n)]
    first = round(2 * n / 3)
    return [range(first), range(first, n)]


def point_hooks(layers: range) -> list[tuple[str, int]]:
    """The (hook, layer) of each point of a part, in the order of the readings."""
    start = [("resid_pre", 0)] if layers.start == 0 else []
    return start + [(SUBLAYER_HOOKS[s], layer) for layer in layers for s in SUBLAYERS]


@torch.inference_mode()
def logit_lens(model: Transformer, cache: ActivationCache, position: int,
               ahead: ReadAhead | None = None) -> LensReading:
    """The logits read from the residual stream at `position`, after every sub-layer of every block. `ahead`: the
    ReadAhead whose hooks ran in this pass (the parts it read are taken from it where they are of these very points).

    Raises ValueError where the lens does not apply (why_no_lens) or the position does not exist."""
    why = why_no_lens(model.cfg)
    if why:
        raise ValueError(why)
    check_position(position, cache["resid_pre", 0].shape[0])
    points = [torch.stack([cache[hook, layer][position] for hook, layer in point_hooks(layers)])
              for layers in parts(model)]  # [point, d_model] for each part
    if len(points) == 1:
        return LensReading(position, read(model, points[0]))  # [1 + layer * sublayer, vocab]
    # the parts' readings are the rows of one tensor: those read ahead are in ahead's, where they are of these points
    taken = [ahead is not None and ahead.took(i, p) for i, p in enumerate(points)]
    sizes = [p.shape[0] for p in points]
    readings = ahead.readings if any(taken) else _readings_for(model, points[0], sizes)
    left = [i for i, t in enumerate(taken) if not t]
    read_each(model, [points[i] for i in left], [_rows_of(readings, sizes, i) for i in left])
    return LensReading(position, readings)


def _readings_for(model: Transformer, like: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """What the readings of every part fill, one part's rows after another: [point, vocab], `like`'s dtype."""
    return like.new_empty(sum(sizes), model.unembed.shape[-1])


def _rows_of(readings: torch.Tensor, sizes: list[int], part: int) -> torch.Tensor:
    start = sum(sizes[:part])
    return readings[start:start + sizes[part]]  # [point, vocab]


class ReadAhead:
    """Hooks for run_with_cache that read the lens at the last position while the pass goes on: once the pass has
    computed the last point of a part, `submit(work)` may run its reading elsewhere (another core), or decline (None).
    logit_lens(..., ahead=this) then takes those readings. Where the lens is one part (a small unembedding), nothing:
    a reading of its size costs less than handing it to another thread."""

    def __init__(self, model: Transformer, submit: Callable[[Callable[[], None]], Future | None]):
        self.model = model
        self.submit = submit
        # the hook names of each part's points, in order (none where the lens is one part: nothing to read ahead)
        split = parts(model)
        self._names = [[hook_name(hook, layer) for hook, layer in point_hooks(layers)]
                       for layers in (split if len(split) > 1 else [])]
        self._ends = {names[-1]: part for part, names in enumerate(self._names)}  # a part's last point -> the part
        # the hook functions for run_with_cache
        self.hooks: dict[str, HookFn] = {name: self._visit for names in self._names for name in names}
        self._rows: dict[str, torch.Tensor] = {}
        self._read: dict[int, tuple[torch.Tensor, Future]] = {}  # part -> (its points, their reading's completion)
        self.readings: torch.Tensor | None = None  # [1 + layer * sublayer, vocab]: the rows the parts read ahead fill

    def _visit(self, x: torch.Tensor, name: str) -> None:
        self._rows[name] = x[..., -1, :].reshape(-1)  # [d_model]: the last position (batch 1)
        part = self._ends.get(name)
        if part is not None and part not in self._read:
            points = torch.stack([self._rows[n] for n in self._names[part]])  # [point, d_model]
            sizes = [len(names) for names in self._names]
            if self.readings is None:  # every part's rows, in order; the parts not read ahead are left to logit_lens
                self.readings = _readings_for(self.model, points, sizes)
            out = _rows_of(self.readings, sizes, part)
            future = self.submit(lambda: _read_apart(self.model, points, out))
            if future is not None:
                self._read[part] = (points, future)

    def took(self, part: int, points: torch.Tensor) -> bool:
        """Whether `part` was read ahead from these same points (this pass, this position): its rows of `readings`
        hold its logits once this returns True (it waits for the reading)."""
        got = self._read.get(part)
        if got is None or not torch.equal(got[0], points):
            return False
        got[1].result()
        return True


def _read_apart(model: Transformer, points: torch.Tensor, out: torch.Tensor) -> None:
    with torch.inference_mode():  # (a mode of the calling thread)
        read_each(model, [points], [out])
