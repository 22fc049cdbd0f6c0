"""Request smuggling attempts over raw sockets: every ambiguous framing is answered 400, the
connection is closed, and nothing reaches the upstream."""

from __future__ import annotations

import pytest

from tests.edge.client import Client
from tests.edge.conftest import RunningEdge, gateway, upstream_of, upstream_stats
from tests.edge.test_errors import assert_error

pytestmark = pytest.mark.asyncio(loop_scope="module")

SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: t\r\n\r\n"

ATTEMPTS = {
    "cl-te": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n"
             b"\r\n0\r\n\r\n" + SMUGGLED,
    "te-cl": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n"
             b"\r\n5c\r\n" + SMUGGLED + b"\r\n0\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 33\r\n"
                    b"\r\n" + SMUGGLED,
    "same-cl-twice": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n"
                     b"\r\nabc",
    "cl-list": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
    "signed-cl": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
    "xchunked": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
                + SMUGGLED,
    "space-chunked-with-cl": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                             b"Transfer-Encoding:  chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "tab-chunked-with-cl": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked\r\n"
                           b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "space-before-colon": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n"
                          b"Content-Length: 4\r\n\r\n0\r\n\r\n",
    "folded-te": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
                 b"0\r\n\r\n",
    "te-twice": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    "chunked-not-last": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n"
                        b"\r\n0\r\n\r\n",
    "identity-chunked": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity, chunked\r\n"
                        b"\r\n0\r\n\r\n",
    "http10-chunked": b"POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0\r\n\r\n",
    "bare-lf": b"POST / HTTP/1.1\nHost: t\nContent-Length: 3\n\nabc",
    "chunk-size-overflow": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"fffffffffffffffff\r\nx\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", ATTEMPTS)
async def test_ambiguous_framing_is_rejected_with_400_and_never_forwarded(
    edge: RunningEdge, healed: list[int], name: str
) -> None:
    port = healed[2]
    edge.swap(gateway([{"id": "r", "paths": ["/"], "upstream": "u"}], [upstream_of("u", [port])]))
    before = (await upstream_stats(port))["requests"]
    async with await Client.open(edge.port) as client:
        await client.send(ATTEMPTS[name])
        assert_error(await client.response(), 400, "bad_request")
        assert await client.closed_by_server()
    assert (await upstream_stats(port))["requests"] == before
