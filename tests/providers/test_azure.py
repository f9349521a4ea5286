"""Azure OpenAI: deployment URLs, api-key auth and the OpenAI body/answer handling it reuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from bifrost_asgi.config.settings import AzureKeyConfig, KeyConfig, ProviderConfig
from bifrost_asgi.errors import GatewayError
from bifrost_asgi.neutral import (
    ChatRequest,
    EmbeddingRequest,
    Message,
    StreamStart,
    TextDelta,
    TextPart,
    UpstreamFrame,
)
from bifrost_asgi.providers.azure import AzureProvider
from bifrost_asgi.providers.base import UpstreamResponse
from bifrost_asgi.streaming import SSEEvent

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
PROVIDER = AzureProvider("azure", ProviderConfig())
KEY = KeyConfig(
    value=SecretStr("azure-secret"),
    name="east",
    azure_key_config=AzureKeyConfig(
        endpoint="https://my-resource.openai.azure.com/",
        deployments={"gpt-4o": "prod-gpt4o"},
        api_version="2024-10-21",
    ),
)


def request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {"model": "azure/gpt-4o", "messages": (Message("user", (TextPart("hi"),)),)}
    fields.update(changes)
    return ChatRequest(**fields)


def test_chat_url_uses_the_deployment_and_api_version() -> None:
    upstream = PROVIDER.build_chat(request(), "gpt-4o", KEY)
    assert upstream.url == (
        "https://my-resource.openai.azure.com/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    )
    assert upstream.headers["api-key"] == "azure-secret"
    assert "authorization" not in upstream.headers
    assert PROVIDER.format == "openai" and PROVIDER.keyless is False


def test_unmapped_model_is_its_own_deployment() -> None:
    url = PROVIDER.build_chat(request(), "gpt 4o/mini", KEY).url
    assert "/openai/deployments/gpt%204o%2Fmini/chat/completions?" in url


def test_bodies_are_openai_bodies() -> None:
    raw = {"model": "azure/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    upstream = PROVIDER.build_chat(request(raw=raw, stream=True), "gpt-4o", KEY)
    assert upstream.stream is True
    assert orjson.loads(upstream.body or b"") == {**raw, "model": "gpt-4o", "stream_options": {"include_usage": True}}
    legacy = PROVIDER.build_chat(request(raw={"model": "m", "prompt": "x"}, text_completion=True), "gpt-4o", KEY)
    assert "/deployments/prod-gpt4o/completions?" in legacy.url


def test_embeddings() -> None:
    embedding = EmbeddingRequest(model="azure/text-embedding-3-small", inputs=("a",), source_format="gemini")
    upstream = PROVIDER.build_embeddings(embedding, "text-embedding-3-small", KEY)
    assert "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21" in upstream.url
    assert orjson.loads(upstream.body or b"") == {"model": "text-embedding-3-small", "input": ["a"]}
    body = (FIXTURES / "embeddings_base64.json").read_bytes()
    parsed = PROVIDER.parse_embeddings(UpstreamResponse(200, {}, body), embedding, "m")
    assert len(parsed.vectors) == 2


@pytest.mark.parametrize("key", [KeyConfig(value=SecretStr("super-secret-value"), name="west"), None])
def test_missing_endpoint_is_a_config_error(key: KeyConfig | None) -> None:
    with pytest.raises(GatewayError) as caught:
        PROVIDER.build_chat(request(), "gpt-4o", key)
    assert caught.value.status == 500
    assert "providers.azure.keys[" in caught.value.message
    assert ".azure_key_config.endpoint" in caught.value.message
    assert "super-secret-value" not in caught.value.message
    if key is not None:
        assert "keys[west]" in caught.value.message


def test_answers_streams_and_errors_are_parsed_as_openai() -> None:
    raw = (FIXTURES / "chat_response_text.json").read_bytes()
    response = PROVIDER.parse_chat(UpstreamResponse(200, {}, raw), request(source_format="anthropic"), "gpt-4o")
    assert response.raw_format == "openai" and response.message.text() == "Hello! How can I help?"
    data = '{"id":"a","choices":[{"index":0,"delta":{"content":"x"}}]}'
    parser = PROVIDER.stream_parser(request(stream=True, source_format="anthropic"), "gpt-4o")
    assert list(parser.feed(SSEEvent(data))) == [StreamStart("a", "gpt-4o"), TextDelta("x")]
    relayed = list(PROVIDER.stream_parser(request(stream=True), "gpt-4o").feed(SSEEvent(data)))  # an OpenAI client
    frame = UpstreamFrame("openai", None, data, orjson.loads(data))
    assert relayed == [frame, StreamStart("a", "gpt-4o"), TextDelta("x")]
    error = PROVIDER.parse_error(
        UpstreamResponse(429, {"retry-after": "4"}, (FIXTURES / "error_rate_limit.json").read_bytes())
    )
    assert (error.status, error.retry_after, error.raw_format) == (429, 4.0, "openai")


def test_no_model_listing_or_counting() -> None:
    assert PROVIDER.build_list_models(KEY) is None
    assert PROVIDER.build_count_tokens(request(), "gpt-4o", KEY) is None
