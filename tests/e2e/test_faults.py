"""Upstream faults over real sockets, seen through the official SDKs (their own retries off, so what
is measured is the gateway): status errors and retries, Retry-After, resets, hangs and timeouts,
slow, broken and truncated streams, and fallbacks to a second provider on a second server.

Layout: fake server A hosts the ``openai``, ``anthropic`` and ``gemini`` providers; fake server B
hosts ``backup``, an Anthropic-format custom provider, so an answer from B reads
``"anthropic says: ..."`` and can never be mistaken for one from A (``"openai says: ..."``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.support import (
    EarlyClose,
    FakeProvider,
    Hang,
    InBandErrorFirst,
    MidStreamError,
    Reset,
    SlowStream,
    Status,
    fake_text,
    run_gateway,
    running_fake,
    sse,
)
from tests.support.servers import HttpExchange, RawServerHandle, ServerHandle, run_raw_http

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
BACKUP = "backup/claude-haiku-4-5"
A_TEXT = fake_text("openai", "hi")
B_TEXT = fake_text("anthropic", "hi")


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def fake_b() -> Iterator[FakeProvider]:
    with running_fake() as fake:
        yield fake
        errors = fake.errors
    assert not errors, f"fake provider B raised: {errors!r}"


def config(
    a: FakeProvider,
    b: FakeProvider,
    *,
    network: Mapping[str, Any] | None = None,
    routing: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``network`` applies to the providers on A; backoff is short so retries do not slow tests."""
    net = {"retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 40, **(network or {})}
    providers: dict[str, Any] = {
        "openai": {"keys": [{"value": "sk-a", "name": "a1"}], "network_config": {"base_url": a.url, **net}},
        "anthropic": {"keys": [{"value": "sk-ant", "name": "ant1"}], "network_config": {"base_url": a.url, **net}},
        "gemini": {
            "keys": [{"value": "g-key", "name": "g1"}],
            "network_config": {"base_url": f"{a.url}/v1beta", **net},
        },
        "backup": {
            "keys": [{"value": "sk-b", "name": "b1"}],
            "custom_provider_config": {"base_provider_type": "anthropic"},
            "network_config": {"base_url": b.url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 40},
        },
        **(extra or {}),
    }
    return {"providers": providers, "routing": dict(routing or {}), "client": {"enable_logging": False}}


@contextlib.contextmanager
def openai_client(gw: ServerHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="client-key", max_retries=0, timeout=15) as client:
        yield client


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    """A non-streamed chat via ``with_raw_response``: (status, headers, content) on success."""
    kwargs.setdefault("model", MODEL)
    raw = client.chat.completions.with_raw_response.create(messages=HI, **kwargs)
    return raw.status_code, raw.headers, raw.parse().choices[0].message.content


def failed(client: openai.OpenAI, **kwargs: Any) -> openai.APIStatusError:
    kwargs.setdefault("model", MODEL)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(messages=HI, **kwargs)
    return caught.value


def stream_until_error(client: openai.OpenAI, **kwargs: Any) -> tuple[Any, str, openai.APIError | None]:
    """Stream a chat; returns (headers, text received, the APIError the SDK raised or None)."""
    kwargs.setdefault("model", MODEL)
    raw = client.chat.completions.with_raw_response.create(messages=HI, stream=True, **kwargs)
    assert raw.status_code == 200
    text: list[str] = []
    error: openai.APIError | None = None
    try:
        for chunk in raw.parse():
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
    except openai.APIError as exc:
        error = exc
    return raw.headers, "".join(text), error


def trail(headers: Any) -> list[str]:
    value = headers.get("x-bifrost-attempt-trail") or ""
    return [item.strip() for item in value.split(",") if item.strip()]


# --------------------------------------------------------------------------- status errors, retries


def test_500s_are_retried_max_retries_times_then_returned(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Status(500))
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 2})) as gw, openai_client(gw) as client:
        error = failed(client)
    assert error.status_code == 500
    assert fake_provider.count(vendor="openai") == 3
    assert error.response.headers["x-bifrost-attempts"] == "3"
    assert trail(error.response.headers) == ["openai/gpt-4o-mini=500"] * 3
    assert "x-bifrost-provider" not in error.response.headers
    assert fake_b.count() == 0


