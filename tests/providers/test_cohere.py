"""The Cohere provider: neutral -> v2 chat / embed requests, v2 answers / SSE / errors -> neutral."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.errors import UnsupportedFeatureError
from bifrost_asgi.neutral import (
    ChatRequest,
    EmbeddingRequest,
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
from bifrost_asgi.providers.cohere import CohereProvider
from bifrost_asgi.streaming import encode_sse

KEY = KeyConfig.model_validate({"value": "co-test-key"})
PROVIDER = CohereProvider("cohere", ProviderConfig())
WEATHER = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})


def body_of(request: ChatRequest) -> dict[str, Any]:
    return dict(_json.loads(PROVIDER.build_chat(request, "command-a-03-2025", KEY).body or b""))


def test_chat_request_shape() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            Message("system", (TextPart("be brief"),)),
            Message("user", (TextPart("look"), ImagePart(data="iVBORw0KGgo=", media_type="image/png"))),
            Message("assistant", (TextPart("checking"), ToolCall("c1", "get_weather", '{"city":"Paris"}'))),
            Message("tool", (ToolResult("c1", (TextPart("sunny"),)),)),
        ),
        tools=(WEATHER,), tool_choice=ToolChoice("required"), max_tokens=10, temperature=0.2, top_p=0.9, top_k=4,
        stop=("END",), seed=7, response_format=ResponseFormat("json_schema", {"type": "object"}), stream=True,
    )  # fmt: skip
    built = PROVIDER.build_chat(request, "command-a-03-2025", KEY)
    assert built.url == "https://api.cohere.com/v2/chat" and built.headers["authorization"] == "Bearer co-test-key"
    body = _json.loads(built.body or b"")
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "tool_plan": "checking",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather",
                                                                      "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "document", "document": {"data": "sunny"}}]},
    ]  # fmt: skip
    assert body["tools"][0]["function"]["name"] == "get_weather" and body["tool_choice"] == "REQUIRED"
    assert (body["max_tokens"], body["temperature"], body["p"], body["k"], body["seed"]) == (10, 0.2, 0.9, 4, 7)
    assert body["stop_sequences"] == ["END"] and body["stream"] is True
    assert body["response_format"] == {"type": "json_object", "json_schema": {"type": "object"}}


def test_refusals_and_thinking() -> None:
    base = {"model": "m", "messages": (Message("user", (TextPart("hi"),)),)}
    with pytest.raises(UnsupportedFeatureError, match="cannot force one named tool"):
        body_of(ChatRequest(**base, tools=(WEATHER,), tool_choice=ToolChoice("tool", "get_weather")))
    with pytest.raises(UnsupportedFeatureError, match="n=3"):
        body_of(ChatRequest(**base, n=3))
    thinking = body_of(ChatRequest(**base, reasoning=Reasoning(budget_tokens=2000)))
    assert thinking["thinking"] == {"type": "enabled", "token_budget": 2000}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop_sequence"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls"),
     ("ERROR", "error")],
)  # fmt: skip
def test_chat_answer(reason: str, finish: str) -> None:
    body = {"id": "r1", "finish_reason": reason, "usage": {"tokens": {"input_tokens": 3, "output_tokens": 4}},
            "message": {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"},
                                                         {"type": "text", "text": "hi"}],
                        "tool_calls": [{"id": "t1", "type": "function",
                                        "function": {"name": "f", "arguments": '{"a":1}'}}]}}  # fmt: skip
    request = ChatRequest(model="m", messages=())
    parsed = PROVIDER.parse_chat(UpstreamResponse(200, {}, _json.dumps(body)), request, "m")
    assert parsed.choices[0].finish_reason == finish and parsed.id == "r1"
    assert parsed.message.parts == (ReasoningPart("hm"), TextPart("hi"), ToolCall("t1", "f", '{"a":1}'))
    assert parsed.usage == Usage(input_tokens=3, output_tokens=4)


def events(*frames: dict[str, Any]) -> list[StreamEvent]:
    decoder = PROVIDER.stream_decoder(1 << 20)
    parser = PROVIDER.stream_parser(ChatRequest(model="m", messages=()), "m")
    out: list[StreamEvent] = []
    for frame in frames:
        for sse in decoder.feed(encode_sse(_json.dumps(frame), frame["type"])):
            out += parser.feed(sse)
    out += parser.close()
    return out


def test_stream_text_tool_and_usage() -> None:
    got = events(
        {"type": "message-start", "id": "s1", "delta": {"message": {"role": "assistant"}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "plan"}}},
        {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}}}},
        {"type": "tool-call-delta", "index": 0,
         "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}}},
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL",
                                          "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 2}}}},
    )  # fmt: skip
    assert got == [
        StreamStart(id="s1", model="m"),
        TextDelta("Hi"),
        ReasoningDelta(text="plan"),
        ToolCallStart(0, "t1", "f"),
        ToolCallDelta(0, "{}"),
        Finish("tool_calls"),
        UsageUpdate(Usage(input_tokens=1, output_tokens=2)),
    ]
    failed = events({"type": "message-start", "id": "s"}, {"type": "message-end", "delta": {"finish_reason": "ERROR"}})
    assert isinstance(failed[-1], StreamFailure)


def test_embeddings_and_errors() -> None:
    built = PROVIDER.build_embeddings(EmbeddingRequest("e", ("a", "b"), task_type="RETRIEVAL_QUERY"), "embed-v4.0", KEY)
    assert built.url.endswith("/v2/embed")
    assert _json.loads(built.body or b"") == {"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_query",
                                              "embedding_types": ["float"]}  # fmt: skip
    answer = {"embeddings": {"float": [[1, 2]]}, "meta": {"billed_units": {"input_tokens": 5}}}
    parsed = PROVIDER.parse_embeddings(UpstreamResponse(200, {}, _json.dumps(answer)), EmbeddingRequest("e", ()), "e")
    assert parsed.vectors == ((1.0, 2.0),) and parsed.usage == Usage(input_tokens=5)
    error = PROVIDER.parse_error(UpstreamResponse(429, {"retry-after": "2"}, b'{"message":"rate limited"}'))
    assert error.status == 429 and error.retryable and error.retry_after == 2.0 and "rate limited" in error.message
