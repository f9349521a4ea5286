"""Neutral stream events -> OpenAI SSE (``chat.completion.chunk`` or legacy ``text_completion``).

Rules the OpenAI SDK depends on (it concatenates deltas): ``role`` only in a choice's first
delta; a tool call's ``id``/``type``/``function.name`` only in its first fragment; the same
``id``/``created``/``model`` on every chunk; the finish chunk has ``delta: {}``; the usage chunk
(``choices: []``) only when the client asked for it, after the finish chunk and before
``data: [DONE]``. After ``fail()`` nothing else is written.

When the client did not ask for the usage chunk, the last finish chunk carries the stream's usage
(as Bifrost does): clients that never set ``stream_options`` (LangChain, litellm) read their token
counts from it (not both: LangChain sums usage across chunks). So the latest finish chunk is held
until the next event shows it is not the last.

Each chunk is the pre-encoded envelope plus one encoded choice: one small ``orjson.dumps`` per event.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
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
from .openai_render import error_object, finish_reason, usage_object, with_prefix

_DONE = b"data: [DONE]\n\n"


class OpenAIStreamRenderer:
    media_type = "text/event-stream"

    __slots__ = (
        "_closed",
        "_head",
        "_held",
        "_model",
        "_n",
        "_role_sent",
        "_tail",
        "_text",
        "_usage",
        "_want_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._text = request.text_completion
        self._want_usage = request.include_usage
        self._n = request.n or 1
        self._head: bytes | None = None  # b'data: {"id":...,"choices":['
        self._tail = b'],"usage":null}\n\n' if request.include_usage else b"]}\n\n"
        self._role_sent: set[int] = set()
        self._usage: Usage | None = None
        self._held: dict[str, Any] | None = None  # the latest finish choice, not yet written
        self._closed = False

    def _start(self, identifier: str, created: int) -> bytes:
        if self._text:
            identifier, kind = with_prefix(identifier, "cmpl-"), b"text_completion"
        else:
            identifier, kind = with_prefix(identifier, "chatcmpl-"), b"chat.completion.chunk"
        self._head = b"".join(
            (
                b'data: {"id":',
                _json.dumps(identifier),
                b',"object":"',
                kind,
                b'","created":',
                str(created).encode(),
                b',"model":',
                _json.dumps(self._model),
                b',"choices":[',
            )
        )
        return self._head

    def _chunk(self, choice: dict[str, Any]) -> bytes:
        head = self._head if self._head is not None else self._start("", 0)
        held, self._held = self._held, None
        if held is not None:  # a finish chunk that turned out not to be the last one
            return head + _json.dumps(held) + self._tail + head + _json.dumps(choice) + self._tail
        return head + _json.dumps(choice) + self._tail

    def _hold(self, choice: dict[str, Any]) -> bytes:
        flushed = b""
        if self._held is not None:
            head = self._head if self._head is not None else self._start("", 0)
            flushed = head + _json.dumps(self._held) + self._tail
        self._held = choice
        return flushed

    def _release(self) -> bytes:
        """The held finish chunk, now known to be the last, with the usage when there is one."""
        held, self._held = self._held, None
        if held is None:
            return b""
        head = self._head if self._head is not None else self._start("", 0)
        if self._usage is None or self._want_usage:  # asked for: the usage chunk carries it (never twice)
            return head + _json.dumps(held) + self._tail
        return head + _json.dumps(held) + b'],"usage":' + _json.dumps(usage_object(self._usage)) + b"}\n\n"

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        if index not in self._role_sent:
            self._role_sent.add(index)
            delta = {"role": "assistant", **delta}
        return self._chunk({"index": index, "delta": delta, "logprobs": None, "finish_reason": None})

    def _text_chunk(self, index: int, text: str, reason: str | None) -> bytes:
        return self._chunk({"text": text, "index": index, "logprobs": None, "finish_reason": reason})

    def render(self, event: StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            if self._text:
                return self._text_chunk(event.choice, event.text, None)
            return self._delta(event.choice, {"content": event.text})
        if isinstance(event, ToolCallDelta):
            if self._text or not event.arguments:
                return b""
            fragment = {"index": event.index, "function": {"arguments": event.arguments}}
            return self._delta(event.choice, {"tool_calls": [fragment]})
        if isinstance(event, ToolCallStart):
            if self._text:
                return b""
            first = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            return self._delta(event.choice, {"tool_calls": [first]})
        if isinstance(event, StreamStart):
            return self._render_start(event)
        if isinstance(event, Finish):
            reason = finish_reason(event.reason)
            if self._text:
                return self._hold({"text": "", "index": event.choice, "logprobs": None, "finish_reason": reason})
            return self._hold({"index": event.choice, "delta": {}, "logprobs": None, "finish_reason": reason})
        if isinstance(event, ReasoningDelta):
            if self._text or not event.text:
                return b""
            return self._delta(event.choice, {"reasoning_content": event.text})
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
            return b""
        if isinstance(event, StreamFailure):
            return self.fail(event.error)
        return b""  # pragma: no cover - every StreamEvent is handled above

    def _render_start(self, event: StreamStart) -> bytes:
        if self._head is not None:
            return b""
        self._start(event.id, event.created)
        if self._text:
            return b""
        return b"".join(self._delta(i, {"content": ""}) for i in range(self._n))

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        last = self._release()
        if not (self._want_usage and self._usage is not None):
            return last + _DONE
        head = self._head if self._head is not None else self._start("", 0)
        usage = _json.dumps(usage_object(self._usage))
        return last + head + b'],"usage":' + usage + b"}\n\n" + _DONE

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return self._release() + b"data: " + _json.dumps({"error": error_object(error)}) + b"\n\n"
