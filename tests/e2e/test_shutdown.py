"""Graceful shutdown over real sockets: in-flight requests and streams finish within
``client.shutdown_grace_seconds``, requests arriving meanwhile get a 503 in the client's dialect,
and a stream outliving the grace period never holds shutdown up.

The gateway runs under uvicorn on an event loop owned by the test (:func:`serve_gateway`), so the
test can call ``Gateway.shutdown()`` on that loop while clients are mid-request, and inspect the
loop's tasks afterwards (the load test uses that too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic
import httpx2
import openai
import pytest
import uvicorn
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from bifrost_asgi.asgi.app import bifrost_app
from bifrost_asgi.gateway import Gateway
from tests.support import FakeProvider, Hang, SlowStream, fake_text
from tests.support.servers import LoopThread

pytestmark = pytest.mark.e2e

T = TypeVar("T")
HI: Any = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
TEXT = fake_text("openai", "hi")
# Tests that show a bound use a stream far longer than the bound, so that a loaded machine's delays never
# blur "cut at the grace period" into "ran to its end": 40 words, one a frame, at 0.2 s a frame is over 8 s.
ENDLESS_WORDS = " ".join(f"w{index}" for index in range(40))
ENDLESS: Any = [{"role": "user", "content": ENDLESS_WORDS}]
ENDLESS_TEXT = fake_text("openai", ENDLESS_WORDS)


# --------------------------------------------------------------------------- a gateway on our own loop


@dataclass
class GatewayServer:
    """A gateway served by uvicorn on ``loop`` (a thread the test controls)."""

    url: str
    loop: LoopThread
    server: uvicorn.Server
    serving: Any  # concurrent.futures.Future of ``server.serve()``
    gateway: Gateway

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the gateway's loop and wait for its result."""
        return self.loop.call(coro, timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Any:
        """Start ``coro`` on the gateway's loop; returns a concurrent future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop.loop)

    def tasks(self) -> list[str]:
        """Names (coroutine qualnames) of the tasks alive on the gateway's loop."""

        async def names() -> list[str]:
            current = asyncio.current_task()
            return sorted(
                getattr(t.get_coro(), "__qualname__", repr(t)) for t in asyncio.all_tasks() if t is not current
            )

        return self.run(names())

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.serving.result(timeout)


def _listening_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every response (head and body written separately) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def serve_gateway(config: Mapping[str, Any], *, graceful: float | None = 5.0) -> Iterator[GatewayServer]:
    """``bifrost_app(config=config)`` under uvicorn (h11, lifespan on) on a fresh loop thread."""
    app = bifrost_app(config=dict(config))
    loop = LoopThread(name="gateway-loop")
    sock = _listening_socket()
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", log_config=None, lifespan="on", http="h11", ws="none",
            access_log=False, timeout_graceful_shutdown=graceful, backlog=512,
        )
    )  # fmt: skip
    serving = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop.loop)
    handle = GatewayServer(f"http://127.0.0.1:{sock.getsockname()[1]}", loop, server, serving, app.state.gateway)
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10s")
            time.sleep(0.002)
        yield handle
    finally:
        try:
            if not serving.done():
                handle.stop()
        finally:
            loop.stop()
            sock.close()


def gateway_config(fake: FakeProvider, *, grace: float, upstream_client: str = "auto") -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"keys": [{"value": "sk-a"}], "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": [{"value": "sk-ant"}], "network_config": {"base_url": fake.url}},
            "gemini": {"keys": [{"value": "g"}], "network_config": {"base_url": f"{fake.url}/v1beta"}},
        },
        "client": {"enable_logging": False, "shutdown_grace_seconds": grace, "upstream_client": upstream_client},
    }


# --------------------------------------------------------------------------- client helpers


@dataclass
class Outcome:
    text: str = ""
    status: int | None = None
    error: BaseException | None = None
    first_content_at: float | None = None
    ended_at: float | None = None


def _stream(url: str, out: Outcome, messages: Any = HI) -> None:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0, timeout=20) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=True)
            out.status = raw.status_code
            for chunk in raw.parse():
                for choice in chunk.choices:
                    if choice.delta.content and out.first_content_at is None:
                        out.first_content_at = time.monotonic()
                    out.text += choice.delta.content or ""
        except Exception as exc:
            out.error = exc
        finally:
            out.ended_at = time.monotonic()


