"""The logit lens, direct logit attribution, value-weighted attention and rollout, each recomputed another way."""

import math
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F

from models import lens as lens_module
from models import registry
from models.attribution import logit_attribution, rollout, rollouts, value_weighted, value_weighted_head_and_layer, why_no_attribution
from models.config import ModelConfig
from models.lens import ReadAhead, logit_lens, parts, read, why_no_lens
from models.transformer import Interventions, Transformer

SMALL = ModelConfig(d_model=16, n_layers=3, n_heads=4, d_head=4, d_mlp=32, vocab_size=60, max_positions=16)
IDS = torch.tensor([0, 5, 7, 3, 9, 11, 2, 7, 3])


def make(**changes) -> Transformer:
    """A random model with weights and biases large enough that every term of the logit matters (its
    parameters do not track gradients, so that the by-hand recomputations below mix freely with the cache)."""
    torch.manual_seed(0)
    m = Transformer(SMALL.replace(**changes))
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".w"):
                p.uniform_(0.5, 1.5)  # a norm scale other than 1
            else:
                p.normal_(0, 0.3)
    return m.eval().requires_grad_(False)


VARIANTS = {
    "sinusoidal": {},
    "learned": {"positional": "learned"},
    "rotary": {"positional": "rotary"},
    "alibi": {"positional": "alibi"},
    "none": {"positional": "none"},
    "gqa-rmsnorm-swiglu-nobias": {"positional": "rotary", "n_kv_heads": 2, "norm": "rmsnorm", "mlp": "swiglu",
                                  "bias": False},
    "untied-with-b_U": {"tied_embeddings": False},
    "no-final-norm": {"final_norm": False},
}


def tiny(name: str) -> Transformer:
    """A shipped tiny model; tiny-alibi at random init with tiny-sinusoidal's sizes until its weights ship."""
    if name in registry.names():
        return registry.load(name).model
    cfg = registry.load("tiny-sinusoidal").cfg.replace(positional=name.removeprefix("tiny-"))
    torch.manual_seed(0)
    return Transformer(cfg).eval()


def tiny_ids(text: str = "Once upon a time, Lily saw a big red ball. Lily said") -> torch.Tensor:
    return torch.tensor(registry.load("tiny-sinusoidal").tokenizer.encode(text))


# --------------------------------------------------------------------------- logit lens

@pytest.mark.parametrize("variant", VARIANTS)
def test_lens_after_the_last_mlp_is_the_models_output(variant):
    m = make(**VARIANTS[variant])
    logits, cache = m.run_with_cache(IDS)
    for position in (0, 4, len(IDS) - 1):
        lens = logit_lens(m, cache, position)
        assert lens.logits.shape == (SMALL.n_layers, 2, SMALL.vocab_size)
        got = torch.softmax(lens.logits[-1, 1].double(), -1)
        want = torch.softmax(logits[position].double(), -1)
        assert torch.allclose(got, want, atol=1e-5, rtol=0)


def test_lens_reads_each_point_through_the_final_norm_by_hand():
    """Every reading recomputed with F.layer_norm and W_E.T (the tied unembedding) from the named hooks."""
    m = make()
    _, cache = m.run_with_cache(IDS, Interventions(ablate=((1, 2),)))
    lens = logit_lens(m, cache, 5)
    ln = m.ln_final

    def by_hand(x):
        return F.layer_norm(x, (SMALL.d_model,), ln.w, ln.b, ln.eps) @ m.W_E.T

    assert torch.allclose(lens.embedding, by_hand(cache["blocks.0.hook_resid_pre"][5]), atol=1e-5)
    for layer in range(SMALL.n_layers):
        assert torch.allclose(lens.logits[layer, 0], by_hand(cache[f"blocks.{layer}.hook_resid_mid"][5]), atol=1e-5)
        assert torch.allclose(lens.logits[layer, 1], by_hand(cache[f"blocks.{layer}.hook_resid_post"][5]), atol=1e-5)


