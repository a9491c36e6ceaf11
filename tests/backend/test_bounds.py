"""Every expensive request is bounded: one limiter for all model work, bounded answers, a health check that always
answers, the Host allow-list, HEAD, chunked bodies, the seed, the CLI on a closed pipe. The load test of a real
server is tests/backend/test_load.py."""

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time

import anyio
import pytest
import torch
from fastapi.testclient import TestClient

from backend.cli import main
from backend.main import allowed_hosts, create_app
from backend.service import ModelService
from backend.settings import Settings
from backend.share import local_addresses
from models import pretrained, registry
from tests.loops import run_apart

TEXT = "The cat sat on the mat because it was tired."


def app_client(service: ModelService, **kw) -> TestClient:
    return TestClient(create_app(service.settings, service), raise_server_exceptions=False, **kw)


@pytest.fixture(scope="module")
def service() -> ModelService:
    return ModelService(Settings())


def tokens_of(text: str, model: str = "tiny-sinusoidal") -> int:
    return len(registry.load(model).tokenizer.encode(text))


def text_of(n: int) -> str:
    """A text of exactly n tokens on the tiny models (with BOS)."""
    words = ["The"]
    while tokens_of(" ".join(words)) < n:
        words.append("cat")
    text = " ".join(words)
    assert tokens_of(text) == n
    return text


# --------------------------------------------------------------------------- one limiter for all model work

class SlowPasses(ModelService):
    """Each continuation pass takes at least 50 ms."""

    def _next_logits(self, loaded, ids, iv):
        time.sleep(0.05)
        return super()._next_logits(loaded, ids, iv)


def test_a_continuation_holds_one_slot_for_its_whole_loop():
    service = SlowPasses(Settings(max_concurrent_runs=1, queue_timeout_s=0.3, result_cache_mb=0))
    with app_client(service) as c:
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", c.post(
            "/api/predict", json={"text": "Once upon a time", "continue_tokens": 30})))
        t.start()
        deadline = time.monotonic() + 20
        while service.stats()["passes_done"] < 3 and time.monotonic() < deadline:  # the loop is under way
            time.sleep(0.01)
        # between two passes of the continuation the slot stays taken: another request waits, then gets 503
        r = c.post("/api/analyze", json={"text": "Something else entirely."})
        t.join()
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert out["r"].status_code == 200 and len(out["r"].json()["continuation_tokens"]) == 30
    stats = service.stats()
    assert stats["peak_passes"] == 1 and stats["running"] == stats["passes"] == 0


def test_a_continuation_stops_at_the_models_max_tokens(service):
    limit = registry.info("tiny-sinusoidal").max_tokens
    text = text_of(limit - 3)
    with app_client(service) as c:
        before = service.stats()["passes_done"]
        body = c.post("/api/predict", json={"text": text, "continue_tokens": 50}).json()
        passes = service.stats()["passes_done"] - before
    new = body["continuation_tokens"]
    assert len(body["tokens"]) + len(new) == limit and len(new) == 3
    assert "max_tokens" in body["stopped"] and f"at most {limit} tokens" in body["stopped"]
    assert passes == 3  # the text's pass and one per token after the first: none wasted past the limit
    # the tokens are the greedy ones, recomputed here with the model itself
    loaded = registry.load("tiny-sinusoidal")
    ids = loaded.tokenizer.encode(text)
    for _ in range(3):
        ids.append(int(loaded.model(torch.tensor(ids))[-1].argmax()))
    assert [t["id"] for t in new] == ids[-3:]


