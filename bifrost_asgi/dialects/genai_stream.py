"""Neutral stream events -> Gemini ``streamGenerateContent?alt=sse`` frames.

google-genai accepts only lines starting with exactly ``data: ``: every frame here is
``data: {json}\\n\\n`` (no ``event:`` lines, comments or ``[DONE]``). Each chunk is a small
``GenerateContentResponse`` whose parts are deltas. Gemini sends a function call whole, so
``ToolCallStart``/``ToolCallDelta`` are buffered and a call goes out once its arguments are
complete (at ``Finish``, or when text follows it); the last chunk, from ``finish()``, carries
the buffered calls, ``finishReason`` and ``usageMetadata``, and when it has no call, an empty text
part: google-genai's ``chunk.text`` is None for a chunk without parts, which breaks
``"".join(c.text for c in stream)``. (Moving the finish onto the last text chunk would mean holding
every text chunk back until the next event arrives.)

A Gemini upstream's stream is relayed as it came: its ``UpstreamFrame`` events are written
verbatim and the events parsed from them are ignored (a failure still ends the stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    Finish,
    FinishReason,
    ReasoningDelta,
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
from ..streaming import encode_raw_sse, encode_sse
from .genai_render import FINISH_REASONS, error_body, raw_upstream_error, render_part, render_thought, usage_metadata


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    signature: str | None
    fragments: list[str] = field(default_factory=list)

    def part(self) -> dict[str, Any]:
        call = ToolCall(self.id, self.name, "".join(self.fragments), self.signature)
        rendered = render_part(call)
        assert rendered is not None  # a ToolCall always renders
        return rendered


class GenAIStreamRenderer:
    media_type = "text/event-stream"

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._response_id = ""
        self._pending: dict[int, dict[int, _PendingCall]] = {}  # choice -> tool index -> call
        self._finished: dict[int, FinishReason] = {}
        self._usage: Usage | None = None
        self._closed = False
        self._relaying = False

    def render(self, event: StreamEvent) -> bytes:
        if self._relaying or isinstance(event, UpstreamFrame):
            return self._relay(event)
        if isinstance(event, TextDelta):
            return self._flush(event.choice) + self._chunk(event.choice, [{"text": event.text}] if event.text else [])
        if isinstance(event, ReasoningDelta):
            thought = render_thought(event.text, event.signature)
            return self._flush(event.choice) + self._chunk(event.choice, [thought] if thought else [])
        if isinstance(event, ToolCallStart):
            calls = self._pending.setdefault(event.choice, {})
            calls[event.index] = _PendingCall(event.id, event.name, event.signature)
        elif isinstance(event, ToolCallDelta):
            pending = self._pending.get(event.choice, {}).get(event.index)
            if pending is not None:
                pending.fragments.append(event.arguments)
        elif isinstance(event, Finish):
            self._finished[event.choice] = event.reason
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, StreamStart):
            self._response_id = event.id
            self._model = event.model or self._model
        elif isinstance(event, StreamFailure):
            return self.fail(event.error)
        return b""

    def _relay(self, event: StreamEvent) -> bytes:
        if isinstance(event, UpstreamFrame):
            if event.format != "gemini" or self._closed:
                return b""
            self._relaying = True
            return encode_raw_sse(event.data, event.event)
        return self.fail(event.error) if isinstance(event, StreamFailure) else b""

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._relaying:
            return b""
        choices = sorted(set(self._pending) | set(self._finished)) or [0]
        candidates = []
        for choice in choices:
            candidate: dict[str, Any] = {"content": self._content(self._take(choice) or [{"text": ""}])}
            reason = self._finished.get(choice)
            if reason is not None:
                candidate["finishReason"] = FINISH_REASONS[reason]
            candidate["index"] = choice
            candidates.append(candidate)
        body: dict[str, Any] = {"candidates": candidates}
        if self._usage is not None:
            body["usageMetadata"] = usage_metadata(self._usage)
        return self._frame(body)

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return encode_sse(_json.dumps(_stream_error_body(error)))

    def _flush(self, choice: int) -> bytes:
        """Calls buffered for ``choice`` are complete once something else follows them."""
        parts = self._take(choice)
        return self._chunk(choice, parts) if parts else b""

    def _take(self, choice: int) -> list[dict[str, Any]]:
        calls = self._pending.pop(choice, {})
        return [calls[index].part() for index in sorted(calls)]

    def _chunk(self, choice: int, parts: list[dict[str, Any]]) -> bytes:
        if not parts or self._closed:
            return b""
        return self._frame({"candidates": [{"content": self._content(parts), "index": choice}]})

    @staticmethod
    def _content(parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"role": "model", "parts": parts}

    def _frame(self, body: dict[str, Any]) -> bytes:
        body["modelVersion"] = self._model
        if self._response_id:
            body["responseId"] = self._response_id
        return encode_sse(_json.dumps(body))


def _stream_error_body(error: GatewayError) -> dict[str, Any]:
    """A Gemini upstream's own ``{"error": ...}`` when there is one, else the gateway's."""
    raw = raw_upstream_error(error)
    if raw is not None:
        try:
            parsed = _json.loads(raw[1])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            return {"error": parsed["error"]}
    return error_body(error)
