"""/api/attribution/* and the sampling of /api/predict, each number checked against the model run another way."""

import math

import pytest
import torch
from fastapi.testclient import TestClient

from backend import schemas
from backend.analysis import attribution as analysis
from backend.main import create_app
from backend.service import ModelService
from backend.settings import Settings
from models import lens as lens_module
from models import registry
from models.attribution import rollout
from models.transformer import Interventions

TEXT = "Once upon a time, Lily saw a big red ball. Lily said"


def run_of(name: str, text: str, iv: Interventions | None = None):
    loaded = registry.load(name)
    ids = loaded.tokenizer.encode(text)
    logits, cache = loaded.model.run_with_cache(torch.tensor(ids), iv)
    return loaded, ids, logits, cache


def post(client, path: str, **body) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def probs_of(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.double(), -1)


# --------------------------------------------------------------------------- the model's picture

def test_models_give_the_architecture(client):
    by = {m.name: m for m in schemas.ModelList.model_validate(client.get("/api/models").json()).models}
    tiny = by["tiny-sinusoidal"]
    assert (tiny.d_model, tiny.n_heads, tiny.d_head, tiny.d_mlp, tiny.n_layers) == (160, 4, 40, 640, 4)
    assert (tiny.norm, tiny.norm_placement, tiny.final_norm, tiny.mlp) == ("layernorm", "pre", True, "gelu")
    assert tiny.unembed and tiny.tied_embeddings and tiny.bias and tiny.vocab_size == 4096
    smol, mini = by["smollm2-135m"], by["minilm-l6"]
    assert (smol.norm, smol.mlp, smol.d_mlp, smol.bias, smol.unembed, smol.tied_embeddings) == (
        "rmsnorm", "swiglu", 1536, False, True, True)
    assert (mini.norm_placement, mini.final_norm, mini.unembed, mini.d_mlp) == ("post", False, False, 1536)
    # BERT's token-type embeddings (the picture's box): MiniLM's two, as its weights hold them; none elsewhere
    assert mini.token_types == 2 == client.app.state.service.get("minilm-l6").model.W_token_type.shape[0]
    assert tiny.token_types == 0 and smol.token_types == 0
    # the token embedding's scale before the position is added (the picture's "× √160"): the config's, as the pass uses it
    for m in (tiny, smol, mini):
        assert m.embed_scale == client.app.state.service.get(m.name).cfg.embed_scale
    assert abs(tiny.embed_scale - 160 ** 0.5) < 1e-9 and smol.embed_scale == mini.embed_scale == 1
    for name in ("tiny-sinusoidal", "tiny-rotary", "smollm2-135m"):
        assert not {"lens", "logit_attribution"} & set(by[name].unavailable_views)
    assert "no unembedding" in mini.unavailable_views["lens"] and "no unembedding" in mini.unavailable_views[
        "logit_attribution"]


# --------------------------------------------------------------------------- logit lens

def test_lens_matches_the_model(client):
    body = schemas.LensResponse.model_validate(post(client, "/api/attribution/lens", text=TEXT, top_k=5))
    loaded, ids, logits, cache = run_of("tiny-sinusoidal", TEXT)
    last = len(ids) - 1
    final = probs_of(logits[last])
    assert body.position == last and body.token_is_default and body.token.id == int(final.argmax())
    assert body.token.rank == 1 and math.isclose(body.token.prob, float(final.max()), abs_tol=1e-4)
    assert len(body.cells) == loaded.cfg.n_layers and body.sublayers == ["attn", "mlp"]
    assert [c.sublayer for c in body.cells[2]] == ["attn", "mlp"]
    assert body.cells[2][0].hook == "blocks.2.hook_resid_mid" and body.cells[2][1].hook == "blocks.2.hook_resid_post"
    # after the last MLP: the model's own output distribution
    last_cell = body.cells[-1][1]
    top = final.topk(5)
    assert [p.id for p in last_cell.top] == top.indices.tolist()
    assert torch.allclose(torch.tensor([p.prob for p in last_cell.top], dtype=torch.float64), top.values, atol=1e-4)
    assert last_cell.rank == 1 and math.isclose(last_cell.prob, body.token.prob, abs_tol=1e-4)
    # an intermediate cell, recomputed from the hook through the model's final norm and tied unembedding
    ln = loaded.model.ln_final
    with torch.no_grad():
        x = cache["blocks.1.hook_resid_mid"][last]
        read = probs_of(torch.nn.functional.layer_norm(x, (160,), ln.w, ln.b, ln.eps) @ loaded.model.W_E.T)
    assert math.isclose(body.cells[1][0].prob, float(read[body.token.id]), abs_tol=1e-4)
    assert body.cells[1][0].rank == int((read > read[body.token.id]).sum()) + 1
    assert "not what the model would output" in body.note
    assert body.model == "tiny-sinusoidal" and body.interventions.ablate == []


