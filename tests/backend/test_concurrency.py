"""Concurrent requests: no state shared through hooks or caches; overload answers 503 quickly."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from backend.main import create_app
from backend.service import ModelService
from backend.settings import Settings

SENTENCES = [f"Sentence number {i}: the {w} saw a {w} near the river." for i, w in
             enumerate(["cat", "dog", "bird", "fish", "girl", "boy", "tree", "car", "ball", "mom"] * 5)]


def test_fifty_threads_get_the_same_answers_as_one_by_one():
    # (a wait long enough for all 50 on a busy machine: this test is about the answers, not the queue)
    settings = Settings(max_concurrent_runs=4, max_queued_runs=100, result_cache_mb=0, queue_timeout_s=300)
    with TestClient(create_app(settings, ModelService(settings))) as c:
        serial = [c.post("/api/analyze", json={"text": t}).json() for t in SENTENCES]
        with ThreadPoolExecutor(50) as pool:
            parallel = list(pool.map(lambda t: c.post("/api/analyze", json={"text": t}).json(), SENTENCES))
    assert len(SENTENCES) == 50 and parallel == serial


class SlowService(ModelService):
    def _forward(self, loaded, ids, iv, hooks=None):
        time.sleep(0.5)
        return super()._forward(loaded, ids, iv, hooks)


def test_a_flood_gets_quick_503_with_retry_after_and_the_server_recovers():
    settings = Settings(max_concurrent_runs=1, max_queued_runs=2, queue_timeout_s=5, result_cache_mb=0)
    with TestClient(create_app(settings, SlowService(settings)), raise_server_exceptions=False) as c:
        results = []

        def hit(i):
            start = time.perf_counter()
            r = c.post("/api/analyze", json={"text": f"flood {i}"})
            results.append((r.status_code, r.headers.get("retry-after"), time.perf_counter() - start))

        threads = [threading.Thread(target=hit, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refused = [r for r in results if r[0] == 503]
        assert refused and all(r[1] == "1" for r in refused)
        # refused at once, not after waiting out the queue's timeout (5 s): a bound halfway, so that a busy machine
        # (the test's own 12 threads and the 0.5 s passes share its cores) cannot fail it, while a refusal that waited
        # would
        assert max(r[2] for r in refused) < settings.queue_timeout_s / 2
        assert {r[0] for r in results} <= {200, 503}
        assert c.post("/api/analyze", json={"text": "after the flood"}).status_code == 200
