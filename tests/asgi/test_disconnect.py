"""The shared disconnect-watch timer: every watch starts once it is due, none before, none after it
was removed; one timer at a time, armed for the first one due. (End to end, over a socket:
tests/e2e/test_disconnect.py and the #12 hardening tests.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bifrost_asgi.asgi.disconnect import LoopWatches, Watches, _DisconnectWatch


class _Loop:
    """A clock and a timer list, advanced by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> object:
        self.timers.append((when, callback))
        return object()  # a handle, never cancelled

    def advance(self, to: float) -> None:
        """Run every timer due by ``to`` (and those they arm that are due too)."""
        self.now = to
        while due := [t for t in self.timers if t[0] <= to]:
            for timer in due:
                self.timers.remove(timer)
                timer[1]()


class _Watch(_DisconnectWatch):
    started: list[str]

    def __init__(self, name: str, started: list[str]) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]
        self.name = name
        self.started = started

    def start(self) -> None:
        self.started.append(self.name)


def _watches(after: float = 0.25) -> tuple[_Loop, Watches, list[str]]:
    loop = _Loop()
    return loop, Watches(loop, after), []  # type: ignore[arg-type]


def test_each_watch_starts_when_due_and_not_before() -> None:
    loop, watches, started = _watches()
    watches.add(_Watch("a", started))
    loop.now = 100.1
    watches.add(_Watch("b", started))
    assert len(loop.timers) == 1  # one timer, for the first one due
    loop.advance(100.2499)
    assert started == []
    loop.advance(100.25)
    assert started == ["a"]
    assert [when for when, _ in loop.timers] == [100.35]  # re-armed for the next one due
    loop.advance(100.3499)
    assert started == ["a"]
    loop.advance(100.36)
    assert started == ["a", "b"]
    assert loop.timers == []  # nothing left: no timer


def test_a_removed_watch_never_starts() -> None:
    loop, watches, started = _watches()
    a, b = _Watch("a", started), _Watch("b", started)
    watches.add(a)
    loop.now = 100.2
    watches.add(b)
    watches.discard(a)  # answered in time
    loop.advance(100.3)  # the timer armed for a fires, finds b not due yet
    assert started == []
    assert [when for when, _ in loop.timers] == [100.45]
    watches.discard(b)
    loop.advance(101.0)
    assert started == []
    assert loop.timers == []


def test_watches_due_together_start_together_and_a_later_add_arms_again() -> None:
    loop, watches, started = _watches()
    for name in "abc":
        watches.add(_Watch(name, started))
    loop.advance(100.25)
    assert started == ["a", "b", "c"]
    assert loop.timers == []
    watches.add(_Watch("d", started))
    assert [when for when, _ in loop.timers] == [100.5]
    loop.advance(100.5)
    assert started == ["a", "b", "c", "d"]


def test_a_timer_that_fires_early_rearms_for_the_same_watch() -> None:
    loop, watches, started = _watches()
    watches.add(_Watch("a", started))
    when, fire = loop.timers.pop()
    loop.now = when - 0.0005  # a loop clock of coarser resolution
    fire()
    assert started == []
    assert [w for w, _ in loop.timers] == [when]
    loop.advance(when)
    assert started == ["a"]


def test_one_watches_per_event_loop() -> None:
    shared = LoopWatches()
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        a = shared.of(first)
        assert shared.of(first) is a
        b = shared.of(second)
        assert b is not a and b.loop is second
        assert shared.of(first) is not b
    finally:
        first.close()
        second.close()


def test_a_watch_is_an_entry_until_it_starts() -> None:
    """A real watch on a real loop: nothing runs before it is due; once due, a task watches
    ``receive`` and cancels the request's task on ``http.disconnect``."""

    async def scenario() -> list[str]:
        events: list[str] = []
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await gone.wait()
            events.append("disconnect")
            return {"type": "http.disconnect"}

        async def request() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        task = asyncio.ensure_future(request())
        watches = Watches(asyncio.get_running_loop(), 0.0)
        watch = _DisconnectWatch(task, receive)
        watches.add(watch)
        assert watch._watcher is None
        while watch._watcher is None:
            await asyncio.sleep(0)
        gone.set()
        await asyncio.gather(task, return_exceptions=True)
        assert watch.gone
        return events

    assert asyncio.run(scenario()) == ["disconnect", "cancelled"]


def _gone_after(delay: float) -> Any:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"type": "http.disconnect"}

    return receive


async def _watched(work: Callable[[], Any], receive: Any, after: float = 0.0) -> tuple[str, bool, int]:
    """What a caller of ``ClientWatch`` sees: how the work ended, ``gone``, and the task's cancels left."""
    from bifrost_asgi.asgi.disconnect import ClientWatch

    watch = ClientWatch(receive, LoopWatches(after))
    task = asyncio.current_task()
    assert task is not None
    try:
        await work()
    except asyncio.CancelledError:
        watch.end()
        outcome = "handled" if watch.stopped() else "let through"
        return outcome, watch.gone, task.cancelling()
    watch.end()
    return ("left" if watch.left() else "done"), watch.gone, task.cancelling()


def test_a_client_watch_cancels_the_work_when_the_client_leaves_and_not_otherwise() -> None:
    async def slow() -> None:
        await asyncio.sleep(5)

    async def quick() -> None:
        await asyncio.sleep(0)

    assert asyncio.run(_watched(slow, _gone_after(0.01))) == ("handled", True, 0)
    assert asyncio.run(_watched(quick, _gone_after(5))) == ("done", False, 0)
    # the watch has not started yet (due later): the work is never interrupted
    assert asyncio.run(_watched(lambda: asyncio.sleep(0.05), _gone_after(0), after=5)) == ("done", False, 0)


def test_a_client_watch_tells_the_server_stopping_and_a_second_cancel_apart() -> None:
    async def main(cancels: int) -> tuple[str, bool, int]:
        async def work() -> None:
            await asyncio.sleep(5)

        inner = asyncio.ensure_future(_watched(work, _gone_after(5)))
        await asyncio.sleep(0.01)
        for _ in range(cancels):
            inner.cancel()
        try:
            return await inner
        except asyncio.CancelledError:
            return "raised", False, 0

    assert asyncio.run(main(1)) == ("handled", False, 0)  # the server stopped it: a 503 is sent
    assert asyncio.run(main(2)) == ("let through", False, 1)


def test_a_client_that_leaves_just_as_the_work_is_done_gets_nothing_and_the_cancel_is_withdrawn() -> None:
    async def work_that_ignores_one_cancel() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:  # finishes anyway (as a reply ready at that moment)
            return

    assert asyncio.run(_watched(work_that_ignores_one_cancel, _gone_after(0.01))) == ("left", True, 0)
