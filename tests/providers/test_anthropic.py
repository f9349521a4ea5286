"""The Anthropic provider: neutral -> Messages requests, Messages answers / SSE / errors -> neutral."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.dialects.anthropic import AnthropicDialect
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.errors import InvalidRequestError, UnsupportedFeatureError, UpstreamError, UpstreamProtocolError
from bifrost_asgi.neutral import (
    AudioPart,
    CacheHint,
    ChatRequest,
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
from bifrost_asgi.providers.anthropic import AnthropicProvider
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.streaming import SSEDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"
KEY = KeyConfig.model_validate({"value": "sk-ant-test"})
PROVIDER = AnthropicProvider("anthropic", ProviderConfig())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    return _json.loads(fixture_bytes(name))


def openai_request(*messages: Message, **options: Any) -> ChatRequest:
    """A neutral request as another dialect would produce it."""
    return ChatRequest(model="claude-x", messages=messages or (Message("user", (TextPart("hi"),)),), **options)


def body_of(request: UpstreamRequest) -> dict[str, Any]:
    assert request.body is not None
    result = _json.loads(request.body)
    assert isinstance(result, dict)
    return result


def build(request: ChatRequest, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return body_of(PROVIDER.build_chat(request, model, KEY))


def response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> UpstreamResponse:
    return UpstreamResponse(status=status, headers=headers or {}, body=body)


def stream_events(sse: bytes, chunk: int = 7) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(openai_request(), "claude-x")
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    for start in range(0, len(sse), chunk):  # split anywhere, as a network would
        for sse_event in decoder.feed(sse[start : start + chunk]):
            events.extend(parser.feed(sse_event))
    for sse_event in decoder.close():
        events.extend(parser.feed(sse_event))
    events.extend(parser.close())
    return events


# --- request: passthrough and headers ---------------------------------------------------------


def test_passthrough_sends_the_client_body_with_only_model_rewritten() -> None:
    body = fixture("request_tools.json")
    request = AnthropicDialect().parse_chat(body, Call(headers={"anthropic-beta": "b1", "anthropic-version": "v2"}))
    upstream = PROVIDER.build_chat(request, "claude-sonnet-4-5-20250929", KEY)
    assert upstream.method == "POST"
    assert upstream.url == "https://api.anthropic.com/v1/messages"
    expected = {k: v for k, v in body.items() if k != "fallbacks"} | {"model": "claude-sonnet-4-5-20250929"}
    assert body_of(upstream) == expected  # the server tool goes through untouched
    assert upstream.headers == {
        "content-type": "application/json",
        "anthropic-version": "v2",
        "x-api-key": "sk-ant-test",
        "anthropic-beta": "b1",
    }
    assert upstream.stream is False


def test_translated_requests_use_our_version_and_never_forward_beta_from_other_dialects() -> None:
    request = openai_request(passthrough_headers={"anthropic-beta": "b1", "anthropic-version": "v2"})
    headers = PROVIDER.build_chat(request, "m", KEY).headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in headers


def test_base_url_extra_headers_and_keyless() -> None:
    config = ProviderConfig.model_validate(
        {"network_config": {"base_url": "https://proxy.example/anthropic/", "extra_headers": {"X-Team": "a"}}}
    )
    provider = AnthropicProvider("claude-proxy", config)
    upstream = provider.build_chat(openai_request(stream=True), "m", None)
    assert upstream.url == "https://proxy.example/anthropic/v1/messages"
    assert upstream.headers["x-team"] == "a"
    assert "x-api-key" not in upstream.headers
    assert upstream.stream is True and body_of(upstream)["stream"] is True
    assert provider.keyless is False and provider.format == "anthropic"


# --- request: translation from neutral --------------------------------------------------------


def test_system_messages_are_hoisted_and_turns_merged() -> None:
    request = openai_request(
        Message("system", (TextPart("Be brief."),)),
        Message("user", (TextPart("a"),)),
        Message("developer", (TextPart("Use metric units."),)),
        Message("user", (TextPart("b"), TextPart(""))),
        Message("assistant", (TextPart(""),)),
        Message("assistant", (TextPart("c"),)),
    )
    body = build(request)
    assert body["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric units."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
    ]
    assert body["max_tokens"] == 4096
    single = build(openai_request(Message("system", (TextPart("Only one."),)), Message("user", (TextPart("x"),))))
    assert single["system"] == "Only one."


def test_tool_calls_and_results_with_sanitised_ids() -> None:
    request = openai_request(
        Message("user", (TextPart("weather?"),)),
        Message(
            "assistant",
            (
                ToolCall("functions.get_weather:0", "get_weather", '{"city": "Paris"}'),
                ToolCall("call 2", "get_time", "not json"),
            ),
        ),
        Message("tool", (ToolResult("functions.get_weather:0", (TextPart("18C"),)),)),
        Message("tool", (ToolResult("call 2", (TextPart("down"),), is_error=True),)),
        Message("user", (TextPart("thanks"),)),
    )
    body = build(request)
    assistant, results = body["messages"][1], body["messages"][2]
    assert assistant["content"] == [
        {"type": "tool_use", "id": "functions_get_weather_0", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
    ]
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "functions_get_weather_0", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "down", "is_error": True},
            {"type": "text", "text": "thanks"},
        ],
    }
    assert len(body["messages"]) == 3


def test_tool_results_lead_a_merged_user_turn() -> None:
    request = openai_request(
        Message("assistant", (ToolCall("c1", "f"),)),
        Message("user", (TextPart("first"),)),
        Message("tool", (ToolResult("c1", (TextPart("r"), ImagePart(url="https://x/i.png"))),)),
    )
    content = build(request)["messages"][1]["content"]
    assert [b["type"] for b in content] == ["tool_result", "text"]
    assert content[0]["content"] == [
        {"type": "text", "text": "r"},
        {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}},
    ]


def test_images_and_documents() -> None:
    parts = (
        ImagePart(data="AAAA", media_type="image/webp"),
        ImagePart(url="data:image/jpeg;base64,/9j/4AAQ"),
        ImagePart(data="iVBORw0KGgoAAAANS"),
        ImagePart(url="https://x/cat.png", detail="high"),
        FilePart(data="JVBERi0=", media_type="application/pdf", filename="a.pdf"),
        FilePart(data="aMOpbGxv", media_type="text/plain"),
        FilePart(url="https://x/b.pdf"),
    )
    content = build(openai_request(Message("user", parts)))["messages"][0]["content"]
    assert content == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "AAAA"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANS"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "héllo"}},
        {"type": "document", "source": {"type": "url", "url": "https://x/b.pdf"}},
    ]


@pytest.mark.parametrize(
    ("part", "error", "words"),
    [
        (AudioPart(data="UklGR", format="wav"), UnsupportedFeatureError, "audio"),
        (FilePart(file_id="file-abc"), UnsupportedFeatureError, "file ids"),
        (FilePart(data="UEsDBA==", media_type="application/zip"), UnsupportedFeatureError, "application/zip"),
        (ImagePart(data="????"), InvalidRequestError, "media type"),
    ],
)
def test_untranslatable_content_is_refused(part: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as info:
        build(openai_request(Message("user", (TextPart("x"), part))))
    assert "messages[0]" in str(info.value)


def test_reasoning_parts_without_signature_are_not_sent() -> None:
    request = openai_request(
        Message("user", (TextPart("q"),)),
        Message(
            "assistant",
            (ReasoningPart("from deepseek"), ReasoningPart("signed", signature="s"), ReasoningPart(redacted="r")),
        ),
    )
    assert build(request)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "signed", "signature": "s"},
        {"type": "redacted_thinking", "data": "r"},
    ]


def test_sampling_stop_user_and_defaults() -> None:
    body = build(openai_request(temperature=1.7, top_p=0.5, stop=("END",), user="u1", seed=7, presence_penalty=0.0))
    assert body["temperature"] == 1.0
    assert body["top_p"] == 0.5
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    assert "seed" not in body and "stream" not in body
    assert build(openai_request(temperature=-1))["temperature"] == 0.0
    assert build(openai_request(max_tokens=50, top_k=5))["max_tokens"] == 50


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 2}, "n=2: Anthropic returns one candidate"),
        ({"presence_penalty": 0.5}, "presence_penalty=0.5"),
        ({"frequency_penalty": -1.0}, "frequency_penalty=-1"),
        ({"response_format": ResponseFormat("json_object")}, "json_object"),
        ({"untranslatable": {"logit_bias": {"1": 2}, "logprobs": True}}, "logit_bias; logprobs"),
        ({"reasoning": Reasoning(effort="extreme")}, "reasoning effort 'extreme'"),
    ],
)
def test_refusals_name_what_cannot_be_sent(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        build(openai_request(**options))
    assert message in info.value.message
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("none"), False, {"type": "none"}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice("tool", "get_weather"), None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, True, None),
    ],
)
def test_tools_and_tool_choice(choice: ToolChoice | None, parallel: bool | None, expected: Any) -> None:
    tools = (
        ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}, strict=True),
        ToolSpec("noop", parameters={"properties": {}}),
    )
    body = build(openai_request(tools=tools, tool_choice=choice, parallel_tool_calls=parallel))
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Weather",
            "strict": True,
        },
        {"name": "noop", "input_schema": {"properties": {}, "type": "object"}},
    ]
    assert body.get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in build(openai_request(tool_choice=ToolChoice("none")))


def test_json_schema_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = build(openai_request(response_format=ResponseFormat("json_schema", schema=schema, name="x")))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "output_config" not in build(openai_request(response_format=ResponseFormat("text")))


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "thinking", "sent_max"),
    [
        (Reasoning(effort="low"), None, {"type": "enabled", "budget_tokens": 1024}, 1024 + 4096),
        (Reasoning(effort="medium"), None, {"type": "enabled", "budget_tokens": 4096}, 4096 + 4096),
        (Reasoning(effort="high"), 32000, {"type": "enabled", "budget_tokens": 16384}, 32000),
        (Reasoning(effort="high"), 8000, {"type": "enabled", "budget_tokens": 7999}, 8000),
        (Reasoning(budget_tokens=100, enabled=True), None, {"type": "enabled", "budget_tokens": 1024}, 5120),
        (Reasoning(enabled=True), 9000, {"type": "enabled", "budget_tokens": 4096}, 9000),
        (Reasoning(enabled=False), None, {"type": "disabled"}, 4096),
        (Reasoning(effort="none"), 10, {"type": "disabled"}, 10),
        (Reasoning(budget_tokens=0), None, {"type": "disabled"}, 4096),
    ],
)
def test_reasoning_becomes_a_thinking_budget(
    reasoning: Reasoning, max_tokens: int | None, thinking: dict[str, Any], sent_max: int
) -> None:
    body = build(openai_request(reasoning=reasoning, max_tokens=max_tokens, temperature=0.2))
    assert body["thinking"] == thinking
    assert body["max_tokens"] == sent_max
    assert ("temperature" in body) is (thinking["type"] == "disabled")  # Anthropic rejects it with thinking


def test_max_tokens_too_small_for_thinking_names_the_field() -> None:
    with pytest.raises(InvalidRequestError, match="max_tokens=500") as info:
        build(openai_request(reasoning=Reasoning(effort="low"), max_tokens=500))
    assert info.value.param == "max_tokens"


def test_system_only_conversation_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="messages"):
        build(openai_request(Message("system", (TextPart("x"),))))
    with pytest.raises(UnsupportedFeatureError, match="text only"):
        build(openai_request(Message("system", (ImagePart(url="https://x"),)), Message("user", (TextPart("x"),))))


def test_embeddings_are_unsupported() -> None:
    from bifrost_asgi.neutral import EmbeddingRequest

    with pytest.raises(UnsupportedFeatureError, match="no embeddings API"):
        PROVIDER.build_embeddings(EmbeddingRequest(model="m", inputs=("x",)), "m", KEY)


# --- responses --------------------------------------------------------------------------------


def test_parse_chat_tool_use_with_thinking_and_cache_usage() -> None:
    raw = fixture_bytes("response_tool_use.json")
    parsed = PROVIDER.parse_chat(response(raw), openai_request(), "claude-sonnet-4-5")
    assert parsed.id == "msg_01Aq9w938a90dw8q"
    assert parsed.model == "claude-sonnet-4-5-20250929"
    assert (parsed.raw, parsed.raw_format) == (raw, "anthropic")
    choice = parsed.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.parts == (
        ReasoningPart("The user wants the weather; call get_weather.", signature="EqQBCkYIAxgCIkDsig=="),
        ReasoningPart(redacted="EmwKAhgBEgy3va3pzix"),
        TextPart("I'll look that up."),
        ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris","unit":"celsius"}'),
    )
    assert parsed.usage == Usage(
        input_tokens=40 + 500 + 1200,
        output_tokens=88,
        cached_input_tokens=1200,
        cache_creation_tokens=500,
        reasoning_tokens=30,
    )


def test_parse_chat_stop_sequence() -> None:
    parsed = PROVIDER.parse_chat(response(fixture_bytes("response_text.json")), openai_request(), "m")
    assert (parsed.choices[0].finish_reason, parsed.choices[0].stop_sequence) == ("stop_sequence", "FIN")
    assert parsed.message.text() == "Bonjour ! Voici la description."
    assert parsed.usage == Usage(input_tokens=25, output_tokens=12)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
        ("something_new", "other"),
        (None, None),
    ],
)
def test_finish_reasons(stop_reason: str | None, finish: str | None) -> None:
    body = _json.dumps({"id": "msg_1", "content": [], "stop_reason": stop_reason, "usage": {}})
    assert PROVIDER.parse_chat(response(body), openai_request(), "m").choices[0].finish_reason == finish


def test_unreadable_answer_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        PROVIDER.parse_chat(response(b"<html>"), openai_request(), "m")


# --- streams ----------------------------------------------------------------------------------


def test_stream_text() -> None:
    assert stream_events(fixture_bytes("stream_text.sse")) == [
        StreamStart(id="msg_01Text", model="claude-sonnet-4-5-20250929"),
        UsageUpdate(Usage(input_tokens=125, output_tokens=1, cached_input_tokens=100)),
        TextDelta("Hel"),
        TextDelta("lo!"),
        Finish("stop"),
        UsageUpdate(Usage(input_tokens=125, output_tokens=15, cached_input_tokens=100)),
    ]


def test_stream_tool_use() -> None:
    events = stream_events(fixture_bytes("stream_tool_use.sse"), chunk=3)
    assert events[2:] == [
        TextDelta("Checking."),
        ToolCallStart(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        ToolCallDelta(0, '{"city": '),
        ToolCallDelta(0, '"Paris"}'),
        ToolCallStart(1, "toolu_02", "get_time"),
        ToolCallDelta(1, '{"tz":"Europe/Paris"}'),
        Finish("tool_calls"),
        UsageUpdate(Usage(input_tokens=472, output_tokens=89)),
    ]


def test_stream_thinking() -> None:
    events = stream_events(fixture_bytes("stream_thinking.sse"))
    assert events[2:] == [
        ReasoningDelta(text="27 * 453: "),
        ReasoningDelta(text="= 12231."),
        ReasoningDelta(signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
        ReasoningDelta(redacted="EmwKAhgBEgy3va3pzix"),
        TextDelta('{"answer": 12231}'),
        Finish("length"),
        UsageUpdate(Usage(input_tokens=40, output_tokens=240, cache_creation_tokens=10)),
    ]


def test_stream_error_event_is_a_failure_with_the_overloaded_status() -> None:
    events = stream_events(fixture_bytes("stream_error.sse"))
    assert events[2] == TextDelta("Partial")
    failure = events[-1]
    assert isinstance(failure, StreamFailure) and len(events) == 4
    error = failure.error
    assert isinstance(error, UpstreamError)
    assert (error.status, error.kind, error.upstream_type, error.message) == (
        529,
        "overloaded",
        "overloaded_error",
        "Overloaded",
    )
    assert error.raw_format == "anthropic"
    assert error.raw_body is not None and _json.loads(error.raw_body)["error"]["type"] == "overloaded_error"


def test_stream_cut_short_fails_at_close() -> None:
    sse = fixture_bytes("stream_text.sse")
    events = stream_events(sse[: sse.index(b"event: message_delta")])
    failure = events[-1]
    assert isinstance(failure, StreamFailure)
    assert isinstance(failure.error, UpstreamProtocolError)
    assert "ended the stream early" in failure.error.message


def test_stream_garbage_is_a_protocol_failure() -> None:
    events = stream_events(b"event: message_start\ndata: {not json\n\n")
    assert len(events) == 1 and isinstance(events[0], StreamFailure)


# --- errors -----------------------------------------------------------------------------------


def test_parse_error_anthropic_body() -> None:
    raw = fixture_bytes("error_overloaded.json")
    error = PROVIDER.parse_error(response(raw, 529, {"retry-after": "12"}))
    assert (error.status, error.kind, error.message, error.upstream_type) == (
        529,
        "overloaded",
        "Overloaded",
        "overloaded_error",
    )
    assert (error.raw_body, error.raw_format, error.retry_after, error.provider) == (
        raw,
        "anthropic",
        12.0,
        "anthropic",
    )
    assert error.retryable is True


def test_parse_error_invalid_request_and_retry_after_ms() -> None:
    error = PROVIDER.parse_error(response(fixture_bytes("error_invalid_request.json"), 400, {"retry-after-ms": "1500"}))
    assert (error.status, error.kind, error.upstream_type) == (400, "invalid_request", "invalid_request_error")
    assert "String should match pattern" in error.message
    assert error.retry_after == 1.5


def test_parse_error_foreign_bodies_are_not_passed_through() -> None:
    html = PROVIDER.parse_error(response(b"<html>Bad gateway</html>", 502, {"retry-after": "Wed, 21 Oct 2015"}))
    assert (html.status, html.raw_format, html.retry_after) == (502, None, None)
    assert html.message == "anthropic returned HTTP 502: <html>Bad gateway</html>"
    openai_shaped = PROVIDER.parse_error(response(b'{"error":{"message":"nope","type":"server_error"}}', 500))
    assert (openai_shaped.message, openai_shaped.raw_format) == ("nope", None)


# --- count_tokens and models ------------------------------------------------------------------


def test_count_tokens_passthrough_and_translated() -> None:
    request = AnthropicDialect().parse_chat(fixture("request_chat.json"), Call())
    upstream = PROVIDER.build_count_tokens(request, "claude-sonnet-4-5", KEY)
    assert upstream.url == "https://api.anthropic.com/v1/messages/count_tokens"
    body = body_of(upstream)
    assert set(body) == {"model", "system", "messages"}
    translated = body_of(PROVIDER.build_count_tokens(openai_request(max_tokens=5, n=3, temperature=0.5), "m", KEY))
    assert translated == {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert PROVIDER.parse_count_tokens(response(fixture_bytes("count_tokens_response.json"))) == 2095
    with pytest.raises(UpstreamProtocolError):
        PROVIDER.parse_count_tokens(response(b"{}"))


def test_list_models() -> None:
    upstream = PROVIDER.build_list_models(KEY)
    assert (upstream.method, upstream.url) == ("GET", "https://api.anthropic.com/v1/models?limit=1000")
    assert upstream.headers["x-api-key"] == "sk-ant-test" and upstream.body is None
    models = PROVIDER.parse_list_models(response(fixture_bytes("models.json")))
    assert [(m.id, m.provider, m.display_name, m.created) for m in models] == [
        ("claude-sonnet-4-5-20250929", "anthropic", "Claude Sonnet 4.5", 1759104000),
        ("claude-3-5-haiku-20241022", "anthropic", "Claude Haiku 3.5", 1729555200),
    ]


def test_the_key_never_appears_in_errors() -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        PROVIDER.build_chat(openai_request(n=2), "m", KEY)
    assert "sk-ant-test" not in repr(info.value) + info.value.message


# --- round trips: Anthropic dialect <-> neutral <-> Anthropic provider -------------------------

DIALECT = AnthropicDialect()


def _as_foreign(request: ChatRequest) -> ChatRequest:
    """The same request as if another dialect had produced it: no raw body to pass through."""
    return replace(request, raw=None, source_format="openai", passthrough_headers={}, fallbacks=())


def _hoisted(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    system = [m for m in messages if m.role == "system"]
    offsets = [sum(len(m.parts) for m in system[:i]) for i in range(len(system))]
    cache = tuple((offset + index, hint) for m, offset in zip(system, offsets, strict=True) for index, hint in m.cache)
    merged = Message("system", tuple(p for m in system for p in m.parts), cache=cache) if system else None
    return ((merged,) if merged else ()) + tuple(m for m in messages if m.role != "system")


@pytest.mark.parametrize("name", ["request_chat.json", "request_tools.json", "request_thinking.json"])
def test_request_round_trip_through_translation(name: str) -> None:
    body = fixture(name)
    body["tools"] = [t for t in body.get("tools", []) if "type" not in t] or None  # server tools cannot translate
    original = DIALECT.parse_chat(body, Call())
    rebuilt = build(_as_foreign(original), original.model)
    again = DIALECT.parse_chat(rebuilt, Call())
    assert again.messages == _hoisted(original.messages)
    for field in (
        "model", "stream", "max_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning", "user",
    ):  # fmt: skip
        assert getattr(again, field) == getattr(original, field), field


def test_response_round_trip_through_translation() -> None:
    expected = fixture("response_tool_use.json")
    parsed = PROVIDER.parse_chat(response(fixture_bytes("response_tool_use.json")), openai_request(), "m")
    client_request = replace(openai_request(), model="claude-sonnet-4-5-20250929", source_format="anthropic")
    rendered = _json.loads(DIALECT.render_chat(replace(parsed, raw=None), client_request))
    for field in ("id", "type", "role", "model", "content", "stop_reason", "stop_sequence"):
        assert rendered[field] == expected[field], field
    usage_fields = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    assert {k: rendered["usage"][k] for k in usage_fields} == {k: expected["usage"][k] for k in usage_fields}
    # and with passthrough, the upstream body verbatim
    assert DIALECT.render_chat(parsed, client_request) == fixture_bytes("response_tool_use.json")


def _frames(sse: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    out = []
    for event in decoder.feed(sse) + decoder.close():
        data = _json.loads(event.data)
        assert event.event == data["type"]
        if data["type"] == "ping" or data.get("delta", {}).get("partial_json") == "":
            continue
        out.append(data)
    return out


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse"])
def test_stream_round_trip_through_translation(name: str) -> None:
    original = _frames(fixture_bytes(name))
    model = original[0]["message"]["model"]
    renderer = DIALECT.stream_renderer(replace(openai_request(), model=model, source_format="anthropic"))
    rendered = b"".join(renderer.render(e) for e in stream_events(fixture_bytes(name))) + renderer.finish()
    again = _frames(rendered)
    assert len(again) == len(original)
    assert again[0]["message"] | {"usage": None} == original[0]["message"] | {"usage": None}
    assert again[0]["message"]["usage"]["input_tokens"] == original[0]["message"]["usage"]["input_tokens"]
    assert again[1:-2] == original[1:-2]  # every content block frame, identical
    assert again[-2]["delta"] == original[-2]["delta"]
    assert again[-2]["usage"]["output_tokens"] == original[-2]["usage"]["output_tokens"]
    assert again[-1] == {"type": "message_stop"}


def test_error_round_trip() -> None:
    raw = fixture_bytes("error_overloaded.json")
    reply = DIALECT.render_error(PROVIDER.parse_error(response(raw, 529, {"retry-after": "4"})))
    assert (reply.status, reply.body, reply.headers) == (529, raw, {"retry-after": "4"})
    stream_error = stream_events(fixture_bytes("stream_error.sse"))[-1]
    assert isinstance(stream_error, StreamFailure)
    frame = DIALECT.stream_renderer(openai_request()).fail(stream_error.error)
    assert (
        frame == b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )


# --------------------------------------------------------------------------- prompt-cache hints


def test_cache_hints_become_cache_control_on_the_blocks_they_mark() -> None:
    hour = CacheHint("1h")
    body = build(
        openai_request(
            Message("system", (TextPart("rules"),), cache=((0, CacheHint()),)),
            Message("user", (TextPart("a"), TextPart("b")), cache=((0, hour),)),
            Message("assistant", (ReasoningPart("t", signature="sig"), ToolCall("c1", "f")), cache=((1, CacheHint()),)),
            Message("tool", (ToolResult("c1", (TextPart("r"),)),), cache=((0, CacheHint()),)),
            tools=(ToolSpec("f", cache=hour), ToolSpec("g")),
        )
    )
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    user, assistant, results = body["messages"]
    assert user["content"] == [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "b"},
    ]
    assert [b.get("cache_control") for b in assistant["content"]] == [None, {"type": "ephemeral"}]
    assert results["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert [t.get("cache_control") for t in body["tools"]] == [{"type": "ephemeral", "ttl": "1h"}, None]


def test_a_hint_on_thinking_or_an_empty_part_marks_the_block_before() -> None:
    body = build(
        openai_request(
            Message("user", (TextPart("q"),)),
            Message("assistant", (TextPart("x"), ReasoningPart("t", signature="s")), cache=((1, CacheHint()),)),
            Message("user", (TextPart("a"), TextPart("")), cache=((1, CacheHint()),)),
        )
    )
    assert body["messages"][1]["content"][0] == {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    assert body["messages"][2]["content"] == [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]
