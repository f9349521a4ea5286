"""The app's own routing: fixed paths by dict lookup, templated ones through Starlette, JSON 404/405."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.asgi.app import _read_body, bifrost_app
from bifrost_asgi.errors import InvalidRequestError, RequestTooLargeError
from bifrost_asgi.upstream._http import httpx

pytestmark = pytest.mark.anyio

CONFIG = {"providers": {"mock": {"keys": []}}}
CHAT = {"model": "mock/m", "messages": [{"role": "user", "content": "hi"}]}


def test_fixed_inference_paths_skip_the_route_walk() -> None:
    app = bifrost_app(config=CONFIG)
    fast = set(app.fast_routes)  # type: ignore[attr-defined]
    for path in ("/v1/chat/completions", "/openai/v1/chat/completions", "/openai/chat/completions"):
        assert ("POST", path) in fast
    assert ("POST", "/anthropic/v1/messages") in fast
    assert ("GET", "/v1/models") in fast
    assert not any("{" in path for _, path in fast)


async def test_fast_and_starlette_paths_answer_alike_also_under_a_root_path() -> None:
    app = bifrost_app(config=CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        fast = await client.post("/v1/chat/completions", json=CHAT)
        templated = await client.post("/genai/v1beta/models/mock/m:generateContent", json={"contents": [
            {"role": "user", "parts": [{"text": "hi"}]}]})  # fmt: skip
        missing = await client.get("/v1/nope")
        wrong_method = await client.get("/v1/chat/completions")
    assert fast.status_code == 200 and fast.json()["choices"][0]["message"]["content"] == "Echo: hi"
    assert templated.status_code == 200
    assert templated.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi"
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert wrong_method.status_code == 405 and "not allowed" in wrong_method.json()["error"]["message"]

    mounted = bifrost_app(config=CONFIG)
    transport = httpx.ASGITransport(app=mounted, root_path="/llm")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/llm/v1/chat/completions", json=CHAT)
    assert response.status_code == 200


def _reference_read(messages: list[dict[str, object]], limit: int) -> bytes | str:
    """What the body read gives for ``messages`` (the loop it had before its one-message shortcut):
    the body, or the kind of error."""
    chunks: list[bytes] = []
    size = 0
    for message in messages:
        if message["type"] == "http.disconnect":
            return "disconnected"
        chunk = message.get("body", b"")
        assert isinstance(chunk, bytes)
        if chunk:
            size += len(chunk)
            if size > limit:
                return "too large"
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@given(
    st.lists(st.binary(max_size=12), min_size=1, max_size=4),
    st.booleans(),
    st.integers(min_value=0, max_value=40),
    st.booleans(),
)
def test_the_body_read_gives_what_its_loop_gave(parts: list[bytes], disconnect: bool, limit: int, omit: bool) -> None:
    messages: list[dict[str, object]] = []
    for i, part in enumerate(parts):
        message: dict[str, object] = {"type": "http.request", "more_body": i < len(parts) - 1}
        if part or not omit:
            message["body"] = part
        if not message["more_body"] and omit:
            del message["more_body"]
        messages.append(message)
    if disconnect:
        messages.insert(len(messages) - 1, {"type": "http.disconnect"})
    feed = iter(messages)

    async def receive() -> dict[str, object]:
        return next(feed)

    async def read() -> bytes | str:
        try:
            return await _read_body(receive, {}, limit)
        except RequestTooLargeError:
            return "too large"
        except InvalidRequestError as exc:
            assert "disconnected" in exc.message
            return "disconnected"

    assert asyncio.run(read()) == _reference_read(messages, limit)
