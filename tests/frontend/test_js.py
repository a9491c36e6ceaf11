"""The JavaScript unit tests (tests/frontend/js/*.test.mjs: the data layer, the derived values, the sources, the
state and its URL, the lesson template), run with Node's own test runner as part of the Python test command.

They read the server's vocabulary from the file ATTNLAB_META, written here from backend/vocabulary.py. Node comes from
Debian's `nodejs` package (/usr/bin/node); without it the test is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from backend import vocabulary
from backend.settings import Settings
from models import registry

ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = ROOT / "tests" / "frontend" / "js"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def node() -> str:
    path = shutil.which("node")
    if path is None:
        msg = "the JavaScript unit tests need Node.js 20 or later (Debian: apt-get install -y nodejs)"
        if IN_CI:
            pytest.fail("in CI: " + msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def meta_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("meta") / "meta.json"
    path.write_text(json.dumps(vocabulary.meta(Settings(), registry.list_models())), encoding="utf-8")
    return path


def test_javascript_unit_tests(meta_file):
    files = sorted(str(p.relative_to(ROOT)) for p in JS_TESTS.glob("*.test.mjs"))
    assert len(files) >= 6, files
    r = subprocess.run([node(), "--test", *files], cwd=ROOT, env={**os.environ, "ATTNLAB_META": str(meta_file)},
                       capture_output=True, text=True, timeout=600)
    summary = [line for line in r.stdout.splitlines() if line.startswith(("# pass", "# fail", "# tests"))]
    assert r.returncode == 0, f"node --test failed:\n{r.stdout[-12000:]}\n{r.stderr[-3000:]}"
    assert "# fail 0" in summary, summary
