"""The gateway's stream relay loop over one upstream's ``EventStream`` (the stream's steps run in
the relay itself, no generator between the upstream read and the client's chunk) against the
general loop over ``ChatEvents.batches()`` it replaced: for every recorded stream, cut into reads
in every way, with the client in the OpenAI and the Anthropic dialect, and with the upstream
failing mid-stream (a read timing out, an event over the size limit), the client gets the same
bytes, and every metric (first-token and inter-token histograms, tokens, request status, upstream
calls) and the request's accounting end the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi import _json, gateway
from bifrost_asgi.config.settings import BifrostSettings
from bifrost_asgi.dialects.anthropic import AnthropicDialect
from bifrost_asgi.dialects.base import Call, Dialect
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.errors import UpstreamTimeoutError
from bifrost_asgi.gateway import Gateway
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.replies import StreamReply
from bifrost_asgi.upstream.base import Timeouts
from tests.providers.test_openai_relay_reads import STREAMS, _Clock, _cut

SETTINGS = {
    "providers": {
        "openai": {
            "keys": [{"value": "sk-test-0123456789", "models": []}],
            "network_config": {"base_url": "http://upstream.invalid"},
        }
    }
}


class _Stream:
    status = 200
    headers: Mapping[str, str] = {"content-type": "text/event-stream"}

    def __init__(self, reads: Sequence[bytes], fail_after: int | None) -> None:
        self._reads = reads
        self._fail_after = fail_after
        self.closed = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for position, read in enumerate(self._reads):
            if position == self._fail_after:
                raise UpstreamTimeoutError("upstream sent nothing for 1s (stream idle timeout)")
            yield read

    async def read(self) -> bytes:
        return b"".join(self._reads)

    async def aclose(self) -> None:
        self.closed += 1


class _Upstream:
    def __init__(self, reads: Sequence[bytes], fail_after: int | None) -> None:
        self.stream = _Stream(reads, fail_after)

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> Any:
        raise AssertionError("streams only")

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> _Stream:
        return self.stream

    async def aclose(self) -> None:
        return None


async def _relayed(
    reads: Sequence[bytes], dialect: Dialect, fail_after: int | None, max_event_mb: float | None
) -> tuple[Any, ...]:
    config: dict[str, Any] = dict(SETTINGS)
    if max_event_mb is not None:
        config["client"] = {"max_stream_event_size_mb": max_event_mb}
    upstream = _Upstream(reads, fail_after)
    gw = Gateway(BifrostSettings.model_validate(config), upstream=upstream, clock=_Clock())
    messages = [{"role": "user", "content": "hi"}]
    if isinstance(dialect, OpenAIDialect):
        body: dict[str, Any] = {"model": "openai/gpt-4o-mini", "stream": True, "messages": messages}
        route = "/v1/chat/completions"
    else:
        body = {"model": "openai/gpt-4o-mini", "stream": True, "max_tokens": 100, "messages": messages}
        route = "/anthropic/v1/messages"
    reply = await gw.handle(dialect, "chat", Call(), _json.dumps(body), route=route, method="POST")
    if isinstance(reply, StreamReply):
        out = b"".join([piece async for piece in reply.chunks])
        await reply.chunks.aclose()
    else:
        out = reply.body
    samples = sorted(
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for metric in gw.registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    )
    provider_queue = gw.router.providers["openai"].queue
    ended = (gw.in_flight, provider_queue.in_flight, upstream.stream.closed > 0, list(gw._streams))
    await gw.aclose()
    return out, samples, ended


def _both(
    reads: Sequence[bytes], dialect: Dialect, fail_after: int | None = None, max_event_mb: float | None = None
) -> tuple[Any, ...]:
    flat = asyncio.run(_relayed(reads, dialect, fail_after, max_event_mb))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gateway, "EventStream", type("NotAnEventStream", (), {}))  # the general loop
        general = asyncio.run(_relayed(reads, dialect, fail_after, max_event_mb))
    assert flat == general
    return flat


DIALECTS = [OpenAIDialect(), AnthropicDialect()]


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("dialect", DIALECTS, ids=["openai", "anthropic"])
def test_every_stream_read_by_read_and_at_once(name: str, dialect: Dialect) -> None:
    events = STREAMS[name]
    for reads in (list(events), [b"".join(events)], [b"".join(events[i : i + 3]) for i in range(0, len(events), 3)]):
        out, _, ended = _both(reads, dialect)
        assert out and ended == (0, 0, True, [])


@given(
    name=st.sampled_from(sorted(STREAMS)),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    anthropic=st.booleans(),
)
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_any_cut_of_any_stream(name: str, cuts: list[int], anthropic: bool) -> None:
    _both(_cut(b"".join(STREAMS[name]), cuts), DIALECTS[anthropic])


@pytest.mark.parametrize("dialect", DIALECTS, ids=["openai", "anthropic"])
@pytest.mark.parametrize("fail_after", [1, 2, 4, 7])
def test_an_upstream_read_failing_mid_stream(dialect: Dialect, fail_after: int) -> None:
    out, samples, ended = _both(list(STREAMS["text"]), dialect, fail_after=fail_after)
    assert b"stream idle timeout" in out and ended == (0, 0, True, [])
    assert any(name == "bifrost_requests_total" and ("status", "504") in labels for name, labels, _ in samples)


@pytest.mark.parametrize("dialect", DIALECTS, ids=["openai", "anthropic"])
def test_an_event_over_the_size_limit(dialect: Dialect) -> None:
    events = list(STREAMS["text"])
    big = events[3].replace(b'"content":"', b'"content":"' + b"x" * 2000)
    for reads in ([*events[:3], big, *events[4:]], [events[0] + events[1] + big, *events[2:]]):
        out, _, ended = _both(reads, dialect, max_event_mb=0.001)
        assert b"larger than" in out and ended == (0, 0, True, [])
