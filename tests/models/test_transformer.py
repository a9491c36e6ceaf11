import math

import pytest
import torch

from models.config import ModelConfig
from models.transformer import BLOCK_BYTES, BLOCKED_ABOVE, Interventions, Transformer, project, project_vocab, project_vocab_each

SMALL = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32, vocab_size=50, max_positions=12)


def make(**changes) -> Transformer:
    torch.manual_seed(0)
    m = Transformer(SMALL.replace(**changes))
    # larger weights than the init so that the attention is far from uniform
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    return m.eval()


IDS = torch.tensor([0, 5, 7, 3, 9, 11, 2])

EXPECTED_HOOKS = [
    "hook_embed", "hook_pos_embed",
    *[f"blocks.{l}.{h}" for l in range(2) for h in (
        "hook_resid_pre", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k", "attn.hook_v",
        "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_mid",
        "ln2.hook_normalized", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post")],
    "ln_final.hook_normalized", "logits",
]


def test_hook_names_are_pinned_in_order():
    m = make()
    assert m.hook_names() == EXPECTED_HOOKS
    _, cache = m.run_with_cache(IDS)
    assert list(cache) == EXPECTED_HOOKS


def test_hook_names_of_rotary_grouped_model():
    m = make(positional="rotary", n_heads=4, n_kv_heads=2, d_head=4, norm="rmsnorm", mlp="swiglu", bias=False)
    names = m.hook_names()
    assert "hook_pos_embed" not in names
    i = names.index("blocks.0.attn.hook_v")
    assert names[i + 1:i + 3] == ["blocks.0.attn.hook_rot_q", "blocks.0.attn.hook_rot_k"]
    assert "blocks.0.mlp.hook_pre_linear" in names


def test_every_hook_has_its_shape():
    m = make()
    n, c = len(IDS), SMALL
    logits, cache = m.run_with_cache(IDS)
    assert logits.shape == (n, c.vocab_size)
    for name, value in cache.items():
        if name.endswith(("hook_q", "hook_k", "hook_v", "hook_z")):
            assert value.shape == (n, c.n_heads, c.d_head), name
        elif name.endswith(("hook_attn_scores", "hook_pattern")):
            assert value.shape == (c.n_heads, n, n), name
        elif name.endswith(("mlp.hook_pre", "mlp.hook_post")):
            assert value.shape == (n, c.d_mlp), name
        elif name == "logits":
            assert value.shape == (n, c.vocab_size)
        else:
            assert value.shape == (n, c.d_model), name
    assert torch.equal(cache["logits"], logits)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kv", [None, 1])
@pytest.mark.parametrize("positional", ["sinusoidal", "rotary"])
def test_recompute_attention_from_q_k_v(causal, kv, positional):
    m = make(causal=causal, n_kv_heads=kv, positional=positional)
    _, cache = m.run_with_cache(IDS)
    cfg = m.cfg
    n = len(IDS)
    for layer in range(cfg.n_layers):
        qname = "rot_q" if positional == "rotary" else "q"
        kname = "rot_k" if positional == "rotary" else "k"
        for head in range(cfg.n_heads):
            q = cache[qname, layer, head]  # [pos, d_head]
            k = cache[kname, layer, head]
            v = cache["v", layer, head]
            scores = q @ k.T / math.sqrt(cfg.d_head)
            if causal:
                scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
            pattern = torch.softmax(scores, dim=-1)
            z = pattern @ v
            assert torch.allclose(scores, cache["attn_scores", layer, head], atol=1e-5)
            assert (pattern - cache["pattern", layer, head]).abs().max() <= 1e-5
            assert (z - cache["z", layer, head]).abs().max() <= 1e-5


def test_grouped_heads_share_k_and_v():
    m = make(n_kv_heads=1)
    _, cache = m.run_with_cache(IDS)
    assert cache["blocks.0.attn.hook_k"].shape == (len(IDS), 1, SMALL.d_head)
    assert torch.equal(cache["k", 0, 0], cache["k", 0, 1])


def test_causal_pattern_is_lower_triangular_and_rows_sum_to_one():
    m = make()
    _, cache = m.run_with_cache(IDS)
    for layer in range(2):
        p = cache["pattern", layer]
        upper = torch.ones(len(IDS), len(IDS), dtype=torch.bool).triu(1)
        assert torch.all(p[:, upper] == 0)
        assert torch.allclose(p.sum(-1), torch.ones(2, len(IDS)), atol=1e-6)


def test_bidirectional_attends_ahead():
    _, cache = make(causal=False).run_with_cache(IDS)
    assert cache["pattern", 0][:, 0, 1:].sum() > 0


def test_scaling_off_multiplies_scores_by_sqrt_d_head():
    m = make()
    ids = IDS
    # layer 0 sees the same inputs either way, so its scores differ by exactly sqrt(d_head)
    _, on = m.run_with_cache(ids)
    _, off = m.run_with_cache(ids, Interventions(scale=False))
    lower = torch.ones(len(ids), len(ids), dtype=torch.bool).tril()
    a, b = on["attn_scores", 0][:, lower], off["attn_scores", 0][:, lower]
    assert torch.allclose(b, a * math.sqrt(SMALL.d_head), atol=1e-5)


def test_ablated_head_has_zero_z_and_moves_logits():
    m = make()
    base, _ = m.run_with_cache(IDS)
    logits, cache = m.run_with_cache(IDS, Interventions(ablate=((0, 1),)))
    assert torch.all(cache["z", 0, 1] == 0)
    assert not torch.all(cache["z", 0, 0] == 0)
    assert not torch.allclose(base, logits)


def test_positions_removed_and_shuffled():
    m = make()
    _, normal = m.run_with_cache(IDS)
    _, removed = m.run_with_cache(IDS, Interventions(positions="removed"))
    assert torch.all(removed["hook_pos_embed"] == 0)
    assert not torch.allclose(normal["pattern", 0], removed["pattern", 0])
    iv = Interventions(positions="shuffled", seed=3)
    _, shuffled = m.run_with_cache(IDS, iv)
    perm = shuffled.permutation
    assert sorted(perm) == list(range(len(IDS))) and perm != list(range(len(IDS)))
    assert torch.allclose(shuffled["hook_pos_embed"], normal["hook_pos_embed"][perm])
    _, again = m.run_with_cache(IDS, Interventions(positions="shuffled", seed=3))
    assert again.permutation == perm and torch.equal(again["pattern", 1], shuffled["pattern", 1])


def test_no_positions_model_ignores_position_interventions():
    m = make(positional="none")
    _, normal = m.run_with_cache(IDS)
    _, removed = m.run_with_cache(IDS, Interventions(positions="removed"))
    assert torch.equal(normal["pattern", 1], removed["pattern", 1])


def test_post_norm_bert_style_model_runs():
    m = make(causal=False, norm_placement="post", embed_norm=True, n_token_types=2, final_norm=False,
             positional="learned", mlp="gelu")
    logits, cache = m.run_with_cache(IDS)
    assert "hook_token_type_embed" in cache and "embed_ln.hook_normalized" in cache
    # post-LN: the residual after each sub-block is normalised
    assert torch.allclose(cache["blocks.0.hook_resid_post"].std(-1, unbiased=False), torch.ones(len(IDS)), atol=1e-2)


def test_hooks_can_edit_values():
    m = make()
    def zero_pattern_row(x, name):
        return torch.zeros_like(x)
    logits, cache = m.run_with_cache(IDS, hooks={"blocks.0.attn.hook_z": zero_pattern_row})
    assert torch.all(cache["blocks.0.attn.hook_z"] == 0)


def test_module_hooks_on_a_hook_point_are_refused_not_ignored():
    m = make()
    with pytest.raises(TypeError, match="run_with_cache"):
        m.blocks[0].attn.hook_pattern.register_forward_hook(lambda *a: None)


def test_no_cache_outside_run_with_cache():
    m = make()
    out = m(IDS)
    assert out.shape == (len(IDS), SMALL.vocab_size)


@pytest.mark.parametrize("ids, message", [
    (torch.tensor([], dtype=torch.long), "empty"),
    (torch.zeros(13, dtype=torch.long), "maximum of 12"),
    (torch.tensor([0, 50]), "outside the vocabulary"),
    (torch.tensor([-1]), "outside the vocabulary"),
    (torch.tensor([0.5]), "integers"),
])
def test_bad_ids_are_refused(ids, message):
    with pytest.raises(ValueError, match=message):
        make().run_with_cache(ids)


@pytest.mark.parametrize("iv, message", [
    (dict(ablate=((2, 0),)), "layer 2 does not exist"),
    (dict(ablate=((0, 5),)), "head 5 does not exist"),
    (dict(positions="sideways"), "positions must be one of"),
])
def test_bad_interventions_are_refused(iv, message):
    with pytest.raises(ValueError, match=message):
        make().run_with_cache(IDS, Interventions(**iv))


def test_cache_lookup_errors_name_the_limits():
    _, cache = make().run_with_cache(IDS)
    with pytest.raises(ValueError, match="layers 0 to 1"):
        cache["pattern", 7]
    with pytest.raises(ValueError, match="heads 0 to 1"):
        cache["pattern", 0, 2]
    with pytest.raises(KeyError):
        cache["blocks.9.hook_nothing"]


def test_config_rejects_inconsistent_choices():
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        ModelConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="positional must be one of"):
        ModelConfig(positional="xpos")
    assert ModelConfig.from_dict(SMALL.to_dict()) == SMALL


def _reads_in_place(m: Transformer) -> bool:
    """Every projection weight is stored in-major ([in, out], laid_out): its matmul view is no copy; W_U out-major, so
    that a block of its vocabulary is a contiguous run of rows."""
    views = []
    for block in m.blocks:
        a, mlp = block.attn, block.mlp
        views += [(w, a._by_column(w)) for w in (a.W_Q, a.W_K, a.W_V)]  # [d_model, head * d_head]
        views += [(a.W_O, a.W_O.reshape(-1, m.cfg.d_model))]  # [head * d_head, d_model]
        views += [(w, w) for w in (mlp.W_in, mlp.W_out, getattr(mlp, "W_gate", None)) if w is not None]
    if not m.cfg.tied_embeddings and not m.W_U.T.is_contiguous():
        return False
    return all(v.data_ptr() == w.data_ptr() and v.is_contiguous() for w, v in views)


@pytest.mark.parametrize("changes", [{"n_kv_heads": 1}, {"mlp": "swiglu", "tied_embeddings": False, "bias": False}])
def test_weights_are_stored_in_major_also_when_loaded_by_assignment(changes):
    m = make(**changes)
    assert _reads_in_place(m)
    state = {k: v.contiguous() for k, v in m.state_dict().items()}  # as a converter or a safetensors file gives them
    copied = Transformer(m.cfg, init=False)
    copied.load_state_dict(state, strict=True)
    assigned = Transformer(m.cfg, init=False)
    assigned.load_state_dict(state, strict=True, assign=True)
    expected, _ = m.run_with_cache(IDS)
    for other in (copied, assigned):
        assert _reads_in_place(other)
        assert torch.equal(other.eval().run_with_cache(IDS)[0], expected)


def test_forward_follows_weight_changes():
    m = make()
    first, _ = m.run_with_cache(IDS)
    with torch.no_grad():
        assert torch.allclose(m(IDS), first, atol=1e-6)  # outside inference mode too
        m.blocks[0].attn.W_Q.mul_(2.0)
    changed, _ = m.run_with_cache(IDS)
    assert not torch.allclose(changed, first)
    m.load_state_dict(make().state_dict())
    again, _ = m.run_with_cache(IDS)
    assert torch.allclose(again, first, atol=1e-6)
    loss = m(IDS).logsumexp(-1).mean()  # with gradients: the gradient reaches W_Q
    loss.backward()
    assert m.blocks[0].attn.W_Q.grad is not None and m.blocks[0].attn.W_Q.grad.abs().sum() > 0


@pytest.mark.parametrize("tied", [True, False])
def test_the_unembedding_without_gradients_is_an_in_major_copy_that_follows_the_weight(tied):
    m = make(tied_embeddings=tied)
    source = m.W_E if tied else m.W_U

    def by_the_weight(x: torch.Tensor) -> torch.Tensor:  # the final norm's output through the weight itself
        w = source.detach().T if tied else source.detach()
        return x @ w + (0 if tied else m.b_U.detach())

    with torch.inference_mode():
        kept = m.unembed
        assert kept.is_contiguous() and kept.data_ptr() != source.data_ptr() and m.unembed is kept  # made once
        first, cache = m.run_with_cache(IDS)
        assert torch.allclose(first, by_the_weight(cache["ln_final.hook_normalized"]), atol=1e-5)
    with torch.no_grad():
        source.mul_(-2.0)  # changed in place: a copy of the new values
    changed, cache = m.run_with_cache(IDS)
    assert torch.allclose(changed, by_the_weight(cache["ln_final.hook_normalized"]), atol=1e-5)
    assert not torch.allclose(changed, first)
    m.load_state_dict(make(tied_embeddings=tied).state_dict(), assign=True)  # a new tensor
    again, _ = m.run_with_cache(IDS)
    assert torch.allclose(again, first, atol=1e-6)
    assert m.unembed.data_ptr() == (m.W_E if tied else m.W_U).data_ptr()  # with gradients: the weight itself
    m(IDS).logsumexp(-1).mean().backward()
    assert (m.W_E if tied else m.W_U).grad.abs().sum() > 0


@pytest.mark.parametrize("bias", [False, True])
def test_unembedding_in_blocks_is_the_same_product_bit_for_bit(bias):
    d_model, vocab = 96, 50_000  # 19 MB: over BLOCKED_ABOVE, so multiplied in blocks (the last one shorter)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(d_model, vocab, generator=gen)
    assert w.numel() * w.element_size() > BLOCKED_ABOVE and vocab % (BLOCK_BYTES // (d_model * 4) // 64 * 64)
    b = torch.randn(vocab, generator=gen) if bias else None
    x = torch.randn(2, 7, d_model, generator=gen)  # [batch, pos, d_model]
    with torch.inference_mode():
        blocked = project_vocab(x, w, b)
    assert blocked.shape == (2, 7, vocab)
    assert torch.equal(blocked, project(x, w, b))
    # with a gradient asked for it is the one call (in-place blocks would not carry it), with its gradient
    xg = x.clone().requires_grad_()
    project_vocab(xg, w, b).sum().backward()
    assert torch.allclose(xg.grad, w.sum(1).expand(2, 7, d_model), rtol=1e-4, atol=1e-3)
    # several inputs through one reading of w: each as its own call gives it
    parts = [x[0, :5], torch.randn(41, d_model, generator=gen), x]
    with torch.inference_mode():
        each = project_vocab_each(parts, w, b)
        assert all(torch.equal(got, project_vocab(part, w, b)) for got, part in zip(each, parts, strict=True))
    small = w[:, :1000]  # under BLOCKED_ABOVE: one call for each
    assert all(torch.equal(got, project(part, small, None if b is None else b[:1000]))
               for got, part in zip(project_vocab_each(parts, small, None if b is None else b[:1000]), parts, strict=True))
    # written into the rows of one tensor instead (the logit lens's parts): the same numbers
    rows = [p.reshape(-1, d_model) for p in parts[:2]]
    for weight, bias_ in ((w, b), (small, None if b is None else b[:1000])):
        with torch.inference_mode():
            into = torch.full((rows[0].shape[0] + rows[1].shape[0], weight.shape[1]), float("nan"))
            project_vocab_each(rows, weight, bias_, [into[:5], into[5:]])
            assert torch.equal(into, torch.cat(project_vocab_each(rows, weight, bias_)))
    with pytest.raises(ValueError, match="contiguous"), torch.inference_mode():
        project_vocab_each(rows[:1], w, b, [torch.empty(vocab, 5).T])