def test_lens_position_token_and_interventions(client):
    loaded, ids, logits, _ = run_of("tiny-rotary", TEXT, Interventions(ablate=((1, 1),)))
    body = schemas.LensResponse.model_validate(post(
        client, "/api/attribution/lens", text=TEXT, model="tiny-rotary", position=3, token=42, ablate=[[1, 1]]))
    p = probs_of(logits[3])
    assert body.position == 3 and not body.token_is_default and body.token.id == 42
    assert math.isclose(body.cells[-1][1].prob, float(p[42]), abs_tol=1e-4)
    assert body.cells[-1][1].rank == int((p > p[42]).sum()) + 1
    assert body.interventions.ablate == [(1, 1)] and body.model == "tiny-rotary"


# --------------------------------------------------------------------------- direct logit attribution

@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-rotary", "tiny-nope"])
def test_logit_attribution_adds_up_to_the_logit(client, name):
    loaded, ids, logits, _ = run_of(name, TEXT, Interventions(ablate=((2, 3),)))
    last = len(ids) - 1
    second = int(logits[last].topk(2).indices[1])
    for versus in (None, second):
        body = schemas.LogitAttributionResponse.model_validate(post(
            client, "/api/attribution/logit", text=TEXT, model=name, versus=versus, ablate=[[2, 3]]))
        want = float(logits[last, body.token.id] - (logits[last, versus] if versus is not None else 0))
        assert math.isclose(body.logit, want, abs_tol=1e-4) and math.isclose(body.total, body.logit, abs_tol=2e-4)
        values = [v for row in body.heads for v in row] + [p.value for p in body.parts]
        assert math.isclose(math.fsum(values), want, abs_tol=len(values) * 5e-5)  # each value rounded to 4 places
        assert body.heads[2][3] == 0.0  # an ablated head adds nothing
        assert body.norm == "layernorm" and body.centring_removed is not None and "centred" in body.note
        assert "the embeddings and the biases add to" in body.note and "float32 rounding" in body.note
        assert ("pos_embed" in {p.kind for p in body.parts}) == (name == "tiny-sinusoidal")
        assert (body.versus is None) == (versus is None)
    assert body.target == f"logit(“{body.token.display}”) - logit(“{body.versus.display}”)"


def test_bad_position_token_and_layers_are_422(client):
    n = len(registry.load("tiny-sinusoidal").tokenizer.encode(TEXT))
    for path, extra, words in [
        ("/api/attribution/lens", {"position": n}, f"position {n} does not exist"),
        ("/api/attribution/lens", {"token": 4096}, "not a token id"),
        ("/api/attribution/logit", {"versus": 99999}, "versus 99999 is not a token id"),
        ("/api/attribution/logit", {"position": -1}, "does not exist"),
        ("/api/attribution/attention", {"layer": 4, "head": 0}, "layer 4 does not exist"),
        ("/api/attribution/attention", {"layer": 0, "head": 0, "residual": 1.5}, "residual"),
        ("/api/attribution/ablation", {"layers": [7]}, "layers: layer 7 does not exist"),
        ("/api/attribution/ablation", {"layers": [1, 1]}, "more than once"),
        ("/api/attribution/lens", {"top_k": 51}, "max_top_k"),
        # a token against itself: the difference is 0 whatever the model does ("favours ↵ over ↵")
        ("/api/attribution/logit", {"token": 42, "versus": 42}, "versus is the token explained"),
        ("/api/attribution/ablation", {"token": 42, "versus": 42, "layers": [0]}, "versus is the token explained"),
    ]:
        r = client.post(path, json={"text": TEXT, **extra})
        assert r.status_code == 422 and words in r.json()["detail"], (path, extra, r.text)


# --------------------------------------------------------------------------- attention beside what it moves