def test_500s_then_fallback_answers_from_the_second_provider(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Status(500))
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 2})) as gw, openai_client(gw) as client:
        status, headers, content = chat(client, extra_body={"fallbacks": [BACKUP]})
    assert (status, content) == (200, B_TEXT)
    assert fake_provider.count(vendor="openai") == 3
    assert fake_b.count() == 1
    assert headers["x-bifrost-provider"] == "backup"
    assert headers["x-bifrost-attempts"] == "4"
    assert trail(headers) == ["openai/gpt-4o-mini=500"] * 3 + ["backup/claude-haiku-4-5=200"]


@pytest.mark.parametrize(
    ("header", "value", "at_least"),
    [("retry-after", "1", 0.9), ("retry-after-ms", "700", 0.6)],
)
def test_429_retry_after_is_honoured(
    fake_provider: FakeProvider, fake_b: FakeProvider, header: str, value: str, at_least: float
) -> None:
    fake_provider.script("openai", [Status(429, headers={header: value})])
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 1})) as gw, openai_client(gw) as client:
        started = time.monotonic()
        status, headers, content = chat(client)
        elapsed = time.monotonic() - started
    assert (status, content) == (200, A_TEXT)
    assert fake_provider.count(vendor="openai") == 2
    assert headers["x-bifrost-attempts"] == "2"
    assert trail(headers) == ["openai/gpt-4o-mini=429", "openai/gpt-4o-mini=200"]
    assert elapsed >= at_least, f"retried after {elapsed:.3f}s, before the upstream's {header}: {value}"
    # The wait is the upstream's, not a backoff on top of it (backoff here is <= 40 ms).
    assert elapsed < at_least + 1.0


def test_connection_reset_is_retried(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.script("openai", [Reset()])
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 1})) as gw, openai_client(gw) as client:
        status, headers, content = chat(client)
    assert (status, content) == (200, A_TEXT)
    assert fake_provider.count(vendor="openai") == 2
    assert headers["x-bifrost-provider"] == "openai"
    assert trail(headers) == ["openai/gpt-4o-mini=502", "openai/gpt-4o-mini=200"]


def test_connection_resets_exhaust_retries_then_fall_back(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Reset())
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 1})) as gw, openai_client(gw) as client:
        status, headers, content = chat(client, extra_body={"fallbacks": [BACKUP]})
        error = failed(client)  # without a fallback the client sees a 502 naming the upstream
    assert (status, content) == (200, B_TEXT)
    assert headers["x-bifrost-provider"] == "backup"
    assert headers["x-bifrost-attempts"] == "3"
    assert error.status_code == 502
    assert "closed the connection" in error.message
    assert fake_b.count() == 1


# --------------------------------------------------------------------------- hangs and timeouts


def test_hang_times_out_with_504_in_under_two_seconds(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Hang(10))
    net = {"default_request_timeout_in_seconds": 1}
    with run_gateway(config(fake_provider, fake_b, network=net)) as gw, openai_client(gw) as client:
        started = time.monotonic()
        error = failed(client)
        elapsed = time.monotonic() - started
    assert error.status_code == 504
    assert 0.9 <= elapsed < 5.0  # the 1 s timeout, not the upstream's 10 s hang
    assert fake_provider.count(vendor="openai") == 1
    assert trail(error.response.headers) == ["openai/gpt-4o-mini=504"]
    # The gateway gave up on the upstream request: its connection is not left hanging.
    fake_provider.wait_idle(timeout=2.0)


