"""The positional-encoding lab through the API: past the trained length, ALiBi in every view that applies, where each
scheme enters, and the measurements (loss by position, the probe of position) served from their files."""

import dataclasses
import json
import shutil

import pytest
import torch
from fastapi.testclient import TestClient

from backend import schemas
from backend.analysis import position_lab
from backend.main import create_app
from backend.service import ModelService
from backend.settings import Settings
from backend.vocabulary import VIEW_IDS
from models import registry
from models.measure import LENGTHS_FILE, PROBE_FILE
from models.positional import SCHEME_ENTRY, alibi_slopes
from models.registry import LoadedModel
from models.transformer import Interventions, Transformer

TEXT = "The cat sat on the mat because it was tired."
LONG = " ".join(["Once upon a time, a little girl named Lily found a red ball in the park."] * 10)  # about 190 tokens
ALIBI = "test-alibi"


def alibi_model() -> LoadedModel:
    """A randomly initialised tiny model with ALiBi (the trained one is not here yet), on the tiny models' tokenizer,
    with q and k large enough that q.k matters beside the bias."""
    base = registry.load(registry.DEFAULT_MODEL)
    cfg = base.cfg.replace(positional="alibi")
    torch.manual_seed(0)
    model = Transformer(cfg)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.W_Q.mul_(10)
            block.attn.W_K.mul_(10)
    info = dataclasses.replace(base.info, name=ALIBI, title="random ALiBi", positional="alibi", default=False,
                               metrics={}, unavailable_views=registry.unavailable_views(cfg),
                               **registry.beyond(cfg, cfg.max_positions))
    return LoadedModel(ALIBI, model.eval(), base.tokenizer, info)


@pytest.fixture(scope="module")
def lab():
    """An app whose registry also holds the random ALiBi model, with a smaller limit past the trained length."""
    extra = alibi_model()
    settings = Settings(max_beyond_tokens=300)
    service = ModelService(settings, list_models=lambda: [*registry.list_models(), extra.info],
                           load=lambda name: extra if name == ALIBI else registry.load(name))
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as c:
        c.alibi = extra
        yield c


def close(a, b, tol=1e-4):
    a = torch.as_tensor([[float("nan") if v is None else v for v in row] if isinstance(row, list) else
                         (float("nan") if row is None else row) for row in a], dtype=torch.float64)
    return torch.allclose(a, torch.as_tensor(b, dtype=torch.float64), atol=tol, equal_nan=True)


def n_tokens(text: str) -> int:
    return len(registry.load(registry.DEFAULT_MODEL).tokenizer.encode(text))


# --------------------------------------------------------------------------- models

def test_models_say_their_trained_length_and_how_far_past_it(lab):
    body = schemas.ModelList.model_validate(lab.get("/api/models").json())
    by = {m.name: m for m in body.models}
    assert body.tiny_models == registry.tiny_models() and body.tiny_models[:4] == list(registry.TINY_ORDER[:4])
    for name in ("tiny-sinusoidal", "tiny-rotary", "tiny-nope", ALIBI):
        m = by[name]
        assert m.trained_tokens == m.max_tokens == 128 and m.max_tokens_beyond == 300 and m.why_not_beyond is None
    learned = by["tiny-learned"]
    assert learned.max_tokens_beyond == learned.max_tokens == 128 and "none for position 128" in learned.why_not_beyond
    assert by["smollm2-135m"].max_tokens_beyond == 128 and by["smollm2-135m"].trained_tokens == 8192
    assert "decompose" not in by[ALIBI].unavailable_views  # ALiBi's scores split into content.content + bias


# --------------------------------------------------------------------------- past the trained length

