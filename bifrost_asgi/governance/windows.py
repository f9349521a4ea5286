"""Reset windows, as Bifrost defines them.

* Rolling (default): a counter resets when ``now - window_start >= duration``; the new window starts now.
* ``calendar_aligned`` (an owner-level flag): windows of a day or longer snap to UTC boundaries
  (``1d`` midnight, ``1w`` Monday, ``1M`` the 1st, ``1Q`` the 1st of Jan/Apr/Jul/Oct, ``1Y`` 1 January);
  shorter windows ignore the flag. ``Nd``/``NM``... count whole units from the epoch boundary.

A window is described to the counters by ``(threshold_ms, start_ms)``: a stored window whose start is
``<= threshold_ms`` is over, and the next one starts at ``start_ms``. Pure functions, milliseconds;
``WindowRule`` is ``window()`` for one duration, parsed once (admission asks it on every request).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}
_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


class Window(NamedTuple):  # a tuple: built on every admission, at a fraction of a frozen dataclass's cost
    threshold_ms: int
    start_ms: int
    resets_at_ms: int  # when the current window ends (for retry-after and x-ratelimit-reset)


def parse(duration: str) -> tuple[int, str]:
    return int(duration[:-1]), duration[-1]


def duration_seconds(duration: str) -> int:
    count, unit = parse(duration)
    return count * _SECONDS[unit]


def window(duration: str, calendar_aligned: bool, now_ms: int) -> Window:
    count, unit = parse(duration)
    if not calendar_aligned or unit in "smh":
        length = max(1, count * _SECONDS[unit] * 1000)
        # Rolling: the stored start is compared against now - length; resets_at is an upper bound.
        return Window(now_ms - length, now_ms, now_ms + length)
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    start, end = _calendar(now, count, unit)
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    return Window(start_ms - 1, start_ms, end_ms)


class WindowRule:
    """``window(duration, calendar_aligned, now_ms)`` for one limit, with the duration parsed once: a
    rolling window is two subtractions; a calendar window is computed once per period and kept until
    ``now_ms`` leaves it (either way, as the clock moves)."""

    __slots__ = ("_current", "_duration", "length")

    def __init__(self, duration: str, calendar_aligned: bool) -> None:
        count, unit = parse(duration)
        self._duration = duration
        rolling = not calendar_aligned or unit in "smh"
        self.length = max(1, count * _SECONDS[unit] * 1000) if rolling else 0  # 0: calendar-aligned
        self._current: Window | None = None

    def at(self, now_ms: int) -> Window:
        length = self.length
        if length:
            return Window(now_ms - length, now_ms, now_ms + length)
        current = self._current
        if current is None or not current.start_ms <= now_ms < current.resets_at_ms:
            current = self._current = window(self._duration, True, now_ms)
        return current


def _calendar(now: datetime, count: int, unit: str) -> tuple[datetime, datetime]:
    count = max(count, 1)
    if unit == "d":
        days = (now - datetime(1970, 1, 1, tzinfo=UTC)).days // count * count
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=days)
        return start, start + timedelta(days=count)
    if unit == "w":
        weeks = (now - _EPOCH_MONDAY).days // 7 // count * count
        start = _EPOCH_MONDAY + timedelta(weeks=weeks)
        return start, start + timedelta(weeks=count)
    months = {"M": 1, "Q": 3, "Y": 12}[unit] * count
    index = ((now.year - 1970) * 12 + now.month - 1) // months * months
    return _month(index), _month(index + months)


def _month(index: int) -> datetime:
    return datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC)
