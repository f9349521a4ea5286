"""A request leaves nothing for the cycle collector: everything it made is freed by reference counts
when it ends.

A reference cycle per request is not a leak (the collector finds it), but it is collected only when
the young generation's threshold is reached (50,000 under the command), all at once and in the
middle of some request: the request line's frame that held itself made a 24-48 ms pause every few
thousand requests at ``--log-level info``, the p99 of the bench's info row. Each case calls the ASGI
app directly (no server, no client library, whose own objects are not the gateway's), with the
request line logged through both ways it can go out (``direct_lines`` and a record)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from bifrost_asgi import bifrost_app
from bifrost_asgi.errors import UpstreamTimeoutError
from bifrost_asgi.wire.converse import CONTENT_TYPE_STREAM, encode_event
from tests.support import FakeProvider, InBandErrorFirst, MidStreamError, Reply, Status, fake_tool_result_text
from tests.support.fake_cloud import FAKE_BEDROCK_API_KEY, FAKE_COHERE_KEY
from tests.support.garbage import collected, gateway_part
from tests.support.mcp_servers import stdio_client_config, weather_text

CONFIG: dict[str, Any] = {
    "providers": {"mock": {"keys": [], "mock_config": {"latency_ms": 0, "chunk_delay_ms": 0}}},
    "routing": {"aliases": {"gpt-4o-mini": [{"target": "mock/gpt-4o-mini"}]}},
}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", CHAT),
    "openai-stream": ("/v1/chat/completions", {**CHAT, "stream": True}),
    "anthropic": ("/anthropic/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 16, "messages": CHAT["messages"]}),
    "anthropic-stream": (
        "/anthropic/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 16, "messages": CHAT["messages"], "stream": True},
    ),
    "genai": ("/genai/v1beta/models/gpt-4o-mini:generateContent", {"contents": [{"parts": [{"text": "hello"}]}]}),
    "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": "hello", "store": False}),
    "bad-request": ("/v1/chat/completions", {**CHAT, "messages": "not a list"}),
}


class Recording(logging.Handler):
    """Not a StreamHandler: the request line goes out as a record."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def request_lines(way: str) -> Iterator[list[str] | io.StringIO]:
    """The gateway's logger with one handler of ours, set in the test itself (pytest 9 adds its
    capture handlers to every non-propagating logger for each test phase)."""
    logger = logging.getLogger("bifrost_asgi")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    handler: logging.Handler
    sink: list[str] | io.StringIO
    if way == "direct":
        sink = io.StringIO()
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler = Recording()
        sink = handler.lines
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield sink
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]


def leftovers(
    app: Any, one: Callable[[], Awaitable[tuple[int, bytes]]], warm: int, count: int, settle: float = 0.0
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]], Counter[str]]:
    """``warm`` answers of ``one()`` (caches, pools, lazily built state), then ``count`` more and
    the gateway's part of what they left for the collector (``settle`` seconds given to what a
    request still had to close)."""
    loop = asyncio.new_event_loop()

    async def requests(n: int) -> list[tuple[int, bytes]]:
        return [await one() for _ in range(n)]

    try:
        warmed = loop.run_until_complete(requests(warm))
        with collected() as garbage:
            answers = loop.run_until_complete(requests(count))
            loop.run_until_complete(asyncio.sleep(settle))
    finally:
        loop.run_until_complete(app.state.gateway.aclose())  # its upstream sessions
        loop.close()
    return warmed, answers, gateway_part(garbage)


async def call(
    app: Any, path: str, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = (), leaves: bool = False
) -> tuple[int, bytes]:
    """``body`` posted to ``path``; a client that ``leaves`` disconnects a millisecond after sending it."""
    data = json.dumps(body).encode()
    headers = ((b"content-type", b"application/json"), *headers)
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        "headers": [*headers, (b"content-length", str(len(data)).encode())],
    }  # fmt: skip
    sent = False
    done = asyncio.Event()
    parts: list[bytes] = []
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}
        if leaves:
            await asyncio.sleep(0.001)
        else:
            await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return status, b"".join(parts)