def _complete(url: str, out: Outcome) -> None:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0, timeout=20) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
            out.status = raw.status_code
            out.text = raw.parse().choices[0].message.content or ""
        except Exception as exc:
            out.error = exc
        finally:
            out.ended_at = time.monotonic()


def _endless_stream(url: str, out: Outcome) -> None:
    _stream(url, out, ENDLESS)


def _start(target: Any, url: str) -> tuple[threading.Thread, Outcome]:
    out = Outcome()
    thread = threading.Thread(target=target, args=(url, out), daemon=True)
    thread.start()
    return thread, out


def _wait(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)


# --------------------------------------------------------------------------- tests


def test_in_flight_work_finishes_and_new_requests_get_503_in_each_dialect(fake_provider: FakeProvider) -> None:
    # One request hangs 0.6 s upstream, one stream sends a frame every 0.1 s (~0.7 s in all).
    fake_provider.script("openai", [Hang(0.6), SlowStream(0.1)])
    with serve_gateway(gateway_config(fake_provider, grace=5)) as gw:
        pending, pending_out = _start(_complete, gw.url)
        fake_provider.wait_for(lambda: fake_provider.active_requests == 1)
        streaming, stream_out = _start(_stream, gw.url)
        fake_provider.wait_for(lambda: fake_provider.active_requests == 2)

        started = time.monotonic()
        shutdown = gw.submit(gw.gateway.shutdown())
        _wait(lambda: gw.gateway.closing)

        # New requests while draining: refused at once, in each client's own dialect.
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        with client, pytest.raises(openai.APIStatusError) as refused_openai:
            client.chat.completions.create(model=MODEL, messages=HI)
        claude = anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key="k", max_retries=0)
        with claude, pytest.raises(anthropic.APIStatusError) as refused_anthropic:
            claude.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=HI)
        google = genai.Client(api_key="k", http_options=genai_types.HttpOptions(base_url=f"{gw.url}/genai"))
        with contextlib.closing(google), pytest.raises(genai_errors.ServerError) as refused_genai:
            google.models.generate_content(model="gemini-2.5-flash", contents="hi")
        health = httpx2.get(f"{gw.url}/health", timeout=5)

        shutdown.result(timeout=6)
        drained = time.monotonic() - started
        pending.join(5)
        streaming.join(5)
        in_flight = gw.gateway.in_flight

    assert refused_openai.value.status_code == 503
    assert "shutting down" in refused_openai.value.message
    assert refused_anthropic.value.status_code == 529
    assert isinstance(refused_anthropic.value.body, dict)
    assert refused_anthropic.value.body["error"]["type"] == "overloaded_error"
    assert (refused_genai.value.code, refused_genai.value.status) == (503, "UNAVAILABLE")
    assert (health.status_code, health.json()) == (503, {"status": "shutting_down"})
    # Only the two in-flight requests ever reached upstream.
    assert fake_provider.count() == 2

    assert (pending_out.status, pending_out.text, pending_out.error) == (200, TEXT, None)
    assert (stream_out.status, stream_out.text, stream_out.error) == (200, TEXT, None)
    assert pending_out.ended_at is not None and stream_out.ended_at is not None
    # Shutdown returned once both had finished, well before the 5 s grace period ran out.
    assert drained < 4.0
    assert started + drained >= max(pending_out.ended_at, stream_out.ended_at) - 0.05
    assert in_flight == 0


