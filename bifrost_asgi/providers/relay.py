"""Same-vendor stream relay: a stream parser wrapper that also hands on each upstream frame.

When the client speaks the upstream's own format, its renderer writes these frames as they came
(only ``model`` rewritten) instead of re-rendering the neutral events, which cannot carry
everything a vendor streams (Anthropic citations and server tools, Gemini grounding metadata).
The neutral events still follow each frame: usage, metrics and the router's first-content wait
work the same. A frame that yields a failure is not relayed: the failure renders the error.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..neutral import ChatRequest, Format, StreamEvent, StreamFailure, UpstreamFrame
from ..streaming import SSEEvent
from .base import StreamParser


class RelayingParser:
    __slots__ = ("_format", "_inner")

    def __init__(self, inner: StreamParser, format: Format) -> None:
        self._inner = inner
        self._format = format

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]:
        events = list(self._inner.feed(event))
        if any(isinstance(e, StreamFailure) for e in events):
            return events
        return [UpstreamFrame(self._format, event.event, event.data), *events]

    def close(self) -> Iterable[StreamEvent]:
        return self._inner.close()


def relaying(inner: StreamParser, upstream: Format, client: Format | None) -> StreamParser:
    """``inner`` itself unless the client speaks the upstream's format."""
    return RelayingParser(inner, upstream) if upstream == client else inner


def relay_format(request: ChatRequest) -> Format | None:
    """The format whose upstream frames the client may get as they came (None: none)."""
    return request.source_format if request.relay_frames else None
