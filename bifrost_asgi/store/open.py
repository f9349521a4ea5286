"""Choose the store from configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .base import KeyValueStore
from .memory import MemoryStore

_SCHEMES = ("redis", "rediss", "unix")


def redacted_url(url: str) -> str:
    """``url`` with any user name and password removed: safe for logs, errors and health output."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def open_store(
    url: str | None,
    *,
    prefix: str = "bifrost:",
    max_entries: int = 10_000,
    clock: Callable[[], float] = time.monotonic,
) -> KeyValueStore:
    """A ``MemoryStore`` when ``url`` is empty, else a ``RedisStore`` (connecting lazily)."""
    if not url:
        return MemoryStore(max_entries=max_entries, clock=clock)
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"redis_url: unsupported scheme {scheme!r} in {redacted_url(url)!r}\n"
            "  fix: use redis://host:6379/0, rediss://... for TLS, or unix:///path/to/redis.sock"
        )
    from .redis import RedisStore

    return RedisStore(url, name=redacted_url(url), prefix=prefix)
