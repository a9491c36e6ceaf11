"""The load generator's client (tests.benchmarks.server.LoadClient) against a small HTTP server that records what
arrives: answers read whole, connections kept and reused, a new one where the server closed one."""

from __future__ import annotations

import asyncio

from tests.benchmarks.server import LoadClient
from tests.loops import run_apart


async def _serve(answers: list[tuple[int, bytes, str]]):
    """A server answering each request with the next of `answers` (status, body, then "keep" the connection, "close"
    it saying so, or "drop" it without a word, as after a keep-alive time); it records each request as (connection
    number, request line, body)."""
    seen: list[tuple[int, bytes, bytes]] = []
    conns = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal conns
        conns += 1
        me = conns
        while True:
            line = await reader.readline()
            if not line:
                break
            length = 0
            while (h := await reader.readline()) != b"\r\n":
                name, _, value = h.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            seen.append((me, line.strip(), await reader.readexactly(length)))
            status, body, then = answers[len(seen) - 1]
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n".encode()
                         + (b"connection: close\r\n" if then == "close" else b"") + b"\r\n" + body)
            await writer.drain()
            if then != "keep":
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


def test_answers_are_read_whole_on_one_kept_connection_and_a_closed_one_is_replaced():
    big = b"x" * 300_000  # more than one read of the socket

    async def main():
        server, seen = await _serve([(200, b'{"a":1}', "keep"), (200, big, "keep"), (503, b"busy", "close"),
                                     (200, b"again", "keep")])
        client = LoadClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        out = [await client.post("/api/analyze", {"text": f"t{i}"}) for i in range(4)]
        await client.aclose()
        server.close()
        return out, seen

    out, seen = run_apart(main(), timeout=30)
    assert out == [(200, b'{"a":1}'), (200, big), (503, b"busy"), (200, b"again")]
    assert [line for _, line, _ in seen] == [b"POST /api/analyze HTTP/1.1"] * 4
    assert [body for _, _, body in seen] == [b'{"text":"t%d"}' % i for i in range(4)]
    # one connection for the first three (the server closed it after the 503), a second for the last
    assert [conn for conn, _, _ in seen] == [1, 1, 1, 2]


def test_requests_at_once_each_get_a_connection_of_their_own_then_share_them():
    async def main():
        server, seen = await _serve([(200, b"%d" % i, "keep") for i in range(6)])
        client = LoadClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        first = await asyncio.gather(*(client.post("/p", {"i": i}) for i in range(3)))
        then = [await client.post("/p", {"i": i}) for i in range(3, 6)]
        await client.aclose()
        server.close()
        return first + then, seen

    out, seen = run_apart(main(), timeout=30)
    assert sorted(status for status, _ in out) == [200] * 6
    assert sorted(body for _, body in out) == [b"%d" % i for i in range(6)]
    assert sorted({conn for conn, _, _ in seen}) == [1, 2, 3]  # three at once: three connections, no fourth after


def test_an_idle_connection_the_server_dropped_is_replaced_once():
    async def main():
        server, seen = await _serve([(200, b"one", "drop"), (200, b"two", "keep")])
        client = LoadClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        a = await client.post("/p", {})
        kept = len(client._idle)  # the answer did not say the connection closes: it is kept
        await asyncio.sleep(0.05)  # (the server has closed it by now)
        b = await client.post("/p", {})
        await client.aclose()
        server.close()
        return [a, b], seen, kept

    out, seen, kept = run_apart(main(), timeout=30)
    assert kept == 1
    assert out == [(200, b"one"), (200, b"two")]
    assert [conn for conn, _, _ in seen] == [1, 2]  # the second on a new connection, sent once there


def test_the_benchmark_client_decodes_a_packed_attention_as_the_page_holds_it():
    """as_the_page_holds: the integers of /api/analyze's `attention_packed` as whole rows (the cut keys 0), the same
    numbers as the lists; no layer at all (`layers: []`, the Why views' request) is an empty array, not an error."""
    import base64

    import numpy as np

    from tests.benchmarks.server import as_the_page_holds

    def packed(ints, shape, rows):
        return {"shape": shape, "dtype": "uint16", "scale": 10000, "rows": rows,
                "data": base64.b64encode(np.asarray(ints, dtype="<u2").tobytes()).decode()}

    cut = as_the_page_holds({"visible": [1, 2], "attention": [],
                             "attention_packed": packed([10000, 2500, 7500], [1, 1, 2, 2], "visible")})
    assert cut["attention"].tolist() == [[[[1.0, 0.0], [0.25, 0.75]]]]
    whole = as_the_page_holds({"visible": [2, 2], "attention": [],
                               "attention_packed": packed([5000, 5000, 1000, 9000], [1, 1, 2, 2], "whole")})
    assert whole["attention"].tolist() == [[[[0.5, 0.5], [0.1, 0.9]]]]
    none = as_the_page_holds({"visible": [1, 2], "attention": [], "attention_packed": packed([], [0, 4, 2, 2], "visible")})
    assert none["attention"].shape == (0, 4, 2, 2)
    assert as_the_page_holds({"attention": [[[[1.0]]]]}) == {"attention": [[[[1.0]]]]}
