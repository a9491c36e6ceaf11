"""backend/encode.py writes an answer's JSON in pieces: the bytes must be model_dump_json()'s, for every shape of
answer the routes give (nested models, lists of lists, None, masked scores, dicts, empty lists)."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
import torch
from pydantic import BaseModel
from pydantic_core import to_json

from backend import schemas
from backend.analysis.common import rnd, tolist
from backend.encode import dump


class Leaf(BaseModel):
    x: float
    tags: tuple[int, int]
    note: str | None = None


class Tree(BaseModel):
    name: str
    grid: list[list[float | None]]
    cube: list[list[list[float]]]
    leaves: list[Leaf]
    empty: list[list[float]]
    table: dict[str, list[float]]
    child: Leaf | None


def test_a_hand_built_answer_is_written_as_pydantic_writes_it():
    t = Tree(name='a "quoted" ∑ name', grid=[[0.1, None, 1e-05], [float("inf"), -0.0, 3.0]],
             cube=[[[1.0, 2.5]], [[-1.25e10]]], leaves=[Leaf(x=1, tags=(1, 2)), Leaf(x=0.5, tags=[3, 4], note="n")],
             empty=[], table={"k": [1.0, 2.0]}, child=None)
    assert dump(t) == t.model_dump_json().encode()


REQUESTS = [  # (path, body, response model): every route family whose answer goes through backend.work.answer
    ("/api/analyze", {"text": "The cat sat on the mat because it was tired.", "roles": True}, schemas.AnalyzeResponse),
    ("/api/analyze", {"text": "The cat sat.", "model": "smollm2-135m", "layers": [1], "thumbnails": True}, schemas.AnalyzeResponse),
    ("/api/attention/explain", {"text": "The cat sat on the mat.", "layer": 1, "head": 2, "query": 4}, schemas.ExplainResponse),
    ("/api/qkv", {"text": "The cat sat on the mat.", "layer": 0, "head": 1}, schemas.QKVResponse),
    ("/api/predict", {"text": "The cat sat on the", "continue_tokens": 2}, schemas.PredictResponse),
    ("/api/compare", {"a": {"text": "The cat sat."}, "b": {"text": "The cat sat.", "positions": "removed"}}, schemas.CompareResponse),
    ("/api/embeddings", {"text": "The cat sat."}, schemas.EmbeddingsResponse),
    ("/api/positional/decompose", {"text": "The cat sat on the mat.", "model": "tiny-alibi"}, schemas.DecomposeResponse),
    ("/api/attribution/lens", {"text": "The cat sat on the"}, schemas.LensResponse),
    ("/api/attribution/logit", {"text": "The cat sat on the"}, schemas.LogitAttributionResponse),
    ("/api/roles", {"text": "The cat saw the cat."}, schemas.RolesResponse),
]


@pytest.mark.parametrize("path,body,model", REQUESTS, ids=[f"{p} {i}" for i, (p, _, _) in enumerate(REQUESTS)])
def test_the_routes_answers_are_written_as_pydantic_writes_them(client, path, body, model):
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    answer = model.model_validate_json(r.content)
    assert dump(answer) == answer.model_dump_json().encode() == r.content


def test_tolist_in_slices_equals_tolist():
    for shape in [(), (3,), (5, 130, 130), (2, 3, 100, 100)]:
        t = torch.randn(shape, dtype=torch.float64)
        assert tolist(t) == t.tolist()
    t = torch.randn(4, 90, 90)
    assert rnd(t) == torch.round(t.double(), decimals=4).tolist()


def test_a_piece_is_written_as_pydantic_core_writes_it():
    """The pieces are written by orjson where it takes them: the same bytes as pydantic-core's to_json, for floats
    of every magnitude (the bit patterns of random doubles, values rounded as the answers are, the edges of the
    decimal and exponent forms, NaN and the infinities as null, -0.0), ints to 64 bits and past them, every code
    point in a string, and the values orjson leaves to to_json (int keys, numpy's float subclass)."""
    import random
    import struct

    from backend.encode import piece

    rng = random.Random(0)
    floats = [0.0, -0.0, 1e-5, 9.999e-6, 1e-7, 1e15, 1e16, 1e21, 1e22, 5e-324, 1.7976931348623157e308,
              float("nan"), float("inf"), float("-inf"), 0.1, 1 / 3, -1.25e10]
    floats += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20000)]
    floats += [round(rng.uniform(-60, 60), 4) for _ in range(20000)]
    floats += [round(rng.random() * 10 ** rng.randint(-9, 20), rng.randint(0, 9)) for _ in range(20000)]
    for x in floats:
        assert piece(x) == to_json(x, inf_nan_mode="null"), x
    assert piece(floats) == to_json(floats, inf_nan_mode="null")
    ints = [0, -1, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1, 2**64, -2**70, 10**30]
    assert piece(ints) == to_json(ints)
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert piece(text) == to_json(text)
    for c in range(0, 0x3000):  # each control and escaped character on its own, beside a quote and a backslash
        if not 0xD800 <= c < 0xE000:
            assert piece(f'{chr(c)}"\\') == to_json(f'{chr(c)}"\\'), hex(c)
    odd = [{1: [0.5, None]}, [np.float64(0.25), True, None, (1, 2.5)], {"k": {"j": [float("nan"), -0.0]}}, []]
    for value in odd:
        assert piece(value) == to_json(value, inf_nan_mode="null"), value
    nested = torch.round(torch.randn(3, 7, 9, dtype=torch.float64) * 3, decimals=4).tolist()
    nested[0][0][0] = float("-inf")
    assert piece(nested) == to_json(nested, inf_nan_mode="null")


