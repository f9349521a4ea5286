"""Gemini ``streamGenerateContent?alt=sse`` -> neutral stream events.

Every ``data:`` frame is a whole ``GenerateContentResponse`` whose parts are deltas. Text parts
become ``TextDelta`` (thought parts ``ReasoningDelta``); a ``functionCall`` arrives whole and
becomes ``ToolCallStart`` plus one ``ToolCallDelta`` with the complete arguments JSON.
``finishReason`` becomes ``Finish`` (``tool_calls`` when the candidate made calls).
``usageMetadata`` rides on most frames and the last is final, so it is reported once every
started candidate has finished (and again if a later frame revises it). ``{"error": ...}``
frames become ``StreamFailure``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import _json
from ..errors import UpstreamError, UpstreamProtocolError
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
from .gemini_wire import (
    error_from_body,
    finish_reason,
    function_call,
    parse_usage,
    part_signature,
    response_id,
    synthesise_call_id,
)


class GeminiStreamParser:
    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._id: str | None = None
        self._tool_counts: dict[int, int] = {}  # choice -> tool calls so far
        self._open: set[int] = set()  # choices that produced content but have not finished
        self._finished: set[int] = set()
        self._usage: Usage | None = None
        self._usage_sent = True
        self._failed = False

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._failed or not event.data.strip():
            return []
        try:
            body = _json.loads(event.data)
        except ValueError:
            return self._failure(UpstreamProtocolError(f"{self._provider} sent an unreadable stream frame"))
        error = error_from_body(body, status=500, raw_body=event.data.encode(), provider=self._provider)
        if error is not None:
            return self._failure(error)
        if not isinstance(body, Mapping):
            return self._failure(UpstreamProtocolError(f"{self._provider} sent an unexpected stream frame"))
        events: list[StreamEvent] = []
        if self._id is None:
            self._id = response_id(body, event.data)
            model = body.get("modelVersion")
            events.append(StreamStart(id=self._id, model=model if isinstance(model, str) and model else self._model))
        blocked = body.get("promptFeedback")
        candidates = body.get("candidates")
        if isinstance(blocked, Mapping) and blocked.get("blockReason") and not candidates:
            self._finished.add(0)
            events.append(Finish("content_filter"))
        for candidate in candidates if isinstance(candidates, list) else ():
            if isinstance(candidate, Mapping):
                events.extend(self._candidate(candidate))
        usage = parse_usage(body.get("usageMetadata"))
        if usage is not None and usage != self._usage:
            self._usage, self._usage_sent = usage, False
        if self._finished and not self._open and not self._usage_sent and self._usage is not None:
            events.append(UsageUpdate(self._usage))
            self._usage_sent = True
        return events

    def close(self) -> Iterable[StreamEvent]:
        if self._failed:
            return []
        if not self._finished or self._open:
            self._failed = True
            return [StreamFailure(UpstreamProtocolError("upstream ended the stream early", provider=self._provider))]
        if not self._usage_sent and self._usage is not None:
            self._usage_sent = True
            return [UsageUpdate(self._usage)]
        return []

    def _candidate(self, candidate: Mapping[str, Any]) -> list[StreamEvent]:
        index = candidate.get("index")
        choice = index if isinstance(index, int) and not isinstance(index, bool) else 0
        if choice not in self._finished:
            self._open.add(choice)
        events: list[StreamEvent] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, Mapping):
                events.extend(self._part(part, choice))
        reason = finish_reason(candidate.get("finishReason"), self._tool_counts.get(choice, 0) > 0)
        if reason is not None and choice not in self._finished:
            self._open.discard(choice)
            self._finished.add(choice)
            events.append(Finish(reason, choice=choice))
        return events

    def _part(self, part: Mapping[str, Any], choice: int) -> list[StreamEvent]:
        call = function_call(part)
        if call is not None:
            call_id, name, args = call
            tool_index = self._tool_counts.get(choice, 0)
            self._tool_counts[choice] = tool_index + 1
            call_id = call_id or synthesise_call_id(self._id or "", choice, tool_index, name, args)
            return [
                ToolCallStart(tool_index, call_id, name, signature=part_signature(part), choice=choice),
                ToolCallDelta(tool_index, args, choice=choice),
            ]
        text = part.get("text")
        if not isinstance(text, str):
            return []
        if part.get("thought") is True:
            signature = part_signature(part)
            return [ReasoningDelta(text, signature=signature, choice=choice)] if text or signature else []
        return [TextDelta(text, choice=choice)] if text else []

    def _failure(self, error: UpstreamError) -> list[StreamEvent]:
        self._failed = True
        return [StreamFailure(error)]