def _asgi_request(method: str, path: str, body: bytes = b"", gone_after: float = 0.3):
    """A request whose client goes away `gone_after` seconds in: (scope, receive, sent messages)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "server": ("testserver", 80), "client": ("127.0.0.1", 50000)}
    start = time.monotonic()
    first = True
    sent: list[dict] = []

    async def receive():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": body, "more_body": False}
        if time.monotonic() - start < gone_after:
            await anyio.sleep_forever()  # (cancelled at once by Request.is_disconnected: nothing yet)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    return scope, receive, sent


def test_a_continuation_stops_at_the_next_pass_when_its_client_goes_away():
    service = SlowPasses(Settings(result_cache_mb=0))
    app = create_app(service.settings, service)
    body = json.dumps({"text": "Once upon a time", "continue_tokens": 50}).encode()
    scope, receive, sent = _asgi_request("POST", "/api/predict", body, gone_after=0.4)
    start = time.monotonic()
    run_apart(app(scope, receive, lambda m: _append(sent, m)))
    took = time.monotonic() - start
    stats = service.stats()
    assert stats["passes_done"] < 40 and took < 0.05 * 40  # stopped long before its 50 passes
    assert stats["running"] == stats["passes"] == 0
    assert sent[0]["status"] == 499


async def _append(sent: list, message: dict) -> None:
    sent.append(message)


class Gate(ModelService):
    """Forward passes wait for the gate to open."""

    def __init__(self, settings):
        super().__init__(settings)
        self.gate = threading.Event()

    def _forward(self, loaded, ids, iv, hooks=None):
        self.gate.wait(30)
        return super()._forward(loaded, ids, iv, hooks)


def test_a_request_waiting_for_a_slot_stops_waiting_when_its_client_goes_away():
    service = Gate(Settings(max_concurrent_runs=1, queue_timeout_s=20, result_cache_mb=0))
    with app_client(service) as c:
        t = threading.Thread(target=lambda: c.post("/api/analyze", json={"text": "holds the slot"}))
        t.start()
        while service.stats()["running"] < 1:
            time.sleep(0.01)
        scope, receive, sent = _asgi_request("POST", "/api/analyze", json.dumps({"text": "waits"}).encode(), 0.3)
        start = time.monotonic()
        run_apart(c.app(scope, receive, lambda m: _append(sent, m)))
        waited = time.monotonic() - start
        service.gate.set()
        t.join()
    assert sent[0]["status"] == 499 and waited < 5  # not the 20 s of queue_timeout_s
    assert service.stats()["waiting"] == 0


def test_health_and_ready_answer_while_every_slot_and_the_queue_are_taken():
    service = Gate(Settings(max_concurrent_runs=1, max_queued_runs=1, queue_timeout_s=20, result_cache_mb=0))
    with app_client(service) as c:
        assert c.get("/api/ready").json()["ready"] is True
        threads = [threading.Thread(target=lambda i=i: c.post("/api/analyze", json={"text": f"busy {i}"}))
                   for i in range(2)]
        for t in threads:
            t.start()
        while service.stats()["waiting"] < 1 or service.stats()["running"] < 1:
            time.sleep(0.01)
        try:
            health = c.get("/api/health")
            ready = c.get("/api/ready")
            refused = c.post("/api/analyze", json={"text": "one too many"})
        finally:
            service.gate.set()
            for t in threads:
                t.join()
        after = c.get("/api/ready")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 503
    body = ready.json()
    assert body["saturated"] is True and body["busy"] is True and body["ready"] is False
    assert body["running"] == 1 and body["waiting"] == 1 and body["passes"] == 1 and body["default_model_loaded"]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert after.status_code == 200 and after.json()["ready"] is True and after.json()["refused"] == 1


def test_health_and_ready_run_in_the_event_loop():
    """No worker thread for them (a sync route would wait in the same thread pool as the model routes)."""
    from backend.routes import meta

    assert asyncio.iscoroutinefunction(meta.health) and asyncio.iscoroutinefunction(meta.ready)


def test_every_model_route_holds_a_slot(service):
    """Every route that runs the model counts its passes in the limiter (stats), whichever route it is."""
    requests = [("post", "/api/analyze", {"text": "slot 1"}), ("post", "/api/qkv", {"text": "slot 2", "layer": 0}),
                ("post", "/api/attention/explain", {"text": "slot 3", "layer": 0, "head": 0, "query": 1}),
                ("post", "/api/embeddings", {"text": "slot 4"}), ("post", "/api/positional/decompose", {"text": "slot 5"}),
                ("post", "/api/predict", {"text": "slot 6", "continue_tokens": 2}),
                ("post", "/api/compare", {"a": {"text": "slot 7"}, "b": {"text": "slot 8"}}),
                ("get", "/api/report?text=slot+9", None)]
    with app_client(service) as c:
        for method, path, body in requests:
            before = service.stats()["passes_done"]
            r = c.post(path, json=body) if method == "post" else c.get(path)
            assert r.status_code == 200, (path, r.text)
            assert service.stats()["passes_done"] > before, path


# --------------------------------------------------------------------------- bounded answers

def test_the_answer_limit_is_the_size_of_the_json_sent(service):
    with app_client(service) as c:
        size = len(c.post("/api/analyze", json={"text": TEXT}).content)
    for limit, status in (((size - 1) / 1e6, 422), ((size + 0.5) / 1e6, 200)):
        s = ModelService(Settings(max_answer_mb=limit))
        with app_client(s) as c:
            r = c.post("/api/analyze", json={"text": TEXT})
        assert r.status_code == status, (limit, r.text[:200])
        if status == 422:
            detail = r.json()["detail"]
            assert "max_answer_mb, ATTNLAB_MAX_ANSWER_MB" in detail and "`layers`" in detail
            assert f"{size / 1e6:.1f} MB" in detail


@pytest.mark.slow
def test_a_large_models_full_analysis_is_refused_and_its_compact_form_is_not(need):
    """With the default limits, what the page asks for on SmolLM2 (one layer and the 8-bit thumbnails) fits; every
    layer at full precision does not, on a long text."""
    need("gguf", why="SmolLM2")
    if not registry.info("smollm2-135m").available:
        pytest.skip("smollm2-135m is not installed")
    s = ModelService(Settings())
    text = " ".join(["The dog ran to the park and saw a big red ball."] * 9)
    assert 100 < tokens_of(text, "smollm2-135m") <= 128
    with app_client(s) as c:
        full = c.post("/api/analyze", json={"text": text, "model": "smollm2-135m"})
        compact = c.post("/api/analyze", json={"text": text, "model": "smollm2-135m", "layers": [0], "thumbnails": True})
    assert full.status_code == 422 and "ATTNLAB_MAX_ANSWER_MB" in full.json()["detail"]
    assert compact.status_code == 200


def test_report_tokens_are_bounded_by_the_models_size(service):
    info = registry.info("tiny-sinusoidal")
    heads = info.n_layers * info.n_heads
    n = 6
    text = text_of(n)
    for weights, status in ((heads * n * n, 200), (heads * n * n - 1, 422)):
        s = ModelService(Settings(max_report_weights=weights))
        with app_client(s) as c:
            assert c.get("/api/models").json()["models"][0]["max_report_tokens"] == math.isqrt(weights // heads)
            before = s.stats()["passes_done"]
            r = c.get("/api/report", params={"text": text})
            assert r.status_code == status, r.text[:300]
            if status == 422:
                detail = r.json()["detail"]
                assert f"at most {n - 1} tokens" in detail and "ATTNLAB_MAX_REPORT_WEIGHTS" in detail
                assert s.stats()["passes_done"] == before  # refused before any forward pass
    # by default a report on a tiny model takes its whole length, and a larger model less
    assert service.max_report_tokens(info) == info.max_tokens == 128
    big = registry.info("smollm2-135m")
    assert service.max_report_tokens(big) == math.isqrt(262_144 // (big.n_layers * big.n_heads)) == 31


@pytest.mark.parametrize("body", [
    {"a": {"text": TEXT}, "b": {"text": TEXT, "positions": "removed"}},
    # a head only side a's model has (MiniLM: 6 layers x 12 heads): side b sends none, and there is no difference
    {"a": {"text": TEXT, "model": "minilm-l6"}, "b": {"text": TEXT}, "layer": 5, "head": 11},
], ids=["all heads", "one side's head"])
def test_the_compare_limit_counts_the_weights_of_the_answer(body, need):
    if body["a"].get("model") == "minilm-l6":
        need(pretrained.MINILM_PACKAGE.module, why="MiniLM-L6")
    with app_client(ModelService(Settings())) as c:
        answer = c.post("/api/compare", json=body).json()
    # the weights the answer holds, counted in the answer itself
    count = sum(torch.tensor(x).numel() for x in (answer["a"]["attention"], answer["b"]["attention"],
                                                  answer["difference"] or []))
    for limit, status in ((count, 200), (count - 1, 422)):
        with app_client(ModelService(Settings(max_compare_weights=limit))) as c:
            r = c.post("/api/compare", json=body)
            assert r.status_code == status
            if status == 422 and "layer" not in body:
                assert "ATTNLAB_MAX_COMPARE_WEIGHTS" in r.json()["detail"] and "`layer`" in r.json()["detail"]
                assert c.post("/api/compare", json={**body, "layer": 0, "head": 0}).status_code == 200


@pytest.mark.parametrize("site, status", [(None, 200), ("same-origin", 200), ("none", 200),
                                          ("cross-site", 403), ("same-site", 403)])
def test_a_report_is_made_only_for_our_own_page(service, site, status):
    with app_client(service) as c:
        before = service.stats()["passes_done"]
        r = c.get("/api/report", params={"text": "Hi there."}, headers={"sec-fetch-site": site} if site else {})
    assert r.status_code == status
    if status == 403:
        assert "Sec-Fetch-Site" in r.json()["detail"] and service.stats()["passes_done"] == before


def test_a_lesson_steps_positions_are_bounded_like_the_positional_routes(monkeypatch):
    """A lesson step's `pn` (the positions of the encoding heatmap) is GET /api/positional's `n`: over
    max_positions_n it is refused before any work, as the route refuses it (the cosine table is n x n: pn=4000 took
    4 s and 1.3 GB of the server's memory, pn=100000 would have asked for 80 GB); so is a lesson's own."""
    from backend.analysis import positional
    from backend.lesson_steps import service_fetcher

    asked = []
    real = positional.encoding
    monkeypatch.setattr(positional, "encoding", lambda loaded, n: asked.append(n) or real(loaded, n))
    service = ModelService(Settings(max_positions_n=32))
    with app_client(service) as c:
        r = c.post("/api/lessons/positional-encoding/steps/1", json={"text": TEXT, "pn": 33})
        assert r.status_code == 422
        assert "pn is 33" in r.json()["detail"] and "ATTNLAB_MAX_POSITIONS_N" in r.json()["detail"]
        assert asked == [] and service.stats()["passes_done"] == 0
        assert c.post("/api/lessons/positional-encoding/steps/1", json={"text": TEXT, "pn": 32}).status_code == 200
        assert asked == [32]
    with pytest.raises(ValueError, match="max_positions_n"):  # a lesson file's own pn, `attnlab lessons check`
        service_fetcher(service)("positional", {"n": 33, "model": "tiny-sinusoidal"})
    assert asked == [32]


# --------------------------------------------------------------------------- seed

def test_the_seed_matters_only_when_positions_are_shuffled():
    service = ModelService(Settings())
    with app_client(service) as c:
        a = c.post("/api/analyze", json={"text": TEXT, "seed": 0}).json()
        b = c.post("/api/analyze", json={"text": TEXT, "seed": 12345}).json()
        assert a == b and a["interventions"]["seed"] is None and len(service._runs) == 1
        removed = [c.post("/api/analyze", json={"text": TEXT, "positions": "removed", "seed": s}).json() for s in (1, 2)]
        assert removed[0] == removed[1] and len(service._runs) == 2
        s1, s2 = (c.post("/api/analyze", json={"text": TEXT, "positions": "shuffled", "seed": s}).json() for s in (1, 2))
    assert s1["interventions"]["seed"] == 1 and s2["interventions"]["seed"] == 2
    assert s1["interventions"]["permutation"] != s2["interventions"]["permutation"] and len(service._runs) == 4


# --------------------------------------------------------------------------- Host allow-list

@pytest.fixture(scope="module")
def local_client(service):
    """An app with the default allow-list (no extra names), asked at http://127.0.0.1:8000."""
    s = ModelService(Settings(allowed_hosts=[]))
    with TestClient(create_app(s.settings, s), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "127.0.0.1", "localhost:8000", "localhost", "LocalHost:8000",
                                  "localhost.:8000", "localhost.", "[::1]:8000", "[::1]", "localhost:9999"])
