"""OpenAI's Responses API as an upstream format (OpenAI and Azure serve it natively).

A Responses client's body goes upstream with only ``model`` rewritten; the answer and every
stream frame come back verbatim (``ChatResponse.raw`` / ``UpstreamFrame``). What the gateway itself
needs from them (ids, usage, the first content, failures) is read here into neutral values:

* ``parse_responses_body``: the ``Response`` object -> ``ChatResponse`` (raw kept, text and
  function calls parsed for accounting and logs);
* ``ResponsesStreamParser``: ``event: response.*`` frames -> one ``UpstreamFrame`` each, followed by the
  neutral events the frame stands for (``StreamStart`` on ``response.created``, text / reasoning /
  function-call deltas, ``Finish`` + ``UsageUpdate`` on the terminal event, ``StreamFailure`` on
  ``response.failed`` or an ``error`` event).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from .. import _json
from ..errors import UpstreamError, UpstreamProtocolError
from ..neutral import (
    ChatResponse,
    Choice,
    Finish,
    FinishReason,
    Message,
    Part,
    ReasoningDelta,
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
from ..streaming import SSEEvent
from .base import json_object

RESPONSES_FORMAT: Final = "openai_responses"
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_body(raw: Mapping[str, Any], model: str) -> bytes:
    """The client's Responses body with ``model`` replaced; nothing else changes."""
    body = dict(raw)
    body["model"] = model
    return _json.dumps(body)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def responses_usage(value: Any) -> Usage | None:
    """A Responses ``usage`` object (``input_tokens``, ``*_details``) as neutral usage."""
    if not isinstance(value, dict):
        return None
    input_details = value.get("input_tokens_details")
    output_details = value.get("output_tokens_details")
    return Usage(
        input_tokens=_int(value.get("input_tokens")),
        output_tokens=_int(value.get("output_tokens")),
        cached_input_tokens=_int(input_details.get("cached_tokens")) if isinstance(input_details, dict) else 0,
        cache_creation_tokens=_int(input_details.get("cache_write_tokens")) if isinstance(input_details, dict) else 0,
        reasoning_tokens=_int(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0,
    )


def _finish(response: Mapping[str, Any], called: bool) -> FinishReason:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if called else "stop"


def _output_parts(output: Any) -> tuple[Part, ...]:
    parts: list[Part] = []
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            content = item.get("content")
            for part in content if isinstance(content, list) else ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(TextPart(part["text"]))
        elif item.get("type") == "function_call":
            arguments = item.get("arguments")
            parts.append(
                ToolCall(
                    str(item.get("call_id") or item.get("id") or ""),
                    str(item.get("name") or ""),
                    arguments if isinstance(arguments, str) else "{}",
                )
            )
    return tuple(parts)


def parse_responses_body(body: bytes, model: str, provider: str) -> ChatResponse:
    data = json_object(body, provider, "responses")
    parts = _output_parts(data.get("output"))
    message = Message("assistant", parts)
    created = data.get("created_at")
    return ChatResponse(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or model),
        choices=(Choice(0, message, _finish(data, bool(message.tool_calls))),),
        usage=responses_usage(data.get("usage")),
        created=int(created) if isinstance(created, int | float) and not isinstance(created, bool) else 0,
        raw=body,
        raw_format=RESPONSES_FORMAT,
    )


def _failure(data: Mapping[str, Any], raw: str, provider: str) -> UpstreamError:
    """``response.failed`` (``response.error``) or an ``error`` event as an upstream error."""
    response = data.get("response")
    error = response.get("error") if isinstance(response, dict) else data
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = error.get("message")
    status = 429 if code == "rate_limit_exceeded" else 400 if code in ("invalid_prompt",) else 500
    return UpstreamError(
        message if isinstance(message, str) and message else f"{provider} reported a failed response",
        status=status,
        raw_body=raw.encode(),
        raw_format=RESPONSES_FORMAT,
        code=code if isinstance(code, str) else None,
        provider=provider,
    )


class ResponsesStreamParser:
    """Responses SSE -> ``UpstreamFrame`` + neutral events (see the module docstring)."""

    __slots__ = ("_calls", "_done", "_model", "_provider", "_started")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._started = False
        self._done = False
        self._calls: dict[int, int] = {}  # output_index -> neutral tool-call index

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._done:
            return ()
        try:
            data = _json.loads(event.data)
        except ValueError:
            self._done = True
            message = f"{self._provider} sent a stream event that is not valid JSON"
            return (StreamFailure(UpstreamProtocolError(message, provider=self._provider)),)
        if not isinstance(data, dict):
            return ()
        kind = data.get("type") if isinstance(data.get("type"), str) else event.event
        out: list[StreamEvent] = [UpstreamFrame(RESPONSES_FORMAT, event.event, event.data)]
        if kind == "error" or kind == "response.failed":
            self._done = True
            out.append(StreamFailure(_failure(data, event.data, self._provider)))
            return out
        if not self._started and isinstance(data.get("response"), dict):
            self._started = True
            response = data["response"]
            out.append(StreamStart(str(response.get("id") or ""), str(response.get("model") or self._model)))
        self._content(kind, data, out)
        if kind in _TERMINAL:
            self._done = True
            response = data.get("response")
            response = response if isinstance(response, dict) else {}
            out.append(Finish(_finish(response, bool(self._calls))))
            usage = responses_usage(response.get("usage"))
            if usage is not None:
                out.append(UsageUpdate(usage))
        return out

    def _content(self, kind: Any, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        delta = data.get("delta")
        if kind == "response.output_text.delta" and isinstance(delta, str) and delta:
            out.append(TextDelta(delta))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            if isinstance(delta, str) and delta:
                out.append(ReasoningDelta(delta))
        elif kind == "response.output_item.added":
            item = data.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                index = self._calls[_int(data.get("output_index"))] = len(self._calls)
                out.append(ToolCallStart(index, str(item.get("call_id") or ""), str(item.get("name") or "")))
        elif kind == "response.function_call_arguments.delta" and isinstance(delta, str) and delta:
            call = self._calls.get(_int(data.get("output_index")))
            if call is not None:
                out.append(ToolCallDelta(call, delta))

    def close(self) -> Iterable[StreamEvent]:
        if self._done:
            return ()
        self._done = True
        error = UpstreamProtocolError(f"upstream {self._provider} ended the stream early", provider=self._provider)
        return (StreamFailure(error),)
