"""Neutral stream events -> Responses SSE, in the order the OpenAI SDK's stream helper checks.

``response.created``, ``response.in_progress``; per output item ``output_item.added``, its parts
and deltas (``content_part.added`` / ``output_text.delta`` / ``output_text.done`` /
``content_part.done`` for text; ``reasoning_summary_part.*`` / ``reasoning_summary_text.*`` for
thinking; ``function_call_arguments.delta`` / ``.done`` for calls), ``output_item.done``; then
``response.completed`` or ``response.incomplete``. One response id throughout, ``sequence_number``
counting from 0. A failure after the start is an ``error`` event followed by ``response.failed``.

When the upstream speaks Responses itself, its frames (``UpstreamFrame``) are relayed verbatim and
the neutral events that follow them are only read for accounting.

The terminal event is written by ``finish()``, not ``render()``: the service stores the response
between the two, so a follow-up naming it works as soon as the client sees ``completed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningPart,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    UpstreamFrame,
    Usage,
    UsageUpdate,
)
from ..streaming import encode_sse
from .items import SIGNATURE_FIELD, IdFactory, function_call_item, reasoning_item
from .parse import RESPONSES_FORMAT, ResponsesRequest
from .render import error_event, response_object, status_of

_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


@dataclass(slots=True)
class _Open:
    """The output item being written (a message or a reasoning item)."""

    kind: str
    item_id: str
    index: int
    text: list[str] = field(default_factory=list)
    signature: str | None = None
    redacted: str | None = None
    part_open: bool = False
    encoded: bytes | None = None  # its ``"item_id":...,"output_index":...`` JSON, for deltas


@dataclass(slots=True)
class _Call:
    item_id: str
    index: int
    call: ToolCall
    arguments: list[str] = field(default_factory=list)
    encoded: bytes | None = None


class ResponsesStreamRenderer:
    media_type = "text/event-stream"

    def __init__(self, request: ResponsesRequest, response_id: str, created_at: int, ids: IdFactory) -> None:
        self._request = request
        self._id = response_id
        self._created = created_at
        self._ids = ids
        self._seq = 0
        self._started = False
        self._closed = False
        self._open: _Open | None = None
        self._calls: dict[int, _Call] = {}
        self._shown: list[dict[str, Any] | None] = []  # by output index
        self._stored: list[dict[str, Any] | None] = []
        self._reason: FinishReason | None = None
        self._usage: Usage | None = None
        self._raw = False
        self._raw_terminal: bytes | None = None
        self._last_raw = ""
        #: Set by ``finish()``: the final response object and the output items to store.
        self.final: dict[str, Any] | None = None
        self.stored_output: list[dict[str, Any]] = []
        self.upstream_native = False

    # ------------------------------------------------------------------ framing

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _json.dumps(payload) + b"\n\n"

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = [item for item in self._shown if item is not None]
        return response_object(
            self._request, response_id=self._id, created_at=self._created, status=status, output=output, **extra
        )

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        snapshot = self._snapshot("in_progress")
        return self._event("response.created", {"response": snapshot}) + self._event(
            "response.in_progress", {"response": snapshot}
        )

    def _slot(self) -> int:
        self._shown.append(None)
        self._stored.append(None)
        return len(self._shown) - 1

    # ------------------------------------------------------------------ items

    def _open_item(self, kind: str) -> tuple[_Open, bytes]:
        out = self._close_open() + self._close_calls()
        index = self._slot()
        current = self._open = _Open(kind, self._ids("msg" if kind == "message" else "rs"), index)
        if kind == "message":
            item: dict[str, Any] = {
                "id": current.item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": [],
            }  # fmt: skip
            out += self._event("response.output_item.added", {"output_index": index, "item": item})
            out += self._event("response.content_part.added", {**self._where(current), "part": _text_part("")})
        else:
            item = {"id": current.item_id, "type": "reasoning", "summary": []}
            out += self._event("response.output_item.added", {"output_index": index, "item": item})
        return current, out

    def _delta(self, kind: bytes, current: _Open | _Call, delta: str, tail: bytes = b"}\n\n") -> bytes:
        """A delta event, by hand: the hot event of every stream (one small encode per delta)."""
        if current.encoded is None:
            current.encoded = _json.dumps(self._where(current))[1:-1]
        sequence = self._seq
        self._seq += 1
        return b"".join(
            (b"event: ", kind, b'\ndata: {"type":"', kind, b'","sequence_number":', str(sequence).encode(), b",",
             current.encoded, b',"delta":', _json.dumps(delta), tail)
        )  # fmt: skip

    def _where(self, current: _Open | _Call) -> dict[str, Any]:
        where: dict[str, Any] = {"item_id": current.item_id, "output_index": current.index}
        if isinstance(current, _Open):
            where["content_index" if current.kind == "message" else "summary_index"] = 0
        return where

    def _text(self, text: str) -> bytes:
        current, out = (self._open, b"") if self._open and self._open.kind == "message" else self._open_item("message")
        current.text.append(text)
        return out + self._delta(b"response.output_text.delta", current, text, b',"logprobs":[]}\n\n')

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        current, out = (
            (self._open, b"") if self._open and self._open.kind == "reasoning" else self._open_item("reasoning")
        )
        if event.signature:
            current.signature = event.signature
        if event.redacted:
            current.redacted = event.redacted
        if event.text:
            if not current.part_open:
                current.part_open = True
                part = {"type": "summary_text", "text": ""}
                out += self._event("response.reasoning_summary_part.added", {**self._where(current), "part": part})
            current.text.append(event.text)
            out += self._delta(b"response.reasoning_summary_text.delta", current, event.text)
        return out

    def _close_open(self) -> bytes:
        current, self._open = self._open, None
        if current is None:
            return b""
        text = "".join(current.text)
        where = self._where(current)
        if current.kind == "message":
            out = self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
            out += self._event("response.content_part.done", {**where, "part": _text_part(text)})
            item: dict[str, Any] = {
                "id": current.item_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [_text_part(text)],
            }  # fmt: skip
            stored = item
        else:
            out = b""
            if current.part_open:
                out += self._event("response.reasoning_summary_text.done", {**where, "text": text})
                part = {"type": "summary_text", "text": text}
                out += self._event("response.reasoning_summary_part.done", {**where, "part": part})
            part_ = ReasoningPart(text, signature=current.signature, redacted=current.redacted)
            item = stored = reasoning_item(part_, current.item_id)
        self._shown[current.index], self._stored[current.index] = item, stored
        return out + self._event("response.output_item.done", {"output_index": current.index, "item": item})

    def _call_start(self, event: ToolCallStart) -> bytes:
        out = self._close_open()
        index = self._slot()
        call = ToolCall(event.id, event.name, "", event.signature)
        state = self._calls[event.index] = _Call(self._ids("fc"), index, call)
        item = function_call_item(call, state.item_id, "in_progress")
        return out + self._event("response.output_item.added", {"output_index": index, "item": item})

    def _call_delta(self, event: ToolCallDelta) -> bytes:
        state = self._calls.get(event.index)
        if state is None or not event.arguments:
            return b""
        state.arguments.append(event.arguments)
        return self._delta(b"response.function_call_arguments.delta", state, event.arguments)

    def _close_calls(self) -> bytes:
        out = b""
        for state in sorted(self._calls.values(), key=lambda s: s.index):
            arguments = "".join(state.arguments)
            call = ToolCall(state.call.id, state.call.name, arguments, state.call.signature)
            done = {**self._where(state), "name": call.name, "arguments": arguments}
            out += self._event("response.function_call_arguments.done", done)
            item = function_call_item(call, state.item_id)
            self._shown[state.index] = item
            self._stored[state.index] = {**item, SIGNATURE_FIELD: call.signature} if call.signature else item
            out += self._event("response.output_item.done", {"output_index": state.index, "item": item})
        self._calls.clear()
        return out

    # ------------------------------------------------------------------ StreamRenderer

    def render(self, event: StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, UpstreamFrame):
            return self._relay(event)
        if self._raw:
            return b""
        if isinstance(event, TextDelta):
            return self._start() + self._text(event.text) if event.text else b""
        if isinstance(event, ToolCallDelta):
            return self._call_delta(event)
        if isinstance(event, ToolCallStart):
            return self._start() + self._call_start(event)
        if isinstance(event, ReasoningDelta):
            return self._start() + self._reasoning(event)
        if isinstance(event, StreamStart):
            return self._start()
        if isinstance(event, Finish):
            self._reason = event.reason
            return self._start() + self._close_open() + self._close_calls()
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
            return b""
        if isinstance(event, StreamFailure):
            return self.fail(event.error)
        return b""  # pragma: no cover - every StreamEvent is handled above

    def _relay(self, frame: UpstreamFrame) -> bytes:
        if frame.format != RESPONSES_FORMAT:
            return b""
        self._raw = True
        self._last_raw = frame.data
        encoded = encode_sse(frame.data.encode(), frame.event)
        if frame.event not in _TERMINAL:
            return encoded
        self._raw_terminal = encoded  # held until finish() (or fail()) writes it
        if frame.event != "error":
            try:
                data = _json.loads(frame.data)
            except ValueError:
                data = None
            response = data.get("response") if isinstance(data, dict) else None
            if isinstance(response, dict) and frame.event != "response.failed":
                self.final = response
                output = response.get("output")
                self.stored_output = [i for i in output if isinstance(i, dict)] if isinstance(output, list) else []
                self.upstream_native = True
        return b""

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._raw:
            return self._raw_terminal or b""
        out = self._start() + self._close_open() + self._close_calls()
        status, incomplete = status_of(self._reason)
        self.final = self._snapshot(status, usage=self._usage, incomplete=incomplete)
        self.stored_output = [item for item in self._stored if item is not None]
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, {"response": self.final})

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        self.final = None
        if self._raw:
            return self._raw_terminal or error_event(error, _next_sequence(self._last_raw))
        out = error_event(error, self._seq)
        self._seq += 1
        failed = self._snapshot("failed", usage=self._usage, error=error)
        return out + self._event("response.failed", {"response": failed})

    def failed_after_finish(self, error: GatewayError) -> bytes:
        """Instead of the terminal event ``finish()`` produced (the response could not be stored)."""
        sequence = _next_sequence(self._last_raw) if self._raw else self._seq
        self.final = None
        return error_event(error, sequence)

    @property
    def completed(self) -> bool:
        """``finish()`` has produced the terminal event (it is not yet written to the client)."""
        return self._closed and self.final is not None


def _next_sequence(data: str) -> int:
    """The sequence number after the upstream's last frame (``data`` is its JSON)."""
    try:
        value = _json.loads(data).get("sequence_number") if data else None
    except (ValueError, AttributeError):
        value = None
    return value + 1 if isinstance(value, int) else 0


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
