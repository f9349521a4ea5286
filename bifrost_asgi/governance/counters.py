"""Counters with reservations: the in-process implementation and the interface the Redis one shares.

Each limit is one counter (``key``) holding its window start, its settled usage and the live
reservations (id -> amount, with an expiry). ``reserve`` checks every limit of a request and, only
if all fit (``used + reserved + amount <= maximum``), records the reservation on all of them: all or
nothing. ``settle`` removes the reservation and adds the real amount, once per reservation id (a
second settle of the same id is a no-op). Expired reservations are dropped at the next check, so a
replica that died mid-request frees its headroom after the TTL.

Amounts are integers: requests, tokens, or nano-dollars for budgets (exact sums, no float drift).
Also here: the governance document (virtual keys, teams... as JSON) with a version number, so all
replicas sharing a store see the management API's changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

from .windows import Window

Unit = Literal["requests", "tokens", "dollars"]
NANO = 1_000_000_000  # nano-dollars per dollar
# A settlement's outcome, for ``settle_behind``: (each counter's usage after, or None when settled
# before; None) or (None, the error ``settle`` would have raised).
Settled = Callable[[list[int] | None, BaseException | None], None]


class Limit(NamedTuple):  # a tuple: built on every admission, at a fraction of a frozen dataclass's cost
    key: str  # counter key, hash-tagged by entity: "{rl:<id>}:req", "{budget:<id>}"
    maximum: int
    window: Window
    unit: Unit
    owner: str  # for messages: "virtual key 'team-a'"
    limit_id: str
    duration: str
    kind: Literal["budget", "rate_limit"] = "rate_limit"


@dataclass(frozen=True, slots=True)
class Denial:
    index: int  # which limit (position in the request's list)
    used: int
    reserved: int
    start_ms: int


@dataclass(frozen=True, slots=True)
class Reading:
    used: int
    reserved: int
    start_ms: int | None


class Counters(Protocol):
    name: str

    async def reserve(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, ttl_ms: int
    ) -> Denial | None: ...

    async def settle(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> list[int] | None:
        """Drop reservation ``res_id`` and add ``amounts``: each counter's usage after, or None when
        this reservation was settled before (nothing changes)."""
        ...

    def settle_behind(
        self,
        limits: Sequence[Limit],
        amounts: Sequence[int],
        res_id: str,
        now_ms: int,
        marker_ttl_ms: int,
        done: Settled,
    ) -> None:
        """``settle`` without waiting for its outcome: when this returns the settlement is applied,
        or (a remote store) on its way, ahead of every later call of this process; ``done`` gets
        what ``settle`` would return (error None) or the error it would raise (totals None) once
        that is known. ``drain`` waits for the outcomes of the settlements started before it."""
        ...

    async def drain(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds) until every settlement started so far has its outcome
        (its ``done`` called): then reads, and another process, see them."""
        ...

    async def read(self, limits: Sequence[Limit], now_ms: int) -> list[Reading]: ...

    async def reset(self, keys: Sequence[str]) -> None: ...

    async def seed(self, limit: Limit, used: int, now_ms: int) -> None:
        """Set a counter's usage unless it exists (``current_usage`` from config.json)."""
        ...

    async def doc_version(self) -> int: ...

    async def load_doc(self) -> tuple[int, bytes | None]: ...

    async def save_doc(self, data: bytes, expected_version: int | None) -> int | None:
        """Store the document; None when ``expected_version`` is stale (someone else wrote)."""
        ...


@dataclass(slots=True)
class _Counter:
    start: int
    used: int = 0
    held: dict[str, tuple[int, int]] = field(default_factory=dict)  # res_id -> (amount, expires_ms)
    held_total: int = 0
    soonest: int = 0  # earliest expiry among ``held`` (a lower bound): no scan before it

    def reserved(self, now_ms: int) -> int:
        if self.held and self.soonest <= now_ms:
            for rid in [rid for rid, (_, exp) in self.held.items() if exp <= now_ms]:
                self.held_total -= self.held.pop(rid)[0]
            self.soonest = min((exp for _, exp in self.held.values()), default=0)
        return self.held_total

    def hold(self, res_id: str, amount: int, expires_ms: int) -> None:
        self.release(res_id)  # a new hold replaces the one of the same id
        held = self.held
        held[res_id] = (amount, expires_ms)
        self.held_total += amount
        if len(held) == 1 or expires_ms < self.soonest:
            self.soonest = expires_ms

    def release(self, res_id: str) -> None:
        """Drop the hold of ``res_id``, if any."""
        if self.held:
            entry = self.held.pop(res_id, None)
            if entry is not None:
                self.held_total -= entry[0]

    def roll(self, window: Window) -> None:
        if self.start <= window.threshold_ms:
            self.start, self.used = window.start_ms, 0


