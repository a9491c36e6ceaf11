"""The classroom benchmark's client: a request that meets the server's close of an idle connection."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.benchmarks.load import post_as_a_browser


def run(coroutine):
    """asyncio.run(coroutine) on a thread of its own: the browser tests leave an event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def client_failing(times: int, error: type[httpx.TransportError]) -> tuple[httpx.AsyncClient, list[bytes]]:
    """A client whose first `times` requests end with `error` and no answer; each request's body is kept."""
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if len(seen) <= times:
            raise error("the connection closed", request=request)
        return httpx.Response(200, json={"ok": True})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://server"), seen


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError])
def test_a_request_without_an_answer_is_sent_once_more_and_counted(error):
    client, seen = client_failing(1, error)
    resp, again = run(post_as_a_browser(client, "/api/analyze", {"text": "a"}))
    assert resp.status_code == 200 and again and len(seen) == 2 and seen[0] == seen[1] == b'{"text":"a"}'


def test_an_answer_is_asked_once_and_a_second_failure_is_not_hidden():
    client, seen = client_failing(0, httpx.ReadError)
    resp, again = run(post_as_a_browser(client, "/api/analyze", {"text": "a"}))
    assert resp.status_code == 200 and not again and len(seen) == 1
    client, seen = client_failing(2, httpx.ReadError)
    with pytest.raises(httpx.ReadError):
        run(post_as_a_browser(client, "/api/analyze", {"text": "a"}))
    assert len(seen) == 2
    client, seen = client_failing(1, httpx.ConnectError)  # not a kept-alive connection's end: an error as it is
    with pytest.raises(httpx.ConnectError):
        run(post_as_a_browser(client, "/api/analyze", {"text": "a"}))
    assert len(seen) == 1
