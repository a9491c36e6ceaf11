"""The app around the API: docs, static files, headers, OpenAPI, what its start prepares."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_lists_every_view_and_no_static_route(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {"/api/health", "/api/ready", "/api/models", "/api/meta", "/api/analyze", "/api/qkv", "/api/attention/explain",
                     "/api/embeddings", "/api/embeddings/neighbors", "/api/embeddings/analogy", "/api/positional",
                     "/api/positional/decompose", "/api/predict", "/api/compare", "/api/report",
                     "/api/lessons", "/api/lessons/{lesson_id}/steps/{number}", "/api/share", "/api/attribution/lens",
                     "/api/attribution/logit",
                     "/api/attribution/attention", "/api/attribution/ablation",
                     "/api/roles", "/api/roles/probe", "/api/roles/models", "/api/roles/definitions",
                     "/api/positional/scheme", "/api/positional/lengths", "/api/positional/probe",
                     "/api/models/{name}/training", "/api/lab/options", "/api/lab/summary", "/api/lab/runs",
                     "/api/lab/runs/{run_id}", "/api/lab/runs/{run_id}/events", "/api/lab/runs/{run_id}/pause",
                     "/api/lab/runs/{run_id}/resume", "/api/lab/runs/{run_id}/step", "/api/lab/runs/{run_id}/reset",
                     "/api/lab/runs/{run_id}/cancel", "/api/lab/runs/{run_id}/register", "/api/lab/runs/{run_id}/files"}


def test_docs_are_served_locally(client):
    html = client.get("/docs").text
    assert "/vendor/swagger/swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1]
    assert client.get("/vendor/swagger/swagger-ui-bundle.js").status_code == 200


def test_plotly_is_served_from_the_package_gzipped_once_and_revalidated(client):
    from backend.main import plotly_js

    raw = plotly_js().read_bytes()
    r = client.get("/vendor/plotly.min.js")  # the test client asks for gzip and unpacks it
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and r.content == raw
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
    again = client.get("/vendor/plotly.min.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    plain = client.get("/vendor/plotly.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw


def test_security_headers(client):
    h = client.get("/api/health").headers
    assert "connect-src 'self'" in h["content-security-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "'unsafe-inline'" not in h["content-security-policy"].split("script-src")[1].split(";")[0]
    assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"


def test_no_cors_by_default(client):
    r = client.get("/api/health", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_plotly_reads_its_validators_at_the_start_and_they_are_frozen_out_of_the_collector():
    """The first figure makes plotly read its table of validators (one json.load of several MB, holding the GIL):
    the app does it in its lifespan, before the default model's load freezes what is alive, so that neither the first
    report nor later full collections walk it (in a new process: nothing else there has made a figure)."""
    script = """
import gc
from fastapi.testclient import TestClient
from plotly.validator_cache import ValidatorCache
from backend.main import create_app
assert ValidatorCache._json_cache is None
with TestClient(create_app()):
    table = ValidatorCache._json_cache
    assert table is not None
    assert gc.get_freeze_count() > 0 and not any(o is table for o in gc.get_objects())
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_the_routes_are_prepared_at_the_start():
    """FastAPI makes an included router's fields (pydantic schemas of each route's parameters and body) when a
    request first reaches it, in the event loop, unless the app made them at the start: after the start, no request
    makes a schema (in a new process: nothing else there has reached these routes)."""
    script = """
import pydantic
from fastapi.testclient import TestClient
from backend.main import create_app
made = []
init = pydantic.TypeAdapter.__init__
def spy(self, *a, **k):
    made.append(a[0] if a else k)
    init(self, *a, **k)
with TestClient(create_app(), base_url="http://127.0.0.1") as c:
    pydantic.TypeAdapter.__init__ = spy
    for method, path, body in [("POST", "/api/compare", {"a": {"text": "a cat"}, "b": {"text": "a dog"}}),
                               ("GET", "/api/report", {"text": "a cat"}), ("POST", "/api/qkv", {"text": "a cat", "layer": 0}),
                               ("GET", "/api/lessons", None), ("POST", "/api/roles", {"text": "a cat a cat"})]:
        r = c.request(method, path, json=body) if method == "POST" else c.get(path, params=body)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert not made, f"{len(made)} schemas made after the start"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.parametrize("path", ["/api/lessons/{lesson_id}/steps/{number}", "/api/compare", "/api/embeddings/analogy"])
def test_the_docs_try_it_out_example_of_a_route_succeeds(client, path):
    """/docs fills Try it out with the schema's example, else with a made-up value for every field: the lesson step's
    body was {"text": "V", "layer": 10000, "positions": "string", "ablate": [[null, null]], ...} (a 422), the
    comparison's texts were "L", the analogy was "/" - "k" + "-" expecting "string". Each now has an example (body
    and path) that gets a 200 with something to read."""
    spec = client.get("/openapi.json").json()
    op = spec["paths"][path]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    body = spec["components"]["schemas"][ref]["examples"][0]
    url = path
    for p in op.get("parameters", []):
        url = url.replace("{" + p["name"] + "}", str(next(iter(p["examples"].values()))["value"]))
    r = client.post(url, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    if "lessons" in path:
        assert answer["applies"] and not answer["missing"] and not answer["problems"], answer
    elif path == "/api/compare":
        assert answer["difference"] and answer["a"]["tokens"] != answer["b"]["tokens"]
    else:
        assert answer["expected"]["rank"] >= 1 and answer["neighbors"]


def test_the_docs_try_it_out_of_the_report_has_a_sentence(client):
    """GET /api/report's `text` had no example: /docs left the required field empty (every body route's text has one)."""
    spec = client.get("/openapi.json").json()
    text = next(p for p in spec["paths"]["/api/report"]["get"]["parameters"] if p["name"] == "text")
    value = next(iter(text["examples"].values()))["value"]
    r = client.get("/api/report", params={"text": value})
    assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html>")


def test_a_lesson_step_s_schema_says_what_the_server_takes(client):
    """The lesson step's body took false for a number (lab_records: false ran as 0), and /docs gave its word and a, b,
    c the other routes' "not blank" limits that it does not enforce (a blank one is resolved, and said)."""
    url = "/api/lessons/next-word-prediction/steps/1"
    text = "Once upon a time, there was a little"
    for field in ("lab_records", "layer", "token", "temp"):
        r = client.post(url, json={"text": text, field: False})
        assert r.status_code == 422 and field in r.text, (field, r.text)
    props = client.get("/openapi.json").json()["components"]["schemas"]["StepRequest"]["properties"]
    assert all("pattern" not in props[f] for f in ("text", "word", "a", "b", "c")), props["word"]
    assert client.post(url, json={"text": text, "word": "\f"}).status_code == 200
