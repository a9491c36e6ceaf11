"""Every endpoint through TestClient: status, schema, shapes, and values equal to the model's own cache."""

import base64
import math
import re

import numpy as np
import pytest
import torch

from backend import schemas
from backend.analysis.common import packed_rounded, rnd
from models import registry
from models.positional import sinusoidal_encoding
from models.transformer import Interventions

TEXT = "The cat sat on the mat because it was tired."


def cache_of(name: str, text: str, iv: Interventions | None = None):
    loaded = registry.load(name)
    ids = loaded.tokenizer.encode(text)
    return loaded, ids, loaded.model.run_with_cache(torch.tensor(ids), iv)


def close(a, b, tol=1e-4):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), atol=tol)


def test_health(client):
    assert client.get("/api/health").json() == {"status": "ok"}


def test_models_lists_the_four_tiny_models(client):
    body = schemas.ModelList.model_validate(client.get("/api/models").json())
    names = [m.name for m in body.models]
    assert names[:4] == ["tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope"]
    assert body.default == "tiny-sinusoidal" and [m.default for m in body.models].count(True) == 1
    by = {m.name: m for m in body.models}
    assert by["tiny-rotary"].positional == "rotary" and "positional.decompose" in by["tiny-rotary"].unavailable_views
    assert "positional.encoding" in by["tiny-nope"].unavailable_views
    assert by["tiny-sinusoidal"].unavailable_views == {}
    for m in body.models[:4]:
        assert m.available and m.kind == "causal" and m.max_tokens == 128
        assert 1_000_000 <= m.params <= 5_000_000 and m.metrics["val_bits_per_char"] > 0


def test_analyze_matches_the_cache(client):
    r = client.post("/api/analyze", json={"text": TEXT, "top_k": 5})
    assert r.status_code == 200
    body = schemas.AnalyzeResponse.model_validate(r.json())
    loaded, ids, (logits, cache) = cache_of("tiny-sinusoidal", TEXT)
    n, cfg = len(ids), loaded.cfg
    assert [t.id for t in body.tokens] == ids and [t.position for t in body.tokens] == list(range(n))
    assert body.tokens[0].display == "<|bos|>" and body.tokens[2].display == "\u2423cat"
    assert body.tokens[0].text == "" and body.tokens[2].text == " cat" and body.tokens[0].special
    att = torch.tensor(body.attention)
    assert att.shape == (cfg.n_layers, cfg.n_heads, n, n)
    for layer in range(cfg.n_layers):
        assert close(att[layer], cache["pattern", layer])
    probs = torch.softmax(logits[-1].double(), -1)
    top = probs.topk(5)
    assert [p.id for p in body.predictions] == top.indices.tolist()
    assert close([p.prob for p in body.predictions], top.values)
    # the head summary by hand: position 0 is the BOS, never a query; the token before counts from position 2
    h = body.heads[1][2]
    pattern = cache["pattern", 1, 2].double()  # [q, k]
    assert math.isclose(h.first_token, float(pattern[1:, 0].mean()), abs_tol=1e-4)
    assert math.isclose(h.previous_token, float(pattern.diagonal(-1)[1:].mean()), abs_tol=1e-4)
    assert math.isclose(h.self_token, float(pattern.diagonal()[1:].mean()), abs_tol=1e-4)
    rows = pattern[1:]  # [q, k]: a row's entropy over the keys it sees (the later ones are 0)
    assert math.isclose(h.entropy, float(-(rows * rows.clamp_min(1e-300).log()).sum(-1).mean()), abs_tol=1e-4)
    assert body.model == "tiny-sinusoidal" and body.interventions.positions == "normal"


def thumbnails_of(packed: schemas.PackedWeights) -> torch.Tensor:
    """The answer's 8-bit `thumbnails` as weights, [layer, head, query, key]."""
    raw = base64.b64decode(packed.data, validate=True)
    assert packed.dtype == "uint8" and len(raw) == math.prod(packed.shape)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(packed.shape).double() / packed.scale


