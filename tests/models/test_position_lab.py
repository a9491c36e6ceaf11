"""Running past the trained length, where each scheme enters, and ALiBi in the score decomposition."""

import pytest
import torch

from models import registry
from models.config import POSITIONAL_SCHEMES, ModelConfig
from models.decompose import decompose_scores, why_not_for
from models.positional import SCHEME_ENTRY, alibi_slopes, scheme_hooks, scheme_summary, sinusoidal_encoding, why_not_beyond
from models.transformer import Interventions, Transformer

TRAINED = 12


def small(positional: str, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(d_model=16, n_layers=2, n_heads=4, d_head=4, d_mlp=32, vocab_size=50,
                                   max_positions=TRAINED, positional=positional)).eval()


# --------------------------------------------------------------------------- beyond the trained length

@pytest.mark.parametrize("positional", POSITIONAL_SCHEMES)
def test_past_the_trained_length_is_refused_unless_allowed(positional):
    m = small(positional)
    ids = torch.randint(0, 50, (30,))
    with pytest.raises(ValueError, match="maximum of 12 tokens"):
        m(ids)
    with pytest.raises(ValueError, match="maximum of 12 tokens"):
        m.run_with_cache(ids, max_tokens=TRAINED)  # a limit within the trained length changes nothing
    if positional == "learned":
        with pytest.raises(ValueError, match="none for position 12 or later"):
            m(ids, max_tokens=40)
        assert why_not_beyond(m.cfg) is not None
        return
    assert why_not_beyond(m.cfg) is None
    with pytest.raises(ValueError, match="more than the 20 tokens allowed"):
        m(ids, max_tokens=20)
    long = m(ids, max_tokens=30)  # [pos, vocab]
    assert long.shape == (30, 50) and torch.isfinite(long).all()
    # causal: the first positions see the same tokens at the same positions, so their logits are those of the short run
    torch.testing.assert_close(long[:TRAINED], m(ids[:TRAINED]), atol=1e-5, rtol=1e-5)
    _, cache = m.run_with_cache(ids, max_tokens=30)
    assert cache["pattern", 1].shape == (4, 30, 30)


def test_sinusoidal_past_its_table_is_the_formula():
    m = small("sinusoidal")
    ids = torch.randint(0, 50, (40,))
    _, cache = m.run_with_cache(ids, max_tokens=40)
    torch.testing.assert_close(cache["hook_pos_embed"], sinusoidal_encoding(40, 16), atol=0, rtol=0)
    # shuffled positions over a long text: each token gets the formula's vector of the position it was given
    _, cache = m.run_with_cache(ids, Interventions(positions="shuffled", seed=5), max_tokens=40)
    torch.testing.assert_close(cache["hook_pos_embed"], sinusoidal_encoding(40, 16)[cache.permutation], atol=0, rtol=0)


def test_rotary_and_alibi_past_the_trained_length_follow_their_formulas():
    ids = torch.randint(0, 50, (25,))
    n = len(ids)
    m = small("alibi")
    _, cache = m.run_with_cache(ids, max_tokens=n)
    d = torch.arange(n)[:, None] - torch.arange(n)[None, :]  # [q, k]
    for h, slope in enumerate(alibi_slopes(4).tolist()):
        q, k = cache["q", 1, h], cache["k", 1, h]
        scores = (q @ k.T / 2.0 - slope * d).masked_fill(d < 0, float("-inf"))
        torch.testing.assert_close(cache["pattern", 1, h], torch.softmax(scores, -1), atol=1e-5, rtol=0)
    m = small("rotary")
    _, cache = m.run_with_cache(ids, max_tokens=n)
    # the rotation at position 20 (past the table of 12): angle = 20 x base^(-2j/d) on the pair (j, j + d/2)
    q, qr = cache["q", 0, 0][20].double(), cache["rot_q", 0, 0][20].double()
    inv = 1.0 / (10000.0 ** (torch.arange(0, 4, 2, dtype=torch.float64) / 4))
    cos, sin = torch.cos(20 * inv), torch.sin(20 * inv)
    want = torch.cat([q[:2] * cos - q[2:] * sin, q[2:] * cos + q[:2] * sin])
    torch.testing.assert_close(qr, want, atol=1e-5, rtol=0)


def test_model_info_says_the_trained_length_and_why_not_beyond():
    infos = {m.name: m for m in registry.list_models()}
    for name in registry.tiny_models():
        info = infos[name]
        assert info.trained_tokens == info.max_tokens == 128
        assert (info.why_not_beyond is None) == (info.positional != "learned")
    assert "none for position 128" in infos["tiny-learned"].why_not_beyond
    # a large pretrained model: the app's limit (128) is below its trained length, so no running past it
    assert infos["smollm2-135m"].trained_tokens == 8192 and "below its trained length" in infos["smollm2-135m"].why_not_beyond
    # learned positions for 0 to 511 read up to 128 tokens: the app's limit stops a text, not the positions
    minilm = infos["minilm-l6"]
    assert (minilm.trained_tokens, minilm.max_tokens) == (512, 128)
    assert minilm.why_not_beyond == ("The app reads at most 128 tokens on this model, below its trained length of 512 "
                                     "tokens, to keep its answers small.")


