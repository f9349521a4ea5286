from __future__ import annotations

from bifrost_asgi.routing.cooldown import Cooldowns


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_key_cools_after_threshold_and_is_probed_after_cooldown() -> None:
    clock = Clock()
    cooldowns = Cooldowns(threshold=3, seconds=30, clock=clock)
    assert not cooldowns.failure("openai", 0)
    assert not cooldowns.failure("openai", 0)
    assert cooldowns.failure("openai", 0)
    assert cooldowns.cooling("openai", 0)
    assert cooldowns.snapshot() == {("openai", 0): 30.0}
    clock.now += 31
    assert not cooldowns.cooling("openai", 0)  # half-open: may be probed
    assert cooldowns.failure("openai", 0)  # a failed probe cools it again at once
    assert cooldowns.cooling("openai", 0)
    assert cooldowns.success("openai", 0)
    assert not cooldowns.cooling("openai", 0)
    assert cooldowns.snapshot() == {}


def test_retry_after_cools_immediately_for_that_long() -> None:
    clock = Clock()
    cooldowns = Cooldowns(threshold=3, seconds=30, clock=clock)
    assert cooldowns.failure("anthropic", 1, retry_after=5)
    assert cooldowns.cooling_keys("anthropic", [0, 1]) == {1}
    clock.now += 6
    assert cooldowns.cooling_keys("anthropic", [0, 1]) == set()
