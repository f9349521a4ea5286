"""``AiohttpUpstream``: the ``Upstream`` seam over aiohttp, the fastest client measured here.

On this machine class a bare forwarder does ~3,500 req/s on one core with aiohttp against ~660 with
httpx2 (DESIGN section 4); the connection pool is the difference. It is the default when aiohttp is
installed and no httpx-style ``transport`` is injected (an injected transport always goes through
``HttpxUpstream``). aiohttp exceptions are mapped to the gateway's errors here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import hdrs
from yarl import URL

from ..errors import UpstreamConnectionError, UpstreamTimeoutError, drop_tracebacks
from ..providers.base import UpstreamRequest, UpstreamResponse
from .base import Timeouts, UpstreamStream
from .limits import BodyLimits

_CHUNK = 65536


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _url(url: str) -> URL:
    """Providers percent-encode their URLs; yarl must not re-normalise them (it would decode
    ``%3A`` in a Bedrock model id, and a signed path would no longer match what is sent)."""
    return URL(url, encoded=True)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _map_error(exc: BaseException, url: str) -> Exception:
    # aiohttp's connect path (aiohappyeyeballs) keeps the first connection error in a local of a
    # frame that error's traceback holds: ~150 objects a refused connection, for the collector.
    drop_tracebacks(exc)
    host = _host(url)
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError subclasses it
        return UpstreamTimeoutError(f"upstream {host} did not answer within the timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectionError(f"could not connect to upstream {host}")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return UpstreamConnectionError(f"upstream {host} closed the connection unexpectedly")
    return UpstreamConnectionError(f"transport error talking to upstream {host}: {type(exc).__name__}")


def _plain_and_small(response: aiohttp.ClientResponse, limits: BodyLimits) -> bool:
    """The body is declared (``Content-Length``), not encoded and at most ``limits.unchecked``:
    aiohttp's parser stops at the declared length and nothing is decompressed, so ``_read`` would
    check nothing and ``response.read()`` reads the same bytes."""
    declared = response.content_length
    return declared is not None and declared <= limits.unchecked and hdrs.CONTENT_ENCODING not in response.headers


async def _read(response: aiohttp.ClientResponse, limits: BodyLimits, url: str) -> bytes:
    """The whole (decompressed) body, counted as it arrives against ``limits`` (looked at once
    the body is past the size where a bound could be passed: ``limits.check`` passes below it)."""
    declared = response.content_length
    if declared is not None and declared > limits.max_bytes:
        limits.check_declared(declared, _host(url))
    content = response.content
    chunks: list[bytes] = []
    size = 0
    unchecked = limits.unchecked
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > unchecked:
            wire = getattr(content, "total_compressed_bytes", None) or content.total_bytes
            limits.check(size, wire, _host(url))
        if content.at_eof() and content.exception() is None:
            break  # what the next ``readany`` would say (b""), without calling it
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _AiohttpStream:
    __slots__ = ("_idle", "_limits", "_response", "_url", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, url: str, idle: float, limits: BodyLimits) -> None:
        self._response = response
        self._url = url
        self._idle = idle
        self._limits = limits
        self.status = response.status
        self.headers: Mapping[str, str] = _lower(response.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        while True:
            try:
                # sock_read (set to the idle timeout) bounds each read.
                chunk = await content.readany()
            except TimeoutError:
                raise UpstreamTimeoutError(
                    f"upstream {_host(self._url)} sent nothing for {self._idle:g}s (stream idle timeout)"
                ) from None
            except aiohttp.ClientError as exc:
                raise _map_error(exc, self._url) from exc
            if not chunk:
                if not self._response.content.is_eof():  # pragma: no cover - defensive
                    continue
                return
            yield chunk

    async def read(self) -> bytes:
        try:
            return await _read(self._response, self._limits, self._url)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _map_error(exc, self._url) from exc

    async def aclose(self) -> None:
        if self._response.content.is_eof():
            self._response.release()  # fully read: the connection goes back to the pool
        else:
            self._response.close()  # abandoned mid-body: drop the connection


class AiohttpUpstream:
    """Upstream calls through one shared, lazily created ``aiohttp.ClientSession``."""

    def __init__(self, *, max_connections: int = 1000, limits: BodyLimits | None = None) -> None:
        self._max_connections = max_connections
        self._limits = limits or BodyLimits()
        self._session: aiohttp.ClientSession | None = None
        # By identity (the router reuses its Timeouts): hashing a frozen dataclass costs a call.
        self._timeouts: dict[int, tuple[Timeouts, aiohttp.ClientTimeout]] = {}
        self._urls: dict[str, URL] = {}

    def _send_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        """aiohttp's own timer bounds the whole call; a separate read bound only when the first
        byte must come sooner than the total. Built once per distinct setting, not per request."""
        cached = self._timeouts.get(id(timeouts))
        if cached is not None and cached[0] is timeouts:
            return cached[1]
        first_byte = timeouts.first_byte if timeouts.first_byte < timeouts.total else None
        built = aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect, sock_read=first_byte)
        if len(self._timeouts) < 1024 or id(timeouts) in self._timeouts:  # overrides vary: bounded
            self._timeouts[id(timeouts)] = (timeouts, built)
        return built

    def _url(self, url: str) -> URL:
        """``_url(url)``, parsed once per distinct URL (a yarl parse per request cost more than a
        lookup; provider URLs are few, model names in paths bounded by the cap)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = _url(url)
            if len(self._urls) < 1024:
                self._urls[url] = parsed
        return parsed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=30.0,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=True,
                read_bufsize=_CHUNK,
                trust_env=False,
            )
        return self._session

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        session = self._get_session()
        try:
            # What ``async with session.request(...) as response`` does (release, then wait for
            # the request writer), without its four context-manager coroutines per call.
            response = await session.request(
                request.method,
                self._url(request.url),
                headers=request.headers,
                data=request.payload,
                timeout=self._send_timeout(timeouts),
            )
            if _plain_and_small(response, self._limits):
                # As a bare forwarder reads it: aiohttp hands the connection back once the body
                # is in (or closes the response on a failure), with no release to make.
                body = await response.read()
            else:
                try:
                    body = await _read(response, self._limits, request.url)
                finally:
                    response.release()
                    await response.wait_for_close()
            # aiohttp's headers are case-insensitive already: no lower-cased copy
            return UpstreamResponse(response.status, response.headers, body)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"upstream {_host(request.url)} did not answer within {timeouts.total:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise _map_error(exc, request.url) from exc

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_read=timeouts.idle)
        wait = min(timeouts.first_byte, timeouts.total)
        try:
            async with asyncio.timeout(wait):
                response = await session.request(
                    request.method,
                    self._url(request.url),
                    headers=request.headers,
                    data=request.payload,
                    timeout=timeout,
                )
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"upstream {_host(request.url)} sent no response headers within {wait:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise _map_error(exc, request.url) from exc
        return _AiohttpStream(response, request.url, timeouts.idle, self._limits)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
