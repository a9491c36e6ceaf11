"""The linear probe of position (models/probe.py) and the probe.json files, recomputed another way."""

import json

import numpy as np
import pytest
import torch

from models import probe, registry
from models.config import ModelConfig
from models.corpus import sha256
from models.measure import PROBE_FILE, VAL, measure_probe
from models.transformer import Transformer


def data(n=600, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0, 5, 0.1, 2, 30, 1])[:d] + 3
    y = x @ torch.linspace(-1, 1, d, dtype=torch.float64) + torch.randn(n, generator=g, dtype=torch.float64)
    window = torch.arange(n) // 20  # 30 windows of 20 tokens
    return x, y, window


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.5])
def test_ridge_is_the_least_squares_solution_of_the_augmented_system(lam):
    x, y, _ = data()
    a, c = probe.fit(probe.Stats(x, y), lam)
    # another way: standardise explicitly, then least squares on [Xs 1; sqrt(lam n) I 0] [w; b] = [y; 0] (numpy)
    xn, yn = x.numpy(), y.numpy()
    mean, std = xn.mean(0), xn.std(0)
    xs = (xn - mean) / std
    n, d = xs.shape
    top = np.hstack([xs, np.ones((n, 1))])
    bottom = np.hstack([np.sqrt(lam * n) * np.eye(d), np.zeros((d, 1))])
    sol = np.linalg.lstsq(np.vstack([top, bottom]), np.concatenate([yn, np.zeros(d)]), rcond=None)[0]
    w, b = sol[:d], sol[d]
    np.testing.assert_allclose(a.numpy(), w / std, atol=1e-8)
    np.testing.assert_allclose(float(c), b - (mean / std) @ w, atol=1e-7)
    # the squared error from the sums is the squared error of the predictions
    pred = x @ a + c
    assert probe.sse(probe.Stats(x, y), a, c) == pytest.approx(float(((pred - y) ** 2).sum()), rel=1e-9)


def test_cross_validation_from_sums_equals_refitting_each_fold():
    x, y, window = data()
    parts = probe.per_window(x, y, window)
    best, errors = probe.choose_lambda(parts, folds=5, lambdas=(1e-4, 1e-2, 1.0))
    for lam in (1e-4, 1e-2, 1.0):
        err = 0.0
        for g in torch.tensor_split(torch.arange(30), 5):  # whole windows, in order
            held = torch.isin(window, g)
            a, c = probe.fit(probe.Stats(x[~held], y[~held]), lam)
            err += float(((x[held] @ a + c - y[held]) ** 2).sum())
        assert errors[f"{lam:g}"] == pytest.approx(err / len(y), rel=1e-9)
    assert errors[f"{best:g}"] == min(errors.values())


def test_split_is_the_first_windows():
    window = torch.arange(100) // 10  # 10 windows
    fit = probe.split(window)
    assert fit.tolist() == [w < 7 for w in window.tolist()]


def test_position_is_read_off_a_block_input_that_is_mostly_position():
    """Sanity: with tiny token embeddings, a sinusoidal model's block input is the encoding: R² near 1."""
    tok = registry.load(registry.DEFAULT_MODEL).tokenizer
    torch.manual_seed(0)
    m = Transformer(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_head=16, d_mlp=64, vocab_size=tok.vocab_size,
                                max_positions=40, positional="sinusoidal")).eval()
    with torch.no_grad():
        m.W_E.mul_(0.01)
    feats, pos, window = probe.residuals(m, tok, VAL.read_text(encoding="utf-8")[:20_000])
    assert feats.shape[0] == 2 and pos.min() == 1 and pos.max() == 38
    assert probe.probe(feats, pos, window)[0]["r2"] > 0.99


@pytest.fixture(scope="module")
def sinusoidal_probe():
    loaded = registry.load("tiny-sinusoidal")
    text = VAL.read_text(encoding="utf-8")
    return probe.residuals(loaded.model, loaded.tokenizer, text, max_windows=60)


@pytest.mark.slow
def test_probe_fitting_is_deterministic(sinusoidal_probe):
    first = probe.probe(*sinusoidal_probe)
    again = probe.probe(*sinusoidal_probe)
    assert first == again  # the same numbers, bit for bit (rounded the same way)
    loaded = registry.load("tiny-sinusoidal")
    feats2, _, _ = probe.residuals(loaded.model, loaded.tokenizer, VAL.read_text(encoding="utf-8"), max_windows=60)
    assert torch.equal(feats2, sinusoidal_probe[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-learned"])
def test_additive_encoding_block_input_probe_is_near_1(name):
    """On held-out text, position is read off the block input (token embedding + position vector) almost exactly."""
    loaded = registry.load(name)
    result = probe.probe(*probe.residuals(loaded.model, loaded.tokenizer, VAL.read_text(encoding="utf-8"),
                                          max_windows=120))
    assert result[0]["r2"] >= 0.95


def test_every_tiny_model_has_a_current_probe_file():
    for name in registry.tiny_models():
        path = registry.WEIGHTS_DIR / name / PROBE_FILE
        assert path.is_file(), f"{name}: no {PROBE_FILE}; run `python -m models.measure {name}`"
        d = json.loads(path.read_text())
        assert d["weights_sha256"] == sha256(registry.WEIGHTS_DIR / name / "model.safetensors")
        assert d["text"]["sha256"] == sha256(VAL)
        assert [x["hook"] for x in d["depths"]] == ["blocks.0.hook_resid_pre"] + [
            f"blocks.{l}.hook_resid_post" for l in range(4)]
        assert d["fit_windows"] + d["held_out_windows"] == d["windows"]
        assert all(-1 <= x["r2"] <= 1 and x["lambda"] in probe.LAMBDAS for x in d["depths"])
        if d["positional"] in ("sinusoidal", "learned"):
            assert d["depths"][0]["r2"] >= 0.95  # the sanity check, on the whole held-out part


@pytest.mark.slow
def test_the_probe_file_is_recomputed():
    name = "tiny-nope"
    d = json.loads((registry.WEIGHTS_DIR / name / PROBE_FILE).read_text())
    again = measure_probe(name)
    assert [x["r2"] for x in again["depths"]] == pytest.approx([x["r2"] for x in d["depths"]], abs=1e-4)
    assert [x["lambda"] for x in again["depths"]] == [x["lambda"] for x in d["depths"]]
