"""Answers in Bedrock's shapes: Converse responses, event-stream framed Converse streams
(``wire.converse`` frames, the codec shared with the Bedrock provider) and errors as boto3 reads
them (``x-amzn-errortype`` header and ``__type``/``message`` body), and
``invoke_model_with_response_stream``'s ``chunk`` events. Pure."""

from __future__ import annotations

import base64
from typing import Any

from .. import _json
from ..errors import GatewayError, UpstreamError
from ..neutral import (
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    UpstreamFrame,
    Usage,
    UsageUpdate,
)
from ..wire.converse import CONTENT_TYPE_STREAM, encode_event, encode_exception, encode_raw_event
from .base import ErrorReply, StreamRenderer

_STOP: dict[str, str] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "content_filter": "content_filtered",
}
_ERRORS: tuple[tuple[int, str], ...] = (
    (400, "ValidationException"), (401, "AccessDeniedException"), (402, "AccessDeniedException"),
    (403, "AccessDeniedException"), (404, "ResourceNotFoundException"), (408, "ModelTimeoutException"),
    (413, "ValidationException"), (429, "ThrottlingException"), (503, "ServiceUnavailableException"),
    (504, "ModelTimeoutException"),
)  # fmt: skip


def stop_reason(reason: FinishReason | None) -> str:
    return _STOP.get(reason or "stop", "end_turn")