def test_analyze_layers_and_thumbnails_match_the_cache(client):
    r = client.post("/api/analyze", json={"text": TEXT, "top_k": 5, "layers": [3, 1], "thumbnails": True})
    assert r.status_code == 200
    body = schemas.AnalyzeResponse.model_validate(r.json())
    loaded, ids, (_, cache) = cache_of("tiny-sinusoidal", TEXT)
    n, cfg = len(ids), loaded.cfg
    # `attention` holds the layers asked for, in that order, at full precision
    assert body.layers == [3, 1]
    att = torch.tensor(body.attention)
    assert att.shape == (2, cfg.n_heads, n, n)
    assert close(att[0], cache["pattern", 3]) and close(att[1], cache["pattern", 1])
    # every layer x head in 8 bits: within half a step (1/510) of the model's own weights, masked cells 0
    assert body.thumbnails.scale == 255 and body.thumbnails.shape == [cfg.n_layers, cfg.n_heads, n, n]
    thumbs = thumbnails_of(body.thumbnails)
    full = torch.stack([cache["pattern", layer] for layer in range(cfg.n_layers)]).double()  # [layer, head, q, k]
    assert float((thumbs - full).abs().max()) <= 1 / 510 + 1e-9
    assert float((thumbs - full).abs().max()) > 0  # 8 bits, not a copy of the full weights
    assert thumbs.triu(1).abs().sum() == 0
    # the rest of the answer is the same as without the new fields, which give every layer and no thumbnails
    plain = client.post("/api/analyze", json={"text": TEXT, "top_k": 5}).json()
    assert plain["layers"] == list(range(cfg.n_layers)) and plain["thumbnails"] is None
    assert plain["attention"][3] == r.json()["attention"][0] and plain["attention"][1] == r.json()["attention"][1]
    for key in ("tokens", "heads", "predictions", "interventions", "n_layers", "n_heads", "causal"):
        assert plain[key] == r.json()[key], key
    # no full-precision layer at all: the thumbnails alone
    none = client.post("/api/analyze", json={"text": TEXT, "layers": [], "thumbnails": True}).json()
    assert none["layers"] == [] and none["attention"] == [] and none["thumbnails"]["data"] == body.thumbnails.data
    # no per-head summary (the Why views' analysis): the rest as with it
    bare = client.post("/api/analyze", json={"text": TEXT, "top_k": 5, "heads": False}).json()
    assert bare.pop("heads") is None and plain.pop("heads") and bare == plain


@pytest.mark.parametrize("model,text", [("tiny-sinusoidal", TEXT), ("tiny-alibi", "a"), ("smollm2-135m", TEXT),
                                        ("minilm-l6", "The bank of the river was steep.")])
