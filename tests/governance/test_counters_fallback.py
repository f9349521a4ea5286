"""The counters' contract of ``test_counters.py`` again on redis-py's path: a store with an injected
client has no script pipe, so the same scripts, keys and arguments go through redis-py's pipeline.
Both transports must give the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from bifrost_asgi.governance.counters import Counters
from bifrost_asgi.governance.redis_counters import RedisCounters
from bifrost_asgi.store.redis import RedisStore
from tests.governance.test_counters import (  # noqa: F401 - collected here, with the fixture below
    test_all_or_nothing,
    test_calendar_window_resets_at_the_utc_boundary,
    test_document_compare_and_set,
    test_expired_reservations_free_their_headroom,
    test_read_waits_for_the_settlements_on_their_way,
    test_rolling_window_resets_after_its_duration,
    test_settle_behind_lands_before_the_next_admission,
    test_settle_is_idempotent_and_releases,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def counters(redis_server: RedisServer) -> AsyncIterator[Counters]:
    store = RedisStore(redis_server.url, name="redis", client=aioredis.Redis.from_url(redis_server.url))
    assert store.script_pipe() is None
    try:
        yield RedisCounters(store)
    finally:
        await store.close()


async def test_the_url_store_uses_the_pipe(redis_server: RedisServer) -> None:
    """The other side of the comparison: ``test_counters.py`` runs on a URL store, which has a pipe."""
    store = RedisStore(redis_server.url, name="redis")
    try:
        assert store.script_pipe() is not None
    finally:
        await store.close()
