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

From an OpenAI-format upstream (``UpstreamFrame`` events: ``providers/openai_relay.py``), the
upstream's chunks are written as they came, with only ``model`` rewritten to the name the client
asked for (a string replacement of the upstream's ``"model":"..."``; the JSON is rebuilt only when
that text is not found): every field the upstream sends (``system_fingerprint``, ``service_tier``,
logprobs, refusals, vendor extras) survives. The usage rule above still holds: the upstream always
sends usage (the gateway asks for it), so for a client that did not ask, its usage-only chunk is
not written and its usage goes on the last finish chunk (held until the next frame or the end);
for a client that asked, the usage chunk alone carries it. A finish the upstream never sent
(``[DONE]`` without ``finish_reason``) and a usage chunk it did not send are rendered as above.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    ContentFrame,
    ContentRun,
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
from ..streaming import encode_raw_sse
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
        "_relay",
        "_role_sent",
        "_tail",
        "_text",
        "_usage",
        "_want_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._setup(request.model, request.text_completion, request.include_usage, request.n)

    @classmethod
    def of(cls, model: str, *, include_usage: bool, n: int | None) -> OpenAIStreamRenderer:
        """The renderer of a chat stream (not a legacy completion) asking for ``model``, as
        ``OpenAIStreamRenderer(request)`` is for a request with these fields (a ``Passthrough``'s)."""
        renderer = cls.__new__(cls)
        renderer._setup(model, False, include_usage, n)
        return renderer

    def _setup(self, model: str, text: bool, include_usage: bool, n: int | None) -> None:
        self._model = model
        self._text = text
        self._want_usage = include_usage
        self._n = n or 1
        self._head: bytes | None = None  # b'data: {"id":...,"choices":['
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._role_sent: set[int] = set()
        self._usage: Usage | None = None
        self._held: dict[str, Any] | None = None  # the latest finish choice, not yet written
        self._closed = False
        self._relay: _Relay | None = None  # set by the first upstream frame

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
        relay = self._relay
        if relay is not None:
            if type(event) is ContentRun:  # nearly every relayed read: the shortest way
                return relay.run(event)
            if type(event) is ContentFrame:
                return relay.plain(event)
            return self._relayed(event)
        if isinstance(event, UpstreamFrame):
            return self._relayed(event)
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
        if self._relay is not None:
            last += self._relay.release(self._want_usage, self._usage)
            if self._relay.usage_sent:
                return last + _DONE
        if not (self._want_usage and self._usage is not None):
            return last + _DONE
        head = self._head if self._head is not None else self._start("", 0)
        usage = _json.dumps(self._relay.usage(self._usage) if self._relay is not None else usage_object(self._usage))
        return last + head + b'],"usage":' + usage + b"}\n\n" + _DONE

    def fail(self, error: GatewayError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        last = self._release()
        if self._relay is not None:
            last += self._relay.release(self._want_usage, self._usage)
        return last + b"data: " + _json.dumps({"error": error_object(error)}) + b"\n\n"

    # ------------------------------------------------------------------ relay

    def _relayed(self, event: StreamEvent) -> bytes:
        """Relay mode: upstream frames written (see the module docstring); of the neutral
        events only a finish the upstream did not send, usage, the start and a failure count."""
        relay = self._relay
        if relay is None:
            relay = self._relay = _Relay(self._model)
        if type(event) is ContentFrame:
            return relay.plain(event)
        if type(event) is ContentRun:
            return relay.run(event)
        if isinstance(event, UpstreamFrame):
            return relay.frame(event, self._want_usage) if event.format == "openai" else b""
        if isinstance(event, Finish):
            if event.choice in relay.finished:
                return b""
            return relay.release(False, None) + self.render_finish(event)
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, StreamStart):
            if self._head is None:
                self._start(event.id, event.created)
        elif isinstance(event, StreamFailure):
            return self.fail(event.error)
        return b""

    def render_finish(self, event: Finish) -> bytes:
        """The finish chunk for ``event``, held as any rendered finish chunk is."""
        reason = finish_reason(event.reason)
        if self._text:
            return self._hold({"text": "", "index": event.choice, "logprobs": None, "finish_reason": reason})
        return self._hold({"index": event.choice, "delta": {}, "logprobs": None, "finish_reason": reason})