def test_analyze_visible_only_sends_each_row_up_to_the_keys_it_sees(client, model, text):
    """`visible_only`: each query's row of `attention` is the plain answer's row cut after `visible[query]` keys, and
    what is cut off is the masked zeros (a causal model: query q sees q + 1 keys; an encoder: all of them, nothing
    cut). The rest of the answer is the same."""
    ask = {"text": text, "model": model, "layers": [0], "top_k": 3}
    plain = client.post("/api/analyze", json=ask).json()
    cut = client.post("/api/analyze", json={**ask, "visible_only": True}).json()
    n = len(plain["tokens"])
    causal = plain["causal"]
    assert cut["visible"] == plain["visible"] == ([q + 1 for q in range(n)] if causal else [n] * n)
    for full_rows, rows in zip(plain["attention"][0], cut["attention"][0], strict=True):  # [query][key] of each head
        for q, (full, row) in enumerate(zip(full_rows, rows, strict=True)):
            seen = cut["visible"][q]
            assert len(full) == n and row == full[:seen] and all(w == 0 for w in full[seen:])
            assert math.isclose(sum(row), 1, abs_tol=1e-3)
    assert sum(len(row) for row in cut["attention"][0][0]) == (n * (n + 1) // 2 if causal else n * n)
    assert {k: v for k, v in cut.items() if k != "attention"} == {k: v for k, v in plain.items() if k != "attention"}


@pytest.mark.parametrize("model,text", [("tiny-sinusoidal", TEXT), ("tiny-alibi", "a"), ("smollm2-135m", TEXT),
                                        ("minilm-l6", "The bank of the river was steep.")])
@pytest.mark.parametrize("extra", [{}, {"visible_only": True}, {"layers": [1, 0], "visible_only": True}, {"layers": []}])
def test_analyze_packed_holds_the_numbers_of_attention(client, model, text, extra):
    """`packed`: `attention_packed` holds the very numbers of `attention` (integer / 10,000, in its order: rows cut as
    `visible_only` cuts them), `attention` is [], and the rest of the answer is the same."""
    ask = {"text": text, "model": model, "top_k": 3, **extra}
    lists = client.post("/api/analyze", json=ask).json()
    packed = client.post("/api/analyze", json={**ask, "packed": True}).json()
    p = packed.pop("attention_packed")
    assert packed.pop("attention") == [] and lists.pop("attention_packed") is None
    numbers = lists.pop("attention")
    assert packed == lists
    assert p["dtype"] == "uint16" and p["scale"] == 10000
    assert p["rows"] == ("visible" if extra.get("visible_only") else "whole")
    n = len(lists["tokens"])
    assert p["shape"] == [len(lists["layers"]), lists["n_heads"], n, n]
    ints = np.frombuffer(base64.b64decode(p["data"], validate=True), dtype="<u2")
    flat = [w for layer in numbers for head in layer for row in head for w in row]
    assert len(ints) == len(flat) and [int(k) / 10000 for k in ints] == flat


def test_packed_rounded_declines_what_is_not_a_weight():
    """A number outside [0, 1] (or nan) cannot be a 16-bit count of 1/10,000: None, and the answer keeps its lists."""
    assert packed_rounded(torch.tensor([[0.5, float("nan")]])) is None
    assert packed_rounded(torch.tensor([[0.5, 1.00006]])) is None
    assert packed_rounded(torch.tensor([[-0.00006, 1.0]])) is None
    # what rounds into [0, 1] is packed as rnd() rounds it; `visible`: each row's first keys only
    t = torch.tensor([[-0.00004, 1.00004], [0.12345, 0.99995]])
    p = packed_rounded(t, visible=[1, 2])
    assert p.rows == "visible" and p.shape == [2, 2]
    want = [w * 10000 for row, n in zip(rnd(t), [1, 2], strict=True) for w in row[:n]]
    assert np.frombuffer(base64.b64decode(p.data), dtype="<u2").tolist() == [round(w) for w in want]
    assert all(abs(w - round(w)) < 1e-6 for w in want)


def test_analyze_thumbnails_follow_the_interventions(client):
    iv = Interventions(positions="shuffled", scale=False, ablate=((0, 1),), seed=3)
    req = {"text": TEXT, "positions": "shuffled", "scale": False, "ablate": [[0, 1]], "seed": 3, "layers": [2],
           "thumbnails": True}
    body = schemas.AnalyzeResponse.model_validate(client.post("/api/analyze", json=req).json())
    _, _, (_, cache) = cache_of("tiny-sinusoidal", TEXT, iv)
    full = torch.stack([cache["pattern", layer] for layer in range(4)]).double()  # [layer, head, q, k]
    assert float((thumbnails_of(body.thumbnails) - full).abs().max()) <= 1 / 510 + 1e-9
    assert close(body.attention[0], cache["pattern", 2])


def test_qkv_matches_the_cache(client):
    r = client.post("/api/qkv", json={"text": TEXT, "layer": 2})
    body = schemas.QKVResponse.model_validate(r.json())
    _, ids, (_, cache) = cache_of("tiny-sinusoidal", TEXT)
    assert len(body.heads) == 4 and body.projection is None
    for h in body.heads:
        for name in ("q", "k", "v", "z"):
            assert close(getattr(h, name), cache[name, 2, h.head]), name
    one = schemas.QKVResponse.model_validate(
        client.post("/api/qkv", json={"text": TEXT, "layer": 2, "head": 1}).json())
    assert [h.head for h in one.heads] == [1]
    assert len(one.projection.q) == len(ids) and len(one.projection.k[0]) == 2


def test_qkv_rotary_gives_rotated_q_and_k(client):
    body = client.post("/api/qkv", json={"text": TEXT, "layer": 0, "head": 0, "model": "tiny-rotary"}).json()
    _, _, (_, cache) = cache_of("tiny-rotary", TEXT)
    assert close(body["heads"][0]["q_rot"], cache["rot_q", 0, 0])
    assert not close(body["heads"][0]["q_rot"], body["heads"][0]["q"])


@pytest.mark.parametrize("scale", [True, False])
def test_explain_reproduces_the_pattern_row(client, scale):
    req = {"text": TEXT, "layer": 1, "head": 3, "query": 6, "scale": scale}
    body = schemas.ExplainResponse.model_validate(client.post("/api/attention/explain", json=req).json())
    _, ids, (_, cache) = cache_of("tiny-sinusoidal", TEXT, Interventions(scale=scale))
    row = cache["pattern", 1, 3][6]
    assert close(body.weights, row)
    assert body.scale == pytest.approx(math.sqrt(40) if scale else 1.0, abs=1e-6)
    assert body.mask == [i > 6 for i in range(len(ids))]
    visible = torch.tensor([s for s in body.scaled_scores if s is not None], dtype=torch.float64)
    assert close(torch.softmax(visible, -1), row[:7], tol=2e-3)
    raw = torch.tensor([s for s in body.raw_scores if s is not None], dtype=torch.float64)
    assert close(raw / body.scale, visible, tol=2e-3)
    assert close(body.output, cache["z", 1, 3][6], tol=2e-3)
    assert close(torch.tensor(body.weighted_values).sum(0), body.output, tol=2e-3)
    assert close(torch.softmax(raw / body.other_scale, -1), body.other_weights[:7], tol=2e-3)
    assert body.entropy != body.other_entropy


def test_embeddings(client):
    body = schemas.EmbeddingsResponse.model_validate(client.post("/api/embeddings", json={"text": TEXT}).json())
    loaded, ids, (_, cache) = cache_of("tiny-sinusoidal", TEXT)
    n = len(ids)
    assert [layer.label for layer in body.layers] == ["token embedding", "+ position"] + [
        f"after block {i}" for i in range(loaded.cfg.n_layers)]
    x = cache["blocks.3.hook_resid_post"].double()
    cos = torch.nn.functional.normalize(x, dim=-1)
    assert close(body.layers[-1].cosine, cos @ cos.T)
    assert close(body.layers[0].dot, cache["hook_embed"].double() @ cache["hook_embed"].double().T, tol=1e-2)
    # one-hot: "the" twice gives 1, different tokens 0
    the = [i for i, t in enumerate(ids) if loaded.tokenizer.display(t) == "\u2423the"]
    assert body.onehot.cosine[the[0]][the[0]] == 1 and body.onehot.cosine[1][2] == 0
    assert len(body.paths) == n and len(body.paths[0]) == len(body.layers) and len(body.paths[0][0]) == 2


def test_neighbors_and_analogy(client):
    r = client.get("/api/embeddings/neighbors", params={"word": "cat", "k": 5})
    body = schemas.NeighborsResponse.model_validate(r.json())
    assert (body.token.text, body.token.display) == (" cat", "\u2423cat") and len(body.neighbors) == 5
    assert all(n.id != body.token.id for n in body.neighbors)
    assert [n.cosine for n in body.neighbors] == sorted((n.cosine for n in body.neighbors), reverse=True)
    r = client.post("/api/embeddings/analogy", json={"a": "king", "b": "man", "c": "woman", "k": 3})
    body = schemas.AnalogyResponse.model_validate(r.json())
    assert len(body.neighbors) == 3 and (body.a.text, body.a.display) == (" king", "\u2423king")
    assert {n.id for n in body.neighbors}.isdisjoint({body.a.id, body.b.id, body.c.id})


@pytest.mark.parametrize("model, words", [("tiny-sinusoidal", ("king", "man", "woman", "queen")),
                                           ("tiny-sinusoidal", ("boy", "he", "she", "girl")),
                                           ("minilm-l6", ("king", "man", "woman", "queen"))])
def test_the_expected_word_of_an_analogy_ranks_among_the_same_candidates(client, model, words):
    """`expect`: the word's rank and cosine, recomputed here in float64 over the whole vocabulary with a, b, c and the
    special tokens left out; where it ranks within k, the neighbour at that rank is the word."""
    a, b, c, d = words
    r = client.post("/api/embeddings/analogy", json={"model": model, "a": a, "b": b, "c": c, "expect": d, "k": 10})
    body = schemas.AnalogyResponse.model_validate(r.json())
    loaded = registry.load(model)
    emb = loaded.model.W_E.detach().double()
    vec = emb[body.a.id] - emb[body.b.id] + emb[body.c.id]
    cos = (emb @ vec / (emb.norm(dim=-1) * vec.norm())).tolist()
    out = {body.a.id, body.b.id, body.c.id, *loaded.tokenizer.special_ids}
    candidates = sorted(((v, i) for i, v in enumerate(cos) if i not in out), reverse=True)
    e = body.expected
    assert e.token.display.strip("\u2423") == d and e.of == len(candidates) == loaded.cfg.vocab_size - len(out)
    assert e.cosine == pytest.approx(cos[e.token.id], abs=1e-4)
    assert e.rank == 1 + sum(1 for v, _ in candidates if v > cos[e.token.id] + 1e-9)
    assert [n.id for n in body.neighbors] == [i for _, i in candidates[:10]]
    if e.rank <= 10:
        assert body.neighbors[e.rank - 1].id == e.token.id


@pytest.mark.parametrize("expect, why", [
    ("king", "“␣king” is a, b or c, which are left out"), ("zzqxjv", "“zzqxjv” is not one token"),
    ("<|bos|>", "“<|bos|>” is a special token, which is left out")])
def test_an_analogy_whose_expected_word_cannot_rank_says_why_beside_its_neighbours(client, expect, why):
    body = {"a": "king", "b": "man", "c": "woman"}
    plain = client.post("/api/embeddings/analogy", json={**body, "expect": " "}).json()
    assert plain["expected"] is None and plain["expected_unavailable"] is None and len(plain["neighbors"]) == 10
    r = client.post("/api/embeddings/analogy", json={**body, "expect": expect})
    assert r.status_code == 200 and r.json()["expected"] is None
    assert r.json()["expected_unavailable"].startswith(f"No rank for the word expected: {why}")
    assert r.json()["expected_unavailable"].endswith(".") and not r.json()["expected_unavailable"].endswith("..")
    assert r.json()["neighbors"] == plain["neighbors"]


def test_positional_encoding(client):
    body = schemas.PositionalResponse.model_validate(client.get("/api/positional", params={"n": 20}).json())
    assert close(body.encoding, sinusoidal_encoding(20, 160))
    assert len(body.similarity) == 20 and body.similarity[3][3] == pytest.approx(1.0, abs=1e-4)
    learned = client.get("/api/positional", params={"n": 10, "model": "tiny-learned"}).json()
    assert close(learned["encoding"], registry.load("tiny-learned").model.pos_embed.W_pos[:10].detach())
    for name in ("tiny-rotary", "tiny-nope"):
        r = client.get("/api/positional", params={"n": 10, "model": name})
        assert r.status_code == 422 and "position" in r.json()["detail"]


@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-learned"])
def test_decompose_terms_add_up_to_the_score(client, name):
    body = client.post("/api/positional/decompose", json={"text": TEXT, "layer": 0, "head": 2, "model": name}).json()
    _, ids, (_, cache) = cache_of(name, TEXT)
    n = len(ids)
    total = torch.zeros(n, n, dtype=torch.float64)
    for term in ("content_content", "content_position", "position_content", "position_position"):
        t = torch.tensor([[0.0 if v is None else v for v in row] for row in body[term]], dtype=torch.float64)
        total += t
    lower = torch.ones(n, n, dtype=torch.bool).tril()
    assert torch.allclose(total[lower], cache["attn_scores", 0, 2].double()[lower], atol=2e-3)
    assert body["scores"][0][1] is None  # masked


@pytest.mark.parametrize("positions,scale", [("normal", True), ("removed", True), ("shuffled", True), ("normal", False),
                                             ("removed", False)])
def test_alibi_s_split_says_what_its_numbers_are_under_each_intervention(client, positions, scale):
    """Under ALiBi the note says what content·content is divided by (√d_head, or nothing with scaling off) and what
    the bias is: −slope × distance (between the shuffled positions, where shuffled), or 0 with the positions removed,
    as the bias on screen is (it said −0.0625 × distance and √d_head whatever the interventions); the slope with the
    four decimals of the view's bias plot above it (it said 0.015625 there, 0.0156 in the plot's caption)."""
    body = client.post("/api/positional/decompose", json={"text": TEXT, "layer": 0, "head": 2, "model": "tiny-alibi",
                                                           "positions": positions, "scale": scale}).json()
    note = body["note"]
    seen = [v for row in body["bias"] for v in row if v is not None]
    assert ("√d_head" in note) == scale and ("scaling off" in note) == (not scale)
    if positions == "removed":
        assert all(v == 0 for v in seen) and "the bias is 0" in note and "× distance (" not in note
    else:
        assert any(v != 0 for v in seen) and "the bias is 0" not in note
        assert ("shuffled positions" in note) == (positions == "shuffled")
        slope = client.get("/api/positional/scheme", params={"model": "tiny-alibi"}).json()["alibi"]["slopes"][2]
        assert f"(−{slope:.4f} × " in note, note
    total = [[(c or 0) + (b or 0) for c, b in zip(cc, bb, strict=True)]
             for cc, bb in zip(body["content_content"], body["bias"], strict=True)]
    for t_row, s_row in zip(total, body["scores"], strict=True):  # content·content + bias: the score, as the note says
        assert all(s is None or abs(t - s) < 2e-3 for t, s in zip(t_row, s_row, strict=True))


def test_decompose_refuses_where_it_does_not_apply(client):
    r = client.post("/api/positional/decompose", json={"text": TEXT, "model": "tiny-rotary"})
    assert r.status_code == 422 and "rotary" in r.json()["detail"]
    r = client.post("/api/positional/decompose", json={"text": TEXT, "layer": 2})
    assert r.status_code == 422 and "layer 0" in r.json()["detail"]


def test_predict(client):
    r = client.post("/api/predict", json={"text": "Once upon a", "top_k": 5, "temperature": 1.0, "continue_tokens": 4})
    body = schemas.PredictResponse.model_validate(r.json())
    assert len(body.predictions) == 5 and len(body.per_position) == len(body.tokens)
    assert body.per_position[0].actual_next == body.tokens[1].id and body.per_position[-1].actual_next is None
    assert len(body.continuation_tokens) == 4 and body.continuation
    cold = client.post("/api/predict", json={"text": "Once upon a", "temperature": 0.3}).json()
    hot = client.post("/api/predict", json={"text": "Once upon a", "temperature": 3.0}).json()
    assert cold["predictions"][0]["prob"] > body.predictions[0].prob > hot["predictions"][0]["prob"]
    assert cold["predictions"][0]["id"] == hot["predictions"][0]["id"] == body.predictions[0].id


@pytest.mark.parametrize("temperature", [1e-9, 0.001, 0.5, 2.0, 5.0])
def test_predictions_are_ranked_as_at_every_temperature(client, temperature):
    """At temperature 0.001 the list was ␣The 1.0, then "!", "#", "$", "<|bos|>" at 0.0: the lowest ids, every
    probability after the first being 0. The ranks are the logits' (one order at every temperature). At a high
    temperature, where every probability is below 0.01, the 4 decimals left one significant figure (0.0003 for
    0.00034 and 0.00025 alike): below 0.01 a probability keeps 3 significant figures."""
    text = "The cat sat on the mat."
    got = client.post("/api/predict", json={"text": text, "temperature": temperature, "top_k": 5}).json()
    loaded = registry.load("tiny-sinusoidal")
    with torch.inference_mode():
        every = loaded.model(torch.tensor(loaded.tokenizer.encode(text))).double()  # [pos, vocab]
    logits = every[-1]
    want = logits.topk(5).indices.tolist()
    assert [p["id"] for p in got["predictions"]] == want
    probs = torch.softmax((logits - logits.max()) / temperature, -1)
    for p, i in zip(got["predictions"], want, strict=True):
        exact = float(probs[i])
        assert p["prob"] == round(exact, 4) if exact >= 0.01 else math.isclose(p["prob"], exact, rel_tol=5e-3)
    if temperature == 5.0:
        assert all(p["prob"] < 0.01 for p in got["predictions"])
        assert len({p["prob"] for p in got["predictions"]}) == 5  # five probabilities, five readings
    for row in got["per_position"]:
        assert [p["id"] for p in row["top"]] == every[row["position"]].topk(5).indices.tolist()


def test_continuation_is_greedy(client):
    body = client.post("/api/predict", json={"text": "Once upon a", "continue_tokens": 3}).json()
    loaded = registry.load("tiny-sinusoidal")
    ids = loaded.tokenizer.encode("Once upon a")
    for _ in range(3):
        ids.append(int(loaded.model(torch.tensor(ids))[-1].argmax()))
    assert [t["id"] for t in body["continuation_tokens"]] == ids[-3:]


def test_compare_difference(client):
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "positions": "removed"}})
    body = schemas.CompareResponse.model_validate(r.json())
    a, b, d = (torch.tensor(x) for x in (body.a.attention, body.b.attention, body.difference))
    assert torch.allclose(d, b - a, atol=2e-4) and d.abs().max() > 0.01
    assert body.b.interventions.positions == "removed"
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": "A dog."}}).json()
    assert r["difference"] is None and "different numbers of tokens" in r["difference_unavailable"]


