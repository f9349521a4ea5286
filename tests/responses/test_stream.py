"""The Responses stream renderer, checked by the openai SDK's own stream accumulator."""

from __future__ import annotations

import itertools
import json
from typing import Any

from openai import omit
from openai._models import construct_type_unchecked
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from bifrost_asgi.errors import UpstreamError
from bifrost_asgi.neutral import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UpstreamFrame,
    Usage,
    UsageUpdate,
)
from bifrost_asgi.responses.items import decode_reasoning
from bifrost_asgi.responses.parse import parse_request
from bifrost_asgi.responses.stream import ResponsesStreamRenderer
from bifrost_asgi.streaming import SSEDecoder


def renderer() -> ResponsesStreamRenderer:
    counter = itertools.count()
    request = parse_request({"model": "anthropic/claude", "input": "hi", "stream": True})
    return ResponsesStreamRenderer(request, "resp_1", 1700000000, lambda prefix: f"{prefix}_{next(counter)}")


def frames(data: bytes) -> list[dict[str, Any]]:
    decoded = SSEDecoder().feed(data)
    for sse in decoded:
        assert json.loads(sse.data)["type"] == sse.event
    return [json.loads(sse.data) for sse in decoded]


def run(events: list[StreamEvent]) -> tuple[ResponsesStreamRenderer, list[dict[str, Any]]]:
    r = renderer()
    out = b"".join(r.render(e) for e in events) + r.finish()
    return r, frames(out)


def accumulate(payloads: list[dict[str, Any]]) -> Any:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)
    for payload in payloads:
        state.handle_event(construct_type_unchecked(type_=ResponseStreamEvent, value=payload))  # type: ignore[arg-type]
    return state._completed_response


def test_reasoning_text_and_parallel_calls_in_the_order_the_sdk_checks() -> None:
    r, payloads = run(
        [
            StreamStart("up-1", "claude"),
            ReasoningDelta("let me "),
            ReasoningDelta("think"),
            ReasoningDelta(signature="sig-9"),
            TextDelta("Checking."),
            ToolCallStart(0, "call_a", "get_weather"),
            ToolCallStart(1, "call_b", "get_time", signature="g-sig"),
            ToolCallDelta(0, '{"city":'),
            ToolCallDelta(1, "{}"),
            ToolCallDelta(0, '"Paris"}'),
            Finish("tool_calls"),
            UsageUpdate(Usage(input_tokens=10, output_tokens=5, cached_input_tokens=2, reasoning_tokens=3)),
        ]
    )
    kinds = [p["type"] for p in payloads]
    assert kinds[:4] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]  # fmt: skip
    assert kinds[-1] == "response.completed"
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert {p["response"]["id"] for p in payloads if "response" in p} == {"resp_1"}
    final = accumulate(payloads)
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call", "function_call"]
    assert final.output_text == "Checking."
    assert [c.arguments for c in final.output[2:]] == ['{"city":"Paris"}', "{}"]
    assert decode_reasoning(final.output[0].encrypted_content) == ("sig-9", None)
    usage = payloads[-1]["response"]["usage"]
    assert usage["input_tokens_details"] == {"cached_tokens": 2}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 3}
    # The stored copy keeps Gemini's thought signature; the client's does not see it.
    assert r.stored_output[3]["thought_signature"] == "g-sig"
    assert "thought_signature" not in payloads[-1]["response"]["output"][3]


def test_length_finish_is_incomplete() -> None:
    _, payloads = run([StreamStart("x", "m"), TextDelta("cut"), Finish("length")])
    assert payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_failure_mid_stream_is_an_error_event_then_failed() -> None:
    r = renderer()
    out = r.render(StreamStart("x", "m")) + r.render(TextDelta("par"))
    out += r.render(StreamFailure(UpstreamError("upstream broke", status=502)))
    payloads = frames(out)
    assert [p["type"] for p in payloads][-2:] == ["error", "response.failed"]
    assert payloads[-2]["message"] == "upstream broke"
    assert payloads[-1]["response"]["status"] == "failed"
    assert r.final is None and r.finish() == b""


def test_native_frames_are_relayed_verbatim_and_the_terminal_one_is_held() -> None:
    completed = {"type": "response.completed", "sequence_number": 2,
                 "response": {"id": "resp_up", "status": "completed", "output": [{"type": "message", "id": "m"}]}}
    upstream = [
        UpstreamFrame("openai_responses", "response.created",
                      '{"type":"response.created","sequence_number":0,"response":{"id":"resp_up"}}'),
        StreamStart("resp_up", "gpt"),
        UpstreamFrame("openai_responses", "response.output_text.delta",
                      '{"type":"response.output_text.delta","sequence_number":1,"delta":"hi"}'),
        TextDelta("hi"),
        UpstreamFrame("openai_responses", "response.completed", json.dumps(completed)),
        Finish("stop"),
    ]  # fmt: skip
    r = renderer()
    body = b"".join(r.render(e) for e in upstream)
    assert body == b"".join(
        b"event: " + (f.event or "").encode() + b"\ndata: " + f.data.encode() + b"\n\n"
        for f in upstream[:3:2]
        if isinstance(f, UpstreamFrame)
    )
    assert r.final is not None and r.final["id"] == "resp_up" and r.upstream_native
    assert r.finish() == b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"
    assert r.stored_output == [{"type": "message", "id": "m"}]
