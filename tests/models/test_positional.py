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


def test_alibi_slopes_are_the_papers():
    from models.positional import alibi_slopes

    # Press et al. (2022): for n heads (a power of two) the slopes are 2^(-8/n), 2^(-16/n), ..., 2^(-8)
    assert alibi_slopes(4).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]
    assert alibi_slopes(8).tolist() == [2 ** (-h) for h in range(1, 9)]
    # not a power of two: the 4-head slopes, then every other of the 8-head ones (their reference code)
    assert alibi_slopes(6).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]


def test_alibi_attention_recomputed_from_q_k_and_the_bias():
    from models.config import ModelConfig
    from models.positional import alibi_slopes
    from models.transformer import Interventions, Transformer

    torch.manual_seed(0)
    cfg = ModelConfig(d_model=16, n_layers=2, n_heads=4, d_head=4, d_mlp=32, vocab_size=50, max_positions=12,
                      positional="alibi")
    m = Transformer(cfg).eval()
    ids = torch.tensor([1, 7, 3, 9, 4, 4, 2])
    n = len(ids)
    for iv in (Interventions(), Interventions(positions="shuffled", seed=3), Interventions(positions="removed")):
        _, cache = m.run_with_cache(ids, iv)
        pos = torch.tensor(cache.permutation) if cache.permutation else torch.arange(n)
        for layer in range(cfg.n_layers):
            for h in range(cfg.n_heads):
                q, k = cache["q", layer, h], cache["k", layer, h]  # [pos, d_head]
                d = (pos[:, None] - pos[None, :]).abs().float()  # [q_pos, k_pos]
                bias = torch.zeros(n, n) if iv.positions == "removed" else -float(alibi_slopes(4)[h]) * d
                scores = (q @ k.T / 2.0 + bias).masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
                torch.testing.assert_close(torch.softmax(scores, -1), cache["pattern", layer, h], atol=1e-5, rtol=0)
    # nothing is added to the embeddings: the block input is the token embedding
    _, cache = m.run_with_cache(ids)
    assert "hook_pos_embed" not in cache
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"], cache["hook_embed"])


def test_alibi_batch_equals_one_by_one():
    from models.config import ModelConfig
    from models.transformer import Transformer

    torch.manual_seed(1)
    m = Transformer(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_head=8, d_mlp=32, vocab_size=40,
                                max_positions=10, positional="alibi")).eval()
    ids = torch.randint(0, 40, (3, 6))
    with torch.no_grad():
        batch = m(ids)
        for i in range(3):
            torch.testing.assert_close(batch[i], m(ids[i]), atol=1e-5, rtol=1e-5)
