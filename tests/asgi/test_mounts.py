"""Which dialect each path is served and answered in: from the route's prefix, never a substring."""

from __future__ import annotations

import pytest

from bifrost_asgi.asgi.app import bifrost_app
from bifrost_asgi.asgi.mounts import dialect_for_path, sniff_dialect
from bifrost_asgi.upstream._http import httpx

CONFIG = {"providers": {"mock": {"keys": []}}}


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/genai/v1beta/models/anthropic/claude:generateContent", "gemini"),  # "anthropic" deeper in: still GenAI
        ("/anthropic/v1/messages", "anthropic"),
        ("/openai/v1/anthropic/x", "openai"),
        ("/v1/nope", "openai"),
        ("/langchain/v1/messages", "anthropic"),
        ("/langchain/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
        ("/litellm/v1/models/gemini-2.5-flash:streamGenerateContent", "gemini"),
        ("/pydanticai/chat/completions", "openai"),
        ("/anthropic_passthrough/v1/anything", "anthropic"),
        ("/genai_passthrough/v1beta/cachedContents", "gemini"),
    ],
)
def test_dialect_from_the_route_prefix(path: str, dialect: str) -> None:
    assert dialect_for_path(path) == dialect


def test_shared_paths_are_told_apart_by_the_sdk_headers() -> None:
    assert sniff_dialect({"anthropic-version": "2023-06-01"}, {}) == "anthropic"
    assert sniff_dialect({"x-goog-api-key": "k"}, {}) == "gemini"
    assert sniff_dialect({"authorization": "Bearer k"}, {}) == "openai"


@pytest.mark.anyio
async def test_errors_in_the_prefix_dialect_and_unknown_genai_methods_are_404() -> None:
    app = bifrost_app(config=CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        genai = await client.post("/genai/v1beta/models/anthropic/claude-x:nope", json={})
        anthropic = await client.get("/anthropic/v1/nothing")
        listed = await client.get("/langchain/v1/models", headers={"anthropic-version": "2023-06-01"})
        openai_list = await client.get("/litellm/v1/models")
    assert genai.status_code == 404
    assert genai.json()["error"]["status"] == "NOT_FOUND" and ":nope" in genai.json()["error"]["message"]
    assert anthropic.status_code == 404 and anthropic.json()["type"] == "error"
    assert listed.status_code == 200 and listed.json()["has_more"] is False  # Anthropic's list shape
    assert openai_list.json()["object"] == "list"


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
async def test_every_dialect_under_each_integration_prefix(prefix: str) -> None:
    app = bifrost_app(config=CONFIG)
    chat = {"model": "mock/m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        openai_v1 = await client.post(f"{prefix}/v1/chat/completions", json=chat)
        openai_bare = await client.post(f"{prefix}/chat/completions", json=chat)
        anthropic = await client.post(f"{prefix}/v1/messages", json={**chat, "max_tokens": 10})
        tokens = await client.post(f"{prefix}/v1/messages/count_tokens", json=chat)
        genai = await client.post(
            f"{prefix}/v1beta/models/mock/m:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
        )
    assert openai_v1.json()["choices"][0]["message"]["content"] == "Echo: hi"
    assert openai_bare.status_code == 200
    assert anthropic.json()["content"][0]["text"] == "Echo: hi"
    assert tokens.json()["input_tokens"] > 0
    assert genai.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi"