@pytest.fixture
def in_parts(monkeypatch):
    """SMALL's unembedding counted as large (as SmolLM2's): its lens reads its points in parts."""
    monkeypatch.setattr(lens_module, "BLOCKED_ABOVE", 0)


def test_a_large_vocabulary_is_read_in_parts_that_make_the_same_lens(in_parts):
    m = make(n_layers=6)
    assert parts(m) == [range(4), range(4, 6)]
    _, cache = m.run_with_cache(IDS)
    lens = logit_lens(m, cache, 5)
    assert lens.logits.shape == (6, 2, SMALL.vocab_size)
    points = [cache["resid_pre", 0][5]] + [cache[h, layer][5] for layer in range(6) for h in ("resid_mid", "resid_post")]
    assert torch.allclose(lens.readings, read(m, torch.stack(points)), atol=1e-5)  # as one product of all the points
    assert parts(make()) == [range(2), range(2, 3)] and parts(make(n_layers=2)) == [range(2)]  # (fewer than 3: one)


def test_lens_parts_read_ahead_during_the_pass_are_the_lens_read_after_it(in_parts):
    m = make(n_layers=6)
    asked = []
    with ThreadPoolExecutor(1) as pool:
        def submit(work):
            asked.append(work)
            return pool.submit(work)

        ahead = ReadAhead(m, submit)
        assert set(ahead.hooks) == {"blocks.0.hook_resid_pre"} | {f"blocks.{layer}.hook_resid_{s}"
                                                                  for layer in range(6) for s in ("mid", "post")}
        logits, cache = m.run_with_cache(IDS, hooks=ahead.hooks)
    assert len(asked) == 2  # each part, once its last point was computed
    plain_logits, plain_cache = m.run_with_cache(IDS)
    assert torch.equal(logits, plain_logits)  # the hooks change nothing in the pass
    last = len(IDS) - 1
    assert torch.equal(logit_lens(m, cache, last, ahead).readings, logit_lens(m, plain_cache, last).readings)
    assert torch.equal(logit_lens(m, cache, 3, ahead).readings, logit_lens(m, plain_cache, 3).readings)


def test_a_part_read_ahead_is_taken_only_for_its_own_points(in_parts):
    m = make(n_layers=6)

    def submit(work):  # run at once
        work()
        done = Future()
        done.set_result(None)
        return done

    def marked(readings: torch.Tensor) -> bool:
        return bool(((readings == 7) | (readings == 8)).any())

    ahead = ReadAhead(m, submit)
    _, cache = m.run_with_cache(IDS, hooks=ahead.hooks)
    with torch.inference_mode():  # the parts' readings told apart from the real ones
        ahead.readings[:9], ahead.readings[9:] = 7.0, 8.0
    last = len(IDS) - 1
    lens = logit_lens(m, cache, last, ahead)
    assert bool((lens.readings[:9] == 7).all()) and bool((lens.readings[9:] == 8).all())  # 1 + 2 x 4 points, 2 x 2
    assert not marked(logit_lens(m, cache, 3, ahead).readings)  # another position: read here
    _, other = m.run_with_cache(IDS.flip(0))
    assert not marked(logit_lens(m, other, last, ahead).readings)  # another pass: read here
    declined = ReadAhead(m, lambda work: None)
    _, cache = m.run_with_cache(IDS, hooks=declined.hooks)
    assert torch.equal(logit_lens(m, cache, last, declined).readings, logit_lens(m, cache, last).readings)
    # the first part taken, the last declined (the other core still busy with the first): that one read after the pass
    asked = iter([True, False])
    with ThreadPoolExecutor(1) as pool:
        first_only = ReadAhead(m, lambda work: pool.submit(work) if next(asked) else None)
        _, cache = m.run_with_cache(IDS, hooks=first_only.hooks)
    assert torch.equal(logit_lens(m, cache, last, first_only).readings, logit_lens(m, cache, last).readings)
    assert set(first_only._read) == {0}


