from __future__ import annotations

import asyncio

import pytest

from bifrost_asgi.errors import UpstreamConnectionError, UpstreamTimeoutError
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.upstream._http import httpx
from bifrost_asgi.upstream._httpx import HttpxUpstream
from bifrost_asgi.upstream.base import Timeouts

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


REQUEST = UpstreamRequest("POST", "http://upstream.test/v1/chat/completions", {"authorization": "Bearer sk-x"}, b"{}")


async def test_send_returns_status_headers_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, headers={"X-Thing": "1"}, content=b'{"ok":true}')

    upstream = HttpxUpstream(httpx.MockTransport(handler))
    response = await upstream.send(REQUEST, Timeouts())
    await upstream.aclose()
    assert (response.status, response.headers["x-thing"], response.body) == (201, "1", b'{"ok":true}')
    assert seen[0].headers["authorization"] == "Bearer sk-x"


async def test_connect_errors_and_timeouts_are_mapped_without_secrets() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    upstream = HttpxUpstream(httpx.MockTransport(refuse))
    with pytest.raises(UpstreamConnectionError) as info:
        await upstream.send(REQUEST, Timeouts())
    assert info.value.status == 502 and "upstream.test" in info.value.message
    assert "sk-x" not in info.value.message

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    upstream = HttpxUpstream(httpx.MockTransport(hang))
    with pytest.raises(UpstreamTimeoutError) as timeout:
        await upstream.send(REQUEST, Timeouts(total=0.05, first_byte=0.05))
    assert timeout.value.status == 504


async def test_stream_idle_timeout_fires_between_chunks() -> None:
    class Slow(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b"data: 1\n\n"
            await asyncio.sleep(10)
            yield b"data: 2\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Slow())

    upstream = HttpxUpstream(httpx.MockTransport(handler))
    stream = await upstream.open(REQUEST, Timeouts(idle=0.05))
    chunks = []
    with pytest.raises(UpstreamTimeoutError, match="idle"):
        async for chunk in stream.chunks():
            chunks.append(chunk)
    await stream.aclose()
    assert chunks == [b"data: 1\n\n"]
