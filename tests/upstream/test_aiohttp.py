"""The aiohttp-backed upstream seam against a real loopback server (the fake vendor server)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time

import pytest

from bifrost_asgi import _json
from bifrost_asgi.errors import UpstreamConnectionError, UpstreamTimeoutError
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.upstream._aiohttp import AiohttpUpstream
from bifrost_asgi.upstream.base import Timeouts
from tests.support.fake_provider import EarlyClose, FakeProvider, Hang, Reset, SlowStream
from tests.support.garbage import collected

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


async def test_a_refused_connection_leaves_no_cycle() -> None:
    """aiohttp's connect path keeps the first connection error in a local of a frame that error's
    traceback holds; the gateway's error mapping drops those tracebacks, so nothing of a refused
    attempt is left for the cycle collector (~150 objects an attempt before)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    upstream = AiohttpUpstream()

    async def refused() -> None:
        with pytest.raises(UpstreamConnectionError) as caught:
            await upstream.send(chat(f"http://127.0.0.1:{port}"), Timeouts())
        assert caught.value.__cause__ is not None  # the aiohttp error is still chained, without its frames
        del caught

    try:
        await refused()  # warm: aiohttp's lazily built state
        with collected() as garbage:
            for _ in range(3):
                await refused()
        kinds = {type(o).__name__ for o in garbage}
    finally:
        await upstream.aclose()
    # (not frames in general: another thread of the test process may leave some)
    assert not kinds & {"ConnectionRefusedError", "ClientConnectorError"}, kinds


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


class _PartsServer:
    """A raw HTTP server answering every request with ``answer`` sent in parts (a pause between
    them, so each part is its own read), then keeping the connection open or closing it."""

    def __init__(self, parts: list[bytes], *, close: bool = False) -> None:
        self.parts = parts
        self.close = close
        self.connections = 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(v) for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
                              if k.lower() == b"content-length")  # fmt: skip
                await reader.readexactly(length)
                for part in self.parts:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.02)
                if self.close:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


ANSWER = b'{"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}'
GZIPPED = gzip.compress(ANSWER)  # a declared length that is not the body's: read and decoded as it comes


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER) + ANSWER],
        [b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(ANSWER), ANSWER[:10], ANSWER[10:40], ANSWER[40:]],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"a\r\n" + ANSWER[:10] + b"\r\n",
         b"%x\r\n" % (len(ANSWER) - 10) + ANSWER[10:] + b"\r\n", b"0\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(GZIPPED), GZIPPED],
    ],
    ids=["one-read", "content-length-in-parts", "chunked-in-parts", "gzip-with-content-length"],
)  # fmt: skip
async def test_a_body_is_read_whole_however_it_arrives_and_the_connection_is_reused(parts: list[bytes]) -> None:
    server = _PartsServer(parts)
    upstream = AiohttpUpstream()
    try:
        async with server as url:
            for _ in range(3):
                response = await upstream.send(chat(url), Timeouts())
                assert (response.status, response.body) == (200, ANSWER)
    finally:
        await upstream.aclose()
    assert server.connections == 1


async def test_a_body_cut_short_is_a_connection_error_and_the_next_call_reconnects() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
    server = _PartsServer([head, ANSWER[:20]], close=True)
    upstream = AiohttpUpstream()
    try:
        async with server as url:
            with pytest.raises(UpstreamConnectionError):
                await upstream.send(chat(url), Timeouts())
            server.parts = [head + ANSWER]
            assert (await upstream.send(chat(url), Timeouts())).body == ANSWER
    finally:
        await upstream.aclose()
    assert server.connections == 2
