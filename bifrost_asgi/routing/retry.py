"""Backoff between attempts: exponential, jittered by +-20 %, capped; upstream Retry-After wins when sane."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, initial_ms: float, max_ms: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): min(initial * 2^(n-1), max) * U(0.8, 1.2), capped at max."""
    base = min(initial_ms * float(2 ** max(attempt - 1, 0)), max_ms)
    jittered = base * rng.uniform(0.8, 1.2)
    return min(jittered, max_ms) / 1000.0


def retry_delay(
    attempt: int,
    *,
    initial_ms: float,
    max_ms: float,
    retry_after: float | None,
    max_retry_after: float,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before retrying, or ``None`` when the upstream asks for a longer wait than allowed."""
    if retry_after is not None and retry_after > 0:
        return None if retry_after > max_retry_after else retry_after
    return backoff_seconds(attempt, initial_ms, max_ms, rng)
