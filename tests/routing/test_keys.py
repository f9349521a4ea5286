from __future__ import annotations

import random
from collections import Counter

from pydantic import SecretStr

from bifrost_asgi.config.settings import AzureKeyConfig, KeyConfig
from bifrost_asgi.routing.keys import eligible_keys, key_allows, pick_weighted, select_key


def key(value: str = "sk", **kwargs: object) -> KeyConfig:
    return KeyConfig(value=SecretStr(value), **kwargs)  # type: ignore[arg-type]


def test_weights_split_requests_about_80_20() -> None:
    keys = [key("a", weight=0.8), key("b", weight=0.2)]
    rng = random.Random(1234)
    counts = Counter(pick_weighted([0, 1], keys, rng) for _ in range(1000))
    assert 760 <= counts[0] <= 840
    assert counts[0] + counts[1] == 1000


def test_key_whose_models_exclude_the_model_is_never_used() -> None:
    keys = [key("a", weight=0.9, models=["gpt-4o"]), key("b", weight=0.1, models=["gpt-4o-mini"])]
    rng = random.Random(0)
    candidates = eligible_keys(keys, "gpt-4o-mini", keyless=False)
    assert candidates == [1]
    picks = {select_key(keys, candidates, rng) for _ in range(500)}
    assert picks == {1}


def test_blacklist_wins_over_models_and_disabled_keys_are_skipped() -> None:
    assert not key_allows(key(models=["m"], blacklisted_models=["m"]), "m", keyless=False)
    assert not key_allows(key(enabled=False), "m", keyless=False)
    assert key_allows(key(), "anything", keyless=False)


def test_empty_value_only_allowed_for_keyless_providers() -> None:
    assert not key_allows(key(""), "m", keyless=False)
    assert key_allows(key(""), "m", keyless=True)


def test_azure_deployments_restrict_models() -> None:
    azure = key(azure_key_config=AzureKeyConfig(endpoint="https://x", deployments={"gpt-4o": "prod-4o"}))
    assert key_allows(azure, "gpt-4o", keyless=False)
    assert not key_allows(azure, "gpt-4o-mini", keyless=False)


def test_all_zero_weights_choose_uniformly() -> None:
    keys = [key("a", weight=0), key("b", weight=0)]
    rng = random.Random(7)
    counts = Counter(pick_weighted([0, 1], keys, rng) for _ in range(1000))
    assert 400 <= counts[0] <= 600


def test_excluded_and_cooling_keys() -> None:
    keys = [key("a"), key("b"), key("c")]
    rng = random.Random(3)
    assert {select_key(keys, [0, 1, 2], rng, exclude={0}, cooling={1}) for _ in range(50)} == {2}
    # Only cooling keys left: still usable rather than failing outright.
    assert select_key(keys, [0, 1], rng, exclude={0}, cooling={1}) == 1
    assert select_key(keys, [0], rng, exclude={0}) is None