@pytest.mark.parametrize("way", ["direct", "record"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_request_leaves_no_cycle(case: str, way: str) -> None:
    path, body = CASES[case]
    app = bifrost_app(config=CONFIG)
    with request_lines(way) as sink:
        warmed, answers, garbage = leftovers(app, lambda: call(app, path, body), 5, 10)
    statuses = [status for status, _ in warmed + answers]
    assert set(statuses) == ({400} if case == "bad-request" else {200}), statuses
    lines = sink.getvalue().splitlines() if isinstance(sink, io.StringIO) else sink
    assert len(lines) == 15
    assert not garbage, f"{sum(garbage.values()) / 10:.1f} objects a request in cycles: {garbage.most_common(8)}"


def _mock(**mock_config: float) -> dict[str, Any]:
    network = {"max_retries": 1, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 1}
    return {"keys": [], "mock_config": {"latency_ms": 0, "chunk_delay_ms": 0, **mock_config}, "network_config": network}


FAILING: dict[str, Any] = {
    "providers": {"mock": _mock()},
    # No cooldown: every request tries the failing target again.
    "routing": {"cooldown_seconds": 0, "fallbacks": {"mock-error-502": ["mock/gpt-4o-mini"]}},
}
SLOW: dict[str, Any] = {"providers": {"mock": _mock(latency_ms=300)}}  # past the 0.25 s before a disconnect watch
DRIPPING: dict[str, Any] = {
    "providers": {"mock": _mock(chunk_delay_ms=20)}
}  # a stream still going when the client leaves
VK = "sk-bf-garbage-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
LIMITED: dict[str, Any] = {  # one request an hour: the warm-up's first is admitted, every later one refused
    "providers": {"mock": _mock()},
    "governance": {
        "rate_limits": [{"id": "rl", "request_max_limit": 1, "request_reset_duration": "1h"}],
        "virtual_keys": [
            {
                "id": "vk", "name": "garbage", "value": VK, "rate_limit_id": "rl",
                "provider_configs": [{"provider": "mock", "allowed_models": ["*"]}],
            }
        ],
    },
}  # fmt: skip
FAILED_CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any], int, int]] = {
    # (config, path, body, the status every request gets, requests measured)
    "retried-then-failed": (FAILING, "/v1/chat/completions", {**CHAT, "model": "mock/mock-error-500"}, 500, 10),
    "fallen-back": (FAILING, "/v1/chat/completions", {**CHAT, "model": "mock/mock-error-502"}, 200, 10),
    "fallen-back-stream": (
        FAILING, "/v1/chat/completions", {**CHAT, "model": "mock/mock-error-502", "stream": True}, 200, 10
    ),
    "upstream-400-anthropic": (
        FAILING, "/anthropic/v1/messages",
        {"model": "mock/mock-error-400", "max_tokens": 16, "messages": CHAT["messages"]}, 400, 10,
    ),
    "slow-watched": (SLOW, "/v1/chat/completions", {**CHAT, "model": "mock/gpt-4o-mini"}, 200, 3),
    "rate-limited": (LIMITED, "/v1/chat/completions", {**CHAT, "model": "mock/gpt-4o-mini"}, 429, 10),
    "left-mid-stream": (
        DRIPPING, "/v1/chat/completions", {**CHAT, "model": "mock/gpt-4o-mini", "stream": True}, 200, 5
    ),
    "wrong-content-type": (FAILING, "/v1/chat/completions", CHAT, 415, 10),
}  # fmt: skip
# What each case's client sends besides the body (a virtual key; a content type the route refuses)
# and whether it leaves before the answer ends.
CLIENTS: dict[str, tuple[tuple[tuple[bytes, bytes], ...], bool]] = {
    "rate-limited": (((b"authorization", b"Bearer " + VK.encode()),), False),
    "left-mid-stream": ((), True),
    "wrong-content-type": (((b"content-type", b"text/plain"),), False),
}


@pytest.mark.parametrize("case", list(FAILED_CASES))
def test_a_failed_fallen_back_or_watched_request_leaves_no_cycle(case: str) -> None:
    """An error kept in a local of a frame its traceback holds (the primary target's, raised when
    every fallback failed; a governance refusal; a refused content type), or a task kept by what the
    task's cancelled frames hold (a disconnect watch, the stream's write watchdog), is a cycle per
    request."""
    config, path, body, expected, count = FAILED_CASES[case]
    app = bifrost_app(config=config)
    headers, leaves = CLIENTS.get(case, ((), False))
    with request_lines("direct"):
        # settle: what a left stream still had to close
        warmed, answers, garbage = leftovers(app, lambda: call(app, path, body, headers, leaves), 2, count, 0.05)
    statuses = [status for status, _ in warmed[1:] + answers]  # the first of the rate-limited case passes
    assert set(statuses) == {expected}, statuses
    assert not garbage, f"{sum(garbage.values()) / count:.1f} objects a request in cycles: {garbage.most_common(8)}"


class _ErrorStream:
    """An OpenAI stream whose first event is an in-band error (as a provider overloaded at the
    start of a stream sends it), in one read or in two."""

    status = 200
    headers: dict[str, str] = {"content-type": "text/event-stream"}
    ERROR = b'data: {"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}\n\n'

    CONTENT = (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
        b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n'
    )

    def __init__(self, how: str) -> None:
        reads = {
            "one-read": [self.ERROR], "two-reads": [self.ERROR[:20], self.ERROR[20:]],
            "after-content": [self.CONTENT, self.ERROR], "idle-after-content": [self.CONTENT],
        }  # fmt: skip
        self._how = how
        self._reads = reads[how]

    async def chunks(self) -> AsyncIterator[bytes]:
        for read in self._reads:
            yield read
        if self._how == "idle-after-content":
            raise UpstreamTimeoutError("upstream sent nothing for 0.01s")

    async def read(self) -> bytes:
        return b"".join(self._reads)

    async def aclose(self) -> None:
        return None


