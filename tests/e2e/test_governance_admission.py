"""Admission in one process, over real sockets: streams settle from their usage chunk, a client that
leaves mid-stream is charged its input only, and each fallback attempt is admitted on its own (the
failed one released)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from bifrost_asgi import bifrost_app
from bifrost_asgi.gateway import Gateway
from bifrost_asgi.governance.admission import _limit
from bifrost_asgi.governance.counters import Reading
from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FakeProvider,
    ServerHandle,
    SlowStream,
    Status,
    run_server,
)

pytestmark = pytest.mark.e2e

VK = "sk-bf-admission-0001"
WORDS = " ".join(f"word{i}" for i in range(40))


def config(fake: FakeProvider) -> dict[str, Any]:
    keys = [{"value": "sk-upstream"}]
    return {
        "providers": {
            "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
        },
        "governance": {
            "rate_limits": [{"id": "rl", "request_max_limit": 100, "request_reset_duration": "1h",
                             "token_max_limit": 1_000_000, "token_reset_duration": "1h"}],
            "budgets": [{"id": "b", "max_limit": 10.0, "reset_duration": "1d", "virtual_key_id": "vk"}],
            "virtual_keys": [{"id": "vk", "name": "adm", "value": VK, "rate_limit_id": "rl",
                              "provider_configs": [{"provider": "openai", "allowed_models": ["*"]},
                                                   {"provider": "anthropic", "allowed_models": ["*"]}]}],
        },
    }  # fmt: skip


@pytest.fixture
def served(fake_provider: FakeProvider) -> Iterator[tuple[Gateway, ServerHandle]]:
    app = bifrost_app(config=config(fake_provider))
    with run_server(app) as handle:
        yield app.state.gateway, handle


def readings(gateway: Gateway, provider: str = "openai", model: str = "gpt-4o-mini") -> dict[str, Reading]:
    gov = gateway.governance
    vk = gov.index.vks["vk"]
    specs = gov.index.limits(vk, provider, model)
    now = gov.now_ms()
    values = asyncio.run(gov.counters.read([_limit(s, now) for s in specs], now))
    return {s.key: r for s, r in zip(specs, values, strict=True)}


def settled(gateway: Gateway, predicate: Any, timeout: float = 10.0) -> dict[str, Reading]:
    deadline = time.monotonic() + timeout
    while True:
        values = readings(gateway)
        if predicate(values) or time.monotonic() > deadline:
            return values
        time.sleep(0.02)


def test_stream_settles_from_its_usage_chunk(fake_provider: FakeProvider, served: tuple[Gateway, ServerHandle]) -> None:
    gateway, handle = served
    client = openai.OpenAI(api_key=VK, base_url=handle.url + "/v1", max_retries=0)
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}, max_tokens=50,
    )  # fmt: skip
    chunks = list(stream)
    assert chunks[-1].usage is not None
    values = settled(gateway, lambda v: v["{rl:rl}:req"].reserved == 0)
    assert values["{rl:rl}:req"].used == 1
    assert values["{rl:rl}:tok"].used == FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS
    price = gateway.governance.prices.lookup("openai", "gpt-4o-mini")
    assert price is not None
    expected = FAKE_PROMPT_TOKENS * price.input + FAKE_COMPLETION_TOKENS * price.output
    assert values["{budget:b}"].used == round(expected * 1e9)
    assert values["{budget:b}"].reserved == 0


def test_client_leaving_mid_stream_is_charged_its_input_only(
    fake_provider: FakeProvider, served: tuple[Gateway, ServerHandle]
) -> None:
    gateway, handle = served
    fake_provider.script("openai", [SlowStream(delay_per_chunk=0.25)])
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": WORDS}], "stream": True}
    with (
        httpx2.Client(base_url=handle.url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers={"x-bf-vk": VK}) as reply,
    ):
        assert reply.status_code == 200
        next(reply.iter_bytes())
    values = settled(gateway, lambda v: v["{rl:rl}:tok"].reserved == 0 and v["{rl:rl}:tok"].used > 0)
    tokens = values["{rl:rl}:tok"].used
    assert tokens == (len(WORDS) + 16) // 4 + 1  # the prompt's estimate; no output charged
    assert values["{rl:rl}:req"].used == 1


def test_each_fallback_attempt_is_admitted_and_the_failed_one_released(
    fake_provider: FakeProvider, served: tuple[Gateway, ServerHandle]
) -> None:
    gateway, handle = served
    fake_provider.script("openai", [Status(500)])
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
            "fallbacks": ["anthropic/claude-3-5-haiku-latest"], "max_tokens": 20}  # fmt: skip
    reply = httpx2.post(handle.url + "/v1/chat/completions", json=body, headers={"x-bf-vk": VK}, timeout=30)
    assert reply.status_code == 200 and reply.headers["x-bifrost-provider"] == "anthropic"
    values = settled(gateway, lambda v: v["{rl:rl}:req"].reserved == 0)
    assert values["{rl:rl}:req"].used == 1  # the failed attempt was admitted, then released
    metrics = httpx2.get(handle.url + "/metrics").text
    assert 'bifrost_virtual_key_requests_total{virtual_key="adm"} 2.0' in metrics  # two attempts admitted


def test_key_ids_pick_the_provider_keys_a_virtual_key_may_use(fake_provider: FakeProvider) -> None:
    keys = [{"name": "shared", "value": "sk-upstream-shared"}, {"name": "team-a", "value": "sk-upstream-team-a"}]
    cfg = {
        "providers": {"openai": {"keys": keys, "network_config": {"base_url": fake_provider.url}}},
        "client": {"required_headers": ["x-team"]},
        "governance": {"virtual_keys": [
            {"id": "a", "name": "a", "value": "sk-bf-team-a", "provider_configs": [
                {"provider": "openai", "allowed_models": ["*"], "key_ids": ["team-a"]}]},
            {"id": "none", "name": "none", "value": "sk-bf-no-keys", "provider_configs": [
                {"provider": "openai", "allowed_models": ["*"], "key_ids": []}]},
        ]},
    }  # fmt: skip
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    app = bifrost_app(config=cfg)
    with run_server(app) as handle:
        url = handle.url + "/v1/chat/completions"
        missing = httpx2.post(url, json=body, headers={"x-bf-vk": "sk-bf-team-a"})
        assert missing.status_code == 400 and "missing required headers: x-team" in missing.text
        for _ in range(4):
            reply = httpx2.post(url, json=body, headers={"x-bf-vk": "sk-bf-team-a", "x-team": "a"})
            assert reply.status_code == 200
        assert {r.headers["authorization"] for r in fake_provider.requests} == {"Bearer sk-upstream-team-a"}
        denied = httpx2.post(url, json=body, headers={"x-bf-vk": "sk-bf-no-keys", "x-team": "a"})
        assert denied.status_code == 403 and "key_ids" in denied.text
        assert fake_provider.count() == 4
