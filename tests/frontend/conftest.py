"""Browser tests: the real app in a subprocess, driven by Debian's Chromium through pytest-playwright.

The server reads whatever models the environment gives it (by default the shipped ones in models/weights);
this file never sets ATTNLAB_WEIGHTS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ATTNLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TINY = ("tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope")
SCREENSHOTS = ROOT / "test-results" / "screenshots"  # gitignored (/test-results/)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium through Playwright")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set ATTNLAB_CHROMIUM)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}, "accept_downloads": True}



@pytest.fixture(scope="session")
def server_url():
    """The real app (backend.main.create_app) on a free port, until the session ends."""
    with serve() as url:
        yield url


@contextmanager
def serve(**env_extra: str) -> Iterator[str]:
    """The real app in a subprocess on a free port (with these environment variables added), until the block ends."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    log = tempfile.TemporaryFile(mode="w+")  # the server's output, shown if it does not start
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read()[-3000:]

    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with code {proc.returncode} before answering /api/health:\n{output()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).json() == {"status": "ok"}:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /api/health within 120 s:\n{output()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def base_url(server_url):
    return server_url


@pytest.fixture(scope="session")
def models(server_url) -> dict:
    return {m["name"]: m for m in httpx.get(f"{server_url}/api/models", timeout=10).json()["models"]}


@pytest.fixture(scope="session")
def lessons(server_url) -> list[dict]:
    """GET /api/lessons's lessons (every shipped lesson file read without an error)."""
    body = httpx.get(f"{server_url}/api/lessons", timeout=30).json()
    assert body["errors"] == []
    return body["lessons"]


@pytest.fixture
def need_models(models):
    def need(*names: str) -> None:
        missing = [n for n in names if n not in models or not models[n]["available"]]
        if missing:
            pytest.skip(f"model(s) not installed: {', '.join(missing)}")
    return need


# ----------------------------------------------------------------------------------- screenshots


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:120]


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def shot(request, screenshot_dir):
    """shot(page, "what"): save the page as test-results/screenshots/<test>-<what>.png (to look at)."""
    def take(page, what: str, full_page: bool = True) -> Path:
        path = screenshot_dir / f"{_safe(request.node.name)}-{_safe(what)}.png"
        if full_page:
            page.evaluate("() => window.scrollTo(0, 0)")  # else the sticky bar shows in the middle of the picture
        page.screenshot(path=str(path), full_page=full_page)
        return path
    return take


@pytest.fixture(autouse=True)
def _screenshot_at_the_end(request, screenshot_dir):
    """Every browser test leaves a screenshot of the page as it ended: test-results/screenshots/<test>.png."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")  # set up before this fixture finishes: closed after the screenshot
    yield
    try:
        if not page.is_closed() and page.url.startswith("http"):
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(screenshot_dir / f"{_safe(request.node.name)}.png"), full_page=True, timeout=10_000)
    except Exception:  # a screenshot is for looking at; it never fails a test
        pass
