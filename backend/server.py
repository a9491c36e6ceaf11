"""How `attnlab serve` runs uvicorn: httptools with bounds on a request's head (its size and the time to send it).

uvicorn bounds neither by itself: its httptools protocol accepts a head of any size (httptools gathers a header in
memory until its end arrives), and no timer runs while a client sends a head slowly (the keep-alive timer stops at
the first byte). BoundedHttpToolsProtocol counts the bytes of each head as they arrive: over `max_header_bytes`, a
431 and the connection closed. It also closes a connection that has not sent a whole request head within
`header_timeout_s` of opening, or of the end of the previous answer, and one whose request body has not arrived
whole within `body_timeout_s` of its head's end (a 408): uvicorn would wait for the rest of a body for ever, holding
what had come of it. The bodies being received hold at most `max_pending_body_mb` over all connections
(pending_body_bytes()); a body that would take more gets a 503 with Retry-After and its connection closed.

An answer is written to the connection whole, and what its client has not read yet stays in this process (the
transport's buffer). A connection whose client reads less than MIN_SEND_BYTES of its answer in `send_timeout_s` is
closed and its answer dropped; unsent_bytes() is what all the connections hold, which backend/work.py keeps under
`max_unsent_mb`.

httptools, not h11: its parser and its writer are C where h11's are Python, and that time per request is the event
loop's, shared by every request.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.settings import Settings, get_settings

_open: set[BoundedHttpToolsProtocol] = set()  # this process's connections
_pending_body = 0  # bytes of the request bodies received so far whose request is not whole yet, all connections


def pending_body_bytes() -> int:
    """The bytes of request bodies received and not whole yet, over this process's connections."""
    return _pending_body


