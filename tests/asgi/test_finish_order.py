"""When a request's accounting runs: its log line before its reply goes out (a client that reads
the log after its answer finds it), its in-flight count, metrics, tokens and cost after the reply
is written (off its latency) but before the event loop serves anything else (a scrape on the same
server sees it); with multiprocess metrics (a scrape may be served by another worker) all of it
before the reply. Over the ASGI interface (the order of events) and over a real socket."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost_asgi import _json
from bifrost_asgi import gateway as gateway_module
from bifrost_asgi.asgi.app import bifrost_app
from tests.support import run_gateway
from tests.support.request_log import capture_request_log

pytestmark = pytest.mark.anyio

CONFIG = {"providers": {"mock": {"keys": []}}}
CHAT = _json.dumps({"model": "mock/m", "messages": [{"role": "user", "content": "hi"}]})
REQUESTS = ("bifrost_requests_total", {"route": "/v1/chat/completions", "dialect": "openai", "provider": "mock",
                                       "model": "m", "status": "200", "stream": "false"})  # fmt: skip
TOKENS = ("bifrost_output_tokens_total", {"provider": "mock", "model": "m"})


@pytest.fixture
def request_log() -> Iterator[Any]:
    with capture_request_log() as lines:
        yield lines


async def _call(app: Any, body: bytes = CHAT, path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
    """One request through the ASGI app; at each message it sends, what could be seen then."""
    gateway = app.state.gateway
    registry = gateway.registry
    seen: list[dict[str, Any]] = []
    log = logging.getLogger("bifrost_asgi.requests")
    handler = next(h for h in log.handlers if hasattr(h, "lines"))
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        seen.append({
            "type": message["type"], "more_body": message.get("more_body", False),
            "requests": registry.get_sample_value(*REQUESTS) or 0.0,
            "tokens": registry.get_sample_value(*TOKENS) or 0.0,
            "in_flight": gateway.in_flight, "log_lines": len(handler.lines),
        })  # fmt: skip

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
    }  # fmt: skip
    await app(scope, receive, send)
    seen.append({"type": "returned", "requests": registry.get_sample_value(*REQUESTS) or 0.0,
                 "in_flight": gateway.in_flight, "log_lines": len(handler.lines),
                 "tokens": registry.get_sample_value(*TOKENS) or 0.0})  # fmt: skip
    return seen


async def test_the_log_line_comes_before_the_reply_and_the_metrics_after_it(request_log: Any) -> None:
    app = bifrost_app(config=CONFIG)
    for n in (1, 2):
        start, body, returned = await _call(app)
        assert (start["type"], body["type"], body["more_body"]) == ("http.response.start", "http.response.body", False)
        assert start["log_lines"] == body["log_lines"] == n  # written before anything was sent
        assert body["requests"] == n - 1 and body["in_flight"] == 1  # not yet counted as the reply is written
        assert body["tokens"] == start["tokens"]
        assert returned["requests"] == n and returned["in_flight"] == 0 and returned["tokens"] > body["tokens"]


async def test_with_multiprocess_metrics_everything_is_counted_before_the_reply(
    request_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_module, "multiprocess_enabled", lambda: True)
    app = bifrost_app(config=CONFIG)
    start, body, returned = await _call(app)
    assert start["requests"] == body["requests"] == returned["requests"] == 1
    assert start["in_flight"] == 0 and start["log_lines"] == 1 and start["tokens"] > 0


async def test_errors_are_accounted_once_too(request_log: Any) -> None:
    app = bifrost_app(config=CONFIG)
    registry = app.state.gateway.registry
    bad = ("bifrost_requests_total", {**REQUESTS[1], "status": "400", "model": "unknown", "provider": "unknown"})
    start, body, returned = await _call(app, b'{"messages": []}')
    assert start["log_lines"] == body["log_lines"] == returned["log_lines"] == 1
    assert body["in_flight"] == 1  # an error reply is accounted after it is written too
    assert registry.get_sample_value(*bad) == 1.0 and returned["in_flight"] == 0


def _metric(text: str, name: str, labels: dict[str, str]) -> float:
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{want} not in the scrape")


def test_over_a_socket_each_answer_is_in_the_log_and_the_next_scrape(request_log: Any) -> None:
    """The client reads its answer, then at once the log and ``/metrics`` (on the same kept-alive
    connection and on another): its request is in both, every time."""
    with run_gateway(CONFIG) as server:
        host, port = server.url.removeprefix("http://").split(":")
        same = http.client.HTTPConnection(host, int(port), timeout=30)
        other = http.client.HTTPConnection(host, int(port), timeout=30)
        for n in range(1, 6):
            same.request("POST", "/v1/chat/completions", CHAT, {"content-type": "application/json"})
            answer = same.getresponse()
            assert answer.status == 200 and _json.loads(answer.read())["choices"]
            assert len(request_log.lines) == n  # no waiting: the line was written before the answer
            for conn in (same, other):
                conn.request("GET", "/metrics")
                scrape = conn.getresponse().read().decode()
                assert _metric(scrape, *REQUESTS) == n
                assert _metric(scrape, "bifrost_in_flight_requests", {"dialect": "openai"}) == 0
        same.close()
        other.close()
