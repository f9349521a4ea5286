"""Server-sent events: an incremental decoder for upstream streams and an encoder for clients."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None


def encode_sse(data: bytes, event: str | None = None) -> bytes:
    """One SSE frame. ``data`` must be single-line (compact JSON is)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class SSEDecoder:
    """Feed raw bytes as they arrive; get back complete events. Handles ``\\n``, ``\\r\\n`` and
    ``\\r`` line ends, multi-line ``data:``, comments and chunks split anywhere (even mid-UTF-8)."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[SSEEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            newline = buffer.find(b"\n", start)
            carriage = buffer.find(b"\r", start, newline if newline != -1 else length)
            if carriage != -1:
                end, next_start = carriage, carriage + 1
                if next_start == length:  # a lone \r at the end may be half of \r\n: wait
                    break
                if buffer[next_start : next_start + 1] == b"\n":
                    next_start += 1
            elif newline != -1:
                end, next_start = newline, newline + 1
            else:
                break
            self._line(buffer[start:end].decode("utf-8", errors="replace"), events)
            start = next_start
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a trailing event without its blank line still counts."""
        events: list[SSEEvent] = []
        if self._buffer:
            self._line(self._buffer.decode("utf-8", errors="replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event))
            self._data = []
            self._event = None
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
