"""The GenAI dialect: Gemini request bodies -> neutral, neutral answers -> Gemini JSON / SSE / errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.routing import compile_path

from bifrost_asgi import _json
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.genai import GenAIDialect
from bifrost_asgi.dialects.genai_contents import synthesise_call_id
from bifrost_asgi.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RequestTooLargeError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
)
from bifrost_asgi.neutral import (
    AudioPart,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingResponse,
    FilePart,
    Finish,
    ImagePart,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
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

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gemini"
DIALECT = GenAIDialect()
CALL = Call(path_params={"model": "gemini-2.5-flash"}, default_provider="gemini")
STREAM_CALL = Call(path_params={"model": "gemini-2.5-flash"}, options={"stream": True}, default_provider="gemini")


def fixture(name: str) -> Any:
    return _json.loads((FIXTURES / name).read_bytes())


def parse(body: dict[str, Any], call: Call = CALL) -> ChatRequest:
    return DIALECT.parse_chat(body, call)


def user(text: str = "hi") -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def chat_response(*parts: Any, reason: Any = "stop", usage: Usage | None = None, **kwargs: Any) -> ChatResponse:
    return ChatResponse(
        id="resp-1",
        model="gpt-4o-mini",
        choices=(Choice(0, Message("assistant", tuple(parts)), reason),),
        usage=usage,
        **kwargs,
    )


def frames(data: bytes) -> list[Any]:
    """Every line must be ``data: {json}`` or blank: the SDK rejects anything else."""
    text = data.decode()
    assert text.endswith("\n\n")
    out = []
    for line in text.split("\n"):
        if line:
            assert line.startswith("data: "), line
            out.append(_json.loads(line[len("data: ") :]))
    return out


# --- routes ---------------------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
    for spec in DIALECT.routes:
        regex, _, convertors = compile_path(spec.path)
        match = regex.match(path)
        if match and spec.method == method:
            params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
            return spec.operation, dict(spec.options), params
    return None


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_routes_cover_every_method_and_version(version: str) -> None:
    base = f"/{version}/models"
    assert _match("POST", f"{base}/gemini-2.5-flash:generateContent") == (
        "chat",
        {},
        {"model": "gemini-2.5-flash"},
    )
    assert _match("POST", f"{base}/m:streamGenerateContent") == ("chat", {"stream": True}, {"model": "m"})
    assert _match("POST", f"{base}/m:countTokens") == ("count_tokens", {}, {"model": "m"})
    assert _match("POST", f"{base}/m:embedContent") == ("embeddings", {}, {"model": "m"})
    assert _match("POST", f"{base}/m:batchEmbedContents") == ("embeddings", {"batch": True}, {"model": "m"})
    assert _match("GET", base) == ("models", {}, {})
    assert _match("GET", f"{base}/gemini-2.5-flash") == ("model", {"single": True}, {"model": "gemini-2.5-flash"})


def test_provider_prefixed_model_with_a_literal_slash_routes() -> None:
    """The SDK sends ``model="openai/gpt-4o-mini"`` as ``models/openai/gpt-4o-mini:generateContent``."""
    matched = _match("POST", "/v1/models/openai/gpt-4o-mini:streamGenerateContent")
    assert matched == ("chat", {"stream": True}, {"model": "openai/gpt-4o-mini"})
    assert _match("GET", "/v1beta/models/openai/gpt-4o-mini") == (
        "model",
        {"single": True},
        {"model": "openai/gpt-4o-mini"},
    )


# --- parse_chat: the SDK-style mixed body ----------------------------------------------------------


def test_parse_sdk_mixed_snake_and_camel_body() -> None:
    request = parse(fixture("request_sdk_mixed.json"))
    assert request.model == "gemini-2.5-flash"
    assert request.source_format == "gemini"
    assert not request.stream
    assert request.include_usage
    assert request.fallbacks == ("openai/gpt-4o-mini",)
    assert request.raw is not None and "fallbacks" not in request.raw and "contents" in request.raw
    assert request.untranslatable == {}  # safetySettings are dropped on purpose

    system, first, model, tool, thanks = request.messages
    assert system == Message("system", (TextPart("Be brief."),))
    assert first.role == "user"
    assert first.parts == (
        TextPart("What is in this picture, and what is the weather in Paris?"),
        ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        FilePart(url="https://generativelanguage.googleapis.com/v1beta/files/abc123", media_type="application/pdf"),
    )
    weather_id = synthesise_call_id(1, 2, "get_weather")
    time_id = synthesise_call_id(1, 3, "get_time")
    assert model == Message(
        "assistant",
        (
            ReasoningPart("Let me think.", signature="dGhvdWdodC1zaWc="),
            TextPart("A cat. Checking the weather."),
            ToolCall(weather_id, "get_weather", '{"city":"Paris"}', signature="c2lnMQ=="),
            ToolCall(time_id, "get_time", '{"tz":"Europe/Paris"}'),
        ),
    )
    assert tool == Message(
        "tool",
        (
            ToolResult(weather_id, (TextPart('{"temp_c":21,"sky":"clear"}'),), name="get_weather"),
            ToolResult(time_id, (TextPart("clock unavailable"),), is_error=True, name="get_time"),
        ),
    )
    assert thanks == Message("user", (TextPart("Thanks!"),))


def test_parse_sdk_mixed_tools_and_config() -> None:
    request = parse(fixture("request_sdk_mixed.json"))
    weather, clock = request.tools
    assert weather.name == "get_weather" and weather.description == "Current weather"
    assert weather.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City"},
            "units": {"type": ["string", "null"], "enum": ["c", "f", None]},
            "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        },
        "required": ["city"],
    }
    assert clock.parameters == {"type": "object", "properties": {"tz": {"type": "string"}}}
    assert request.tool_choice == ToolChoice("auto")
    assert (request.temperature, request.top_p, request.top_k) == (0.2, 0.9, 40)
    assert (request.n, request.max_tokens, request.stop, request.seed) == (1, 256, ("END",), 7)
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, 0.3)
    assert request.reasoning == Reasoning(budget_tokens=1024, enabled=True, include_thoughts=True)


def test_schema_property_names_are_never_rewritten() -> None:
    body = {
        "contents": [user()],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "f",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"max_items": {"type": "STRING"}, "TYPE": {"type": "NUMBER"}},
                            "any_of": [{"type": "STRING"}, {"type": "INTEGER", "nullable": True}],
                        },
                    }
                ]
            }
        ],
    }
    params = parse(body).tools[0].parameters
    assert params["properties"] == {"max_items": {"type": "string"}, "TYPE": {"type": "number"}}
    assert params["anyOf"] == [{"type": "string"}, {"type": ["integer", "null"]}]


def test_stream_route_sets_stream() -> None:
    assert parse({"contents": [user()]}, STREAM_CALL).stream


def test_models_prefix_in_path_is_stripped_and_provider_kept() -> None:
    assert parse({"contents": [user()]}, Call(path_params={"model": "models/x"})).model == "x"
    assert parse({"contents": [user()]}, Call(path_params={"model": "openai/gpt-4o"})).model == "openai/gpt-4o"


def test_client_api_key_is_ignored() -> None:
    call = Call(path_params={"model": "m"}, query={"key": "client-secret"}, headers={"x-goog-api-key": "client-secret"})
    request = parse({"contents": [user()]}, call)
    assert "client-secret" not in repr(request)


def test_function_role_and_missing_role_are_user_turns() -> None:
    body = {
        "contents": [
            {"parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"functionCall": {"id": "a1", "name": "f", "args": {}}}]},
            {"role": "function", "parts": [{"functionResponse": {"id": "a1", "name": "f", "response": {"x": 1}}}]},
        ]
    }
    messages = parse(body).messages
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[2].parts == (ToolResult("a1", (TextPart('{"x":1}'),), name="f"),)


def test_function_responses_match_calls_by_name_and_order() -> None:
    body = {
        "contents": [
            user(),
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "f", "args": {"n": 1}}},
                    {"functionCall": {"name": "g", "args": {}}},
                    {"functionCall": {"name": "f", "args": {"n": 2}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "f", "response": {"output": "one"}}},
                    {"functionResponse": {"name": "f", "response": {"output": "two"}}},
                    {"functionResponse": {"name": "g", "response": {"output": "gee"}}},
                ],
            },
        ]
    }
    model, tool = parse(body).messages[1:]
    call_ids = [call.id for call in model.tool_calls]
    assert len(set(call_ids)) == 3
    results = [p for p in tool.parts if isinstance(p, ToolResult)]
    assert [(r.call_id, r.text()) for r in results] == [
        (call_ids[0], "one"),
        (call_ids[2], "two"),
        (call_ids[1], "gee"),
    ]


def test_call_ids_are_stable_across_requests() -> None:
    body = {"contents": [user(), {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}]}
    assert parse(body).messages[1].tool_calls[0].id == parse(body).messages[1].tool_calls[0].id


def test_unknown_id_on_response_falls_back_to_name_match() -> None:
    body = {
        "contents": [
            user(),
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "zzz", "name": "f", "response": {}}}]},
        ]
    }
    model, tool = parse(body).messages[1:]
    assert isinstance(tool.parts[0], ToolResult)
    assert tool.parts[0].call_id == model.tool_calls[0].id


def test_orphan_function_response_names_the_field() -> None:
    body = {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}
    with pytest.raises(InvalidRequestError, match=r"contents\[0\]\.parts\[0\]\.functionResponse: no earlier"):
        parse(body)


def test_function_response_with_inline_media_and_whole_object() -> None:
    body = {
        "contents": [
            user(),
            {"role": "model", "parts": [{"functionCall": {"id": "c", "name": "shot", "args": {}}}]},
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "c",
                            "name": "shot",
                            "response": {"width": 2},
                            "parts": [{"inlineData": {"mimeType": "image/jpeg", "data": "AAA"}}],
                        }
                    }
                ],
            },
        ]
    }
    result = parse(body).messages[2].parts[0]
    assert result == ToolResult(
        "c", (TextPart('{"width":2}'), ImagePart(data="AAA", media_type="image/jpeg")), name="shot"
    )


def test_media_parts_by_mime_type() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inline_data": {"mimeType": "audio/wav", "data": "UklG"}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                    {"fileData": {"fileUri": "gs://bucket/cat.png", "mimeType": "image/png"}},
                    {"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}},
                ],
            }
        ]
    }
    assert parse(body).messages[0].parts == (
        AudioPart(data="UklG", format="wav"),
        FilePart(data="JVBE", media_type="application/pdf"),
        ImagePart(url="gs://bucket/cat.png", media_type="image/png"),
        FilePart(url="https://www.youtube.com/watch?v=x"),
    )


def test_signature_on_plain_text_is_dropped_and_thought_without_text_kept() -> None:
    body = {
        "contents": [
            user(),
            {
                "role": "model",
                "parts": [
                    {"text": "answer", "thoughtSignature": "s1"},
                    {"text": "", "thought": True, "thoughtSignature": "s2"},
                ],
            },
        ]
    }
    assert parse(body).messages[1].parts == (TextPart("answer"), ReasoningPart("", signature="s2"))


def test_user_turn_runs_keep_order() -> None:
    body = {
        "contents": [
            user(),
            {"role": "model", "parts": [{"functionCall": {"id": "1", "name": "f"}}]},
            {
                "role": "user",
                "parts": [
                    {"text": "before"},
                    {"functionResponse": {"id": "1", "name": "f", "response": {"output": 1}}},
                ],
            },
        ]
    }
    assert [m.role for m in parse(body).messages] == ["user", "assistant", "user", "tool"]


def test_server_side_tools_and_unknown_fields_are_untranslatable() -> None:
    body = {
        "contents": [user(), {"role": "model", "parts": [{"executableCode": {"code": "print(1)"}}]}],
        "tools": [{"googleSearch": {}}, {"code_execution": {}}],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "responseLogprobs": True, "speechConfig": {}},
    }
    assert set(parse(body).untranslatable) == {
        "contents[1].parts[0].executableCode",
        "tools[0].googleSearch",
        "tools[1].code_execution",
        "cachedContent",
        "generationConfig.responseModalities",
        "generationConfig.responseLogprobs",
        "generationConfig.speechConfig",
    }


def test_harmless_gemini_only_fields_are_dropped() -> None:
    body = {
        "contents": [user()],
        "labels": {"team": "a"},
        "cachedContent": None,
        "generationConfig": {"responseModalities": ["TEXT"], "responseLogprobs": False, "mediaResolution": "LOW"},
    }
    assert parse(body).untranslatable == {}


@pytest.mark.parametrize(
    ("config", "choice", "tool_names"),
    [
        ({"mode": "AUTO"}, ToolChoice("auto"), ["f", "g", "h"]),
        ({"mode": "none"}, ToolChoice("none"), ["f", "g", "h"]),
        ({"mode": "ANY"}, ToolChoice("required"), ["f", "g", "h"]),
        ({"mode": "ANY", "allowedFunctionNames": ["g"]}, ToolChoice("tool", "g"), ["g"]),
        ({"mode": "ANY", "allowed_function_names": ["f", "h"]}, ToolChoice("required"), ["f", "h"]),
        ({"mode": "VALIDATED"}, ToolChoice("auto"), ["f", "g", "h"]),
        ({}, None, ["f", "g", "h"]),
    ],
)
def test_tool_config_modes(config: dict[str, Any], choice: ToolChoice | None, tool_names: list[str]) -> None:
    body = {
        "contents": [user()],
        "tools": [{"functionDeclarations": [{"name": n} for n in ("f", "g", "h")]}],
        "toolConfig": {"functionCallingConfig": config},
    }
    request = parse(body)
    assert request.tool_choice == choice
    assert [t.name for t in request.tools] == tool_names
    assert request.tools[0].parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"responseMimeType": "application/json"}, ResponseFormat("json_object")),
        (
            {"response_mime_type": "application/json", "responseJsonSchema": {"type": "object"}},
            ResponseFormat("json_schema", schema={"type": "object"}, name="response"),
        ),
        (
            {"responseMimeType": "application/json", "responseSchema": {"type": "ARRAY", "items": {"type": "STRING"}}},
            ResponseFormat("json_schema", schema={"type": "array", "items": {"type": "string"}}, name="response"),
        ),
        ({"responseMimeType": "text/plain"}, None),
    ],
)
def test_response_format(config: dict[str, Any], expected: ResponseFormat | None) -> None:
    assert parse({"contents": [user()], "generationConfig": config}).response_format == expected


def test_enum_response_mime_type_is_untranslatable() -> None:
    request = parse({"contents": [user()], "generationConfig": {"responseMimeType": "text/x.enum"}})
    assert request.untranslatable == {"generationConfig.responseMimeType": "text/x.enum"}


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"thinkingBudget": 0}, Reasoning(enabled=False)),
        ({"thinkingBudget": -1}, Reasoning(enabled=True)),
        ({"thinking_level": "HIGH"}, Reasoning(effort="high")),
        ({"thinkingLevel": "THINKING_LEVEL_UNSPECIFIED", "includeThoughts": False}, Reasoning(include_thoughts=False)),
        ({}, None),
    ],
)
def test_thinking_config(thinking: dict[str, Any], expected: Reasoning | None) -> None:
    request = parse({"contents": [user()], "generationConfig": {"thinkingConfig": thinking}})
    assert request.reasoning == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], r"request body: expected an object"),
        ({}, r"contents: expected a list"),
        ({"contents": []}, r"contents: must contain at least one content"),
        ({"contents": [{"role": "assistant", "parts": []}]}, r"contents\[0\]\.role: expected \"user\" or \"model\""),
        ({"contents": [{"role": "user", "parts": "hi"}]}, r"contents\[0\]\.parts: expected a list"),
        (
            {"contents": [{"role": "user", "parts": [{"text": 5}]}]},
            r"contents\[0\]\.parts\[0\]\.text: expected a string",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"inlineData": {"data": "x"}}]}]},
            r"contents\[0\]\.parts\[0\]\.inlineData\.mimeType: expected a string",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
            r"contents\[0\]\.parts\[0\]\.functionCall\.args: expected an object",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionResponse": {"name": "f"}}]}]},
            r"contents\[0\]\.parts\[0\]\.functionResponse: belongs in a \"user\" turn",
        ),
        (
            {"contents": [user()], "tools": [{"functionDeclarations": [{}]}]},
            r"tools\[0\]\.functionDeclarations\[0\]\.name",
        ),
        (
            {"contents": [user()], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            r"toolConfig\.functionCallingConfig\.mode: expected",
        ),
        (
            {
                "contents": [user()],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["x"]}},
            },
            r"allowedFunctionNames: 'x' is not a declared function",
        ),
        (
            {"contents": [user()], "generationConfig": {"temperature": "hot"}},
            r"generationConfig\.temperature: expected a number",
        ),
        ({"contents": [user()], "generationConfig": {"topK": 1.5}}, r"generationConfig\.topK: expected an integer"),
        (
            {"contents": [user()], "generationConfig": {"stopSequences": "END"}},
            r"generationConfig\.stopSequences: expected a list",
        ),
        (
            {"contents": [user()], "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}},
            r"generationConfig\.thinkingConfig\.thinkingBudget",
        ),
        (
            {"contents": [user()], "generationConfig": {"thinkingConfig": {"includeThoughts": "yes"}}},
            r"thinkingConfig\.includeThoughts: expected true or false",
        ),
        (
            {"contents": [user()], "systemInstruction": {"parts": [{"inlineData": {}}]}},
            r"systemInstruction\.parts\[0\]",
        ),
        ({"contents": [user()], "fallbacks": "openai/gpt-4o"}, r"fallbacks: expected a list"),
    ],
)
def test_bad_input_names_the_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse(body)


def test_missing_model_in_path() -> None:
    with pytest.raises(InvalidRequestError, match="model: missing from the URL path"):
        parse({"contents": [user()]}, Call(path_params={"model": ""}))


def test_system_instruction_as_plain_string() -> None:
    request = parse({"contents": [user()], "systemInstruction": "be kind"})
    assert request.messages[0] == Message("system", (TextPart("be kind"),))


# --- render_chat ------------------------------------------------------------------------------------


def test_render_chat_with_text_reasoning_and_tool_call() -> None:
    response = chat_response(
        ReasoningPart("hmm", signature="sig-r"),
        TextPart("Checking."),
        ToolCall("call_1", "get_weather", '{"city":"Paris"}', signature="sig-c"),
        ToolCall("call_2", "broken", "not json"),
        reason="tool_calls",
        usage=Usage(input_tokens=10, output_tokens=7, cached_input_tokens=4, reasoning_tokens=2),
    )
    body = _json.loads(DIALECT.render_chat(response, parse({"contents": [user()]})))
    assert body == {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "hmm", "thought": True, "thoughtSignature": "sig-r"},
                        {"text": "Checking."},
                        {
                            "functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "sig-c",
                        },
                        {"functionCall": {"id": "call_2", "name": "broken", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "totalTokenCount": 17,
            "cachedContentTokenCount": 4,
            "thoughtsTokenCount": 2,
        },
        "modelVersion": "gpt-4o-mini",
        "responseId": "resp-1",
    }


@pytest.mark.parametrize(
    ("reason", "gemini"),
    [
        ("stop", "STOP"),
        ("stop_sequence", "STOP"),
        ("length", "MAX_TOKENS"),
        ("tool_calls", "STOP"),
        ("content_filter", "SAFETY"),
        ("error", "OTHER"),
        ("other", "OTHER"),
    ],
)
def test_render_finish_reasons(reason: Any, gemini: str) -> None:
    body = _json.loads(DIALECT.render_chat(chat_response(TextPart("x"), reason=reason), parse({"contents": [user()]})))
    assert body["candidates"][0]["finishReason"] == gemini


def test_render_empty_message_and_media() -> None:
    empty = _json.loads(DIALECT.render_chat(chat_response(reason="content_filter"), parse({"contents": [user()]})))
    assert empty["candidates"][0]["content"] == {"role": "model"}
    assert "usageMetadata" not in empty
    media = chat_response(
        ImagePart(data="AAA", media_type="image/png"), FilePart(url="gs://b/f.pdf"), AudioPart("UklG", "wav")
    )
    parts = _json.loads(DIALECT.render_chat(media, parse({"contents": [user()]})))["candidates"][0]["content"]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "image/png", "data": "AAA"}},
        {"fileData": {"fileUri": "gs://b/f.pdf"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
    ]


def test_render_chat_passes_gemini_body_through_verbatim() -> None:
    raw = (FIXTURES / "response_function_call.json").read_bytes()
    response = chat_response(TextPart("x"), raw=raw, raw_format="gemini")
    assert DIALECT.render_chat(response, parse({"contents": [user()]})) == raw
    openai_request = ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),))
    assert DIALECT.render_chat(response, openai_request) != raw
    other = chat_response(TextPart("x"), raw=b'{"id":"x"}', raw_format="openai")
    assert DIALECT.render_chat(other, parse({"contents": [user()]})) != b'{"id":"x"}'


def test_rendered_tool_call_round_trips_through_parse() -> None:
    """What the gateway renders, the SDK sends back; ids and signatures must survive."""
    response = chat_response(ToolCall("call_abc", "f", '{"a":1}', signature="sig"), reason="tool_calls")
    rendered = _json.loads(DIALECT.render_chat(response, parse({"contents": [user()]})))
    model_turn = rendered["candidates"][0]["content"]
    reply = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "done"}}}]}
    messages = parse({"contents": [user(), model_turn, reply]}).messages
    assert messages[1].parts == (ToolCall("call_abc", "f", '{"a":1}', signature="sig"),)
    assert messages[2].parts == (ToolResult("call_abc", (TextPart("done"),), name="f"),)


# --- streams ----------------------------------------------------------------------------------------


def render_stream(events: list[Any], request: ChatRequest | None = None) -> list[Any]:
    renderer = DIALECT.stream_renderer(request or parse({"contents": [user()]}, STREAM_CALL))
    assert renderer.media_type == "text/event-stream"
    out = b"".join(renderer.render(event) for event in events) + renderer.finish()
    return frames(out)


def test_stream_text_and_final_chunk() -> None:
    chunks = render_stream(
        [
            StreamStart("r1", "gpt-4o-mini"),
            ReasoningDelta("think"),
            TextDelta("Hel"),
            TextDelta(""),
            TextDelta("lo"),
            Finish("stop"),
            UsageUpdate(Usage(input_tokens=3, output_tokens=2)),
        ]
    )
    assert chunks == [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "think", "thought": True}]}, "index": 0}],
            "modelVersion": "gpt-4o-mini",
            "responseId": "r1",
        },
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
            "modelVersion": "gpt-4o-mini",
            "responseId": "r1",
        },
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "index": 0}],
            "modelVersion": "gpt-4o-mini",
            "responseId": "r1",
        },
        {
            # An empty text part, so google-genai's chunk.text is "" rather than None.
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
            "modelVersion": "gpt-4o-mini",
            "responseId": "r1",
        },
    ]


def test_stream_tool_calls_are_emitted_whole() -> None:
    chunks = render_stream(
        [
            StreamStart("r2", "claude-x"),
            ToolCallStart(0, "toolu_1", "get_weather"),
            ToolCallDelta(0, '{"city":'),
            ToolCallDelta(0, '"Paris"}'),
            ToolCallStart(1, "toolu_2", "get_time", signature="sig"),
            ToolCallDelta(1, ""),
            Finish("tool_calls"),
            UsageUpdate(Usage(input_tokens=5, output_tokens=9, reasoning_tokens=4)),
        ]
    )
    assert chunks == [
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}},
                            {
                                "functionCall": {"id": "toolu_2", "name": "get_time", "args": {}},
                                "thoughtSignature": "sig",
                            },
                        ],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 5,
                "candidatesTokenCount": 5,
                "totalTokenCount": 14,
                "thoughtsTokenCount": 4,
            },
            "modelVersion": "claude-x",
            "responseId": "r2",
        }
    ]


def test_stream_text_after_a_tool_call_flushes_it_first() -> None:
    chunks = render_stream(
        [ToolCallStart(0, "c1", "f"), ToolCallDelta(0, "{}"), TextDelta("after"), Finish("tool_calls")]
    )
    parts = [chunk["candidates"][0]["content"]["parts"] for chunk in chunks]
    assert parts == [[{"functionCall": {"id": "c1", "name": "f", "args": {}}}], [{"text": "after"}], [{"text": ""}]]
    assert "responseId" not in chunks[0]  # no StreamStart seen
    assert chunks[0]["modelVersion"] == "gemini-2.5-flash"


def test_stream_several_choices() -> None:
    chunks = render_stream(
        [TextDelta("a", choice=0), TextDelta("b", choice=1), Finish("stop"), Finish("length", choice=1)]
    )
    last = chunks[-1]["candidates"]
    assert [(c["index"], c["finishReason"]) for c in last] == [(0, "STOP"), (1, "MAX_TOKENS")]
    assert chunks[1]["candidates"][0]["index"] == 1


def test_stream_fail_frame_has_error_first_and_ends_stream() -> None:
    renderer = DIALECT.stream_renderer(parse({"contents": [user()]}, STREAM_CALL))
    renderer.render(TextDelta("x"))
    failed = renderer.fail(UpstreamTimeoutError("upstream timed out"))
    assert failed.startswith(b'data: {"error":')
    assert frames(failed) == [{"error": {"code": 504, "message": "upstream timed out", "status": "DEADLINE_EXCEEDED"}}]
    assert renderer.finish() == b""
    assert renderer.render(TextDelta("late")) == b""


def test_stream_failure_event_and_raw_gemini_error() -> None:
    renderer = DIALECT.stream_renderer(parse({"contents": [user()]}, STREAM_CALL))
    raw = b'{\n  "error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}\n}'
    error = UpstreamError("overloaded", status=503, raw_body=raw, raw_format="gemini")
    out = renderer.render(StreamFailure(error))
    assert out == b'data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\n\n'


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "name"),
    [
        (InvalidRequestError("contents: bad"), 400, "INVALID_ARGUMENT"),
        (AuthenticationError("no key"), 401, "UNAUTHENTICATED"),
        (UpstreamError("forbidden", status=403), 403, "PERMISSION_DENIED"),
        (UpstreamError("billing", status=402), 403, "PERMISSION_DENIED"),
        (NotFoundError("no model"), 404, "NOT_FOUND"),
        (RequestTooLargeError("too big"), 413, "INVALID_ARGUMENT"),
        (RateLimitedError("slow down"), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamError("overloaded", status=529), 503, "UNAVAILABLE"),
        (UpstreamTimeoutError("timed out"), 504, "DEADLINE_EXCEEDED"),
        (UpstreamConnectionError("refused"), 502, "UNAVAILABLE"),
        (GatewayError("boom"), 500, "INTERNAL"),
        (UpstreamError("conflict", status=409), 400, "INVALID_ARGUMENT"),
    ],
)
def test_render_error_status_mapping(error: GatewayError, status: int, name: str) -> None:
    reply = DIALECT.render_error(error)
    assert reply.status == status
    assert _json.loads(reply.body) == {"error": {"code": status, "message": error.message, "status": name}}
    assert reply.body.startswith(b'{"error":')


def test_render_error_retry_after() -> None:
    reply = DIALECT.render_error(RateLimitedError("slow down", retry_after=2.2))
    assert reply.headers["retry-after"] == "3"
    details = _json.loads(reply.body)["error"]["details"]
    assert details == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
    assert "retry-after" not in DIALECT.render_error(InvalidRequestError("x")).headers


def test_render_error_passes_gemini_upstream_body_through() -> None:
    raw = (FIXTURES / "error_api_key_invalid.json").read_bytes()
    error = UpstreamError("API key not valid", status=401, kind="authentication", raw_body=raw, raw_format="gemini")
    reply = DIALECT.render_error(error)
    assert reply.body == raw
    assert reply.status == 400  # Google's own status for a bad key, from the body
    other = UpstreamError("bad key", status=401, raw_body=b'{"error":{}}', raw_format="openai")
    assert DIALECT.render_error(other).body != b'{"error":{}}'
    html = UpstreamError("bad gateway", status=502, raw_body=b"<html>", raw_format="gemini")
    assert (DIALECT.render_error(html).status, DIALECT.render_error(html).body) == (502, b"<html>")


# --- count tokens, embeddings, models ---------------------------------------------------------------


def test_count_tokens_both_shapes() -> None:
    plain = DIALECT.parse_count_tokens({"contents": [user("count me")]}, CALL)
    assert plain.messages == (Message("user", (TextPart("count me"),)),)
    assert plain.raw == {"contents": [user("count me")]}
    wrapped_body = {
        "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [user("x")],
            "systemInstruction": {"parts": [{"text": "sys"}]},
        },
        "fallbacks": ["openai/gpt-4o"],
    }
    wrapped = DIALECT.parse_count_tokens(wrapped_body, CALL)
    assert [m.role for m in wrapped.messages] == ["system", "user"]
    assert wrapped.raw == {"generateContentRequest": wrapped_body["generateContentRequest"]}
    assert wrapped.fallbacks == ("openai/gpt-4o",)
    assert wrapped.untranslatable == {}
    with pytest.raises(InvalidRequestError, match=r"generateContentRequest\.contents: expected a list"):
        DIALECT.parse_count_tokens({"generateContentRequest": {}}, CALL)
    assert _json.loads(DIALECT.render_count_tokens(42)) == {"totalTokens": 42}


def test_embed_content() -> None:
    body = {
        "content": {"parts": [{"text": "hello"}, {"text": "world"}]},
        "task_type": "RETRIEVAL_QUERY",
        "outputDimensionality": 3,
    }
    call = Call(path_params={"model": "text-embedding-004"})
    request = DIALECT.parse_embeddings(body, call)
    assert (request.model, request.inputs, request.dimensions, request.task_type) == (
        "text-embedding-004",
        ("hello world",),
        3,
        "RETRIEVAL_QUERY",
    )
    assert request.source_format == "gemini" and request.raw == body
    rendered = DIALECT.render_embeddings(EmbeddingResponse("m", ((0.5, -1.0),)), request, call)
    assert _json.loads(rendered) == {"embedding": {"values": [0.5, -1.0]}}


def test_batch_embed_contents() -> None:
    call = Call(path_params={"model": "text-embedding-004"}, options={"batch": True})
    body = {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "taskType": "CLUSTERING"},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "taskType": "CLUSTERING"},
        ]
    }
    request = DIALECT.parse_embeddings(body, call)
    assert request.inputs == ("a", "b") and request.task_type == "CLUSTERING" and request.dimensions is None
    rendered = DIALECT.render_embeddings(EmbeddingResponse("m", ((1.0,), (2.0,))), request, call)
    assert _json.loads(rendered) == {"embeddings": [{"values": [1.0]}, {"values": [2.0]}]}


@pytest.mark.parametrize(
    ("body", "batch", "message"),
    [
        ({"requests": []}, True, "requests: must contain at least one request"),
        ({"requests": {}}, True, "requests: expected a list"),
        ({}, False, "content: expected an object"),
        ({"content": {"parts": []}}, False, "content.parts: must contain at least one text part"),
        (
            {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "x"}}]}},
            False,
            r"content\.parts\[0\]: only text parts",
        ),
        (
            {
                "requests": [
                    {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2},
                    {"content": {"parts": [{"text": "b"}]}, "outputDimensionality": 3},
                ]
            },
            True,
            r"requests\[\]\.outputDimensionality: must be the same",
        ),
    ],
)
def test_embedding_errors_name_the_field(body: dict[str, Any], batch: bool, message: str) -> None:
    call = Call(path_params={"model": "e"}, options={"batch": batch})
    with pytest.raises(InvalidRequestError, match=message):
        DIALECT.parse_embeddings(body, call)


def test_render_models_prefixes_other_providers() -> None:
    models = [
        ModelInfo("gemini-2.5-flash", "gemini", display_name="Gemini 2.5 Flash"),
        ModelInfo("gpt-4o-mini", "openai"),
        ModelInfo("text-embedding-004", "gemini"),
    ]
    body = _json.loads(DIALECT.render_models(models, Call(default_provider="gemini")))
    assert [m["name"] for m in body["models"]] == [
        "models/gemini-2.5-flash",
        "models/openai/gpt-4o-mini",
        "models/text-embedding-004",
    ]
    assert body["models"][0]["displayName"] == "Gemini 2.5 Flash"
    assert body["models"][1]["displayName"] == "openai/gpt-4o-mini"
    assert "generateContent" in body["models"][0]["supportedGenerationMethods"]
    assert body["models"][2]["supportedGenerationMethods"] == ["embedContent", "batchEmbedContents"]


def test_render_single_model() -> None:
    call = Call(path_params={"model": "openai/gpt-4o-mini"}, options={"single": True}, default_provider="gemini")
    body = _json.loads(DIALECT.render_models([ModelInfo("gpt-4o-mini", "openai")], call))
    assert body["name"] == "models/openai/gpt-4o-mini"
    assert _json.loads(DIALECT.render_models([], call))["name"] == "models/openai/gpt-4o-mini"


def test_ids_the_gateway_made_up_for_gemini_calls_are_not_shown() -> None:
    made_up = "call_" + "0123456789abcdef01234567"
    response = chat_response(ToolCall(made_up, "f", "{}"), ToolCall("call_AbC", "g", "{}"), reason="tool_calls")
    parts = _json.loads(DIALECT.render_chat(response, parse({"contents": [user()]})))["candidates"][0]["content"][
        "parts"
    ]
    assert parts == [
        {"functionCall": {"name": "f", "args": {}}},
        {"functionCall": {"id": "call_AbC", "name": "g", "args": {}}},
    ]


def test_gemini_upstream_frames_are_relayed_verbatim() -> None:
    """Relay mode: ``UpstreamFrame`` bytes go out as they came; the events parsed from them are
    ignored, other vendors' frames too, and finish() adds nothing."""
    from bifrost_asgi.dialects.genai_stream import GenAIStreamRenderer
    from bifrost_asgi.neutral import ChatRequest, Message, UpstreamFrame

    renderer = GenAIStreamRenderer(ChatRequest(model="m", messages=(Message("user"),)))
    data = '{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"safetyRatings":[]}]}'
    assert renderer.render(UpstreamFrame("openai", None, "x")) == b""
    assert renderer.render(UpstreamFrame("gemini", None, data)) == b"data: " + data.encode() + b"\n\n"
    assert renderer.render(StreamStart("r", "m")) == b""
    assert renderer.render(TextDelta("Hi")) == b""
    assert renderer.render(Finish("stop")) == b""
    assert renderer.finish() == b""
    assert renderer.render(UpstreamFrame("gemini", None, data)) == b""  # closed