def test_attention_attribution_matches_the_cache(client):
    body = schemas.AttentionAttributionResponse.model_validate(post(
        client, "/api/attribution/attention", text=TEXT, layer=2, head=1, residual=0.3))
    loaded, ids, _, cache = run_of("tiny-sinusoidal", TEXT)
    n = len(ids)
    pattern = cache["pattern", 2, 1].double()
    assert torch.allclose(torch.tensor(body.raw, dtype=torch.float64), pattern, atol=1e-4)
    # ‖alpha_ij v_j W_O‖ with the head's own v and W_O
    with torch.no_grad():
        size = (cache["v", 2, 1] @ loaded.model.blocks[2].attn.W_O[1]).norm(dim=-1).double()  # [k]
    assert torch.allclose(torch.tensor(body.value_weighted, dtype=torch.float64), pattern * size, atol=1e-4)
    patterns = torch.stack([cache["pattern", layer] for layer in range(4)])
    assert torch.allclose(torch.tensor(body.rollout, dtype=torch.float64), rollout(patterns, 0.3), atol=1e-4)
    assert torch.allclose(torch.tensor(body.rollout_to_layer, dtype=torch.float64), rollout(patterns[:3], 0.3), atol=1e-4)
    assert torch.allclose(torch.tensor(body.rollout, dtype=torch.float64).sum(-1), torch.ones(n, dtype=torch.float64),
                          atol=n * 1e-4)
    assert torch.allclose(torch.tensor(body.layer_raw, dtype=torch.float64), patterns[2].double().mean(0), atol=1e-4)
    assert len(body.layer_value_weighted) == n and body.causal and body.residual == 0.3
    assert "not a causal explanation" in body.captions.raw and "Kobayashi" in body.captions.value_weighted


def test_the_layer_mean_leaves_out_ablated_heads_as_the_rollout_does(client):
    """An ablated head's output is zero, so it moves nothing: the rollout left it out of its layer's mean, but the
    panel beside it ("Layer 2: attention, mean of the heads") still averaged it in. Now both average the heads that
    are not ablated; a layer with every head ablated has no mean (zero) and passes the residual on in the rollout."""
    for ablate in ([[2, 0], [2, 3]], [[2, 0], [2, 1], [2, 2], [2, 3]]):
        iv = Interventions(ablate=tuple(map(tuple, ablate)))
        body = schemas.AttentionAttributionResponse.model_validate(post(
            client, "/api/attribution/attention", text=TEXT, layer=2, head=1, ablate=ablate))
        _, ids, _, cache = run_of("tiny-sinusoidal", TEXT, iv)
        live = [h for h in range(4) if [2, h] not in ablate]
        want = (torch.stack([cache["pattern", 2, h].double() for h in live]).mean(0) if live
                else torch.zeros(len(ids), len(ids), dtype=torch.float64))
        assert torch.allclose(torch.tensor(body.layer_raw, dtype=torch.float64), want, atol=1e-4), ablate
        patterns = torch.stack([cache["pattern", layer] for layer in range(4)])
        assert torch.allclose(torch.tensor(body.rollout, dtype=torch.float64),
                              rollout(patterns, 0.5, iv.ablate), atol=1e-4)
        # (the rollout, by hand: each layer's mean over its live heads, the identity for a layer with none)
        eye = torch.eye(len(ids), dtype=torch.float64)
        prev = eye
        for layer in range(4):
            heads = [h for h in range(4) if [layer, h] not in ablate]
            mean = torch.stack([cache["pattern", layer, h].double() for h in heads]).mean(0) if heads else eye
            a = 0.5 * mean + 0.5 * eye
            prev = (a / a.sum(-1, keepdim=True)) @ prev
        assert torch.allclose(torch.tensor(body.rollout, dtype=torch.float64), prev, atol=1e-4)


# --------------------------------------------------------------------------- measured ablation

def test_ablation_effect_is_the_difference_of_two_full_runs(client):
    body = schemas.AblationResponse.model_validate(post(
        client, "/api/attribution/ablation", text=TEXT, layers=[3, 1], ablate=[[1, 2]]))
    loaded, ids, base_logits, _ = run_of("tiny-sinusoidal", TEXT, Interventions(ablate=((1, 2),)))
    last, t = len(ids) - 1, body.token.id
    base = probs_of(base_logits[last])[t]
    assert body.layers == [3, 1] and [len(row) for row in body.effects] == [4, 4]
    for row in body.effects:
        for e in row:
            with torch.inference_mode():
                alone = loaded.model(torch.tensor(ids), Interventions(ablate=((1, 2), (e.layer, e.head))))
            p = probs_of(alone[last])[t]
            assert math.isclose(e.prob, float(p), abs_tol=1e-4), (e.layer, e.head)
            assert math.isclose(e.delta_prob, float(p - base), abs_tol=1e-4)
            assert math.isclose(e.delta_value, float(alone[last, t] - base_logits[last, t]), abs_tol=1e-4)
            assert e.already_ablated == ((e.layer, e.head) == (1, 2))
    assert body.effects[1][2].delta_prob == 0 and body.passes == 7
    assert "measured" in body.caption and body.target == f"logit(“{body.token.display}”)"
    # the token as the page shows it everywhere (a space as ␣, a newline as ↵), not its raw text
    assert f"probability of “{body.token.display}”" in body.caption