def test_lens_and_attribution_refuse_encoders_and_post_norm_with_the_reason():
    enc = make(causal=False, unembed=False, norm_placement="post", final_norm=False, embed_norm=True)
    _, cache = enc.run_with_cache(IDS)
    with pytest.raises(ValueError, match="no unembedding"):
        logit_lens(enc, cache, 0)
    with pytest.raises(ValueError, match="no unembedding"):
        logit_attribution(enc, cache, None, 0, 1)
    post = SMALL.replace(norm_placement="post", final_norm=False)
    assert "post-norm" in why_no_lens(post) and "post-norm" in why_no_attribution(post)
    assert why_no_lens(SMALL) is None and why_no_attribution(SMALL) is None
    with pytest.raises(ValueError, match="position 9 does not exist"):
        logit_lens(make(), make().run_with_cache(IDS)[1], 9)


# --------------------------------------------------------------------------- direct logit attribution

def assert_adds_up(att, rel=1e-4):
    assert math.isclose(att.total, att.logit, rel_tol=rel, abs_tol=rel * 1e-2), (att.total, att.logit)


@pytest.mark.parametrize("variant", VARIANTS)
def test_attribution_adds_up_to_the_logit(variant):
    m = make(**VARIANTS[variant])
    for iv in (Interventions(), Interventions(ablate=((0, 1), (2, 3))), Interventions(positions="shuffled", seed=3),
               Interventions(positions="removed")):
        logits, cache = m.run_with_cache(IDS, iv)
        for position, token, versus in ((len(IDS) - 1, 4, None), (3, 17, 40), (0, 59, None)):
            att = logit_attribution(m, cache, logits, position, token, versus)
            assert_adds_up(att)
            assert att.heads.shape == (SMALL.n_layers, SMALL.n_heads)
            for layer, head in iv.ablate:
                assert att.heads[layer, head] == 0.0


def test_attribution_parts_add_up_to_the_final_residual():
    """The decomposition itself, without the norm: the parts as vectors sum to blocks.{last}.hook_resid_post, and
    each head's z_h W_O[h] summed with b_O is hook_attn_out. Then each term recomputed from those vectors."""
    m = make(tied_embeddings=False)
    logits, cache = m.run_with_cache(IDS)
    p, t = 6, 21
    vectors = {"embed": cache["hook_embed"][p], "pos": cache["hook_pos_embed"][p]}
    for layer, block in enumerate(m.blocks):
        z = cache["z", layer][p]  # [head, d_head]
        heads = torch.stack([z[h] @ block.attn.W_O[h] for h in range(SMALL.n_heads)])  # [head, d_model]
        assert torch.allclose(heads.sum(0) + block.attn.b_O, cache["attn_out", layer][p], atol=1e-5)
        for h in range(SMALL.n_heads):
            vectors[f"head {layer}.{h}"] = heads[h]
        vectors[f"b_O {layer}"] = block.attn.b_O
        vectors[f"mlp {layer}"] = cache["mlp_out", layer][p] - block.mlp.b_out
        vectors[f"b_out {layer}"] = block.mlp.b_out
    x = cache[f"blocks.{SMALL.n_layers - 1}.hook_resid_post"][p]
    assert torch.allclose(sum(vectors.values()), x, atol=1e-5)
    # each term by the formula: (v - mean v) / sigma * w . u_t, with sigma from the real residual
    ln = m.ln_final
    sigma = torch.sqrt(x.double().var(unbiased=False) + ln.eps)
    normalized = cache["ln_final.hook_normalized"][p].double()
    assert torch.allclose((x.double() - x.double().mean()) / sigma * ln.w + ln.b, normalized, atol=1e-5)
    u = m.W_U[:, t].double()
    term = {k: float((v.double() - v.double().mean()) / sigma * ln.w.double() @ u) for k, v in vectors.items()}
    att = logit_attribution(m, cache, logits, p, t)
    assert math.isclose(att.scale, float(sigma), rel_tol=1e-9)
    assert math.isclose(att.heads[1, 2], term["head 1.2"], rel_tol=1e-6, abs_tol=1e-9)
    by_kind = {(q.kind, q.layer): q.value for q in att.parts}
    assert math.isclose(by_kind[("embed", None)], term["embed"], rel_tol=1e-6, abs_tol=1e-9)
    assert math.isclose(by_kind[("mlp", 2)], term["mlp 2"], rel_tol=1e-6, abs_tol=1e-9)
    assert math.isclose(by_kind[("mlp_bias", 0)], term["b_out 0"], rel_tol=1e-6, abs_tol=1e-9)
    assert math.isclose(by_kind[("norm_bias", None)], float(ln.b.double() @ u), rel_tol=1e-9)
    assert math.isclose(by_kind[("unembed_bias", None)], float(m.b_U[t]), rel_tol=1e-9)
    # what centring removed: the uncentred terms add up to the logit plus it
    uncentred = sum(float(v.double() / sigma * ln.w.double() @ u) for v in vectors.values())
    rest = by_kind[("norm_bias", None)] + by_kind[("unembed_bias", None)]
    assert math.isclose(uncentred + rest - att.logit, att.centring_removed, rel_tol=1e-6, abs_tol=1e-6)
    assert [q.kind for q in att.parts][:2] == ["embed", "pos_embed"]