@pytest.mark.parametrize("upstream_client", ["aiohttp", "httpx"])
def test_shutdown_is_bounded_by_the_grace_period_when_a_stream_outlives_it(
    fake_provider: FakeProvider, upstream_client: str
) -> None:
    fake_provider.always("openai", SlowStream(0.2))  # 42 frames: over 8 s of stream
    with serve_gateway(gateway_config(fake_provider, grace=1, upstream_client=upstream_client)) as gw:
        streaming, out = _start(_endless_stream, gw.url)
        _wait(lambda: out.first_content_at is not None)
        started = time.monotonic()
        gw.run(gw.gateway.shutdown(), timeout=8)
        took = time.monotonic() - started
        streaming.join(6)
        alive = streaming.is_alive()
        in_flight = gw.gateway.in_flight
    # At least the grace period, and cut there: far from the 8 s the stream would have taken.
    assert 0.9 <= took < 4.0, f"shutdown took {took:.3f}s with a 1 s grace period and an 8 s stream"
    assert not alive, "the client stream hung after shutdown"
    assert out.ended_at is not None and out.ended_at - started < 5.0
    # The client got part of the answer, then an error event saying why it ended.
    assert out.status == 200
    assert ENDLESS_TEXT.startswith(out.text) and "w0" in out.text and out.text != ENDLESS_TEXT
    assert isinstance(out.error, openai.APIError)
    assert "shut down" in out.error.message
    assert in_flight == 0
    fake_provider.wait_idle(timeout=2.0, connections=True)  # the upstream stream was closed


def test_server_stop_lets_a_stream_finish_then_exits(fake_provider: FakeProvider) -> None:
    fake_provider.always("openai", SlowStream(0.1))
    with serve_gateway(gateway_config(fake_provider, grace=5), graceful=5) as gw:
        streaming, out = _start(_stream, gw.url)
        _wait(lambda: out.first_content_at is not None)
        started = time.monotonic()
        gw.stop()
        took = time.monotonic() - started
        streaming.join(5)
        gateway = gw.gateway
    assert (out.status, out.text, out.error) == (200, TEXT, None)
    assert took < 4.0, f"server stop took {took:.3f}s: it waited for the 5 s grace, not for the stream"
    assert gateway.closing and gateway.in_flight == 0


def test_server_stop_with_a_stream_longer_than_the_grace_period_does_not_hang(fake_provider: FakeProvider) -> None:
    fake_provider.always("openai", SlowStream(0.2))  # over 8 s of stream
    with serve_gateway(gateway_config(fake_provider, grace=1), graceful=1) as gw:
        streaming, out = _start(_endless_stream, gw.url)
        _wait(lambda: out.first_content_at is not None)
        started = time.monotonic()
        gw.stop()
        took = time.monotonic() - started
        streaming.join(6)
        alive = streaming.is_alive()
        gateway = gw.gateway
    assert took < 4.5, f"server stop took {took:.3f}s with a 1 s grace period and an 8 s stream"
    assert not alive, "the client stream hung after the server stopped"
    assert out.error is not None and out.text != ENDLESS_TEXT
    assert gateway.in_flight == 0
    fake_provider.wait_idle(timeout=3.0, connections=True)  # the upstream stream was closed too


def test_server_stop_past_the_grace_period_ends_streams_with_an_error_event_and_plain_requests_with_503(
    fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn cancels what outlives its graceful timeout before the lifespan shutdown runs: the
    stream still ends with the dialect's error event and a proper end of body, the request still
    waiting for its upstream gets a 503 in its dialect, and no CancelledError reaches the log."""
    caplog.set_level(logging.INFO)
    fake_provider.always("openai", SlowStream(0.2))  # over 8 s of stream
    with serve_gateway(gateway_config(fake_provider, grace=1), graceful=1) as gw:
        streaming, streamed = _start(_endless_stream, gw.url)
        _wait(lambda: streamed.first_content_at is not None, 30)
        fake_provider.always("openai", Hang(60))
        waiting, plain = _start(_complete, gw.url)
        _wait(lambda: fake_provider.active_requests == 2, 30)
        gw.stop(timeout=30)
        streaming.join(30)
        waiting.join(30)
        gateway = gw.gateway
    assert isinstance(streamed.error, openai.APIError), repr(streamed.error)
    assert "shut down" in streamed.error.message
    assert ENDLESS_TEXT.startswith(streamed.text) and streamed.text and streamed.text != ENDLESS_TEXT
    assert isinstance(plain.error, openai.APIStatusError) and plain.error.status_code == 503, repr(plain.error)
    assert "shut down" in plain.error.message
    assert gateway.in_flight == 0
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info and r.exc_info[0] is asyncio.CancelledError]
