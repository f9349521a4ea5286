"""The OpenAI dialect: request parsing, non-streamed rendering, embeddings, models and errors."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest

from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import ROUTES, OpenAIDialect
from bifrost_asgi.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTooLargeError,
    ServiceUnavailableError,
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
    ImagePart,
    Message,
    ModelInfo,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
DIALECT = OpenAIDialect()
CHAT = Call()
TEXT = Call(options={"text": True})


def fixture_json(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def chat(**fields: Any) -> ChatRequest:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}
    return DIALECT.parse_chat(body, CHAT)


def sdk_client(handler: Any) -> openai.OpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway/openai",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def test_routes_are_the_openai_paths() -> None:
    assert [(r.method, r.path, r.operation, dict(r.options)) for r in ROUTES] == [
        ("POST", "/v1/chat/completions", "chat", {}),
        ("POST", "/v1/completions", "chat", {"text": True}),
        ("POST", "/v1/embeddings", "embeddings", {}),
        ("GET", "/v1/models", "models", {}),
        ("GET", "/v1/models/{model_id:path}", "model", {"single": True}),
    ]
    assert DIALECT.name == "openai"


# ---------------------------------------------------------------------------------- parsing


def test_parse_full_request() -> None:
    body = fixture_json("chat_request_full.json")
    request = DIALECT.parse_chat(body, CHAT)

    assert request.model == "openai/gpt-4o-mini"
    assert request.source_format == "openai"
    assert [m.role for m in request.messages] == [
        "developer",
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
    ]
    user = request.messages[2]
    assert user.name == "ada"
    assert user.parts == (
        TextPart("What is in this image, and what's the weather in Paris?"),
        ImagePart(data="iVBORw0KGgo=", media_type="image/png", detail="low"),
        ImagePart(url="https://example.com/cat.jpg"),
        AudioPart(data="UklGRg==", format="wav"),
        FilePart(data="JVBERi0=", media_type="application/pdf", filename="a.pdf"),
        FilePart(file_id="file-abc"),
    )
    # Arguments are kept verbatim, even when they are not valid JSON.
    assert request.messages[3].parts == (
        ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_2", "get_time", '{"tz":'),
    )
    assert request.messages[4].parts == (ToolResult("call_1", (TextPart("sunny"),)),)
    assert request.messages[5].parts == (ToolResult("call_2", (TextPart("12:00"),)),)

    assert request.max_tokens == 256
    assert (request.temperature, request.top_p, request.n, request.seed) == (0.2, 0.9, 1, 7)
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, -0.1)
    assert request.stop == ("END",)
    assert [t.name for t in request.tools] == ["get_weather", "get_time"]
    assert request.tools[0].strict is True
    assert request.tools[0].parameters["required"] == ["city"]
    assert request.tools[1].parameters == {"type": "object", "properties": {}}
    assert request.tool_choice == ToolChoice("tool", "get_weather")
    assert request.parallel_tool_calls is False
    assert request.response_format is not None
    assert (request.response_format.type, request.response_format.name) == ("json_schema", "weather")
    assert request.reasoning is not None and request.reasoning.effort == "low"
    assert request.user == "user-42"
    assert request.stream is True and request.include_usage is True
    assert request.fallbacks == ("anthropic/claude-sonnet-4-5", "groq/llama-3.3-70b")
    # Harmless metadata is not a reason to refuse a translation.
    assert dict(request.untranslatable) == {}


def test_raw_is_the_body_minus_fallbacks() -> None:
    body = fixture_json("chat_request_full.json")
    request = DIALECT.parse_chat(body, CHAT)
    assert request.raw is not None
    assert "fallbacks" not in request.raw
    assert request.raw["some_future_field"] == {"keep": ["me"]}
    assert {**request.raw, "fallbacks": body["fallbacks"]} == body
    assert "fallbacks" in body  # the caller's dict is not modified


def test_raw_is_not_copied_without_fallbacks() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert DIALECT.parse_chat(body, CHAT).raw is body


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ([], "request body", "JSON object"),
        ({"messages": []}, "model", "required"),
        ({"model": "", "messages": []}, "model", "non-empty string"),
        ({"model": 4, "messages": []}, "model", "non-empty string"),
        ({"model": "m"}, "messages", "required"),
        ({"model": "m", "messages": []}, "messages", "at least one"),
        ({"model": "m", "messages": {"role": "user"}}, "messages", "list"),
        ({"model": "m", "messages": [{"role": "user", "content": "a"}, "b"]}, "messages[1]", "message object"),
        ({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "bot"}]}, "messages[1].role", "'bot'"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "messages[0].content", "string or a list"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", "required"),
        ({"model": "m", "messages": [{"role": "assistant"}]}, "messages[0].content", "tool_calls"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "required"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "'video'",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
            "string",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].image_url",
            "url",
        ),
        (
            {"model": "m", "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": "x"}]}]},
            "messages[0].content[0]",
            "only 'text'",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
            "messages[0].tool_calls[0].function",
            "name",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}
                ],
            },
            "messages[0].tool_calls[0].function.arguments",
            "JSON string",
        ),
    ],
)
def test_parse_errors_name_the_field(body: Any, path: str, fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        DIALECT.parse_chat(body, CHAT)
    assert caught.value.status == 400
    assert caught.value.message.startswith(path + ":")
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"n": 1.5}, "n"),
        ({"stop": [1]}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"stream": True, "stream_options": {"include_usage": "y"}}, "stream_options.include_usage"),
        ({"tools": {}}, "tools"),
        ({"tools": [{"type": "function", "function": {"description": "x"}}]}, "tools[0].function"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.function"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"reasoning_effort": 3}, "reasoning_effort"),
        ({"fallbacks": "anthropic/claude"}, "fallbacks"),
        ({"fallbacks": ["anthropic/claude", ""]}, "fallbacks[1]"),
        ({"user": 42}, "user"),
    ],
)
def test_parameter_errors_name_the_field(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        chat(**fields)
    assert caught.value.message.startswith(path + ":")
    assert caught.value.param == path


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"logprobs": True, "top_logprobs": 3}, {"logprobs", "top_logprobs"}),
        ({"logit_bias": {"50256": -100}}, {"logit_bias"}),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, {"modalities", "audio"}),
        ({"prediction": {"type": "content", "content": "x"}}, {"prediction"}),
        ({"web_search_options": {}}, set()),  # empty options ask for nothing
        ({"web_search_options": {"search_context_size": "low"}}, {"web_search_options"}),
        ({"tools": [{"type": "custom", "custom": {"name": "sql"}}]}, {"tools[0]"}),
        ({"tool_choice": {"type": "custom", "custom": {"name": "sql"}}}, {"tool_choice"}),
        (
            {
                "tools": [{"type": "function", "function": {"name": n}} for n in ("a", "b")],
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "a"}}]},
                },
            },
            {"tool_choice"},
        ),
        ({"logprobs": False, "modalities": ["text"], "store": True, "metadata": {"a": "b"}}, set()),
        ({"service_tier": "flex", "prompt_cache_key": "k", "verbosity": "low"}, set()),
    ],
)
def test_untranslatable_fields(fields: dict[str, Any], names: set[str]) -> None:
    assert set(chat(**fields).untranslatable) == names


def test_single_required_allowed_tool_is_a_forced_tool() -> None:
    request = chat(
        tools=[{"type": "function", "function": {"name": "a"}}],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "a"}}]},
        },
    )
    assert request.tool_choice == ToolChoice("tool", "a")
    assert not request.untranslatable


@pytest.mark.parametrize("mode", ["none", "auto", "required"])
def test_tool_choice_strings(mode: str) -> None:
    assert chat(tool_choice=mode).tool_choice == ToolChoice(mode)  # type: ignore[arg-type]


def test_parameter_details() -> None:
    assert chat(max_tokens=12).max_tokens == 12
    assert chat(max_tokens=12, max_completion_tokens=30).max_tokens == 30
    assert chat(stop="\n").stop == ("\n",)
    assert chat(safety_identifier="sid").user == "sid"
    assert chat(user="u", safety_identifier="sid").user == "u"
    none = chat(reasoning_effort="none").reasoning
    assert none is not None and none.enabled is False
    # include_usage only means something for a stream
    assert chat(stream_options={"include_usage": True}).include_usage is False
    assert chat(stream=True).include_usage is False
    text_format = chat(response_format={"type": "json_object"}).response_format
    assert text_format is not None and text_format.type == "json_object"


def test_assistant_history_variants() -> None:
    request = DIALECT.parse_chat(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "reasoning_content": "thinking", "tool_calls": []},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "42"},
            ],
        },
        CHAT,
    )
    assert request.messages[1].parts == (ReasoningPart("thinking"),)
    assert request.messages[2].parts == (TextPart("no"),)
    assert request.messages[3].parts == (ToolCall("f", "f", "{}"),)
    assert request.messages[4] == Message("tool", (ToolResult("f", (TextPart("42"),), name="f"),))


# ---------------------------------------------------------------------------------- legacy completions


def test_parse_legacy_completion() -> None:
    request = DIALECT.parse_chat({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}, TEXT)
    assert request.text_completion is True
    assert request.messages == (Message("user", (TextPart("Say hi"),)),)
    assert request.max_tokens == 16  # OpenAI's default for /v1/completions
    assert request.raw == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}  # passthrough sends no default
    assert not request.untranslatable

    explicit = DIALECT.parse_chat({"model": "m", "prompt": ["one"], "max_tokens": 99, "stream": True}, TEXT)
    assert explicit.messages[0].text() == "one" and explicit.max_tokens == 99 and explicit.stream


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"prompt": [1, 2, 3]}, {"prompt"}),
        ({"prompt": [[1, 2], [3]]}, {"prompt"}),
        ({"prompt": ["a", "b"]}, {"prompt"}),
        (
            {"prompt": "a", "echo": True, "suffix": "z", "best_of": 3, "logprobs": 2},
            {"echo", "suffix", "best_of", "logprobs"},
        ),
    ],
)
def test_legacy_completion_untranslatable(fields: dict[str, Any], names: set[str]) -> None:
    request = DIALECT.parse_chat({"model": "m", **fields}, TEXT)
    assert set(request.untranslatable) == names


@pytest.mark.parametrize("prompt", [None, 3, [], [1, "a"], [{"x": 1}]])
def test_legacy_completion_bad_prompt(prompt: Any) -> None:
    body = {"model": "m"} if prompt is None else {"model": "m", "prompt": prompt}
    with pytest.raises(InvalidRequestError, match=r"^prompt:"):
        DIALECT.parse_chat(body, TEXT)


# ---------------------------------------------------------------------------------- rendering


def _response(*parts: Any, finish: Any = "stop", usage: Usage | None = None, raw: bytes | None = None) -> ChatResponse:
    return ChatResponse(
        id="msg_01",
        model="claude-sonnet-4-5",
        choices=(Choice(0, Message("assistant", parts), finish),),
        usage=usage,
        created=1700000000,
        raw=raw,
        raw_format="anthropic" if raw else None,
    )


def test_render_passthrough_returns_upstream_bytes() -> None:
    raw = (FIXTURES / "chat_response_text.json").read_bytes()
    response = ChatResponse(id="x", model="m", choices=(), raw=raw, raw_format="openai")
    assert DIALECT.render_chat(response, chat()) is raw


def test_render_does_not_pass_through_other_formats() -> None:
    response = _response(TextPart("Hello"), raw=b'{"type":"message"}')
    body = orjson.loads(DIALECT.render_chat(response, chat()))
    assert body["object"] == "chat.completion"
    anthropic_client = ChatRequest(model="m", messages=(), source_format="anthropic")
    openai_raw = ChatResponse(id="x", model="m", choices=(), raw=b"{}", raw_format="openai")
    assert DIALECT.render_chat(openai_raw, anthropic_client) != b"{}"


def test_render_translated_chat() -> None:
    response = _response(
        ReasoningPart("Let me think.", signature="sig"),
        TextPart("Checking."),
        ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
        finish="tool_calls",
        usage=Usage(input_tokens=20, output_tokens=10, cached_input_tokens=5, reasoning_tokens=3),
    )
    request = chat(model="anthropic/claude-sonnet-4-5")
    body = orjson.loads(DIALECT.render_chat(response, request))
    assert body["id"] == "chatcmpl-msg_01"
    assert body["object"] == "chat.completion"
    assert body["created"] == 1700000000
    assert body["model"] == "anthropic/claude-sonnet-4-5"  # as the client sent it
    message = body["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "Checking.",
        "refusal": None,
        "reasoning_content": "Let me think.",
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "total_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


@pytest.mark.parametrize(
    ("neutral", "openai_reason"),
    [
        ("stop", "stop"),
        ("stop_sequence", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("other", "stop"),
    ],
)
def test_render_finish_reasons(neutral: Any, openai_reason: str) -> None:
    body = orjson.loads(DIALECT.render_chat(_response(TextPart("x"), finish=neutral), chat()))
    assert body["choices"][0]["finish_reason"] == openai_reason


def test_render_tool_only_message_has_null_content() -> None:
    body = orjson.loads(DIALECT.render_chat(_response(ToolCall("c", "f", "{}"), finish="tool_calls"), chat()))
    assert body["choices"][0]["message"]["content"] is None
    assert "usage" not in body


def test_openai_sdk_reads_a_translated_chat() -> None:
    response = _response(
        TextPart("Checking."),
        ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
        finish="tool_calls",
        usage=Usage(input_tokens=20, output_tokens=10),
    )
    rendered = DIALECT.render_chat(response, chat(model="anthropic/claude"))
    client = sdk_client(lambda request: httpx2.Response(200, content=rendered))
    completion = client.chat.completions.create(model="anthropic/claude", messages=[{"role": "user", "content": "x"}])
    assert completion.model == "anthropic/claude"
    message = completion.choices[0].message
    assert message.content == "Checking."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert (call.id, call.function.name, call.function.arguments) == ("toolu_1", "get_weather", '{"city":"Paris"}')
    assert completion.usage is not None and completion.usage.total_tokens == 30


def test_render_text_completion() -> None:
    request = DIALECT.parse_chat({"model": "anthropic/claude", "prompt": "Say hi"}, TEXT)
    response = _response(TextPart("Hi!"), finish="length", usage=Usage(3, 2))
    rendered = DIALECT.render_chat(response, request)
    body = orjson.loads(rendered)
    assert body["id"] == "cmpl-msg_01"
    assert body["object"] == "text_completion"
    assert body["choices"] == [{"text": "Hi!", "index": 0, "logprobs": None, "finish_reason": "length"}]
    client = sdk_client(lambda r: httpx2.Response(200, content=rendered))
    completion = client.completions.create(model="anthropic/claude", prompt="Say hi")
    assert completion.choices[0].text == "Hi!"


def test_count_tokens() -> None:
    request = DIALECT.parse_count_tokens({"model": "m", "messages": [{"role": "user", "content": "x"}]}, CHAT)
    assert request.messages[0].text() == "x"
    assert orjson.loads(DIALECT.render_count_tokens(42)) == {"input_tokens": 42}


# ---------------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize(
    ("value", "inputs"),
    [
        ("hello", ("hello",)),
        (["a", "b"], ("a", "b")),
        ([1, 2, 3], ((1, 2, 3),)),
        ([[1, 2], [3]], ((1, 2), (3,))),
    ],
)
def test_parse_embeddings_inputs(value: Any, inputs: tuple[Any, ...]) -> None:
    request = DIALECT.parse_embeddings({"model": "text-embedding-3-small", "input": value}, CHAT)
    assert request.inputs == inputs
    assert request.source_format == "openai"


def test_parse_embeddings_fields() -> None:
    body = {"model": "m", "input": "x", "dimensions": 256, "user": "u", "fallbacks": ["mistral/mistral-embed"]}
    request = DIALECT.parse_embeddings(body, CHAT)
    assert (request.dimensions, request.user, request.fallbacks) == (256, "u", ("mistral/mistral-embed",))
    assert request.raw == {"model": "m", "input": "x", "dimensions": 256, "user": "u"}


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": {"a": 1}}, "input"),
        ({"input": ["a", 3.5]}, "input[1]"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "a", "fallbacks": [1]}, "fallbacks[0]"),
    ],
)
def test_parse_embeddings_errors(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        DIALECT.parse_embeddings({"model": "m", **fields}, CHAT)
    assert caught.value.message.startswith(path + ":")


VECTORS = ((0.5, -0.25, 1.0), (0.125, 0.0, -2.0))


def test_render_embeddings_floats() -> None:
    request = DIALECT.parse_embeddings({"model": "mistral/mistral-embed", "input": ["a", "b"]}, CHAT)
    body = orjson.loads(DIALECT.render_embeddings(EmbeddingResponse("mistral-embed", VECTORS, Usage(4)), request, CHAT))
    assert body == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.125, 0.0, -2.0]},
        ],
        "model": "mistral/mistral-embed",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }


def test_render_embeddings_base64_little_endian_float32() -> None:
    request = DIALECT.parse_embeddings({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}, CHAT)
    body = orjson.loads(DIALECT.render_embeddings(EmbeddingResponse("m", VECTORS, None), request, CHAT))
    decoded = [struct.unpack("<3f", base64.b64decode(item["embedding"])) for item in body["data"]]
    assert decoded == [VECTORS[0], VECTORS[1]]
    assert "usage" not in body  # the upstream reported no counts: none claimed (not a made-up 0)


def test_openai_sdk_decodes_base64_embeddings() -> None:
    seen: list[dict[str, Any]] = []

    def handler(http_request: httpx2.Request) -> httpx2.Response:
        body = orjson.loads(http_request.content)
        seen.append(body)
        request = DIALECT.parse_embeddings(body, CHAT)
        rendered = DIALECT.render_embeddings(EmbeddingResponse("m", VECTORS, Usage(2)), request, CHAT)
        return httpx2.Response(200, content=rendered)

    result = sdk_client(handler).embeddings.create(model="gemini/text-embedding-004", input=["a", "b"])
    assert seen[0]["encoding_format"] == "base64"  # the SDK's default
    assert [tuple(d.embedding) for d in result.data] == [VECTORS[0], VECTORS[1]]
    assert result.model == "gemini/text-embedding-004"


# ---------------------------------------------------------------------------------- models


MODELS = (ModelInfo("gpt-4o", "openai", 1715367049), ModelInfo("claude-sonnet-4-5", "anthropic", 1))


def test_render_models_prefixes_other_providers() -> None:
    on_openai_mount = orjson.loads(DIALECT.render_models(MODELS, Call(default_provider="openai")))
    assert on_openai_mount == {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "openai"},
            {"id": "anthropic/claude-sonnet-4-5", "object": "model", "created": 1, "owned_by": "anthropic"},
        ],
    }
    at_root = orjson.loads(DIALECT.render_models(MODELS, Call()))
    assert [m["id"] for m in at_root["data"]] == ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]


def test_render_single_model() -> None:
    call = Call(options={"single": True}, path_params={"model_id": "anthropic/claude-sonnet-4-5"})
    assert orjson.loads(DIALECT.render_models(MODELS, call))["id"] == "anthropic/claude-sonnet-4-5"
    bare = Call(options={"single": True}, path_params={"model_id": "gpt-4o"}, default_provider="openai")
    assert orjson.loads(DIALECT.render_models(MODELS, bare))["owned_by"] == "openai"
    with pytest.raises(NotFoundError, match="nope"):
        DIALECT.render_models((), Call(options={"single": True}, path_params={"model_id": "nope"}))


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "status", "kind", "sdk_error"),
    [
        (
            InvalidRequestError("messages: required", param="messages"),
            400,
            "invalid_request_error",
            openai.BadRequestError,
        ),
        (AuthenticationError("bad key"), 401, "authentication_error", openai.AuthenticationError),
        (PermissionDeniedError("no"), 403, "permission_error", openai.PermissionDeniedError),
        (NotFoundError("no model"), 404, "not_found_error", openai.NotFoundError),
        (RequestTooLargeError("too big"), 413, "invalid_request_error", openai.APIStatusError),
        (RateLimitedError("slow down"), 429, "rate_limit_error", openai.RateLimitError),
        (ServiceUnavailableError("shutting down"), 503, "server_error", openai.InternalServerError),
        (
            UpstreamError("Overloaded", status=529, raw_body=b"{}", raw_format="anthropic"),
            503,
            "server_error",
            openai.InternalServerError,
        ),
        (UpstreamConnectionError("could not connect"), 502, "server_error", openai.InternalServerError),
        (UpstreamTimeoutError("too slow"), 504, "timeout", openai.InternalServerError),
        (GatewayError("boom"), 500, "server_error", openai.InternalServerError),
    ],
)
def test_render_error_per_status_class(
    error: GatewayError, status: int, kind: str, sdk_error: type[openai.APIStatusError]
) -> None:
    reply = DIALECT.render_error(error)
    assert reply.status == status
    body = orjson.loads(reply.body)
    assert body == {
        "error": {"message": error.message, "type": kind, "param": error.param, "code": body["error"]["code"]}
    }

    client = sdk_client(lambda r: httpx2.Response(reply.status, content=reply.body, headers=dict(reply.headers)))
    with pytest.raises(sdk_error) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert error.message in caught.value.message
    assert (caught.value.type, caught.value.param) == (kind, error.param)


def test_render_error_retry_after() -> None:
    reply = DIALECT.render_error(RateLimitedError("slow down", retry_after=2.2))
    assert reply.headers["retry-after"] == "3"
    assert reply.headers["retry-after-ms"] == "2200"
    assert orjson.loads(reply.body)["error"]["code"] == "rate_limit_exceeded"
    assert "retry-after" not in DIALECT.render_error(InvalidRequestError("x")).headers


def test_render_error_passes_openai_upstream_bodies_through() -> None:
    raw = (FIXTURES / "error_invalid_key.json").read_bytes()
    reply = DIALECT.render_error(UpstreamError("Incorrect API key", status=401, raw_body=raw, raw_format="openai"))
    assert (reply.status, reply.body) == (401, raw)


def test_render_error_insufficient_quota_is_not_retried() -> None:
    raw = (FIXTURES / "error_insufficient_quota.json").read_bytes()
    error = UpstreamError("quota", status=429, raw_body=raw, raw_format="openai", code="insufficient_quota")
    error.retryable = False
    reply = DIALECT.render_error(error)
    assert reply.headers["x-should-retry"] == "false"
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(reply.status, content=reply.body, headers=dict(reply.headers))

    client = openai.OpenAI(
        api_key="k",
        base_url="http://gw/v1",
        max_retries=2,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(calls) == 1


def test_render_error_keeps_error_headers() -> None:
    reply = DIALECT.render_error(GatewayError("x", headers={"x-request-id": "r1"}))
    assert reply.headers["x-request-id"] == "r1"
