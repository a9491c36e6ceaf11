"""Choosing the next token: temperature, the kept set of top-k and top-p (nucleus) sampling, and a seeded draw.

    probs = distribution(logits, temperature)       softmax(logits / temperature), in float64
    keep = kept(probs, top_k=40, top_p=0.9)         [vocab] bool: the tokens a draw may pick
    token = sample(probs * keep, generator)         one draw, repeatable with a seeded torch.Generator
    values, ids = top(probs, k)                     the k most probable of each row (the logit lens's readings)
    h = entropy(probs)                              -sum p log p along the last axis, in nats (0 log 0 = 0)

The kept set is the most probable tokens, taken in order of probability: at most `top_k` of them, and no more
than the smallest number whose probabilities add up to at least `top_p` (Holtzman et al., 2020). With
top_k None and top_p 1 every token is kept. Ties in probability are taken in order of token id.
"""

from __future__ import annotations

import torch


def distribution(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) [vocab], float64; the maximum is subtracted first, so that a tiny
    temperature tends to the argmax instead of inf - inf."""
    if not temperature > 0:
        raise ValueError(f"temperature is {temperature}; it must be more than 0")
    logits = logits.double()
    return torch.softmax((logits - logits.max()) / temperature, dim=-1)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in nats along the last axis, 0 log 0 taken as 0: -xlogy(p, p).sum(-1), within two units in the last
    place of it (torch's vectorised log and xlogy's own differ by one in a few elements), as fast as xlogy or faster.

    A p below the smallest normal number of its type (0, or subnormal) meets the log of that number instead of its own:
    0 times it is 0, and a subnormal p's term changes by less than 1e-305 (float64; 1e-36 in float32), nothing beside
    the last place of any entropy but one as small. Not the log of the smallest subnormal number: on x86 a log of a
    subnormal number is many times slower, and a causal pattern is half zeros (the default model's 4 x 4 heads at 64
    tokens, float64, on two cores of an AMD EPYC: 1.15 ms, against 0.28 ms this way and 0.29 ms for xlogy; on an
    Intel Xeon xlogy took 336 us, the log of subnormals 96 us)."""
    info = torch.finfo(p.dtype)
    return -(p * p.clamp_min(info.smallest_normal).log()).sum(-1)


def order(probs: torch.Tensor) -> torch.Tensor:
    """Token ids from the most probable to the least, ties by token id: [vocab]."""
    return torch.sort(probs, descending=True, stable=True).indices


def kept_size(probs: torch.Tensor, top_k: int | None = None, top_p: float = 1.0) -> int:
    """How many tokens the kept set holds (see the module's text)."""
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k is {top_k}; it must be at least 1 (or None: no limit)")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p is {top_p}; it must be more than 0 and at most 1")
    sorted_probs = probs.double()[order(probs)]  # [vocab], descending
    n = sorted_probs.shape[-1]
    if top_p < 1:
        cumulative = torch.cumsum(sorted_probs, dim=-1)  # [vocab]
        # the first index whose running sum reaches top_p; that token is kept too
        n = min(n, int(torch.searchsorted(cumulative, torch.tensor(top_p, dtype=torch.float64))) + 1)
    return n if top_k is None else min(n, top_k)


def kept(probs: torch.Tensor, top_k: int | None = None, top_p: float = 1.0) -> torch.Tensor:
    """The kept set as a mask [vocab] (bool): the kept_size most probable tokens."""
    mask = torch.zeros(probs.shape[-1], dtype=torch.bool)
    mask[order(probs)[:kept_size(probs, top_k, top_p)]] = True
    return mask


def sample(probs: torch.Tensor, generator: torch.Generator) -> int:
    """One token drawn in proportion to `probs` [vocab] (weights: they need not add up to 1; give the
    probabilities times the kept mask to draw from the kept set). The same generator state gives the same token."""
    return int(torch.multinomial(probs.double(), 1, generator=generator))


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


# top(): a row is cut into chunks of this many. On one thread of an Intel Xeon, for 10 of each row: the default model's
# 9 readings of 4,096 in 60 us against 92 us for torch.topk (256 would leave them to topk: too few chunks), SmolLM2's 61
# of 49,152 in 1.02 ms against 1.27 ms in chunks of 256 and 5.38 ms for topk
TOP_CHUNK = 64


def top(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest of each row of x [rows, n], as torch.topk(x, k, dim=-1): the same values in the same order, each
    index that of its value (among equal values, any of them). On a wide row (a large vocabulary) in two steps, a
    third of the time for the logit lens's 61 rows of SmolLM2's 49,152: the row cut into chunks, and only the k chunks
    with the largest maxima searched. They hold k elements at least as large as the smallest of those maxima, m, and
    every element larger than m (its chunk's maximum is larger than m too); so the k largest of what they hold are
    the k largest of the row, but for which of several equal values."""
    rows, n = x.shape
    c = TOP_CHUNK
    if n % c or n // c < 4 * k:  # a row of a few chunks: nothing to gain
        return x.topk(k, dim=-1)
    chunks = x.reshape(rows, n // c, c)  # [rows, chunk, c]
    maxima = chunks.amax(-1)  # [rows, chunk]
    if bool(torch.isnan(maxima).any()):  # (a NaN: torch.topk's own order, which counts it as the largest)
        return x.topk(k, dim=-1)
    searched = maxima.topk(k, dim=-1).indices  # [rows, k]
    within = chunks.gather(1, searched[..., None].expand(-1, -1, c)).view(rows, k * c)  # [rows, k * c]
    values, at = within.topk(k, dim=-1)  # [rows, k]
    return values, searched.gather(1, at // c) * c + at % c
