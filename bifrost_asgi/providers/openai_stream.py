"""OpenAI-format SSE (chat ``chat.completion.chunk`` or legacy ``text_completion`` chunks) -> neutral
stream events.

Handles what OpenAI-compatible servers vary on: tool-call fragments without ``index`` (their
position is used), ids repeated on every fragment (only the first counts), a name that arrives
after the id, whole calls in one fragment, usage in the finish chunk or in ``x_groq.usage``,
tool calls that finish with ``"stop"``, and a missing ``finish_reason`` before ``[DONE]``.
Usage seen before the finish is held until after it, so the order is always
StreamStart, content, Finish, UsageUpdate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
from .openai_parse import finish_reason, parse_usage, stream_error


@dataclass(slots=True)
class _Call:
    """One upstream tool call being assembled; started once its name is known."""

    id: str = ""
    name: str = ""
    pending: str = ""
    index: int = -1  # the neutral index, once started


class OpenAIStreamParser:
    __slots__ = ("_calls", "_done", "_finished", "_model", "_next_index", "_provider", "_started", "_usage")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._started = False
        self._done = False
        self._finished: set[int] = set()
        self._calls: dict[tuple[int, int], _Call] = {}
        self._next_index: dict[int, int] = {}
        self._usage: Usage | None = None  # seen before the finish, not yet emitted

    # ------------------------------------------------------------------ protocol

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        if self._done:
            return ()
        data = event.data
        if data == "[DONE]":
            return self._end()
        try:
            chunk = _json.loads(data)
        except ValueError:
            self._done = True
            message = f"{self._provider} sent a stream chunk that is not valid JSON"
            return (StreamFailure(UpstreamProtocolError(message, provider=self._provider)),)
        return self.feed_chunk(chunk, data)

    @property
    def done(self) -> bool:
        """``[DONE]``, a failure or ``close()`` was seen: nothing more comes out."""
        return self._done

    def feed_chunk(self, chunk: Any, data: str) -> Iterable[StreamEvent]:
        """``feed`` for a chunk already parsed from ``data`` (a relay parses it to look at it)."""
        if self._done:
            return ()
        if not isinstance(chunk, dict):
            return ()
        if chunk.get("error"):
            return self._failure(chunk["error"], data)
        if self._started:
            text = _text_only(chunk)
            if text is not None:  # nearly every chunk of a stream: what the general path gives it
                return (TextDelta(text[0], text[1]),) if text[0] else ()
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(self._start(chunk))
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                if isinstance(choice, dict):
                    self._choice(choice, position, out)
        usage = chunk.get("usage")
        if usage is None and isinstance(chunk.get("x_groq"), dict):
            usage = chunk["x_groq"].get("usage")
        parsed = parse_usage(usage)
        if parsed is not None:
            if self._finished:
                out.append(UsageUpdate(parsed))
            else:
                self._usage = parsed
        return out

    def close(self) -> Iterable[StreamEvent]:
        if self._done:
            return ()
        self._done = True
        if not self._finished:
            error = UpstreamProtocolError(f"upstream {self._provider} ended the stream early", provider=self._provider)
            return (StreamFailure(error),)
        return self._flush_usage()

    # ------------------------------------------------------------------ pieces

    def _start(self, chunk: dict[str, Any]) -> StreamStart:
        identifier = chunk.get("id")
        model = chunk.get("model")
        created = chunk.get("created")
        return StreamStart(
            id=identifier if isinstance(identifier, str) else "",
            model=model if isinstance(model, str) and model else self._model,
            created=created if isinstance(created, int) and not isinstance(created, bool) else 0,
        )

    def _failure(self, error: Any, data: str) -> Iterable[StreamEvent]:
        self._done = True
        if not isinstance(error, dict):
            error = {"message": str(error)}
            data = _json.dumps_str({"error": error})
        return (StreamFailure(stream_error(error, data.encode(), self._provider)),)

    def _flush_usage(self) -> list[StreamEvent]:
        if self._usage is None:
            return []
        usage, self._usage = self._usage, None
        return [UsageUpdate(usage)]

    def _end(self) -> list[StreamEvent]:
        """``[DONE]``: the stream ended normally; finish what the upstream left open."""
        self._done = True
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(StreamStart(id="", model=self._model))
        if not self._finished:
            self._finish_choice(0, None, out)
        out.extend(self._flush_usage())
        return out

    def _choice(self, choice: dict[str, Any], position: int, out: list[StreamEvent]) -> None:
        index = choice.get("index")
        index = index if isinstance(index, int) else position
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self._delta(delta, index, out)
        else:  # legacy text completion chunk
            text = choice.get("text")
            if isinstance(text, str) and text:
                out.append(TextDelta(text, index))
        reason = choice.get("finish_reason")
        if reason is not None and index not in self._finished:
            self._finish_choice(index, reason, out)

    def _delta(self, delta: dict[str, Any], choice: int, out: list[StreamEvent]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ReasoningDelta(reasoning, choice=choice))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(TextDelta(content, choice))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out.append(TextDelta(refusal, choice))
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    self._tool_fragment(call, position, choice, out)
        function_call = delta.get("function_call")  # deprecated single call
        if isinstance(function_call, dict):
            name = function_call.get("name")
            fragment = {"id": name, "function": function_call}
            self._tool_fragment(fragment, 0, choice, out)

    def _tool_fragment(self, fragment: dict[str, Any], position: int, choice: int, out: list[StreamEvent]) -> None:
        upstream_index = fragment.get("index")
        key = (choice, upstream_index if isinstance(upstream_index, int) else position)
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Call()
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = _json.dumps_str(arguments)
        if call.index >= 0:
            if arguments:
                out.append(ToolCallDelta(call.index, arguments, choice))
            return
        call_id, name = fragment.get("id"), function.get("name")
        if isinstance(call_id, str) and call_id and not call.id:
            call.id = call_id
        if isinstance(name, str) and name:
            call.name = name
        if arguments:
            call.pending += arguments
        if call.name:
            self._start_call(call, choice, out)

    def _start_call(self, call: _Call, choice: int, out: list[StreamEvent]) -> None:
        call.index = self._next_index.get(choice, 0)
        self._next_index[choice] = call.index + 1
        out.append(ToolCallStart(call.index, call.id or f"call_{call.index}", call.name, choice=choice))
        if call.pending:
            out.append(ToolCallDelta(call.index, call.pending, choice))
            call.pending = ""

    def _finish_choice(self, choice: int, reason: Any, out: list[StreamEvent]) -> None:
        for (call_choice, _), call in self._calls.items():
            if call_choice == choice and call.index < 0:  # never named: start it anyway
                self._start_call(call, choice, out)
        mapped = finish_reason(reason) or "stop"
        if mapped == "stop" and self._next_index.get(choice):
            mapped = "tool_calls"
        out.append(Finish(mapped, choice=choice))
        self._finished.add(choice)
        out.extend(self._flush_usage())


def _text_only(chunk: dict[str, Any]) -> tuple[str, int] | None:
    """(text, choice index) of a chunk that holds one choice whose delta is ``content`` alone,
    with no finish, usage or ``x_groq``: then ``feed_chunk`` gives one ``TextDelta`` (none for
    ""). None for anything else (the general path takes it)."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") is not None:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or len(delta) != 1:
        return None
    content = delta.get("content")
    if type(content) is not str or chunk.get("usage") is not None or "x_groq" in chunk:
        return None
    index = choice.get("index")
    return content, index if isinstance(index, int) else 0