class CountingService(ModelService):
    def __init__(self, settings):
        super().__init__(settings)
        self.forwards = 0
        self.in_slot = 0  # forward passes made while the thread held a slot of the limiter

    def _forward(self, loaded, ids, iv, hooks=None):
        self.forwards += 1
        self.in_slot += getattr(self._local, "depth", 0) > 0
        return super()._forward(loaded, ids, iv, hooks)


def test_ablation_passes_go_through_the_service_and_its_limits():
    settings = Settings(max_ablation_heads=8)
    service = CountingService(settings)
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as c:
        service.forwards = service.in_slot = 0
        first = post(c, "/api/attribution/ablation", text=TEXT, layers=[0, 2])
        assert service.forwards == service.in_slot == 1 + 8  # the run, then one pass per head, each in the slot
        assert first["passes"] == 8 and first["reused"] == 0
        again = post(c, "/api/attribution/ablation", text=TEXT, layers=[0, 1])
        assert service.forwards == 9 + 4  # kept passes are reused: layer 0's four, and said so
        assert again["passes"] == 8 and again["reused"] == 4
        r = c.post("/api/attribution/ablation", json={"text": TEXT})
        assert r.status_code == 422 and "limit is 8" in r.json()["detail"] and "max_ablation_heads" in r.json()["detail"]


# --------------------------------------------------------------------------- sampling and generation

def test_sampling_with_a_seed_repeats_and_reports_the_seed(client):
    req = {"text": TEXT, "continue_tokens": 6, "temperature": 1.3,
           "sampling": {"method": "sample", "top_k": 30, "top_p": 0.95}}
    first = schemas.PredictResponse.model_validate(post(client, "/api/predict", **req))
    seed = first.sampling.seed
    assert first.sampling.method == "sample" and seed is not None
    again = schemas.PredictResponse.model_validate(post(
        client, "/api/predict", **{**req, "sampling": {**req["sampling"], "seed": seed}}))
    assert again.continuation == first.continuation and again.sampling.seed == seed
    assert [s.token.id for s in again.steps] == [t.id for t in first.continuation_tokens]
    # each step's numbers from a run of the model on the text so far
    loaded = registry.load("tiny-sinusoidal")
    ids = loaded.tokenizer.encode(TEXT)
    from models.sampling import distribution, kept
    for step in first.steps:
        with torch.inference_mode():
            p = distribution(loaded.model(torch.tensor(ids))[-1], 1.3)
        keep = kept(p, 30, 0.95)
        assert step.token.position == len(ids) and keep[step.token.id]
        assert step.kept_size == int(keep.sum()) <= 30
        assert math.isclose(step.prob, float(p[step.token.id]), abs_tol=1e-4)
        assert math.isclose(step.kept_prob, float(p[step.token.id] / p[keep].sum()), abs_tol=1e-4)
        ids.append(step.token.id)


def test_greedy_continuation_and_the_kept_set(client):
    body = schemas.PredictResponse.model_validate(post(
        client, "/api/predict", text=TEXT, continue_tokens=4, top_k=10, sampling={"top_p": 0.9}))
    assert body.sampling.method == "greedy" and body.sampling.seed is None and body.sampling.top_p == 0.9
    loaded = registry.load("tiny-sinusoidal")
    ids = loaded.tokenizer.encode(TEXT)
    with torch.inference_mode():
        p = probs_of(loaded.model(torch.tensor(ids))[-1])
    running = torch.cumsum(p.sort(descending=True).values, 0)
    size = int((running < 0.9).sum()) + 1  # the smallest number of top tokens whose probability reaches 0.9
    assert body.kept.size == size and math.isclose(body.kept.mass, float(running[size - 1]), abs_tol=1e-4)
    for step in body.steps:
        with torch.inference_mode():
            nxt = int(loaded.model(torch.tensor(ids))[-1].argmax())
        assert step.token.id == nxt
        ids.append(nxt)
    # the continued text reads as the same tokens, so analysing it shows each generated token's attention row
    assert body.full_text == TEXT + body.continuation and body.full_text_same_tokens
    analyzed = schemas.AnalyzeResponse.model_validate(post(client, "/api/analyze", text=body.full_text, layers=[0]))
    assert [t.id for t in analyzed.tokens] == ids
    row = analyzed.attention[0][0][body.steps[-1].token.position]
    assert len(row) == len(ids) and math.isclose(sum(row), 1.0, abs_tol=1e-3)


