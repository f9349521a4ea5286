"""Which dialect each path is served and answered in: from the route's prefix, never a substring."""

from __future__ import annotations

import re

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


def _served(app: object) -> set[tuple[str, str]]:
    """(method, path shape) of every route the app serves (parameter names dropped)."""
    shapes = set()
    for route in getattr(app, "routes", []):
        for method in getattr(route, "methods", None) or ():
            shapes.add((method, re.sub(r"\{\w+(?::\w+)?\}", "{}", route.path)))
    return shapes


_SDK_PREFIXES = ("/anthropic", "/genai", "/bedrock")
_NOT_SDK = ("/openai", "/api/", "/mcp", "/health", "/metrics", "/v1/mcp/", "/openai_passthrough",
            "/anthropic_passthrough", "/genai_passthrough", "/langchain", "/litellm", "/pydanticai")  # fmt: skip


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
def test_each_integration_prefix_serves_every_route_the_sdk_prefixes_serve(prefix: str) -> None:
    """What the root serves for the OpenAI SDK, ``/anthropic``, ``/genai`` and ``/bedrock`` serve
    for theirs, and ``/openai/deployments/...`` for AzureOpenAI, an integration prefix serves too."""
    served = _served(bifrost_app(config=CONFIG))
    expected = set()
    for method, path in served:
        if path.startswith("/openai/deployments/"):
            expected.add((method, prefix + path))
        elif any(path.startswith(p + "/") for p in _SDK_PREFIXES):
            expected.add((method, prefix + path[path.index("/", 1) :]))
        elif path.startswith("/") and not path.startswith(_NOT_SDK) and not path.startswith(_SDK_PREFIXES):
            expected.add((method, prefix + path))
    assert len(expected) > 80  # files, batches, images, audio, models, tokens, chat, messages, GenAI, Bedrock
    assert sorted(expected - served) == []


@pytest.mark.anyio
async def test_an_unknown_path_under_a_prefix_is_a_404_naming_it() -> None:
    app = bifrost_app(config=CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        missing = await client.get("/litellm/v1/nothing-here")
        anthropic = await client.get("/langchain/v1/messages/nothing", headers={"anthropic-version": "2023-06-01"})
    assert missing.status_code == 404 and "/litellm/v1/nothing-here" in missing.json()["error"]["message"]
    assert anthropic.status_code == 404 and anthropic.json()["type"] == "error"
    assert "/langchain/v1/messages/nothing" in anthropic.json()["error"]["message"]


@pytest.mark.anyio
async def test_the_anthropic_model_list_entries_with_a_provider_prefix_can_be_retrieved() -> None:
    """The Anthropic list shows ``provider/model`` names: ``models.retrieve`` of one is not a 404."""
    app = bifrost_app(config=CONFIG)
    headers = {"anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        listed = await client.get("/anthropic/v1/models", headers=headers)
        first = listed.json()["data"][0]["id"]
        retrieved = await client.get(f"/anthropic/v1/models/{first}", headers=headers)
        prefixed = await client.get(f"/langchain/v1/models/{first}", headers=headers)
    assert "/" in first
    assert retrieved.status_code == 200 and retrieved.json()["id"] == first
    assert prefixed.status_code == 200 and prefixed.json()["id"] == first
