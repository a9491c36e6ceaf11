"""Interventions change what they should and nothing else."""

import torch

TEXT = "Lily saw a big dog in the park and the dog saw Lily."


def attention(client, **kw):
    r = client.post("/api/analyze", json={"text": TEXT, **kw})
    assert r.status_code == 200, r.text
    return torch.tensor(r.json()["attention"]), r.json()


def test_positions_removed_does_not_change_a_model_without_positions(client):
    a, _ = attention(client, model="tiny-nope")
    b, body = attention(client, model="tiny-nope", positions="removed")
    assert torch.equal(a, b) and body["interventions"]["positions"] == "removed"


def test_positions_removed_and_shuffled_change_the_sinusoidal_model(client):
    a, _ = attention(client)
    removed, _ = attention(client, positions="removed")
    shuffled, body = attention(client, positions="shuffled", seed=7)
    assert (a - removed).abs().max() > 0.05 and (a - shuffled).abs().max() > 0.05
    perm = body["interventions"]["permutation"]
    assert sorted(perm) == list(range(len(body["tokens"])))
    again, body2 = attention(client, positions="shuffled", seed=7)
    assert torch.equal(shuffled, again) and body2["interventions"]["permutation"] == perm


def test_rotary_positions_removed_changes_attention(client):
    a, _ = attention(client, model="tiny-rotary")
    b, _ = attention(client, model="tiny-rotary", positions="removed")
    assert (a - b).abs().max() > 0.05


def test_scaling_off_sharpens_the_first_layer(client):
    on, body_on = attention(client)
    off, body_off = attention(client, scale=False)
    ent = lambda p: -(torch.special.xlogy(p, p)).sum(-1).mean()  # noqa: E731
    assert ent(off[0]) < ent(on[0])
    assert body_off["interventions"]["scale"] is False


def test_ablation_changes_later_layers_only(client):
    a, _ = attention(client)
    b, body = attention(client, ablate=[[1, 2]])
    assert torch.equal(a[:2], b[:2])  # layers 0 and 1 come before the ablated output is used
    assert (a[2:] - b[2:]).abs().max() > 0
    assert body["interventions"]["ablate"] == [[1, 2]]
    qkv = client.post("/api/qkv", json={"text": TEXT, "layer": 1, "head": 2, "ablate": [[1, 2]]}).json()
    assert all(v == 0 for row in qkv["heads"][0]["z"] for v in row)


def test_what_the_split_and_the_depths_say_follows_the_positions_given(client):
    """With the positions removed the decomposition's note said q and k each have "a position part (from the
    positional encoding)" beside three terms of 0, and the embeddings' second depth was labelled "+ position" with
    cosines equal to the token embedding's."""
    text = "The cat sat on the mat."
    for model in ("tiny-learned", "tiny-sinusoidal"):
        off = client.post("/api/positional/decompose", json={"text": text, "model": model, "layer": 0, "head": 0,
                                                               "positions": "removed"}).json()
        for term in ("content_position", "position_content", "position_position"):
            assert all(v in (None, 0.0) for row in off[term] for v in row), term
        assert "no encoding was added" in off["note"] and "from the positional encoding" not in off["note"]
        on = client.post("/api/positional/decompose", json={"text": text, "model": model, "layer": 0, "head": 0}).json()
        assert "(from the positional encoding)" in on["note"]
        shuffled = client.post("/api/positional/decompose", json={"text": text, "model": model, "layer": 0, "head": 0,
                                                                    "positions": "shuffled"}).json()
        assert "in the shuffled order" in shuffled["note"]
        e = client.post("/api/embeddings", json={"text": text, "model": model, "positions": "removed"}).json()
        assert e["layers"][1]["label"] == "+ position (none: removed)"
        assert e["layers"][1]["cosine"] == e["layers"][0]["cosine"]  # (nothing was added)
