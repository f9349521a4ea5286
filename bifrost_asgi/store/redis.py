"""The Redis store, on the official client (``redis.asyncio``). Imported only when a URL is set.

The client connects lazily and reconnects by itself; every failure to reach the server becomes
``StoreUnavailableError`` naming the URL without its credentials. ``client`` is exposed so other
packages (governance) can run their own atomic Lua scripts on the same connection pool, and
``script_pipe()`` gives the hot path's scripts one pipelined connection of their own (plain
``redis://`` URLs; see ``redis_pipe.py``).
"""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import StoreUnavailableError
from .redis_pipe import ScriptPipe

#: Failures that mean "the store cannot be reached now" (as opposed to a bug in a command).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        prefix: str = "bifrost:",
        socket_timeout: float = 2.0,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.name = name
        self.prefix = prefix
        # An injected client keeps its own connections: its scripts go through it.
        self._url = url if client is None else None
        self.timeout = socket_timeout  # seconds for any one reply (connections and the pipe alike)
        self._pipe: ScriptPipe | None = None
        self.client: aioredis.Redis = client or aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=30,
            retry_on_timeout=False,
        )

    def script_pipe(self) -> ScriptPipe | None:
        """The pipelined connection for hot-path scripts (one per store), or None: redis-py's path
        (an injected client, or a URL with TLS, a unix socket or options)."""
        if self._url is not None:  # decided once
            self._pipe = ScriptPipe.for_url(self._url, timeout=self.timeout)
            self._url = None
        return self._pipe

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """The error to raise for a failure to reach this store (never shows the URL's password)."""
        return StoreUnavailableError(self.name, type(exc).__name__)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self.prefix + key)
        except UNREACHABLE as exc:
            raise self.unavailable(exc) from None
        if value is None or isinstance(value, bytes):
            return value
        return str(value).encode()

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None:
        px = None if ttl_seconds is None else max(1, int(ttl_seconds * 1000))
        try:
            await self.client.set(self.prefix + key, value, px=px)
        except UNREACHABLE as exc:
            raise self.unavailable(exc) from None

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self.client.delete(self.prefix + key))
        except UNREACHABLE as exc:
            raise self.unavailable(exc) from None

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except UNREACHABLE:
            return False

    async def close(self) -> None:
        if self._pipe is not None:
            await self._pipe.close()
        await self.client.aclose()
