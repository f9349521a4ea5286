"""The in-process store: bounded (least recently used entries go first) with per-entry expiry."""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryStore:
    """A ``KeyValueStore`` in this process only. ``max_entries`` bounds memory; expired entries are
    dropped when read and when the store is full."""

    name = "memory"

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        # (expiry, key) of every entry set with a TTL, soonest first; entries overwritten, deleted or
        # dropped since are skipped when they surface. Eviction pops only what has expired instead
        # of scanning the whole store on every set once it is full.
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None:
        expires = None if ttl_seconds is None else self._clock() + ttl_seconds
        # A copy of exactly its size: orjson's bytes keep the capacity of its output buffer (32 KB
        # behind a 3 KB stored response), which a full store would hold 10,000 times.
        self._data[key] = (memoryview(value).tobytes(), expires)
        self._data.move_to_end(key)
        if expires is not None:
            heapq.heappush(self._expiry, (expires, key))
        if len(self._data) > self._max:
            self._evict()

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._expiry.clear()

    def _evict(self) -> None:
        now, heap, data = self._clock(), self._expiry, self._data
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry[1] == expires:
                del data[key]
        while len(data) > self._max:
            data.popitem(last=False)
        if len(heap) > 2 * self._max + 64:  # mostly stale: rebuild from the live entries
            self._expiry = [(exp, k) for k, (_, exp) in data.items() if exp is not None]
            heapq.heapify(self._expiry)
