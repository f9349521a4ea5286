"""The Redis store against a real ``redis-server`` on loopback."""

from __future__ import annotations

import asyncio

import pytest

from bifrost_asgi.errors import ConfigError
from bifrost_asgi.store import StoreUnavailableError, open_store, redacted_url
from tests.support.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.anyio


async def test_round_trip_with_ttl_and_prefix(redis_server: RedisServer) -> None:
    store = open_store(redis_server.url, prefix="t1:")
    other = open_store(redis_server.url, prefix="t2:")
    try:
        assert await store.ping()
        await store.set("k", b"\x00value", ttl_seconds=0.2)
        assert await store.get("k") == b"\x00value"
        assert await other.get("k") is None  # prefixes keep users of one server apart
        await asyncio.sleep(0.4)
        assert await store.get("k") is None
        await store.set("k", b"v")
        assert await store.delete("k") is True
        assert await store.delete("k") is False
    finally:
        await store.close()
        await other.close()


async def test_two_clients_share_state(redis_server: RedisServer) -> None:
    """What one replica writes, another replica reads."""
    a, b = open_store(redis_server.url), open_store(redis_server.url)
    try:
        await a.set("shared", b"1")
        assert await b.get("shared") == b"1"
    finally:
        await a.close()
        await b.close()


async def test_unreachable_server_is_a_503_naming_the_store_without_its_password() -> None:
    with running_redis(password="s3cret-pass") as server:
        store = open_store(server.url)
        try:
            await store.set("k", b"v")
            server.stop()
            with pytest.raises(StoreUnavailableError) as info:
                await store.get("k")
            assert info.value.status == 503
            assert info.value.retry_after
            assert f"127.0.0.1:{server.port}" in info.value.message
            assert "s3cret" not in info.value.message
            assert not await store.ping()
            server.start()  # the client reconnects by itself
            assert await store.ping()
            assert await store.get("k") is None  # no persistence: a fresh server
        finally:
            await store.close()


def test_redacted_url_drops_credentials() -> None:
    assert redacted_url("redis://user:pw@example.com:6380/2?x=1") == "redis://example.com:6380/2"
    assert redacted_url("rediss://:pw@[::1]:6379") == "rediss://[::1]:6379"
    assert "pw" not in open_store("redis://:pw@localhost:1/0").name


def test_unknown_scheme_fails_at_start_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("http://:pw@localhost:6379")
    assert "redis_url" in str(info.value)
    assert "pw" not in str(info.value)
