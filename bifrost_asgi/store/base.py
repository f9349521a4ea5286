"""The store interface every implementation provides."""

from __future__ import annotations

from typing import Protocol

from ..errors import ServiceUnavailableError


class StoreUnavailableError(ServiceUnavailableError):
    """The shared store could not be reached: the request is refused (503) rather than served with
    state that other replicas cannot see. The message names the store, never its credentials."""

    def __init__(self, store: str, detail: str, *, retry_after: float = 1.0) -> None:
        super().__init__(
            f"state store {store} is unavailable ({detail}); retry shortly",
            retry_after=retry_after,
            code="store_unavailable",
        )
        self.store = store


class KeyValueStore(Protocol):
    """Bytes by string key, each with an optional time to live. Every method may raise
    ``StoreUnavailableError``; none blocks the event loop."""

    #: A name for logs, errors and health output: ``memory`` or the Redis URL without credentials.
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        ...

    async def ping(self) -> bool:
        """True when the store answers now (health checks)."""
        ...

    async def close(self) -> None: ...