class _ErrorUpstream:
    def __init__(self, how: str) -> None:
        self._how = how

    async def send(self, request: Any, timeouts: Any) -> Any:
        raise AssertionError("only streams are asked for")

    async def open(self, request: Any, timeouts: Any) -> _ErrorStream:
        await asyncio.sleep(0)
        return _ErrorStream(self._how)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("how", ["one-read", "two-reads", "after-content", "idle-after-content"])
def test_a_stream_that_fails_leaves_no_cycle(how: str) -> None:
    """An in-band error before the first content (the attempt fails: an error answer) or after it
    (the stream ends with an error event), or the upstream going silent after it: an error whose
    traceback holds frames that keep it."""
    config = {"providers": {"openai": {"keys": [{"value": "sk-test-garbage", "models": [], "weight": 1.0}]}}}
    app = bifrost_app(config=config)
    gateway = app.state.gateway
    gateway.upstream = gateway.router.upstream = _ErrorUpstream(how)
    body = {**CHAT, "model": "openai/gpt-4o-mini", "stream": True}
    with request_lines("direct"):
        warmed, answers, garbage = leftovers(app, lambda: call(app, "/v1/chat/completions", body), 2, 5)
    answers = warmed + answers
    # before content: the error event relayed as an error answer; after it: the stream's last event
    assert {status for status, _ in answers} == {200 if "after-content" in how else 500}, answers[0]
    assert all((b"0.01s" if how == "idle-after-content" else b"overloaded") in answer for _, answer in answers)
    assert not garbage, f"{sum(garbage.values()) / 5:.1f} objects a request in cycles: {garbage.most_common(8)}"


BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
# provider -> (its config, the model an OpenAI client names, the fake's path fragment, the status
# of an in-band error before the first content, the vendor frames up to the first content)
PROVIDERS: dict[str, tuple[dict[str, Any], str, str, int, int]] = {
    "anthropic": ({"keys": [{"value": "sk-ant-garbage", "models": [], "weight": 1.0}]}, "claude-sonnet-4-5",
                  "/v1/messages", 503, 4),
    "gemini": ({"keys": [{"value": "AIza-garbage-0123456789", "models": [], "weight": 1.0}],
                "network_config": {"base_path": "/v1beta"}}, "gemini-2.5-flash", "/models/", 503, 1),
    "bedrock": ({"keys": [{"value": FAKE_BEDROCK_API_KEY, "bedrock_key_config": {
        "region": "us-east-1", "deployments": {"claude-sonnet": BEDROCK_CLAUDE}}}]}, "claude-sonnet", "/converse",
        429, 3),
    "cohere": ({"keys": [{"value": FAKE_COHERE_KEY}]}, "command-a-03-2025", "/v2/chat", 500, 3),
}  # fmt: skip
FAULTS = (
    "error-status", "error-status-retried", "error-status-stream", "in-band-error-first", "in-band-error-first-retried",
    "in-band-error-first-fallen-back", "in-band-error-mid-stream",
)  # fmt: skip


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_provider_error_leaves_no_cycle(fake: FakeProvider, provider: str, fault: str) -> None:
    """Each vendor's own error paths over a real upstream socket: an error status (the provider's
    ``parse_error``), an in-band error before the first content (the attempt fails; then retried,
    or fallen back from to a target that answers) and after it (the stream's error event), each in
    the vendor's own format."""
    settings, model, path, in_band_status, to_content = PROVIDERS[provider]
    what, stream, expected = {
        "error-status": (Status(503), False, 503),
        "error-status-retried": (Status(503), False, 503),
        "error-status-stream": (Status(503), True, 503),
        "in-band-error-first": (InBandErrorFirst(), True, in_band_status),
        "in-band-error-first-retried": (InBandErrorFirst(), True, in_band_status),
        "in-band-error-first-fallen-back": (InBandErrorFirst(), True, 200),
        "in-band-error-mid-stream": (MidStreamError(after_chunks=to_content), True, 200),
    }[fault]
    retries = 1 if fault.endswith("-retried") else 0  # the first attempt's error dropped by the retry
    config: dict[str, Any] = {"providers": {provider: _upstream_at(fake, settings, retries)}}
    if fault.endswith("-fallen-back"):  # the primary's error is dropped by the fallback's answer
        config["providers"]["mock"] = _mock()
        config["routing"] = {"cooldown_seconds": 0, "fallbacks": {model: ["mock/gpt-4o-mini"]}}  # tried each time
    app = bifrost_app(config=config)
    fake.always(path, what)
    body = {**CHAT, "model": f"{provider}/{model}", "stream": stream}
    before = fake.count(path)
    try:
        with request_lines("direct"):
            warmed, answers, garbage = leftovers(app, lambda: call(app, "/v1/chat/completions", body), 2, 5, 0.05)
    finally:
        fake.always(path, None)
    statuses = {status for status, _ in warmed + answers}
    assert statuses == {expected}, (statuses, answers[0])
    assert fake.count(path) - before == 7 * (1 + retries)  # every attempt reached the vendor
    if fault == "in-band-error-mid-stream":  # the content, then the error event
        assert all(b"content" in answer and b"error" in answer for _, answer in answers), answers[0]
    assert not garbage, f"{sum(garbage.values()) / 5:.1f} objects a request in cycles: {garbage.most_common(8)}"


