"""A ticket's settlement on the shared counters is not waited for: the answer goes out while the
script travels to Redis. Shown on a real ``redis-server`` frozen with SIGSTOP (it holds every reply
until SIGCONT): settling returns at once, the reservation still counts meanwhile, ``drain`` waits
for the reply, and a settlement that cannot reach the store is logged and counted, never raised."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from bifrost_asgi.governance.admission import Estimate, Ticket
from bifrost_asgi.governance.config import GovernanceConfig
from bifrost_asgi.governance.engine import Governance
from bifrost_asgi.governance.metrics import GovernanceMetrics
from bifrost_asgi.governance.pricing import PriceTable
from bifrost_asgi.governance.redis_counters import RedisCounters
from bifrost_asgi.neutral import Usage
from bifrost_asgi.store import open_store
from bifrost_asgi.store.redis import RedisStore
from tests.support.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.anyio
VK = "sk-bf-admission-1"
PASSWORD = "s3cret-admission-pw"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own (it gets frozen and killed), with a password that must not leak."""
    with running_redis(password=PASSWORD) as server:
        yield server


@pytest.fixture
async def gov(own_redis: RedisServer) -> AsyncIterator[tuple[Governance, CollectorRegistry]]:
    config = GovernanceConfig.model_validate({
        "rate_limits": [{"id": "rl", "token_max_limit": 1_000, "token_reset_duration": "1h",
                         "request_max_limit": 100, "request_reset_duration": "1h"}],
        "virtual_keys": [{"id": "vk", "name": "eng", "value": VK, "rate_limit_id": "rl",
                          "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    })  # fmt: skip
    store = open_store(own_redis.url)
    assert isinstance(store, RedisStore)
    registry = CollectorRegistry()
    governance = Governance(config, version=2, enforce=True, counters=RedisCounters(store),
                            metrics=GovernanceMetrics(registry), prices=PriceTable.load(), shared=False)  # fmt: skip
    try:
        yield governance, registry
    finally:
        await store.close()


async def admitted(governance: Governance, request_id: str, estimate: Estimate) -> Ticket:
    key = await governance.authenticate({"x-api-key": VK}, {})
    guard = governance.guard(key, request_id, estimate)
    assert guard is not None
    return await guard.admit("openai", "gpt-4o-mini")


def at_once(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that must not suspend to its result (fails if it waits for anything)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("the settlement waited")


def tokens_hash(server: RedisServer) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(server.url, socket_timeout=10)
    try:
        return client.hgetall("bifrost:gov:{rl:rl}:tok")  # type: ignore[return-value]
    finally:
        client.close()


async def test_settling_does_not_wait_for_redis(
    gov: tuple[Governance, CollectorRegistry], own_redis: RedisServer
) -> None:
    governance, _ = gov
    ticket = await admitted(governance, "req-1", Estimate(100, 200))  # reserves 300 tokens
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        at_once(ticket.settle(Usage(input_tokens=40, output_tokens=2), "ok"))
        draining = asyncio.ensure_future(governance.drain(timeout=30))
        await asyncio.sleep(0.05)
        assert not draining.done()  # the reply is held by the frozen server
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    await draining
    held = tokens_hash(own_redis)
    assert held[b"u"] == b"42" and held[b"rs"] == b"0"  # the real usage replaced the reservation


async def test_the_next_admission_sees_the_settlement(gov: tuple[Governance, CollectorRegistry]) -> None:
    """900 reserved + 900 would not fit 1,000 tokens; 42 settled + 900 does. No drain in between:
    the settlement is ahead of the admission on the connection."""
    governance, _ = gov
    first = await admitted(governance, "req-1", Estimate(100, 800))
    at_once(first.settle(Usage(input_tokens=40, output_tokens=2), "ok"))
    await admitted(governance, "req-2", Estimate(100, 800))


async def test_a_lost_settlement_is_logged_and_counted(
    gov: tuple[Governance, CollectorRegistry], own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    governance, registry = gov
    ticket = await admitted(governance, "req-1", Estimate(100, 200))
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi.governance"):
        at_once(ticket.settle(Usage(input_tokens=40, output_tokens=2), "ok"))
        await governance.drain(timeout=30)
    warnings = [r.getMessage() for r in caplog.records if "could not settle req-1:1" in r.getMessage()]
    assert len(warnings) == 1, caplog.records
    assert PASSWORD not in caplog.text
    assert registry.get_sample_value("bifrost_governance_store_errors_total", {"mode": "settle"}) == 1