# --------------------------------------------------------------------------- where each scheme enters

def test_where_each_scheme_enters():
    assert set(SCHEME_ENTRY) == set(POSITIONAL_SCHEMES)
    assert SCHEME_ENTRY["sinusoidal"] == SCHEME_ENTRY["learned"] == ("embedding", ("q", "k", "v"), False)
    assert SCHEME_ENTRY["rotary"] == ("rotation", ("q", "k"), True)
    assert SCHEME_ENTRY["alibi"] == ("scores", ("scores",), True)
    assert SCHEME_ENTRY["none"] == ("nothing", (), False)
    for positional in POSITIONAL_SCHEMES:
        m = small(positional)
        _, cache = m.run_with_cache(torch.tensor([1, 2, 3]))
        hooks = scheme_hooks(m.cfg)
        assert all(h in cache for h in hooks), positional  # every hook point named exists in a real pass
        assert scheme_summary(m.cfg)
    assert scheme_hooks(small("none").cfg) == []


def test_each_scheme_changes_only_what_it_says():
    """Positions removed vs normal: the values the scheme does not reach are the same in layer 0."""
    ids = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    for positional in POSITIONAL_SCHEMES:
        m = small(positional)
        _, on = m.run_with_cache(ids)
        _, off = m.run_with_cache(ids, Interventions(positions="removed"))
        _, reaches, _ = SCHEME_ENTRY[positional]
        for name in ("q", "k", "v"):
            used = f"rot_{name}" if positional == "rotary" and name != "v" else name  # (the q and k the scores use)
            same = torch.allclose(on[used, 0], off[used, 0], atol=1e-6)
            assert same == (name not in reaches), (positional, name)
        if positional == "rotary":  # before the rotation, q and k do not depend on the position
            assert torch.allclose(on["q", 0], off["q", 0]) and torch.allclose(on["k", 0], off["k", 0])
        same_scores = torch.allclose(on["attn_scores", 0].nan_to_num(neginf=0), off["attn_scores", 0].nan_to_num(neginf=0))
        assert same_scores == (positional == "none"), positional


# --------------------------------------------------------------------------- ALiBi in the score decomposition

@pytest.mark.parametrize("iv", [Interventions(), Interventions(positions="shuffled", seed=4),
                                Interventions(positions="removed"), Interventions(scale=False)], ids=str)
def test_alibi_scores_are_content_content_plus_the_bias(iv):
    m = small("alibi")
    assert why_not_for(m.cfg) is None
    ids = torch.tensor([5, 8, 13, 21, 34, 5, 8, 13, 21])
    n = len(ids)
    _, cache = m.run_with_cache(ids, iv)
    given = torch.tensor(cache.permutation) if cache.permutation else torch.arange(n)
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    for h in range(4):
        terms = decompose_scores(m, cache, 0, h)
        # the bias, recomputed: -m_h x |position(q) - position(k)| (0 with positions removed)
        slope = 0.0 if iv.positions == "removed" else float(alibi_slopes(4)[h])
        want = (-slope * (given[:, None] - given[None, :]).abs().double()).masked_fill(upper, float("-inf"))
        torch.testing.assert_close(terms.bias.double(), want, atol=1e-6, rtol=0)
        # nothing positional reaches q or k: the three position terms are 0 where visible
        for t in (terms.content_position, terms.position_content, terms.position_position):
            assert (t[~upper] == 0).all()
        scale = 2.0 if iv.scale else 1.0
        q, k = cache["q", 0, h], cache["k", 0, h]
        torch.testing.assert_close(terms.content_content[~upper], (q @ k.T / scale)[~upper], atol=1e-5, rtol=0)
        total = terms.content_content + terms.bias
        torch.testing.assert_close(total[~upper], terms.scores[~upper], atol=1e-5, rtol=0)


def test_the_alibi_model_is_as_good_as_the_sinusoidal_one():
    """Trained with the same recipe, data, order, steps and seed, ALiBi's validation bits/char is at most the
    sinusoidal model's + 0.05."""
    import json

    cards = {}
    for name in ("tiny-alibi", "tiny-sinusoidal"):
        path = registry.WEIGHTS_DIR / name / "card.json"
        if not path.is_file():
            pytest.skip(f"{name} is not here (models/recipes/tiny.sh trains it)")
        cards[name] = json.loads(path.read_text())
    alibi, sinusoidal = cards["tiny-alibi"], cards["tiny-sinusoidal"]
    assert alibi["config"]["positional"] == "alibi"
    same = ("steps", "seed", "tokens_seen", "batch_size", "lr")
    assert {k: alibi["training"][k] for k in same} == {k: sinusoidal["training"][k] for k in same}
    assert alibi["tokenizer"]["sha256"] == sinusoidal["tokenizer"]["sha256"]
    assert alibi["metrics"]["val_bits_per_char"] <= sinusoidal["metrics"]["val_bits_per_char"] + 0.05
