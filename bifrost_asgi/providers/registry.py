"""Provider types by name: an explicit table, no import-time registration side effects.

The providers most configurations never name (Azure, Bedrock, Vertex, Cohere, Gemini) are imported
when one is created, not with the gateway: their modules (and Bedrock's AWS code) cost memory in
every process that does not use them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..config.settings import ProviderConfig
from ..errors import ConfigError
from .anthropic import AnthropicProvider
from .base import Provider
from .compat import PRESETS, compat_provider
from .openai import OpenAIProvider
from .openai_build import Compat

Factory = Callable[[str, ProviderConfig], Provider]


def _lazy(module: str, attr: str) -> Factory:
    """A factory that imports ``module`` (relative to this package) when it first builds one."""

    def create(name: str, config: ProviderConfig) -> Provider:
        factory: Factory = getattr(importlib.import_module(module, __package__), attr)
        return factory(name, config)

    return create


_gemini = _lazy(".gemini", "GeminiProvider")

MOCK_BASE_URL = "mock://mock"


def _mock(name: str, config: ProviderConfig) -> Provider:
    mock = config.mock_config
    headers = {
        "x-mock-latency-ms": f"{mock.latency_ms:g}",
        "x-mock-chunk-delay-ms": f"{mock.chunk_delay_ms:g}",
    }
    network = config.network_config.model_copy(
        update={"extra_headers": {**headers, **config.network_config.extra_headers}}
    )
    return OpenAIProvider(
        name, config.model_copy(update={"network_config": network}), default_base_url=MOCK_BASE_URL, keyless=True
    )


def _openai(name: str, config: ProviderConfig) -> Provider:
    return OpenAIProvider(name, config, responses_api=True)


FACTORIES: Mapping[str, Factory] = MappingProxyType(
    {
        "openai": _openai,
        "anthropic": AnthropicProvider,
        "gemini": _gemini,
        "azure": _lazy(".azure", "AzureProvider"),
        "bedrock": _lazy(".bedrock", "BedrockProvider"),
        "vertex": _lazy(".vertex", "VertexProvider"),
        "cohere": _lazy(".cohere", "CohereProvider"),
        "mock": _mock,
        **dict.fromkeys(PRESETS, compat_provider),
    }
)

_BASE_TYPES: Mapping[str, Factory] = MappingProxyType(
    {"openai": _openai, "anthropic": AnthropicProvider, "gemini": _gemini}
)


def create_provider(name: str, config: ProviderConfig) -> Provider:
    """The provider implementation for a configured provider entry."""
    factory = FACTORIES.get(name)
    if factory is not None:
        return factory(name, config)
    custom = config.custom_provider_config
    if custom is None or not config.network_config.base_url:
        raise ConfigError(
            f"providers.{name}: unknown provider. Use one of {', '.join(sorted(FACTORIES))}, or describe a "
            f'custom one with "custom_provider_config": {{"base_provider_type": "openai"}} and '
            f'"network_config": {{"base_url": "https://..."}}'
        )
    if custom.base_provider_type == "openai":
        return OpenAIProvider(name, config, keyless=custom.is_key_less, compat=Compat())
    return _BASE_TYPES[custom.base_provider_type](name, config)