def test_the_servers_own_names_are_answered(local_client, host):
    assert local_client.get("/api/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example.com:8000", "evil.example.com", "localhost.evil.example.com:8000",
                                  "127.0.0.1.evil.example.com", "127.0.0.1.:8000", "testserver", "[::2]:8000",
                                  "localhost:8000:80", "localhost:http", "[::1", "", "localhost..", "10.1.2.3:8000"])
def test_any_other_host_gets_400(local_client, host):
    r = local_client.get("/api/health", headers={"host": host})
    assert r.status_code == 400 and "ATTNLAB_ALLOWED_HOSTS" in r.json()["detail"]


def test_a_foreign_host_runs_nothing(local_client):
    service = local_client.app.state.service
    before = service.stats()["passes_done"]
    r = local_client.post("/api/analyze", json={"text": "rebinding"}, headers={"host": "evil.example.com:8000"})
    assert r.status_code == 400 and service.stats()["passes_done"] == before
    assert local_client.get("/", headers={"host": "evil.example.com:8000"}).status_code == 400


def test_on_all_interfaces_the_machines_own_names_and_addresses_are_answered():
    import socket

    names = allowed_hosts(Settings(host="0.0.0.0", allowed_hosts=[]))
    assert {"127.0.0.1", "localhost", "localhost.", "[::1]", socket.gethostname().lower()} <= names
    for address in local_addresses():
        assert (f"[{address}]" if ":" in address else address) in names
    assert "evil.example.com" not in names
    assert allowed_hosts(Settings(host="127.0.0.1", allowed_hosts=[])) == {"127.0.0.1", "localhost", "localhost.",
                                                                            "[::1]"}


