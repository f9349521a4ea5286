"""Forwarded requests are built against each vendor's versioned root with the gateway's key and
none of the client's credentials; Anthropic results URLs are made relative to the gateway."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_asgi.errors import UnsupportedFeatureError
from bifrost_asgi.forwarding.service import _local_links
from bifrost_asgi.providers.anthropic import AnthropicProvider
from bifrost_asgi.providers.forward import ForwardCall, build_forward
from bifrost_asgi.providers.gemini import GeminiProvider
from bifrost_asgi.providers.openai import OpenAIProvider

KEY = KeyConfig(value=SecretStr("sk-gateway"))
CLIENT = {"authorization": "Bearer client", "x-api-key": "client", "content-type": "application/json",
          "x-bf-vk": "vk", "anthropic-beta": "files-api-2025-04-14"}  # fmt: skip


def test_openai_anthropic_and_gemini_roots_and_credentials() -> None:
    openai = OpenAIProvider("openai", ProviderConfig())
    built = build_forward(openai, "openai", ForwardCall("GET", "/files", "limit=2", CLIENT), KEY)
    assert built.url == "https://api.openai.com/v1/files?limit=2"
    assert built.headers["authorization"] == "Bearer sk-gateway" and "x-api-key" not in built.headers
    assert "x-bf-vk" not in built.headers

    anthropic = AnthropicProvider("anthropic", ProviderConfig())
    built = build_forward(anthropic, "anthropic", ForwardCall("POST", "/messages/batches", "", CLIENT, b"{}"), KEY)
    assert built.url == "https://api.anthropic.com/v1/messages/batches"
    assert built.headers["x-api-key"] == "sk-gateway" and "authorization" not in built.headers
    assert built.headers["anthropic-beta"] == "files-api-2025-04-14" and built.headers["anthropic-version"]

    gemini = GeminiProvider("gemini", ProviderConfig(network_config=NetworkConfig(base_url="http://g/v1beta")))
    built = build_forward(gemini, "gemini", ForwardCall("GET", "/cachedContents", "", {}), KEY)
    assert built.url == "http://g/v1beta/cachedContents" and built.headers["x-goog-api-key"] == "sk-gateway"
    upload = build_forward(gemini, "gemini", ForwardCall("POST", "/files", "", {}, upload=True), KEY)
    assert upload.url == "http://g/upload/v1beta/files"


def test_providers_without_forwarding_refuse_naming_themselves() -> None:
    with pytest.raises(UnsupportedFeatureError, match="'bedrock'"):
        build_forward(object(), "bedrock", ForwardCall("GET", "/x"), KEY)


def test_results_urls_become_relative() -> None:
    body = _json.dumps({"data": [{"id": "b", "results_url": "https://api.anthropic.com/v1/messages/batches/b/results"}]})
    assert _json.loads(_local_links(body))["data"][0]["results_url"] == "/v1/messages/batches/b/results"
