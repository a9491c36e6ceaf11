import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from models.positional import Rotary, sinusoidal_encoding


def test_sinusoidal_matches_the_formula():
    d = 16
    pe = sinusoidal_encoding(50, d)
    assert pe.shape == (50, d)
    for pos in (0, 1, 7, 49):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)


def test_sinusoidal_any_length():
    assert sinusoidal_encoding(1000, 8).shape == (1000, 8)
    assert sinusoidal_encoding(0, 8).shape == (0, 8)


def test_rotary_keeps_norms():
    rot = Rotary(8, 10000.0, 32)
    x = torch.randn(1, 10, 3, 8)
    y = rot(x, torch.arange(10))
    assert torch.allclose(x.norm(dim=-1), y.norm(dim=-1), atol=1e-5)


@given(shift=st.integers(min_value=1, max_value=500))
def test_rotary_scores_depend_only_on_the_offset(shift):
    g = torch.Generator().manual_seed(0)
    rot = Rotary(16, 10000.0, 64)
    q = torch.randn(1, 6, 1, 16, generator=g)
    k = torch.randn(1, 6, 1, 16, generator=g)
    pos = torch.arange(6)
    def scores(p):
        return torch.einsum("bqhe,bkhe->hqk", rot(q, p), rot(k, p))
    assert torch.allclose(scores(pos), scores(pos + shift), atol=1e-3)