def test_sampling_with_top_k_1_is_greedy(client):
    greedy = post(client, "/api/predict", text=TEXT, continue_tokens=5)
    sampled = post(client, "/api/predict", text=TEXT, continue_tokens=5,
                   sampling={"method": "sample", "top_k": 1, "seed": 3})
    assert sampled["continuation"] == greedy["continuation"]
    assert all(s["kept_size"] == 1 and s["kept_prob"] == 1.0 for s in sampled["steps"])
    for bad in ({"top_p": 0}, {"top_p": 1.2}, {"top_k": 0}, {"seed": -1}, {"method": "beam"}, {"temperature": 1}):
        r = client.post("/api/predict", json={"text": TEXT, "sampling": bad})
        assert r.status_code == 422, bad


# --------------------------------------------------------------------------- the pretrained models

def test_minilm_refuses_the_lens_and_logit_attribution_but_not_attention(client, minilm):
    for path in ("/api/attribution/lens", "/api/attribution/logit", "/api/attribution/ablation"):
        r = client.post(path, json={"text": TEXT, "model": "minilm-l6"})
        assert r.status_code == 422 and "no unembedding" in r.json()["detail"], path
    body = schemas.AttentionAttributionResponse.model_validate(post(
        client, "/api/attribution/attention", text=TEXT, model="minilm-l6", layer=5, head=11))
    n = len(body.tokens)
    assert not body.causal and all(v > 0 for v in body.rollout[0])  # bidirectional: every key reaches every query
    assert all(math.isclose(sum(row), 1.0, abs_tol=n * 1e-4) for row in body.rollout)


@pytest.mark.slow
def test_smollm2_lens_attribution_and_ablation(client, smollm2):
    text = "The capital of France is Paris. The capital of Italy is"
    ids = smollm2.tokenizer.encode(text)
    with torch.inference_mode():
        logits = smollm2.model(torch.tensor(ids))
    last = len(ids) - 1
    lens = schemas.LensResponse.model_validate(post(client, "/api/attribution/lens", text=text, model="smollm2-135m"))
    assert len(lens.cells) == 30 and lens.token.display == "\u2423Rome" and lens.cells[-1][1].rank == 1
    assert math.isclose(lens.cells[-1][1].prob, float(probs_of(logits[last]).max()), abs_tol=1e-4)
    att = schemas.LogitAttributionResponse.model_validate(post(
        client, "/api/attribution/logit", text=text, model="smollm2-135m"))
    assert len(att.heads) == 30 and len(att.heads[0]) == 9 and att.norm == "rmsnorm" and att.centring_removed is None
    assert {p.kind for p in att.parts} == {"embed", "mlp"}  # no biases, no positional embedding
    assert "the biases" not in att.note and "each MLP and the embeddings add to" in att.note  # (it named biases; no "and")
    values = [v for row in att.heads for v in row] + [p.value for p in att.parts]
    assert math.isclose(math.fsum(values), float(logits[last, att.token.id]), abs_tol=len(values) * 5e-5)
    assert math.isclose(att.total, att.logit, rel_tol=1e-4)
    attn = schemas.AttentionAttributionResponse.model_validate(post(
        client, "/api/attribution/attention", text=text, model="smollm2-135m", layer=20, head=4))
    assert len(attn.value_weighted) == len(ids)
    abl = schemas.AblationResponse.model_validate(post(
        client, "/api/attribution/ablation", text=text, model="smollm2-135m", layers=[20]))
    e = abl.effects[0][4]
    with torch.inference_mode():
        alone = smollm2.model(torch.tensor(ids), Interventions(ablate=((20, 4),)))
    assert math.isclose(e.prob, float(probs_of(alone[last])[abl.token.id]), abs_tol=1e-4)
    r = client.post("/api/attribution/ablation", json={"text": text, "model": "smollm2-135m"})
    assert r.status_code == 422 and "270 heads" in r.json()["detail"]


