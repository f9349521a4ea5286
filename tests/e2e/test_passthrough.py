"""Same-format OpenAI chat over a real socket: the passthrough (no neutral request) against the
neutral path, for every body of the corpus. The fake vendor must receive the same bytes and the
client the same status, answer and gateway headers, errors included; and the passthrough must be
taken exactly when every target is OpenAI-format and nothing needs the neutral form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx2
import orjson
import pytest

from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.routing.router import Router
from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_provider import Reply, Status
from tests.support.openai_bodies import corpus

pytestmark = pytest.mark.e2e

SECRET = "sk-test-secret-123"
COMPARED_HEADERS = ("content-type", "x-bifrost-provider", "x-bifrost-model", "x-bifrost-attempts")


def config(fake: FakeProvider) -> dict[str, Any]:
    entry = {"keys": [{"value": SECRET}], "network_config": {"base_url": fake.url}}
    return {"providers": {"openai": entry, "groq": entry, "anthropic": entry}}


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(config(fake_provider)) as handle:
        yield handle


def recorded(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """The requests of every call of ``Router.<method>`` (``passthrough``, ``open_passthrough``) in the test."""
    calls: list[Any] = []
    real = getattr(Router, method)

    async def counted(self: Router, request: Any, targets: Any, ctx: Any) -> Any:
        calls.append(request)
        return await real(self, request, targets, ctx)

    monkeypatch.setattr(Router, method, counted)
    return calls


@pytest.fixture
def passthroughs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``Router.passthrough`` call of the test."""
    return recorded(monkeypatch, "passthrough")


def exchange(gateway: ServerHandle, fake: FakeProvider, body: bytes, path: str) -> tuple[Any, ...]:
    seen = len(fake.requests)
    reply = httpx2.post(gateway.url + path, content=body, headers={"content-type": "application/json"}, timeout=30)
    upstream = [(r.path, r.body, dict(r.headers)) for r in fake.requests[seen:]]
    # The fake numbers its answers; a translated answer is stamped with the time.
    answer = re.sub(rb'(fake[-_])\d+|"created":\d+', rb"\1N", reply.content)
    headers = {name: reply.headers.get(name) for name in COMPARED_HEADERS}
    return reply.status_code, answer, headers, upstream


def both_paths(
    gateway: ServerHandle, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, body: bytes, path: str
) -> tuple[Any, ...]:
    fast = exchange(gateway, fake, body, path)
    with monkeypatch.context() as patch:
        patch.setattr(OpenAIDialect, "passthrough_chat", lambda self, body, call: None)
        neutral = exchange(gateway, fake, body, path)
    assert fast == neutral
    return fast


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/openai/v1/chat/completions"])
def test_corpus_through_both_paths(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, passthroughs: list[Any],
    path: str,
) -> None:  # fmt: skip
    statuses = set()
    for document in corpus():
        if isinstance(document, dict) and document.get("stream") is True:
            continue  # streams never take the passthrough (covered by the stream relay's tests)
        status, *_ = both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(document), path)
        statuses.add(status)
    assert {200, 400} <= statuses
    assert len(passthroughs) >= 10  # the passing bodies without an Anthropic fallback


def test_malformed_json_and_deep_bodies(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"x":' + b"[" * 120 + b"]" * 120 + b"}"
    for body in (b"", b"{", b"null", deep):
        status, answer, *_ = both_paths(gateway, fake_provider, monkeypatch, body, "/v1/chat/completions")
        assert status == 400 and b"invalid_request_error" in answer


def test_upstream_errors_and_fallbacks_are_the_same(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, passthroughs: list[Any]
) -> None:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    def broken(request: Any) -> Any:
        return {"id": "x", "choices": [{"message": {"content": 3}}]}  # unreadable: a 502

    fake_provider.respond("/chat/completions", broken)
    status, *_ = both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(body), "/v1/chat/completions")
    assert status == 502
    fake_provider.respond("/chat/completions", None)
    # a fallback of the same format: still the passthrough, and the fallback answers
    with_fallback = orjson.dumps({**body, "model": "openai/gpt-4o", "fallbacks": ["groq/llama-3.3-70b"]})
    passthroughs.clear()
    both_paths(gateway, fake_provider, monkeypatch, with_fallback, "/v1/chat/completions")
    assert len(passthroughs) == 1


def test_other_formats_in_the_plan_take_the_neutral_path(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, passthroughs: list[Any]
) -> None:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for document in (
        {**body, "fallbacks": ["anthropic/claude-3-5-haiku-latest"]},  # a fallback in another format
        {**body, "model": "anthropic/claude-3-5-haiku-latest"},
        {**body, "stream": False, "messages": [{"role": "function", "name": "f", "content": "1"}]},
    ):
        status, answer, *_ = both_paths(
            gateway, fake_provider, monkeypatch, orjson.dumps(document), "/v1/chat/completions"
        )
        assert status == 200, answer
    assert passthroughs == []
    both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(body), "/v1/chat/completions")
    assert len(passthroughs) == 1


