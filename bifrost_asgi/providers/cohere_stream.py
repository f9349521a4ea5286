"""Cohere v2 chat SSE -> neutral stream events.

``message-start`` gives ``StreamStart``; ``content-delta`` text (or thinking) deltas;
``tool-plan-delta`` reasoning; ``tool-call-start`` a ``ToolCallStart`` (with any initial
arguments) and ``tool-call-delta`` argument fragments; ``message-end`` the ``Finish`` and the
``UsageUpdate``. A ``message-end`` with ``finish_reason: ERROR`` or an event with an error message
is a ``StreamFailure``.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    UsageUpdate,
)
from ..streaming import SSEEvent
from .cohere_wire import finish_reason, parse_usage


def _path(data: dict[str, Any], *names: str) -> Any:
    value: Any = data
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value


class CohereStreamParser:
    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._tools: dict[int, int] = {}
        self._finished = False
        self._failed = False

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._failed or not event.data.strip():
            return ()
        try:
            data = _json.loads(event.data)
        except ValueError:
            return self._fail(f"{self._provider} sent an unreadable stream event")
        if not isinstance(data, dict):
            return self._fail(f"{self._provider} sent a stream event that is not an object")
        kind = data.get("type") or event.event
        if kind == "message-start":
            message_id = data.get("id")
            return [StreamStart(id=message_id if isinstance(message_id, str) else "", model=self._model)]
        if kind == "content-delta":
            content = _path(data, "delta", "message", "content")
            if isinstance(content, dict) and isinstance(content.get("thinking"), str) and content["thinking"]:
                return [ReasoningDelta(text=content["thinking"])]
            text = content.get("text") if isinstance(content, dict) else None
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "tool-plan-delta":
            plan = _path(data, "delta", "message", "tool_plan")
            return [ReasoningDelta(text=plan)] if isinstance(plan, str) and plan else []
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool(kind, data)
        if kind == "message-end":
            return self._end(data)
        if isinstance(data.get("message"), str) and kind not in ("content-start", "content-end", "tool-call-end"):
            return self._error(data)
        return ()

    def close(self) -> Iterable[StreamEvent]:
        if self._finished or self._failed:
            return ()
        return self._fail("upstream ended the stream early")

    def _fail(self, message: str) -> list[StreamEvent]:
        self._failed = True
        return [StreamFailure(UpstreamProtocolError(message, provider=self._provider, model=self._model))]

    def _error(self, data: dict[str, Any]) -> list[StreamEvent]:
        self._failed = True
        error = UpstreamError(f"cohere: {data['message']}", status=500, provider=self._provider, model=self._model)
        return [StreamFailure(error)]

    def _tool(self, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
        index = data.get("index")
        call = _path(data, "delta", "message", "tool_calls")
        if not isinstance(index, int) or not isinstance(call, dict):
            return []
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        arguments = function.get("arguments")
        events: list[StreamEvent] = []
        if kind == "tool-call-start":
            started = self._tools.setdefault(index, len(self._tools))
            call_id, name = call.get("id"), function.get("name")
            events.append(ToolCallStart(
                index=started, id=call_id if isinstance(call_id, str) else f"call_{started}",
                name=name if isinstance(name, str) else "",
            ))  # fmt: skip
        tool_index = self._tools.get(index)
        if tool_index is not None and isinstance(arguments, str) and arguments:
            events.append(ToolCallDelta(tool_index, arguments))
        return events

    def _end(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta: dict[str, Any] = data["delta"] if isinstance(data.get("delta"), dict) else {}
        reason = finish_reason(delta.get("finish_reason"))
        if reason == "error":
            message = delta.get("error") if isinstance(delta.get("error"), str) else "the model failed"
            return self._error({"message": message})
        events: list[StreamEvent] = []
        if not self._finished:
            self._finished = True
            events.append(Finish(reason or "stop"))
        usage = parse_usage(delta.get("usage"))
        if usage is not None:
            events.append(UsageUpdate(usage))
        return events