@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-rotary", pytest.param("smollm2-135m", marks=pytest.mark.slow)])
def test_analyze_with_why_carries_the_lens_and_attribution_endpoints_answers(client, name, request):
    """`why` on /api/analyze: the same lens and logit attribution as their own endpoints give by default (and as
    they give for the last position named), on the same pass; the rest of the analysis unchanged."""
    if name == "smollm2-135m":
        request.getfixturevalue("smollm2")
    body = {"text": TEXT, "model": name, "ablate": [[1, 1], [0, 2]], "top_k": 7, "layers": [0]}  # (a pass of its own)
    both = post(client, "/api/analyze", **body, why=True)  # first: on SmolLM2 its lens is read during its pass
    plain = post(client, "/api/analyze", **body)
    lens, logit = both.pop("lens"), both.pop("logit")
    assert plain.pop("lens") is None and plain.pop("logit") is None
    assert both == plain
    common = {"text": TEXT, "model": name, "ablate": [[1, 1], [0, 2]]}
    assert lens == post(client, "/api/attribution/lens", **common, top_k=7)
    assert logit == post(client, "/api/attribution/logit", **common)
    last = len(plain["tokens"]) - 1
    assert lens == post(client, "/api/attribution/lens", **common, top_k=7, position=last)
    assert lens["position"] == logit["position"] == last and lens["token"] == logit["token"]
    assert lens["token"]["id"] == plain["predictions"][0]["id"]  # the analysis's own top-1
    assert len(lens["cells"]) == plain["n_layers"] and len(logit["heads"]) == plain["n_layers"]


@pytest.mark.parametrize("name, layer, head", [("tiny-sinusoidal", 2, 1), ("tiny-rotary", 0, 3), ("minilm-l6", 5, 11),
                                               pytest.param("smollm2-135m", 20, 4, marks=pytest.mark.slow)])
def test_analyze_with_attention_attribution_carries_the_attention_routes_answer(client, name, layer, head, request):
    """`attention_attribution` on /api/analyze (the effects view's first picture in one request): the answer of
    /api/attribution/attention for that head, on every model (an encoder, GQA); the rest of the analysis unchanged."""
    if name in ("minilm-l6", "smollm2-135m"):
        request.getfixturevalue(name.split("-")[0])
    body = {"text": TEXT, "model": name, "ablate": [[1, 1]], "top_k": 7, "layers": []}
    both = post(client, "/api/analyze", **body, attention_attribution={"layer": layer, "head": head})
    carried = both.pop("attention_attribution")
    plain = post(client, "/api/analyze", **body)
    assert plain.pop("attention_attribution") is None
    assert both == plain
    own = post(client, "/api/attribution/attention", text=TEXT, model=name, ablate=[[1, 1]], layer=layer, head=head)
    assert carried == own and (carried["layer"], carried["head"]) == (layer, head)
    assert len(carried["raw"]) == len(plain["tokens"])


def test_analyze_refuses_a_head_the_model_lacks_before_its_pass(client):
    text = TEXT + " (a sentence of its own)"
    service = client.app.state.service
    for choice, says in [({"layer": 4, "head": 0}, "layer 4 does not exist"), ({"layer": 0, "head": 4}, "head 4 does not exist")]:
        r = client.post("/api/analyze", json={"text": text, "attention_attribution": choice})
        assert r.status_code == 422 and r.json()["detail"].startswith(f"attention_attribution: {says}"), r.text
        assert not service.known(None, text, Interventions())  # no pass was run for it
    r = client.post("/api/analyze", json={"text": TEXT, "attention_attribution": {"layer": 0}})
    assert r.status_code == 422  # both named


def test_the_lens_read_during_a_new_sentences_pass_is_the_lens_read_after_it(monkeypatch):
    """On a model whose lens is read in parts (SmolLM2's vocabulary; here the default model's, counted as large), a
    request for the last position on a sentence not seen before reads its parts on the other core during the forward
    pass (the first for certain; the last too where that core is free again by then): the numbers are those of the
    same lens read after the pass, from the kept pass."""
    monkeypatch.setattr(lens_module, "BLOCKED_ABOVE", 0)
    taken = []  # the parts whose reading came from the read ahead
    took = lens_module.ReadAhead.took

    def spied(self, part, points):
        got = took(self, part, points)
        if got:
            taken.append(part)
        return got

    monkeypatch.setattr(lens_module.ReadAhead, "took", spied)
    settings = Settings()
    with TestClient(create_app(settings, ModelService(settings))) as c:  # nothing kept yet
        an = post(c, "/api/analyze", text=TEXT, top_k=7, layers=[], why=True)
        assert taken in ([0], [0, 1])  # the first part read ahead and taken (and the last, where it was read ahead)
        taken.clear()
        last = len(an["tokens"]) - 1
        assert an["lens"] == post(c, "/api/attribution/lens", text=TEXT, top_k=7, position=last)  # read after
        assert taken == []  # (a position named: nothing read ahead)
        text = TEXT + " It"
        lens = post(c, "/api/attribution/lens", text=text, top_k=7)  # the lens route on a new sentence: ahead too
        assert taken in ([0], [0, 1])
        assert lens == post(c, "/api/attribution/lens", text=text, top_k=7, position=lens["position"])