def test_cache_hit_returns_identical_answers(client):
    first = client.post("/api/analyze", json={"text": TEXT}).json()
    assert client.post("/api/analyze", json={"text": TEXT}).json() == first


def test_compare_one_layer_and_head(client):
    full = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "scale": False}}).json()
    one = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "scale": False},
                                            "layer": 2, "head": 1}).json()
    assert one["a"]["layers"] == [2] and one["a"]["heads"] == [1]
    assert one["difference"][0][0] == full["difference"][2][1]
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT}, "layer": 9})
    assert r.status_code == 422 and "layer 9" in r.json()["detail"]


def test_a_compare_side_that_cannot_run_names_its_side_and_model(client):
    """Side b's ablated head that its model lacks said "layer 9 does not exist: this model has layers 0 to 3", where
    side a (the page's model) may well have a layer 9: the message names the side and its model."""
    loaded = registry.load("tiny-sinusoidal")
    missing = loaded.cfg.n_layers  # one past its last layer
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "ablate": [[missing, 0]]}})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("side b (tiny-sinusoidal): "), r.json()["detail"]
    assert f"layer {missing}" in r.json()["detail"]
    r = client.post("/api/compare", json={"a": {"text": TEXT, "ablate": [[missing, 0]]}, "b": {"text": TEXT}})
    assert r.status_code == 422 and r.json()["detail"].startswith("side a (tiny-sinusoidal): "), r.json()["detail"]
    # a text too long for one side's model: that side is named, and the message is the model's own after it
    long = " ".join(["cat"] * (loaded.info.max_tokens + 5))
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": long}})
    assert r.status_code == 422 and r.json()["detail"].startswith("side b (tiny-sinusoidal): the text is "), r.json()["detail"]