def test_an_array_is_written_as_its_rounded_lists():
    """A field filled with common.rounded (a numpy array, for an answer that is only sent) is written as the same
    field filled with rnd (lists of Python floats) would be: large arrays in rows, NaN and infinities as null, empty
    and 0-d arrays, bool and int arrays."""

    from backend.analysis.common import rounded
    from backend.encode import PIECE

    class Answer(BaseModel):
        a: list | float = []

    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(4, 4, 64, 64, generator=g) * 7, torch.randn(2, 3, 5, generator=g), torch.zeros(0, 4, 3, 3),
               torch.tensor([float("nan"), float("inf"), float("-inf"), -0.0, -0.00004, 1e-5, 1e16, 5e-324]),
               torch.randn(PIECE + 7, dtype=torch.float64, generator=g) * 1e6, torch.tensor(0.25)]
    assert tensors[0].numel() > PIECE
    for t in tensors:
        before = t.clone()
        listed, arrayed = Answer(), Answer()
        listed.a, arrayed.a = rnd(t), rounded(t)
        torch.testing.assert_close(t, before, rtol=0, atol=0, equal_nan=True)  # rounded in a copy, float64 too
        assert isinstance(arrayed.a, np.ndarray)
        assert dump(arrayed) == dump(listed) == listed.model_dump_json().encode()
    for a in (np.array([[True, False]]), np.arange(6).reshape(2, 3), np.arange(6.0).reshape(3, 2).T):
        arrayed = Answer()
        arrayed.a = a
        assert dump(arrayed) == Answer(a=a.tolist()).model_dump_json().encode()