def _upstream_at(fake: FakeProvider, settings: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    """``settings`` with the fake as its upstream and ``retries`` (``base_path``: after the fake's URL)."""
    network = dict(settings.get("network_config", {}))
    base_url = fake.url + network.pop("base_path", "")
    retry = {"max_retries": retries, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 1}
    return {**settings, "network_config": {**network, "base_url": base_url, **retry}}


def test_a_corrupt_bedrock_stream_leaves_no_cycle(fake: FakeProvider) -> None:
    """A good event-stream message and a corrupt one in the same read: the decoder returns the good
    one and keeps the error for its next call (``EventStreamDecoder._error``)."""
    good = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "fine"}})
    bad = bytearray(encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "flipped"}}))
    bad[-6] ^= 0x01  # one payload bit: the message checksum no longer matches
    frames = [encode_event("messageStart", {"role": "assistant"}), good, good + bytes(bad)]
    settings, model, *_ = PROVIDERS["bedrock"]
    app = bifrost_app(config={"providers": {"bedrock": _upstream_at(fake, settings)}})
    fake.respond("/converse-stream", lambda _: Reply(sse=frames, headers={"content-type": CONTENT_TYPE_STREAM}))
    body = {**CHAT, "model": f"bedrock/{model}", "stream": True}
    try:
        with request_lines("direct"):
            warmed, answers, garbage = leftovers(app, lambda: call(app, "/v1/chat/completions", body), 2, 5, 0.05)
    finally:
        fake.respond("/converse-stream", None)
    assert {status for status, _ in warmed + answers} == {200}
    assert all(b"checksum" in answer for _, answer in answers), answers[0]
    assert not garbage, f"{sum(garbage.values()) / 5:.1f} objects a request in cycles: {garbage.most_common(8)}"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_mcp_agent_round_leaves_no_cycle(fake: FakeProvider, stream: bool) -> None:
    """MCP agent mode: the model asks for a tool, the gateway runs it on a real stdio MCP server and
    sends the result back, and the model's second answer goes to the client."""
    local = stdio_client_config("local", tools_to_auto_execute=["weather"])
    config = {
        "providers": {"openai": {"keys": [{"value": "sk-upstream-garbage"}], "network_config": {"base_url": fake.url}}},
        "mcp": {"client_configs": [local]},
    }
    app = bifrost_app(config=config)
    gateway = app.state.gateway
    body = {**CHAT, "model": "openai/gpt-4o-mini", "stream": stream}
    loop = asyncio.new_event_loop()

    async def requests(n: int) -> list[tuple[int, bytes]]:
        return [await call(app, "/v1/chat/completions", body) for _ in range(n)]

    async def run() -> tuple[list[tuple[int, bytes]], list[object]]:
        async with gateway.lifespan(app):
            assert await gateway.mcp.wait_attempted(30) == {"local": True}
            await requests(3)
            with collected() as garbage:
                answers = await requests(5)
            return answers, garbage

    try:
        with request_lines("direct"):
            answers, garbage = loop.run_until_complete(run())
    finally:
        loop.close()
    expected = fake_tool_result_text("openai", weather_text("Paris"))
    assert all(status == 200 and _answer_text(answer) == expected for status, answer in answers), answers[0]
    assert len(fake.matching("/chat/completions")) >= 16  # two model calls a request
    left = gateway_part(garbage)
    assert not left, f"{sum(left.values()) / 5:.1f} objects a request in cycles: {left.most_common(8)}"


def _answer_text(body: bytes) -> str:
    """The assistant's text of an OpenAI chat completion, or of its stream's content deltas."""
    if not body.startswith(b"data: "):
        return str(json.loads(body)["choices"][0]["message"]["content"])
    chunks = [json.loads(line[6:]) for line in body.decode().split("\n\n") if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
