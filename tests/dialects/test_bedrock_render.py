"""invoke_model_with_response_stream frames: Anthropic stream events as base64 ``chunk`` events,
a mid-stream failure as one event-stream exception, nothing after it."""

from __future__ import annotations

import base64
import json

from bifrost_asgi.dialects.anthropic_stream import AnthropicStreamRenderer
from bifrost_asgi.dialects.bedrock_render import InvokeStreamRenderer
from bifrost_asgi.errors import UpstreamError
from bifrost_asgi.neutral import Finish, StreamFailure, TextDelta
from bifrost_asgi.wire.eventstream import EventStreamDecoder


def _decode(data: bytes) -> list[tuple[str | None, dict[str, object]]]:
    decoder = EventStreamDecoder()
    messages = decoder.feed(data) + decoder.close()
    return [(m.header(":event-type") or m.header(":exception-type"), json.loads(m.payload)) for m in messages]


def test_each_anthropic_event_is_one_chunk_with_base64_bytes() -> None:
    renderer = InvokeStreamRenderer(AnthropicStreamRenderer("claude"))
    data = renderer.render(TextDelta("hel")) + renderer.render(TextDelta("lo")) + renderer.render(Finish("stop"))
    data += renderer.finish()
    frames = _decode(data)
    assert {name for name, _ in frames} == {"chunk"}
    events = [json.loads(base64.b64decode(str(payload["bytes"]))) for _, payload in frames]
    assert [e["type"] for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert events[0]["message"]["model"] == "claude"
    assert renderer.finish() == b""


def test_a_failure_mid_stream_is_an_exception_message_and_ends_the_stream() -> None:
    renderer = InvokeStreamRenderer(AnthropicStreamRenderer("claude"))
    data = renderer.render(TextDelta("hi"))
    data += renderer.render(StreamFailure(UpstreamError("slow down", status=429)))
    frames = _decode(data)
    assert frames[-1] == ("throttlingException", {"message": "slow down"})
    assert renderer.render(TextDelta("more")) == b"" and renderer.finish() == b""