def test_analyze_says_whether_the_model_is_causal(client):
    assert client.post("/api/analyze", json={"text": TEXT}).json()["causal"] is True


def test_neighbors_by_token_id(client):
    by_word = client.get("/api/embeddings/neighbors", params={"word": "cat", "k": 4}).json()
    by_id = client.get("/api/embeddings/neighbors", params={"token_id": by_word["token"]["id"], "k": 4}).json()
    assert by_id["neighbors"] == by_word["neighbors"]
    bos = client.get("/api/embeddings/neighbors", params={"token_id": 0, "k": 3})
    assert bos.status_code == 200 and bos.json()["token"]["display"] == "<|bos|>" and bos.json()["token"]["text"] == ""
    for params in ({"k": 3}, {"word": "cat", "token_id": 5}, {"token_id": 99999}):
        r = client.get("/api/embeddings/neighbors", params=params)
        assert r.status_code == 422, params


def _description(client, schema: str, field: str) -> str:
    return client.get("/openapi.json").json()["components"]["schemas"][schema]["properties"][field]["description"]


def test_the_schema_says_what_z_and_the_explained_output_are_of_an_ablated_head(client):
    """/docs said z is "the head's output, the weighted sum of values" and the explanation's output "this head's z for
    the query": of an ablated head z is 0 while the output is still the sum of its weighted values."""
    body = {"text": "The cat sat on the mat.", "layer": 1, "head": 2, "ablate": [[1, 2]]}
    z = client.post("/api/qkv", json=body).json()["heads"][0]["z"]
    x = client.post("/api/attention/explain", json={**body, "query": 4}).json()
    summed = [sum(v[i] for v in x["weighted_values"]) for i in range(x["d_head"])]
    assert x["ablated"] and all(v == 0 for row in z for v in row)
    assert close(x["output"], summed, 1e-3) and max(abs(v) for v in summed) > 0.1  # not z, which is 0
    assert "0 where the request ablates the head" in _description(client, "HeadQKV", "z")
    assert "ablated" in _description(client, "ExplainResponse", "output")


