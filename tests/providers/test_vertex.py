"""The Vertex provider: URLs per publisher and region, Claude bodies without ``model``, delegation
to the Gemini and Anthropic formats, and the token cache (minted off the loop, refreshed early)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from typing import Any

import pytest

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.errors import ConfigError, UpstreamError
from bifrost_asgi.neutral import ChatRequest, EmbeddingRequest, Message, TextPart, Usage
from bifrost_asgi.providers.base import UpstreamResponse
from bifrost_asgi.providers.vertex import VertexProvider
from bifrost_asgi.providers.vertex_auth import GoogleTokens, TokenSource, service_account_info

KEY = KeyConfig.model_validate({"vertex_key_config": {"project_id": "proj-1", "region": "europe-west4"}})
GLOBAL = KeyConfig.model_validate({"vertex_key_config": {"project_id": "proj-1", "region": "global"}})


class StaticTokens:
    async def token(self) -> str:
        return "ya29.static"


def provider(*keys: KeyConfig) -> VertexProvider:
    sources: dict[str, TokenSource] = {"": StaticTokens()}
    return VertexProvider("vertex", ProviderConfig.model_validate({"keys": [k.model_dump() for k in keys]}),
                          sources=sources)  # fmt: skip


def chat(**options: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),), **options)


def test_gemini_urls_regional_and_global() -> None:
    vertex = provider(KEY)
    built = vertex.build_chat(chat(stream=True), "gemini-2.5-flash", KEY)
    assert built.url == ("https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-1/locations/europe-west4"
                         "/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse")  # fmt: skip
    assert "x-goog-api-key" not in built.headers and "authorization" not in built.headers
    built = vertex.build_chat(chat(), "gemini-2.5-flash", GLOBAL)
    assert built.url.startswith("https://aiplatform.googleapis.com/v1/projects/proj-1/locations/global/publishers/")
    counted = vertex.build_count_tokens(chat(), "gemini-2.5-flash", KEY)
    assert counted.url.endswith("/publishers/google/models/gemini-2.5-flash:countTokens")


def test_claude_body_has_no_model_and_the_vertex_version() -> None:
    vertex = provider(KEY)
    built = vertex.build_chat(chat(stream=True, max_tokens=50), "claude-sonnet-4-5@20250929", KEY)
    assert built.url.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    body = _json.loads(built.body or b"")
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"
    assert body["stream"] is True and body["max_tokens"] == 50
    raw = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "new_field": 1}
    passthrough = ChatRequest(model="claude-x", messages=(), source_format="anthropic", raw=raw,
                              passthrough_headers={"anthropic-beta": "b1"})  # fmt: skip
    built = vertex.build_chat(passthrough, "claude-x", KEY)
    assert _json.loads(built.body or b"") == {"max_tokens": 5, "messages": raw["messages"], "new_field": 1,
                                              "anthropic_version": "vertex-2023-10-16"}  # fmt: skip
    assert built.headers["anthropic-beta"] == "b1" and built.url.endswith(":rawPredict")
    counted = vertex.build_count_tokens(chat(), "claude-x", KEY)
    assert counted.url.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert _json.loads(counted.body or b"")["model"] == "claude-x"
    assert vertex.parse_count_tokens(UpstreamResponse(200, {}, b'{"input_tokens": 9}')) == 9


def test_errors_in_both_shapes() -> None:
    vertex = provider(KEY)
    google = vertex.parse_error(UpstreamResponse(
        429, {}, b'{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}'))  # fmt: skip
    assert google.status == 429 and "Quota exceeded" in google.message
    claude = vertex.parse_error(UpstreamResponse(
        529, {}, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'))  # fmt: skip
    assert claude.status == 529 and claude.raw_format == "anthropic"


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"vertex_key_config\.project_id is not set"):
        provider(KeyConfig.model_validate({"vertex_key_config": {"region": "us-central1"}}))
    with pytest.raises(ConfigError, match="not valid JSON"):
        service_account_info("{nope", "auth_credentials")
    with pytest.raises(ConfigError, match="no private_key"):
        service_account_info(json.dumps({"type": "service_account", "client_email": "a", "token_uri": "t"}), "x")
    assert service_account_info("", "x") is None


class FakeCredentials:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.token: str | None = None
        self.expiry: Any = None
        self.refreshes = 0
        self.threads: list[str] = []

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.threads.append(threading.current_thread().name)
        self.token = f"token-{self.refreshes}"
        self.expiry = dt.datetime.fromtimestamp(self.clock[0] + 3600, dt.UTC).replace(tzinfo=None)


def test_tokens_are_cached_and_refreshed_before_expiry_off_the_loop() -> None:
    now = [10_000.0]
    credentials = FakeCredentials(now)
    tokens = GoogleTokens(lambda: credentials, clock=lambda: now[0], margin=300, http_request=object)

    async def run() -> list[str]:
        first = await asyncio.gather(*(tokens.token() for _ in range(10)))
        now[0] += 3000  # 600 s left: cached
        second = await tokens.token()
        now[0] += 400  # 200 s left: inside the margin, refreshed
        third = await tokens.token()
        return [*first, second, third]

    got = asyncio.run(run())
    assert got == ["token-1"] * 11 + ["token-2"]
    assert credentials.refreshes == 2
    assert all(name != threading.main_thread().name for name in credentials.threads)


def test_a_failed_mint_is_a_401_without_secrets() -> None:
    class Broken(FakeCredentials):
        def refresh(self, request: Any) -> None:
            raise RuntimeError("invalid_grant: Invalid JWT Signature.")

    tokens = GoogleTokens(lambda: Broken([0.0]), http_request=object)
    with pytest.raises(UpstreamError) as info:
        asyncio.run(tokens.token())
    assert info.value.status == 401 and "Invalid JWT Signature" in info.value.message


def test_embeddings_through_predict() -> None:
    vertex = provider(KEY)
    built = vertex.build_embeddings(
        EmbeddingRequest("e", ("a", "b"), dimensions=8, task_type="RETRIEVAL_QUERY"), "gemini-embedding-001", KEY
    )
    assert built.url.endswith("/publishers/google/models/gemini-embedding-001:predict")
    assert _json.loads(built.body or b"") == {
        "instances": [{"content": t, "task_type": "RETRIEVAL_QUERY"} for t in ("a", "b")],
        "parameters": {"outputDimensionality": 8},
    }
    answer = {"predictions": [{"embeddings": {"values": [1, 2], "statistics": {"token_count": 3}}}] * 2}
    parsed = vertex.parse_embeddings(UpstreamResponse(200, {}, _json.dumps(answer)), EmbeddingRequest("e", ()), "e")
    assert parsed.vectors == ((1.0, 2.0), (1.0, 2.0)) and parsed.usage == Usage(input_tokens=6)
