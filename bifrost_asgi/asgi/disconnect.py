"""A client that leaves before its reply: noticed while the request waits (queue, upstream), so its
work is cancelled instead of finished for nobody.

The watch over ``receive`` starts only for requests that run ``WATCH_AFTER_SECONDS``: answers from a
fast upstream are ready sooner and never pay for a watcher task. The requests in flight on one event
loop share one timer, armed for the oldest one's deadline (``Watches``), instead of a timer per
request (setting and cancelling a timer cost more than the rest of the watch).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive

#: How long a request runs before its client's connection is watched for a disconnect. Answers
#: from a fast upstream are ready sooner (also under load: 64 connections queue ~50 ms each on one
#: core) and never pay for a watcher task; a client that leaves a longer wait (queue, upstream) is
#: noticed at most this much later.
WATCH_AFTER_SECONDS = 0.25


class _DisconnectWatch:
    """Watches ``receive`` for ``http.disconnect`` once ``start`` runs, and cancels ``task`` when
    the client has left. Until then it is an entry in its loop's ``Watches``, not a task."""

    __slots__ = ("_receive", "_task", "_watcher", "gone")

    def __init__(self, task: asyncio.Task[Any], receive: Receive) -> None:
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        self.gone = False

    def start(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        receive = self._receive
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self._task.cancel()

    def stop(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            # Forgotten as it is cancelled: the task keeps its CancelledError, whose traceback holds
            # ``_watch``'s frame and so this watch; the watch holding the task would close a cycle.
            watcher.cancel()


class Watches:
    """The watches of one event loop not started yet, each due ``after`` seconds after it was
    added, in the order they were added (so in order of due time): one timer, armed for the first
    one due, starts every watch that is due when it fires and re-arms for the next. A watch
    removed before it is due leaves the timer as it is (it finds nothing due, or re-arms later)."""

    __slots__ = ("_after", "_pending", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, after: float) -> None:
        self.loop = loop
        self._after = after
        self._pending: dict[_DisconnectWatch, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, watch: _DisconnectWatch) -> None:
        due = self.loop.time() + self._after
        self._pending[watch] = due
        if self._timer is None:
            self._timer = self.loop.call_at(due, self._fire)

    def discard(self, watch: _DisconnectWatch) -> None:
        self._pending.pop(watch, None)

    def _fire(self) -> None:
        self._timer = None
        now = self.loop.time()
        pending = self._pending
        due = []
        for watch, at in pending.items():
            if at > now:
                self._timer = self.loop.call_at(at, self._fire)
                break
            due.append(watch)
        for watch in due:
            del pending[watch]
            watch.start()


class LoopWatches:
    """The ``Watches`` of the event loop serving requests (one per app; a new one when the app is
    served from another loop, while the old one finishes its own watches)."""

    __slots__ = ("_after", "_current")

    def __init__(self, after: float = WATCH_AFTER_SECONDS) -> None:
        self._after = after
        self._current: Watches | None = None

    def of(self, loop: asyncio.AbstractEventLoop) -> Watches:
        current = self._current
        if current is None or current.loop is not loop:
            current = self._current = Watches(loop, self._after)
        return current


class ClientWatch(_DisconnectWatch):
    """The watch over one request's client while its work runs in the current task (the caller
    awaits the work itself: no coroutine layer between). A client that leaves before its reply
    cancels the task (out of the queue, the upstream call closed, nothing sent for it). The watch
    starts only once the work has run for ``WATCH_AFTER_SECONDS`` (a shared timer, not a task per
    request). Made when the work starts, ``end()`` once it is over. When the work is cancelled,
    ``stopped()`` is False for a second cancel (let it through); else the client left (``gone``:
    nothing to send) or the server stopped it (shutdown past its grace period: the client gets a
    503 in its dialect rather than a dropped connection). When the work returned, ``left()`` says
    whether the client left just as it was ready (its cancel then withdrawn): the result is to be
    released unsent."""

    __slots__ = ("_pending",)

    def __init__(self, receive: Receive, watches: LoopWatches) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task  # the watch's own fields, set here rather than through a super() call
        self._receive = receive
        self._watcher = None
        self.gone = False
        self._pending = watches.of(task.get_loop())
        self._pending.add(self)

    def end(self) -> None:
        self._pending.discard(self)
        self.stop()

    def stopped(self) -> bool:
        """The work was cancelled once (by the watch or the server), not more: handled here."""
        return self._task.uncancel() == 0

    def left(self) -> bool:
        if not self.gone:
            return False
        self._task.uncancel()  # the cancel is pending on us
        return True
