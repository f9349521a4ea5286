"""The upstream cannot exhaust the gateway: a body past ``client.max_upstream_response_size_mb``,
a compressed body that expands past ``client.max_decompression_ratio`` and a stream event past
``client.max_stream_event_size_mb`` are each a 502 for that attempt (so a healthy fallback
answers), read no further than the first chunk past the bound."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from tests.support import RecordedRequest, Reply, fake_text, run_gateway, running_fake

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]
HUGE_TEXT = "x" * (3 * 1024 * 1024)
BOMB = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # ~64 kB on the wire, 64 MB inside


def _config(bad_url: str, good_url: str, client: str, **limits: float) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"keys": [{"value": "sk-limits-a"}], "network_config": {"base_url": bad_url}},
            "backup": {
                "keys": [{"value": "sk-limits-b"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": good_url},
            },
        },
        "client": {"upstream_client": client, **limits},
    }


def _huge(request: RecordedRequest) -> Reply:
    return Reply(json={"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": HUGE_TEXT}, "finish_reason": "stop"}]})  # fmt: skip


def _bomb(request: RecordedRequest) -> Reply:
    return Reply(body=BOMB, headers={"content-type": "application/json", "content-encoding": "gzip"})


def _long_event(request: RecordedRequest) -> Reply:
    return Reply(sse=[b"data: " + b"y" * (1024 * 1024) for _ in range(4)] + [b"\n\n"])


CASES: list[tuple[str, Callable[[RecordedRequest], Reply], bool, dict[str, float], str]] = [
    ("too-large", _huge, False, {"max_upstream_response_size_mb": 1}, "larger than 1 MB"),
    ("gzip-bomb", _bomb, False, {"max_upstream_response_size_mb": 1000}, "expands more than 200 times"),
    ("bomb-as-error", _bomb, True, {"max_upstream_response_size_mb": 1000}, "expands more than"),
    ("event-too-large", _long_event, True, {"max_stream_event_size_mb": 1}, "larger than 1048576 bytes"),
]


@pytest.mark.parametrize("client", ["aiohttp", "httpx"])
@pytest.mark.parametrize(("name", "hook", "stream", "limits", "message"), CASES, ids=[c[0] for c in CASES])
def test_an_oversized_answer_is_a_502_and_the_fallback_answers(
    client: str, name: str, hook: Callable[[RecordedRequest], Reply], stream: bool, limits: dict[str, float],
    message: str,
) -> None:  # fmt: skip
    with running_fake() as bad, running_fake() as good:
        if name == "bomb-as-error":
            bad.respond("/chat/completions", lambda r: Reply(status=500, body=BOMB, headers={
                "content-type": "application/json", "content-encoding": "gzip"}))  # fmt: skip
        else:
            bad.respond("/chat/completions", hook)
        with run_gateway(_config(bad.url, good.url, client, **limits)) as gw:
            body = {"model": "openai/gpt-4o-mini", "messages": HI, "stream": stream}
            alone = httpx2.post(f"{gw.url}/v1/chat/completions", json=body, timeout=60)
            assert alone.status_code == 502, alone.text[:300]
            assert message in alone.text
            rescued = httpx2.post(
                f"{gw.url}/v1/chat/completions", json={**body, "fallbacks": ["backup/gpt-4o-mini"]}, timeout=60
            )
        assert rescued.status_code == 200, rescued.text[:300]
        assert rescued.headers["x-bifrost-provider"] == "backup"
        if not stream:
            assert rescued.json()["choices"][0]["message"]["content"] == fake_text("openai", "hi")