def test_more_names_come_from_the_setting(monkeypatch):
    monkeypatch.setenv("ATTNLAB_ALLOWED_HOSTS", "class.example.org, 10.0.0.7,::5")
    names = allowed_hosts(Settings())
    assert {"class.example.org", "class.example.org.", "10.0.0.7", "[::5]"} <= names
    monkeypatch.setenv("ATTNLAB_ALLOWED_HOSTS", '["a.example"]')
    assert "a.example" in allowed_hosts(Settings())
    s = ModelService(Settings(allowed_hosts=["*"]))
    with app_client(s) as c:
        assert c.get("/api/health", headers={"host": "anything.example:1"}).status_code == 200


# --------------------------------------------------------------------------- HEAD, chunked bodies

@pytest.mark.parametrize("path", ["/", "/api/health", "/api/ready", "/api/models", "/api/lessons", "/docs",
                                  "/static/docs.js", "/vendor/plotly.min.js", "/js/main.js", "/openapi.json",
                                  "/api/positional?n=4", "/api/share"])
def test_head_works_on_every_get_route(client, path):
    plain = {"accept-encoding": "identity"}
    get, head = client.get(path, headers=plain), client.head(path, headers=plain)
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and int(head.headers["content-length"]) == len(get.content)
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_on_a_post_route_is_405(client):
    assert client.head("/api/analyze").status_code == 405


