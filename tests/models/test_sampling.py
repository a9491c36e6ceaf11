"""The kept set of top-k / top-p, and seeded draws."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.sampling import distribution, entropy, generator, kept, kept_size, sample, top


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    probs = torch.tensor([0.1, 0.4, 0.05, 0.3, 0.15], dtype=torch.float64)
    # sorted: 0.4 (1), 0.3 (3), 0.15 (4), 0.1 (0), 0.05 (2); running sums 0.4, 0.7, 0.85, 0.95, 1.0
    assert kept(probs, top_p=0.4).tolist() == [False, True, False, False, False]
    assert kept(probs, top_p=0.41).tolist() == [False, True, False, True, False]
    assert kept(probs, top_p=0.8).tolist() == [False, True, False, True, True]
    assert kept_size(probs, top_p=0.96) == 5 and kept_size(probs) == 5
    assert kept_size(probs, top_k=2) == 2 and kept(probs, top_k=1).tolist() == [False, True, False, False, False]
    assert kept_size(probs, top_k=4, top_p=0.8) == 3 and kept_size(probs, top_k=2, top_p=0.8) == 2
    assert kept_size(probs, top_k=99) == 5
    for bad in ({"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}):
        with pytest.raises(ValueError):
            kept(probs, **bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.floats(0.01, 1.0),
       st.one_of(st.none(), st.integers(1, 50)))
def test_kept_set_is_the_smallest_prefix_by_probability(weights, p, k):
    w = torch.tensor(weights, dtype=torch.float64) + 1e-6
    probs = w / w.sum()
    mask = kept(probs, top_k=k, top_p=p)
    size = int(mask.sum())
    assert size == kept_size(probs, k, p) >= 1
    # every kept token is at least as probable as every token left out
    if size < len(probs):
        assert probs[mask].min() >= probs[~mask].max()
    mass = float(probs[mask].sum())
    if k is None or size < k:
        # it reaches p (up to rounding in the running sum) and one token fewer would not
        assert mass >= p - 1e-12 or size == len(probs)
        assert mass - float(probs[mask].min()) < p
    else:
        assert size == k


def test_sampling_with_the_same_seed_repeats():
    probs = distribution(torch.randn(500, generator=generator(1)), temperature=1.5)
    keep = kept(probs, top_k=50, top_p=0.9)
    draws = [[sample(probs * keep, g) for _ in range(30)] for g in (generator(7), generator(7))]
    assert draws[0] == draws[1]
    assert all(keep[t] for t in draws[0])
    assert len(set(draws[0])) > 1  # it does sample
    other = [sample(probs * keep, g) for g in [generator(8)] for _ in range(30)]
    assert other != draws[0]


def test_sample_follows_the_probabilities():
    probs = torch.tensor([0.7, 0.2, 0.1, 0.0], dtype=torch.float64)
    g = generator(0)
    counts = torch.bincount(torch.tensor([sample(probs, g) for _ in range(4000)]), minlength=4).double() / 4000
    assert torch.allclose(counts, probs, atol=0.03) and counts[3] == 0


def test_distribution_at_a_tiny_temperature_is_the_argmax():
    logits = torch.tensor([1.0, 3.0, 2.9])
    assert distribution(logits, 1e-6).tolist() == [0.0, 1.0, 0.0]
    assert torch.allclose(distribution(logits), torch.softmax(logits.double(), -1))
    with pytest.raises(ValueError, match="temperature"):
        distribution(logits, 0.0)


def test_top_is_torch_topk_on_wide_rows_and_falls_back_where_it_must():
    g = torch.Generator().manual_seed(0)
    peaked = torch.randn(61, 49152, generator=g) * 3
    cases = [torch.softmax(peaked, -1), peaked, torch.randn(5, 49152, generator=g) * 1e-3,  # wide: two steps
             torch.randn(9, 4096, generator=g),  # the default model's lens: two steps for k = 1 and 10
             torch.randn(3, 4096 * 2 + 7, generator=g), torch.randn(4, 1000, generator=g)]  # not chunked: topk itself
    ties = torch.randn(2, 8192, generator=g)
    ties[0, 5000:5004] = 9.0  # equal values among the largest, in two chunks
    ties[0, 7000] = 9.0
    ties[1, :] = 1.0  # every value equal: many chunks at the k-th maximum (the fall back)
    special = torch.randn(3, 8192, generator=g)
    special[0, 100] = float("inf")
    special[1, ::2] = float("-inf")
    cases += [ties, special]
    for x in cases:
        for k in (1, 10, 40):
            values, ids = top(x, k)
            want = x.topk(k, dim=-1)
            assert torch.equal(values, want.values)
            assert torch.equal(x.gather(1, ids), values)  # each index that of its value
            assert all(len(set(row)) == k for row in ids.tolist())  # k different elements
    nan = torch.randn(2, 8192, generator=g)
    nan[1, 3] = float("nan")
    values, ids = top(nan, 5)
    assert torch.equal(ids, nan.topk(5, dim=-1).indices)  # NaN: torch.topk's own answer (it counts NaN as largest)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_entropy_is_minus_xlogy_summed(dtype):
    """entropy(p) against torch's own -xlogy(p, p).sum(-1) (0 log 0 = 0), within two units in the last place (torch's
    vectorised log and xlogy's differ by one in a few elements): causal patterns from a softmax (zeros above the
    diagonal), one-hot and even rows, the smallest positive numbers of the type (within 40 times the smallest normal
    number there: its log stands for theirs), and a NaN row; and in nats: an even row over n has entropy log n."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 5, 40, 40, generator=g, dtype=dtype) * 4
    causal = torch.softmax(scores.masked_fill(torch.ones(40, 40, dtype=torch.bool).triu(1), float("-inf")), -1)
    info = torch.finfo(dtype)
    least = info.smallest_normal * info.eps
    odd = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [least, 1 - least, 0.0, 0.0],
                        [info.smallest_normal, least * 3, 0.5, 0.5], [float("nan"), 0.5, 0.5, 0.0]], dtype=dtype)
    wide = torch.softmax(torch.randn(7, 1000, generator=g, dtype=dtype) * 9, -1)
    for p in (causal, odd, wide):
        got, want = entropy(p), -torch.special.xlogy(p, p).sum(-1)
        # a subnormal p's term is that of the smallest normal number: less than 40 x that number apart
        assert torch.allclose(got, want, rtol=2 * info.eps, atol=40 * info.smallest_normal, equal_nan=True), \
            (got - want).abs().max()
    assert entropy(odd)[0] == 0 and entropy(odd[:4]).isfinite().all() and entropy(odd)[4].isnan()
    assert float(entropy(torch.full((8,), 1 / 8, dtype=dtype))) == pytest.approx(math.log(8), rel=1e-6)
