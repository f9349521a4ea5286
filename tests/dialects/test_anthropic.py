"""The Anthropic dialect: Messages requests in, Messages responses / SSE / errors out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from bifrost_asgi import _json
from bifrost_asgi.dialects.anthropic import AnthropicDialect
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueueFullError,
    RateLimitedError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
)
from bifrost_asgi.neutral import (
    CacheHint,
    ChatRequest,
    ChatResponse,
    Choice,
    FilePart,
    Finish,
    ImagePart,
    Message,
    ModelInfo,
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
    Usage,
    UsageUpdate,
)
from bifrost_asgi.streaming import SSEDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"
DIALECT = AnthropicDialect()
CALL = Call()


def fixture(name: str) -> Any:
    return _json.loads((FIXTURES / name).read_bytes())


def parse(body: Any, headers: dict[str, str] | None = None) -> ChatRequest:
    return DIALECT.parse_chat(body, Call(headers=headers or {}))


def minimal(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **extra}


def sse_frames(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    decoder = SSEDecoder()
    events = decoder.feed(data) + decoder.close()
    return [(e.event, _json.loads(e.data)) for e in events]


# --- routes -----------------------------------------------------------------------------------


def test_routes_cover_messages_count_tokens_and_models() -> None:
    routes = {(r.method, r.path): r for r in DIALECT.routes}
    assert {k: r.operation for k, r in routes.items()} == {
        ("POST", "/v1/messages"): "chat",
        ("POST", "/v1/messages/count_tokens"): "count_tokens",
        ("GET", "/v1/models"): "models",
        ("GET", "/v1/models/{model_id:path}"): "model",
    }
    assert routes[("GET", "/v1/models/{model_id:path}")].options == {"single": True}
    assert DIALECT.name == "anthropic"


# --- parsing ----------------------------------------------------------------------------------


def test_parse_chat_fixture() -> None:
    body = fixture("request_chat.json")
    request = parse(body)
    assert request.model == "claude-sonnet-4-5"
    assert request.source_format == "anthropic"
    assert request.max_tokens == 1024
    assert (request.temperature, request.top_p, request.top_k) == (0.3, 0.9, 40)
    assert request.stop == ("\n\nHuman:", "FIN")
    assert request.user == "user-42"
    assert request.stream is False
    assert request.raw == body
    system, first, second, third = request.messages
    assert system == Message(
        "system",
        (TextPart("You are a careful assistant."), TextPart("Answer in French.")),
        cache=((0, CacheHint()),),  # the first block's cache_control
    )
    assert first == Message("user", (TextPart("Bonjour"),))
    assert second == Message("assistant", (TextPart("Bonjour ! Que puis-je faire ?"),))
    assert third.role == "user"
    assert third.parts == (
        TextPart("Describe these."),
        ImagePart(data="iVBORw0KGgoAAAANSUhEUg==", media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
        FilePart(data="JVBERi0xLjQK", media_type="application/pdf", filename="report.pdf"),
    )
    assert request.untranslatable == {}


def test_parse_tools_fixture() -> None:
    body = fixture("request_tools.json")
    request = parse(body)
    assert [t.name for t in request.tools] == ["get_weather", "get_time"]
    weather = request.tools[0]
    assert weather.description == "Current weather for a city"
    assert weather.parameters == body["tools"][0]["input_schema"]
    assert request.tool_choice == ToolChoice("required")
    assert request.parallel_tool_calls is False
    assert list(request.untranslatable) == ["tools[2]: server tool 'web_search_20250305'"]
    assert request.fallbacks == ("openai/gpt-4o-mini", "gemini/gemini-2.5-flash")
    assert request.raw is not None and "fallbacks" not in request.raw
    assert request.raw["tools"] == body["tools"]

    system, user, assistant, tool, follow_up = request.messages
    assert system == Message("system", (TextPart("Use tools when helpful."),))
    assert user.text() == "Weather and time in Paris?"
    assert assistant.parts == (
        ReasoningPart(text="I should call both tools.", signature="EqQBCkYIAxgCIkDsig=="),
        TextPart("Let me check."),
        ToolCall(id="toolu_01A", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCall(id="toolu_01B", name="get_time", arguments='{"tz":"Europe/Paris"}'),
    )
    assert tool == Message(
        "tool",
        (
            ToolResult("toolu_01A", (TextPart("18°C, cloudy"),), name="get_weather"),
            ToolResult("toolu_01B", (TextPart("clock offline"),), is_error=True, name="get_time"),
        ),
    )
    assert follow_up == Message("user", (TextPart("Thanks, summarise please."),))


def test_parse_thinking_fixture() -> None:
    request = parse(fixture("request_thinking.json"))
    assert request.stream is True and request.include_usage is True
    assert request.reasoning is not None
    assert (request.reasoning.enabled, request.reasoning.budget_tokens) == (True, 8000)
    assert request.response_format == ResponseFormat(
        "json_schema",
        schema={
            "type": "object",
            "properties": {"answer": {"type": "integer"}},
            "required": ["answer"],
            "additionalProperties": False,
        },
    )
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"]  # a system message keeps its position
    assert request.messages[2].parts[0] == ReasoningPart(redacted="EmwKAhgBEgy3va3pzix/LafPsn4a")


@pytest.mark.parametrize(
    ("thinking", "output_config", "expected"),
    [
        ({"type": "adaptive"}, {"effort": "high"}, (True, None, "high")),
        ({"type": "disabled"}, None, (False, None, None)),
        (None, {"effort": "low"}, (None, None, "low")),
    ],
)
def test_thinking_variants(thinking: Any, output_config: Any, expected: tuple[Any, Any, Any]) -> None:
    request = parse(minimal(thinking=thinking, output_config=output_config))
    assert request.reasoning is not None
    assert (request.reasoning.enabled, request.reasoning.budget_tokens, request.reasoning.effort) == expected


def test_no_thinking_means_no_reasoning() -> None:
    assert parse(minimal()).reasoning is None


@pytest.mark.parametrize(
    ("choice", "mode", "name"),
    [({"type": "auto"}, "auto", None), ({"type": "none"}, "none", None), ({"type": "tool", "name": "f"}, "tool", "f")],
)
def test_tool_choice_modes(choice: dict[str, Any], mode: str, name: str | None) -> None:
    request = parse(minimal(tool_choice=choice))
    assert request.tool_choice == ToolChoice(mode, name)  # type: ignore[arg-type]
    assert request.parallel_tool_calls is None


def test_beta_and_version_headers_are_kept_for_passthrough() -> None:
    request = parse(minimal(), {"anthropic-beta": "a,b", "anthropic-version": "2026-10-21", "x-other": "1"})
    assert request.passthrough_headers == {"anthropic-beta": "a,b", "anthropic-version": "2026-10-21"}


def test_document_text_and_url_sources() -> None:
    content = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "héllo"}},
        {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
    ]
    request = parse(minimal(messages=[{"role": "user", "content": content}]))
    assert request.messages[0].parts == (
        FilePart(data="aMOpbGxv", media_type="text/plain"),
        FilePart(url="https://x/a.pdf", media_type="application/pdf"),
    )


def test_untranslatable_sources_and_fields_are_recorded() -> None:
    content = [
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "search_result", "source": "x", "title": "t", "content": []},
        {"type": "text", "text": "see"},
    ]
    request = parse(minimal(messages=[{"role": "user", "content": content}], container="c_1"))
    assert set(request.untranslatable) == {
        "messages[0].content[0].source: image source type 'file'",
        "messages[0].content[1]: content block type 'search_result'",
        "container",
    }
    assert request.messages[0].parts == (TextPart("see"),)


def test_count_tokens_does_not_need_max_tokens() -> None:
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    request = DIALECT.parse_count_tokens(body, CALL)
    assert request.max_tokens is None
    assert request.stream is False
    assert request.raw == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "request body"),
        ({"max_tokens": 5, "messages": []}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (minimal(max_tokens="10"), "max_tokens"),
        (minimal(max_tokens=0), "max_tokens"),
        (minimal(max_tokens=True), "max_tokens"),
        (minimal(messages={"role": "user"}), "messages"),
        (minimal(messages=[{"role": "tool", "content": "x"}]), "messages[0].role"),
        (minimal(messages=[{"role": "user"}]), "messages[0].content"),
        (minimal(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (minimal(messages=[{"role": "user", "content": [{"text": "x"}]}]), "messages[0].content[0].type"),
        (
            minimal(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]),
            "messages[0].content[0].source.data",
        ),
        (
            minimal(messages=[{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]),
            "messages[0].content[0]",
        ),
        (
            minimal(messages=[{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f"}]}]),
            "messages[0].content[0]",
        ),
        (minimal(system=[{"type": "image"}]), "system[0].type"),
        (minimal(system=5), "system"),
        (minimal(fallbacks="openai/gpt-4o"), "fallbacks"),
        (minimal(fallbacks=["openai/gpt-4o", 3]), "fallbacks[1]"),
        (minimal(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (minimal(tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (minimal(tool_choice={"type": "tool"}), "tool_choice.name"),
        (minimal(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (minimal(thinking={"type": "maybe"}), "thinking.type"),
        (minimal(temperature="hot"), "temperature"),
        (minimal(stop_sequences=["a", 1]), "stop_sequences[1]"),
        (minimal(metadata={"user_id": 5}), "metadata.user_id"),
        (minimal(output_config={"format": {"type": "regex"}}), "output_config.format.type"),
        (minimal(stream="yes"), "stream"),
    ],
)
def test_bad_requests_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse(body)
    assert info.value.status == 400
    assert info.value.message.startswith(f"{field}:"), info.value.message


# --- rendering responses ----------------------------------------------------------------------


def _response(message: Message, finish: Any = "stop", usage: Usage | None = None, **kw: Any) -> ChatResponse:
    return ChatResponse(id="chatcmpl-abc.1", model="gpt-4o", choices=(Choice(0, message, finish, **kw),), usage=usage)


def test_render_chat_passthrough_is_verbatim() -> None:
    raw = b'{"id":"msg_1","type":"message","extra":"kept"}'
    response = ChatResponse(id="msg_1", model="m", choices=(), raw=raw, raw_format="anthropic")
    assert DIALECT.render_chat(response, parse(minimal())) == raw
    other_source = ChatRequest(model="m", messages=(), source_format="openai")
    assert DIALECT.render_chat(response, other_source) != raw


def test_render_chat_translates_blocks_usage_and_ids() -> None:
    message = Message(
        "assistant",
        (
            ReasoningPart(text="hmm", signature="sig"),
            ReasoningPart(redacted="opaque"),
            TextPart(""),
            TextPart("Calling."),
            ToolCall(id="functions.Bash:0", name="bash", arguments='{"cmd": "ls"}'),
        ),
    )
    usage = Usage(input_tokens=100, output_tokens=7, cached_input_tokens=60, cache_creation_tokens=10)
    body = _json.loads(DIALECT.render_chat(_response(message, "tool_calls", usage), parse(minimal())))
    assert body == {
        "id": "msg_chatcmpl-abc_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "functions_Bash_0", "name": "bash", "input": {"cmd": "ls"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 30,
            "cache_creation_input_tokens": 10,
            "cache_read_input_tokens": 60,
            "output_tokens": 7,
        },
    }
    anthropic.types.Message.model_validate(body)  # the SDK's own model accepts it


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("stop_sequence", "stop_sequence"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        ("other", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_render_chat_stop_reasons(finish: Any, stop_reason: str) -> None:
    body = _json.loads(DIALECT.render_chat(_response(Message("assistant", (TextPart("x"),)), finish), parse(minimal())))
    assert body["stop_reason"] == stop_reason


def test_stop_with_tool_calls_is_tool_use_and_stop_sequence_is_kept() -> None:
    calls = Message("assistant", (ToolCall("c1", "f"),))
    body = _json.loads(DIALECT.render_chat(_response(calls, "stop"), parse(minimal())))
    assert body["stop_reason"] == "tool_use"
    text = Message("assistant", (TextPart("x"),))
    body = _json.loads(DIALECT.render_chat(_response(text, "stop_sequence", stop_sequence="FIN"), parse(minimal())))
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "FIN")
    assert body["usage"]["input_tokens"] == 0  # no usage reported


# --- stream rendering -------------------------------------------------------------------------

TOOL_STREAM: list[StreamEvent] = [
    StreamStart(id="chatcmpl-9", model="gpt-4o"),
    ReasoningDelta(text="think "),
    ReasoningDelta(text="more", signature="sig-1"),
    TextDelta("Hel"),
    TextDelta(""),
    TextDelta("lo"),
    ToolCallStart(0, "call:1", "get_weather"),
    ToolCallDelta(0, '{"city":'),
    ToolCallDelta(0, '"Paris"}'),
    ToolCallStart(1, "call_2", "get_time"),
    ToolCallDelta(1, "{}"),
    Finish("tool_calls"),
    UsageUpdate(Usage(input_tokens=50, output_tokens=20, cached_input_tokens=5)),
]


def render_stream(events: list[StreamEvent], model: str = "claude-x") -> bytes:
    renderer = DIALECT.stream_renderer(ChatRequest(model=model, messages=(), source_format="anthropic"))
    assert renderer.media_type == "text/event-stream"
    return b"".join(renderer.render(e) for e in events) + renderer.finish()


def test_stream_frames_follow_the_anthropic_order() -> None:
    frames = sse_frames(render_stream(TOOL_STREAM))
    assert all(name == data["type"] for name, data in frames)  # every frame has its event: line
    summary = [(d["type"], d.get("index"), d.get("delta", {}).get("type")) for _, d in frames]
    assert summary == [
        ("message_start", None, None),
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, None),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, None),
        ("content_block_delta", 3, "input_json_delta"),
        ("content_block_stop", 3, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    start = frames[0][1]["message"]
    assert (start["id"], start["model"], start["content"], start["usage"]["input_tokens"]) == (
        "msg_chatcmpl-9",
        "claude-x",
        [],
        0,
    )
    assert frames[10][1]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
    delta = frames[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 45,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5,
        "output_tokens": 20,
    }


def test_early_usage_lands_in_message_start() -> None:
    events: list[StreamEvent] = [
        StreamStart(id="msg_1", model="m"),
        UsageUpdate(Usage(input_tokens=12)),
        TextDelta("x"),
        Finish("stop"),
        UsageUpdate(Usage(input_tokens=12, output_tokens=3)),
    ]
    frames = sse_frames(render_stream(events))
    assert frames[0][1]["message"]["id"] == "msg_1"
    assert frames[0][1]["message"]["usage"]["input_tokens"] == 12
    assert frames[-2][1]["usage"]["output_tokens"] == 3
    assert frames[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_redacted_thinking_and_a_second_signed_block_get_their_own_blocks() -> None:
    events: list[StreamEvent] = [
        StreamStart(id="m", model="m"),
        ReasoningDelta(redacted="opaque"),
        ReasoningDelta(text="a", signature="s1"),
        ReasoningDelta(text="b"),
        Finish("stop"),
    ]
    frames = sse_frames(render_stream(events))
    blocks = [(d["type"], d["index"]) for _, d in frames if d["type"].startswith("content_block_s")]
    assert blocks == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_stop", 2),
    ]
    starts = [d["content_block"] for _, d in frames if d["type"] == "content_block_start"]
    assert starts == [
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "thinking", "thinking": "", "signature": ""},
    ]


def _sdk(handler: Callable[[httpx2.Request], httpx2.Response]) -> anthropic.Anthropic:
    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="test", base_url="http://gw/anthropic", max_retries=0, http_client=httpx2.Client(transport=transport)
    )


def _sse_response(body: bytes) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return handler


def test_the_anthropic_sdk_accumulates_the_rendered_stream() -> None:
    client = _sdk(_sse_response(render_stream(TOOL_STREAM)))
    with client.messages.stream(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, weather, time = final.content
    assert isinstance(thinking, anthropic.types.ThinkingBlock)
    assert (thinking.thinking, thinking.signature) == ("think more", "sig-1")
    assert isinstance(text, anthropic.types.TextBlock) and text.text == "Hello"
    assert isinstance(weather, anthropic.types.ToolUseBlock)
    assert (weather.id, weather.input) == ("call_1", {"city": "Paris"})
    assert isinstance(time, anthropic.types.ToolUseBlock) and time.input == {}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (45, 20, 5)


def test_fail_renders_an_error_event_the_sdk_raises() -> None:
    renderer = DIALECT.stream_renderer(parse(minimal(stream=True)))
    body = renderer.render(StreamStart("m", "m")) + renderer.render(TextDelta("par"))
    body += renderer.render(StreamFailure(UpstreamTimeoutError("upstream went quiet")))
    frames = sse_frames(body)
    assert frames[-1] == (
        "error",
        {"type": "error", "error": {"type": "timeout_error", "message": "upstream went quiet"}},
    )
    client = _sdk(_sse_response(body))
    messages: Any = [{"role": "user", "content": "hi"}]
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model="m", max_tokens=10, messages=messages) as s,
    ):
        s.get_final_message()
    assert "upstream went quiet" in str(info.value)


def test_fail_passes_an_anthropic_error_body_through() -> None:
    raw = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    error = UpstreamError("Overloaded", status=529, raw_body=raw, raw_format="anthropic")
    assert DIALECT.stream_renderer(parse(minimal())).fail(error) == b"event: error\ndata: " + raw + b"\n\n"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (InvalidRequestError("messages: bad"), 400, "invalid_request_error"),
        (AuthenticationError("bad key"), 401, "authentication_error"),
        (PermissionDeniedError("no"), 403, "permission_error"),
        (NotFoundError("no model"), 404, "not_found_error"),
        (RequestTooLargeError("big"), 413, "request_too_large"),
        (RateLimitedError("slow down"), 429, "rate_limit_error"),
        (QueueFullError("queue full"), 429, "rate_limit_error"),
        (ServiceUnavailableError("shutting down"), 529, "overloaded_error"),
        (UpstreamError("busy", status=503, raw_format="openai", raw_body=b"{}"), 529, "overloaded_error"),
        (UpstreamError("quota", status=402), 402, "billing_error"),
        (UpstreamError("teapot", status=418), 418, "invalid_request_error"),
        (UpstreamTimeoutError("slow"), 504, "timeout_error"),
        (UpstreamConnectionError("refused"), 502, "api_error"),
        (GatewayError("boom"), 500, "api_error"),
    ],
)
def test_render_error_maps_kinds(error: GatewayError, status: int, error_type: str) -> None:
    reply = DIALECT.render_error(error)
    assert reply.status == status
    assert _json.loads(reply.body) == {"type": "error", "error": {"type": error_type, "message": error.message}}


def test_render_error_passes_anthropic_bodies_through_and_sets_retry_after() -> None:
    raw = (FIXTURES / "error_overloaded.json").read_bytes()
    error = UpstreamError("Overloaded", status=529, raw_body=raw, raw_format="anthropic", retry_after=2.5)
    reply = DIALECT.render_error(error)
    assert (reply.status, reply.body, reply.headers) == (529, raw, {"retry-after": "3"})
    limited = DIALECT.render_error(RateLimitedError("slow", retry_after=7))
    assert limited.headers == {"retry-after": "7"}
    assert DIALECT.render_error(InvalidRequestError("x", retry_after=7)).headers == {}


@pytest.mark.parametrize(
    ("error", "exc_class"),
    [
        (InvalidRequestError("messages: bad"), anthropic.BadRequestError),
        (AuthenticationError("bad key"), anthropic.AuthenticationError),
        (PermissionDeniedError("no"), anthropic.PermissionDeniedError),
        (NotFoundError("nope"), anthropic.NotFoundError),
        (RateLimitedError("slow"), anthropic.RateLimitError),
        (ServiceUnavailableError("busy"), anthropic.OverloadedError),
        (UpstreamTimeoutError("slow"), anthropic.GatewayTimeoutError),
        (GatewayError("boom"), anthropic.InternalServerError),
    ],
)
def test_the_sdk_raises_its_own_classes_for_rendered_errors(
    error: GatewayError, exc_class: type[anthropic.APIStatusError]
) -> None:
    reply = DIALECT.render_error(error)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(reply.status, content=reply.body, headers={"content-type": "application/json"})

    with pytest.raises(exc_class) as info:
        _sdk(handler).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == reply.status
    assert info.value.body == _json.loads(reply.body)
    assert info.value.message.endswith(error.message) or error.message in info.value.message


# --- models, count_tokens, embeddings ---------------------------------------------------------


def test_render_models_prefixes_other_providers() -> None:
    models = [
        ModelInfo(id="claude-sonnet-4-5", provider="anthropic", created=1759104000, display_name="Claude Sonnet 4.5"),
        ModelInfo(id="gpt-4o", provider="openai"),
    ]
    body = _json.loads(DIALECT.render_models(models, CALL))
    assert body == {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
                "lifecycle": "active",
            },
            {
                "type": "model",
                "id": "openai/gpt-4o",
                "display_name": "gpt-4o",
                "created_at": "1970-01-01T00:00:00Z",
                "lifecycle": "active",
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5",
        "last_id": "openai/gpt-4o",
    }
    client = _sdk(lambda _: httpx2.Response(200, content=DIALECT.render_models(models, CALL)))
    listed = list(client.models.list())
    assert [m.id for m in listed] == ["claude-sonnet-4-5", "openai/gpt-4o"]
    for item in body["data"]:
        anthropic.types.ModelInfo.model_validate(item)


def test_render_single_model_and_missing_model() -> None:
    single = Call(options={"single": True}, path_params={"model_id": "gpt-4o"})
    body = _json.loads(DIALECT.render_models([ModelInfo(id="gpt-4o", provider="openai")], single))
    assert body["id"] == "openai/gpt-4o" and body["type"] == "model"
    with pytest.raises(NotFoundError, match="gpt-4o"):
        DIALECT.render_models([], single)
    assert _json.loads(DIALECT.render_models([], CALL)) == {
        "data": [],
        "has_more": False,
        "first_id": None,
        "last_id": None,
    }


def test_count_tokens_and_embeddings() -> None:
    assert _json.loads(DIALECT.render_count_tokens(42)) == {"input_tokens": 42}
    with pytest.raises(NotFoundError):
        DIALECT.parse_embeddings({"model": "m", "input": "x"}, CALL)
