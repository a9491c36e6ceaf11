"""A model that is not loaded yet loads once, in the background: a request waits at most settings.load_wait_s,
then gets a 503 with Retry-After that says how far along the load is; /api/models shows the state."""

import re
import threading
import time

import pytest
import torch
from fastapi.testclient import TestClient

from backend import schemas
from backend.main import create_app
from backend.service import ModelLoadFailed, ModelLoading, ModelNotInstalled, ModelService, UnknownModel
from backend.settings import Settings
from models import pretrained, registry
from models.registry import LoadStatus

NAME = "tiny-learned"  # a real registered name; its load is replaced by a slow fake below


class FakeLoads:
    """A load that takes `seconds`, reports its progress, counts its calls, and can fail."""

    def __init__(self, seconds: float, fail: bool = False):
        self.seconds, self.fail = seconds, fail
        self.calls = 0
        self.models: dict[str, registry.LoadedModel] = {}
        self.states: dict[str, LoadStatus] = {}

    def load(self, name: str) -> registry.LoadedModel:
        if name != NAME:  # the default model, which the app loads before it answers
            return registry.load(name)
        self.calls += 1
        for step in range(10):
            self.states[name] = LoadStatus("loading", step / 10)
            time.sleep(self.seconds / 10)
        if self.fail:
            self.states[name] = LoadStatus("failed", None, "OSError: the file is broken")
            raise OSError("the file is broken")
        self.models[name] = registry.load(name)
        return self.models[name]

    def service(self, wait: float = 0.2) -> ModelService:
        return ModelService(Settings(load_wait_s=wait), load=self.load, background_loads=True,
                            loaded=self.models.get, status=lambda n: self.states.get(n) or LoadStatus("not_loaded"))


def test_a_request_waits_at_most_load_wait_s_then_hears_how_far_along():
    fake = FakeLoads(1.5)
    service = fake.service(wait=0.2)
    t0 = time.monotonic()
    with pytest.raises(ModelLoading) as e:
        service.get(NAME)
    assert time.monotonic() - t0 < 1.0
    assert e.value.model == NAME and 0 <= e.value.progress < 1 and e.value.retry_after >= 1
    assert f"{round(100 * e.value.progress)}% done" in str(e.value)
    deadline = time.monotonic() + 10
    while True:
        try:
            loaded = service.get(NAME)
            break
        except ModelLoading:
            assert time.monotonic() < deadline
    assert loaded is registry.load(NAME) and fake.calls == 1
    assert service.get(NAME) is loaded and fake.calls == 1  # loaded: no new load


def test_many_requests_start_one_load():
    fake = FakeLoads(0.6)
    service = fake.service(wait=2.0)  # long enough to see the load end
    results: list = []

    def ask() -> None:
        try:
            results.append(service.get(NAME))
        except Exception as e:  # pragma: no cover (the assertion below shows it)
            results.append(e)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.calls == 1 and all(r is registry.load(NAME) for r in results)


def test_a_failed_load_is_said_plainly_and_tried_again_later(monkeypatch):
    fake = FakeLoads(0.05, fail=True)
    service = fake.service(wait=2.0)
    with pytest.raises(ModelLoadFailed, match="could not be loaded: OSError: the file is broken"):
        service.get(NAME)
    with pytest.raises(ModelLoadFailed):
        service.get(NAME)  # within LOAD_RETRY_S: the same answer, no new attempt
    assert fake.calls == 1
    monkeypatch.setattr(ModelService, "LOAD_RETRY_S", 0.0)
    fake.fail = False
    assert service.get(NAME) is registry.load(NAME) and fake.calls == 2


def test_unknown_and_missing_models_are_refused_at_once(monkeypatch):
    fake = FakeLoads(5)
    service = fake.service()
    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        service.get("nope")
    real = pretrained.find_package
    monkeypatch.setattr(pretrained, "find_package",
                        lambda m: None if m == pretrained.MINILM_PACKAGE.module else real(m))
    with pytest.raises(ModelNotInstalled, match=re.escape(pretrained.INSTALL)):
        service.get("minilm-l6")
    assert fake.calls == 0


