"""Neutral stream events: what provider stream parsers yield and dialect stream renderers consume.

A well-formed stream is::

    StreamStart, (TextDelta | ReasoningDelta | ToolCallStart ToolCallDelta*)*, Finish, UsageUpdate?

``UpstreamFrame`` may come anywhere before the events parsed from the same upstream frame: it
is that frame itself, emitted only when the client speaks the upstream's own format, so a
same-vendor stream can be relayed as it came (citations, server tools, block boundaries kept).
Renderers of another format never see one; the neutral events still come alongside it (usage,
metrics, the router's wait for first content).

``ToolCallStart.index`` numbers the tool calls of one message 0, 1, 2... in order of first
appearance; ``ToolCallDelta`` carries argument-JSON fragments for that index. ``StreamFailure``
may end a stream at any point (an in-band upstream error or a broken connection).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GatewayError
from .chat import FinishReason, Format, Usage


@dataclass(frozen=True, slots=True)
class StreamStart:
    id: str
    model: str
    created: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    signature: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Usage so far; the last one in a stream is final."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class StreamFailure:
    error: GatewayError


@dataclass(frozen=True, slots=True)
class UpstreamFrame:
    """One upstream SSE event as it came (``event`` name, ``data`` text), in ``format``."""

    format: Format
    event: str | None
    data: str


StreamEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | Finish
    | UsageUpdate
    | StreamFailure
    | UpstreamFrame
)

CONTENT_EVENTS = (TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta)
