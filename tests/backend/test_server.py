"""The bounds of `attnlab serve`'s HTTP protocol (backend/server.py), driven directly: bytes in, bytes out.

tests/backend/test_load.py checks the same bounds against a real server; here the cases that need a request of
a known length in between (an app that answers when the test says)."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from backend import server
from backend.settings import Settings
from tests.loops import run_apart

HEAD = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.out = b""
        self.closed = False
        self.aborted = False
        self.unsent = 0  # bytes of what it was given that its client has not read yet

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def abort(self) -> None:
        self.closed = self.aborted = True

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data) -> None:
        self.out += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.fixture
def connection(monkeypatch):
    """(protocol, transport, answer): a connection to an app that answers each request when answer[path] is set."""
    monkeypatch.setattr(server, "get_settings", lambda: Settings(header_timeout_s=0.2, max_header_bytes=1024,
                                                                 send_timeout_s=0.2))
    gates: dict[str, asyncio.Event] = {}

    async def app(scope, receive, send):
        path = scope["path"].strip("/")
        await gates.setdefault(path, asyncio.Event()).wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def answer(path: str) -> None:
        gates.setdefault(path, asyncio.Event()).set()

    config = Config(app, log_level="warning")
    config.load()

    made = []

    async def make():
        protocol = server.BoundedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        made.append(protocol)
        return protocol, transport, answer

    yield make
    server._open.difference_update(made)  # (their loops have ended)


async def until(condition, timeout: float = 5.0) -> None:
    """Wait for condition() (the loop runs meanwhile), at most `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def answers(transport: Transport) -> int:
    return transport.out.count(b"HTTP/1.1 200")


def test_a_pipelined_request_answered_after_the_head_deadline_keeps_its_connection(connection):
    async def go():
        protocol, transport, answer = await connection()
        protocol.data_received(HEAD % b"first" + HEAD % b"second")  # both heads at once
        answer("first")
        await until(lambda: answers(transport) == 1)
        await asyncio.sleep(0.4)  # the second request takes longer than the head deadline (0.2 s)
        assert not transport.closed  # it is being answered: no head is awaited
        answer("second")
        await until(lambda: answers(transport) == 2)
        assert not transport.closed
        await until(lambda: transport.closed)  # now idle: the next head is awaited within the deadline

    run_apart(go())


def test_a_request_answered_slowly_keeps_its_connection_and_then_the_deadline_runs(connection):
    async def go():
        protocol, transport, answer = await connection()
        protocol.data_received(HEAD % b"slow")
        await asyncio.sleep(0.4)
        assert not transport.closed
        answer("slow")
        await until(lambda: answers(transport) == 1)
        assert not transport.closed
        await until(lambda: transport.closed)

    run_apart(go())


def test_each_head_on_a_connection_is_counted_from_its_own_start(connection):
    async def go():
        protocol, transport, answer = await connection()
        answer("a")
        head = HEAD % b"a"
        for i in range(30):  # 30 heads of 40-odd bytes: over 1024 in all, each far below it
            protocol.data_received(head)
            await until(lambda i=i: answers(transport) == i + 1)
        assert 30 * len(head) > 1024 and b"431" not in transport.out
        big = b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1100 + b"\r\n\r\n"
        for i in range(0, len(big), 100):  # one head over 1024, in pieces
            protocol.data_received(big[i:i + 100])
        assert transport.out.endswith(b"ATTNLAB_MAX_HEADER_BYTES)") and b"431" in transport.out

    run_apart(go())


def test_a_client_that_stops_reading_its_answer_loses_its_connection_and_the_answer_is_dropped(connection):
    """An answer waits in the server's memory until its client reads it: one that reads less than MIN_SEND_BYTES of
    it in send_timeout_s (0.2 s here) is dropped with its connection, also once the connection is closing (the
    keep-alive timeout closes it, and a closed transport keeps what it has not sent); one that reads keeps it."""
    async def go():
        protocol, transport, _ = await connection()
        reading, reader, _ = await connection()
        try:
            protocol.data_received(HEAD % b"big")  # each answered (as far as the app knows; its bytes below)
            reading.data_received(HEAD % b"big")
            transport.unsent = reader.unsent = 10 * protocol.MIN_SEND_BYTES
            assert server.unsent_bytes() == 20 * protocol.MIN_SEND_BYTES  # what both connections hold
            protocol.pause_writing()  # over the transport's high-water mark: the client reads slower than it is written
            reading.pause_writing()
            transport.close()
            for _ in range(6):  # 0.6 s: one reads 2 x MIN_SEND_BYTES every 0.1 s, the other nothing
                await asyncio.sleep(0.1)
                reader.unsent -= 2 * protocol.MIN_SEND_BYTES if reader.unsent else 0
            assert transport.aborted and not reader.aborted
            assert reader.unsent == 0
            reading.resume_writing()  # all read: below the low-water mark again
            await asyncio.sleep(0.4)
            assert not reader.aborted  # (nothing to read: no deadline)
        finally:
            for p in (protocol, reading):  # (what the transport does once it has closed: the app's tasks end)
                p.connection_lost(None)
        assert server.unsent_bytes() == 0

    run_apart(go(), timeout=30)


def test_a_request_body_that_does_not_arrive_in_time_loses_its_connection(connection, monkeypatch):
    """A request's body must arrive whole within body_timeout_s of its head's end (0.2 s here), however busy the
    client keeps it: else a 408 and the connection closed, so that what it sent is freed (before, a client that
    sent a head with `content-length: 1000000` and 998 KB of it kept that memory and the connection for as long as
    it liked: 50 such held 40 MB of a real server for as long as they stayed open). A body that arrives in time is
    answered and keeps its connection."""
    monkeypatch.setattr(server, "get_settings", lambda: Settings(header_timeout_s=5, body_timeout_s=0.2))
    post = b"POST /%s HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n"

    async def go():
        stalled, stalled_t, _ = await connection()
        dripping, dripping_t, _ = await connection()
        whole, whole_t, answer = await connection()
        answer("whole")
        try:
            stalled.data_received(post % b"stalled" + b"x" * 999)  # all but one byte, then nothing
            dripping.data_received(post % b"dripping")
            whole.data_received(post % b"whole" + b"x" * 500)
            await asyncio.sleep(0.1)
            whole.data_received(b"x" * 500)  # the rest, in time
            for _ in range(5):  # a byte every 0.1 s: busy, but the body is not whole by the deadline
                dripping.data_received(b"x")
                await asyncio.sleep(0.1)
            assert stalled_t.closed and dripping_t.closed
            for t in (stalled_t, dripping_t):
                assert t.out.startswith(b"HTTP/1.1 408") and b"ATTNLAB_BODY_TIMEOUT_S" in t.out, t.out
            await until(lambda: answers(whole_t) == 1)
            assert not whole_t.closed
        finally:
            for p in (stalled, dripping, whole):
                p.connection_lost(None)

    run_apart(go())


def test_a_body_this_server_does_not_read_yet_is_not_timed(connection, monkeypatch):
    """A pipelined request's body waits while the request before it is answered (the server stops reading the
    connection meanwhile): its client is not to blame, and the connection stays for longer than body_timeout_s."""
    monkeypatch.setattr(server, "get_settings", lambda: Settings(header_timeout_s=5, body_timeout_s=0.2))

    async def go():
        protocol, transport, answer = await connection()
        try:
            protocol.data_received(HEAD % b"first" + b"POST /second HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"content-length: 10\r\n\r\n12345")
            assert protocol.flow.read_paused
            await asyncio.sleep(0.5)  # the first is answered after two and a half body deadlines
            assert not transport.closed
            answer("first")
            await until(lambda: answers(transport) == 1)
            protocol.data_received(b"67890")  # reading again: the rest of the second's body
            answer("second")
            await until(lambda: answers(transport) == 2)
            assert not transport.closed and b"408" not in transport.out
        finally:
            protocol.connection_lost(None)

    run_apart(go())


def test_request_bodies_still_arriving_are_bounded_over_all_connections(connection, monkeypatch):
    """The bodies being received hold memory until each is whole: over all connections at most
    max_pending_body_mb (1,000 bytes here). A body that would take more is refused with a 503 with Retry-After and
    its connection closed, whoever sent the bytes before it; a whole body gives its bytes back (300 connections that
    each sent 999 KB of a 1 MB body and stalled held 232 MB of a real server, for body_timeout_s, again and again)."""
    monkeypatch.setattr(server, "get_settings", lambda: Settings(header_timeout_s=5, max_pending_body_mb=0.001))
    post = b"POST /%s HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 600\r\n\r\n"

    async def go():
        a, a_t, answer = await connection()
        b, b_t, _ = await connection()
        c, c_t, _ = await connection()
        answer("a")
        answer("c")
        try:
            a.data_received(post % b"a" + b"x" * 590)  # 590 bytes pending
            b.data_received(post % b"b" + b"x" * 500)  # 1,090: over
            assert b_t.closed and b_t.out.startswith(b"HTTP/1.1 503") and b"retry-after: " in b_t.out.lower()
            assert b"ATTNLAB_MAX_PENDING_BODY_MB" in b_t.out and not a_t.closed
            assert server.pending_body_bytes() == 590
            a.data_received(b"x" * 10)  # a's body whole: answered, and its bytes given back
            await until(lambda: answers(a_t) == 1)
            assert server.pending_body_bytes() == 0
            c.data_received(post % b"c" + b"x" * 600)
            await until(lambda: answers(c_t) == 1)
            assert not c_t.closed and not a_t.closed
        finally:
            for p in (a, b, c):
                p.connection_lost(None)
        assert server.pending_body_bytes() == 0

    run_apart(go())
