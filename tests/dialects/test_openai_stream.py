"""The OpenAI stream renderer: the chunk rules the OpenAI SDK's delta accumulation depends on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx2
import openai
import orjson
import pytest

from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.errors import UpstreamError
from bifrost_asgi.neutral import (
    ChatRequest,
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)

DIALECT = OpenAIDialect()

TOOL_STREAM: tuple[StreamEvent, ...] = (
    StreamStart("msg_01", "claude-sonnet-4-5", 1700000000),
    ReasoningDelta("hmm", signature=None),
    ReasoningDelta("", signature="sig"),  # signatures have no OpenAI field: nothing is sent
    TextDelta("Let me "),
    TextDelta("check."),
    ToolCallStart(0, "toolu_a", "get_weather"),
    ToolCallDelta(0, '{"city":'),
    ToolCallDelta(0, ' "Paris"}'),
    ToolCallStart(1, "toolu_b", "get_time"),
    ToolCallDelta(1, ""),
    ToolCallDelta(1, "{}"),
    Finish("tool_calls"),
    UsageUpdate(Usage(input_tokens=10, output_tokens=5)),
    UsageUpdate(Usage(input_tokens=10, output_tokens=7, cached_input_tokens=4)),
)


def request(stream_usage: bool = True, **fields: Any) -> ChatRequest:
    body: dict[str, Any] = {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "weather?"}],
        "stream": True,
        **fields,
    }
    if stream_usage:
        body["stream_options"] = {"include_usage": True}
    return DIALECT.parse_chat(body, Call())


def render(req: ChatRequest, events: Sequence[StreamEvent], *, finish: bool = True) -> bytes:
    renderer = DIALECT.stream_renderer(req)
    assert renderer.media_type == "text/event-stream"
    out = b"".join(renderer.render(e) for e in events)
    return out + renderer.finish() if finish else out


def frames(data: bytes) -> list[str]:
    assert data.endswith(b"\n\n")
    return [frame.removeprefix("data: ") for frame in data.decode().split("\n\n") if frame]


def chunks(data: bytes) -> list[dict[str, Any]]:
    payloads = frames(data)
    assert payloads[-1] == "[DONE]"
    return [orjson.loads(p) for p in payloads[:-1]]


def test_chunk_rules() -> None:
    out = chunks(render(request(), TOOL_STREAM))
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in out} == {
        ("chatcmpl-msg_01", 1700000000, "anthropic/claude-sonnet-4-5", "chat.completion.chunk")
    }
    deltas = [c["choices"][0]["delta"] for c in out if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("role" not in d for d in deltas[1:])
    assert deltas[1:] == [
        {"reasoning_content": "hmm"},
        {"content": "Let me "},
        {"content": "check."},
        {
            "tool_calls": [
                {"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]},
        {
            "tool_calls": [
                {"index": 1, "id": "toolu_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
    ]
    finish = out[-2]["choices"][0]
    assert (finish["delta"], finish["finish_reason"]) == ({}, "tool_calls")
    assert all(c["usage"] is None for c in out[:-1])
    usage_chunk = out[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 10
    assert usage_chunk["usage"]["completion_tokens"] == 7  # the last usage update wins
    assert usage_chunk["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}


def test_usage_chunk_only_when_asked() -> None:
    out = chunks(render(request(stream_usage=False), TOOL_STREAM))
    assert all(c["choices"] for c in out)
    assert all("usage" not in c for c in out[:-1])
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_unasked_usage_rides_on_the_last_finish_chunk() -> None:
    """As Bifrost does: clients that never set stream_options (LangChain) get their counts."""
    out = chunks(render(request(stream_usage=False), TOOL_STREAM))
    assert out[-1]["usage"]["prompt_tokens"] == 10
    assert out[-1]["usage"]["completion_tokens"] == 7


def test_asked_usage_is_not_sent_twice() -> None:
    out = chunks(render(request(), TOOL_STREAM))
    assert [c["usage"] is not None for c in out].count(True) == 1


def test_only_the_last_of_several_finishes_carries_usage() -> None:
    events = [StreamStart("x", "m"), TextDelta("a"), TextDelta("b", choice=1), Finish("stop"),
              Finish("length", choice=1), UsageUpdate(Usage(input_tokens=3, output_tokens=2))]  # fmt: skip
    out = chunks(render(request(stream_usage=False, n=2), events))
    finishes = [c for c in out if c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["index"] for c in finishes] == [0, 1]
    assert "usage" not in finishes[0]
    assert finishes[1]["usage"]["total_tokens"] == 5


def test_nothing_after_a_failure() -> None:
    renderer = DIALECT.stream_renderer(request())
    head = renderer.render(TOOL_STREAM[0]) + renderer.render(TextDelta("Par"))
    error = UpstreamError("Overloaded", status=529, upstream_type="overloaded_error")
    failed = renderer.render(StreamFailure(error))
    assert frames(failed) == [
        '{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded"}}'
    ]
    assert renderer.render(TextDelta("more")) == b""
    assert renderer.finish() == b""
    assert renderer.fail(error) == b""
    assert len(frames(head)) == 2


def test_finish_after_finish_is_empty() -> None:
    renderer = DIALECT.stream_renderer(request())
    renderer.render(TOOL_STREAM[0])
    assert frames(renderer.finish())[-1] == "[DONE]"
    assert renderer.finish() == b""


def test_events_before_start_still_make_valid_chunks() -> None:
    out = chunks(render(request(stream_usage=False), [TextDelta("hi"), Finish("length")]))
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": "hi"}
    assert out[1]["choices"][0]["finish_reason"] == "length"
    assert out[0]["id"] == out[1]["id"] == "chatcmpl-"


def test_several_choices_each_get_a_role_once() -> None:
    events: list[StreamEvent] = [
        StreamStart("x", "m"),
        TextDelta("a", choice=0),
        TextDelta("b", choice=1),
        Finish("stop", choice=0),
        Finish("stop", choice=1),
    ]
    out = chunks(render(request(stream_usage=False, n=2), events))
    roles = [(c["choices"][0]["index"], c["choices"][0]["delta"].get("role")) for c in out]
    assert roles == [(0, "assistant"), (1, "assistant"), (0, None), (1, None), (0, None), (1, None)]


def test_text_completion_chunks() -> None:
    req = DIALECT.parse_chat(
        {"model": "m", "prompt": "Say hi", "stream": True, "stream_options": {"include_usage": True}},
        Call(options={"text": True}),
    )
    events: list[StreamEvent] = [
        StreamStart("abc", "m", 5),
        TextDelta("Hi"),
        ToolCallStart(0, "c", "f"),
        Finish("stop"),
        UsageUpdate(Usage(2, 1)),
    ]
    out = chunks(render(req, events))
    assert {c["object"] for c in out} == {"text_completion"}
    assert out[0]["id"] == "cmpl-abc"
    assert [c["choices"] for c in out] == [
        [{"text": "Hi", "index": 0, "logprobs": None, "finish_reason": None}],
        [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        [],
    ]
    assert out[-1]["usage"]["total_tokens"] == 3


def sdk_stream_client(body: bytes) -> openai.OpenAI:
    def handler(http_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return openai.OpenAI(
        api_key="k",
        base_url="http://gw/openai",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def test_openai_sdk_accumulates_the_stream_exactly() -> None:
    body = render(request(), TOOL_STREAM)
    client = sdk_stream_client(body)
    with client.chat.completions.stream(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "weather?"}],
        stream_options={"include_usage": True},
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant"  # not "assistantassistant"
    assert message.content == "Let me check."
    assert message.tool_calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("toolu_a", "get_weather", '{"city": "Paris"}'),
        ("toolu_b", "get_time", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens == 7


def test_openai_sdk_raises_on_a_mid_stream_error() -> None:
    renderer = DIALECT.stream_renderer(request())
    body = renderer.render(StreamStart("x", "m")) + renderer.render(TextDelta("Par"))
    body += renderer.fail(UpstreamError("upstream broke", status=502))
    stream = sdk_stream_client(body).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError, match="upstream broke"):
        for _ in stream:
            pass