def test_every_rounded_number_under_the_single_bound_is_written_alike_from_float32():
    """common.rounded sends numbers under SINGLE_BELOW in size as float32: each multiple of 10^-DECIMALS there (all
    2 million of them, both signs, zero and -0.0) is written by orjson with the same bytes from its float32 as from
    its float64, which are the bytes pydantic writes for the Python float. A number at or over the bound stays
    float64 (100.0001 has 7 significant digits, more than a float32 keeps)."""
    from backend.analysis.common import DECIMALS, SINGLE_BELOW, rounded

    scale = 10 ** DECIMALS
    k = np.arange(-SINGLE_BELOW * scale + 1, SINGLE_BELOW * scale, dtype=np.float64)
    x = np.round(k / scale, DECIMALS)
    x = np.concatenate([x, [-0.0]])
    double = orjson.dumps(x, option=orjson.OPT_SERIALIZE_NUMPY)
    assert orjson.dumps(x.astype(np.float32), option=orjson.OPT_SERIALIZE_NUMPY) == double
    assert double[:30] == to_json(x[:5].tolist())[:30] and double.endswith(b",-0.0]")
    small = rounded(torch.tensor([[0.12346, -99.99994], [1.0, 0.0]], dtype=torch.float64))
    assert small.dtype == np.float32
    assert orjson.dumps(small, option=orjson.OPT_SERIALIZE_NUMPY) == b"[[0.1235,-99.9999],[1.0,0.0]]"
    for large in ([0.5, 100.00001], [0.5, float("nan")], [0.5, float("-inf")]):
        assert rounded(torch.tensor(large)).dtype == np.float64, large


ANALYZE = [  # several models and shapes: causal and bidirectional, GQA, ALiBi, shuffled positions, a layer subset
    {"text": "The cat sat on the mat because it was tired.", "thumbnails": True},
    {"text": "The cat sat on the mat because it was tired.", "visible_only": True},
    {"text": "The bank of the river was steep.", "model": "minilm-l6", "visible_only": True, "layers": [2]},
    {"text": "Once upon a time, Lily and Tom went to the park.", "model": "tiny-alibi", "positions": "shuffled", "seed": 3},
    {"text": "The bank of the river was steep.", "model": "minilm-l6", "layers": [5, 0]},
    {"text": "The cat sat on the mat.", "model": "smollm2-135m", "layers": [0], "thumbnails": True, "roles": True},
    {"text": "a b", "model": "tiny-rotary", "scale": False, "ablate": [[1, 2]], "query_rows": {"queries": [0, 1]}},
]


@pytest.mark.parametrize("body", ANALYZE, ids=[b.get("model", "default") + ("-visible" if b.get("visible_only") else "")
                                               for b in ANALYZE])
def test_analyze_sends_the_bytes_of_the_answer_made_from_lists(client, body):
    """/api/analyze sends its attention from a numpy array (common.rounded); the answer made as before, with rnd's
    lists of Python floats, and written by pydantic, has the same bytes, so the same values after json.loads."""
    import json

    from backend.analysis import attention
    from backend.analysis.common import interventions

    r = client.post("/api/analyze", json=body)
    assert r.status_code == 200, r.text
    req = schemas.AnalyzeRequest.model_validate(body)
    service = client.app.state.service
    run = service.run(req.model, req.text, interventions(req))
    before = attention.analyze(run, req.top_k, layers=req.layers, thumbnails=req.thumbnails, roles=req.roles,
                               selection=req.query_rows, visible_only=req.visible_only)
    assert isinstance(before.attention, list) and before.attention
    assert r.content == before.model_dump_json().encode()
    assert json.loads(r.content) == json.loads(before.model_dump_json())


COMPARE = [  # as many tokens (a difference), not as many, two models, one head, predictions
    {"a": {"text": "The cat sat on the mat."}, "b": {"text": "The cat sat on the mat.", "positions": "shuffled", "seed": 2}},
    {"a": {"text": "The cat sat."}, "b": {"text": "The dog sat on the mat."}, "top_k": 3},
    {"a": {"text": "The cat sat."}, "b": {"text": "The cat sat.", "model": "tiny-rotary"}, "layer": 1, "head": 0},
    {"a": {"text": "The cat sat.", "model": "minilm-l6"}, "b": {"text": "The cat sat.", "model": "minilm-l6",
                                                               "positions": "removed"}, "top_k": 2},
]