class MemoryCounters:
    """``Counters`` in this process (one gateway process, or the local side of ``fail_open``)."""

    name = "memory"

    def __init__(self) -> None:
        self._counters: dict[str, _Counter] = {}
        self._settled: dict[str, int] = {}  # res_id -> expires_ms
        self._expiries: deque[tuple[int, str]] = deque()  # (expires_ms, res_id), oldest first
        self._doc: bytes | None = None
        self._version = 0

    async def reserve(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, ttl_ms: int
    ) -> Denial | None:
        table = self._counters
        counters = []
        for limit in limits:  # every counter created or rolled into its window first, then checked
            window = limit.window
            counter = table.get(limit.key)
            if counter is None:
                counter = table[limit.key] = _Counter(window.start_ms)
            elif counter.start <= window.threshold_ms:
                counter.start, counter.used = window.start_ms, 0
            counters.append(counter)
        for index, counter in enumerate(counters):
            # ``reserved()`` only when a reservation may have expired
            reserved = counter.reserved(now_ms) if counter.held and counter.soonest <= now_ms else counter.held_total
            if counter.used + reserved + amounts[index] > limits[index].maximum:
                return Denial(index, counter.used, reserved, counter.start)
        expires = now_ms + ttl_ms
        for index, counter in enumerate(counters):
            counter.hold(res_id, amounts[index], expires)
        return None

    async def settle(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> list[int] | None:
        return self._settle(limits, amounts, res_id, now_ms, marker_ttl_ms)

    def settle_behind(
        self,
        limits: Sequence[Limit],
        amounts: Sequence[int],
        res_id: str,
        now_ms: int,
        marker_ttl_ms: int,
        done: Settled,
    ) -> None:
        """``settle``, applied before this returns; ``done`` gets its totals at once."""
        done(self._settle(limits, amounts, res_id, now_ms, marker_ttl_ms), None)

    async def drain(self, timeout: float | None = None) -> None:
        """Nothing to wait for: settlements here are applied when they are made."""

    def _settle(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> list[int] | None:
        if not self._mark(res_id, now_ms, marker_ttl_ms):
            return None
        table = self._counters
        out = []
        for index, limit in enumerate(limits):
            window = limit.window  # created or rolled, as in ``reserve``
            counter = table.get(limit.key)
            if counter is None:
                counter = table[limit.key] = _Counter(window.start_ms)
            elif counter.start <= window.threshold_ms:
                counter.start, counter.used = window.start_ms, 0
            counter.release(res_id)
            counter.used += amounts[index]
            out.append(counter.used)
        return out

    def _mark(self, res_id: str, now_ms: int, marker_ttl_ms: int) -> bool:
        """Record the settlement of ``res_id``; False when it was settled before (a marker still live)."""
        settled = self._settled
        if settled.get(res_id, 0) > now_ms:
            return False
        expiries = self._expiries
        if expiries and expiries[0][0] <= now_ms:
            self._expire_markers(now_ms)
        expires = now_ms + marker_ttl_ms
        settled[res_id] = expires
        expiries.append((expires, res_id))
        return True

    def lane(self, rules: Sequence[tuple[str, int, int, int]], now_ms: int) -> Lane:
        """A ``Lane`` over the counters of ``rules`` (key, maximum, rolling window length in ms, unit
        index: 0 requests, 1 tokens, 2 dollars), each created as ``reserve`` creates it (a rolling
        window starting now) if it does not exist yet. Bind it when admitting at ``now_ms``: counters
        are never dropped from the table, so the lane keeps reading the same ones."""
        table = self._counters
        slots = []
        for key, maximum, length, unit in rules:
            counter = table.get(key)
            if counter is None:
                counter = table[key] = _Counter(now_ms)
            slots.append((counter, maximum, length, unit))
        return Lane(self, tuple(slots))

    def _expire_markers(self, now_ms: int) -> None:
        """Drop the settled markers that expired, oldest first: they share one TTL, so the queue is
        in expiry order and each marker is looked at once (a full scan per settlement, as before,
        cost O(markers) per request once a busy gateway held more than 10,000 of them)."""
        expiries, settled = self._expiries, self._settled
        while expiries and expiries[0][0] <= now_ms:
            expires, res_id = expiries.popleft()
            if settled.get(res_id) == expires:
                del settled[res_id]

    async def read(self, limits: Sequence[Limit], now_ms: int) -> list[Reading]:
        out = []
        for limit in limits:
            counter = self._counters.get(limit.key)
            if counter is None:
                out.append(Reading(0, 0, None))
                continue
            counter.roll(limit.window)
            out.append(Reading(counter.used, counter.reserved(now_ms), counter.start))
        return out

    async def reset(self, keys: Sequence[str]) -> None:
        for key in keys:
            counter = self._counters.get(key)
            if counter is not None:
                counter.used = 0

    async def seed(self, limit: Limit, used: int, now_ms: int) -> None:
        if limit.key not in self._counters:
            self._counters[limit.key] = _Counter(limit.window.start_ms, used)

    async def doc_version(self) -> int:
        return self._version

    async def load_doc(self) -> tuple[int, bytes | None]:
        return self._version, self._doc

    async def save_doc(self, data: bytes, expected_version: int | None) -> int | None:
        if expected_version is not None and expected_version != self._version:
            return None
        self._doc = data
        self._version += 1
        return self._version


class Lane:
    """One admission plan's counters in this process, bound once (no ``Limit`` per rule, no lookup by
    key): ``reserve`` and ``settle`` do what ``MemoryCounters.reserve`` and ``settle`` do for these
    limits with rolling windows. Amounts come as a menu, ``(requests, tokens, nano-dollars)``, and
    each limit takes the one of its unit. ``reserve`` returns False, having changed nothing but the
    windows' rolls and the expired reservations' purge (both of which the general path does the same
    way at the same clock reading), when a limit does not fit: the general path then says which."""

    __slots__ = ("_owner", "_slots")

    def __init__(self, owner: MemoryCounters, slots: tuple[tuple[_Counter, int, int, int], ...]) -> None:
        self._owner = owner
        self._slots = slots  # (counter, maximum, window length ms, unit index)

    def reserve(self, menu: tuple[int, int, int], res_id: str, now_ms: int, ttl_ms: int) -> bool:
        slots = self._slots
        for counter, _, length, _ in slots:  # every window rolled first, then checked, as in ``reserve``
            if counter.start <= now_ms - length:
                counter.start, counter.used = now_ms, 0
        for counter, maximum, _, unit in slots:
            reserved = counter.reserved(now_ms) if counter.held and counter.soonest <= now_ms else counter.held_total
            if counter.used + reserved + menu[unit] > maximum:
                return False
        expires = now_ms + ttl_ms
        for counter, _, _, unit in slots:  # counter.hold(res_id, menu[unit], expires), written out
            held = counter.held
            if held:
                replaced = held.pop(res_id, None)
                if replaced is not None:
                    counter.held_total -= replaced[0]
            amount = menu[unit]
            held[res_id] = (amount, expires)
            counter.held_total += amount
            if len(held) == 1 or expires < counter.soonest:
                counter.soonest = expires
        return True

    def settle(
        self, menu: tuple[int, int, int], res_id: str, now_ms: int, marker_ttl_ms: int, admitted_ms: int
    ) -> list[int] | None:
        """``MemoryCounters.settle`` of the reservation admitted at ``admitted_ms``: its windows are the
        admission's (as the ``Limit``s a general settlement passes), the marker's clock is ``now_ms``."""
        if not self._owner._mark(res_id, now_ms, marker_ttl_ms):
            return None
        out = []
        for counter, _, length, unit in self._slots:
            if counter.start <= admitted_ms - length:
                counter.start, counter.used = admitted_ms, 0
            held = counter.held  # counter.release(res_id), written out
            if held:
                entry = held.pop(res_id, None)
                if entry is not None:
                    counter.held_total -= entry[0]
            counter.used += menu[unit]
            out.append(counter.used)
        return out
