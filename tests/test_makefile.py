"""The Makefile's checks of what is installed: `make run` and `make test` install only what is missing, and on a
virtualenv that has everything they find so without importing it (torch alone takes seconds to import)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def have(*names: str, env: dict[str, str] | None = None) -> int:
    """The exit status of the Makefile's $(HAVE) NAME... with this test's Python as the virtualenv's."""
    bin_dir = Path(sys.executable).parent
    probe = f"probe: ; @$(HAVE) {' '.join(names)}"
    r = subprocess.run(["make", "-s", "--no-print-directory", f"BIN={bin_dir}", "--eval", probe, "probe"], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)
    return r.returncode


def test_have_finds_modules_and_distributions_and_misses_what_is_not_there():
    assert have("json", "pytest") == 0
    assert have("attention-lab") == 0  # this project, a distribution (pip install -e .)
    assert have("json", "no_such_module_for_attnlab") != 0
    assert have("no-such-distribution-for-attnlab") != 0
    assert have("attention-lab", "no_such_module_for_attnlab") != 0


def test_have_does_not_import_what_it_looks_for(tmp_path):
    marker = tmp_path / "imported"
    (tmp_path / "attnlab_probe_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    assert have("attnlab_probe_module", env={"PYTHONPATH": str(tmp_path)}) == 0
    assert not marker.exists()


def test_install_on_a_complete_virtualenv_installs_nothing():
    """`make install` (the first half of `make run`) where everything is there: no pip, no output."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("the tests run outside the project's virtualenv")
    r = subprocess.run(["make", "-s", "--no-print-directory", "install"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