@pytest.mark.parametrize("body", COMPARE, ids=range(len(COMPARE)))
def test_compare_sends_the_bytes_of_the_answer_made_from_lists(client, body):
    """/api/compare sends each side's attention and the difference from numpy arrays, assigned after validation;
    the answer made from rnd's lists, every field validated, has the same bytes."""
    from backend.analysis import attention
    from backend.analysis.common import interventions

    r = client.post("/api/compare", json=body)
    assert r.status_code == 200, r.text
    req = schemas.CompareRequest.model_validate(body)
    service = client.app.state.service
    runs = [service.run(side.model, side.text, interventions(side)) for side in (req.a, req.b)]
    made = attention.compare(*runs, layer=req.layer, head=req.head, k=req.top_k)
    listed = schemas.CompareResponse.model_validate(made.model_dump())  # every field checked, lists
    assert isinstance(listed.a.attention, list) and listed.a.attention
    assert r.content == listed.model_dump_json().encode() == made.model_dump_json().encode()


def test_a_model_of_scalars_is_written_in_one_call_with_the_same_bytes():
    """encode writes a model whose fields are all scalars (a token, a prediction, a head's summary) in one call;
    a model with a list, a dict or a nested model is still written field by field."""
    from typing import Literal

    from backend.encode import _scalars_only

    class Flat(BaseModel):
        a: int
        b: float | None = None
        c: Literal["x", 2] = "x"
        d: str = 'q"\u2028\x01'
        e: bool = False

    assert _scalars_only(Flat) and _scalars_only(schemas.Token) and _scalars_only(schemas.HeadSummary)
    assert not _scalars_only(Leaf) and not _scalars_only(Tree) and not _scalars_only(schemas.LensCell)
    for value in (Flat(a=1), Flat(a=-2, b=float("nan"), c=2, e=True), Flat(a=0, b=-0.0)):
        assert dump(value) == value.model_dump_json().encode()


def count_numbers(value) -> int:
    """How many numbers (scalars) a value holds: an array's size, a list's or a dict's items' own counts; a nested
    model none (it was counted when it was made)."""
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, BaseModel):
        return 0
    if isinstance(value, (list, tuple)):
        return sum(count_numbers(v) for v in value)
    if isinstance(value, dict):
        return sum(count_numbers(v) for v in value.values())
    return 1


def test_a_large_answer_is_written_in_short_calls(monkeypatch):
    """The point of backend/encode.py: no single call writes more than PIECE numbers (each call holds the GIL), for
    an answer sent from a numpy array (/api/analyze's attention) as for one made of lists, and the pieces join to
    model_dump_json()'s bytes."""
    import orjson

    from backend import encode
    from backend.analysis.common import rounded

    sizes: list[int] = []

    class Spy:
        OPT_SERIALIZE_NUMPY = orjson.OPT_SERIALIZE_NUMPY

        @staticmethod
        def dumps(value, **kw):
            sizes.append(count_numbers(value))
            return orjson.dumps(value, **kw)

    to_json = encode.to_json

    def spy_to_json(value, **kw):
        sizes.append(count_numbers(value))
        return to_json(value, **kw)

    monkeypatch.setattr(encode, "orjson", Spy)
    monkeypatch.setattr(encode, "to_json", spy_to_json)

    class Answer(BaseModel):
        name: str
        attention: list

    pattern = torch.rand(4, 4, 120, 120, generator=torch.Generator().manual_seed(1))  # 230,400 numbers
    for fill in (rnd, rounded):
        answer = Answer(name="x", attention=[])
        answer.attention = fill(pattern)
        sizes.clear()
        body = dump(answer)
        assert sum(sizes) >= pattern.numel() and max(sizes) <= encode.PIECE, (fill.__name__, max(sizes))
        listed = Answer(name="x", attention=[])
        listed.attention = rnd(pattern)
        assert body == listed.model_dump_json().encode()


