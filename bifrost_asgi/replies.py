"""What the gateway hands back to the HTTP layer: a whole JSON answer or a stream of SSE chunks.

Plain data plus one small wrapper; ``app.py`` turns them into ASGI messages.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class JsonReply(NamedTuple):
    """A whole answer (a named tuple: one per request, cheaper to build than a frozen dataclass)."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class StreamReply:
    chunks: ChunkStream
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "text/event-stream"
    status: int = 200
    #: The stream's last words when the server stops it (its task is cancelled): an error event
    #: in the client's format; the HTTP layer sends it and ends the body properly.
    abort: Callable[[], bytes] | None = None


Reply = JsonReply | StreamReply


class ChunkStream(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None:
        """Stop relaying; releases the upstream stream, the queue slot and the request's accounting
        even when iteration never started (a client that left before the first chunk)."""
        ...


class RelayChunks:
    """An async generator's ``aclose()`` skips its ``finally`` when it never started; this wrapper
    runs the relay's cleanup in that case too."""

    __slots__ = ("_generator", "_on_abandon", "_started")

    def __init__(self, generator: AsyncGenerator[bytes, None], on_abandon: Callable[[], Awaitable[None]]) -> None:
        self._generator = generator
        self._on_abandon = on_abandon
        self._started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._started = True
        return self._generator

    async def aclose(self) -> None:
        if not self._started:
            self._started = True
            await self._on_abandon()
        await self._generator.aclose()
