"""OpenAI-compatible vendors as data: name -> (default base URL, path prefix, keyless), plus the
few ways some of them depart from OpenAI (``QUIRKS``).

Each preset is an ``OpenAIProvider`` with its own default root (``network_config.base_url``
overrides it, as in Bifrost) and ``Compat`` behaviour: ``max_tokens`` as the output-limit field,
which every compatible server understands (``max_completion_tokens`` is OpenAI's newer name).
Local servers (ollama, vllm, sgl) are keyless: requests go without ``Authorization`` unless a
key is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..config.settings import ProviderConfig
from .openai import OpenAIProvider
from .openai_build import Compat

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

# Mistral validates strictly (422 "Extra inputs are not permitted"): it rejects
# ``stream_options`` (and sends usage in its last chunk anyway) and OpenAI's metadata fields,
# and calls the sampling seed ``random_seed``.
QUIRKS: Mapping[str, Compat] = MappingProxyType(
    {
        "mistral": Compat(
            stream_usage=False,
            drop=frozenset(
                {
                    "stream_options",
                    "user",
                    "safety_identifier",
                    "store",
                    "metadata",
                    "service_tier",
                    "prompt_cache_key",
                    "verbosity",
                }
            ),
            rename=(("seed", "random_seed"),),
        ),
    }
)
DEFAULT_COMPAT = Compat()


def compat_provider(name: str, config: ProviderConfig) -> OpenAIProvider:
    """The preset called ``name`` (a ``KeyError`` for an unknown one: callers look names up in ``PRESETS``)."""
    base_url, path_prefix, keyless = PRESETS[name]
    return OpenAIProvider(
        name,
        config,
        default_base_url=base_url,
        path_prefix=path_prefix,
        keyless=keyless,
        compat=QUIRKS.get(name, DEFAULT_COMPAT),
    )
