from __future__ import annotations

import random
from collections import Counter

import pytest

from bifrost_asgi.config.settings import ProviderConfig, RoutingConfig
from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.routing.plan import Planner, Target


def planner(providers: dict[str, dict[str, object]], routing: dict[str, object] | None = None) -> Planner:
    configs = {name: ProviderConfig.model_validate(cfg) for name, cfg in providers.items()}
    return Planner(configs, RoutingConfig.model_validate(routing or {}))


KEY = {"keys": [{"value": "sk"}]}
RNG = random.Random(0)


def test_provider_prefix_splits_on_first_slash_only_for_known_providers() -> None:
    p = planner({"openai": KEY, "openrouter": KEY})
    assert p.resolve("openai/gpt-4o", None, field="model") == Target("openai", "gpt-4o")
    assert p.resolve("openrouter/anthropic/claude-3", None, field="model") == Target("openrouter", "anthropic/claude-3")
    # Not a provider prefix: the whole name is the model, resolved by the other rules.
    with pytest.raises(InvalidRequestError, match="cannot tell which provider"):
        p.resolve("meta-llama/Llama-3.1-8B", None, field="model")
    assert p.resolve("meta-llama/Llama-3.1-8B", "openrouter", field="model") == Target(
        "openrouter", "meta-llama/Llama-3.1-8B"
    )


def test_known_but_unconfigured_provider_is_a_clear_400() -> None:
    p = planner({"openai": KEY})
    with pytest.raises(
        InvalidRequestError, match=r"provider 'anthropic' .* is not configured; configured providers: openai"
    ):
        p.resolve("anthropic/claude-3-haiku", None, field="model")


def test_bare_model_resolution_order() -> None:
    p = planner(
        {
            "openai": KEY,
            "anthropic": KEY,
            "groq": {"keys": [{"value": "sk", "models": ["llama-3.1-8b-instant"]}]},
        }
    )
    assert p.resolve("llama-3.1-8b-instant", None, field="model") == Target("groq", "llama-3.1-8b-instant")
    assert p.resolve("gpt-4o-mini", None, field="model") == Target("openai", "gpt-4o-mini")
    assert p.resolve("o3-mini", None, field="model") == Target("openai", "o3-mini")
    assert p.resolve("text-embedding-3-small", None, field="model").provider == "openai"
    assert p.resolve("claude-3-5-sonnet", None, field="model") == Target("anthropic", "claude-3-5-sonnet")
    assert p.resolve("my-finetune", "anthropic", field="model") == Target("anthropic", "my-finetune")
    with pytest.raises(InvalidRequestError, match=r"provider/model"):
        p.resolve("my-finetune", None, field="model")


def test_family_only_when_that_provider_is_configured_else_only_provider() -> None:
    p = planner({"mistral": KEY})
    assert p.resolve("gpt-4o-mini", None, field="model") == Target("mistral", "gpt-4o-mini")


def test_fallbacks_are_validated_and_named() -> None:
    p = planner({"openai": KEY, "anthropic": KEY})
    targets = p.plan("gpt-4o", ["anthropic/claude-3-haiku"], default_provider=None, rng=RNG)
    assert targets == [Target("openai", "gpt-4o"), Target("anthropic", "claude-3-haiku")]
    with pytest.raises(InvalidRequestError, match=r"fallbacks\[1\]: provider 'gemini'"):
        p.plan("gpt-4o", ["anthropic/claude-3-haiku", "gemini/gemini-2.0-flash"], default_provider=None, rng=RNG)


def test_weighted_alias_picks_by_weight_and_keeps_the_rest_as_fallbacks() -> None:
    p = planner(
        {"openai": KEY, "anthropic": KEY},
        {
            "aliases": {
                "smart": [
                    {"target": "openai/gpt-4o-mini", "weight": 0.8},
                    {"target": "anthropic/claude-3-haiku", "weight": 0.2},
                ]
            },
            "fallbacks": {"smart": ["openai/gpt-4o"]},
        },
    )
    rng = random.Random(42)
    primaries: Counter[str] = Counter()
    for _ in range(1000):
        targets = p.plan("smart", [], default_provider=None, rng=rng)
        assert len(targets) == 3 and targets[-1] == Target("openai", "gpt-4o")
        primaries[targets[0].provider] += 1
    assert 750 <= primaries["openai"] <= 850


def test_missing_model_is_named() -> None:
    with pytest.raises(InvalidRequestError, match="model: required"):
        planner({"openai": KEY}).plan("", [], default_provider=None, rng=RNG)


def test_openai_media_families_and_gemini_embeddings_beside_azure() -> None:
    p = planner({"openai": KEY, "azure": KEY, "gemini": KEY})
    for model in ("tts-1", "whisper-1", "dall-e-3", "gpt-image-1"):
        assert p.resolve(model, None, field="model") == Target("openai", model)
    assert p.resolve("text-embedding-004", None, field="model") == Target("gemini", "text-embedding-004")
    assert p.resolve("text-embedding-3-small", None, field="model") == Target("openai", "text-embedding-3-small")
