"""Anthropic Messages SSE (wire-formats B.4) -> neutral stream events.

``message_start`` gives ``StreamStart`` and, when it reports input tokens, an early
``UsageUpdate``; content blocks become text / reasoning / tool-call events (a ``tool_use`` block
is one ``ToolCallStart`` then one ``ToolCallDelta`` per ``input_json_delta``); the first
``message_delta`` with a ``stop_reason`` gives ``Finish``, and every ``message_delta`` a
``UsageUpdate`` (its ``output_tokens`` are cumulative); a ``message_stop`` with no stop reason
before it gives ``Finish("stop")``. An ``error`` event becomes a
``StreamFailure`` carrying the status its type implies (``overloaded_error`` -> 529).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import _json
from ..errors import UpstreamProtocolError
from ..neutral import (
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
from ..streaming import SSEEvent
from .anthropic_wire import error_from_body, finish_reason, parse_usage


class AnthropicStreamParser:
    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._usage = Usage()
        self._tools: dict[int, int] = {}  # content block index -> neutral tool-call index
        self._finished = False
        self._failed = False

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._failed or not event.data.strip():
            return ()
        try:
            data = _json.loads(event.data)
        except ValueError:
            return self._fail(f"{self._provider} sent an unreadable stream event: {event.data[:200]!r}")
        if not isinstance(data, dict):
            return self._fail(f"{self._provider} sent a stream event that is not an object")
        kind = data.get("type") or event.event
        if kind == "message_start":
            return self._message_start(data.get("message"))
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "error":
            return self._error(data, event.data)
        if kind == "message_stop" and not self._finished:  # a stop without a stop_reason
            self._finished = True
            return [Finish("stop")]
        return ()  # ping, content_block_stop, message_stop and unknown events carry nothing

    def close(self) -> Iterable[StreamEvent]:
        if self._finished or self._failed:
            return ()
        return self._fail("upstream ended the stream early")

    def _fail(self, message: str) -> list[StreamEvent]:
        self._failed = True
        return [StreamFailure(UpstreamProtocolError(message, provider=self._provider, model=self._model))]

    def _message_start(self, message: Any) -> list[StreamEvent]:
        if not isinstance(message, dict):
            return self._fail(f"{self._provider} sent message_start without a message")
        message_id = message.get("id")
        model = message.get("model")
        events: list[StreamEvent] = [
            StreamStart(
                id=message_id if isinstance(message_id, str) else "",
                model=model if isinstance(model, str) else self._model,
            )
        ]
        self._usage = parse_usage(message.get("usage"), self._usage)
        if self._usage.input_tokens:
            events.append(UsageUpdate(self._usage))
        return events

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict):
            return []
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [TextDelta(block["text"])]
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return [ReasoningDelta(text=block["thinking"])]
        if kind == "redacted_thinking" and isinstance(block.get("data"), str):
            return [ReasoningDelta(redacted=block["data"])]
        if kind == "tool_use" and isinstance(index, int):
            return self._tool_start(index, block)
        return []

    def _tool_start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        tool_index = len(self._tools)
        self._tools[index] = tool_index
        call_id, name = block.get("id"), block.get("name")
        events: list[StreamEvent] = [
            ToolCallStart(
                index=tool_index,
                id=call_id if isinstance(call_id, str) else f"toolu_{tool_index}",
                name=name if isinstance(name, str) else "",
            )
        ]
        initial = block.get("input")
        if isinstance(initial, dict) and initial:
            events.append(ToolCallDelta(tool_index, _json.dumps_str(initial)))
        return events

    def _block_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return [TextDelta(delta["text"])]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str) and delta["thinking"]:
            return [ReasoningDelta(text=delta["thinking"])]
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            return [ReasoningDelta(signature=delta["signature"])]
        if kind == "input_json_delta":
            index = data.get("index")
            tool_index = self._tools.get(index) if isinstance(index, int) else None
            fragment = delta.get("partial_json")
            if tool_index is not None and isinstance(fragment, str) and fragment:
                return [ToolCallDelta(tool_index, fragment)]
        return []  # citations_delta and unknown deltas

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        delta = data.get("delta")
        reason = finish_reason(delta.get("stop_reason")) if isinstance(delta, dict) else None
        if reason is not None and not self._finished and isinstance(delta, dict):
            self._finished = True
            stop_sequence = delta.get("stop_sequence")
            events.append(Finish(reason, stop_sequence if isinstance(stop_sequence, str) else None))
        if "usage" in data:
            self._usage = parse_usage(data["usage"], self._usage)
            events.append(UsageUpdate(self._usage))
        return events

    def _error(self, data: dict[str, Any], text: str) -> list[StreamEvent]:
        self._failed = True
        error = error_from_body(data, raw_body=text.encode(), provider=self._provider, model=self._model)
        if error is None:
            error = UpstreamProtocolError(f"{self._provider} sent a malformed error event", provider=self._provider)
        return [StreamFailure(error)]
