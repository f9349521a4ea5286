"""Server-sent events: an incremental decoder for upstream streams and an encoder for clients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import UpstreamProtocolError

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None


def encode_sse(data: bytes, event: str | None = None) -> bytes:
    """One SSE frame. ``data`` must be single-line (compact JSON is)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def encode_raw_sse(data: str, event: str | None = None) -> bytes:
    """An upstream SSE event re-encoded as it came (multi-line data stays multi-line)."""
    if "\n" not in data:
        return encode_sse(data.encode(), event)
    head = f"event: {event}\n" if event else ""
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


class SSEDecoder:
    """Feed raw bytes as they arrive; get back complete events. Handles ``\\n``, ``\\r\\n`` and
    ``\\r`` line ends, multi-line ``data:``, comments and chunks split anywhere (even mid-UTF-8).

    Linear in the bytes fed: only new bytes are searched for line ends, and an unfinished line is
    kept as a list of pieces (joined once, when it ends). An event (its data lines and the line in
    progress) larger than ``max_event_bytes`` raises ``UpstreamProtocolError``.
    """

    __slots__ = ("_cr", "_data", "_data_size", "_event", "_max", "_partial", "_partial_size")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._partial: list[bytes] = []  # the line in progress, in pieces
        self._partial_size = 0
        self._cr = False  # the last byte fed was a \r: a \n right after it ends nothing new
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._cr or b"\r" in chunk:
            return self._feed_any(chunk)
        if not (self._partial or self._data or self._event is not None):
            if chunk[:6] == b"data: " and chunk.count(b"\n") == 2 and chunk[-2:] == b"\n\n" and len(chunk) <= self._max:
                return [SSEEvent(chunk[6:-2].decode("utf-8", errors="replace"))]  # one event: what a model sends
            if b"\n\n" in chunk:
                return self._feed_events(chunk)
        return self._feed_lines(chunk)

    def whole_events(self, chunk: bytes, opening: bytes = b"data: ") -> int:
        """How many events ``feed(chunk)`` would return, when this decoder is between events and
        ``chunk`` is nothing but complete single-line ``data: `` events (``\n`` line ends, valid
        UTF-8, within the event limit), each line starting with ``opening`` (``data: `` and what
        a caller wants each event's data to begin with, no line end: a relay of JSON objects asks
        for ``data: {``): then ``chunk`` is exactly what those events say, and a
        relay may take its bytes as they are. 0 for anything else (``feed`` it then)."""
        if not chunk.startswith(opening) or chunk[-2:] != b"\n\n":
            return 0
        if chunk.find(b"\n") == len(chunk) - 2:  # one event, its only line end its own (memchr: the cheapest check)
            return 1 if self.takes_events(chunk, 1, lines_checked=True) else 0
        # Each boundary found is a blank line and the next line's opening; ``takes_events``'s
        # newline count then says there is no other line end (every event one line, every line an event).
        count = chunk.count(b"\n\n" + opening) + 1
        return count if self.takes_events(chunk, count) else 0

    def cuts_at_blank_lines(self, chunk: bytes) -> bool:
        """Whether ``chunk`` fed piece by piece, each piece ending at a ``\n\n``, gives at most one
        event a piece (what ``feed(chunk)`` gives, in order): true when it holds no ``\r``, so
        every line end is a ``\n`` and every blank line a ``\n\n`` (an event in progress from an
        earlier read, or a ``\r`` it ended with, is completed by the first piece, as by ``feed``)."""
        return b"\r" not in chunk

    def takes_events(self, chunk: bytes, count: int, *, lines_checked: bool = False) -> bool:
        """Whether ``chunk``, which a caller walked as ``count`` events that begin ``data: `` and end
        in a blank line, is exactly what ``feed(chunk)`` would decode: this decoder between events,
        no line end but the events' own (two ``\n`` each, no ``\r``; ``lines_checked``: the
        caller's walk found no other ``\n``), within the event limit, valid UTF-8 (see ``whole_events``)."""
        if self._partial or self._data or self._event is not None or self._cr:
            return False
        if len(chunk) > self._max or b"\r" in chunk or (not lines_checked and chunk.count(b"\n") != 2 * count):
            return False
        if not chunk.isascii():
            try:
                chunk.decode()
            except UnicodeDecodeError:
                return False
        return True

    def _feed_events(self, chunk: bytes) -> list[SSEEvent]:
        """At an event boundary, ``\n`` line ends only: the common shapes (``data: X`` and
        ``event: N`` + ``data: X``, one line of data) are cut out whole, without a pass per line;
        anything else in the chunk goes through ``_feed_lines``, which keeps every rule."""
        events: list[SSEEvent] = []
        pieces = chunk.split(b"\n\n")
        rest = pieces.pop()  # after the last blank line: the start of an event still in progress
        limit = self._max
        for piece in pieces:
            if piece[:6] == b"data: " and b"\n" not in piece and len(piece) <= limit:
                events.append(SSEEvent(piece[6:].decode("utf-8", errors="replace")))
                continue
            if piece[:7] == b"event: ":
                name, newline, data = piece.partition(b"\n")
                if newline and data[:6] == b"data: " and b"\n" not in data and len(data) <= limit:
                    text, event = data[6:].decode("utf-8", errors="replace"), name[7:].decode("utf-8", errors="replace")
                    events.append(SSEEvent(text, event))
                    continue
            events.extend(self._feed_lines(piece + b"\n\n"))
        if rest:
            events.extend(self._feed_lines(rest))
        return events

    def _feed_lines(self, chunk: bytes) -> list[SSEEvent]:
        # Only \n line ends (what every provider sends): one split in C instead of a search per line.
        events: list[SSEEvent] = []
        lines = chunk.split(b"\n")
        rest = lines.pop()  # after the last \n: the start of a line still in progress
        if lines:
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
                self._partial, self._partial_size = [], 0
            for line in lines:
                self._line(line.decode("utf-8", errors="replace"), events)
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
            self._check_size()
        return events

    def _feed_any(self, chunk: bytes) -> list[SSEEvent]:
        """Any mix of \n, \r\n and \r line ends."""
        events: list[SSEEvent] = []
        start = 0
        if self._cr and chunk[:1] == b"\n":
            start = 1
        self._cr = False
        length = len(chunk)
        while start < length:
            found = _LINE_END.search(chunk, start)
            if found is None:
                break
            end = found.start()
            line = chunk[start:end]
            if self._partial:
                self._partial.append(line)
                line = b"".join(self._partial)
                self._partial, self._partial_size = [], 0
            self._line(line.decode("utf-8", errors="replace"), events)
            start = found.end()
            if found.group() == b"\r" and start == length:
                self._cr = True
        if start < length:
            rest = chunk[start:]
            self._partial.append(rest)
            self._partial_size += len(rest)
            self._check_size()
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a trailing event without its blank line still counts."""
        events: list[SSEEvent] = []
        if self._partial:
            line = b"".join(self._partial)
            self._partial, self._partial_size = [], 0
            self._line(line.decode("utf-8", errors="replace"), events)
        self._line("", events)
        return events

    def _check_size(self) -> None:
        if self._partial_size + self._data_size > self._max:
            raise UpstreamProtocolError(
                f"upstream sent a stream event larger than {self._max} bytes (the limit for one event)"
            )

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event))
            self._data = []
            self._data_size = 0
            self._event = None
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value)
            self._check_size()
        elif name == "event":
            self._event = value