def test_a_long_text_is_refused_by_default_and_says_how_to_allow_it(lab):
    assert 128 < n_tokens(LONG) <= 300
    r = lab.post("/api/analyze", json={"text": LONG, "layers": [0]})
    assert r.status_code == 422
    assert "reads at most 128 tokens" in r.json()["detail"] and "allow_beyond_trained" in r.json()["detail"]
    # the count names the special tokens in it (the tiny models' start token), where there are any
    assert f"the text is {n_tokens(LONG)} tokens (with its 1 special token)" in r.json()["detail"]
    r = lab.post("/api/analyze", json={"text": LONG, "model": "tiny-learned", "allow_beyond_trained": True})
    assert r.status_code == 422 and "none for position 128" in r.json()["detail"]
    r = lab.post("/api/analyze", json={"text": LONG * 2, "allow_beyond_trained": True})
    detail = r.json()["detail"]
    # 300 in all, not 300 more than the 128 trained (as "at most 300 tokens past its trained length" read), and how
    # much to cut, as the two refusals below say
    assert r.status_code == 422 and "runs at most 300 tokens in all, past its trained length of 128 too" in detail
    assert detail.endswith(f": cut at least {n_tokens(LONG * 2) - 300} tokens")
    # too long even past the trained length: no offer of a flag that would be refused too
    assert n_tokens(LONG * 2) > 300
    r = lab.post("/api/analyze", json={"text": LONG * 2})
    detail = r.json()["detail"]
    assert r.status_code == 422 and "at most 300 past it (max_beyond_tokens)" in detail and "allow_beyond" not in detail
    assert detail.endswith(f": cut at least {n_tokens(LONG * 2) - 300} tokens")  # (how much, not only that)
    r = lab.post("/api/analyze", json={"text": LONG, "model": "tiny-learned"})  # no way past: cut to the trained length
    assert r.json()["detail"].endswith(f"; cut at least {n_tokens(LONG) - 128} tokens")


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-rotary", "tiny-nope", ALIBI])
def test_a_long_text_runs_when_allowed_and_carries_the_warning(lab, model):
    r = lab.post("/api/analyze", json={"text": LONG, "model": model, "layers": [2], "allow_beyond_trained": True})
    assert r.status_code == 200, r.text
    body = schemas.AnalyzeResponse.model_validate(r.json())
    n = len(body.tokens)
    assert body.beyond_trained.n_tokens == n and body.beyond_trained.first_unseen == 128
    # a model given no positions meets no unseen position: it said "positions 128 to ... it never saw" of tiny-nope
    given = model != "tiny-nope"
    assert (f"positions 128 to {n - 1}" in body.beyond_trained.warning) == given
    assert ("no position is new to it" in body.beyond_trained.warning) == (not given)
    removed = lab.post("/api/analyze", json={"text": LONG, "model": model, "layers": [], "allow_beyond_trained": True,
                                             "positions": "removed"}).json()["beyond_trained"]["warning"]
    assert "no position is new to it" in removed and "positions 128 to" not in removed
    loaded = lab.alibi if model == ALIBI else registry.load(model)
    _, cache = loaded.model.run_with_cache(torch.tensor([t.id for t in body.tokens]), max_tokens=n)
    assert torch.allclose(torch.tensor(body.attention[0], dtype=torch.float64), cache["pattern", 2].double(), atol=1e-4)
    # within the trained length, nothing is said
    r = lab.post("/api/analyze", json={"text": TEXT, "model": model, "layers": [], "allow_beyond_trained": True})
    assert r.json()["beyond_trained"] is None


def test_every_text_view_takes_a_long_text(lab):
    base = {"text": LONG, "allow_beyond_trained": True}
    n = n_tokens(LONG)
    for path, extra in [("/api/qkv", {"layer": 1, "head": 0}), ("/api/attention/explain", {"layer": 0, "head": 0, "query": n - 1}),
                        ("/api/embeddings", {}), ("/api/positional/decompose", {}), ("/api/predict", {"top_k": 3})]:
        r = lab.post(path, json={**base, **extra})
        assert r.status_code == 200, (path, r.text)
        assert r.json()["beyond_trained"]["n_tokens"] == n, path
    r = lab.post("/api/compare", json={"a": {"text": LONG, "allow_beyond_trained": True},
                                       "b": {"text": LONG, "model": ALIBI, "allow_beyond_trained": True},
                                       "layer": 0, "head": 1})
    assert r.status_code == 200 and r.json()["b"]["beyond_trained"]["n_tokens"] == n
    r = lab.post("/api/compare", json={"a": {"text": LONG, "allow_beyond_trained": True}, "b": {"text": LONG}})
    assert r.status_code == 422  # each side says for itself


