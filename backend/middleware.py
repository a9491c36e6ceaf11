"""ASGI middleware: security headers on every response, a cap on request bodies, HEAD on every GET route, and
the Host allow-list."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class TooLarge(Exception):
    pass


class GuardMiddleware:
    """Adds the security headers; answers 413 to a body over `max_body` bytes before anything parses it."""

    def __init__(self, app: ASGIApp, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(send_with_headers)
            return
        if length is None:
            # no declared length (a chunked body, or none): read it all here, counting, before anything parses it;
            # a body over the limit is refused now (FastAPI would turn an error raised inside its own reading into
            # "400 There was an error parsing the body"). Then the app reads the same messages, and after them the
            # server's own (a disconnect: how a route learns that its client has gone).
            messages: list[Message] = []
            seen = 0
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    await self._refuse(send_with_headers)
                    return
                if not message.get("more_body", False):
                    break

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send_with_headers)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise TooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(send_with_headers)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"the request body is over the limit of {self.max_body:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HeadMiddleware:
    """HEAD on every GET route (API, page and static files alike): answered as the GET, without its body (the
    headers, Content-Length included, are the GET's)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


_PORT = re.compile(r":\d{1,5}")


def host_name(value: str) -> str | None:
    """The name of a Host header without its port ("[::1]:8000" -> "[::1]", "LocalHost.:80" -> "localhost."),
    lower case; None when it is not a host[:port]."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        name, rest = (v[:end + 1], v[end + 1:]) if end > 0 else ("", "")
    else:
        name, colon, port = v.partition(":")
        rest = colon + port
    if not name or (rest and not _PORT.fullmatch(rest)):
        return None
    return name


class HostMiddleware:
    """Answers 400 to a request whose Host header names no host this server serves (settings.allowed_hosts and
    the names of backend.share.machine_hosts), whatever its port: a page of another site that a DNS name pointed
    at this machine (DNS rebinding) gets nothing. The port is not compared: it adds no protection (the attacker's
    page picks it) and a tunnel or proxy may map it."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = frozenset(allowed)
        self.any = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any:
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
        name = host_name(raw.decode("latin-1")) if raw is not None else None
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        shown = "no Host header" if raw is None else f"the Host {raw.decode('latin-1')[:100]!r}"
        await _json(send, 400, f"this server does not answer {shown}: open it by one of its own names (such as "
                               "127.0.0.1), or add the name to ATTNLAB_ALLOWED_HOSTS")