def test_the_attribution_routes_take_allow_beyond_trained_as_the_analysis_does(client):
    """A text past the trained length: with `allow_beyond_trained` every route explains it (the analysis's carried
    lens and attribution are the lens and logit routes' answers); without it each says to send it."""
    text = "The cat sat on the mat. " * 25
    common = {"text": text, "allow_beyond_trained": True}
    an = post(client, "/api/analyze", **common, top_k=5, layers=[], why=True)
    assert len(an["tokens"]) > 128 and an["beyond_trained"] is not None  # tiny-sinusoidal: trained on 128
    assert an["lens"] == post(client, "/api/attribution/lens", **common, top_k=5)
    assert an["logit"] == post(client, "/api/attribution/logit", **common)
    assert post(client, "/api/attribution/lens", **common, position=5)["position"] == 5
    assert post(client, "/api/attribution/attention", **common, layer=1, head=1)["layer"] == 1
    abl = post(client, "/api/attribution/ablation", **common, layers=[0])
    assert len(abl["effects"]) == 1 and len(abl["effects"][0]) == an["n_heads"]
    for path, extra in [("/api/attribution/lens", {}), ("/api/attribution/logit", {}), ("/api/attribution/ablation", {"layers": [0]}),
                        ("/api/attribution/attention", {"layer": 1, "head": 1})]:
        r = client.post(path, json={"text": text, **extra})
        assert r.status_code == 422 and "allow_beyond_trained" in r.json()["detail"], path


def test_analyze_with_why_on_an_encoder_says_why_not(client, minilm):
    r = client.post("/api/analyze", json={"text": TEXT, "model": "minilm-l6", "why": True})
    assert r.status_code == 422 and r.json()["detail"].startswith("why: ") and "no unembedding" in r.json()["detail"]
    assert client.post("/api/analyze", json={"text": TEXT, "model": "minilm-l6"}).status_code == 200


def test_check_applies_names_the_reason():
    with pytest.raises(ValueError, match="no unembedding"):
        analysis.check_applies(registry.LoadedModel("x", None, None, registry.info("minilm-l6")), "lens")


# --------------------------------------------------------------------------- notebook and figures

def test_notebook_logit_lens_draws_the_apis_numbers(client):
    from backend import figures, notebook

    out = notebook.logit_lens(TEXT, token=" ball")
    api = schemas.LensResponse.model_validate(post(client, "/api/attribution/lens", text=TEXT,
                                                   token=out.data["lens"].token.id))
    assert out.data["lens"] == api and out.unavailable == {}
    assert api.token.display == "\u2423ball" and api.token.text == " ball"
    trace, embed = out.figures["lens"].data
    assert [list(row) for row in trace.z] == [[c.prob for c in row] for row in api.cells]
    assert list(trace.y) == list(range(1, len(api.cells) + 1))
    assert trace.text[-1][1] == figures.esc(api.cells[-1][1].top[0].display)
    # the embeddings' one reading, before any block: one cell across both columns (its edges), in the first row
    assert ([list(row) for row in embed.z], list(embed.x), list(embed.y)) == ([[api.embedding.prob]], [-0.5, 1.5], [-0.5, 0.5])
    out.figures["lens"].to_json()
    with pytest.raises(ValueError, match="not one token"):
        notebook.logit_lens(TEXT, token="antidisestablishmentarianism")