def test_a_continuation_stopped_past_the_trained_length_names_both_limits(lab):
    """It said "reads at most 300 tokens (max_tokens)" of a model whose max_tokens is 128: 300 is the limit past it."""
    text = " ".join(["a b"] * 146)
    n = n_tokens(text)
    assert 290 < n < 300
    body = lab.post("/api/predict", json={"text": text, "allow_beyond_trained": True, "continue_tokens": 10,
                                          "top_k": 1}).json()
    assert body["stopped"] == (f"stopped after {300 - n} of 10 tokens: model 'tiny-sinusoidal' reads at most 300 tokens "
                               "when allowed past its trained length of 128, and the text has 300 now")


def test_the_continuation_of_a_long_text_goes_on_past_the_trained_length(lab):
    n = n_tokens(LONG)
    r = lab.post("/api/predict", json={"text": LONG, "allow_beyond_trained": True, "continue_tokens": 4, "top_k": 1})
    body = r.json()
    assert r.status_code == 200 and body["stopped"] is None
    assert [t["position"] for t in body["continuation_tokens"]] == list(range(n, n + 4))
    # greedy, recomputed: each next token is the argmax of the model run on the text so far
    loaded = registry.load(registry.DEFAULT_MODEL)
    ids = [t["id"] for t in body["tokens"]]
    for t in body["continuation_tokens"]:
        nxt = int(loaded.model(torch.tensor(ids), max_tokens=300)[-1].argmax())
        assert t["id"] == nxt
        ids.append(nxt)


# --------------------------------------------------------------------------- ALiBi in the views

@pytest.mark.parametrize("iv", [{}, {"positions": "shuffled", "seed": 3}, {"positions": "removed"}, {"scale": False}],
                         ids=str)
def test_alibi_arithmetic_is_recomputed_from_q_k_and_the_bias(lab, iv):
    n = n_tokens(TEXT)
    for layer, head, query in [(0, 0, n - 1), (1, 3, 5), (3, 2, n - 2)]:
        r = lab.post("/api/attention/explain", json={"text": TEXT, "model": ALIBI, "layer": layer, "head": head,
                                                     "query": query, **iv})
        assert r.status_code == 200, r.text
        e = schemas.ExplainResponse.model_validate(r.json())
        slope = float(alibi_slopes(4)[head])
        assert e.slope == pytest.approx(slope)
        perm = e.interventions.permutation or list(range(n))
        _, cache = lab.alibi.model.run_with_cache(torch.tensor([t.id for t in e.tokens]), Interventions(
            positions=iv.get("positions", "normal"), scale=iv.get("scale", True), seed=iv.get("seed", 0)))
        dist = torch.tensor([abs(perm[query] - perm[k]) for k in range(n)], dtype=torch.float64)
        bias = torch.zeros(n, dtype=torch.float64) if iv.get("positions") == "removed" else -slope * dist
        visible = torch.arange(n) <= query
        scale = 40 ** 0.5 if iv.get("scale", True) else 1.0
        assert close(e.bias, torch.where(visible, bias, torch.nan))
        # q and k (the model's, at full precision; the answer's, rounded to 4 decimals) with the bias give the scores
        # and weights of the answer
        q4, k4 = torch.tensor(e.q, dtype=torch.float64), torch.tensor(e.keys, dtype=torch.float64)
        # rounding each entry by at most 5e-5 moves q.k by at most 5e-5 (|q|_1 + |k|_1) (+ a square term)
        rounded = 5e-5 * (q4.abs().sum() + k4.abs().sum(-1).max()) / scale + 1e-4
        for q, keys, tol in [(cache["q", layer, head][query].double(), cache["k", layer, head].double(), 1e-4),
                             (q4, k4, float(rounded))]:
            # (rounding to 4 decimals moves a value by at most 5e-5; the float32 pass's own values, up to 10 here, carry
            # about 1e-6 more: at 5e-5 exactly, one key of 12 x 40 failed by 7e-9)
            assert close(e.q, q, tol=5.1e-5) and close(e.keys, keys, tol=5.1e-5)
            scores = torch.where(visible, keys @ q / scale + bias, torch.tensor(float("-inf"), dtype=torch.float64))
            assert close(e.scores, torch.where(visible, scores, torch.nan), tol)
            assert close(e.weights, torch.softmax(scores, -1), tol)
            # the row with scaling flipped keeps the bias, unscaled, as the model adds it
            other = torch.where(visible, keys @ q / e.other_scale + bias, torch.tensor(float("-inf"), dtype=torch.float64))
            assert close(e.other_weights, torch.softmax(other, -1), tol)
        # and the model's own pattern
        assert close(e.weights, cache["pattern", layer, head][query])


