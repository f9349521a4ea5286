"""Neutral stream events: what provider stream parsers yield and dialect stream renderers consume.

A well-formed stream is::

    StreamStart, (TextDelta | ReasoningDelta | ToolCallStart ToolCallDelta*)*, Finish, UsageUpdate?

``UpstreamFrame`` may come anywhere before the events parsed from the same upstream frame: it
is that frame itself, emitted only when the client speaks the upstream's own format, so a
same-vendor stream can be relayed as it came (citations, server tools, block boundaries kept).
Renderers of another format never see one; the neutral events still come alongside it (usage,
metrics, the router's wait for first content). ``ContentFrame`` is an ``UpstreamFrame`` a relay
passed on without parsing it, once the stream's content has begun, because it can carry nothing
but content deltas (no finish, usage or error): no neutral events come with it, and it counts as
content itself (metrics). It is emitted only where nothing but the client's own renderer reads the
stream (not under MCP agent mode, which needs every neutral event: ``ChatRequest.relay_frames``).
``ContentRun`` is a run of ``ContentFrame``s that one upstream read brought, kept as the read's
bytes (``count`` complete single-line ``data:`` events, nothing else): a relay writes it with one
replacement instead of one frame at a time; it counts as ``count`` content events.

``ToolCallStart.index`` numbers the tool calls of one message 0, 1, 2... in order of first
appearance; ``ToolCallDelta`` carries argument-JSON fragments for that index. ``StreamFailure``
may end a stream at any point (an in-band upstream error or a broken connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import GatewayError
from ._build import fast_new
from .chat import FinishReason, Format, Usage


@fast_new
@dataclass(frozen=True, slots=True)
class StreamStart:
    id: str
    model: str
    created: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    choice: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    choice: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    signature: str | None = None
    choice: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    choice: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None
    choice: int = 0


@fast_new
@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Usage so far; the last one in a stream is final."""

    usage: Usage


@fast_new
@dataclass(frozen=True, slots=True)
class StreamFailure:
    error: GatewayError


@fast_new
@dataclass(frozen=True, slots=True)
class UpstreamFrame:
    """One upstream SSE event as it came (``event`` name, ``data`` text), in ``format``;
    ``payload``: its JSON as the provider parsed it, when it did (None: not handed on)."""

    format: Format
    event: str | None
    data: str
    payload: Any = None


@fast_new
@dataclass(frozen=True, slots=True)
class ContentFrame(UpstreamFrame):
    """An upstream frame relayed unparsed: content deltas only (see the module docstring)."""


@fast_new
@dataclass(frozen=True, slots=True)
class ContentRun:
    """``count`` upstream ``ContentFrame``s of one read, as the read's bytes: each a single-line
    ``data:`` event with its blank line, nothing between them (see the module docstring).
    ``literals``, when given: every event is these pieces with, between each two, text holding no
    ``"`` (an ``EventTemplate``'s), so what is in a piece is in each event exactly as often."""

    format: Format
    data: bytes
    count: int
    literals: tuple[bytes, ...] = ()


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
    | ContentRun
)

CONTENT_EVENTS = (TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, ContentFrame, ContentRun)
