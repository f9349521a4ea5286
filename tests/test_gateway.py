"""Gateway flow details that need no socket: abandoned streams, shutdown refusal, bad bodies."""

from __future__ import annotations

import logging

import pytest

from bifrost_asgi import _json
from bifrost_asgi.config.settings import BifrostSettings
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.gateway import Gateway
from bifrost_asgi.replies import JsonReply, StreamReply

pytestmark = pytest.mark.anyio

BODY = {"model": "mock/m", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}


def gateway() -> Gateway:
    return Gateway(BifrostSettings.model_validate({"providers": {"mock": {"keys": []}}}))


async def test_a_stream_abandoned_before_its_first_chunk_releases_everything() -> None:
    gw = gateway()
    reply = await gw.handle(
        OpenAIDialect(), "chat", Call(), _json.dumps(BODY), route="/v1/chat/completions", method="POST"
    )
    assert isinstance(reply, StreamReply)
    queue = gw.router.providers["mock"].queue
    assert gw.in_flight == 1 and queue.in_flight == 1
    await reply.chunks.aclose()  # the client left before anything was sent
    assert gw.in_flight == 0 and queue.in_flight == 0
    await gw.aclose()


async def test_a_stream_read_to_the_end_releases_everything() -> None:
    gw = gateway()
    reply = await gw.handle(
        OpenAIDialect(), "chat", Call(), _json.dumps(BODY), route="/v1/chat/completions", method="POST"
    )
    assert isinstance(reply, StreamReply)
    body = b"".join([chunk async for chunk in reply.chunks])
    await reply.chunks.aclose()
    assert body.endswith(b"data: [DONE]\n\n") and b"Echo:" in body
    assert gw.in_flight == 0 and gw.router.providers["mock"].queue.in_flight == 0
    await gw.aclose()


async def test_requests_during_shutdown_get_503_in_the_dialect() -> None:
    gw = gateway()
    await gw.shutdown()
    reply = await gw.handle(
        OpenAIDialect(),
        "chat",
        Call(),
        _json.dumps({**BODY, "stream": False}),
        route="/v1/chat/completions",
        method="POST",
    )
    assert isinstance(reply, JsonReply) and reply.status == 503
    assert "shutting down" in _json.loads(reply.body)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [(b"", "empty"), (b"{nope", "not valid JSON"), (b"[1]", "JSON object"), (b'{"messages": []}', "model")],
)
async def test_bad_bodies_are_400s_naming_the_problem(body: bytes, needle: str) -> None:
    gw = gateway()
    reply = await gw.handle(OpenAIDialect(), "chat", Call(), body, route="/v1/chat/completions", method="POST")
    assert isinstance(reply, JsonReply) and reply.status == 400
    assert needle in _json.loads(reply.body)["error"]["message"]
    assert gw.in_flight == 0
    await gw.aclose()


def test_redis_url_selects_the_shared_store_and_its_password_is_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    settings = BifrostSettings(redis_url="redis://:hunter2-pass@127.0.0.1:1/0", providers={})
    gateway = Gateway(settings)
    assert gateway.store.name == "redis://127.0.0.1:1/0"
    with caplog.at_level(logging.INFO, logger="bifrost_asgi"):
        logging.getLogger("bifrost_asgi").info("url was redis://:hunter2-pass@127.0.0.1:1/0")
    assert "hunter2-pass" not in caplog.text
    assert Gateway(BifrostSettings(providers={})).store.name == "memory"