def unsent_bytes() -> int:
    """The bytes of answers written to this process's connections that their clients have not read yet (0 under
    another server than `attnlab serve`'s)."""
    return sum(p.transport.get_write_buffer_size() for p in list(_open))


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a deadline for each request head (Settings.max_header_bytes and
    header_timeout_s, read in each worker from the ATTNLAB_* environment).

    A head is counted from the first byte after the previous request's end; the rest of a read that held a
    request's body and the start of a pipelined one (a client that does not wait for the answer) is parsed before
    the count starts, so such a head may be one read (256 KiB at most) over the bound."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.header_timeout_s
        self.max_head = settings.max_header_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True  # no whole request head since the connection opened or the last request ended
        self._head_seen = 0  # bytes of the request head in progress (-1: refused)
        self._head_tail = b""  # its last 3 bytes (the end of a head, CRLF CRLF, may straddle two reads)
        self.send_timeout = settings.send_timeout_s
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0  # the bytes of the answer not read yet at the last look
        self.body_timeout = settings.body_timeout_s
        self.max_pending_body = int(settings.max_pending_body_mb * 1e6)
        self._body_seen = 0  # bytes of this connection's request body so far (counted in _pending_body)
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_refused = False

    LINGER_S = 1.0  # after a refused head: what the client still sends is read and dropped this long, then closed

    def data_received(self, data: bytes) -> None:
        if self._head_seen < 0 or self._body_refused:  # refused: dropped (closing at once would reset the connection, and the client
            return  # could lose the answer)
        if self._awaiting_head:
            joined = self._head_tail + data
            end = joined.find(b"\r\n\r\n")
            size = self._head_seen + (end + 4 - len(self._head_tail) if end >= 0 else len(data))
            if size > self.max_head:
                self._refuse_head(size)
                return
            self._head_seen = 0 if end >= 0 else size
            self._head_tail = b"" if end >= 0 else joined[-3:]
        super().data_received(data)

    def _refuse_head(self, size: int) -> None:
        self._stop_head_timer()
        body = (f"the request head is over {self.max_head:,} bytes (max_header_bytes, ATTNLAB_MAX_HEADER_BYTES)"
                .encode())
        self.logger.info("refused a request head of more than %d bytes", self.max_head)
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; "
                             b"charset=utf-8\r\nconnection: close\r\ncontent-length: " + str(len(body)).encode()
                             + b"\r\n\r\n" + body)
        self._head_seen = -1
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(self.LINGER_S, self.transport.close)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _open.add(self)
        self._start_head_timer()

    def on_headers_complete(self) -> None:
        if self._body_refused:  # (a request after a refused body, in the same read: not started)
            return
        self._awaiting_head = False
        self._stop_head_timer()
        super().on_headers_complete()
        self._stop_body_timer()  # the body of this request (none: on_message_complete stops it at once)
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out, self.cycle)

    def on_body(self, body: bytes) -> None:
        global _pending_body
        if self._body_refused:
            return
        if self.cycle is not None and not self.cycle.response_complete:  # (else uvicorn drops it: not held)
            if _pending_body + len(body) > self.max_pending_body:
                self._refuse_body()
                return
            self._body_seen += len(body)
            _pending_body += len(body)
        super().on_body(body)

    def _release_body(self) -> None:
        global _pending_body
        _pending_body -= self._body_seen
        self._body_seen = 0

    def _refuse_body(self) -> None:
        """Request bodies being received hold max_pending_body_mb already: a 503 with Retry-After where nothing
        was answered yet, and the connection closed (the app's receive() then says the client has gone)."""
        self._body_refused = True
        self._stop_body_timer()
        self._release_body()
        self.logger.info("refused a request body: those being received hold %d bytes already", _pending_body)
        if self.cycle is not None and not self.cycle.response_started:
            body = (f"the server is receiving {_pending_body / 1e6:.0f} MB of other request bodies; the limit is "
                    f"{self.max_pending_body / 1e6:g} MB (max_pending_body_mb, ATTNLAB_MAX_PENDING_BODY_MB): try again "
                    "in a moment").encode()
            self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"retry-after: 2\r\nconnection: close\r\ncontent-length: " + str(len(body)).encode()
                                 + b"\r\n\r\n" + body)
        self.transport.close()

    def on_message_complete(self) -> None:
        if self._body_refused:  # (the rest of a refused body: the app never gets it whole)
            return
        self._release_body()
        super().on_message_complete()
        self._stop_body_timer()
        self._awaiting_head = True  # what comes next is the next request's head

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self, cycle) -> None:
        """The request's body has not arrived whole within body_timeout_s of its head: a 408 where nothing was
        answered yet, and the connection closed (the app's receive() then says the client has gone). While this
        server does not read the connection (a pipelined request waiting for the one before, a body the app has
        not taken yet), the client is not to blame: another body_timeout_s."""
        self._body_timer = None
        if self.transport.is_closing() or cycle is not self.cycle:
            return
        if self.flow is not None and self.flow.read_paused:
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out, cycle)
            return
        self._body_refused = True
        self.logger.info("closed a connection whose request body did not arrive within %g s", self.body_timeout)
        if not cycle.response_started:
            body = (f"the request body did not arrive within {self.body_timeout:g} s of its head (body_timeout_s, "
                    "ATTNLAB_BODY_TIMEOUT_S)").encode()
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
                                 + body)
        self.transport.close()

    def _idle(self) -> bool:
        """No request of this connection is being received or answered (a pipelined one may be waiting to be)."""
        return self._awaiting_head and (self.cycle is None or self.cycle.response_complete)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # (starts a pipelined request that was waiting: self.cycle is then its)
        if not self.transport.is_closing() and self._idle():
            self._start_head_timer()  # the next request on this connection: its head within the same time

    def connection_lost(self, exc: Exception | None) -> None:
        _open.discard(self)
        self._release_body()
        self._stop_head_timer()
        self._stop_body_timer()
        self._stop_send_timer()
        super().connection_lost(exc)

    # an answer's client must read this much of it in each send_timeout_s while the answer waits for it (2 KiB/s at
    # the default 30 s, far below any network a page is used over)
    MIN_SEND_BYTES = 64 * 1024

    def pause_writing(self) -> None:
        """The transport holds more than its high-water mark of an answer (the client reads slower than it is
        written): from now on the client must read MIN_SEND_BYTES in each send_timeout_s."""
        super().pause_writing()
        self._unsent = self.transport.get_write_buffer_size()
        self._stop_send_timer()
        self._send_timer = self.loop.call_later(self.send_timeout, self._send_check)

    def resume_writing(self) -> None:
        self._stop_send_timer()
        super().resume_writing()

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_check(self) -> None:
        # (also when the connection is closing, as after the keep-alive timeout: a closed transport keeps what is
        # unsent until it is sent; connection_lost stops this timer)
        self._send_timer = None
        unsent = self.transport.get_write_buffer_size()
        if self._unsent - unsent < self.MIN_SEND_BYTES:
            self.logger.info("closed a connection whose client read %d bytes of its answer in %g s (%d left)",
                             self._unsent - unsent, self.send_timeout, unsent)
            self.transport.abort()  # (close() would keep the answer until it is sent)
            return
        self._unsent = unsent
        self._send_timer = self.loop.call_later(self.send_timeout, self._send_check)

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self._idle():
            self.logger.info("closed a connection that sent no whole request head within %g s", self.header_timeout)
            self.transport.close()


# how long Ctrl+C waits for the connections still open before closing them: an answer being computed has time to
# finish, while a training lab run's event stream, open as long as its page watches it (for ever while the run is
# paused), no longer keeps the server from stopping
GRACEFUL_SHUTDOWN_S = 5


def uvicorn_options(settings: Settings | None = None) -> dict:
    """The keyword arguments of uvicorn.run that bound a request's head, an idle connection and the wait at Ctrl+C."""
    s = settings or get_settings()
    return {"http": BoundedHttpToolsProtocol, "timeout_keep_alive": s.keep_alive_s,
            "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S}
