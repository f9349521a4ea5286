"""Router semantics with a scripted upstream: retries, Retry-After, key rotation, cooldown, fallbacks,
streams that fail before or after their first content. The provider here is a minimal test double:
translation is tested elsewhere; this file is about what the router does with outcomes."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import pytest

from bifrost_asgi.config.settings import KeyConfig, ProviderConfig, RoutingConfig
from bifrost_asgi.errors import (
    GatewayError,
    NoUsableKeyError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
)
from bifrost_asgi.neutral import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    Message,
    ModelInfo,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
)
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.routing.cooldown import Cooldowns
from bifrost_asgi.routing.plan import Planner
from bifrost_asgi.routing.queues import ProviderQueue
from bifrost_asgi.routing.router import ProviderRuntime, RequestContext, Router
from bifrost_asgi.streaming import SSEDecoder, SSEEvent
from bifrost_asgi.upstream.base import Timeouts

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Parser:
    def __init__(self) -> None:
        self.started = False

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            out.append(StreamStart("s1", "m"))
        if event.data == "[ERR]":
            out.append(StreamFailure(UpstreamError("overloaded mid-stream", status=529)))
        elif event.data == "[END]":
            out.append(Finish("stop"))
        else:
            out.append(TextDelta(event.data))
        return out

    def close(self) -> Iterable[StreamEvent]:
        return ()


class EchoProvider:
    format = "openai"
    keyless = False
    auth = None

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def __init__(self, name: str) -> None:
        self.name = name

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        label = key.label if key else "none"
        return UpstreamRequest("POST", f"http://{self.name}/chat", {"key": label, "model": model}, b"{}")

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        text = response.body.decode()
        return ChatResponse("r1", model, (Choice(0, Message("assistant", (TextPart(text),))),))

    def stream_parser(self, request: ChatRequest, model: str) -> Parser:
        return Parser()

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        retry_after = response.headers.get("retry-after")
        return UpstreamError(
            f"upstream said {response.status}",
            status=response.status,
            retry_after=float(retry_after) if retry_after else None,
        )

    def build_embeddings(self, *args: Any) -> UpstreamRequest:
        raise NotImplementedError

    def parse_embeddings(self, *args: Any) -> Any:
        raise NotImplementedError

    def build_count_tokens(self, *args: Any) -> None:
        return None

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        raise NotImplementedError

    def build_list_models(self, key: KeyConfig | None) -> None:
        return None

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        return ()


Outcome = UpstreamResponse | Exception | list[bytes]


class FakeStream:
    def __init__(self, chunks: list[bytes]) -> None:
        self.status = 200
        self.headers: Mapping[str, str] = {}
        self._chunks = chunks
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            if chunk == b"!reset":
                raise UpstreamConnectionError("upstream closed the connection unexpectedly")
            yield chunk

    async def read(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        self.closed = True


class ScriptedUpstream:
    """Per provider host: a list of outcomes consumed in order; the last one repeats."""

    def __init__(self, script: dict[str, list[Outcome]]) -> None:
        self.script = script
        self.calls: list[tuple[str, str]] = []  # (provider, key label)
        self.streams: list[FakeStream] = []

    def _next(self, request: UpstreamRequest) -> Outcome:
        host = request.url.split("//")[1].split("/")[0]
        self.calls.append((host, request.headers["key"]))
        outcomes = self.script[host]
        return outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        outcome = self._next(request)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, UpstreamResponse)
        return outcome

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> FakeStream:
        outcome = self._next(request)
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, UpstreamResponse):
            stream = FakeStream([])
            stream.status = outcome.status
            stream.headers = outcome.headers
            return stream
        stream = FakeStream(list(outcome))
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        pass


class RecordingMetrics:
    def __init__(self) -> None:
        self.retries: list[tuple[str, str]] = []
        self.fallbacks: list[tuple[str, str]] = []
        self.cooldowns: list[tuple[str, str, bool]] = []
        self.upstream: list[tuple[str, int | None, bool]] = []
        self.selections: list[tuple[str, str]] = []

    def count_key_selection(self, provider: str, key_label: str) -> None:
        self.selections.append((provider, key_label))

    def observe_upstream(self, **kw: Any) -> None:
        self.upstream.append((kw["provider"], kw["status"], kw["success"]))

    def count_retry(self, provider: str, reason: str) -> None:
        self.retries.append((provider, reason))

    def count_fallback(self, from_provider: str, to_provider: str) -> None:
        self.fallbacks.append((from_provider, to_provider))

    def set_cooldown(self, provider: str, key_label: str, active: bool) -> None:
        self.cooldowns.append((provider, key_label, active))


def ok(text: str = "hi") -> UpstreamResponse:
    return UpstreamResponse(200, {}, text.encode())


def status(code: int, **headers: str) -> UpstreamResponse:
    return UpstreamResponse(code, headers, b"{}")


def make_router(
    providers: dict[str, dict[str, Any]],
    script: dict[str, list[Outcome]],
    *,
    routing: dict[str, Any] | None = None,
) -> tuple[Router, ScriptedUpstream, RecordingMetrics, list[float]]:
    configs = {name: ProviderConfig.model_validate(cfg) for name, cfg in providers.items()}
    runtimes = {
        name: ProviderRuntime(
            name,
            config,
            EchoProvider(name),  # type: ignore[arg-type]
            ProviderQueue(name, concurrency=10, buffer_size=10, drop_excess=False),
        )
        for name, config in configs.items()
    }
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    clock_value = [1000.0]
    upstream = ScriptedUpstream(script)
    metrics = RecordingMetrics()
    routing_config = RoutingConfig.model_validate(routing or {})
    router = Router(
        runtimes,
        Planner(configs, routing_config),
        upstream,
        Cooldowns(threshold=routing_config.cooldown_failures, seconds=30, clock=lambda: clock_value[0]),
        metrics,
        rng=random.Random(0),
        clock=lambda: clock_value[0],
        wall_clock=lambda: clock_value[0],
        sleep=sleep,
    )
    return router, upstream, metrics, sleeps


def request(model: str, *fallbacks: str, stream: bool = False) -> ChatRequest:
    return ChatRequest(model, (Message("user", (TextPart("hello"),)),), fallbacks=fallbacks, stream=stream)


def keys(*names: str, **network: Any) -> dict[str, Any]:
    return {"keys": [{"value": f"sk-{n}", "name": n} for n in names], "network_config": network}


async def test_retries_5xx_with_backoff_then_succeeds() -> None:
    router, upstream, metrics, sleeps = make_router(
        {"a": keys("k1", max_retries=2)}, {"a": [status(500), status(503), ok("fine")]}
    )
    ctx = RequestContext("r")
    response = await router.chat(request("a/m"), ctx, None)
    assert response.message.text() == "fine"
    assert response.created == 1000  # translated answers get the gateway's timestamp
    assert len(upstream.calls) == 3
    assert [a.status for a in ctx.attempts] == [500, 503, 200]
    assert len(sleeps) == 2 and 0.4 <= sleeps[0] <= 0.6 and 0.8 <= sleeps[1] <= 1.2
    assert metrics.retries == [("a", "500"), ("a", "503")]


async def test_max_retries_bounds_attempts_and_error_passes_through() -> None:
    router, upstream, _, _ = make_router({"a": keys("k1", max_retries=1)}, {"a": [status(502)]})
    with pytest.raises(UpstreamError) as info:
        await router.chat(request("a/m"), RequestContext("r"), None)
    assert info.value.status == 502
    assert len(upstream.calls) == 2


async def test_retry_after_is_honoured_and_long_waits_are_not_slept() -> None:
    router, _, _, sleeps = make_router(
        {"a": keys("k1", max_retries=3)}, {"a": [status(429, **{"retry-after": "2"}), ok()]}
    )
    await router.chat(request("a/m"), RequestContext("r"), None)
    assert sleeps == [2.0]

    router, upstream, _, sleeps = make_router(
        {"a": keys("k1", max_retries=3, max_retry_after_in_seconds=5)}, {"a": [status(429, **{"retry-after": "60"})]}
    )
    with pytest.raises(UpstreamError):
        await router.chat(request("a/m"), RequestContext("r"), None)
    assert sleeps == [] and len(upstream.calls) == 1


async def test_rate_limited_key_rotates_to_other_keys_without_spending_retries() -> None:
    router, upstream, metrics, sleeps = make_router(
        {"a": keys("k1", "k2", "k3", max_retries=0)},
        {"a": [status(429), status(429), ok("third key")]},
    )
    ctx = RequestContext("r")
    response = await router.chat(request("a/m"), ctx, None)
    assert response.message.text() == "third key"
    assert len({label for _, label in upstream.calls}) == 3
    assert sorted(label for _, label in metrics.selections) == ["k1", "k2", "k3"]
    assert sleeps == []
    assert metrics.retries.count(("a", "key_rotation")) == 2


async def test_revoked_key_rotates_but_is_not_retried_when_alone() -> None:
    router, upstream, _, _ = make_router({"a": keys("k1", "k2", max_retries=5)}, {"a": [status(401), ok()]})
    await router.chat(request("a/m"), RequestContext("r"), None)
    assert upstream.calls[0][1] != upstream.calls[1][1]

    router, upstream, _, _ = make_router({"a": keys("k1", max_retries=5)}, {"a": [status(401)]})
    with pytest.raises(UpstreamError) as info:
        await router.chat(request("a/m"), RequestContext("r"), None)
    assert info.value.status == 401 and len(upstream.calls) == 1


async def test_connect_errors_and_timeouts_are_retried() -> None:
    router, _, _, _ = make_router(
        {"a": keys("k1", max_retries=2)},
        {"a": [UpstreamConnectionError("refused"), UpstreamTimeoutError("slow"), ok()]},
    )
    ctx = RequestContext("r")
    await router.chat(request("a/m"), ctx, None)
    assert [a.status for a in ctx.attempts] == [502, 504, 200]


async def test_fallback_on_provider_failure_and_primary_error_when_all_fail() -> None:
    router, _, metrics, _ = make_router({"a": keys("k1"), "b": keys("k2")}, {"a": [status(500)], "b": [ok("from b")]})
    ctx = RequestContext("r")
    response = await router.chat(request("a/m", "b/m2"), ctx, None)
    assert response.message.text() == "from b"
    assert (ctx.provider, ctx.model) == ("b", "m2")
    assert [a.describe() for a in ctx.attempts] == ["a/m=500", "b/m2=200"]
    assert metrics.fallbacks == [("a", "b")]

    router, _, _, _ = make_router({"a": keys("k1"), "b": keys("k2")}, {"a": [status(503)], "b": [status(429)]})
    ctx = RequestContext("r")
    with pytest.raises(UpstreamError) as info:
        await router.chat(request("a/m", "b/m"), ctx, None)
    assert info.value.status == 503  # the primary's error
    assert [a.status for a in ctx.attempts] == [503, 429]


async def test_client_errors_never_trigger_fallbacks() -> None:
    router, upstream, _, _ = make_router({"a": keys("k1"), "b": keys("k2")}, {"a": [status(400)], "b": [ok()]})
    with pytest.raises(UpstreamError) as info:
        await router.chat(request("a/m", "b/m"), RequestContext("r"), None)
    assert info.value.status == 400
    assert [host for host, _ in upstream.calls] == ["a"]


async def test_failing_provider_cools_down_and_is_skipped_while_fallbacks_exist() -> None:
    router, upstream, metrics, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")}, {"a": [status(500)], "b": [ok()]}, routing={"cooldown_failures": 3}
    )
    for _ in range(20):
        await router.chat(request("a/m", "b/m"), RequestContext("r"), None)
    calls_to_a = sum(1 for host, _ in upstream.calls if host == "a")
    assert calls_to_a == 3
    assert ("a", "k1", True) in metrics.cooldowns
    ctx = RequestContext("r")
    await router.chat(request("a/m", "b/m"), ctx, None)
    assert ctx.attempts[0].error == "cooldown"


async def test_no_usable_key_names_provider_and_model() -> None:
    router, _, _, _ = make_router({"a": {"keys": [{"value": "sk", "models": ["other"]}]}}, {"a": [ok()]})
    with pytest.raises(NoUsableKeyError, match="provider 'a' has no enabled key that allows model 'm'"):
        await router.chat(request("a/m"), RequestContext("r"), None)
    router, _, _, _ = make_router({"a": {"keys": [{"value": "env.SURELY_NOT_SET_BIFROST_X"}]}}, {"a": [ok()]})
    with pytest.raises(NoUsableKeyError, match=r"env\.SURELY_NOT_SET_BIFROST_X is not set") as info:
        await router.chat(request("a/m"), RequestContext("r"), None)
    assert info.value.status == 401


async def collect(router: Router, req: ChatRequest, ctx: RequestContext) -> list[StreamEvent]:
    stream = await router.open_stream(req, ctx, None)
    return [event async for event in stream.events()]


async def test_stream_failure_before_content_falls_back_transparently() -> None:
    router, upstream, _, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")},
        {"a": [[b"data: [ERR]\n\n"]], "b": [[b"data: hel\n\n", b"data: lo\n\n", b"data: [END]\n\n"]]},
    )
    ctx = RequestContext("r")
    events = await collect(router, request("a/m", "b/m", stream=True), ctx)
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["hel", "lo"]
    assert not any(isinstance(e, StreamFailure) for e in events)
    assert ctx.provider == "b"
    assert all(s.closed for s in upstream.streams)


async def test_stream_http_error_before_content_falls_back() -> None:
    router, _, _, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")}, {"a": [status(503)], "b": [[b"data: x\n\n", b"data: [END]\n\n"]]}
    )
    ctx = RequestContext("r")
    events = await collect(router, request("a/m", "b/m", stream=True), ctx)
    assert [a.status for a in ctx.attempts] == [503, 200]
    assert isinstance(events[-1], Finish)


async def test_stream_failure_after_content_ends_with_a_failure_event() -> None:
    router, upstream, _, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")},
        {"a": [[b"data: partial\n\n", b"!reset"]], "b": [[b"data: never\n\n"]]},
    )
    events = await collect(router, request("a/m", "b/m", stream=True), RequestContext("r"))
    assert isinstance(events[1], TextDelta) and events[1].text == "partial"
    assert isinstance(events[-1], StreamFailure)
    assert isinstance(events[-1].error, GatewayError) and events[-1].error.status == 502
    assert [host for host, _ in upstream.calls] == ["a"]
    assert upstream.streams[0].closed


async def test_stream_slot_is_held_until_the_stream_is_closed() -> None:
    router, _, _, _ = make_router({"a": keys("k1")}, {"a": [[b"data: x\n\n", b"data: [END]\n\n"]]})
    stream = await router.open_stream(request("a/m", stream=True), RequestContext("r"), None)
    queue = router.providers["a"].queue
    assert queue.in_flight == 1
    await stream.aclose()
    assert queue.in_flight == 0


async def test_weighted_alias_spreads_load_and_falls_back_to_other_targets() -> None:
    routing = {"aliases": {"cheap": [{"target": "a/m1", "weight": 0.8}, {"target": "b/m2", "weight": 0.2}]}}
    router, upstream, _, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")}, {"a": [ok()], "b": [ok()]}, routing=routing
    )
    for _ in range(500):
        await router.chat(request("cheap"), RequestContext("r"), None)
    per_host: dict[str, int] = defaultdict(int)
    for host, _ in upstream.calls:
        per_host[host] += 1
    assert 350 <= per_host["a"] <= 450

    router, _, _, _ = make_router(
        {"a": keys("k1"), "b": keys("k2")}, {"a": [status(500)], "b": [ok("b")]}, routing=routing
    )
    for _ in range(5):
        response = await router.chat(request("cheap"), RequestContext("r"), None)
        assert response.message.text() == "b"


def test_certain_plan_is_the_plan_of_a_name_that_is_not_an_alias() -> None:
    routing = {"aliases": {"cheap": [{"target": "a/m1", "weight": 0.8}, {"target": "b/m2", "weight": 0.2}]}}
    router, _, _, _ = make_router({"a": keys("k1"), "b": keys("k2")}, {}, routing=routing)
    for model, fallbacks in (("a/m", ()), ("b/m", ("a/m2",)), ("m", ()), ("a/m", ("b/x", "a/m"))):
        assert router.certain_plan(model, fallbacks, "a") == router.plan(model, fallbacks, "a")
        assert router.certain_plan(model, fallbacks, "a") is not None
    state = router.rng.getstate()
    assert router.certain_plan("cheap", (), None) is None  # an alias draws: planned where it always was
    assert router.rng.getstate() == state  # and nothing was drawn
    for model, fallbacks in (("m", ()), ("a/m", ("zz/q",)), ("openai/gpt-4o", ()), ("", ())):
        with pytest.raises(GatewayError):
            router.plan(model, fallbacks, None)
        assert router.certain_plan(model, fallbacks, None) is None  # the error comes where it did
