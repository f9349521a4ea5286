"""Circuit breaking per key: after ``threshold`` consecutive failures (or a rate limit with a
Retry-After) a key cools down for a while, is skipped when others are available, and is probed
again once the cooldown has passed. A provider is cooling when all its keys are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _KeyState:
    failures: int = 0
    until: float = 0.0


class Cooldowns:
    def __init__(self, *, threshold: int, seconds: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._seconds = seconds
        self._clock = clock
        self._states: dict[tuple[str, int], _KeyState] = {}

    def cooling(self, provider: str, key_index: int) -> bool:
        state = self._states.get((provider, key_index))
        return state is not None and state.until > self._clock()

    def cooling_keys(self, provider: str, candidates: list[int]) -> set[int]:
        if not self._states:
            return set()
        return {i for i in candidates if self.cooling(provider, i)}

    def failure(self, provider: str, key_index: int, *, retry_after: float | None = None) -> bool:
        """Record a failure; returns True when the key (newly or again) starts cooling down."""
        state = self._states.setdefault((provider, key_index), _KeyState())
        state.failures += 1
        now = self._clock()
        if retry_after is not None and retry_after > 0:
            state.until = max(state.until, now + retry_after)
            return True
        if state.failures >= self._threshold and self._seconds > 0:
            state.until = now + self._seconds
            return True
        return False

    def success(self, provider: str, key_index: int) -> bool:
        """Record a success; returns True when the key was cooling or failing before."""
        if not self._states:  # the common case: nothing is failing
            return False
        state = self._states.pop((provider, key_index), None)
        return state is not None and state.failures > 0

    def snapshot(self) -> dict[tuple[str, int], float]:
        """Remaining cooldown seconds per (provider, key index), for health output."""
        now = self._clock()
        return {k: round(s.until - now, 3) for k, s in self._states.items() if s.until > now}
