"""Gateway flow details that need no socket: abandoned streams, shutdown refusal, bad bodies."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import pytest
import redis

from bifrost_asgi import _json
from bifrost_asgi.config.settings import BifrostSettings
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.errors import UpstreamConnectionError, UpstreamError, UpstreamTimeoutError
from bifrost_asgi.gateway import Gateway
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.replies import JsonReply, StreamReply
from bifrost_asgi.upstream.base import Timeouts
from tests.support.redis_server import running_redis

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


class _ListingUpstream:
    """An upstream whose model listing fails (``error``) or answers with ``ids``; records timeouts."""

    def __init__(self, error: Exception | None = None, ids: tuple[str, ...] = ()) -> None:
        self.error = error
        self.ids = ids
        self.timeouts: list[Timeouts] = []

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        self.timeouts.append(timeouts)
        if self.error is not None:
            raise self.error
        body = _json.dumps({"object": "list", "data": [{"id": i, "object": "model", "created": 1} for i in self.ids]})
        return UpstreamResponse(200, {"content-type": "application/json"}, body)

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> Any:
        raise AssertionError("no stream here")

    async def aclose(self) -> None:
        return None


OPENAI_ONLY = {"providers": {"openai": {"keys": [{"value": "sk-listing-secret", "models": ["gpt-4o"]}]}}}


async def _retrieve(upstream: _ListingUpstream, model: str) -> JsonReply:
    gw = Gateway(BifrostSettings.model_validate(OPENAI_ONLY), upstream=upstream)
    call = Call(path_params={"model": model})
    reply = await gw.handle(OpenAIDialect(), "model", call, b"", route="/v1/models/{model}", method="GET")
    await gw.aclose()
    assert isinstance(reply, JsonReply)
    return reply


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UpstreamTimeoutError("upstream did not answer within 30s"), 504),
        (UpstreamConnectionError("could not connect to the upstream"), 502),
        (UpstreamError("internal error", status=500), 502),
    ],
)
async def test_a_model_missing_because_a_provider_could_not_list_is_not_a_404(error: Exception, status: int) -> None:
    """The model may well be served: the provider's list is unknown. Saying "not served" (404)
    would be false; the answer names the provider and why, never its key."""
    reply = await _retrieve(_ListingUpstream(error), "gpt-4o-mini")
    message = _json.loads(reply.body)["error"]["message"]
    assert reply.status == status
    assert "'openai'" in message and "gpt-4o-mini" in message and "sk-listing-secret" not in message


async def test_models_retrieve_still_finds_configured_and_listed_models() -> None:
    failing = await _retrieve(_ListingUpstream(UpstreamTimeoutError("slow")), "gpt-4o")  # named by the key
    listed = await _retrieve(_ListingUpstream(ids=("gpt-4o-mini",)), "gpt-4o-mini")
    missing = await _retrieve(_ListingUpstream(ids=("gpt-4o-mini",)), "nope")
    assert failing.status == 200 and listed.status == 200
    assert missing.status == 404 and "nope" in _json.loads(missing.body)["error"]["message"]


async def test_model_listing_waits_as_long_as_the_provider_is_configured_to() -> None:
    upstream = _ListingUpstream(ids=("gpt-4o",))
    config = {"providers": {"openai": {**OPENAI_ONLY["providers"]["openai"],
                                       "network_config": {"default_request_timeout_in_seconds": 42}}}}  # fmt: skip
    gw = Gateway(BifrostSettings.model_validate(config), upstream=upstream)
    await gw.handle(OpenAIDialect(), "models", Call(), b"", route="/v1/models", method="GET")
    await gw.aclose()
    assert upstream.timeouts[0].total == 42


VK = "sk-bf-gateway-close-1"
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}  # fmt: skip


class _FreezingUpstream:
    """Answers at once, having frozen the ``redis-server`` (SIGSTOP) after the admission and before
    the settlement: the settlement's reply is held until SIGCONT."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        os.kill(self.pid, signal.SIGSTOP)
        return UpstreamResponse(200, {"content-type": "application/json"}, _json.dumps(ANSWER))

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> Any:
        raise AssertionError("no stream here")

    async def aclose(self) -> None:
        return None


async def test_an_answer_does_not_wait_for_its_settlement_and_aclose_does() -> None:
    with running_redis() as server:
        assert server.process is not None
        settings = BifrostSettings.model_validate({
            "providers": {"openai": {"keys": [{"value": "sk-upstream", "models": ["gpt-4o-mini"]}]}},
            "client": {"enforce_auth_on_inference": True},
            "governance": {
                "store": {"type": "redis", "url": server.url},
                "rate_limits": [{"id": "rl", "token_max_limit": 10_000, "token_reset_duration": "1h"}],
                "virtual_keys": [{"id": "vk", "name": "close", "value": VK, "rate_limit_id": "rl",
                                  "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
            },
        })  # fmt: skip
        gw = Gateway(settings, upstream=_FreezingUpstream(server.process.pid))
        body = _json.dumps({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        try:
            call = Call(headers={"authorization": f"Bearer {VK}", "content-type": "application/json"})
            reply = await gw.handle(OpenAIDialect(), "chat", call, body, route="/v1/chat/completions", method="POST")
            assert isinstance(reply, JsonReply) and reply.status == 200, reply  # answered, Redis frozen
            closing = asyncio.ensure_future(gw.aclose())
            await asyncio.sleep(0.05)
            assert not closing.done()  # the settlement's reply is still held
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        await closing
        client = redis.Redis.from_url(server.url, socket_timeout=10)
        try:
            held = client.hgetall("bifrost:gov:{rl:rl}:tok")
        finally:
            client.close()
        assert held[b"u"] == b"10" and held[b"rs"] == b"0"