def usage_object(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    out = {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens, "totalTokens": usage.total_tokens}
    if usage.cached_input_tokens:
        out["cacheReadInputTokens"] = usage.cached_input_tokens
    if usage.cache_creation_tokens:
        out["cacheWriteInputTokens"] = usage.cache_creation_tokens
    return out


def _content(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart) and part.text:
            blocks.append({"text": part.text})
        elif isinstance(part, ToolCall):
            blocks.append({"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.arguments_object()}})
        elif isinstance(part, ReasoningPart) and (part.text or part.signature):
            text: dict[str, Any] = {"text": part.text}
            if part.signature:
                text["signature"] = part.signature
            blocks.append({"reasoningContent": {"reasoningText": text}})
    return blocks


def render_converse(response: ChatResponse, same_format: bool) -> bytes:
    if same_format and response.raw is not None and response.raw_format == "bedrock":
        return response.raw
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice else Message("assistant")
    return _json.dumps({
        "output": {"message": {"role": "assistant", "content": _content(message)}},
        "stopReason": stop_reason(choice.finish_reason if choice else "stop"),
        "usage": usage_object(response.usage),
        "metrics": {"latencyMs": 0},
    })  # fmt: skip


def error_type(error: GatewayError) -> str:
    if isinstance(error, UpstreamError) and error.raw_format == "bedrock" and error.upstream_type:
        name = error.upstream_type
        return name[:1].upper() + name[1:]
    for status, name in _ERRORS:
        if error.status == status:
            return name
    return "InternalServerException"


def render_error(error: GatewayError) -> ErrorReply:
    name = error_type(error)
    status = error.status if 400 <= error.status < 600 else 500
    headers = {"x-amzn-errortype": name}
    if error.retry_after is not None:
        headers["retry-after"] = str(max(0, int(error.retry_after + 0.999)))
    return ErrorReply(status, _json.dumps({"__type": name, "message": error.message}), headers)


class ConverseStreamRenderer:
    """Neutral events -> Converse stream frames: ``messageStart``; per block ``contentBlockStart``
    (tool use only, as Bedrock sends), ``contentBlockDelta``*, ``contentBlockStop``; then
    ``messageStop`` and ``metadata`` (usage) when the stream ends.

    From a Bedrock upstream (``UpstreamFrame`` events), its event frames are written as they came
    (payloads untouched: Converse stream events name no model), so everything Bedrock streams
    (guardrail traces, latency metrics, block boundaries) survives; the neutral events alongside
    are ignored, except a failure."""

    media_type = CONTENT_TYPE_STREAM

    def __init__(self) -> None:
        self._started = False
        self._index = -1
        self._open: str | None = None  # "text" | "reasoning" | "tool"
        self._tools: dict[int, int] = {}  # neutral tool index -> block index
        self._finish: Finish | None = None
        self._usage: Usage | None = None
        self._closed = False
        self._relaying = False

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return encode_event("messageStart", {"role": "assistant"})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return encode_event("contentBlockStop", {"contentBlockIndex": self._index})

    def _block(self, kind: str) -> bytes:
        if self._open == kind and kind != "tool":
            return b""
        out = self._close()
        self._index += 1
        self._open = kind
        return out

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> bytes:
        block = self._index if index is None else index
        return encode_event("contentBlockDelta", {"contentBlockIndex": block, "delta": delta})

    def render(self, event: StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, StreamFailure):
            return self.fail(event.error)
        if self._relaying or isinstance(event, UpstreamFrame):
            return self._relay(event)
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
            return b""
        if isinstance(event, Finish):
            self._finish = event
            return b""
        out = self._start()
        if isinstance(event, TextDelta) and event.text:
            return out + self._block("text") + self._delta({"text": event.text})
        if isinstance(event, ReasoningDelta) and (event.text or event.signature):
            out += self._block("reasoning")
            if event.text:
                out += self._delta({"reasoningContent": {"text": event.text}})
            if event.signature:
                out += self._delta({"reasoningContent": {"signature": event.signature}})
            return out
        if isinstance(event, ToolCallStart):
            out += self._block("tool")
            self._tools[event.index] = self._index
            start = {"toolUse": {"toolUseId": event.id, "name": event.name}}
            return out + encode_event("contentBlockStart", {"contentBlockIndex": self._index, "start": start})
        if isinstance(event, ToolCallDelta) and event.arguments and event.index in self._tools:
            return out + self._delta({"toolUse": {"input": event.arguments}}, self._tools[event.index])
        return out if isinstance(event, StreamStart) else b""

    def _relay(self, event: StreamEvent) -> bytes:
        if not isinstance(event, UpstreamFrame) or event.format != "bedrock":
            return b""
        kind, _, name = (event.event or "").partition(":")
        if kind != "event" or not name:
            return b""
        self._relaying = True
        return encode_raw_event(name, event.data.encode())

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._relaying:  # the upstream's own messageStop and metadata were relayed
            return b""
        reason = stop_reason(self._finish.reason if self._finish else "stop")
        metadata = {"usage": usage_object(self._usage), "metrics": {"latencyMs": 0}}
        return (
            self._start() + self._close() + encode_event("messageStop", {"stopReason": reason})
            + encode_event("metadata", metadata)
        )  # fmt: skip

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        name = error_type(error)
        return encode_exception(name[:1].lower() + name[1:], error.message)


class InvokeStreamRenderer:
    """``invoke_model_with_response_stream``: the model's own (Anthropic) stream events, each as
    Bedrock sends them, one ``chunk`` event whose payload is ``{"bytes": base64(event JSON)}``.
    The Anthropic renderer's SSE frames are cut into their ``data`` payloads; a failure is an
    event-stream exception (boto3 raises it as an ``EventStreamError``)."""

    media_type = CONTENT_TYPE_STREAM

    def __init__(self, inner: StreamRenderer) -> None:
        self._inner = inner
        self._closed = False

    @staticmethod
    def _chunks(sse: bytes) -> bytes:
        out = b""
        for frame in sse.split(b"\n\n"):
            data = b"\n".join(line[6:] for line in frame.split(b"\n") if line.startswith(b"data: "))
            if data:
                out += encode_event("chunk", {"bytes": base64.b64encode(data).decode()})
        return out

    def render(self, event: StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, StreamFailure):
            return self.fail(event.error)
        return self._chunks(self._inner.render(event))

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return self._chunks(self._inner.finish())

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        name = error_type(error)
        return encode_exception(name[:1].lower() + name[1:], error.message)