def test_explain_of_other_schemes_has_no_bias_and_its_scores_are_the_scaled_ones(client):
    e = client.post("/api/attention/explain", json={"text": TEXT, "layer": 1, "head": 2, "query": 4}).json()
    assert e["bias"] is None and e["slope"] is None and e["scores"] == e["scaled_scores"]


def test_alibi_decomposition_through_the_api(lab):
    r = lab.post("/api/positional/decompose", json={"text": TEXT, "model": ALIBI, "layer": 0, "head": 1})
    assert r.status_code == 200, r.text
    d = schemas.DecomposeResponse.model_validate(r.json())
    n = len(d.tokens)
    assert "bias" in d.note and "−0.0625 × distance" in d.note
    for i in range(n):
        for j in range(i + 1):
            assert d.content_position[i][j] == d.position_content[i][j] == d.position_position[i][j] == 0
            assert d.bias[i][j] == pytest.approx(-(i - j) / 16, abs=1e-4)
            assert d.content_content[i][j] + d.bias[i][j] == pytest.approx(d.scores[i][j], abs=2e-4)
        assert all(v is None for v in d.bias[i][i + 1:])
    r = lab.post("/api/positional/decompose", json={"text": TEXT, "model": "tiny-sinusoidal"})
    assert r.json()["bias"] is None


def test_alibi_in_compare_and_interventions(lab):
    r = lab.post("/api/compare", json={"a": {"text": TEXT, "model": ALIBI}, "b": {"text": TEXT, "model": ALIBI,
                                                                                 "positions": "removed"}})
    assert r.status_code == 200
    diff = torch.tensor(r.json()["difference"])
    assert diff.abs().max() > 0.01  # removing the bias changes the patterns
    r = lab.post("/api/compare", json={"a": {"text": TEXT, "model": "tiny-nope"}, "b": {"text": TEXT, "model": ALIBI}})
    assert r.status_code == 200 and r.json()["difference"] is not None


# --------------------------------------------------------------------------- where each scheme enters

@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope", ALIBI])
def test_where_the_scheme_enters(lab, model):
    r = lab.get("/api/positional/scheme", params={"model": model, "n": 20})
    assert r.status_code == 200, r.text
    s = schemas.SchemeResponse.model_validate(r.json())
    enters, reaches, every = SCHEME_ENTRY[s.positional]
    assert (s.enters, tuple(s.reaches), s.every_layer) == (enters, reaches, every)
    marked = [step.id for step in s.steps if step.positional]
    assert marked == {"embedding": ["add_position"], "rotation": ["rotate"], "scores": ["bias"], "nothing": []}[s.enters]
    ids = [step.id for step in s.steps]
    assert ids.index("scale") < ids.index("mask") and ids[-2:] == ["softmax", "weighted_sum"]
    if "bias" in ids:
        assert ids.index("scale") < ids.index("bias") < ids.index("mask")
    loaded = lab.alibi if model == ALIBI else registry.load(model)
    _, cache = loaded.model.run_with_cache(torch.tensor([1, 2, 3]))
    hooks = s.hook_points + [step.hook.format(l=1) for step in s.steps if step.hook]
    assert all(h in cache for h in hooks), [h for h in hooks if h not in cache]
    if model == ALIBI:
        assert s.alibi.slopes == alibi_slopes(4).tolist() and s.alibi.distance == list(range(20))
        for h, slope in enumerate(s.alibi.slopes):
            assert s.alibi.bias[h] == pytest.approx([-slope * d for d in range(20)], abs=1e-4)
    else:
        assert s.alibi is None
    assert (s.rotary is not None) == (model == "tiny-rotary")
    assert (s.why_not_beyond is not None) == (model == "tiny-learned")
    # every view it names is a view of the page (the page links each step and view to it)
    named = [step.view for step in s.steps if step.view] + [v.view for v in s.views]
    assert set(named) <= set(VIEW_IDS), set(named) - set(VIEW_IDS)
    assert {(v.view, v.part) for v in s.views} >= {("poslab", "lengths"), ("poslab", "probe")}