def test_notebook_attribution_draws_the_apis_numbers(client):
    from backend import notebook

    out = notebook.attribution(TEXT, versus=" to", layer=1, head=2, ablation=True, ablate=[(0, 1)])
    assert set(out.figures) == {"heads", "parts", "attention", "ablation"} and out.unavailable == {}
    logit = out.data["logit"]
    api = schemas.LogitAttributionResponse.model_validate(post(
        client, "/api/attribution/logit", text=TEXT, versus=logit.versus.id, ablate=[[0, 1]]))
    assert logit == api and api.versus.display == "\u2423to"
    assert [list(r) for r in out.figures["heads"].data[0].z] == api.heads
    bars = out.figures["parts"].data[0]
    assert list(bars.x) == [p.value for p in api.parts] + [api.heads_total]
    assert math.isclose(api.heads_total, sum(v for row in api.heads for v in row), abs_tol=len(api.heads) * 4 * 5e-5)
    ablation = out.data["ablation"]
    assert ablation.layers == [0, 1, 2, 3] and ablation.passes == 15  # 16 heads, one ablated already
    # asked again, a layer at a time (a limit of 4 heads), every ablated run is one the service kept: the counts of
    # the pieces add up
    notebook.set_service(ModelService(Settings(max_ablation_heads=4)))
    try:
        first, again = (notebook.attribution(TEXT, versus=" to", ablation=True, ablate=[(0, 1)]).data["ablation"]
                        for _ in range(2))
    finally:
        notebook.set_service(None)
    assert first.passes == again.passes == 15 and (first.reused, again.reused) == (0, 15)
    assert again.layers == [0, 1, 2, 3] and again.effects == first.effects == ablation.effects
    assert [list(r) for r in out.figures["ablation"].data[0].z] == [[e.delta_prob for e in row] for row in ablation.effects]
    att = out.data["attention"]
    assert [list(r) for r in out.figures["attention"].data[1].z] == [
        [None if j > i else v for j, v in enumerate(row)] for i, row in enumerate(att.value_weighted)]
    for fig in out.figures.values():
        fig.to_json()


def test_notebook_attribution_on_an_encoder_keeps_the_attention(minilm):
    from backend import notebook

    out = notebook.attribution(TEXT, model="minilm-l6", layer=0, head=0, ablation=True)
    assert set(out.figures) == {"attention"} and "no unembedding" in out.unavailable["logit_attribution"]
    with pytest.raises(ValueError, match="no unembedding"):
        notebook.logit_lens(TEXT, model="minilm-l6")


def test_figures_keep_token_text_as_text():
    """A token that looks like markup or like a Plotly template reaches the figures escaped, and only as data."""
    import json

    from backend import figures

    hostile = "<b>%{z}</b>"
    api = post_free_lens(hostile)
    fig = figures.lens_table(api)
    logit = schemas.LogitAttributionResponse(
        **{k: getattr(api, k) for k in ("model", "interventions", "tokens", "position", "token", "token_is_default")},
        target=f"logit({hostile})", logit=1.0, total=1.0, heads=[[0.5, 0.5]], heads_total=1.0, parts=[], norm=None,
        norm_scale=1.0, centring_removed=None, note="n")
    for f in (fig, figures.attribution_heads(logit), figures.attribution_parts(logit)):
        text = json.dumps(f.to_plotly_json(), default=str)
        assert "<b>%{z}" not in text and "&lt;b&gt;%{z}&lt;/b&gt;" in text
        assert all(hostile not in str(t.hovertemplate) and "&lt;b&gt;" not in str(t.hovertemplate) for t in f.data)


def test_the_lens_figure_s_note_is_wrapped_under_the_plot(client):
    """Plotly does not wrap an annotation: the lens figure's note (one long sentence) goes in lines of at most
    NOTE_CHARS characters, which together are the whole note, with the bottom margin grown to hold them."""
    from backend import figures

    api = schemas.LensResponse.model_validate(client.post("/api/attribution/lens", json={"text": TEXT}).json())
    fig = figures.lens_table(api)
    lines = fig.layout.annotations[0].text.split("<br>")
    assert len(lines) >= 2 and max(map(len, lines)) <= figures.NOTE_CHARS
    assert " ".join(lines) == figures.esc(" ".join(api.note.split()))
    assert fig.layout.margin.b >= 14 * len(lines)


def post_free_lens(text: str) -> schemas.LensResponse:
    cell = schemas.LensCell(layer=0, sublayer="attn", hook="blocks.0.hook_resid_mid",
                            top=[schemas.Prediction(id=1, text=text, display=text, prob=0.5)], prob=0.5, rank=1)
    return schemas.LensResponse(
        model="m", interventions=schemas.AppliedInterventions(positions="normal", scale=True, ablate=[], seed=0),
        tokens=[schemas.Token(id=1, text=text, display=text, position=0)], position=0,
        token=schemas.TargetToken(id=1, text=text, display=text, prob=0.5, logit=1.0, rank=1), token_is_default=True, n_layers=1,
        sublayers=["attn", "mlp"], embedding=cell.model_copy(update={"layer": None, "sublayer": "embed"}),
        cells=[[cell, cell.model_copy(update={"sublayer": "mlp"})]], note="n",
        settled=schemas.LensSettled(reached=True, layer=None, sublayer="embed"))  # (rank 1 at every reading)
