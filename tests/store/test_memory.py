from __future__ import annotations

import pytest

from bifrost_asgi.store import MemoryStore, open_store

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_set_get_delete() -> None:
    store = MemoryStore()
    assert await store.get("a") is None
    await store.set("a", b"1")
    assert await store.get("a") == b"1"
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.get("a") is None


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.set("a", b"1", ttl_seconds=10)
    await store.set("b", b"2")
    clock.now += 9.9
    assert await store.get("a") == b"1"
    clock.now += 0.2
    assert await store.get("a") is None
    assert await store.get("b") == b"2"  # no ttl: kept


async def test_bounded_least_recently_used_goes_first() -> None:
    store = MemoryStore(max_entries=2)
    await store.set("a", b"1")
    await store.set("b", b"2")
    assert await store.get("a") == b"1"  # a is now the most recent
    await store.set("c", b"3")
    assert len(store) == 2
    assert await store.get("b") is None
    assert await store.get("a") == b"1"
    assert await store.get("c") == b"3"


async def test_full_store_drops_expired_entries_before_live_ones() -> None:
    clock = Clock()
    store = MemoryStore(max_entries=2, clock=clock)
    await store.set("live", b"1")
    await store.set("short", b"2", ttl_seconds=1)
    clock.now += 2
    await store.set("new", b"3")
    assert await store.get("live") == b"1"
    assert await store.get("new") == b"3"


def test_open_store_without_url_is_memory() -> None:
    assert open_store(None).name == "memory"
    assert open_store("").name == "memory"
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


async def test_a_full_store_evicts_without_scanning_every_entry() -> None:
    """Once full, each set used to walk every entry looking for expired ones (O(n) per set: a
    full Responses store cost ~2 ms of CPU per request); only entries whose expiry has passed are
    looked at now, and the result is the same."""
    now = [0.0]
    store = MemoryStore(max_entries=100, clock=lambda: now[0])
    for i in range(100):
        await store.set(f"k{i}", b"v", ttl_seconds=10 + i)
    for i in range(100, 10_000):
        await store.set(f"k{i}", b"v", ttl_seconds=3600)
    assert len(store) == 100
    assert len(store._expiry) <= 2 * 100 + 64  # stale heap entries are compacted away
    now[0] = 3601.0 + 10_000
    await store.set("late", b"v", ttl_seconds=5)
    assert len(store) == 1 and await store.get("late") == b"v"


async def test_a_stored_value_holds_no_more_memory_than_its_size() -> None:
    """orjson's bytes keep its output buffer's capacity (~10x a 3 KB document); a full store of
    such values held 16-32 KB per stored response. The store keeps copies of their own size."""
    import gc
    import tracemalloc

    import orjson

    store = MemoryStore(max_entries=1000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200):  # each value dropped by its maker once stored, as a stored response is
            await store.set(f"k{i}", orjson.dumps({"text": f"{i:04d}" + "x" * 3000}), ttl_seconds=60)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 200 * 3200 * 1.5, held  # the values' own size plus bookkeeping, not their buffers
    assert await store.get("k7") == orjson.dumps({"text": "0007" + "x" * 3000})
