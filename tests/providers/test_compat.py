"""OpenAI-compatible presets: default roots, keyless local servers, ``max_tokens``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from bifrost_asgi.config.settings import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_asgi.neutral import ChatRequest, EmbeddingRequest, Message, TextPart
from bifrost_asgi.providers.compat import PRESETS, compat_provider

KEY = KeyConfig(value=SecretStr("k"))


def request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "model": "m",
        "messages": (Message("user", (TextPart("hi"),)),),
        "source_format": "anthropic",
        "max_tokens": 50,
    }
    fields.update(changes)
    return ChatRequest(**fields)


@pytest.mark.parametrize(
    ("name", "url", "keyless"),
    [
        ("groq", "https://api.groq.com/openai/v1/chat/completions", False),
        ("mistral", "https://api.mistral.ai/v1/chat/completions", False),
        ("ollama", "http://localhost:11434/v1/chat/completions", True),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions", False),
        ("cerebras", "https://api.cerebras.ai/v1/chat/completions", False),
        ("xai", "https://api.x.ai/v1/chat/completions", False),
        ("deepseek", "https://api.deepseek.com/v1/chat/completions", False),
        ("together", "https://api.together.xyz/v1/chat/completions", False),
        ("fireworks", "https://api.fireworks.ai/inference/v1/chat/completions", False),
        ("perplexity", "https://api.perplexity.ai/chat/completions", False),
        ("vllm", "http://localhost:8000/v1/chat/completions", True),
        ("sgl", "http://localhost:30000/v1/chat/completions", True),
        ("nebius", "https://api.tokenfactory.nebius.com/v1/chat/completions", False),
        ("parasail", "https://api.parasail.io/v1/chat/completions", False),
    ],
)
def test_preset_urls(name: str, url: str, keyless: bool) -> None:
    provider = compat_provider(name, ProviderConfig())
    assert (provider.name, provider.format, provider.keyless) == (name, "openai", keyless)
    assert provider.build_chat(request(), "m", KEY).url == url


def test_every_preset_is_tested_and_immutable() -> None:
    assert len(PRESETS) == 14
    with pytest.raises(TypeError):
        PRESETS["new"] = ("https://x", "/v1", False)  # type: ignore[index]
    with pytest.raises(KeyError):
        compat_provider("not-a-preset", ProviderConfig())


def test_base_url_override() -> None:
    config = ProviderConfig(network_config=NetworkConfig(base_url="http://gpu-box:11434"))
    provider = compat_provider("ollama", config)
    assert provider.build_chat(request(), "llama3", None).url == "http://gpu-box:11434/v1/chat/completions"
    assert "authorization" not in provider.build_chat(request(), "llama3", None).headers
    assert provider.build_chat(request(), "llama3", KEY).headers["authorization"] == "Bearer k"


def test_compat_servers_get_max_tokens() -> None:
    provider = compat_provider("groq", ProviderConfig())
    translated = orjson.loads(provider.build_chat(request(), "llama-3.3-70b", KEY).body or b"")
    assert translated["max_tokens"] == 50 and "max_completion_tokens" not in translated
    raw = {"model": "groq/llama", "messages": [], "max_completion_tokens": 9}
    passthrough = orjson.loads(
        provider.build_chat(request(source_format="openai", raw=raw), "llama-3.3-70b", KEY).body or b""
    )
    assert passthrough == {"model": "llama-3.3-70b", "messages": [], "max_tokens": 9}
    both = {"model": "x", "max_tokens": 1, "max_completion_tokens": 2}
    kept = orjson.loads(provider.build_chat(request(source_format="openai", raw=both), "x", KEY).body or b"")
    assert kept == {"model": "x", "max_tokens": 2}  # max_completion_tokens wins, as at OpenAI


def test_mistral_quirks() -> None:
    provider = compat_provider("mistral", ProviderConfig())
    raw = {
        "model": "mistral/mistral-large-latest",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "seed": 4,
        "user": "u",
        "store": False,
        "metadata": {"a": "b"},
        "temperature": 0.3,
    }
    sent = orjson.loads(
        provider.build_chat(request(source_format="openai", raw=raw, stream=True), "mistral-large-latest", KEY).body
        or b""
    )
    assert sent == {
        "model": "mistral-large-latest",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "random_seed": 4,
        "temperature": 0.3,
    }
    translated = orjson.loads(
        provider.build_chat(request(stream=True, seed=1, user="u"), "mistral-small-latest", KEY).body or b""
    )
    assert "stream_options" not in translated and "user" not in translated
    assert translated["random_seed"] == 1 and translated["max_tokens"] == 50


def test_compat_embeddings_ask_for_floats() -> None:
    raw = {"model": "mistral/mistral-embed", "input": ["a"], "encoding_format": "base64", "user": "u"}
    embedding = EmbeddingRequest(model="m", inputs=("a",), raw=raw)
    sent = orjson.loads(
        compat_provider("mistral", ProviderConfig()).build_embeddings(embedding, "mistral-embed", KEY).body or b""
    )
    assert sent == {"model": "mistral-embed", "input": ["a"]}
    vllm = orjson.loads(compat_provider("vllm", ProviderConfig()).build_embeddings(embedding, "e5", None).body or b"")
    assert vllm == {"model": "e5", "input": ["a"], "user": "u"}


def test_other_presets_still_ask_for_stream_usage() -> None:
    sent = orjson.loads(
        compat_provider("deepseek", ProviderConfig()).build_chat(request(stream=True), "deepseek-chat", KEY).body or b""
    )
    assert sent["stream_options"] == {"include_usage": True}


def test_models_listing_uses_the_preset_root() -> None:
    listing = compat_provider("perplexity", ProviderConfig()).build_list_models(KEY)
    assert listing is not None and listing.url == "https://api.perplexity.ai/models"
