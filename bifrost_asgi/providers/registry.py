"""Provider types by name: an explicit table, no import-time registration side effects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..config.settings import ProviderConfig
from ..errors import ConfigError
from .anthropic import AnthropicProvider
from .azure import AzureProvider
from .base import Provider
from .bedrock import BedrockProvider
from .cohere import CohereProvider
from .compat import PRESETS, compat_provider
from .gemini import GeminiProvider
from .openai import OpenAIProvider
from .openai_build import Compat
from .vertex import VertexProvider

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


FACTORIES: Mapping[str, Callable[[str, ProviderConfig], Provider]] = MappingProxyType(
    {
        "openai": _openai,
        "anthropic": AnthropicProvider,
        "gemini": GeminiProvider,
        "azure": AzureProvider,
        "bedrock": BedrockProvider,
        "vertex": VertexProvider,
        "cohere": CohereProvider,
        "mock": _mock,
        **dict.fromkeys(PRESETS, compat_provider),
    }
)

_BASE_TYPES: Mapping[str, Callable[[str, ProviderConfig], Provider]] = MappingProxyType(
    {"openai": _openai, "anthropic": AnthropicProvider, "gemini": GeminiProvider}
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