def test_the_schema_says_a_sampled_continuation_is_one(client):
    """/docs called `continuation` "the text the greedy continuation adds"; with sampling it is the drawn tokens."""
    body = {"text": "The cat sat on the mat.", "continue_tokens": 5}
    greedy = client.post("/api/predict", json=body).json()
    drawn = client.post("/api/predict", json={**body, "sampling": {"method": "sample", "seed": 3}}).json()
    assert drawn["continuation"] == "".join(s["token"]["text"] for s in drawn["steps"])
    assert drawn["continuation"] != greedy["continuation"]
    said = _description(client, "PredictResponse", "continuation")
    assert "greedy continuation" not in said and "sampled" in said, said


@pytest.mark.parametrize("model", ["tiny-rotary", "tiny-sinusoidal"])
def test_the_schema_says_which_models_have_a_position_depth(client, model):
    """/docs said the depths are "input embedding, + positions, then after each block": a rotary model (and ALiBi,
    none, SmolLM2) adds no position vector, and has no such depth."""
    labels = [d["label"] for d in client.post("/api/embeddings", json={"text": "The cat sat.", "model": model}).json()[
        "layers"]]
    n_layers = registry.info(model).n_layers
    adds = registry.info(model).positional in ("sinusoidal", "learned")
    assert labels == ["token embedding", *(["+ position"] if adds else []), *(f"after block {b}" for b in range(n_layers))]
    said = _description(client, "EmbeddingsResponse", "layers")
    assert "where the model adds" in said, said


