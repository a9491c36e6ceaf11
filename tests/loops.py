"""Running a coroutine to its end from a test, whatever the test session has left in the main thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_apart(coro: Coroutine[Any, Any, T], timeout: float = 600) -> T:
    """asyncio.run(coro) in a thread of its own, its result returned and its exception raised here.

    pytest-playwright's session Playwright (the browser tests, tests/backend/test_report.py) leaves an event loop
    running in the main thread, where asyncio.run then refuses to start."""
    out: dict[str, Any] = {}

    def main() -> None:
        try:
            out["result"] = asyncio.run(coro)
        except BaseException as e:  # given back to the caller
            out["error"] = e

    runner = threading.Thread(target=main, name="run_apart")
    runner.start()
    runner.join(timeout)
    if runner.is_alive():
        raise TimeoutError(f"the coroutine ran past {timeout} s")
    if "error" in out:
        raise out["error"]
    return out["result"]
