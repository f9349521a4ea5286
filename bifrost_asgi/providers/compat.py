"""OpenAI-compatible vendors as data: name -> (default base URL, path prefix, keyless).

Each preset is an ``OpenAIProvider`` with its own default root (``network_config.base_url``
overrides it, as in Bifrost) and ``max_tokens`` as the output-limit field, which every
compatible server understands (``max_completion_tokens`` is OpenAI's newer name).
Local servers (ollama, vllm, sgl) are keyless: requests go without ``Authorization`` unless a
key is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..settings import ProviderConfig
from .openai import OpenAIProvider

PRESETS: Mapping[str, tuple[str, str, bool]] = MappingProxyType(
    {
        "groq": ("https://api.groq.com/openai", "/v1", False),
        "mistral": ("https://api.mistral.ai", "/v1", False),
        "ollama": ("http://localhost:11434", "/v1", True),
        "openrouter": ("https://openrouter.ai/api", "/v1", False),
        "cerebras": ("https://api.cerebras.ai", "/v1", False),
        "xai": ("https://api.x.ai", "/v1", False),
        "deepseek": ("https://api.deepseek.com", "/v1", False),
        "together": ("https://api.together.xyz", "/v1", False),
        "fireworks": ("https://api.fireworks.ai/inference", "/v1", False),
        "perplexity": ("https://api.perplexity.ai", "", False),
        "vllm": ("http://localhost:8000", "/v1", True),
        "sgl": ("http://localhost:30000", "/v1", True),
        "nebius": ("https://api.tokenfactory.nebius.com", "/v1", False),
        "parasail": ("https://api.parasail.io", "/v1", False),
    }
)


def compat_provider(name: str, config: ProviderConfig) -> OpenAIProvider:
    """The preset called ``name`` (a ``KeyError`` for an unknown one: callers look names up in ``PRESETS``)."""
    base_url, path_prefix, keyless = PRESETS[name]
    return OpenAIProvider(
        name,
        config,
        default_base_url=base_url,
        path_prefix=path_prefix,
        keyless=keyless,
        max_tokens_field="max_tokens",
    )