def test_the_schema_states_the_analogy_as_the_proportion_a_minus_b_plus_c_solves(client):
    """/docs said `expect` is "d in a : b = c : d"; a − b + c (king − man + woman) solves b : a = c : d (man : king =
    woman : queen): from a : b = c : d, d − c = b − a, so d = b − a + c."""
    said = _description(client, "AnalogyRequest", "expect")
    x, y, z = re.search(r"\b([abc]) : ([abc]) = ([abc]) : d\b", said).groups()
    # d = z + (y − x): the same vector as a − b + c only when y is a, x is b and z is c
    assert (x, y, z) == ("b", "a", "c"), said


def test_a_word_that_is_not_one_token_gets_advice_that_fits_the_vocabulary(letters_model):
    """"Try a more common word" is no help where every token is one letter (a model the training lab trained, served
    with --add-model): no word of two letters is one token there. Each vocabulary's tokens are read to tell which."""
    from fastapi.testclient import TestClient

    from backend.main import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        for model, word, advice in [(letters_model, "king", "this model's tokens are single characters: type one"),
                                    (registry.DEFAULT_MODEL, "zzqxjv", "try a more common word")]:
            tok = registry.load(model).tokenizer
            longest = max(len(tok.hf.decode([i]).strip()) for i in range(tok.vocab_size) if not tok.is_special(i))
            assert (longest == 1) == (model == letters_model)
            r = c.get("/api/embeddings/neighbors", params={"word": word, "model": model})
            assert r.status_code == 422 and r.json()["detail"].endswith(advice), r.text
        assert c.get("/api/embeddings/neighbors", params={"word": "k", "model": letters_model}).status_code == 200