class _Relay:
    """The relay's state: the model rewrite, the held finish chunk, the upstream's usage object."""

    __slots__ = (
        "_alike", "_from", "_from_bytes", "_held", "_model", "_raw_usage", "_to", "_to_bytes", "finished", "usage_sent"
    )  # fmt: skip

    def __init__(self, model: str) -> None:
        self._model = model
        self._to = _model_text(model)
        self._to_bytes = self._to.encode()
        self._from: str | None = None  # the upstream's '"model":"..."', learnt from its first chunk
        self._from_bytes: bytes | None = None
        self._held: dict[str, Any] | None = None  # the latest finish chunk, not yet written
        self._raw_usage: dict[str, Any] | None = None
        self.finished: set[int] = set()  # choices whose finish chunk came from the upstream
        self.usage_sent = False
        self._alike: tuple[bytes, ...] = ()  # the last run template found to hold the model once, in its head

    def plain(self, frame: UpstreamFrame) -> bytes:
        data, source = frame.data, self._from
        if source is not None and source in data and self._held is None and frame.event is None and "\n" not in data:
            return b"data: " + data.replace(source, self._to, 1).encode() + b"\n\n"  # the common case, inline
        return self._flush() + encode_raw_sse(self._renamed(data), frame.event)

    def run(self, run: ContentRun) -> bytes:
        """``plain`` for each frame of ``run`` (one read's bytes), as one replacement over the read
        when that is the same: the upstream's ``"model":"..."`` in every frame, exactly once where
        there are several (``plain`` replaces the first in each; the text cannot span frames)."""
        data, source = run.data, self._from_bytes
        if source is not None and self._held is None:
            literals = run.literals
            if literals and (literals is self._alike or self._once_in_head(literals, source)):
                return data.replace(source, self._to_bytes)  # once in each event, in its head
            if run.count == 1:
                if source in data:
                    return data.replace(source, self._to_bytes, 1)
            elif data.count(source) == run.count and (
                _alike_heads(data, source, run.count)
                or all(map(bytes.__contains__, data.split(b"\n\n")[:-1], repeat(source)))
            ):
                return data.replace(source, self._to_bytes)
        texts = data.decode().split("\n\n")[:-1]
        return b"".join([self.plain(ContentFrame(run.format, None, text[6:])) for text in texts])

    def _once_in_head(self, literals: tuple[bytes, ...], source: bytes) -> bool:
        """Whether ``source`` is once in a run template's first piece and in no other: then it is
        once in each of the run's events (a slot's text, without a quote, holds no part of the
        quoted ``"model":"..."``), and in the same place. Remembered for the stream's template."""
        if literals is self._alike:
            return True
        if literals[0].count(source) != 1 or any(source in piece for piece in literals[1:]):
            return False
        self._alike = literals
        return True

    def frame(self, frame: UpstreamFrame, want_usage: bool) -> bytes:
        payload = frame.payload
        if not isinstance(payload, dict):
            return self.plain(frame)
        model = payload.get("model")
        if self._from is None and isinstance(model, str):
            self._learn(model)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._raw_usage = usage
        choices = payload.get("choices")
        if not choices and isinstance(usage, dict):  # the usage chunk
            if not want_usage:
                return b""  # its usage goes on the last finish chunk instead
            self.usage_sent = True
            return self.plain(frame)
        if not isinstance(choices, list) or not _finishes(choices):
            return self.plain(frame)
        for choice in choices:
            index = choice.get("index", 0) if isinstance(choice, dict) else None
            if isinstance(index, int) and choice.get("finish_reason") is not None:
                self.finished.add(index)
        out = self._flush()
        if not want_usage:
            self._held = payload
            return out
        if isinstance(usage, dict):  # usage on the finish chunk (some servers): the usage chunk alone carries it
            return out + self._encoded({**payload, "usage": None}, frame.event)
        return out + encode_raw_sse(self._renamed(frame.data), frame.event)

    def release(self, want_usage: bool, usage: Usage | None) -> bytes:
        """The held finish chunk, now known to be the last, with the stream's usage unless the
        client asked for the usage chunk."""
        held, self._held = self._held, None
        if held is None:
            return b""
        if not want_usage and (self._raw_usage is not None or usage is not None):
            held = {**held, "usage": self.usage(usage)}
        return self._encoded(held, None)

    def usage(self, usage: Usage | None) -> dict[str, Any]:
        """The upstream's own usage object when it sent one (details kept), else the neutral one."""
        return self._raw_usage if self._raw_usage is not None else usage_object(usage or Usage())

    def _flush(self) -> bytes:
        """A held finish chunk that turned out not to be the last: written as it came."""
        held, self._held = self._held, None
        return self._encoded(held, None) if held is not None else b""

    def _encoded(self, payload: dict[str, Any], event: str | None) -> bytes:
        if "model" in payload:
            payload = {**payload, "model": self._model}
        return encode_raw_sse(_json.dumps_str(payload), event)

    def _renamed(self, data: str) -> str:
        """``data`` with the upstream's model replaced by the client's (JSON rebuilt only when the
        upstream's ``"model":"..."`` text is not in it)."""
        source = self._from
        if source is not None and source in data:
            return data if source == self._to else data.replace(source, self._to, 1)
        try:
            payload = _json.loads(data)
        except ValueError:
            return data
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
            return data
        if source is None:
            self._learn(payload["model"])
        return _json.dumps_str({**payload, "model": self._model})

    def _learn(self, model: str) -> None:
        self._from = _model_text(model)
        self._from_bytes = self._from.encode()


def _alike_heads(data: bytes, source: bytes, count: int) -> bool:
    """Whether each of the ``count`` single-line frames of ``data`` begins as the first does, up to
    the end of the first ``source`` in it (one search of the read for that head after each blank
    line, where a search per frame costs several times more): then ``source`` is in every frame,
    and first found at the same place in each. An upstream's chunks share their ``id``,
    ``object``, ``created`` and ``model``, which come first."""
    end = data.find(source) + len(source)
    if end < len(source) or end > data.find(b"\n"):  # not in the first frame
        return False
    return data.count(b"\n\n" + data[:end]) == count - 1


def _model_text(model: str) -> str:
    return '"model":' + _json.dumps_str(model)


def _finishes(choices: list[Any]) -> bool:
    return any(isinstance(c, dict) and c.get("finish_reason") is not None for c in choices)
