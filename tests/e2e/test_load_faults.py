"""Bounded loopback load under faults: 2 x 1,000 requests at concurrency 32 through the gateway to a
provider that fails every second request (a 500 or a TCP reset, alternately), with one retry and a
healthy fallback configured so every request must succeed.

Checked after each round: no request lost (every one answered 200 with the right content, and the
attempts the gateway reports add up to the requests the upstreams saw), no connection or queue
slot leaked, no task left behind on the gateway's event loop, and memory flat from one round to
the next (a leak check with generous bounds, not a performance test).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from tests.e2e.test_shutdown import GatewayServer, serve_gateway
from tests.support import FakeProvider, RecordedRequest, Reset, Status, fake_text, running_fake

pytestmark = pytest.mark.e2e

ROUND = 1000
CONCURRENCY = 32
BODY = b'{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"fallbacks":["backup/gpt-4o-mini"]}'
TEXT = fake_text("openai", "hi")
SETTLE = 60.0  # seconds: only bounds a hang (with the other core busy, draining can take a while)


def every_second_request_fails() -> Callable[[RecordedRequest], Any]:
    """A ``respond`` hook: requests 1, 3, 5... fail, alternately with a 500 and a connection reset."""
    counter = itertools.count(1)  # next() on itertools.count is atomic under the GIL

    def hook(request: RecordedRequest) -> Any:
        n = next(counter)
        if n % 4 == 1:
            return Status(500)
        if n % 4 == 3:
            return Reset()
        return None

    return hook


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _round(url: str, count: int) -> list[tuple[int, str, int, str | None]]:
    """``count`` requests from ``CONCURRENCY`` workers on keep-alive connections:
    (status, content or error body, attempts, provider) for each."""
    limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    results: list[tuple[int, str, int, str | None]] = []
    todo = iter(range(count))
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in todo:
                response = await client.post(
                    "/v1/chat/completions", content=BODY, headers={"content-type": "application/json"}
                )
                body = response.json()
                content = body["choices"][0]["message"]["content"] if response.status_code == 200 else response.text
                attempts = int(response.headers["x-bifrost-attempts"])
                results.append((response.status_code, content, attempts, response.headers.get("x-bifrost-provider")))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


def _config(a: FakeProvider, b: FakeProvider) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "keys": [{"value": "sk-a"}],
                "network_config": {
                    "base_url": a.url,
                    "max_retries": 1,
                    "retry_backoff_initial_ms": 1,
                    "retry_backoff_max_ms": 5,
                },
            },
            "backup": {
                "keys": [{"value": "sk-b"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": b.url},
            },
        },
        # Keep the faulty provider in rotation (no cooldown) so faults run through the whole load.
        "routing": {"cooldown_failures": 1_000_000},
        "client": {"enable_logging": False},
    }


def _assert_settled(gw: GatewayServer, a: FakeProvider, b: FakeProvider, baseline_tasks: list[str]) -> None:
    ready = httpx2.get(f"{gw.url}/health/ready", timeout=5).json()
    assert ready["in_flight"] == 0
    for name, provider in ready["providers"].items():
        assert (provider["queue"]["in_flight"], provider["queue"]["waiting"]) == (0, 0), name
    assert gw.gateway.in_flight == 0
    # Upstream connections: at most one kept alive per concurrent request; resets closed theirs.
    a.wait_for(lambda: a.open_connections <= CONCURRENCY and b.open_connections <= CONCURRENCY, SETTLE)
    a.wait_idle(SETTLE)
    b.wait_idle(SETTLE)
    # Client connections to the gateway are gone once the client closed them.
    a.wait_for(lambda: not gw.server.server_state.connections, SETTLE)
    assert gw.tasks() == baseline_tasks


def _drain_pools(gw: GatewayServer, a: FakeProvider, b: FakeProvider) -> None:
    """Close the gateway's pooled upstream connections and wait until both fakes saw them go.

    How many keep-alive connections a round leaves pooled depends on scheduling (with the other
    core busy, more requests overlap and more connections open), and each one holds a few hundred
    objects on both ends. Measured with the pools drained, the object count is the same from one
    round to the next unless something really leaks."""
    gw.run(gw.gateway.upstream.aclose())  # the client is recreated lazily by the next request
    a.wait_for(lambda: a.open_connections == 0 and b.open_connections == 0, SETTLE)
    a.wait_idle(SETTLE)
    b.wait_idle(SETTLE)


def test_load_under_faults_loses_nothing_and_leaks_nothing() -> None:
    with running_fake() as a, running_fake() as b, serve_gateway(_config(a, b)) as gw:
        a.respond("/chat/completions", every_second_request_fails())
        asyncio.run(_round(gw.url, 64))  # warm up pools and caches
        baseline_tasks = gw.tasks()
        assert baseline_tasks == ["LifespanOn.main", "Server.serve"]

        memory: list[tuple[int, int]] = []
        for _ in range(2):
            a.reset()
            b.reset()
            a.respond("/chat/completions", every_second_request_fails())
            results = asyncio.run(_round(gw.url, ROUND))

            assert len(results) == ROUND
            assert Counter(status for status, *_ in results) == {200: ROUND}
            assert all(content == TEXT for _, content, _, _ in results)
            providers = Counter(provider for *_, provider in results)
            assert set(providers) == {"openai", "backup"}
            assert providers["backup"] >= ROUND // 10  # the faults really bit: fallbacks served many
            # Every attempt the gateway reports reached an upstream, and nothing else did.
            assert sum(attempts for _, _, attempts, _ in results) == a.count() + b.count()
            assert a.count() > ROUND and b.count() == providers["backup"]
            _assert_settled(gw, a, b, baseline_tasks)
            assert not a.errors and not b.errors

            a.reset()  # the fakes' own request records are not the gateway's memory
            b.reset()
            _drain_pools(gw, a, b)
            gc.collect()
            memory.append((rss_bytes(), len(gc.get_objects())))

    (rss_1, objects_1), (rss_2, objects_2) = memory
    assert rss_2 < rss_1 * 1.10, f"RSS grew from {rss_1 / 1e6:.1f} MB to {rss_2 / 1e6:.1f} MB in the second round"
    assert objects_2 - objects_1 < ROUND // 5, f"{objects_2 - objects_1} more live objects after the second round"
