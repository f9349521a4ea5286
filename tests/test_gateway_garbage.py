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
import gc
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost_asgi import bifrost_app

CONFIG: dict[str, Any] = {
    "providers": {"mock": {"keys": [], "mock_config": {"latency_ms": 0, "chunk_delay_ms": 0}}},
    "routing": {"aliases": {"gpt-4o-mini": [{"target": "mock/gpt-4o-mini"}]}},
}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
CASES = {
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


async def call(app: Any, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    data = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
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
    loop = asyncio.new_event_loop()
    with request_lines(way) as sink:

        async def requests(n: int) -> list[int]:
            return [(await call(app, path, body))[0] for _ in range(n)]

        try:
            statuses = loop.run_until_complete(requests(5))  # warm: caches, pools, lazily built state
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                statuses += loop.run_until_complete(requests(10))
                gc.collect()
                garbage = Counter(type(o).__name__ for o in gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        finally:
            loop.close()
    assert set(statuses) == ({400} if case == "bad-request" else {200}), statuses
    lines = sink.getvalue().splitlines() if isinstance(sink, io.StringIO) else sink
    assert len(lines) == 15
    assert garbage == Counter(), (
        f"{sum(garbage.values()) / 10:.1f} objects a request in cycles: {garbage.most_common(8)}"
    )


def _mock(**mock_config: float) -> dict[str, Any]:
    network = {"max_retries": 1, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 1}
    return {"keys": [], "mock_config": {"latency_ms": 0, "chunk_delay_ms": 0, **mock_config}, "network_config": network}


FAILING: dict[str, Any] = {
    "providers": {"mock": _mock()},
    # No cooldown: every request tries the failing target again.
    "routing": {"cooldown_seconds": 0, "fallbacks": {"mock-error-502": ["mock/gpt-4o-mini"]}},
}
SLOW: dict[str, Any] = {"providers": {"mock": _mock(latency_ms=300)}}  # past the 0.25 s before a disconnect watch
FAILED_CASES = {
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
}  # fmt: skip


@pytest.mark.parametrize("case", list(FAILED_CASES))
def test_a_failed_fallen_back_or_watched_request_leaves_no_cycle(case: str) -> None:
    """An upstream error kept for later (the primary target's, raised when every fallback failed)
    holds the frame its traceback holds; a disconnect watch cancelled at the end holds the task that
    keeps its CancelledError. Either, kept where the frame can reach it, is a cycle per request."""
    config, path, body, expected, count = FAILED_CASES[case]
    app = bifrost_app(config=config)
    loop = asyncio.new_event_loop()
    with request_lines("direct"):
        try:

            async def requests(n: int) -> list[int]:
                return [(await call(app, path, body))[0] for _ in range(n)]

            statuses = loop.run_until_complete(requests(2))
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                statuses += loop.run_until_complete(requests(count))
                gc.collect()
                garbage = Counter(type(o).__name__ for o in gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        finally:
            loop.close()
    assert set(statuses) == {expected}, statuses
    assert garbage == Counter(), (
        f"{sum(garbage.values()) / count:.1f} objects a request in cycles: {garbage.most_common(8)}"
    )
