"""The Gemini provider: neutral -> generateContent requests, Gemini answers / SSE / errors -> neutral."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.genai import GenAIDialect
from bifrost_asgi.errors import InvalidRequestError, UnsupportedFeatureError, UpstreamError, UpstreamProtocolError
from bifrost_asgi.neutral import (
    AudioPart,
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
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.providers.gemini import GeminiProvider
from bifrost_asgi.providers.gemini_build import SKIP_SIGNATURE
from bifrost_asgi.providers.gemini_wire import is_synthetic_id, synthesise_call_id
from bifrost_asgi.streaming import SSEDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gemini"
KEY = KeyConfig(value=SecretStr("AIza-test-key"))
PROVIDER = GeminiProvider("gemini", ProviderConfig())
BASE = "https://generativelanguage.googleapis.com/v1beta"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def neutral(*messages: Message, **options: Any) -> ChatRequest:
    """A neutral request as another dialect would produce it."""
    return ChatRequest(model="gemini-2.5-flash", messages=messages or (Message("user", (TextPart("hi"),)),), **options)


def body_of(request: UpstreamRequest) -> Any:
    assert request.body is not None
    return _json.loads(request.body)


def build(request: ChatRequest, model: str = "gemini-2.5-flash") -> Any:
    return body_of(PROVIDER.build_chat(request, model, KEY))


def ok(body: bytes, status: int = 200, **headers: str) -> UpstreamResponse:
    return UpstreamResponse(status=status, headers=headers, body=body)


def stream(name: str) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(neutral(stream=True), "gemini-2.5-flash")
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    data = fixture_bytes(name)
    for start in range(0, len(data), 37):  # chunks split anywhere
        for sse in decoder.feed(data[start : start + 37]):
            events.extend(parser.feed(sse))
    for sse in decoder.close():
        events.extend(parser.feed(sse))
    events.extend(parser.close())
    return events


# --- requests: URLs, headers, passthrough ------------------------------------------------------------


def test_chat_url_headers_and_key() -> None:
    request = PROVIDER.build_chat(neutral(), "gemini-2.5-flash", KEY)
    assert request.method == "POST"
    assert request.url == f"{BASE}/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "AIza-test-key"
    assert request.headers["content-type"] == "application/json"
    assert not request.stream
    streamed = PROVIDER.build_chat(neutral(stream=True), "gemini-2.5-flash", KEY)
    assert streamed.url == f"{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert streamed.stream


def test_base_url_extra_headers_and_model_names() -> None:
    network = NetworkConfig(base_url="https://proxy.example/v1/", extra_headers={"X-Team": "a"})
    provider = GeminiProvider("my-gemini", ProviderConfig(network_config=network))
    request = provider.build_chat(neutral(), "tunedModels/my-tune", None)
    assert request.url == "https://proxy.example/v1/tunedModels/my-tune:generateContent"
    assert request.headers["x-team"] == "a"
    assert "x-goog-api-key" not in request.headers
    assert provider.build_chat(neutral(), "models/gemini-2.0", KEY).url.endswith(
        "/v1/models/gemini-2.0:generateContent"
    )
    assert provider.name == "my-gemini" and provider.format == "gemini" and not provider.keyless


def test_gemini_client_body_is_passed_through() -> None:
    dialect_request = GenAIDialect().parse_chat(
        _json.loads(fixture_bytes("request_sdk_mixed.json")), Call(path_params={"model": "gemini-2.5-flash"})
    )
    body = build(dialect_request, "gemini-2.5-pro")
    expected = _json.loads(fixture_bytes("request_sdk_mixed.json"))
    del expected["fallbacks"]
    assert body == expected
    # even with fields other formats cannot express
    with_search = replace(dialect_request, untranslatable={"tools[1].googleSearch": {}})
    assert build(with_search)["tools"] == expected["tools"]


def test_untranslatable_fields_are_refused() -> None:
    request = neutral(untranslatable={"logit_bias": {"1": 2}, "web_search_options": {}})
    with pytest.raises(UnsupportedFeatureError, match="logit_bias; web_search_options"):
        build(request)


# --- requests: translation --------------------------------------------------------------------------


def test_roles_system_hoisting_and_merging() -> None:
    request = neutral(
        Message("system", (TextPart("Be brief."),)),
        Message("user", (TextPart("a"),)),
        Message("developer", (TextPart("Use metric."),)),
        Message("user", (TextPart("b"), TextPart(""))),
        Message("assistant", (TextPart("ok"),)),
        Message("assistant", (TextPart(""),)),
    )
    body = build(request)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "ok"}]},
    ]


def test_tool_calls_results_and_name_lookup() -> None:
    request = neutral(
        Message("user", (TextPart("weather?"),)),
        Message(
            "assistant",
            (
                ToolCall("call_Abc123", "get_weather", '{"city":"Paris"}', signature="sig1"),
                ToolCall(synthesise_call_id("r", 0, 1, "get_time", "{}"), "get_time", "{}"),
            ),
        ),
        Message(
            "tool",
            (
                ToolResult("call_Abc123", (TextPart('{"temp_c": 21}'),)),
                ToolResult(synthesise_call_id("r", 0, 1, "get_time", "{}"), (TextPart("no clock"),), is_error=True),
            ),
        ),
        Message("tool", (ToolResult("other", (TextPart("[1, 2]"),), name="explicit"),)),
        Message("user", (TextPart("thanks"),)),
    )
    contents = build(request)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_Abc123"},
                "thoughtSignature": "sig1",
            },
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": {"temp_c": 21}}, "id": "call_Abc123"}},
            {"functionResponse": {"name": "get_time", "response": {"error": "no clock"}}},
            {"functionResponse": {"name": "explicit", "response": {"output": "[1, 2]"}, "id": "other"}},
            {"text": "thanks"},
        ],
    }
    assert len(contents) == 3


def test_tool_result_without_a_matching_call_names_the_message() -> None:
    request = neutral(Message("user", (TextPart("q"),)), Message("tool", (ToolResult("call_x", (TextPart("r"),)),)))
    with pytest.raises(InvalidRequestError, match=r"messages\[1\]\.content\[0\]: the tool result for call 'call_x'"):
        build(request)


def test_tool_result_media_follows_the_function_responses() -> None:
    request = neutral(
        Message("assistant", (ToolCall("c1", "shot", "{}"),)),
        Message("tool", (ToolResult("c1", (TextPart("done"), ImagePart(data="AAA", media_type="image/png"))),)),
    )
    assert build(request)["contents"][1]["parts"] == [
        {"functionResponse": {"name": "shot", "response": {"output": "done"}, "id": "c1"}},
        {"inlineData": {"mimeType": "image/png", "data": "AAA"}},
    ]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini-3-pro-preview", SKIP_SIGNATURE),
        ("gemini-3.0-flash", SKIP_SIGNATURE),
        ("gemini-2.5-flash", None),
    ],
)
def test_gemini3_gets_the_documented_signature_placeholder(model: str, expected: str | None) -> None:
    request = neutral(
        Message("user", (TextPart("q"),)),
        Message("assistant", (ToolCall("toolu_1", "f", "{}"), ToolCall("toolu_2", "g", "{}"))),
        Message("tool", (ToolResult("toolu_1", (TextPart("1"),)), ToolResult("toolu_2", (TextPart("2"),)))),
    )
    parts = build(request, model)["contents"][1]["parts"]
    assert parts[0].get("thoughtSignature") == expected
    assert "thoughtSignature" not in parts[1]


def test_real_signatures_are_never_replaced() -> None:
    request = neutral(
        Message("user", (TextPart("q"),)),
        Message("assistant", (ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}", signature="real"))),
    )
    parts = build(request, "gemini-3-pro-preview")["contents"][1]["parts"]
    assert "thoughtSignature" not in parts[0] and parts[1]["thoughtSignature"] == "real"


def test_reasoning_parts_are_not_sent_back() -> None:
    request = neutral(
        Message("user", (TextPart("q"),)),
        Message("assistant", (ReasoningPart("thinking", signature="anthropic-sig"), TextPart("a"))),
    )
    assert build(request)["contents"][1] == {"role": "model", "parts": [{"text": "a"}]}


def test_media_parts() -> None:
    request = neutral(
        Message(
            "user",
            (
                ImagePart(data="iVBO", media_type="image/png"),
                ImagePart(url="data:image/jpeg;base64,/9j/"),
                ImagePart(url="https://generativelanguage.googleapis.com/v1beta/files/f1", media_type="image/png"),
                FilePart(url="gs://bucket/doc.pdf"),
                FilePart(data="JVBE", media_type="application/pdf"),
                AudioPart(data="UklG", format="wav"),
            ),
        )
    )
    assert build(request)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/f1", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "gs://bucket/doc.pdf"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
    ]


@pytest.mark.parametrize(
    ("part", "error", "message"),
    [
        (ImagePart(url="https://example.com/cat.png"), UnsupportedFeatureError, "does not download them"),
        (FilePart(file_id="file-abc"), UnsupportedFeatureError, "vendor file ids"),
        (ImagePart(data="AAA"), InvalidRequestError, "needs a media type"),
        (ImagePart(url="data:image/png,notbase64"), InvalidRequestError, "expected a data URL"),
    ],
)
def test_unsendable_media_names_the_part(part: Any, error: type[Exception], message: str) -> None:
    request = neutral(Message("user", (TextPart("look"), part)))
    with pytest.raises(error, match=rf"messages\[0\]\.content\[1\]: .*{message}"):
        build(request)


def test_tools_and_tool_choice() -> None:
    tools = (
        ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
        ToolSpec("noop"),
    )
    body = build(neutral(tools=tools, tool_choice=ToolChoice("tool", "get_weather"), parallel_tool_calls=False))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather",
                    "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                {"name": "noop", "parametersJsonSchema": {"type": "object", "properties": {}}},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    for mode, gemini in (("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")):
        built = build(neutral(tools=tools, tool_choice=ToolChoice(mode)))  # type: ignore[arg-type]
        assert built["toolConfig"] == {"functionCallingConfig": {"mode": gemini}}


def test_generation_config() -> None:
    request = neutral(
        temperature=0.5,
        top_p=0.9,
        top_k=20,
        n=2,
        max_tokens=100,
        stop=("END", "STOP"),
        seed=3,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format=ResponseFormat("json_schema", schema={"type": "object"}, name="x"),
        user="u-1",
    )
    assert build(request)["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 20,
        "candidateCount": 2,
        "maxOutputTokens": 100,
        "stopSequences": ["END", "STOP"],
        "seed": 3,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }
    assert build(neutral(response_format=ResponseFormat("json_object")))["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    assert "generationConfig" not in build(neutral(response_format=ResponseFormat("text")))


def test_too_many_stop_sequences() -> None:
    with pytest.raises(InvalidRequestError, match="stop: Gemini accepts at most 5 stop sequences, got 6"):
        build(neutral(stop=tuple("abcdef")))


@pytest.mark.parametrize(
    ("reasoning", "model", "expected"),
    [
        (Reasoning(enabled=False), "gemini-2.5-flash", {"thinkingBudget": 0}),
        (Reasoning(enabled=False), "gemini-3-pro-preview", {"thinkingLevel": "low"}),
        (
            Reasoning(budget_tokens=2048, include_thoughts=True),
            "gemini-2.5-pro",
            {"thinkingBudget": 2048, "includeThoughts": True},
        ),
        (Reasoning(effort="medium"), "gemini-2.5-flash", {"thinkingBudget": 8192}),
        (Reasoning(effort="minimal"), "gemini-3-flash", {"thinkingLevel": "low"}),
        (Reasoning(effort="high"), "gemini-3-pro-preview", {"thinkingLevel": "high"}),
        (Reasoning(effort="whatever"), "gemini-2.5-flash", {"thinkingBudget": -1}),
        (Reasoning(enabled=True), "gemini-2.5-flash", {"thinkingBudget": -1}),
        (Reasoning(enabled=True), "gemini-3-pro-preview", None),
    ],
)
def test_thinking_config(reasoning: Reasoning, model: str, expected: dict[str, Any] | None) -> None:
    assert build(neutral(reasoning=reasoning), model).get("generationConfig", {}).get("thinkingConfig") == expected


def test_no_conversation_is_an_error() -> None:
    with pytest.raises(InvalidRequestError, match="messages: Gemini needs at least one user or assistant message"):
        build(neutral(Message("system", (TextPart("only a system prompt"),))))


# --- answers ----------------------------------------------------------------------------------------


def test_parse_function_call_response() -> None:
    raw = fixture_bytes("response_function_call.json")
    response = PROVIDER.parse_chat(ok(raw), neutral(), "gemini-2.5-flash")
    assert response.raw == raw and response.raw_format == "gemini"
    assert (response.id, response.model) == ("resp-fc-1", "gemini-2.5-flash")
    (choice,) = response.choices
    assert choice.finish_reason == "tool_calls"
    first_id = synthesise_call_id("resp-fc-1", 0, 0, "get_weather", '{"city":"Paris"}')
    assert choice.message.parts == (
        ReasoningPart("Planning the call.", signature="dGhvdWdodA=="),
        TextPart("Let me check the weather."),
        ToolCall(first_id, "get_weather", '{"city":"Paris"}', signature="c2lnMQ=="),
        ToolCall("fc-2", "get_time", "{}"),
    )
    assert is_synthetic_id(first_id) and not is_synthetic_id("fc-2")
    assert response.usage == Usage(input_tokens=40, output_tokens=42, cached_input_tokens=8, reasoning_tokens=30)


def test_parse_text_and_blocked_responses() -> None:
    text = PROVIDER.parse_chat(ok(fixture_bytes("response_text.json")), neutral(), "gemini-2.5-flash")
    assert text.choices[0].finish_reason == "length"
    assert text.message.parts == (TextPart("Hello there."),)
    assert text.usage == Usage(input_tokens=5, output_tokens=3)
    blocked = PROVIDER.parse_chat(ok(fixture_bytes("response_blocked.json")), neutral(), "gemini-2.5-flash")
    assert len(blocked.choices) == 1
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.message.parts == ()
    assert blocked.usage == Usage(input_tokens=9)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("OTHER", "other"),
        (None, None),
    ],
)
def test_finish_reason_mapping(reason: str | None, expected: str | None) -> None:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0}
    if reason is not None:
        candidate["finishReason"] = reason
    response = PROVIDER.parse_chat(ok(_json.dumps({"candidates": [candidate]})), neutral(), "gemini-x")
    assert response.choices[0].finish_reason == expected
    assert response.id.startswith("gemini-") and response.model == "gemini-x"


def test_synthesised_ids_are_deterministic_and_distinct_per_response() -> None:
    def ids(response_id: str) -> str:
        body = {
            "candidates": [
                {"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}
            ],
            "responseId": response_id,
        }
        return PROVIDER.parse_chat(ok(_json.dumps(body)), neutral(), "g").message.tool_calls[0].id

    assert ids("a") == ids("a") != ids("b")


def test_unreadable_answer() -> None:
    with pytest.raises(UpstreamProtocolError, match="unreadable generateContent answer"):
        PROVIDER.parse_chat(ok(b"<html>"), neutral(), "g")


def test_multiple_candidates() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1},
        ]
    }
    response = PROVIDER.parse_chat(ok(_json.dumps(body)), neutral(n=2), "g")
    assert [(c.index, c.message.text(), c.finish_reason) for c in response.choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


# --- streams ----------------------------------------------------------------------------------------


def test_stream_text_with_thoughts() -> None:
    assert stream("stream_text.sse") == [
        StreamStart("r-stream-1", "gemini-2.5-flash"),
        ReasoningDelta("Thinking about it"),
        TextDelta("Hel"),
        TextDelta("lo!"),
        Finish("stop"),
        UsageUpdate(Usage(input_tokens=10, output_tokens=6, reasoning_tokens=4)),
    ]


def test_stream_tool_calls() -> None:
    first = synthesise_call_id("r-tools-1", 0, 0, "get_weather", '{"city":"Paris"}')
    second = synthesise_call_id("r-tools-1", 0, 1, "get_weather", '{"city":"Rome"}')
    assert first != second
    assert stream("stream_tool_call.sse") == [
        StreamStart("r-tools-1", "gemini-3-pro-preview"),
        TextDelta("Checking."),
        ToolCallStart(0, first, "get_weather", signature="c2lnLXN0cmVhbQ=="),
        ToolCallDelta(0, '{"city":"Paris"}'),
        ToolCallStart(1, second, "get_weather"),
        ToolCallDelta(1, '{"city":"Rome"}'),
        Finish("tool_calls"),
        UsageUpdate(Usage(input_tokens=20, output_tokens=15)),
    ]


def test_stream_in_band_error() -> None:
    events = stream("stream_error.sse")
    assert events[:2] == [StreamStart("r-err", "gemini-2.5-flash"), TextDelta("Par")]
    assert len(events) == 3
    failure = events[2]
    assert isinstance(failure, StreamFailure) and isinstance(failure.error, UpstreamError)
    assert (failure.error.status, failure.error.kind, failure.error.message) == (
        503,
        "overloaded",
        "The model is overloaded. Please try again later.",
    )
    assert failure.error.raw_format == "gemini" and failure.error.retryable


def test_stream_ending_early_is_a_failure() -> None:
    parser = PROVIDER.stream_parser(neutral(stream=True), "gemini-2.5-flash")
    frame = '{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"index":0}]}'
    events = list(parser.feed(SSEDecoder().feed(f"data: {frame}\n\n".encode())[0]))
    assert [type(e) for e in events] == [StreamStart, TextDelta]
    (failure,) = parser.close()
    assert isinstance(failure, StreamFailure) and isinstance(failure.error, UpstreamProtocolError)
    assert "ended the stream early" in failure.error.message


def test_stream_usage_after_finish_and_bad_frames() -> None:
    parser = PROVIDER.stream_parser(neutral(stream=True), "g")
    finish = '{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}],"responseId":"x"}'
    usage = '{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}'
    events = [*parser.feed(SSEDecoder().feed(f"data: {finish}\n\n".encode())[0])]
    events += parser.feed(SSEDecoder().feed(f"data: {usage}\n\n".encode())[0])
    events += parser.close()
    assert events == [StreamStart("x", "g"), TextDelta("a"), Finish("stop"), UsageUpdate(Usage(3, 1))]
    broken = PROVIDER.stream_parser(neutral(stream=True), "g")
    (failure,) = broken.feed(SSEDecoder().feed(b"data: {not json\n\n")[0])
    assert isinstance(failure, StreamFailure) and isinstance(failure.error, UpstreamProtocolError)
    assert list(broken.close()) == []


def test_stream_blocked_prompt() -> None:
    parser = PROVIDER.stream_parser(neutral(stream=True), "g")
    frame = fixture_bytes("response_blocked.json").strip()
    events = list(parser.feed(SSEDecoder().feed(b"data: " + frame + b"\n\n")[0]))
    assert events[1:] == [Finish("content_filter"), UsageUpdate(Usage(input_tokens=9))]
    assert list(parser.close()) == []


# --- errors -----------------------------------------------------------------------------------------


def test_invalid_key_becomes_an_authentication_error() -> None:
    raw = fixture_bytes("error_api_key_invalid.json")
    error = PROVIDER.parse_error(ok(raw, 400))
    assert (error.status, error.kind, error.code) == (401, "authentication", "API_KEY_INVALID")
    assert error.raw_body == raw and error.raw_format == "gemini"
    assert error.upstream_type == "INVALID_ARGUMENT"
    assert error.key_failure and not error.retryable
    assert "AIza-test-key" not in error.message


def test_rate_limit_retry_info() -> None:
    error = PROVIDER.parse_error(ok(fixture_bytes("error_rate_limited.json"), 429))
    assert (error.status, error.kind, error.retry_after) == (429, "rate_limit", 37.0)
    assert error.retryable and error.message.startswith("You exceeded your current quota")
    header_wins = PROVIDER.parse_error(ok(fixture_bytes("error_rate_limited.json"), 429, **{"retry-after": "5"}))
    assert header_wins.retry_after == 5.0


def test_error_array_body_and_unreadable_body() -> None:
    array = b'[{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}]'
    error = PROVIDER.parse_error(ok(array, 404))
    assert (error.status, error.kind, error.message) == (404, "not_found", "models/x is not found")
    html = PROVIDER.parse_error(ok(b"<html>Bad Gateway</html>", 502))
    assert (html.status, html.message) == (502, "gemini returned HTTP 502: <html>Bad Gateway</html>")
    empty = PROVIDER.parse_error(ok(b'{"error":{"code":500}}', 500))
    assert empty.message == "gemini returned HTTP 500"


# --- count tokens, embeddings, models ---------------------------------------------------------------


def test_count_tokens_requests() -> None:
    dialect = GenAIDialect()
    call = Call(path_params={"model": "gemini-2.5-flash"})
    plain = dialect.parse_count_tokens({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}, call)
    request = PROVIDER.build_count_tokens(plain, "gemini-2.5-pro", KEY)
    assert request.url == f"{BASE}/models/gemini-2.5-pro:countTokens"
    assert body_of(request) == {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}

    inner = {"model": "models/a", "contents": [{"role": "user", "parts": [{"text": "y"}]}]}
    wrapped = dialect.parse_count_tokens({"generateContentRequest": inner, "fallbacks": ["openai/x"]}, call)
    assert body_of(PROVIDER.build_count_tokens(wrapped, "gemini-2.5-pro", KEY)) == {
        "generateContentRequest": {**inner, "model": "models/gemini-2.5-pro"}
    }
    generate_body = {"contents": inner["contents"], "systemInstruction": {"parts": [{"text": "s"}]}}
    generate = dialect.parse_count_tokens(generate_body, call)
    assert body_of(PROVIDER.build_count_tokens(generate, "g", KEY)) == {
        "generateContentRequest": {"model": "models/g", **generate_body}
    }


def test_count_tokens_translated_request_counts_system_and_tools() -> None:
    request = neutral(
        Message("system", (TextPart("sys"),)),
        Message("user", (TextPart("q"),)),
        tools=(ToolSpec("f"),),
        temperature=0.5,
    )
    body = body_of(PROVIDER.build_count_tokens(request, "gemini-2.5-flash", KEY))
    assert body == {
        "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "tools": [
                {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object", "properties": {}}}]}
            ],
        }
    }
    assert PROVIDER.parse_count_tokens(ok(b'{"totalTokens": 12}')) == 12
    assert PROVIDER.parse_count_tokens(ok(b"{}")) == 0  # proto3 omits zero
    with pytest.raises(UpstreamProtocolError):
        PROVIDER.parse_count_tokens(ok(b'{"totalTokens": "many"}'))


def test_embeddings_from_other_formats() -> None:
    request = EmbeddingRequest(model="text-embedding-004", inputs=("a", "b"), dimensions=3, task_type="CLUSTERING")
    built = PROVIDER.build_embeddings(request, "text-embedding-004", KEY)
    assert built.url == f"{BASE}/models/text-embedding-004:batchEmbedContents"
    item = {"model": "models/text-embedding-004", "taskType": "CLUSTERING", "outputDimensionality": 3}
    assert body_of(built) == {
        "requests": [
            {"model": item["model"], "content": {"parts": [{"text": "a"}]}, **item},
            {"model": item["model"], "content": {"parts": [{"text": "b"}]}, **item},
        ]
    }
    with pytest.raises(UnsupportedFeatureError, match=r"input\[0\]: Gemini embeds text only"):
        PROVIDER.build_embeddings(EmbeddingRequest(model="e", inputs=((1, 2),)), "e", KEY)
    parsed = PROVIDER.parse_embeddings(ok(fixture_bytes("embeddings.json")), request, "text-embedding-004")
    assert parsed.vectors == ((0.1, -0.2, 0.3), (0.4, 0.5, -0.6))


def test_embeddings_from_gemini_clients_keep_their_fields() -> None:
    dialect = GenAIDialect()
    single = {"content": {"parts": [{"text": "doc"}]}, "taskType": "RETRIEVAL_DOCUMENT", "title": "T"}
    request = dialect.parse_embeddings(single, Call(path_params={"model": "a"}))
    assert body_of(PROVIDER.build_embeddings(request, "embed-2", KEY)) == {
        "requests": [{**single, "model": "models/embed-2"}]
    }
    batch = {"requests": [{"model": "models/a", "content": {"parts": [{"text": "x"}]}, "title": "T"}]}
    request = dialect.parse_embeddings(batch, Call(path_params={"model": "a"}, options={"batch": True}))
    assert body_of(PROVIDER.build_embeddings(request, "embed-2", KEY)) == {
        "requests": [{"model": "models/embed-2", "content": {"parts": [{"text": "x"}]}, "title": "T"}]
    }


def test_bad_embeddings_answer() -> None:
    request = EmbeddingRequest(model="e", inputs=("a",))
    with pytest.raises(UpstreamProtocolError, match="without values"):
        PROVIDER.parse_embeddings(ok(b'{"embeddings":[{"values":"x"}]}'), request, "e")
    with pytest.raises(UpstreamProtocolError, match="no embeddings"):
        PROVIDER.parse_embeddings(ok(b"{}"), request, "e")


def test_list_models() -> None:
    request = PROVIDER.build_list_models(KEY)
    assert (request.method, request.url) == ("GET", f"{BASE}/models?pageSize=1000")
    assert request.headers == {"x-goog-api-key": "AIza-test-key"}
    models = PROVIDER.parse_list_models(ok(fixture_bytes("models.json")))
    assert [(m.id, m.provider, m.display_name) for m in models] == [
        ("gemini-2.5-flash", "gemini", "Gemini 2.5 Flash"),
        ("text-embedding-004", "gemini", "Text Embedding 004"),
    ]


def test_passthrough_to_gemini3_fills_missing_signatures_only() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"text": "t"}, {"function_call": {"id": "call_X", "name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": 1}}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thought_signature": "real"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": 2}}}]},
        ]
    }
    request = GenAIDialect().parse_chat(body, Call(path_params={"model": "gemini-3-pro-preview"}))
    sent = build(request, "gemini-3-pro-preview")
    assert sent["contents"][1]["parts"][1] == {
        "function_call": {"id": "call_X", "name": "f", "args": {}},
        "thoughtSignature": SKIP_SIGNATURE,
    }
    assert sent["contents"][3] == body["contents"][3]
    assert {k: v for k, v in sent.items() if k != "contents"} == {}
    assert body["contents"][1]["parts"][1] == {
        "function_call": {"id": "call_X", "name": "f", "args": {}}
    }  # not mutated
    assert build(request, "gemini-2.5-flash") == body


def test_model_names_are_encoded_whole_into_the_path() -> None:
    from bifrost_asgi.providers.gemini import model_path

    assert model_path("../../../../_stats") == "models/..%2F..%2F..%2F..%2F_stats"
    assert model_path("models/a/b?c#d") == "models/a%2Fb%3Fc%23d"
    assert model_path("tunedModels/my-model") == "tunedModels/my-model"


@pytest.mark.parametrize(
    ("answer", "tokens"),
    [
        ({"embeddings": [{"values": [0.1]}], "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}, 9),
        ({"embeddings": [{"values": [0.1], "statistics": {"tokenCount": 4}},
                         {"values": [0.2], "statistics": {"tokenCount": 3}}]}, 7),
        ({"embeddings": [{"values": [0.1]}]}, None),  # no statistics: no usage claimed, never 0
    ],
)
def test_embedding_usage_from_gemini_token_statistics(answer: dict[str, Any], tokens: int | None) -> None:
    from bifrost_asgi.neutral import EmbeddingRequest

    request = EmbeddingRequest(model="text-embedding-004", inputs=("a",))
    result = PROVIDER.parse_embeddings(ok(_json.dumps(answer)), request, "text-embedding-004")
    assert (result.usage.input_tokens if result.usage else None) == tokens


def test_stream_parser_relays_each_readable_frame_first_when_asked() -> None:
    from bifrost_asgi.neutral import TextDelta as Text
    from bifrost_asgi.neutral import UpstreamFrame
    from bifrost_asgi.providers.gemini_stream import GeminiStreamParser
    from bifrost_asgi.providers.relay import relaying
    from bifrost_asgi.streaming import SSEEvent

    data = '{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"index":0,"safetyRatings":[{"category":"X"}]}]}'
    relayed = list(relaying(GeminiStreamParser("gemini", "m"), "gemini", "gemini").feed(SSEEvent(data)))
    assert relayed[0] == UpstreamFrame("gemini", None, data)
    assert Text("Hi") in relayed
    plain = list(relaying(GeminiStreamParser("gemini", "m"), "gemini", "openai").feed(SSEEvent(data)))
    assert not any(isinstance(e, UpstreamFrame) for e in plain)
    error = '{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}'
    failed = list(relaying(GeminiStreamParser("gemini", "m"), "gemini", "gemini").feed(SSEEvent(error)))
    assert [type(e).__name__ for e in failed] == ["StreamFailure"]  # errors are rendered, never relayed raw
