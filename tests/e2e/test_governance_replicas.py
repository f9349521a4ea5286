"""Two gateway processes sharing one real ``redis-server``: a request cap and a budget hold exactly
under a concurrent burst sent to both; Redis killed mid-run gives 503s (fail-closed) and then
recovers by itself; a replica killed mid-request leaves no reserved headroom after the TTL."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, FakeProvider, Hang
from tests.support.cli_server import run_cli
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

VK = "sk-bf-replicas-shared-key"
PRICE = 1e-06  # per token, in and out (a pricing override, so the arithmetic is exact)
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def write_config(tmp: Path, fake: FakeProvider, redis_url: str, **governance: Any) -> Path:
    config = {
        "providers": {"openai": {"keys": [{"value": "sk-upstream"}], "network_config": {"base_url": fake.url}}},
        "client": {"enforce_auth_on_inference": True, "enable_logging": False},
        "governance": {
            "store": {"type": "redis", "url": redis_url, **governance.pop("store", {})},
            "pricing_overrides": [{"pattern": "openai/gpt-4o-mini",
                                   "pricing_patch": {"input_cost_per_token": PRICE, "output_cost_per_token": PRICE}}],
            **governance,
        },
    }  # fmt: skip
    path = tmp / f"config-{len(list(tmp.iterdir()))}.json"
    path.write_text(json.dumps(config))
    return path


def replica(config: Path, log: Path) -> contextlib.AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]:
    return run_cli(config, log, "--log-level", "warning")


def post(url: str, timeout: float = 60.0) -> httpx2.Response:
    return httpx2.post(url + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {VK}"},
                       timeout=timeout)  # fmt: skip


def burst(urls: list[str], per_replica: int) -> list[int]:
    targets = [u for u in urls for _ in range(per_replica)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return [r.status_code for r in pool.map(post, targets)]


def redis_hash(server: RedisServer, key: str) -> dict[str, str]:
    import redis

    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        return client.hgetall("bifrost:gov:" + key)  # type: ignore[return-value]
    finally:
        client.close()


def slow_answers(fake: FakeProvider, seconds: float) -> None:
    """Every answer takes a moment, so the burst's requests overlap in flight on both replicas."""
    fake.respond("/chat/completions", lambda request: (time.sleep(seconds), None)[1])


def test_two_replicas_admit_exactly_the_request_cap(
    tmp_path: Path, fake_provider: FakeProvider, redis_server: RedisServer
) -> None:
    cap = 12
    config = write_config(
        tmp_path, fake_provider, redis_server.url,
        rate_limits=[{"id": "rl-burst", "request_max_limit": cap, "request_reset_duration": "1h"}],
        virtual_keys=[{"id": "vk-r", "name": "replicas", "value": VK, "rate_limit_id": "rl-burst",
                       "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    )  # fmt: skip
    slow_answers(fake_provider, 0.05)
    with replica(config, tmp_path / "a.log") as (a, _), replica(config, tmp_path / "b.log") as (b, _):
        statuses = burst([a, b], per_replica=20)
        assert statuses.count(200) == cap, statuses
        assert set(statuses) == {200, 429}
        assert fake_provider.count("/chat/completions") == cap
        assert [post(a).status_code, post(b).status_code] == [429, 429]
    # an answer does not wait for its settlement; a replica that stops waits for all of them
    assert redis_hash(redis_server, "{rl:rl-burst}:req")["u"] == str(cap)


def test_two_replicas_hold_a_budget(tmp_path: Path, fake_provider: FakeProvider, redis_server: RedisServer) -> None:
    budget = 0.0002  # ~11 requests of 18 tokens at $1e-6
    config = write_config(
        tmp_path, fake_provider, redis_server.url,
        budgets=[{"id": "b-shared", "max_limit": budget, "reset_duration": "1d", "virtual_key_id": "vk-r"}],
        virtual_keys=[{"id": "vk-r", "name": "replicas", "value": VK,
                       "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    )  # fmt: skip
    slow_answers(fake_provider, 0.05)
    with replica(config, tmp_path / "a.log") as (a, _), replica(config, tmp_path / "b.log") as (b, _):
        statuses = burst([a, b], per_replica=15)
    admitted = statuses.count(200)
    assert set(statuses) <= {200, 402} and 402 in statuses, statuses
    spent_nano = int(redis_hash(redis_server, "{budget:b-shared}")["u"])
    per_request = (FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS) * PRICE
    assert spent_nano == round(admitted * per_request * 1e9)
    assert spent_nano <= budget * 1e9  # the fake's usage (18 tokens) stays under each estimate (>= 16 + prompt)
    assert admitted >= int(budget / (per_request + 10 * PRICE))  # and the cap is not wasted either


def test_redis_down_is_503_then_recovers(
    tmp_path: Path, fake_provider: FakeProvider, redis_server: RedisServer
) -> None:
    config = write_config(
        tmp_path, fake_provider, redis_server.url,
        rate_limits=[{"id": "rl", "request_max_limit": 1000, "request_reset_duration": "1h"}],
        virtual_keys=[{"id": "vk-r", "name": "replicas", "value": VK, "rate_limit_id": "rl",
                       "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    )  # fmt: skip
    with replica(config, tmp_path / "a.log") as (a, _):
        assert post(a).status_code == 200
        redis_server.stop()
        down = post(a)
        assert down.status_code == 503, down.text
        assert int(down.headers["retry-after"]) >= 1
        assert f"127.0.0.1:{redis_server.port}" in down.json()["error"]["message"]
        calls = fake_provider.count("/chat/completions")
        redis_server.start()
        deadline = time.monotonic() + 30
        while (status := post(a).status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200
        assert fake_provider.count("/chat/completions") == calls + 1  # nothing went upstream while down


def test_a_killed_replica_leaves_no_reserved_headroom_after_the_ttl(
    tmp_path: Path, fake_provider: FakeProvider, redis_server: RedisServer
) -> None:
    ttl = 3.0
    config = write_config(
        tmp_path, fake_provider, redis_server.url, store={"reservation_ttl_seconds": ttl},
        rate_limits=[{"id": "rl-one", "request_max_limit": 1, "request_reset_duration": "1h"}],
        virtual_keys=[{"id": "vk-r", "name": "replicas", "value": VK, "rate_limit_id": "rl-one",
                       "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    )  # fmt: skip
    fake_provider.script("/chat/completions", [Hang(60.0)])
    with replica(config, tmp_path / "a.log") as (a, proc_a), replica(config, tmp_path / "b.log") as (b, _):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(post, a, 90.0)
            fake_provider.wait_for(lambda: fake_provider.active_requests == 1, timeout=30)
            admitted_at = time.monotonic()
            proc_a.kill()  # mid-request: its reservation is never settled
            proc_a.wait(10)
            with contextlib.suppress(httpx2.TransportError):
                pending.result(timeout=30)
        first = post(b)
        if time.monotonic() - admitted_at < ttl - 0.5:  # only meaningful while the TTL has not passed
            assert first.status_code == 429, first.text
        deadline = time.monotonic() + 30
        status = first.status_code
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = post(b).status_code
        assert status == 200
    assert redis_hash(redis_server, "{rl:rl-one}:req")["rs"] == "0"  # b settled before it stopped
