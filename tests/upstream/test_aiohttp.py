"""The aiohttp-backed upstream seam against a real loopback server (the fake vendor server)."""

from __future__ import annotations

import socket
import time

import pytest

from bifrost_asgi import _json
from bifrost_asgi.errors import UpstreamConnectionError, UpstreamTimeoutError
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.upstream._aiohttp import AiohttpUpstream
from bifrost_asgi.upstream.base import Timeouts
from tests.support.fake_provider import EarlyClose, FakeProvider, Hang, Reset, SlowStream

pytestmark = pytest.mark.anyio

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
HEADERS = {"authorization": "Bearer sk-up", "content-type": "application/json"}


def chat(url: str, *, stream: bool = False) -> UpstreamRequest:
    body = {**BODY, "stream": True} if stream else BODY
    return UpstreamRequest("POST", url + "/v1/chat/completions", HEADERS, _json.dumps(body), stream)


async def test_send_and_keep_alive(fake_provider: FakeProvider) -> None:
    upstream = AiohttpUpstream()
    try:
        for _ in range(3):
            response = await upstream.send(chat(fake_provider.url), Timeouts())
            assert response.status == 200
            assert _json.loads(response.body)["choices"][0]["message"]["content"] == "openai says: hello"
            assert response.headers["content-type"].startswith("application/json")
    finally:
        await upstream.aclose()
    assert fake_provider.total_connections == 1
    assert fake_provider.last().headers["authorization"] == "Bearer sk-up"


async def test_stream_chunks_arrive_and_close_frees_the_connection(fake_provider: FakeProvider) -> None:
    upstream = AiohttpUpstream()
    try:
        stream = await upstream.open(chat(fake_provider.url, stream=True), Timeouts())
        assert stream.status == 200
        body = b"".join([chunk async for chunk in stream.chunks()])
        await stream.aclose()
        assert body.rstrip().endswith(b"data: [DONE]")
    finally:
        await upstream.aclose()


async def test_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    upstream = AiohttpUpstream()
    try:
        with pytest.raises(UpstreamConnectionError, match="could not connect"):
            await upstream.send(chat(f"http://127.0.0.1:{port}"), Timeouts())
    finally:
        await upstream.aclose()


async def test_reset_and_early_close_are_connection_errors(fake_provider: FakeProvider) -> None:
    upstream = AiohttpUpstream()
    try:
        fake_provider.script("openai", [Reset()])
        with pytest.raises(UpstreamConnectionError):
            await upstream.send(chat(fake_provider.url), Timeouts())
        fake_provider.script("openai", [EarlyClose(after_chunks=2)])
        stream = await upstream.open(chat(fake_provider.url, stream=True), Timeouts())
        with pytest.raises(UpstreamConnectionError):
            async for _ in stream.chunks():
                pass
        await stream.aclose()
    finally:
        await upstream.aclose()


async def test_total_and_idle_timeouts(fake_provider: FakeProvider) -> None:
    upstream = AiohttpUpstream()
    try:
        fake_provider.script("openai", [Hang(5)])
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError):
            await upstream.send(chat(fake_provider.url), Timeouts(total=0.3, first_byte=0.3))
        assert time.monotonic() - started < 2

        fake_provider.script("openai", [SlowStream(2)])
        stream = await upstream.open(chat(fake_provider.url, stream=True), Timeouts(idle=0.3))
        with pytest.raises(UpstreamTimeoutError, match="idle"):
            async for _ in stream.chunks():
                pass
        await stream.aclose()
    finally:
        await upstream.aclose()
