"""Reservations on both counter implementations (in-process, and Redis via its Lua scripts on a real
``redis-server``): all-or-nothing admission, idempotent settlement, expiry of a dead replica's
reservations, rolling and calendar windows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bifrost_asgi.governance.counters import Counters, Limit, MemoryCounters
from bifrost_asgi.governance.redis_counters import RedisCounters
from bifrost_asgi.governance.windows import window
from bifrost_asgi.store import open_store
from bifrost_asgi.store.redis import RedisStore
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000_000  # ms


def limit(key: str, maximum: int, now: int = T0, duration: str = "1m", calendar: bool = False) -> Limit:
    return Limit(key, maximum, window(duration, calendar, now), "requests", "virtual key 'a'", key, duration)


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    store = open_store(server.url)
    assert isinstance(store, RedisStore)
    try:
        yield RedisCounters(store)
    finally:
        await store.close()


async def test_all_or_nothing(counters: Counters) -> None:
    a, b = limit("{a}", 2), limit("{b}", 1)
    assert await counters.reserve([a, b], [1, 1], "r1", T0, 60_000) is None
    denial = await counters.reserve([a, b], [1, 1], "r2", T0, 60_000)
    assert denial is not None and denial.index == 1 and denial.reserved == 1
    # r2 reserved nothing on a: one more request still fits there
    assert await counters.reserve([a], [1], "r3", T0, 60_000) is None
    readings = await counters.read([a, b], T0)
    assert [(r.used, r.reserved) for r in readings] == [(0, 2), (0, 1)]


async def test_settle_is_idempotent_and_releases(counters: Counters) -> None:
    a = limit("{a}", 3)
    assert await counters.reserve([a], [2], "r1", T0, 60_000) is None
    assert await counters.settle([a], [1], "r1", T0, 60_000) == [1]
    assert await counters.settle([a], [1], "r1", T0, 60_000) is None  # a second settle changes nothing
    reading = (await counters.read([a], T0))[0]
    assert (reading.used, reading.reserved) == (1, 0)


async def test_expired_reservations_free_their_headroom(counters: Counters) -> None:
    a = limit("{a}", 1)
    assert await counters.reserve([a], [1], "dead-replica:1", T0, 1_000) is None
    assert await counters.reserve([a], [1], "r2", T0 + 500, 1_000) is not None
    later = T0 + 1_001
    assert await counters.reserve([limit("{a}", 1, later)], [1], "r3", later, 1_000) is None


async def test_rolling_window_resets_after_its_duration(counters: Counters) -> None:
    a = limit("{a}", 1)
    assert await counters.reserve([a], [1], "r1", T0, 1_000) is None
    assert await counters.settle([a], [1], "r1", T0, 60_000) == [1]
    assert await counters.reserve([limit("{a}", 1, T0 + 59_999)], [1], "r2", T0 + 59_999, 1_000) is not None
    after = T0 + 60_000
    assert await counters.reserve([limit("{a}", 1, after)], [1], "r3", after, 1_000) is None


async def test_calendar_window_resets_at_the_utc_boundary(counters: Counters) -> None:
    day = 86_400_000
    midnight = (T0 // day + 1) * day
    a = limit("{a}", 1, midnight - 1, "1d", calendar=True)
    assert await counters.reserve([a], [1], "r1", midnight - 1, 1) is None
    assert await counters.settle([a], [1], "r1", midnight - 1, 60_000) == [1]
    b = limit("{a}", 1, midnight, "1d", calendar=True)
    assert await counters.reserve([b], [1], "r2", midnight, 1) is None


async def test_document_compare_and_set(counters: Counters) -> None:
    assert await counters.load_doc() == (0, None)
    assert await counters.save_doc(b"one", 0) == 1
    assert await counters.save_doc(b"stale", 0) is None
    assert await counters.load_doc() == (1, b"one")
    assert await counters.doc_version() == 1


async def test_in_process_settled_markers_expire_one_by_one() -> None:
    """A settlement's marker (which makes a second settle a no-op) is dropped once its TTL is over,
    oldest first, at the next settlement: the markers held are those of the last TTL, however
    many there were (a busy gateway used to rescan all of them on every request past 10,000)."""
    counters = MemoryCounters()
    a = limit("{a}", 10**9)
    for i in range(20_050):
        assert await counters.settle([a], [1], f"r{i}", T0 + i, 10_000) == [i + 1]
    assert await counters.settle([a], [1], "r20049", T0 + 20_049, 10_000) is None  # within its TTL: no-op
    held = counters._settled  # the markers of the last 10 s (one settlement per ms here)
    assert len(held) == 10_000 and "r10049" not in held and "r10050" in held
    assert await counters.settle([a], [1], "r5", T0 + 20_050, 10_000) == [20_051]  # expired: counts again


async def test_settle_behind_lands_before_the_next_admission(counters: Counters) -> None:
    """A settlement nobody waits for is still ahead of this process's next call: 10 used + 80 fits a
    cap of 100, the 60 reserved before it + 80 would not. Its outcome comes to ``done`` (a second
    settlement of the same id: None, nothing changes), and ``drain`` waits for both."""
    a = limit("{a}", 100)
    assert await counters.reserve([a], [60], "r1", T0, 60_000) is None
    outcomes: list[tuple[list[int] | None, BaseException | None]] = []
    counters.settle_behind([a], [10], "r1", T0, 60_000, lambda totals, error: outcomes.append((totals, error)))
    assert await counters.reserve([a], [80], "r2", T0, 60_000) is None
    counters.settle_behind([a], [10], "r1", T0, 60_000, lambda totals, error: outcomes.append((totals, error)))
    await counters.drain()
    assert outcomes == [([10], None), (None, None)]
    reading = (await counters.read([a], T0))[0]
    assert (reading.used, reading.reserved) == (10, 80)


async def test_read_waits_for_the_settlements_on_their_way(counters: Counters) -> None:
    """``read`` (the management API's usage) shows every settlement this process started before it."""
    a = limit("{a}", 10_000)
    for i in range(50):
        assert await counters.reserve([a], [5], f"r{i}", T0, 60_000) is None
        counters.settle_behind([a], [i], f"r{i}", T0, 60_000, lambda totals, error: None)
    reading = (await counters.read([a], T0))[0]
    assert (reading.used, reading.reserved) == (sum(range(50)), 0)