def test_the_api_answers_503_with_retry_after_and_models_shows_the_state():
    fake = FakeLoads(2.0)
    service = fake.service(wait=0.1)
    with TestClient(create_app(Settings(load_wait_s=0.1), service), raise_server_exceptions=False) as client:
        t0 = time.monotonic()
        r = client.post("/api/analyze", json={"text": "Once upon a time", "model": NAME})
        assert time.monotonic() - t0 < 2
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        body = schemas.Unavailable.model_validate(r.json())
        assert body.loading == NAME and 0 <= body.progress < 1 and "is loading" in body.detail
        listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert listed[NAME]["load"]["state"] == "loading" and 0 <= listed[NAME]["load"]["progress"] < 1
        deadline = time.monotonic() + 20
        while r.status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
            r = client.post("/api/analyze", json={"text": "Once upon a time", "model": NAME})
        assert r.status_code == 200 and r.json()["model"] == NAME and fake.calls == 1


def test_a_report_asked_for_while_its_model_loads_says_to_download_it_again():
    # Download report is a link, not a request of the page's data layer: nothing asks again by itself, so the 503
    # says what to do (and when) rather than that the page asks again
    fake = FakeLoads(2.0)
    service = fake.service(wait=0.1)
    params = {"text": "Once upon a time", "model": NAME}
    with TestClient(create_app(Settings(load_wait_s=0.1), service), raise_server_exceptions=False) as client:
        r = client.get("/api/report", params=params)
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        body = schemas.Unavailable.model_validate(r.json())
        assert body.loading == NAME and "is loading" in body.detail
        assert "download the report again once it has loaded" in body.detail and "the page" not in body.detail
        deadline = time.monotonic() + 20
        while r.status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(int(r.headers["retry-after"]))
            r = client.get("/api/report", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and fake.calls == 1


@pytest.mark.slow
def test_smollm2_with_an_empty_cache_answers_at_once_then_loads(need, tmp_path, monkeypatch):
    """The first request for SmolLM2 with nothing cached: a quick 503 while it converts, then the right answer."""
    need(pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module, why="SmolLM2-135M")
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_LOADED", {k: v for k, v in registry._LOADED.items() if k != "smollm2-135m"})
    monkeypatch.setattr(registry, "_STATUS", {})
    assert not pretrained.smollm2_cached()
    text = "The capital of France is"
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as client:
        t0 = time.monotonic()
        r = client.post("/api/analyze", json={"text": text, "model": "smollm2-135m", "top_k": 3})
        assert time.monotonic() - t0 < 2, "the first answer took too long"
        assert r.status_code in (200, 503), r.text
        progress = []
        deadline = time.monotonic() + 300
        while r.status_code == 503:
            assert "retry-after" in r.headers and r.json()["loading"] == "smollm2-135m", r.text
            # the load's progress, read every 0.1 s until the retry is due (read once per retry, a conversion that
            # ran quickly on a quiet machine was seen at 0.0 and then done, and the test failed in CI)
            due = time.monotonic() + float(r.headers["retry-after"])
            while time.monotonic() < due:
                state = {m["name"]: m for m in client.get("/api/models").json()["models"]}["smollm2-135m"]["load"]
                if state["state"] == "loading":
                    progress.append(state["progress"])
                time.sleep(0.1)
            assert time.monotonic() < deadline, f"still loading after 300 s: {progress[-3:]}"
            t0 = time.monotonic()
            r = client.post("/api/analyze", json={"text": text, "model": "smollm2-135m", "top_k": 3})
            assert time.monotonic() - t0 < 2
        assert r.status_code == 200, r.text
        assert progress == sorted(progress) and any(0 < p < 1 for p in progress), progress
        assert {m["name"]: m for m in client.get("/api/models").json()["models"]}["smollm2-135m"]["load"] == {
            "state": "loaded", "progress": 1.0, "error": None}
    body = schemas.AnalyzeResponse.model_validate(r.json())
    assert body.predictions[0].text == " Paris" and body.predictions[0].prob > 0.7
    loaded = registry.loaded("smollm2-135m")
    _, cache = loaded.model.run_with_cache(torch.tensor([t.id for t in body.tokens]))
    assert torch.allclose(torch.tensor(body.attention[7]), cache["pattern", 7], atol=1e-4)
    assert pretrained.smollm2_cached()  # converted once, and cached for the next start
