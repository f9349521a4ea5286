"""Model resolution: which provider and upstream model a request's ``model`` (and fallbacks) mean.

``provider/model`` splits on the first ``/`` only when the prefix is a configured or known
provider (so ``meta-llama/Llama-3.1-8B`` stays whole). A bare name resolves, in order, to: a
configured alias (weighted pick, other targets become fallbacks); the provider whose keys list it
in ``models``; the configured provider of its model family (gpt-* -> openai, claude-* ->
anthropic, ...); the route's default provider; the only configured provider.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config.settings import (
    STANDARD_PROVIDERS,
    UNSUPPORTED_BIFROST_PROVIDERS,
    ProviderConfig,
    RouteTarget,
    RoutingConfig,
)
from ..errors import InvalidRequestError, ServiceUnavailableError
from ..neutral import ModelInfo

KNOWN_PROVIDERS = STANDARD_PROVIDERS | UNSUPPORTED_BIFROST_PROVIDERS
#: Resolved plans kept (model names come from clients: the cache is bounded, later names resolve each time).
MAX_CACHED_PLANS = 4096

# (prefix, provider) in match order: the first configured provider whose family matches wins.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"), ("chatgpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("text-embedding-3", "openai"), ("text-embedding-ada", "openai"), ("davinci", "openai"),
    ("babbage", "openai"), ("omni-moderation", "openai"), ("dall-e-", "openai"), ("tts-", "openai"),
    ("whisper-", "openai"),
    ("text-embedding-004", "gemini"), ("text-embedding-005", "gemini"),  # before azure's text-embedding-*
    ("gpt-", "azure"), ("o1", "azure"), ("o3", "azure"), ("o4", "azure"), ("text-embedding-", "azure"),
    ("dall-e-", "azure"), ("tts-", "azure"), ("whisper", "azure"),
    ("claude-", "anthropic"),
    ("gemini-", "gemini"), ("gemma-", "gemini"), ("gemini-embedding", "gemini"), ("embedding-", "gemini"),
    ("mistral-", "mistral"), ("mixtral-", "mistral"), ("codestral", "mistral"), ("ministral", "mistral"),
    ("pixtral", "mistral"), ("magistral", "mistral"), ("devstral", "mistral"),
    ("grok-", "xai"), ("deepseek-", "deepseek"), ("sonar", "perplexity"),
    ("llama3", "cerebras"),
)  # fmt: skip


NO_PROVIDERS_FIX = (
    "Fix: give the gateway a configuration (bifrost_app(config=\"config.json\"), BIFROST_CONFIG=config.json "
    "or bifrost-asgi --config config.json), set a vendor key such as OPENAI_API_KEY in its environment, "
    "or set BIFROST_DEMO=1 for the offline demo"
)


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class Planner:
    """Pure resolution over the configured providers and routing table; randomness injected."""

    def __init__(self, providers: Mapping[str, ProviderConfig], routing: RoutingConfig) -> None:
        self._providers = providers
        self._routing = routing
        self._listed: dict[str, str] = {}
        # Plans of names that are not aliases (resolution is pure), by (model, fallbacks, default).
        self._plans: dict[tuple[str, tuple[str, ...], str | None], tuple[Target, ...]] = {}
        for name, config in providers.items():
            for key in config.keys:
                for model in key.models:
                    self._listed.setdefault(model, name)

    @property
    def provider_names(self) -> list[str]:
        return list(self._providers)

    def alias_models(self) -> list[ModelInfo]:
        """One entry per ``routing.aliases`` name a client can send, owned by its first target's provider."""
        return [
            ModelInfo(id=name, provider=targets[0].target.partition("/")[0], alias=True)
            for name, targets in self._routing.aliases.items()
            if targets
        ]

    def is_alias(self, model: str) -> bool:
        """Whether ``model`` names a ``routing.aliases`` entry (its plan draws a weighted pick)."""
        return model in self._routing.aliases

    def plan(
        self,
        model: str,
        fallbacks: Sequence[str],
        *,
        default_provider: str | None,
        rng: random.Random,
    ) -> list[Target]:
        """Primary target first, then the request's fallbacks, then configured default fallbacks."""
        if not self._providers:
            raise ServiceUnavailableError(
                f"no providers are configured, so no model can be served. {NO_PROVIDERS_FIX}",
                code="no_providers_configured",
                kind="api_error",
            )
        if not model:
            raise InvalidRequestError("model: required, e.g. 'openai/gpt-4o-mini'", param="model")
        key = (model, tuple(fallbacks), default_provider)
        cached = self._plans.get(key)
        if cached is not None:
            return list(cached)
        targets = self._primary(model, default_provider, rng)
        configured = self._configured_fallbacks(model, targets[0])
        for index, entry in enumerate(fallbacks):
            targets.append(self._fallback(entry, index, default_provider))
        for entry in configured:
            targets.append(self._fallback(entry, None, default_provider))
        unique: list[Target] = []
        for target in targets:
            if target not in unique:
                unique.append(target)
        if model not in self._routing.aliases and len(self._plans) < MAX_CACHED_PLANS:
            self._plans[key] = tuple(unique)  # no weighted pick in it: the same plan every time
        return unique

    def _configured_fallbacks(self, model: str, primary: Target) -> Sequence[str]:
        """``routing.fallbacks`` for the model as requested, else as resolved: an entry for
        ``gpt-4o`` also serves ``openai/gpt-4o`` and the other way round."""
        table = self._routing.fallbacks
        for name in (model, str(primary), primary.model):
            if name in table:
                return table[name]
        return ()

    def _primary(self, model: str, default_provider: str | None, rng: random.Random) -> list[Target]:
        alias = self._routing.aliases.get(model)
        if alias:
            return self._weighted(alias, rng, model)
        return [self.resolve(model, default_provider, field="model")]

    def _weighted(self, alias: Sequence[RouteTarget], rng: random.Random, name: str) -> list[Target]:
        resolved = [(self.resolve(t.target, None, field=f"routing.aliases.{name}"), t.weight) for t in alias]
        total = sum(weight for _, weight in resolved)
        if total <= 0:
            return [target for target, _ in resolved]
        point = rng.uniform(0, total)
        chosen = len(resolved) - 1
        for index, (_, weight) in enumerate(resolved):
            point -= weight
            if point < 0:
                chosen = index
                break
        rest = sorted((pair for i, pair in enumerate(resolved) if i != chosen), key=lambda pair: -pair[1])
        return [resolved[chosen][0], *(target for target, _ in rest)]

    def _fallback(self, entry: str, index: int | None, default_provider: str | None) -> Target:
        where = f"fallbacks[{index}]" if index is not None else "routing.fallbacks"
        return self.resolve(entry, default_provider, field=where)

    def resolve(self, model: str, default_provider: str | None, *, field: str) -> Target:
        prefix, slash, rest = model.partition("/")
        if slash and (prefix in self._providers or prefix in KNOWN_PROVIDERS):
            if prefix not in self._providers:
                raise InvalidRequestError(
                    f"{field}: provider '{prefix}' in '{model}' is not configured; configured providers: "
                    f"{self._names()}",
                    param=field,
                    code="provider_not_configured",
                )
            if not rest:
                raise InvalidRequestError(f"{field}: '{model}' names no model after '{prefix}/'", param=field)
            return Target(prefix, rest)
        listed = self._listed.get(model)
        if listed is not None:
            return Target(listed, model)
        for family, provider in _FAMILIES:
            if model.startswith(family) and provider in self._providers:
                return Target(provider, model)
        if default_provider is not None and default_provider in self._providers:
            return Target(default_provider, model)
        if len(self._providers) == 1:
            return Target(next(iter(self._providers)), model)
        raise InvalidRequestError(
            f"{field}: cannot tell which provider serves '{model}'. Use the 'provider/model' form "
            f"(e.g. 'openai/{model}'); configured providers: {self._names()}",
            param=field,
            code="model_not_found",
        )

    def _names(self) -> str:
        return ", ".join(sorted(self._providers)) or "(none)"
