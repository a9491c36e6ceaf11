"""backend/overflow.py: a helper process answers /api/analyze of a new sentence while this process is busy, with the
same bytes this process would have written; it is asked only then, and never when nothing is busy."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from backend import schemas
from backend.analysis.common import interventions
from backend.encode import dump
from backend.main import create_app
from backend.overflow import Overflow
from backend.routes.attention import analysis
from backend.service import ModelService
from backend.settings import Settings, helper_processes
from models import registry

pytestmark = pytest.mark.slow  # a helper process starts torch and loads the default model (a few seconds)

TEXT = "The little dog saw a big cat and the bird said"


@contextmanager
def busy(service: ModelService) -> Iterator[None]:
    """Another request holding a slot of `service` (computing, as far as the service can tell) while inside."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with service.work():
            held.set()
            release.wait(60)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        t.join()


def ready(overflow: Overflow, service: ModelService) -> None:
    """Start the helpers (the first busy request does) and wait until one has loaded the model."""
    with busy(service):
        assert overflow.analyze(service, schemas.AnalyzeRequest(text="Start the helpers.")) is None
    deadline = time.monotonic() + 120
    while overflow.stats()["helpers_ready"] == 0:
        assert not overflow.broken and time.monotonic() < deadline, "no helper became ready in 120 s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def helped() -> Iterator[tuple[Overflow, ModelService]]:
    settings = Settings(helper_processes=1, result_cache_mb=0)
    service, overflow = ModelService(settings), Overflow(settings)
    service.get(None)
    ready(overflow, service)
    yield overflow, service
    overflow.shutdown()


REQUESTS = [
    {},
    {"top_k": 3, "layers": [1, 0]},
    {"layers": [1], "visible_only": True},
    {"visible_only": True, "packed": True},
    {"layers": [], "why": True},
    {"layers": [], "attention_attribution": {"layer": 1, "head": 2}},
    {"layers": [0], "thumbnails": True, "roles": True},
    {"query_rows": {"queries": [2, 3], "combine": "mean"}},
    {"positions": "shuffled", "seed": 7, "ablate": [[1, 2]], "scale": False},
    {"text": "héllo 🙂 <b>wörld</b> 123", "top_k": 50},
]


@pytest.mark.parametrize("fields", REQUESTS, ids=lambda f: ",".join(f) or "plain")
def test_a_helper_answers_with_the_bytes_of_this_process(helped, fields):
    overflow, service = helped
    req = schemas.AnalyzeRequest(**{"text": TEXT, **fields})
    before = overflow.answered
    with busy(service):
        there = overflow.analyze(service, req)
    assert there is not None and overflow.answered == before + 1
    here = dump(analysis(service, req))
    assert there == here
    schemas.AnalyzeResponse.model_validate_json(there)  # an answer of the schema


def test_a_helper_says_what_is_wrong_with_a_request_as_this_process_does(helped):
    overflow, service = helped
    for fields in ({"text": "word " * 300}, {"layers": [9]}):
        req = schemas.AnalyzeRequest(**{"text": TEXT, **fields})
        with pytest.raises(ValueError) as here:
            analysis(service, req)
        with busy(service), pytest.raises(ValueError) as there:
            overflow.analyze(service, req)
        assert str(there.value) == str(here.value)
        # (a text too long: its numbers come with it, for the answer's 422: backend/service.py TextTooLong)
        assert type(there.value) is type(here.value) and vars(there.value) == vars(here.value)


def test_only_a_busy_process_asks_a_helper_and_only_for_a_new_sentence_of_the_default_model(helped):
    overflow, service = helped
    before = overflow.answered
    assert overflow.analyze(service, schemas.AnalyzeRequest(text=TEXT)) is None  # nothing else computing here
    service = ModelService(Settings(helper_processes=1))  # one that keeps its passes
    service.run(None, "A sentence computed here.", interventions(schemas.AnalyzeRequest(text="x")))
    with busy(service):
        assert overflow.analyze(service, schemas.AnalyzeRequest(text="A sentence computed here.")) is None  # cached
        other = registry.TINY_ORDER[1] if registry.TINY_ORDER[0] == registry.DEFAULT_MODEL else registry.TINY_ORDER[0]
        assert overflow.analyze(service, schemas.AnalyzeRequest(text=TEXT, model=other)) is None
    assert overflow.answered == before


def test_no_helper_starts_when_there_is_none_to_start_or_nothing_is_busy():
    settings = Settings(helper_processes=0)
    service, overflow = ModelService(settings), Overflow(settings)
    with busy(service):
        assert overflow.analyze(service, schemas.AnalyzeRequest(text=TEXT)) is None
    assert overflow._pool is None
    idle = Overflow(Settings(helper_processes=1))
    assert idle.analyze(ModelService(Settings()), schemas.AnalyzeRequest(text=TEXT)) is None
    assert idle._pool is None  # started only when a request finds the process busy


def test_the_default_is_one_helper_per_core_beyond_the_first(monkeypatch):
    monkeypatch.delenv("ATTNLAB_HELPER_PROCESSES", raising=False)
    assert Settings().helper_processes is None
    assert helper_processes(Settings()) == (os.cpu_count() or 1) - 1
    assert helper_processes(Settings(helper_processes=3)) == 3
    monkeypatch.setenv("ATTNLAB_HELPER_PROCESSES", "0")
    assert helper_processes(Settings()) == 0


def test_the_app_answers_from_a_helper_while_busy_and_stops_its_helpers_when_it_stops():
    app = create_app(Settings(helper_processes=1))
    body = {"text": "The cat sat on the mat because it was tired.", "layers": [0]}
    with TestClient(app) as client:
        service, overflow = app.state.service, app.state.overflow
        ready(overflow, service)
        with busy(service):
            there = client.post("/api/analyze", json=body)
        assert overflow.answered == 1
        counted = client.get("/api/ready").json()
        assert (counted["helpers"], counted["helpers_ready"], counted["helper_answers"]) == (1, 1, 1)
        here = client.post("/api/analyze", json=body)  # nothing busy: computed here
        assert there.status_code == here.status_code == 200 and there.content == here.content
        assert overflow.answered == 1
        pids = list(overflow._pool._processes)
        assert pids
    assert overflow._pool is None
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a helper process outlived the app"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:  # a zombie is gone but for its exit status
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