@pytest.mark.parametrize("name", ["tiny-sinusoidal", "smollm2-135m"])
def test_numbers_read_at_once_are_the_elements(client, name):
    """The head summaries, the top predictions and the lens read their numbers from a tensor with one tolist();
    each equals float() or int() of its element, rounded alike (the summaries as every array is rounded, common.rnd:
    half to even at DECIMALS places; None where no query counts)."""
    from backend.analysis import attention, attribution
    from backend.analysis.common import DECIMALS
    from models import roles
    from models.transformer import Interventions

    run = client.app.state.service.run(name, "Tom gave Lily the ball because she", Interventions())
    pat = attention.patterns(run)
    tok = run.loaded.tokenizer
    summary = roles.summary(pat, run.ids, [tok.is_special(i) for i in run.ids], causal=run.loaded.cfg.causal)
    heads = attention.head_summaries(run, pat)
    want = {"entropy": summary.entropy_nats, "previous_token": summary.values["previous-token"],
            "first_token": summary.values["sink"], "self_token": summary.values["self"]}  # [layer, head] each
    for l, row in enumerate(heads):
        for h, s in enumerate(row):
            for field, values in want.items():
                x = float(values[l, h])
                want_x = torch.round(torch.tensor(x, dtype=torch.float64), decimals=DECIMALS).item()
                assert getattr(s, field) == (want_x if math.isfinite(x) else None)
    probs = torch.softmax(run.logits[-1].double() - run.logits[-1].double().max(), -1)
    values, ids = probs.topk(10)
    preds, _ = attention.top_k(run, 10, temperature=1.0)
    assert [(p.id, p.prob) for p in preds] == [(int(i), round(float(v), 4)) for v, i in zip(values, ids, strict=True)]
    lens = attribution.lens(run, k=5)
    last = lens.cells[-1][-1]
    assert [(p.id, p.prob) for p in last.top] == [(p.id, p.prob) for p in preds[:5]]
    assert isinstance(last.rank, int) and last.rank == 1 and last.prob == preds[0].prob


LARGE = " ".join(["The little cat sat on the warm mat and looked at the big dog."] * 7)  # 100+ tokens
# the routes whose answers hold every head's attention (layers x heads x n^2 numbers); an answer of one head's vectors
# or one layer's similarities is validated as it is made: at most 128 x 64 x 3 + 128^2 numbers (SmolLM2's q, k, v and
# scores of one head at 128 tokens), about 1.5 ms
LARGE_REQUESTS = [
    ("/api/analyze", {"text": LARGE}),
    ("/api/compare", {"a": {"text": LARGE}, "b": {"text": LARGE, "positions": "removed"}}),
    ("/api/compare", {"a": {"text": LARGE}, "b": {"text": LARGE + " Then"}}),  # no difference: not as many tokens
]


@pytest.mark.parametrize("path,body", LARGE_REQUESTS, ids=[f"{p} {i}" for i, (p, _) in enumerate(LARGE_REQUESTS)])
def test_a_large_answer_is_validated_in_short_calls(client, monkeypatch, path, body):
    """Like its writing (above), the making of a large answer holds the GIL in no call over encode.PIECE numbers:
    pydantic validates a model's fields in one call, so the numbers of the attention (layers x heads x n^2) are
    assigned after validation, not checked in it. Each model's construction is counted, its own fields only (a
    nested model is counted when it was made)."""
    from backend import encode

    sizes: list[tuple[int, str]] = []
    init = BaseModel.__init__

    def spy(self, /, **data):
        sizes.append((count_numbers(data), type(self).__name__))
        init(self, **data)

    monkeypatch.setattr(BaseModel, "__init__", spy)
    r = client.post(path, json=body)
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    assert len(r.content) > 8 * encode.PIECE  # (a large answer: the bound below is not met by a small one)
    assert max(sizes)[0] <= encode.PIECE, max(sizes)
