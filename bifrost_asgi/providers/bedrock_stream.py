"""Bedrock ``converse-stream`` (AWS event-stream frames) -> neutral stream events.

``BedrockStreamDecoder`` checks both CRCs of every frame (``wire.eventstream``) and hands the
parser one ``SSEEvent`` per frame: ``event`` is ``event:<type>`` or ``exception:<type>``,
``data`` the JSON payload. A corrupt frame is a 502 (``UpstreamProtocolError``).

``BedrockStreamParser``: ``messageStart`` gives ``StreamStart``; ``contentBlockStart`` with a
``toolUse`` a ``ToolCallStart``; ``contentBlockDelta`` text / tool input / reasoning (text,
signature, redacted) deltas; ``messageStop`` the ``Finish``; ``metadata`` the ``UsageUpdate``.
An exception frame becomes a ``StreamFailure`` with Bedrock's status for its type
(``throttlingException`` -> 429, so a failure before content is retried or falls back).
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
    UsageUpdate,
)
from ..streaming import SSEEvent
from ..wire.converse import frame_type
from ..wire.eventstream import MAX_PAYLOAD_LENGTH, EventMessage, EventStreamDecoder, EventStreamError
from .bedrock_parse import error_from, finish_reason, parse_usage


class BedrockStreamDecoder:
    __slots__ = ("_decoder", "_provider")

    def __init__(self, provider: str, max_event_bytes: int = MAX_PAYLOAD_LENGTH) -> None:
        self._decoder = EventStreamDecoder(max_payload=max_event_bytes)
        self._provider = provider

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        try:
            return [self._event(m) for m in self._decoder.feed(chunk)]
        except EventStreamError as exc:
            raise self._corrupt(exc) from None

    def close(self) -> list[SSEEvent]:
        try:
            return [self._event(m) for m in self._decoder.close()]
        except EventStreamError as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: EventStreamError) -> UpstreamProtocolError:
        return UpstreamProtocolError(
            f"{self._provider} sent a corrupt event-stream frame: {exc}", provider=self._provider
        )

    @staticmethod
    def _event(message: EventMessage) -> SSEEvent:
        kind, name = frame_type(message)
        return SSEEvent(message.payload.decode("utf-8", "replace"), f"{kind}:{name}")


class BedrockStreamParser:
    def __init__(self, provider: str, model: str, response_id: str) -> None:
        self._provider = provider
        self._model = model
        self._id = response_id
        self._tools: dict[int, int] = {}  # contentBlockIndex -> neutral tool-call index
        self._finished = False
        self._failed = False

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._failed:
            return ()
        kind, _, name = (event.event or "").partition(":")
        try:
            data = _json.loads(event.data) if event.data else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._fail(f"{self._provider} sent an unreadable {name or 'stream'} event")
        if kind == "exception":
            self._failed = True
            error = error_from(
                name, data.get("message"), status=None, raw_body=event.data.encode(), provider=self._provider,
                model=self._model,
            )  # fmt: skip
            return [StreamFailure(error)]
        handler = _HANDLERS.get(name)
        return handler(self, data) if handler is not None else ()

    def close(self) -> Iterable[StreamEvent]:
        if self._finished or self._failed:
            return ()
        return self._fail("upstream ended the stream early")

    def _fail(self, message: str) -> list[StreamEvent]:
        self._failed = True
        return [StreamFailure(UpstreamProtocolError(message, provider=self._provider, model=self._model))]

    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        return [StreamStart(id=self._id, model=self._model)]

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        start = data.get("start")
        use = start.get("toolUse") if isinstance(start, dict) else None
        index = data.get("contentBlockIndex")
        if not isinstance(use, dict) or not isinstance(index, int):
            return []
        tool_index = len(self._tools)
        self._tools[index] = tool_index
        call_id, name = use.get("toolUseId"), use.get("name")
        return [
            ToolCallStart(
                index=tool_index,
                id=call_id if isinstance(call_id, str) else f"tooluse_{tool_index}",
                name=name if isinstance(name, str) else "",
            )
        ]

    def _block_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        if isinstance(delta.get("text"), str):
            return [TextDelta(delta["text"])] if delta["text"] else []
        use = delta.get("toolUse")
        if isinstance(use, dict):
            index = data.get("contentBlockIndex")
            tool_index = self._tools.get(index) if isinstance(index, int) else None
            fragment = use.get("input")
            if tool_index is not None and isinstance(fragment, str) and fragment:
                return [ToolCallDelta(tool_index, fragment)]
            return []
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            if isinstance(reasoning.get("text"), str) and reasoning["text"]:
                return [ReasoningDelta(text=reasoning["text"])]
            if isinstance(reasoning.get("signature"), str):
                return [ReasoningDelta(signature=reasoning["signature"])]
            if isinstance(reasoning.get("redactedContent"), str):
                return [ReasoningDelta(redacted=reasoning["redactedContent"])]
        return []

    def _message_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._finished:
            return []
        self._finished = True
        return [Finish(finish_reason(data.get("stopReason")) or "stop")]

    def _metadata(self, data: dict[str, Any]) -> list[StreamEvent]:
        usage = parse_usage(data.get("usage"))
        return [UsageUpdate(usage)] if usage is not None else []


_HANDLERS = {
    "messageStart": BedrockStreamParser._message_start,
    "contentBlockStart": BedrockStreamParser._block_start,
    "contentBlockDelta": BedrockStreamParser._block_delta,
    "messageStop": BedrockStreamParser._message_stop,
    "metadata": BedrockStreamParser._metadata,
}