def test_words_typed_for_one_word_are_asked_for_one_not_a_more_common_one(client):
    """The embeddings view's "Nearest words to" box (and the analogy's a, b, c) take one word: "the cat" (two common
    words) was refused with "try a more common word", no help for a phrase that no vocabulary has as one token. It now
    says to type one word; a single word that is not one token keeps its advice."""
    for word in ("the cat", "ice  cream", "I love 🍕"):
        r = client.get("/api/embeddings/neighbors", params={"word": word})
        detail = r.json()["detail"]
        assert r.status_code == 422 and "more common word" not in detail, detail
        assert detail.endswith(f"type one word: this is {len(word.split())} words"), detail
    r = client.post("/api/embeddings/analogy", json={"a": "king", "b": "the man", "c": "woman"})
    assert r.status_code == 422 and r.json()["detail"].endswith("type one word: this is 2 words"), r.text
    detail = client.get("/api/embeddings/neighbors", params={"word": "zzqxjv"}).json()["detail"]
    assert detail.endswith("try a more common word"), detail


def test_a_head_switched_off_changes_no_pattern_up_to_its_own_layer(client):
    """What the Compare view says where the sides differ only in a head switched off (views/compare.js ablationNote):
    the patterns of its layer and those before it are the same on both sides, a later layer's are not."""
    r = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "ablate": [[1, 1]]}}).json()
    d = torch.tensor(r["difference"])  # [layer, head, q, k]
    assert d[:2].abs().max() == 0 and d[2:].abs().max() > 0.01


@pytest.mark.parametrize("model, positions, rotated", [("tiny-rotary", "normal", True), ("tiny-rotary", "shuffled", True),
                                                      ("tiny-rotary", "removed", False), ("tiny-sinusoidal", "normal", False)])
def test_the_explanation_says_whether_its_q_and_k_are_rotated(client, model, positions, rotated):
    """The arithmetic's q and keys on a rotary model are the rotated ones (what q·k uses), and the answer said nothing of
    it: beside the Q/K/V view's q they looked wrong. `rotated` says so; the q it gives is the Q/K/V view's q_rot where
    true (the same length as the unrotated q, a rotation, but other numbers) and its q where false."""
    req = {"text": "The cat sat on the mat.", "layer": 1, "head": 2, "model": model, "positions": positions}
    x = client.post("/api/attention/explain", json={**req, "query": 5}).json()
    head = client.post("/api/qkv", json=req).json()["heads"][0]
    assert x["rotated"] is rotated
    q = torch.tensor(head["q"][5])
    shown = torch.tensor(x["q"])
    assert float(shown.norm()) == pytest.approx(float(q.norm()), rel=1e-3)
    if rotated:
        assert close(x["q"], head["q_rot"][5]) and not close(x["q"], head["q"][5])
        assert close(x["keys"], head["k_rot"])
    else:
        assert close(x["q"], head["q"][5]) and close(x["keys"], head["k"])
