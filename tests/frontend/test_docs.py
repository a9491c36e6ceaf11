"""The API reference at /docs (Swagger UI, served by the app): what a reader gets from "Try it out"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the operations whose example cannot run as it stands: an id in the path, or a training run, a stream, a download
NEEDS_MORE = re.compile(r"\{|/api/lab/|/training|/report")


def test_try_it_out_runs_every_example_as_it_stands(page: Page):
    """For every operation that takes no id: Try it out, then Execute with the values /docs fills in (the schema's
    examples and defaults) answers 2xx. A [layer, head] pair has no example Swagger UI can make (it filled in
    [[null, null]], refused with 422), and a request that takes a text or a probe got both."""
    page.goto("/docs")
    blocks = page.locator(".opblock")
    blocks.first.wait_for()
    answers: dict[str, str] = {}
    for i in range(blocks.count()):
        block = blocks.nth(i)
        method = block.locator(".opblock-summary-method").inner_text().strip()
        path = block.locator(".opblock-summary-path").inner_text().strip().replace("\u200b", "")
        if NEEDS_MORE.search(path):
            continue
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
        status = block.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=60_000)
        answers[f"{method} {path}"] = status.inner_text().strip()
        block.locator(".opblock-summary").click()  # closed again: the next block's buttons are the only ones open
    assert len(answers) >= 20 and "POST /api/analyze" in answers and "GET /api/embeddings/neighbors" in answers, answers
    refused = {op: code for op, code in answers.items() if not code.startswith("2")}
    assert not refused, refused