def test_hang_with_a_fallback_answers_200_from_the_fallback(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Hang(10))
    net = {"default_request_timeout_in_seconds": 1}
    with run_gateway(config(fake_provider, fake_b, network=net)) as gw, openai_client(gw) as client:
        started = time.monotonic()
        status, headers, content = chat(client, extra_body={"fallbacks": [BACKUP]})
        elapsed = time.monotonic() - started
    assert (status, content) == (200, B_TEXT)
    assert elapsed < 5.0  # the 1 s timeout, not the upstream's 10 s hang
    assert headers["x-bifrost-provider"] == "backup"
    assert trail(headers) == ["openai/gpt-4o-mini=504", "backup/claude-haiku-4-5=200"]


def test_per_request_timeout_header_overrides_the_configured_timeout(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("openai", Hang(10))
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        started = time.monotonic()
        error = failed(client, extra_headers={"x-bf-request-timeout": "0.5"})
        elapsed = time.monotonic() - started
        bad = failed(client, extra_headers={"x-bf-request-timeout": "soon"})
    assert error.status_code == 504
    assert 0.45 <= elapsed < 5.0  # the header's 0.5 s, not the upstream's 10 s hang
    assert bad.status_code == 400
    assert "x-bf-request-timeout" in bad.message
    assert fake_provider.count(vendor="openai") == 1  # the malformed header never reached upstream


# --------------------------------------------------------------------------- streams


def _stall_after_content(chunks: int, stall: float) -> Any:
    """A raw upstream that streams ``chunks`` OpenAI content chunks, then goes silent."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": "chatcmpl-stall", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})  # fmt: skip

    async def handler(exchange: HttpExchange) -> None:
        await exchange.send_head(200, {"content-type": "text/event-stream"}, content_length=None)
        await exchange.write(chunk({"role": "assistant", "content": ""}))
        for index in range(chunks):
            await exchange.write(chunk({"content": f"part{index} "}))
        await exchange.sleep(stall)
        await exchange.end(chunk({}, "stop") + b"data: [DONE]\n\n")

    return handler


@contextlib.contextmanager
def stalling_upstream(chunks: int = 2, stall: float = 10.0) -> Iterator[RawServerHandle]:
    with run_raw_http(_stall_after_content(chunks, stall)) as handle:
        yield handle


def stall_provider(url: str, **network: Any) -> dict[str, Any]:
    return {
        "stall": {
            "keys": [{"value": "sk-s"}],
            "custom_provider_config": {"base_provider_type": "openai"},
            "network_config": {"base_url": url, "stream_idle_timeout_in_seconds": 1, **network},
        }
    }


async def _keep_alive_comments_only(exchange: HttpExchange) -> None:
    """Headers at once, then an SSE comment every 0.2 s and never any content."""
    await exchange.send_head(200, {"content-type": "text/event-stream"}, content_length=None)
    for _ in range(50):
        await exchange.write(b": keep-alive\n\n")
        await exchange.sleep(0.2)
    await exchange.end(b"data: [DONE]\n\n")


def test_stream_stalling_after_content_ends_with_an_error_event(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    with stalling_upstream(chunks=2) as stall:
        cfg = config(fake_provider, fake_b, extra=stall_provider(stall.url))
        with run_gateway(cfg) as gw, openai_client(gw) as client:
            started = time.monotonic()
            headers, text, error = stream_until_error(
                client, model="stall/gpt-4o-mini", extra_body={"fallbacks": [BACKUP]}
            )
            elapsed = time.monotonic() - started
    assert text == "part0 part1 "
    assert error is not None, "the stream ended without an error although the upstream went silent"
    assert "stream idle timeout" in error.message
    assert 0.9 <= elapsed < 5.0  # the 1 s idle timeout, not the upstream's 10 s stall
    assert headers["x-bifrost-provider"] == "stall"
    assert fake_b.count() == 0  # content had reached the client: no fallback mid-answer


def test_keep_alive_comments_without_content_time_out_and_fall_back(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    # The comments keep the idle timer from firing; the request timeout still bounds the wait.
    with run_raw_http(_keep_alive_comments_only) as chatty:
        extra = stall_provider(chatty.url, default_request_timeout_in_seconds=1)
        with run_gateway(config(fake_provider, fake_b, extra=extra)) as gw, openai_client(gw) as client:
            started = time.monotonic()
            headers, text, error = stream_until_error(
                client, model="stall/gpt-4o-mini", extra_body={"fallbacks": [BACKUP]}
            )
            elapsed = time.monotonic() - started
            started = time.monotonic()
            plain = failed(client, model="stall/gpt-4o-mini", stream=True)
            plain_elapsed = time.monotonic() - started
    assert (text, error) == (B_TEXT, None)
    assert headers["x-bifrost-provider"] == "backup"
    assert trail(headers) == ["stall/gpt-4o-mini=504", "backup/claude-haiku-4-5=200"]
    assert 0.9 <= elapsed < 5.0  # the 1 s request timeout, not the 10 s of comments
    assert plain.status_code == 504
    assert 0.9 <= plain_elapsed < 5.0


def test_slow_stream_before_content_times_out_and_falls_back(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", SlowStream(2.0))
    net = {"stream_idle_timeout_in_seconds": 1}
    with run_gateway(config(fake_provider, fake_b, network=net)) as gw, openai_client(gw) as client:
        started = time.monotonic()
        headers, text, error = stream_until_error(client, extra_body={"fallbacks": [BACKUP]})
        elapsed = time.monotonic() - started
        plain = failed(client, stream=True)  # no fallback: a pre-stream error is a normal JSON error
    assert error is None
    assert text == B_TEXT
    assert elapsed >= 0.9  # the fallback's text shows the idle timeout fired before the 2 s first frame
    assert headers["x-bifrost-provider"] == "backup"
    assert trail(headers) == ["openai/gpt-4o-mini=504", "backup/claude-haiku-4-5=200"]
    assert plain.status_code == 504


def test_mid_stream_error_after_content_reaches_the_client(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.script("openai", [MidStreamError(after_chunks=2)])
    cfg = config(fake_provider, fake_b, network={"max_retries": 2})
    with run_gateway(cfg) as gw, openai_client(gw) as client:
        headers, text, error = stream_until_error(client, extra_body={"fallbacks": [BACKUP]})
    assert text == "openai"  # the first word of "openai says: hi", then the upstream's error
    assert error is not None
    assert "server had an error" in error.message
    assert fake_provider.count(vendor="openai") == 1  # not retried once content was sent
    assert fake_b.count() == 0
    assert headers["x-bifrost-provider"] == "openai"


def test_in_band_error_first_falls_back_transparently(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", InBandErrorFirst())
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        headers, text, error = stream_until_error(client, extra_body={"fallbacks": [BACKUP]})
    assert error is None
    assert text == B_TEXT
    assert headers["x-bifrost-provider"] == "backup"
    assert trail(headers) == ["openai/gpt-4o-mini=500", "backup/claude-haiku-4-5=200"]
    assert fake_provider.count(vendor="openai") == 1
    assert fake_b.count() == 1


def test_early_close_mid_stream_ends_with_an_error_not_a_hang(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("openai", EarlyClose(after_chunks=3))
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        started = time.monotonic()
        headers, text, error = stream_until_error(client, extra_body={"fallbacks": [BACKUP]})
        elapsed = time.monotonic() - started
    assert text == "openai says:"  # role chunk + two words, then the connection closed
    assert error is not None
    assert elapsed < 10.0  # ended, not hung until the client's 15 s timeout
    assert headers["x-bifrost-provider"] == "openai"
    assert fake_b.count() == 0


def test_early_close_before_content_falls_back(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", EarlyClose(after_chunks=1))  # only the role chunk, no text
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        headers, text, error = stream_until_error(client, extra_body={"fallbacks": [BACKUP]})
    assert error is None
    assert text == B_TEXT
    assert headers["x-bifrost-provider"] == "backup"
    assert [t.split("=")[0] for t in trail(headers)] == ["openai/gpt-4o-mini", "backup/claude-haiku-4-5"]


def test_early_close_of_a_non_streamed_body_is_retried(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.script("openai", [EarlyClose()])
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 1})) as gw, openai_client(gw) as client:
        status, headers, content = chat(client)
    assert (status, content) == (200, A_TEXT)
    assert trail(headers) == ["openai/gpt-4o-mini=502", "openai/gpt-4o-mini=200"]


# --------------------------------------------------------------------------- Anthropic SDK


@contextlib.contextmanager
def anthropic_client(gw: ServerHandle) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key="client-key", max_retries=0, timeout=15) as client:
        yield client


def test_anthropic_sdk_mid_stream_error_is_an_anthropic_error_event(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.script("anthropic", [MidStreamError(after_chunks=4)])
    with run_gateway(config(fake_provider, fake_b)) as gw, anthropic_client(gw) as client:
        raw = client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=64, messages=HI, stream=True
        )
        events: list[str] = []
        text: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as caught:
            for event in raw.parse():
                events.append(event.type)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text.append(event.delta.text)
    assert raw.headers["x-bifrost-provider"] == "anthropic"
    assert events[0] == "message_start"
    assert "".join(text) == "anthropic"
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert "message_stop" not in events


def test_anthropic_sdk_status_error_falls_back_and_translates(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("anthropic", Status(529))
    with run_gateway(config(fake_provider, fake_b)) as gw, anthropic_client(gw) as client:
        raw = client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=64, messages=HI, extra_body={"fallbacks": [MODEL]}
        )
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == A_TEXT  # answered by OpenAI on A, rendered as an Anthropic message
    assert raw.headers["x-bifrost-provider"] == "openai"
    assert trail(raw.headers) == ["anthropic/claude-haiku-4-5=529", "openai/gpt-4o-mini=200"]
    assert caught.value.status_code == 529
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"


# --------------------------------------------------------------------------- google-genai SDK


@contextlib.contextmanager
def genai_client(gw: ServerHandle) -> Iterator[genai.Client]:
    options = genai_types.HttpOptions(base_url=f"{gw.url}/genai", timeout=15_000)
    client = genai.Client(api_key="client-key", http_options=options)
    try:
        yield client
    finally:
        client.close()


def test_genai_sdk_mid_stream_error_raises(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.script("gemini", [MidStreamError(after_chunks=1)])
    with run_gateway(config(fake_provider, fake_b)) as gw, genai_client(gw) as client:
        text: list[str] = []
        with pytest.raises(genai_errors.APIError) as caught:
            for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
                text.append(chunk.text or "")
    assert "".join(text) == "gemini"
    assert caught.value.code == 503


def test_genai_sdk_hang_falls_back_via_configured_fallbacks(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("gemini", Hang(10))
    cfg = config(
        fake_provider,
        fake_b,
        network={"default_request_timeout_in_seconds": 1},
        routing={"fallbacks": {"gemini-2.5-flash": [BACKUP]}},
    )
    with run_gateway(cfg) as gw, genai_client(gw) as client:
        started = time.monotonic()
        response = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        elapsed = time.monotonic() - started
    assert response.text == B_TEXT
    assert elapsed < 5.0  # the 1 s timeout, not the upstream's 10 s hang
    assert response.sdk_http_response is not None
    assert response.sdk_http_response.headers is not None
    assert response.sdk_http_response.headers["x-bifrost-provider"] == "backup"


def test_genai_sdk_hang_without_fallback_is_a_504(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("gemini", Hang(10))
    cfg = config(fake_provider, fake_b, network={"default_request_timeout_in_seconds": 1})
    with run_gateway(cfg) as gw, genai_client(gw) as client:
        started = time.monotonic()
        with pytest.raises(genai_errors.ServerError) as caught:
            client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        elapsed = time.monotonic() - started
    assert caught.value.code == 504
    assert caught.value.status == "DEADLINE_EXCEEDED"
    assert elapsed < 5.0  # the 1 s timeout, not the upstream's 10 s hang
