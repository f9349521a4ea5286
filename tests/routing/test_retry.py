from __future__ import annotations

import random

from bifrost_asgi.routing.retry import backoff_seconds, retry_delay


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    rng = random.Random(5)
    for attempt, base in ((1, 0.5), (2, 1.0), (3, 2.0)):
        delays = [backoff_seconds(attempt, 500, 5000, rng) for _ in range(200)]
        assert min(delays) >= base * 0.8 - 1e-9
        assert max(delays) <= base * 1.2 + 1e-9
    assert max(backoff_seconds(10, 500, 5000, rng) for _ in range(200)) <= 5.0


def test_retry_after_is_honoured_within_the_cap() -> None:
    rng = random.Random(0)
    assert retry_delay(1, initial_ms=500, max_ms=5000, retry_after=2.5, max_retry_after=30, rng=rng) == 2.5
    assert retry_delay(1, initial_ms=500, max_ms=5000, retry_after=120, max_retry_after=30, rng=rng) is None
    delay = retry_delay(1, initial_ms=500, max_ms=5000, retry_after=None, max_retry_after=30, rng=rng)
    assert delay is not None and 0.4 <= delay <= 0.6
