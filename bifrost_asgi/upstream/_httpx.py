"""``HttpxUpstream``: the ``Upstream`` seam over an httpx-style ``AsyncClient`` (so ``transport=``
injection works for users and tests). Transport exceptions are mapped to
``UpstreamConnectionError``/``UpstreamTimeoutError`` here and nowhere else. Imported only when an
httpx upstream is built: a gateway on aiohttp never loads httpx2.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from ..errors import UpstreamConnectionError, UpstreamTimeoutError
from ..providers.base import UpstreamRequest, UpstreamResponse
from ._http import httpx
from .base import Timeouts, UpstreamStream
from .limits import BodyLimits


def _lower(headers: httpx.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _map_error(exc: Exception, request: UpstreamRequest, timeouts: Timeouts) -> Exception:
    host = _host(request.url)
    if isinstance(exc, httpx.ConnectTimeout):
        return UpstreamTimeoutError(f"connecting to {host} timed out after {timeouts.connect:g}s")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(f"upstream {host} did not answer within the timeout")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamConnectionError(f"could not connect to upstream {host}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return UpstreamConnectionError(f"upstream {host} closed the connection unexpectedly")
    if isinstance(exc, httpx.TransportError):
        return UpstreamConnectionError(f"transport error talking to upstream {host}: {type(exc).__name__}")
    return exc


async def _read(response: httpx.Response, limits: BodyLimits, url: str) -> bytes:
    """The whole (decoded) body, counted as it arrives against ``limits``."""
    host = _host(url)
    declared = response.headers.get("content-length")
    limits.check_declared(int(declared) if declared and declared.isdigit() else None, host)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        limits.check(size, response.num_bytes_downloaded, host)
    return b"".join(chunks)


class _HttpxStream:
    __slots__ = ("_idle", "_limits", "_request", "_response", "headers", "status")

    def __init__(self, response: httpx.Response, request: UpstreamRequest, idle: float, limits: BodyLimits) -> None:
        self._response = response
        self._request = request
        self._idle = idle
        self._limits = limits
        self.status = response.status_code
        self.headers: Mapping[str, str] = _lower(response.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        iterator = self._response.aiter_bytes().__aiter__()
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamTimeoutError(
                    f"upstream {_host(self._request.url)} sent nothing for {self._idle:g}s (stream idle timeout)"
                ) from None
            except httpx.HTTPError as exc:
                raise _map_error(exc, self._request, Timeouts()) from exc
            yield chunk

    async def read(self) -> bytes:
        try:
            async with asyncio.timeout(self._idle):
                return await _read(self._response, self._limits, self._request.url)
        except TimeoutError:
            raise UpstreamTimeoutError(f"upstream {_host(self._request.url)} stalled sending its body") from None
        except httpx.HTTPError as exc:
            raise _map_error(exc, self._request, Timeouts()) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    """Upstream calls through one shared, lazily created ``httpx.AsyncClient``."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        max_connections: int = 1000,
        limits: BodyLimits | None = None,
    ) -> None:
        self._transport = transport
        self._max_connections = max_connections
        self._limits = limits or BodyLimits()
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                    keepalive_expiry=30.0,
                ),
                timeout=None,
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    def _timeout(self, timeouts: Timeouts, *, read: float) -> httpx.Timeout:
        return httpx.Timeout(connect=timeouts.connect, read=read, write=timeouts.total, pool=timeouts.total)

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        client = self._get_client()
        try:
            async with asyncio.timeout(timeouts.total):
                built = client.build_request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.payload,
                    timeout=self._timeout(timeouts, read=min(timeouts.first_byte, timeouts.total)),
                )
                response = await client.send(built, stream=True)
                try:
                    body = await _read(response, self._limits, request.url)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"upstream {_host(request.url)} did not answer within {timeouts.total:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise _map_error(exc, request, timeouts) from exc
        return UpstreamResponse(response.status_code, _lower(response.headers), body)

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        client = self._get_client()
        built = client.build_request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.payload,
            timeout=self._timeout(timeouts, read=timeouts.idle),
        )
        wait = min(timeouts.first_byte, timeouts.total)
        try:
            async with asyncio.timeout(wait):
                response = await client.send(built, stream=True)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"upstream {_host(request.url)} sent no response headers within {wait:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise _map_error(exc, request, timeouts) from exc
        return _HttpxStream(response, request, timeouts.idle, self._limits)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
