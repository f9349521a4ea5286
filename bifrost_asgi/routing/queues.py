"""Per-provider admission: at most ``concurrency`` requests in flight and ``buffer_size`` waiting.

When the buffer is full, a request waits for room (Bifrost's default) or, with
``drop_excess_requests``, is refused at once with 429 and ``retry-after``. A waiter that is
cancelled (client left, timeout) gives its place back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from ..errors import QueueFullError


class ProviderQueue:
    def __init__(
        self,
        name: str,
        *,
        concurrency: int,
        buffer_size: int,
        drop_excess: bool,
        on_depth: Callable[[str, int], None] | None = None,
    ) -> None:
        self.name = name
        self.concurrency = concurrency
        self.buffer_size = buffer_size
        self.drop_excess = drop_excess
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_depth = on_depth

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> bool:
        """Take a free slot without waiting (the common case, and cheap); False when none is free."""
        if self.in_flight < self.concurrency and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting in the buffer if needed; every acquire needs one ``release()``."""
        if self.try_acquire():
            return
        if len(self._waiters) >= self.buffer_size and self.drop_excess:
            raise QueueFullError(
                f"provider '{self.name}' is at capacity ({self.concurrency} in flight, "
                f"{self.buffer_size} queued); retry shortly",
                provider=self.name,
                retry_after=1.0,
                code="queue_full",
            )
        # Without drop_excess a full buffer still admits the waiter (Bifrost blocks the caller
        # until there is room); its wait is bounded by the request's own timeout.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._report()
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # We were handed a slot just as we were cancelled: pass it on.
                self.release()
            else:
                self._remove(waiter)
            raise
        finally:
            self._report()

    def _remove(self, waiter: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next waiter
                return
        self.in_flight -= 1

    def _report(self) -> None:
        if self._on_depth is not None:
            self._on_depth(self.name, len(self._waiters))
