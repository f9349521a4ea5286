"""Neutral stream events -> Anthropic Messages SSE (wire-formats B.4).

Frame order: ``message_start``; content blocks numbered 0, 1, 2... with one block open at a time
(``content_block_start``, ``content_block_delta``*, ``content_block_stop``); then, from
``finish()``, one ``message_delta`` (stop reason, cumulative usage, ``input_tokens`` included)
and ``message_stop``.

``message_start`` is held back until the first content event so that usage an upstream reports
up front (Anthropic's own ``message_start``) lands in it; old SDKs read ``input_tokens`` only
there. A tool-call argument fragment for a call whose block is already closed (interleaved
parallel calls) is still sent with that block's index; the SDKs accumulate by index.

From an Anthropic upstream (``UpstreamFrame`` events), the upstream's frames are written as they
came, with only ``message_start``'s ``model`` rewritten: citations, ``citations_delta``, server
tool blocks and their usage, and separate text blocks all survive. The neutral events that come
alongside are then ignored, except a failure.
"""

from __future__ import annotations

from typing import Any, Literal

from .. import _json
from ..errors import GatewayError, UpstreamError
from ..neutral import (
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
from ..streaming import encode_raw_sse, encode_sse
from .anthropic_wire import error_body, message_id, stop_reason, tool_id, usage_object

BlockKind = Literal["text", "thinking", "redacted_thinking", "tool_use"]


_TEXT_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'


def _frame(payload: dict[str, Any]) -> bytes:
    return encode_sse(_json.dumps(payload), payload["type"])


class AnthropicStreamRenderer:
    """Stateful renderer for one stream; ``model`` is the model name the client asked for."""

    media_type = "text/event-stream"

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = "msg_gateway"
        self._started = False
        self._usage: Usage | None = None
        self._open: BlockKind | None = None
        # The open thinking block got its signature (not ``_signed``: mypyc would emit C's ``__signed``).
        self._signature_sent = False
        self._next_index = 0
        self._tool_blocks: dict[int, int] = {}  # neutral tool-call index -> block index
        self._finish: Finish | None = None
        self._relaying = False  # the upstream speaks Anthropic: its frames are written as they came
        self._text_head = b""  # the open text block's text_delta frame up to the text

    def render(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta and not self._relaying:  # nearly every event: the shortest way
            return self._text(event.text) if event.text else b""
        if self._relaying or isinstance(event, UpstreamFrame):
            return self._relay(event)
        match event:
            case StreamStart():
                self._id = message_id(event.id)
                return b""
            case UsageUpdate():
                self._usage = event.usage
                return b""
            case TextDelta():
                return self._text(event.text) if event.text else b""
            case ReasoningDelta():
                return self._reasoning(event)
            case ToolCallStart():
                return self._tool_start(event)
            case ToolCallDelta():
                return self._tool_delta(event)
            case Finish():
                self._finish = event
                return self._start() + self._close()
            case StreamFailure():
                return self.fail(event.error)
        return b""  # pragma: no cover - the union is exhaustive

    def _relay(self, event: StreamEvent) -> bytes:
        if isinstance(event, StreamFailure):
            return self.fail(event.error)
        if not isinstance(event, UpstreamFrame) or event.format != "anthropic":
            return b""
        self._relaying = True
        self._started = True
        name = event.event
        if name == "message_start" or (name is None and '"message_start"' in event.data):
            return self._relay_start(event.data)
        return encode_raw_sse(event.data, name)

    def _relay_start(self, data: str) -> bytes:
        try:
            payload = _json.loads(data)
            payload["message"]["model"] = self._model
        except (ValueError, TypeError, KeyError):
            return encode_raw_sse(data, "message_start")
        return _frame(payload)

    def finish(self) -> bytes:
        if self._relaying:  # the upstream's own message_stop was relayed
            return b""
        reason = self._finish.reason if self._finish else "stop"
        stop_sequence = self._finish.stop_sequence if self._finish else None
        delta = {
            "type": "message_delta",
            "delta": {
                "stop_reason": stop_reason(reason, bool(self._tool_blocks)),
                "stop_sequence": stop_sequence,
            },
            "usage": usage_object(self._usage),
        }
        return self._start() + self._close() + _frame(delta) + _frame({"type": "message_stop"})

    def fail(self, error: GatewayError) -> bytes:
        body: Any = None
        if isinstance(error, UpstreamError) and error.raw_format == "anthropic" and error.raw_body:
            try:
                body = _json.loads(error.raw_body)
            except ValueError:
                body = None
        if not (isinstance(body, dict) and body.get("type") == "error" and isinstance(body.get("error"), dict)):
            body = error_body(error)
        return encode_sse(_json.dumps(body), "error")

    # --- blocks -------------------------------------------------------------------------------

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = usage_object(self._usage)
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return _frame({"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _frame({"type": "content_block_stop", "index": self._next_index - 1})

    def _open_block(self, kind: BlockKind, block: dict[str, Any]) -> bytes:
        out = self._start() + self._close()
        out += _frame({"type": "content_block_start", "index": self._next_index, "content_block": block})
        self._next_index += 1
        self._open = kind
        self._signature_sent = False
        return out

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return _frame({"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, text: str) -> bytes:
        """``_delta(index, {"type": "text_delta", "text": text})``, its bytes put together directly."""
        out = b""
        if self._open != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
            self._text_head = b"%s%d%s" % (_TEXT_DELTA, self._next_index - 1, b',"delta":{"type":"text_delta","text":')
        return out + self._text_head + _json.dumps(text) + b"}}\n\n"

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        out = b""
        if event.redacted is not None:
            out += (
                self._open_block("redacted_thinking", {"type": "redacted_thinking", "data": event.redacted})
                + self._close()
            )
        if not event.text and event.signature is None:
            return out
        if self._open != "thinking" or self._signature_sent:
            out += self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        index = self._next_index - 1
        if event.text:
            out += self._delta(index, {"type": "thinking_delta", "thinking": event.text})
        if event.signature is not None:
            out += self._delta(index, {"type": "signature_delta", "signature": event.signature})
            self._signature_sent = True
        return out

    def _tool_start(self, event: ToolCallStart) -> bytes:
        block = {"type": "tool_use", "id": tool_id(event.id), "name": event.name, "input": {}}
        out = self._open_block("tool_use", block)
        self._tool_blocks[event.index] = self._next_index - 1
        return out

    def _tool_delta(self, event: ToolCallDelta) -> bytes:
        index = self._tool_blocks.get(event.index)
        if index is None or not event.arguments:
            return b""
        return self._delta(index, {"type": "input_json_delta", "partial_json": event.arguments})
