"""The OpenAI provider: request building (passthrough and translation), answers, streams, errors."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from bifrost_asgi.config.settings import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_asgi.errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError
from bifrost_asgi.neutral import (
    ChatRequest,
    EmbeddingRequest,
    FilePart,
    Finish,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    ToolSpec,
    Usage,
    UsageUpdate,
)
from bifrost_asgi.providers.base import UpstreamResponse
from bifrost_asgi.providers.openai import OpenAIProvider
from bifrost_asgi.streaming import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
KEY = KeyConfig(value=SecretStr("sk-secret-value"))
PROVIDER = OpenAIProvider("openai", ProviderConfig())


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_of(request: Any) -> dict[str, Any]:
    assert request.body is not None
    result: dict[str, Any] = orjson.loads(request.body)
    return result


def openai_request(body: dict[str, Any], **changes: Any) -> ChatRequest:
    base = ChatRequest(model=body["model"], messages=(Message("user", (TextPart("x"),)),), raw=body)
    return replace(base, **changes)


def anthropic_request(*messages: Message, **changes: Any) -> ChatRequest:
    base = ChatRequest(model="openai/gpt-4o", messages=messages, source_format="anthropic")
    return replace(base, **changes)


# ---------------------------------------------------------------------------------- URLs and headers


def test_urls_and_auth() -> None:
    upstream = PROVIDER.build_chat(anthropic_request(Message("user", (TextPart("hi"),))), "gpt-4o", KEY)
    assert upstream.method == "POST"
    assert upstream.url == "https://api.openai.com/v1/chat/completions"
    assert upstream.headers["authorization"] == "Bearer sk-secret-value"
    assert upstream.headers["content-type"] == "application/json"
    assert upstream.stream is False


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://proxy.example.com", "https://proxy.example.com/v1/chat/completions"),
        ("https://proxy.example.com/", "https://proxy.example.com/v1/chat/completions"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"),
    ],
)
def test_configured_base_url(base_url: str, expected: str) -> None:
    config = ProviderConfig(network_config=NetworkConfig(base_url=base_url))
    provider = OpenAIProvider("openai", config)
    assert provider.build_chat(anthropic_request(), "m", KEY).url == expected


def test_extra_headers_keyless_and_vendor_headers() -> None:
    config = ProviderConfig(network_config=NetworkConfig(extra_headers={"OpenAI-Organization": "org-1"}))
    provider = OpenAIProvider("local", config, keyless=True)
    assert provider.keyless
    request = openai_request({"model": "m", "messages": []}, passthrough_headers={"openai-project": "p"})
    headers = provider.build_chat(request, "m", None).headers
    assert headers == {"content-type": "application/json", "openai-organization": "org-1", "openai-project": "p"}
    # an empty key value sends no Authorization either
    assert "authorization" not in provider.build_chat(request, "m", KeyConfig()).headers
    # a client of another format never forwards its vendor headers here
    other = anthropic_request(passthrough_headers={"anthropic-beta": "x"})
    assert "anthropic-beta" not in provider.build_chat(other, "m", KEY).headers


def test_the_key_never_appears_in_errors_or_bodies() -> None:
    upstream = PROVIDER.build_chat(anthropic_request(Message("user", (TextPart("hi"),))), "gpt-4o", KEY)
    assert upstream.body is not None and b"sk-secret-value" not in upstream.body


# ---------------------------------------------------------------------------------- passthrough


def test_passthrough_rewrites_only_the_model() -> None:
    raw = orjson.loads(fixture("chat_request_full.json"))
    raw.pop("fallbacks")
    raw["stream"] = False
    raw.pop("stream_options")
    original = orjson.loads(orjson.dumps(raw))
    upstream = PROVIDER.build_chat(openai_request(raw), "gpt-4o-mini", KEY)
    sent = body_of(upstream)
    assert sent == {**original, "model": "gpt-4o-mini"}
    assert sent["some_future_field"] == {"keep": ["me"]}
    assert raw == original  # the client's body is not mutated


def test_passthrough_stream_forces_usage() -> None:
    raw = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_obfuscation": False}}
    upstream = PROVIDER.build_chat(openai_request(raw, stream=True), "gpt-4o", KEY)
    assert upstream.stream is True
    assert body_of(upstream)["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert raw["stream_options"] == {"include_obfuscation": False}
    bare = PROVIDER.build_chat(openai_request({"model": "m", "stream": True}, stream=True), "gpt-4o", KEY)
    assert body_of(bare)["stream_options"] == {"include_usage": True}


def test_passthrough_ignores_untranslatable() -> None:
    raw = {"model": "m", "messages": [], "logprobs": True, "logit_bias": {"1": 2}}
    request = openai_request(raw, untranslatable={"logprobs": True, "logit_bias": {"1": 2}})
    assert body_of(PROVIDER.build_chat(request, "gpt-4o", KEY))["logprobs"] is True


def test_legacy_completion_passthrough_goes_to_completions() -> None:
    raw = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}
    request = openai_request(raw, text_completion=True, max_tokens=16)
    upstream = PROVIDER.build_chat(request, "gpt-3.5-turbo-instruct", KEY)
    assert upstream.url == "https://api.openai.com/v1/completions"
    assert body_of(upstream) == raw  # no default max_tokens is invented


# ---------------------------------------------------------------------------------- translation


CONVERSATION = (
    Message("system", (TextPart("Be brief."),)),
    Message("user", (TextPart("Weather in Paris?"), ImagePart(data="iVBO", media_type="image/png"))),
    Message(
        "assistant",
        (
            ReasoningPart("thinking", signature="sig"),
            TextPart("Let me look."),
            ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
            ToolCall("toolu_2", "get_time", "{}"),
        ),
    ),
    Message(
        "tool",
        (
            ToolResult("toolu_1", (TextPart("sunny"),)),
            ToolResult("toolu_2", (TextPart("noon"), ImagePart(url="https://x/clock.png")), is_error=True),
        ),
    ),
    Message("user", (TextPart("Thanks"),), name="ada"),
)


def test_translate_messages() -> None:
    sent = body_of(PROVIDER.build_chat(anthropic_request(*CONVERSATION), "gpt-4o", KEY))
    assert sent["model"] == "gpt-4o"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "noon"},
        # the image from a tool result follows the tool messages in a user turn, before the next user text
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://x/clock.png"}},
                {"type": "text", "text": "Thanks"},
            ],
            "name": "ada",
        },
    ]


def test_translate_tool_results_inside_a_user_turn() -> None:
    user = Message("user", (ToolResult("c1", (TextPart("1"),)), ToolResult("c2", ()), TextPart("and now?")))
    sent = body_of(PROVIDER.build_chat(anthropic_request(user), "gpt-4o", KEY))
    assert sent["messages"] == [
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": ""},
        {"role": "user", "content": "and now?"},
    ]


def test_translate_parameters() -> None:
    request = anthropic_request(
        Message("user", (TextPart("hi"),)),
        max_tokens=100,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop=("END",),
        seed=3,
        user="u1",
        tools=(ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),),
        tool_choice=ToolChoice("tool", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", {"type": "object"}, "answer", True),
        reasoning=Reasoning(budget_tokens=4096),
        stream=True,
    )
    upstream = PROVIDER.build_chat(request, "gpt-4o", KEY)
    sent = body_of(upstream)
    assert upstream.stream is True
    assert sent["max_completion_tokens"] == 100 and "max_tokens" not in sent
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["user"]) == (0.5, 0.9, 3, "u1")
    assert "top_k" not in sent  # OpenAI has no top_k (documented loss)
    assert sent["stop"] == ["END"]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    }
    assert sent["reasoning_effort"] == "medium"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (Reasoning(budget_tokens=1024), "low"),
        (Reasoning(budget_tokens=2048), "medium"),
        (Reasoning(budget_tokens=8192), "high"),
        (Reasoning(effort="minimal", budget_tokens=9999), "minimal"),
        (Reasoning(enabled=False, budget_tokens=9999), None),
        (Reasoning(enabled=True), None),
    ],
)
def test_reasoning_effort(reasoning: Reasoning, effort: str | None) -> None:
    sent = body_of(PROVIDER.build_chat(anthropic_request(reasoning=reasoning), "o3", KEY))
    assert sent.get("reasoning_effort") == effort


def test_parallel_tool_calls_only_with_tools() -> None:
    sent = body_of(PROVIDER.build_chat(anthropic_request(parallel_tool_calls=True), "gpt-4o", KEY))
    assert "parallel_tool_calls" not in sent


def test_untranslatable_fields_are_refused() -> None:
    request = anthropic_request(untranslatable={"cache_control": {"type": "ephemeral"}, "top_k_extra": 1})
    with pytest.raises(UnsupportedFeatureError, match="cache_control, top_k_extra") as caught:
        PROVIDER.build_chat(request, "gpt-4o", KEY)
    assert caught.value.status == 400


def test_openai_untranslatable_fields_return_when_raw_is_gone() -> None:
    request = ChatRequest(model="m", messages=(), untranslatable={"logprobs": True})
    assert body_of(PROVIDER.build_chat(request, "gpt-4o", KEY))["logprobs"] is True
    nested = ChatRequest(model="m", messages=(), untranslatable={"messages[1].audio": {"id": "a"}})
    with pytest.raises(UnsupportedFeatureError, match=r"messages\[1\]\.audio"):
        PROVIDER.build_chat(nested, "gpt-4o", KEY)


def test_translate_files() -> None:
    user = Message(
        "user", (FilePart(data="JVBE", media_type="application/pdf"), FilePart(file_id="file-1", filename="x.pdf"))
    )
    sent = body_of(PROVIDER.build_chat(anthropic_request(user), "gpt-4o", KEY))
    assert sent["messages"][0]["content"] == [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "document.pdf"}},
        {"type": "file", "file": {"file_id": "file-1", "filename": "x.pdf"}},
    ]
    with pytest.raises(UnsupportedFeatureError, match="URL"):
        PROVIDER.build_chat(anthropic_request(Message("user", (FilePart(url="https://x/a.pdf"),))), "gpt-4o", KEY)


def test_translate_text_completion() -> None:
    request = ChatRequest(
        model="m", messages=(Message("user", (TextPart("Say hi"),)),), text_completion=True, max_tokens=16
    )
    upstream = PROVIDER.build_chat(request, "gpt-3.5-turbo-instruct", KEY)
    assert upstream.url.endswith("/v1/completions")
    assert body_of(upstream) == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 16}


# ---------------------------------------------------------------------------------- answers


def ok(body: bytes, headers: dict[str, str] | None = None) -> UpstreamResponse:
    return UpstreamResponse(200, headers or {"content-type": "application/json"}, body)


def test_parse_chat_with_tool_calls() -> None:
    raw = fixture("chat_response_tools.json")
    response = PROVIDER.parse_chat(ok(raw), anthropic_request(), "gpt-4o")
    assert response.raw is raw and response.raw_format == "openai"
    assert (response.id, response.model, response.created) == (
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "gpt-4o-2024-08-06",
        1741569952,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.parts == (
        ToolCall("call_Xq1", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_Xq2", "get_time", '{"tz":"CET"}'),
    )
    assert response.usage == Usage(input_tokens=82, output_tokens=41, cached_input_tokens=64, reasoning_tokens=12)


def test_parse_chat_text_and_compat_quirks() -> None:
    response = PROVIDER.parse_chat(ok(fixture("chat_response_text.json")), anthropic_request(), "gpt-4o-mini")
    assert response.message.text() == "Hello! How can I help?"
    assert response.choices[0].finish_reason == "stop"

    quirky = orjson.dumps(
        {
            "id": "x",
            "model": "",
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "reasoning_content": "why",
                        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": None, "completion_tokens": 3, "prompt_cache_hit_tokens": 2},
        }
    )
    parsed = PROVIDER.parse_chat(ok(quirky), anthropic_request(), "deepseek-reasoner")
    assert parsed.model == "deepseek-reasoner"
    assert parsed.message.parts == (ReasoningPart("why"), ToolCall("call_0", "f", '{"a":1}'))
    assert parsed.choices[0].finish_reason == "tool_calls"  # tool calls that "stop"
    assert parsed.usage == Usage(input_tokens=0, output_tokens=3, cached_input_tokens=2)


def test_parse_text_completion() -> None:
    request = ChatRequest(model="m", messages=(), text_completion=True, source_format="anthropic")
    response = PROVIDER.parse_chat(ok(fixture("completion_response.json")), request, "gpt-3.5-turbo-instruct")
    assert response.message.text() == "\n\nThis is a test."
    assert response.choices[0].finish_reason == "length"
    assert response.usage == Usage(input_tokens=5, output_tokens=7)


def test_an_openai_client_gets_the_raw_body_so_choices_are_not_converted() -> None:
    body = fixture("completion_response.json")
    request = ChatRequest(model="m", messages=(), text_completion=True, source_format="openai")
    response = PROVIDER.parse_chat(ok(body), request, "gpt-3.5-turbo-instruct")
    assert response.choices == () and response.raw == body and response.raw_format == "openai"
    assert response.usage == Usage(input_tokens=5, output_tokens=7)


@pytest.mark.parametrize("body", [b"<html>", b"[1]", b'{"object":"chat.completion"}', b""])
def test_parse_chat_rejects_unusable_bodies(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        PROVIDER.parse_chat(ok(body), anthropic_request(), "gpt-4o")
    assert caught.value.status == 502


def test_parse_embeddings_base64_in_index_order() -> None:
    request = EmbeddingRequest(model="m", inputs=("a", "b"))
    response = PROVIDER.parse_embeddings(ok(fixture("embeddings_base64.json")), request, "text-embedding-3-small")
    assert response.vectors == ((0.5, -0.25, 1.0, 0.125), (0.0, 2.0, -1.5, 0.75))
    assert response.usage == Usage(input_tokens=6)
    floats = orjson.dumps({"data": [{"index": 0, "embedding": [1, 0.5]}], "usage": {"prompt_tokens": 1}})
    assert PROVIDER.parse_embeddings(ok(floats), request, "m").vectors == ((1.0, 0.5),)
    with pytest.raises(UpstreamProtocolError, match=r"data\[0\]"):
        PROVIDER.parse_embeddings(ok(b'{"data":[{"embedding":"not base64!"}]}'), request, "m")


def test_build_embeddings() -> None:
    raw = {"model": "openai/text-embedding-3-small", "input": "a", "encoding_format": "base64", "x_future": 1}
    passthrough = EmbeddingRequest(model="m", inputs=("a",), raw=raw)
    upstream = PROVIDER.build_embeddings(passthrough, "text-embedding-3-small", KEY)
    assert upstream.url == "https://api.openai.com/v1/embeddings"
    assert body_of(upstream) == {**raw, "model": "text-embedding-3-small"}
    translated = EmbeddingRequest(model="m", inputs=("a", (1, 2)), source_format="gemini", dimensions=8)
    assert body_of(PROVIDER.build_embeddings(translated, "e", KEY)) == {
        "model": "e",
        "input": ["a", [1, 2]],
        "dimensions": 8,
    }


def test_models_and_count_tokens() -> None:
    listing = PROVIDER.build_list_models(KEY)
    assert listing is not None
    assert (listing.method, listing.url) == ("GET", "https://api.openai.com/v1/models")
    assert listing.headers["authorization"] == "Bearer sk-secret-value"
    models = PROVIDER.parse_list_models(ok(fixture("models.json")))
    assert [(m.id, m.provider, m.created) for m in models] == [
        ("gpt-4o", "openai", 1715367049),
        ("text-embedding-3-small", "openai", 1705948997),
    ]
    assert PROVIDER.build_count_tokens(anthropic_request(), "gpt-4o", KEY) is None


# ---------------------------------------------------------------------------------- errors


def error_response(status: int, body: bytes, **headers: str) -> UpstreamResponse:
    return UpstreamResponse(status, {"content-type": "application/json", **headers}, body)


def test_parse_error_openai_shape() -> None:
    raw = fixture("error_invalid_key.json")
    error = PROVIDER.parse_error(error_response(401, raw))
    assert isinstance(error, UpstreamError)
    assert error.status == 401 and error.kind == "authentication"
    assert error.message.startswith("Incorrect API key provided")
    assert (error.raw_body, error.raw_format) == (raw, "openai")
    assert (error.code, error.upstream_type, error.provider) == ("invalid_api_key", "invalid_request_error", "openai")
    assert error.key_failure


def test_parse_error_insufficient_quota_is_not_retryable() -> None:
    error = PROVIDER.parse_error(error_response(429, fixture("error_insufficient_quota.json")))
    assert error.status == 429 and error.retryable is False
    rate = PROVIDER.parse_error(error_response(429, fixture("error_rate_limit.json"), **{"retry-after-ms": "120"}))
    assert rate.retryable is True
    assert rate.retry_after == pytest.approx(0.12)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT", "date": "Wed, 21 Oct 2026 07:28:00 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_error_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    error = PROVIDER.parse_error(error_response(429, fixture("error_rate_limit.json"), **headers))
    assert error.retry_after == seconds


def test_parse_error_should_retry_header() -> None:
    error = PROVIDER.parse_error(error_response(500, b"{}", **{"x-should-retry": "false"}))
    assert error.retryable is False
    forced = PROVIDER.parse_error(error_response(409, b"{}", **{"x-should-retry": "true"}))
    assert forced.retryable is True


@pytest.mark.parametrize(
    ("status", "body", "content_type", "message"),
    [
        (
            502,
            fixture("error_gateway.html"),
            "text/html",
            "openai answered HTTP 502 with an HTML page instead of a JSON error",
        ),
        (500, b"upstream connect error", "text/plain", "openai answered HTTP 500: upstream connect error"),
        (503, b"", "text/plain", "openai answered HTTP 503 with an empty body"),
        (
            400,
            b'{"detail":[{"msg":"field required"},{"msg":"bad temperature"}]}',
            "application/json",
            "field required; bad temperature",
        ),
        (404, b'{"detail":"Not Found"}', "application/json", "Not Found"),
        (400, b'{"error":"model is required"}', "application/json", "model is required"),
        (422, b'{"object":"error","message":"bad stop"}', "application/json", "bad stop"),
        (
            422,
            b'{"object":"error","message":{"detail":[{"type":"extra_forbidden",'
            b'"msg":"Extra inputs are not permitted"}]}}',
            "application/json",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_parse_error_other_shapes(status: int, body: bytes, content_type: str, message: str) -> None:
    error = PROVIDER.parse_error(UpstreamResponse(status, {"content-type": content_type}, body))
    assert error.message == message
    assert error.status == status
    assert error.raw_format is None  # not an OpenAI error body: clients get the gateway's rendering


def test_parse_error_truncates_long_text() -> None:
    error = PROVIDER.parse_error(UpstreamResponse(500, {}, b"x" * 5000))
    assert len(error.message) < 400 and error.message.endswith("...")


# ---------------------------------------------------------------------------------- streams


def run_stream(data: bytes, sizes: Iterable[int] | None = None, *, close: bool = True) -> list[StreamEvent]:
    """Feed ``data`` in pieces (one piece per size; the rest at the end) through decoder + parser."""
    decoder = SSEDecoder()
    parser = PROVIDER.stream_parser(anthropic_request(stream=True), "gpt-4o")
    events: list[StreamEvent] = []
    position = 0
    for size in sizes or ():
        for event in decoder.feed(data[position : position + size]):
            events.extend(parser.feed(event))
        position += size
    for event in [*decoder.feed(data[position:]), *decoder.close()]:
        events.extend(parser.feed(event))
    if close:
        events.extend(parser.close())
    return events


def feed_json(chunks: Sequence[Any], *, done: bool = True) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(anthropic_request(stream=True), "fallback-model")
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(SSEEvent(orjson.dumps(chunk).decode())))
    if done:
        events.extend(parser.feed(SSEEvent("[DONE]")))
    events.extend(parser.close())
    return events


def test_stream_text() -> None:
    events = run_stream(fixture("stream_text.sse"))
    assert events == [
        StreamStart("chatcmpl-1", "gpt-4o-mini-2024-07-18", 1700000000),
        TextDelta("Hel"),
        TextDelta("lo, wörld"),
        Finish("stop"),
        UsageUpdate(Usage(input_tokens=10, output_tokens=4, cached_input_tokens=2)),
    ]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tools.sse", "completion_stream.sse"])
def test_stream_split_anywhere_gives_the_same_events(name: str) -> None:
    data = fixture(name)
    whole = run_stream(data)
    assert run_stream(data, [1] * len(data)) == whole
    rng = random.Random(7)
    for _ in range(20):
        assert run_stream(data, [rng.randint(1, 40) for _ in range(len(data) // 10)]) == whole


def test_stream_tool_calls() -> None:
    events = run_stream(fixture("stream_tools.sse"))
    assert events == [
        StreamStart("chatcmpl-2", "gpt-4o", 1700000001),
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(0, ' "Paris"}'),
        ToolCallStart(1, "call_b", "get_time"),
        ToolCallDelta(1, '{"tz":"CET"}'),
        Finish("tool_calls"),
        UsageUpdate(Usage(input_tokens=50, output_tokens=30)),
    ]


def test_stream_legacy_completion() -> None:
    events = run_stream(fixture("completion_stream.sse"))
    assert events == [
        StreamStart("cmpl-9y", "gpt-3.5-turbo-instruct", 1700000004),
        TextDelta("\n\n"),
        TextDelta("Hi"),
        Finish("stop"),
    ]


def test_stream_in_band_error() -> None:
    events = run_stream(fixture("stream_error.sse"))
    assert events[:2] == [StreamStart("chatcmpl-3", "gpt-4o", 1700000002), TextDelta("Par")]
    assert len(events) == 3
    failure = events[2]
    assert isinstance(failure, StreamFailure)
    assert isinstance(failure.error, UpstreamError)
    assert failure.error.message == "The server had an error while processing your request."
    assert failure.error.status == 500 and failure.error.upstream_type == "server_error"
    assert failure.error.raw_format == "openai"
    assert orjson.loads(failure.error.raw_body or b"")["error"]["type"] == "server_error"


def test_stream_string_error_and_status_from_code() -> None:
    (failure,) = feed_json([{"error": "model overloaded"}], done=False)
    assert isinstance(failure, StreamFailure) and failure.error.message == "model overloaded"
    (coded,) = feed_json([{"error": {"message": "bad", "code": 400}}], done=False)
    assert isinstance(coded, StreamFailure) and coded.error.status == 400


def test_stream_ended_early() -> None:
    data = fixture("stream_text.sse")
    cut = data[: data.rindex(b"data: ", 0, data.index(b'"finish_reason":"stop"'))]  # before the finish frame
    events = run_stream(cut)
    failure = events[-1]
    assert isinstance(failure, StreamFailure)
    assert isinstance(failure.error, UpstreamProtocolError)
    assert "ended the stream early" in failure.error.message
    assert not any(isinstance(e, Finish) for e in events)


def test_stream_done_without_finish_reason() -> None:
    events = feed_json([{"id": "x", "choices": [{"delta": {"content": "hi"}}]}])
    assert events == [StreamStart("x", "fallback-model"), TextDelta("hi"), Finish("stop")]
    assert feed_json([]) == [StreamStart("", "fallback-model"), Finish("stop")]


def test_stream_finish_without_done_is_complete() -> None:
    events = feed_json([{"id": "x", "choices": [{"delta": {"content": "hi"}, "finish_reason": "length"}]}], done=False)
    assert events[-1] == Finish("length")


def test_stream_usage_before_finish_is_held() -> None:
    events = feed_json(
        [
            {
                "id": "x",
                "choices": [{"index": 0, "delta": {"content": "a"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            },
            {
                "id": "x",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 2}},
            },
        ]
    )
    assert events == [
        StreamStart("x", "fallback-model"),
        TextDelta("a"),
        Finish("stop"),
        UsageUpdate(Usage(input_tokens=1, output_tokens=1)),
        UsageUpdate(Usage(input_tokens=3, output_tokens=2)),
    ]


def test_stream_compat_tool_call_variants() -> None:
    events = feed_json(
        [
            {
                "id": "x",
                "choices": [
                    {"delta": {"reasoning": "plan", "tool_calls": [{"id": "c1", "function": {"arguments": "{"}}]}}
                ],
            },
            # the name arrives after the id; the id is repeated on every fragment
            {
                "id": "x",
                "choices": [{"delta": {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "}"}}]}}],
            },
            {"id": "x", "choices": [{"delta": {"tool_calls": [{"id": "c1", "function": {"arguments": " "}}]}}]},
            # a whole second call in one fragment, without an index (its list position is used)
            {
                "id": "x",
                "choices": [
                    {
                        "delta": {
                            "tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": {"a": 1}}}]
                        }
                    }
                ],
            },
            # a call that never gets a name is still started at the finish
            {
                "id": "x",
                "choices": [
                    {"delta": {"tool_calls": [{"index": 2, "function": {"arguments": "{}"}}]}, "finish_reason": "stop"}
                ],
            },
        ]
    )
    assert events == [
        StreamStart("x", "fallback-model"),
        ReasoningDelta("plan"),
        ToolCallStart(0, "c1", "f"),
        ToolCallDelta(0, "{}"),
        ToolCallDelta(0, " "),
        ToolCallStart(1, "c2", "g"),
        ToolCallDelta(1, '{"a":1}'),
        ToolCallStart(2, "call_2", ""),
        ToolCallDelta(2, "{}"),
        Finish("tool_calls"),
    ]


def test_stream_invalid_json_fails() -> None:
    parser = PROVIDER.stream_parser(anthropic_request(stream=True), "m")
    (failure,) = parser.feed(SSEEvent("{not json"))
    assert isinstance(failure, StreamFailure) and isinstance(failure.error, UpstreamProtocolError)
    assert list(parser.feed(SSEEvent('{"choices":[]}'))) == []
    assert list(parser.close()) == []
