"""Same-vendor OpenAI stream relay: an OpenAI client of an OpenAI-format upstream (OpenAI, Azure,
every compatible server) gets the upstream's chunks as they came, only ``model`` rewritten by the
client's renderer (``dialects/openai_stream.py``).

Until the first content, and for every chunk that can carry a finish, usage or an error, the chunk
is parsed as before (``OpenAIStreamParser``): the router's wait for first content, fallbacks, usage
for metrics, log and governance, the early-end check and in-band errors work as for any stream;
the frame is handed on with its parsed JSON (``UpstreamFrame.payload``) so the renderer need not
parse it again. Tool-call fragments are parsed too (the parser keeps the calls, so a finish the
upstream leaves out is still ``tool_calls``). Every other chunk after the first content (text and
reasoning deltas: nearly all of a stream) is handed on unparsed as a ``ContentFrame``, after a few
substring checks that are conservative: a chunk they cannot clear (pretty-printed JSON, say) is parsed.
``[DONE]`` is not relayed: the renderer writes its own at the end.

A whole upstream read of such chunks (``feed_read``: the decoder between events, the read nothing
but complete ``data: {...}`` events that the same checks clear, run over the read at once) is
handed on as one ``ContentRun`` holding the read's bytes: no event decoded, no object per chunk.
Once a plain content chunk has been seen, a read is first walked against it (``EventTemplate``:
the chunks of a stream differ only in their text), which clears its events without the checks'
passes over it; a read the template does not cover is checked as before, and a plain chunk fed
one by one teaches a new template (a few times a stream at most: a stream whose chunks vary
otherwise keeps the checks).
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import _json
from ..neutral import CONTENT_EVENTS, ContentFrame, ContentRun, StreamEvent, StreamFailure, UpstreamFrame
from ..streaming import SSEDecoder, SSEEvent
from .base import StreamDecoder
from .openai_stream import OpenAIStreamParser
from .openai_template import EventTemplate

_FINISH = '"finish_reason"'
_NO_FINISH = '"finish_reason":null'
_USAGE = '"usage"'
_NO_USAGE = '"usage":null'
#: What every event of a whole read taken as a run begins with (``SSEDecoder.whole_events``).
OBJECT_EVENTS = b"data: {"
#: Templates a stream may learn (each costs a parse of the chunk it is learnt from).
LEARN_TRIES = 4


def plain_delta(data: str) -> bool:
    """True only when ``data`` (one chunk's JSON text) cannot hold a finish reason, usage, a tool
    call or an error: every ``finish_reason`` is ``null``, ``usage`` absent or ``null``, no
    ``error``, ``tool_calls``, ``function_call`` or ``x_groq`` key. False means "parse it", never
    "it holds one"."""
    return (
        data[:1] == "{"
        and '"error"' not in data
        and "_call" not in data  # tool_calls, function_call
        and '"x_groq"' not in data
        and (_USAGE not in data or _NO_USAGE in data)
        and data.count(_FINISH) == data.count(_NO_FINISH)
    )


def plain_run(data: bytes, count: int) -> bool:
    """``plain_delta`` for each of the ``count`` events of a read (``data``: complete single-line
    ``data: {`` events, valid UTF-8, as ``whole_events(data, OBJECT_EVENTS)`` vouches). One event:
    ``plain_delta`` itself, on its text (str searches cost less than bytes ones: no buffer or
    argument parsing per call). Several, at once: each needle lies within one event, and since
    ``"usage":null`` contains ``"usage"`` (and likewise for the finish), equal counts over the read
    mean equal counts in every event. Never looser than ``plain_delta``: False means "feed it
    event by event"."""
    if count == 1:
        return plain_delta(data[6:-2].decode())
    return (
        data[6:7] == b"{"
        and b'"error"' not in data
        and b"_call" not in data
        and b'"x_groq"' not in data
        and ((usage := data.count(b'"usage"')) == 0 or usage == data.count(b'"usage":null'))
        and data.count(b'"finish_reason"') == data.count(b'"finish_reason":null')
    )


class OpenAIRelayParser:
    __slots__ = ("_content", "_inner", "_template", "_tries", "_walked")

    def __init__(self, inner: OpenAIStreamParser) -> None:
        self._inner = inner
        self._content = False  # the first content arrived: plain deltas go on unparsed
        self._template: EventTemplate | None = None  # a plain content chunk's pieces
        self._tries = LEARN_TRIES
        # feed_read's walk of a read that the template covers only in part, for feed_head
        self._walked: tuple[bytes, int, int, tuple[bytes, ...]] | None = None

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        inner = self._inner
        if inner.done:
            return ()
        data = event.data
        if self._content and plain_delta(data):
            if self._tries and event.event is None:  # a plain chunk no template covered
                self._learn(data)
            return (ContentFrame("openai", event.event, data),)
        if data == "[DONE]":
            return inner.feed(event)
        try:
            chunk = _json.loads(data)
        except ValueError:
            return inner.feed(event)  # reports the unreadable chunk
        events = list(inner.feed_chunk(chunk, data))
        for parsed in events:
            if isinstance(parsed, StreamFailure):
                return events  # the failure renders the error; the frame is not relayed
            if isinstance(parsed, CONTENT_EVENTS):
                self._content = True
        if self._content and self._tries and event.event is None and plain_delta(data):
            self._learn(data)
        return [UpstreamFrame("openai", event.event, data, chunk), *events]

    def _learn(self, data: str) -> None:
        self._tries -= 1
        template = EventTemplate.learn(data)
        if template is not None:
            self._template = template

    def feed_read(self, chunk: bytes, decoder: StreamDecoder) -> list[StreamEvent] | None:
        """``chunk`` (one upstream read) as one ``ContentRun`` when, after the first content, it is
        nothing but plain deltas; None: decode it and ``feed`` its events one by one."""
        if not self._content or self._inner.done or not isinstance(decoder, SSEDecoder):
            return None
        template = self._template
        if template is not None:  # its walk: the events it covers, taken if the decoder would read them so
            count, end = template.events(chunk)
            if count:
                whole = end == len(chunk)
                if not decoder.takes_events(chunk if whole else chunk[:end], count, lines_checked=True):
                    count = 0
                elif whole:
                    return [ContentRun("openai", chunk, count, template.literals)]
            self._walked = (chunk, count, end, template.literals)
        if chunk.find(b"\n") == len(chunk) - 2:  # one event: what a model sends (plain_run's one-event case, inline)
            if not decoder.whole_events(chunk, OBJECT_EVENTS):
                return None
            text = chunk[6:-2].decode()
            if not plain_delta(text):
                return None
            if self._tries:  # plain, and no template covered it
                self._learn(text)
            return [ContentRun("openai", chunk, 1)]
        if not _plain_event(chunk, _last_event_start(chunk, len(chunk) - 2)):
            return None  # several events, the last one not plain (a stream's end): no scan of the whole read
        count = decoder.whole_events(chunk, OBJECT_EVENTS)
        if not count or not plain_run(chunk, count):
            return None
        return [ContentRun("openai", chunk, count)]

    def feed_head(self, chunk: bytes, decoder: StreamDecoder) -> tuple[ContentRun, bytes] | None:
        """For a read ``feed_read`` could not take whole: its leading plain deltas as one
        ``ContentRun`` and the bytes after them, which the caller decodes and feeds (the decoder is
        between events there, as after the run's events). None: decode the whole read. The cut is
        put before the first event holding something a plain delta cannot (a finish reason, a
        usage object, ``[DONE]``, an error, a tool call); what comes before it is then checked
        exactly as ``feed_read`` checks a whole read, so a cut in the wrong place only means None."""
        if not self._content or self._inner.done or not isinstance(decoder, SSEDecoder):
            return None
        walked, self._walked = self._walked, None
        if walked is not None and walked[0] is chunk:  # feed_read walked it: its covered events, if any
            _, count, end, literals = walked
            if count:
                return ContentRun("openai", chunk[:end], count, literals), chunk[end:]
        if chunk.find(b"\n\n") >= len(chunk) - 2:
            return None  # one event at most: nothing to cut
        cut = _first_unplain_event(chunk)
        if cut <= 0:
            return None
        head = chunk[:cut]
        count = decoder.whole_events(head, OBJECT_EVENTS)
        if not count or not plain_run(head, count):
            return None
        return ContentRun("openai", head, count), chunk[cut:]

    def close(self) -> Iterable[StreamEvent]:
        return self._inner.close()


_UNPLAIN = (b'"finish_reason":"', b'"usage":{', b"[DONE]", b'"error"', b"_call", b'"x_groq"')
_TAIL_EVENTS = 8  # how far back from the end of a read the cut is looked for before the search from the start


def _last_event_start(chunk: bytes, end: int) -> int:
    """Where the event that ends at ``end`` (its closing blank line) starts: after the blank line
    before it, or 0."""
    found = chunk.rfind(b"\n\n", 0, end)
    return found + 2 if found >= 0 else 0


def _plain_event(chunk: bytes, start: int) -> bool:
    """Whether the ``data:`` event at ``start`` of ``chunk`` (ending at the next blank line) is a plain
    delta (``plain_delta``): a guess for where to cut, checked afterwards."""
    end = chunk.find(b"\n\n", start)
    if chunk[start : start + 6] != b"data: " or end < 0:
        return False
    return plain_delta(chunk[start + 6 : end].decode("utf-8", errors="replace"))


def _first_unplain_event(chunk: bytes) -> int:
    """Where to cut a read between its leading plain deltas and the rest (after a blank line), 0
    for no cut. A read's unplain events are nearly always its last few (finish, usage, ``[DONE]``):
    when its last event is not plain, the events are walked back from its end, up to
    ``_TAIL_EVENTS``, and the cut goes after the last plain one (a few searches near the end
    instead of a search of the whole read per needle); else, or when the walk finds none, before
    the first event holding one of ``_UNPLAIN``. The caller checks the head before the cut whole,
    so a wrong guess (an unplain event further in, before plain ones) only means no run."""
    end = len(chunk) - 2
    start = _last_event_start(chunk, end)
    if _plain_event(chunk, start):
        return _first_needle_event(chunk)  # the read ends plain: what is unplain is further in
    for _ in range(_TAIL_EVENTS):
        if start == 0:
            return 0  # back at the first event: nothing plain before the unplain tail
        end = start - 2
        start = _last_event_start(chunk, end)
        if _plain_event(chunk, start):
            return end + 2
    return _first_needle_event(chunk)


def _first_needle_event(chunk: bytes) -> int:
    """Where the event holding the first of ``_UNPLAIN`` starts (after the blank line before it):
    0 when none is found or it is in the first event."""
    end = -1
    for needle in _UNPLAIN:
        found = chunk.find(needle)
        if found >= 0 and (end < 0 or found < end):
            end = found
    if end < 0:
        return 0
    start = chunk.rfind(b"\n\n", 0, end)
    return start + 2 if start >= 0 else 0