def test_rmsnorm_removes_nothing_and_has_no_bias_parts():
    m = make(**VARIANTS["gqa-rmsnorm-swiglu-nobias"])
    logits, cache = m.run_with_cache(IDS)
    att = logit_attribution(m, cache, logits, 8, 3, 5)
    assert att.norm == "rmsnorm" and att.centring_removed is None
    assert {q.kind for q in att.parts} == {"embed", "mlp"}
    assert_adds_up(att)


@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-rotary", "tiny-alibi"])
def test_attribution_adds_up_on_the_tiny_models(name):
    m = tiny(name)
    ids = tiny_ids()
    logits, cache = m.run_with_cache(ids)
    last = len(ids) - 1
    top2 = logits[last].topk(2).indices.tolist()
    for token, versus in ((top2[0], None), (top2[0], top2[1]), (7, None)):
        assert_adds_up(logit_attribution(m, cache, logits, last, token, versus))
    lens = logit_lens(m, cache, last)
    assert torch.allclose(torch.softmax(lens.logits[-1, 1].double(), -1), torch.softmax(logits[last].double(), -1),
                          atol=1e-5, rtol=0)


@pytest.mark.slow
def test_lens_and_attribution_on_smollm2(smollm2):
    """Grouped-query attention, RMSNorm, SwiGLU, no biases, tied embeddings, 30 layers x 9 heads."""
    ids = torch.tensor(smollm2.tokenizer.encode("The capital of France is Paris. The capital of Italy is"))
    logits, cache = smollm2.model.run_with_cache(ids)
    last = len(ids) - 1
    top2 = logits[last].topk(2).indices.tolist()
    for token, versus in ((top2[0], None), (top2[0], top2[1])):
        att = logit_attribution(smollm2.model, cache, logits, last, token, versus)
        assert att.heads.shape == (30, 9) and att.norm == "rmsnorm" and att.centring_removed is None
        assert_adds_up(att)
    lens = logit_lens(smollm2.model, cache, last)
    assert torch.allclose(torch.softmax(lens.logits[-1, 1].double(), -1), torch.softmax(logits[last].double(), -1),
                          atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- value-weighted attention, rollout

@pytest.mark.parametrize("variant", ["sinusoidal", "gqa-rmsnorm-swiglu-nobias"])
def test_value_weighted_norms_by_loops(variant):
    """Per head: alpha_ij * ‖v_j W_O[h]‖; per layer: ‖sum_h alpha^h_ij v^h_j W_O[h]‖, whose sum over the keys is
    the attention output (less b_O). Ablated heads move nothing."""
    m = make(**VARIANTS[variant])
    layer = 1
    _, cache = m.run_with_cache(IDS, Interventions(ablate=((layer, 0),)))
    cfg, n = m.cfg, len(IDS)
    W_O = m.blocks[layer].attn.W_O.double()
    moved = torch.zeros(n, n, cfg.d_model, dtype=torch.float64)  # [q, k, d_model]
    for h in range(cfg.n_heads):
        alpha, v = cache["pattern", layer, h].double(), cache["v", layer, h].double()  # v: the K/V head h reads
        keep = 0.0 if h == 0 else 1.0
        got = value_weighted(m, cache, layer, h)
        for i in range(n):
            for j in range(n):
                vec = keep * alpha[i, j] * (v[j] @ W_O[h])
                moved[i, j] += vec
                assert math.isclose(float(got[i, j]), float(vec.norm()), rel_tol=1e-9, abs_tol=1e-12)
    b_O = m.blocks[layer].attn.b_O
    attn_out = cache["attn_out", layer].double() - (0 if b_O is None else b_O.double())
    assert torch.allclose(moved.sum(1), attn_out, atol=1e-5)
    assert torch.allclose(value_weighted(m, cache, layer), moved.norm(dim=-1), atol=1e-9)
    for h in (0, 1):  # what the attention attribution asks: both at once, the same numbers
        head_map, layer_map = value_weighted_head_and_layer(m, cache, layer, h)
        assert torch.equal(head_map, value_weighted(m, cache, layer, h))
        assert torch.equal(layer_map, value_weighted(m, cache, layer))


def test_rollout_rows_sum_to_one_and_one_layer_without_residual_is_the_mean_pattern():
    m = make()
    _, cache = m.run_with_cache(IDS)
    patterns = torch.stack([cache["pattern", layer] for layer in range(SMALL.n_layers)])  # [layer, head, q, k]
    for residual in (0.0, 0.5, 0.9):
        r = rollout(patterns, residual)
        assert torch.allclose(r.sum(-1), torch.ones(len(IDS), dtype=torch.float64), atol=1e-12)
        assert torch.all(r.triu(1) == 0)  # causal: nothing from later tokens
    assert torch.allclose(rollout(patterns[:1], 0.0), patterns[0].double().mean(0), atol=1e-12)
    # two layers by hand: (0.5 A1 + 0.5 I) (0.5 A0 + 0.5 I)
    eye = torch.eye(len(IDS), dtype=torch.float64)
    a = [0.5 * patterns[layer].double().mean(0) + 0.5 * eye for layer in range(2)]
    assert torch.allclose(rollout(patterns[:2]), a[1] @ a[0], atol=1e-12)
    # ablated heads leave the mean; a layer with none left is the identity
    assert torch.allclose(rollout(patterns[:1], 0.0, ((0, 0), (0, 1))), patterns[0, 2:].double().mean(0), atol=1e-12)
    assert torch.allclose(rollout(patterns[:1], 0.0, tuple((0, h) for h in range(4))), eye)
    with pytest.raises(ValueError, match="residual"):
        rollout(patterns, 1.5)


def test_rollouts_row_l_is_the_rollout_of_the_first_l_plus_one_layers():
    m = make()
    _, cache = m.run_with_cache(IDS, Interventions(ablate=((1, 2),)))
    patterns = torch.stack([cache["pattern", layer] for layer in range(SMALL.n_layers)])  # [layer, head, q, k]
    for ablated in ((), ((1, 2),), tuple((0, h) for h in range(4))):
        rolled = rollouts(patterns, 0.3, ablated)
        assert rolled.shape == (SMALL.n_layers, len(IDS), len(IDS))
        for layer in range(SMALL.n_layers):
            # by hand: each layer's mean over its live heads (the identity where none is left), mixed, renormalised
            live = [h for h in range(SMALL.n_heads) if (layer, h) not in ablated]
            eye = torch.eye(len(IDS), dtype=torch.float64)
            mean = patterns[layer, live].double().mean(0) if live else eye
            mixed = 0.7 * mean + 0.3 * eye
            step = mixed / mixed.sum(-1, keepdim=True)
            want = step if layer == 0 else step @ rolled[layer - 1]
            assert torch.allclose(rolled[layer], want, atol=1e-12)
            assert torch.allclose(rolled[layer], rollout(patterns[:layer + 1], 0.3, ablated), atol=1e-12)