def test_scheme_limits_and_errors(lab):
    assert lab.get("/api/positional/scheme", params={"n": 10_000}).status_code == 422
    assert lab.get("/api/positional/scheme", params={"model": "nope"}).status_code == 404


# --------------------------------------------------------------------------- the measurements

def test_lengths_and_probe_are_served_from_their_files(lab):
    curves = schemas.LengthCurves.model_validate(lab.get("/api/positional/lengths").json())
    probes = schemas.ProbeResults.model_validate(lab.get("/api/positional/probe").json())
    for body, filename in ((curves, LENGTHS_FILE), (probes, PROBE_FILE)):
        listed = [c.model for c in body.models] + [m.model for m in body.missing]
        assert listed == [n for n in registry.tiny_models() if n in listed] and sorted(listed) == sorted(registry.tiny_models())
        for c in body.models:
            data = json.loads((registry.WEIGHTS_DIR / c.model / filename).read_text())
            assert c.command == data["command"] and c.date == data["date"]
    for c in curves.models:
        data = json.loads((registry.WEIGHTS_DIR / c.model / LENGTHS_FILE).read_text())
        assert c.loss == data["loss"] and c.positions == len(c.loss) and c.trained_tokens == 128
        assert (c.why_not_beyond is not None) == (c.positional == "learned")
    for p in probes.models:
        data = json.loads((registry.WEIGHTS_DIR / p.model / PROBE_FILE).read_text())
        assert [d.r2 for d in p.depths] == [d["r2"] for d in data["depths"]]


def test_a_missing_or_stale_measurement_is_listed_with_the_command(tmp_path, monkeypatch, lab):
    for name in ("tiny-sinusoidal", "tiny-rotary"):
        shutil.copytree(registry.WEIGHTS_DIR / name, tmp_path / name)
    (tmp_path / "tiny-rotary" / LENGTHS_FILE).unlink(missing_ok=True)
    path = tmp_path / "tiny-sinusoidal" / LENGTHS_FILE
    if path.is_file():
        data = json.loads(path.read_text())
        data["weights_sha256"] = "0" * 64
        path.write_text(json.dumps(data))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    body = position_lab.lengths()
    why = {m.model: m.why for m in body.missing}
    assert body.models == [] and set(why) == {"tiny-sinusoidal", "tiny-rotary"}
    assert "python -m models.measure tiny-rotary" in why["tiny-rotary"]
    if path.is_file():
        assert "other weights" in why["tiny-sinusoidal"]


@pytest.mark.parametrize("bias", [True, False])
def test_the_projection_step_shows_a_bias_only_where_the_model_has_one(bias):
    # SmolLM2 (Llama) has no bias on Q, K and V: its step reads q = x W, the tiny models' q = x W + b
    cfg = registry.load(registry.DEFAULT_MODEL).cfg.replace(bias=bias, positional="rotary")
    loaded = dataclasses.replace(registry.load(registry.DEFAULT_MODEL), model=Transformer(cfg))
    step = next(s for s in position_lab.steps(loaded) if s.id == "project")
    assert step.title.endswith("+ b") == bias, step.title
    assert "W" in step.title


@pytest.mark.parametrize("placement", ["pre", "post"])
def test_the_norm_step_says_where_a_post_norm_model_normalises(placement):
    """MiniLM (BERT) normalises after each residual sum, not before Q, K and V: its diagram read "norm: LayerNorm of
    the residual stream" before the projection like a pre-norm model's, with no hook to show it. A post-norm model's
    step now says that its input was normalised at the end of the block before (or after the embeddings)."""
    cfg = registry.load(registry.DEFAULT_MODEL).cfg.replace(norm_placement=placement)
    loaded = dataclasses.replace(registry.load(registry.DEFAULT_MODEL), model=Transformer(cfg))
    step = next(s for s in position_lab.steps(loaded) if s.id == "norm")
    assert ("after" in step.detail and "previous block" in step.detail) == (placement == "post"), step.detail
    assert (step.hook is None) == (placement == "post")
    if placement == "post":
        assert step.title == "x (already normed)"
