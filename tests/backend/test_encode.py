"""backend/encode.py writes an answer's JSON in pieces: the bytes must be model_dump_json()'s, for every shape of
answer the routes give (nested models, lists of lists, None, masked scores, dicts, empty lists)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import torch

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