def test_the_walk_runs_only_when_every_target_may_take_the_body(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, passthroughs: list[Any]
) -> None:
    """The plan is made from the top-level ``model``/``fallbacks`` first: a request with a target in
    another format is parsed without the passthrough's walk over its messages, with the same
    upstream bytes, answer and errors as the walk-and-parse path."""
    walks: list[Any] = []
    real = OpenAIDialect.passthrough_chat

    def walked(self: OpenAIDialect, body: Any, call: Any) -> Any:
        walks.append(body)
        return real(self, body, call)

    monkeypatch.setattr(OpenAIDialect, "passthrough_chat", walked)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for document in (
        {**body, "model": "anthropic/claude-3-5-haiku-latest"},
        {**body, "fallbacks": ["anthropic/claude-3-5-haiku-latest"]},
        {**body, "model": "anthropic/claude-3-5-haiku-latest", "messages": [{"role": "user", "content": 3}]},
        {**body, "model": "anthropic/claude-3-5-haiku-latest", "fallbacks": ["zz"]},  # a 400 from the plan
        {**body, "model": "anthropic/claude-3-5-haiku-latest", "stream": True},
    ):
        walks.clear()
        raw = orjson.dumps(document)
        fast = exchange(gateway, fake_provider, raw, "/v1/chat/completions")
        assert walks == ([document] if document.get("fallbacks") == ["zz"] else [])  # no plan: walked, as before
        walks.clear()
        with monkeypatch.context() as patch:  # the walk forced, then the full parser, as before
            patch.setattr(Router, "certain_plan", lambda self, model, fallbacks, default: None)
            slow = exchange(gateway, fake_provider, raw, "/v1/chat/completions")
        assert walks == [document]
        assert fast == slow
    assert passthroughs == []
    walks.clear()
    exchange(gateway, fake_provider, orjson.dumps(body), "/v1/chat/completions")
    assert walks == [body] and len(passthroughs) == 1


def _stream_metrics(gateway: ServerHandle) -> dict[str, float]:
    """The stream-related counts of /metrics: requests, tokens, first-token and inter-token
    observations (their counts: the timings themselves differ run to run)."""
    text = httpx2.get(gateway.url + "/metrics", timeout=30).text
    wanted = ("bifrost_requests_total", "_tokens_total", "token_latency_seconds_count", "upstream_requests_total")
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not any(name in line for name in wanted):
            continue
        series, _, value = line.rpartition(" ")
        counts[series] = float(value)
    return counts


def _with_metrics(
    gateway: ServerHandle, fake: FakeProvider, body: bytes, path: str
) -> tuple[tuple[Any, ...], dict[str, float]]:
    """``exchange`` and what it moved in ``_stream_metrics``."""
    before = _stream_metrics(gateway)
    answer = exchange(gateway, fake, body, path)
    after = _stream_metrics(gateway)
    return answer, {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/openai/v1/chat/completions"])
def test_streamed_corpus_through_both_paths(
    gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, passthroughs: list[Any],
    path: str,
) -> None:  # fmt: skip
    """Streamed bodies: the passthrough (no neutral request) sends the same bytes upstream and the
    client gets the same stream, status and headers as from the parsed request, and the metrics
    (requests, tokens, first-token and inter-token observations) move the same."""
    opened = recorded(monkeypatch, "open_passthrough")
    statuses = set()
    streams = [d for d in corpus() if isinstance(d, dict) and d.get("stream") is True]
    hi = [{"role": "user", "content": "hi"}]
    streams += [  # refused: the full parser's 400s
        {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": 3}]},
        {"model": "openai/gpt-4o-mini", "stream": True, "stream_options": {"include_usage": 1}, "messages": hi},
        {"model": "openai/gpt-4o-mini", "stream": True, "fallbacks": ["zz"], "messages": hi},
    ]
    for document in streams:
        status, *_ = both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(document), path)
        statuses.add(status)
    assert {200, 400} <= statuses
    assert len(opened) >= 2 and passthroughs == []  # streams open, never the non-streamed passthrough
    for options in (None, {"include_usage": True}, {"include_usage": False}):
        document = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        if options is not None:
            document["stream_options"] = options
        raw = orjson.dumps(document)
        fast = _with_metrics(gateway, fake_provider, raw, path)
        with monkeypatch.context() as patch:
            patch.setattr(OpenAIDialect, "passthrough_chat", lambda self, body, call: None)
            neutral = _with_metrics(gateway, fake_provider, raw, path)
        assert fast == neutral
        moved = fast[1]
        assert any("inter_token" in series for series in moved) and any("output_tokens" in s for s in moved)


def test_streamed_upstream_failures_are_the_same(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream error before the stream (alone and with a fallback of the same format), and an
    in-band error after the first content: the same answer and attempts either way (no cooldown:
    each path must meet the same upstream)."""
    with run_gateway({**config(fake_provider), "routing": {"cooldown_failures": 1000}}) as gateway:
        _streamed_failures(gateway, fake_provider, monkeypatch)


def _streamed_failures(gateway: ServerHandle, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with_fallback = orjson.dumps({**body, "fallbacks": ["groq/llama-3.3-70b"]})
    fake_provider.respond("/chat/completions", lambda request: Status(503))
    status, *_ = both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(body), "/v1/chat/completions")
    assert status == 503
    both_paths(gateway, fake_provider, monkeypatch, with_fallback, "/v1/chat/completions")
    delta = {"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}
    first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [delta]}
    frames = [b"data: " + orjson.dumps(first) + b"\n\n", b'data: {"error":{"message":"overloaded"}}\n\n']
    fake_provider.respond("/chat/completions", lambda request: Reply(sse=frames))
    status, answer, *_ = both_paths(gateway, fake_provider, monkeypatch, orjson.dumps(body), "/v1/chat/completions")
    assert status == 200 and b"overloaded" in answer
    fake_provider.respond("/chat/completions", None)
