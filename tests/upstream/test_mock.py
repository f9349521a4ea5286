"""The in-process mock upstream: deterministic OpenAI-compatible answers without a network."""

from __future__ import annotations

import base64
import math
import struct
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from bifrost_asgi.config.settings import ProviderConfig
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.errors import UpstreamTimeoutError
from bifrost_asgi.neutral import EmbeddingRequest, Finish, StreamEvent, TextDelta, ToolCallDelta, ToolCallStart
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.providers.openai import OpenAIProvider
from bifrost_asgi.streaming import SSEDecoder
from bifrost_asgi.upstream.base import Timeouts
from bifrost_asgi.upstream.mock import MockUpstream, embedding_vector

pytestmark = pytest.mark.anyio
MOCK = MockUpstream()
TIMEOUTS = Timeouts()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def post(path: str, body: dict[str, Any], **headers: str) -> UpstreamRequest:
    return UpstreamRequest("POST", "mock://mock" + path, headers, orjson.dumps(body), stream=body.get("stream") is True)


def chat_body(text: str = "hello there", **fields: Any) -> dict[str, Any]:
    return {"model": "mock-model", "messages": [{"role": "user", "content": text}], **fields}


async def json_of(request: UpstreamRequest) -> tuple[int, dict[str, Any]]:
    response = await MOCK.send(request, TIMEOUTS)
    result: dict[str, Any] = orjson.loads(response.body)
    return response.status, result


async def sse(request: UpstreamRequest) -> list[str]:
    stream = await MOCK.open(request, TIMEOUTS)
    assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
    decoder = SSEDecoder()
    data = [e.data async for chunk in stream.chunks() for e in decoder.feed(chunk)]
    await stream.aclose()
    return data


async def test_chat_echoes_the_last_user_message() -> None:
    body = chat_body(
        "ignored",
        messages=[
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]},
        ],
    )
    status, answer = await json_of(post("/v1/chat/completions", body))
    assert status == 200
    assert answer["object"] == "chat.completion" and answer["model"] == "mock-model"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Echo: hello there", "refusal": None}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] == 6  # words of every message
    assert answer["usage"]["completion_tokens"] == 3
    assert answer["usage"]["total_tokens"] == 9
    _, again = await json_of(post("/v1/chat/completions", body))
    assert again == answer  # deterministic, ids included


async def test_chat_without_user_text() -> None:
    _, answer = await json_of(post("/v1/chat/completions", chat_body(messages=[{"role": "system", "content": "x"}])))
    assert answer["choices"][0]["message"]["content"] == "Hello from the bifrost-asgi mock provider."


async def test_max_tokens_cuts_the_answer() -> None:
    _, answer = await json_of(post("/v1/chat/completions", chat_body("a b c d", max_completion_tokens=2)))
    assert answer["choices"][0]["message"]["content"] == "Echo: a"
    assert answer["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("tool_choice", "name"),
    [("required", "first"), ({"type": "function", "function": {"name": "second"}}, "second"), ("auto", None)],
)
async def test_forced_tool_calls(tool_choice: Any, name: str | None) -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("first", "second")]
    _, answer = await json_of(post("/v1/chat/completions", chat_body(tools=tools, tool_choice=tool_choice)))
    choice = answer["choices"][0]
    if name is None:
        assert "tool_calls" not in choice["message"]
        return
    (call,) = choice["message"]["tool_calls"]
    assert call["function"] == {"name": name, "arguments": "{}"}
    assert call["id"].startswith("call_") and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None


async def test_stream_one_chunk_per_word_with_usage() -> None:
    data = await sse(post("/v1/chat/completions", chat_body(stream=True, stream_options={"include_usage": True})))
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Echo:"},
        {"content": " hello"},
        {"content": " there"},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert len({c["id"] for c in chunks}) == 1


async def test_stream_without_usage_has_no_usage_chunk() -> None:
    data = await sse(post("/v1/chat/completions", chat_body(stream=True)))
    assert all(orjson.loads(d)["choices"] for d in data[:-1])
    assert all("usage" not in orjson.loads(d) for d in data[:-1])


async def test_stream_read_and_send_of_a_stream() -> None:
    request = post("/v1/chat/completions", chat_body(stream=True))
    stream = await MOCK.open(request, TIMEOUTS)
    whole = await stream.read()
    assert whole == (await MOCK.send(request, TIMEOUTS)).body
    assert whole.endswith(b"data: [DONE]\n\n")


