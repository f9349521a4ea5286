"""The one I/O seam for upstream calls.

``Upstream`` is what the router talks to. ``HttpxUpstream`` (``_httpx.py``, imported only when it is
used, so a gateway on aiohttp never loads httpx2) implements it over an httpx-style ``AsyncClient``;
``AiohttpUpstream`` (``_aiohttp.py``) over aiohttp. ``SchemeUpstream`` sends ``mock://`` URLs to the
in-process mock server and everything else on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..providers.base import UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``total`` bounds a whole non-streamed call (and a stream's wait for its headers);
    ``first_byte`` bounds the wait for response headers; ``idle`` the gap between stream chunks."""

    connect: float = 10.0
    first_byte: float = 30.0
    total: float = 30.0
    idle: float = 60.0


class UpstreamStream(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; raises ``UpstreamTimeoutError`` after ``idle`` seconds of silence."""
        ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse: ...

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


class SchemeUpstream:
    """Dispatch by URL scheme: ``mock://`` to the in-process mock, the rest to ``default``."""

    def __init__(self, default: Upstream, mock: Upstream) -> None:
        self._default = default
        self._mock = mock

    def _pick(self, request: UpstreamRequest) -> Upstream:
        return self._mock if request.url.startswith("mock://") else self._default

    # Plain functions handing back the chosen upstream's coroutine: no coroutine layer of their own.
    def send(self, request: UpstreamRequest, timeouts: Timeouts) -> Coroutine[Any, Any, UpstreamResponse]:
        upstream = self._mock if request.url.startswith("mock://") else self._default
        return upstream.send(request, timeouts)

    def open(self, request: UpstreamRequest, timeouts: Timeouts) -> Coroutine[Any, Any, UpstreamStream]:
        return self._pick(request).open(request, timeouts)

    async def aclose(self) -> None:
        await self._default.aclose()
        await self._mock.aclose()
