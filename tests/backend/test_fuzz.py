"""Property-based fuzzing of the whole OpenAPI schema with schemathesis: every check, every operation.

Left out: the POSTs that start or steer a training-lab run (see `schema` below). The accepted refusals of
schema-valid requests (404/422 for what a schema cannot state) are
explained in schemathesis.toml at the repository root.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from backend.main import create_app
from backend.settings import Settings
from models import registry

app = create_app(Settings())
# Starting training-lab runs is left out: each starts a worker process, and past lab_max_runs + lab_max_queued the
# designed answer is a 503 (tests/backend/test_lab.py covers those routes, their limits and their refusals)
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(method="POST", path_regex=r"^/api/lab/runs")
CASES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _models_loaded():
    """Every installed model loaded before the fuzzing: a model still loading answers 503 with Retry-After
    (tests/backend/test_loading.py), which is not what these cases are about."""
    for m in registry.list_models():
        if m.available:
            registry.load(m.name)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api(case):
    CASES.append(f"{case.method} {case.path}")
    case.call_and_validate()


@pytest.mark.slow
def test_at_least_a_thousand_cases_ran():
    if not CASES:
        pytest.skip("run together with test_api (the whole file)")
    assert len(CASES) >= 1000, f"only {len(CASES)} generated cases"
