"""Tokens through the API carry both forms: `text` (exact: joined, a sentence's tokens give it back) and
`display` (what the page shows). Where MiniLM cannot give a sentence back: tests/models/test_token_text.py."""

import unicodedata

import pytest

from backend import schemas
from models import pretrained, registry

ODD = ["Once upon a time", "  two  spaces, a tab\tand a newline\n", "café 日本語 🎉!", "<|bos|> <|endoftext|> [CLS]",
       "e\u0301 zero\u200bwidth", "x"]


def fold(s: str) -> str:
    """Lower-cased, without accents and control characters: what BERT's normaliser does inside a word."""
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)
                   and (c in "\t\n\r" or unicodedata.category(c) not in ("Cc", "Cf"))).lower()


@pytest.fixture(scope="module")
def models(need) -> list[str]:
    need(pretrained.MINILM_PACKAGE.module, pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module,
         why="the three tokenizers")
    for name in ("minilm-l6", "smollm2-135m"):
        registry.load(name)  # loaded before the requests: they would otherwise get 503 while it loads
    return [registry.DEFAULT_MODEL, "minilm-l6", "smollm2-135m"]


def test_analyze_tokens_join_to_the_sentence(client, models):
    for name in models:
        tok = registry.load(name).tokenizer
        for text in ODD:
            r = client.post("/api/analyze", json={"text": text, "model": name, "top_k": 3})
            assert r.status_code == 200, r.text
            body = schemas.AnalyzeResponse.model_validate(r.json())
            got = "".join(t.text for t in body.tokens if not t.special)
            if name == "minilm-l6":  # lower-case, no accents, no trailing spaces (see test_token_text.py)
                assert got == "".join(p.text for p in tok.pieces(text) if not p.special)
                assert fold(got) == fold(text).rstrip(), text
            else:
                assert got == text, (name, text)
            assert [t.display for t in body.tokens] == tok.displays([t.id for t in body.tokens])
            # a special token's name typed ("<|bos|>", "[CLS]") is text: every special id is marked, and is the
            # tokenizer's own (as many as a plain word gets)
            assert [t.special for t in body.tokens] == [tok.is_special(t.id) for t in body.tokens], (name, text)
            assert sum(t.special for t in body.tokens) == sum(p.special for p in tok.pieces("x")), (name, text)
            for p in body.predictions or []:
                assert (p.text, p.display, p.special) == (tok.token_text(p.id), tok.display(p.id), tok.is_special(p.id))


def test_every_view_gives_both_forms(client, models):
    text = "The cat sat on the mat."
    for path, extra in (("/api/qkv", {"layer": 0, "head": 0}), ("/api/attention/explain", {"layer": 0, "head": 0, "query": 1}),
                        ("/api/embeddings", {}), ("/api/predict", {"top_k": 3})):
        body = client.post(path, json={"text": text, **extra}).json()
        assert "".join(t["text"] for t in body["tokens"] if not t["special"]) == text, path
        assert body["tokens"][2]["display"] == "\u2423cat" and body["tokens"][2]["text"] == " cat", path
    cmp = client.post("/api/compare", json={"a": {"text": text}, "b": {"text": text, "positions": "removed"}}).json()
    assert "".join(t["text"] for t in cmp["b"]["tokens"] if not t["special"]) == text
    near = client.get("/api/embeddings/neighbors", params={"word": "cat", "k": 3}).json()
    assert all(set(n) >= {"text", "display"} for n in near["neighbors"])


def test_a_continuation_is_its_tokens_joined(client, models):
    for name in (registry.DEFAULT_MODEL, "smollm2-135m"):
        for text in ("Once upon a time", "日本"):
            r = client.post("/api/predict", json={"text": text, "model": name, "continue_tokens": 6})
            body = schemas.PredictResponse.model_validate(r.json())
            assert body.continuation == "".join(t.text for t in body.continuation_tokens), (name, text)
            tok = registry.load(name).tokenizer
            ids = [t.id for t in body.continuation_tokens]
            if all(not tok.is_special(i) for i in ids):
                assert body.continuation == tok.decode(ids)  # the tokenizer's own decoding agrees
            assert [t.position for t in body.continuation_tokens] == list(range(len(body.tokens), len(body.tokens) + 6))


def test_analyze_names_the_characters_the_model_never_saw_in_training(client, models):
    from models.corpus import PROJECT_CORPUS

    seen = set((PROJECT_CORPUS / "train.txt").read_text(encoding="utf-8"))  # the default model's training text
    text = "Le café, 日本 et ça\tva? The cat."
    body = client.post("/api/analyze", json={"text": text}).json()
    assert body["unseen_characters"] == ["é", "日", "本", "ç", "\t"]
    assert body["unseen_characters"] == list(dict.fromkeys(c for c in text if c not in seen))
    assert client.post("/api/analyze", json={"text": "The cat sat."}).json()["unseen_characters"] == []
    for name in ("minilm-l6", "smollm2-135m"):  # their training text is not known: nothing is claimed
        assert client.post("/api/analyze", json={"text": text, "model": name}).json()["unseen_characters"] is None


def test_a_continuation_never_ends_inside_a_character(client, models):
    """SmolLM2 writes an emoji as several byte tokens (<0xF0><0x9F>, <0x98>, <0x80>): a continuation whose last token
    began an emoji and none finished it appended "��" to the sentence (bytes that start no whole character), which then
    read as other tokens. The tokens of the unfinished character are left out, and `stopped` says so."""
    tok = registry.load("smollm2-135m").tokenizer
    text, asked = "I love 😀😀", 10
    body = schemas.PredictResponse.model_validate(client.post("/api/predict", json={
        "text": text, "model": "smollm2-135m", "continue_tokens": asked}).json())
    ids = [t.id for t in body.continuation_tokens]
    assert body.continuation == b"".join(tok.token_bytes(i) for i in ids).decode("utf-8")  # (strict: whole characters)
    assert "\ufffd" not in body.continuation and body.full_text_same_tokens
    assert len(body.steps) == len(ids) < asked
    cut = asked - len(ids)
    assert body.stopped == f"stopped after {len(ids)} of {asked} tokens: " + (
        f"the next {cut} tokens began a character that no token after them finished (their bytes are left out)"
        if cut > 1 else "the next token began a character that no token after it finished (its bytes are left out)")
    # what is kept is what greedy decoding gives: asked for as many tokens as it kept, the same ones, nothing cut
    again = client.post("/api/predict", json={"text": text, "model": "smollm2-135m", "continue_tokens": len(ids)}).json()
    assert [t["id"] for t in again["continuation_tokens"]] == ids and again["stopped"] is None