async def test_legacy_completions() -> None:
    _, answer = await json_of(post("/v1/completions", {"model": "mock-model", "prompt": "say hi"}))
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "Echo: say hi"
    data = await sse(post("/v1/completions", {"model": "mock-model", "prompt": "say hi", "stream": True}))
    texts = [orjson.loads(d)["choices"][0]["text"] for d in data[:-1]]
    assert "".join(texts) == "Echo: say hi"
    assert {orjson.loads(d)["object"] for d in data[:-1]} == {"text_completion"}


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    _, answer = await json_of(post("/v1/embeddings", {"model": "mock-embedding", "input": ["a", "b"]}))
    vectors = [item["embedding"] for item in answer["data"]]
    assert [item["index"] for item in answer["data"]] == [0, 1]
    assert all(len(v) == 8 and math.isclose(sum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0] != vectors[1]
    assert vectors[0] == embedding_vector("a")
    assert answer["usage"] == {"prompt_tokens": 2, "total_tokens": 2}

    _, sized = await json_of(post("/v1/embeddings", {"model": "m", "input": "a", "dimensions": 3}))
    assert len(sized["data"][0]["embedding"]) == 3

    _, packed = await json_of(post("/v1/embeddings", {"model": "m", "input": [1, 2, 3], "encoding_format": "base64"}))
    decoded = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(embedding_vector("1 2 3"))
    assert packed["usage"]["prompt_tokens"] == 3


async def test_models() -> None:
    response = await MOCK.send(UpstreamRequest("GET", "mock://mock/v1/models"), TIMEOUTS)
    assert [m["id"] for m in orjson.loads(response.body)["data"]] == ["mock-model", "mock-embedding"]
    single = await MOCK.send(UpstreamRequest("GET", "mock://mock/v1/models/mock-model"), TIMEOUTS)
    assert orjson.loads(single.body)["id"] == "mock-model"
    missing = await MOCK.send(UpstreamRequest("GET", "mock://mock/v1/models/nope"), TIMEOUTS)
    assert missing.status == 404


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (UpstreamRequest("POST", "mock://mock/v1/images/generations", {}, b"{}"), 404, "unknown_url"),
        (UpstreamRequest("GET", "mock://mock/v1/chat/completions"), 404, "unknown_url"),
        (UpstreamRequest("POST", "mock://mock/v1/chat/completions", {}, b"{nope"), 400, "invalid_json"),
        (UpstreamRequest("POST", "mock://mock/v1/chat/completions", {}, b'{"messages":[]}'), 400, "missing_model"),
        (UpstreamRequest("POST", "mock://mock/v1/chat/completions", {}, b'{"model":"m"}'), 400, "invalid_messages"),
        (UpstreamRequest("POST", "mock://mock/v1/embeddings", {}, b'{"model":"m","input":[]}'), 400, "invalid_input"),
    ],
)
async def test_errors_are_openai_shaped(request_: UpstreamRequest, status: int, code: str) -> None:
    response = await MOCK.send(request_, TIMEOUTS)
    assert response.status == status
    error = orjson.loads(response.body)["error"]
    assert error["code"] == code and isinstance(error["message"], str)


async def test_error_by_model_name() -> None:
    response = await MOCK.send(post("/v1/chat/completions", chat_body(model="mock-error-429")), TIMEOUTS)
    assert response.status == 429 and response.headers["retry-after"] == "1"
    assert orjson.loads(response.body)["error"]["type"] == "rate_limit_error"
    server = await MOCK.send(post("/v1/chat/completions", chat_body(model="mock-error-500")), TIMEOUTS)
    assert server.status == 500 and "retry-after" not in server.headers


async def test_latency_headers() -> None:
    request = post("/v1/chat/completions", chat_body(), **{"X-Mock-Latency-Ms": "30"})
    started = time.perf_counter()
    await MOCK.send(request, TIMEOUTS)
    assert time.perf_counter() - started >= 0.025

    slow = post("/v1/chat/completions", chat_body(), **{"x-mock-latency-ms": "5000"})
    started = time.perf_counter()
    with pytest.raises(UpstreamTimeoutError):
        await MOCK.send(slow, Timeouts(first_byte=0.02))
    assert time.perf_counter() - started < 1.0


async def test_chunk_delay_and_idle_timeout() -> None:
    body = chat_body(stream=True)
    delayed = post("/v1/chat/completions", body, **{"x-mock-chunk-delay-ms": "10"})
    started = time.perf_counter()
    stream = await MOCK.open(delayed, TIMEOUTS)
    chunks = [c async for c in stream.chunks()]
    assert time.perf_counter() - started >= 0.01 * (len(chunks) - 1) * 0.9

    stalled = post("/v1/chat/completions", body, **{"x-mock-chunk-delay-ms": "5000"})
    stream = await MOCK.open(stalled, Timeouts(idle=0.02))
    with pytest.raises(UpstreamTimeoutError, match="idle"):
        async for _ in stream.chunks():
            pass


async def test_through_the_openai_provider_and_dialect() -> None:
    """The mock as the gateway's ``mock`` provider uses it: build -> mock -> parse -> render."""
    dialect = OpenAIDialect()
    provider = OpenAIProvider("mock", ProviderConfig(), default_base_url="mock://mock", keyless=True)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    request = dialect.parse_chat(
        {**chat_body("find it", tools=tools, tool_choice="required", stream=True), "model": "mock/mock-model"}, Call()
    )
    upstream = provider.build_chat(request, "mock-model", None)
    stream = await MOCK.open(upstream, TIMEOUTS)
    # The neutral events, as a client of another format gets them (an OpenAI client's are relayed).
    parser = provider.stream_parser(replace(request, source_format="anthropic"), "mock-model")
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    async for chunk in stream.chunks():
        for event in decoder.feed(chunk):
            events.extend(parser.feed(event))
    events.extend(parser.close())
    kinds = [type(e) for e in events]
    assert ToolCallStart in kinds and ToolCallDelta in kinds and Finish in kinds
    assert not any(isinstance(e, TextDelta) for e in events)
    finish = next(e for e in events if isinstance(e, Finish))
    assert finish.reason == "tool_calls"

    embeddings = provider.build_embeddings(
        EmbeddingRequest("mock-embedding", ("a",), source_format="gemini"), "mock-embedding", None
    )
    answer = await MOCK.send(embeddings, TIMEOUTS)
    parsed = provider.parse_embeddings(answer, EmbeddingRequest("m", ("a",)), "mock-embedding")
    assert parsed.vectors[0] == pytest.approx(embedding_vector("a"))