def test_a_chunked_body_over_the_limit_gets_413(client):
    def chunks(n):
        for _ in range(n):
            yield b" " * 100_000

    r = client.post("/api/analyze", content=chunks(11), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1,000,000 bytes" in r.json()["detail"]

    def small():
        yield b'{"text": '
        yield json.dumps(TEXT).encode() + b"}"

    r = client.post("/api/analyze", content=small(), headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["tokens"]


# --------------------------------------------------------------------------- the CLI

def test_the_cli_exits_quietly_on_a_closed_pipe(tmp_path):
    text = " ".join(["Once upon a time there was a cat."] * 12)  # a JSON answer larger than a pipe's buffer
    proc = subprocess.Popen([sys.executable, "-m", "backend", "analyze", text, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "0"})
    head = proc.stdout.read(400)  # what `| head -c 400` reads, then it goes away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141 and len(head) == 400
    assert err == "", err


def test_cli_errors_name_the_option():
    with pytest.raises(SystemExit, match="--top-k: Input should be greater than or equal to 1"):
        main(["analyze", "hi", "--top-k", "0"])
    with pytest.raises(SystemExit, match=r"--top-k is 51; the limit is 50 \(max_top_k, ATTNLAB_MAX_TOP_K\)"):
        main(["analyze", "hi", "--top-k", "51"])


def test_answers_that_clients_have_not_read_are_bounded_in_memory(monkeypatch):
    """Each answer stays in the server's memory until its client has read it (backend/server.py unsent_bytes): while
    they hold more than max_unsent_mb, a model route answers 503 with Retry-After instead of adding one more."""
    import backend.work

    held = [0]
    monkeypatch.setattr(backend.work, "unsent_bytes", lambda: held[0])
    service = ModelService(Settings(max_unsent_mb=4))
    with app_client(service) as c:
        assert c.post("/api/analyze", json={"text": TEXT}).status_code == 200
        held[0] = 5_000_000  # clients reading slowly hold 5 MB
        r = c.post("/api/analyze", json={"text": TEXT})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        assert "5 MB of answers that their clients have not read yet" in r.json()["detail"]
        assert "max_unsent_mb, ATTNLAB_MAX_UNSENT_MB" in r.json()["detail"]
        assert c.get("/api/health").status_code == 200  # (not a model route)
        held[0] = 0  # read at last
        assert c.post("/api/analyze", json={"text": TEXT}).status_code == 200


def test_the_training_labs_large_answers_are_bounded_by_the_answers_not_read_yet(monkeypatch):
    """A training run's records (and its weights) are answered from outside the model routes, and they are the
    largest answers of the server: a run of the medium model on tinystories recording every step holds 850 records,
    57 MB, all in one GET /api/lab/runs/{id}?after=-1 (twelve clients that asked for it and read slowly held 550 MB
    of a real server, past max_unsent_mb). While answers not read yet hold more than max_unsent_mb, a poll and a
    download are a 503 with Retry-After, as a model route is; the poll still counts as the page watching the run.
    Otherwise a poll answers the records as they were recorded (the bytes the event stream sends)."""
    import backend.routes.lab
    from backend.lab import LabRun
    from backend.labworker import encode_record
    from models.lab import LabConfig, LabTrainer

    held = [0]
    monkeypatch.setattr(backend.routes.lab, "unsent_bytes", lambda: held[0], raising=False)
    config = LabConfig(task="copy", size="tiny", seed=1)
    trainer = LabTrainer(config)
    displays = trainer.task.tokenizer().displays
    records = [encode_record({**trainer.record(), "budget_seconds": 0.0}, i, displays) for i in range(3)]
    run = LabRun(id=1, config=config, steps=10, paused_start=False, created=time.monotonic(), status="finished",
                 records=records, record_steps=[0, 0, 0], last_seen=0.0)
    run.checkpoints[0] = trainer.state_bytes()
    service = ModelService(Settings(max_unsent_mb=4))
    with app_client(service) as c:
        lab = c.app.state.lab
        lab._runs[1] = run
        held[0] = 5_000_000  # clients reading slowly hold 5 MB
        for path in ("/api/lab/runs/1?after=-1", "/api/lab/runs/1/files"):
            r = c.get(path)
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, (path, r.text)
            assert "max_unsent_mb, ATTNLAB_MAX_UNSENT_MB" in r.json()["detail"]
        assert run.last_seen > 0  # (the refused poll still watched the run)
        assert c.get("/api/lab/runs/1/events").status_code == 200  # (a stream sends as its client reads)
        held[0] = 0  # read at last
        r = c.get("/api/lab/runs/1?after=-1")
        assert r.status_code == 200 and r.json()["records"] == [json.loads(d) for d in records]
        assert r.json()["n_records"] == 3 and r.json()["id"] == 1
        assert [x["index"] for x in c.get("/api/lab/runs/1?after=0").json()["records"]] == [1, 2]
        assert c.get("/api/lab/runs/1?after=2").json()["records"] == []
        assert c.get("/api/lab/runs/1/files").status_code == 200


def test_a_training_runs_summary_does_not_read_its_records_attention():
    """GET /api/lab/summary (and a lesson's `labrun` source) summarises a run's records: their losses, accuracy and
    role scores, never their attention, which is nearly all of a record (67 KB of the medium model's 70 KB on
    tinystories). Reading every record whole made each summary of a run of 850 records parse 57 MB (90 ms holding
    the GIL; 8 at once took 180 MB more). Here 20 records of 2 MB of attention each: a summary allocates far less
    than one of them, and says what reading them whole says."""
    import tracemalloc

    from backend.lab import LabManager, LabRun, Worker
    from backend.labworker import encode_record
    from models.lab import LabConfig, LabTrainer, summarize

    config = LabConfig(task="copy", size="tiny", seed=1)
    trainer = LabTrainer(config)
    displays = trainer.task.tokenizer().displays
    lab = LabManager(Settings())
    run = LabRun(id=1, config=config, steps=100, paused_start=False, created=time.monotonic(), status="running")
    lab._runs[1] = run
    worker = Worker(process=None, conn=None, run=run, started=time.monotonic())
    records = []
    for i in range(20):
        trainer.train(5)
        rec = json.loads(encode_record({**trainer.record(), "budget_seconds": float(i)}, i, displays))
        rec["attention"]["data"] = "A" * 2_000_000  # as large as a long model's record, nearly all attention
        records.append(json.dumps(rec).encode())
        lab._handle(worker, ("record", records[-1], trainer.step, b""))
    expected = summarize([json.loads(d) for d in records])
    tracemalloc.start()
    try:
        got = lab.summary(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {k: got[k] for k in expected} == expected and got["records"] == 20
    assert peak < 500_000, f"a summary allocated {peak / 1e6:.1f} MB"
    assert {k: lab.summary(1, 7)[k] for k in expected} == summarize([json.loads(d) for d in records[:7]])
