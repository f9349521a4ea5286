"""Real loopback servers for end-to-end tests.

* :func:`run_server` runs any ASGI app under uvicorn on a free port in a background thread.
* :func:`run_gateway` builds ``bifrost_asgi.bifrost_app(config=...)`` and runs it the same way.
* :func:`run_raw_http` runs a tiny hand-written HTTP/1.1 server (keep-alive, chunked bodies) whose
  handler controls the socket itself, so it can reset or half-finish a response exactly; the fake
  vendor server (:mod:`tests.support.fake_provider`) is built on it.

Every runner binds ``127.0.0.1:0`` itself, waits until the server accepts connections and, on exit,
stops the server, joins its thread and closes its sockets, so nothing leaks from one test to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class ServerHandle:
    """A running server: ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash)."""

    host: str
    port: int
    thread: threading.Thread = field(repr=False)
    server: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _bind(host: str, port: int = 0) -> socket.socket:
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (it checks the proto);
    # without it every response waits on Nagle + delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def run_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = STARTUP_TIMEOUT,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
) -> Iterator[ServerHandle]:
    """Run ``app`` under uvicorn (h11, asyncio loop, lifespan auto) until the block exits
    (on ``port``, e.g. to restart a server where it was; default a free one)."""
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        lifespan="auto",
        loop="asyncio",
        http="h11",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=max(1, int(shutdown_timeout / 2)),
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on a failed lifespan startup, too
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, failure, startup_timeout, port)
        yield ServerHandle(host=host, port=port, thread=thread, server=server)
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on port {port} did not stop within {2 * shutdown_timeout:.0f}s")


def _wait_started(
    server: uvicorn.Server,
    thread: threading.Thread,
    failure: list[BaseException],
    timeout: float,
    port: int,
) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            cause = failure[0] if failure else None
            raise RuntimeError(
                f"uvicorn on port {port} exited during startup (lifespan startup failed?): {cause!r}"
            ) from cause
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn on port {port} did not start within {timeout:.1f}s")
        time.sleep(0.002)


@contextlib.contextmanager
def run_gateway(config: Mapping[str, Any], **kwargs: Any) -> Iterator[ServerHandle]:
    """Build the gateway with ``bifrost_app(config=config, **kwargs)`` and serve it on a free port."""
    from bifrost_asgi.asgi.app import bifrost_app  # lazy: the gateway must not be needed to import this module

    app = bifrost_app(config=dict(config), **kwargs)
    with run_server(app) as handle:
        yield handle


# --------------------------------------------------------------------------- background event loop


class LoopThread:
    """An asyncio event loop running forever in a daemon thread; ``call`` runs a coroutine on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = STARTUP_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"event loop thread {self._thread.name} did not stop within {timeout:.0f}s")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# --------------------------------------------------------------------------- raw HTTP/1.1 server


class ClientGone(Exception):
    """The client closed (or reset) the connection while the handler was working."""


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.1 request this server understands."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


class _Connection:
    """Buffered reads on one client connection; a watcher notices the client leaving mid-response."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Callable[[int], None] | None = None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._received = received
        self.buf = bytearray()
        self.eof = False
        self.peer_closed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def _fill(self) -> None:
        try:
            data = await self.reader.read(65536)
        except OSError:
            data = b""
        if data:
            self.buf += data
            if self._received is not None:
                self._received(len(data))
        else:
            self.eof = True
            self.peer_closed.set()

    async def _until(self, marker: bytes) -> int:
        while (index := self.buf.find(marker)) < 0:
            if self.eof:
                raise ClientGone("connection closed mid-request")
            if len(self.buf) > _MAX_HEAD:
                raise BadRequest("request head too large")
            await self._fill()
        return index

    async def _take(self, size: int) -> bytes:
        while len(self.buf) < size:
            if self.eof:
                raise ClientGone("connection closed mid-body")
            await self._fill()
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    async def read_request(self) -> HttpRequest | None:
        """The next request, or None when the client closed an idle connection."""
        while not self.buf:
            if self.eof:
                return None
            await self._fill()
        end = await self._until(b"\r\n\r\n")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        request_line, *lines = head.split("\r\n")
        try:
            method, target, version = request_line.split(" ")
        except ValueError as exc:
            raise BadRequest(f"bad request line {request_line!r}") from exc
        headers = tuple(_header(line) for line in lines if line)
        path, _, query = target.partition("?")
        request = HttpRequest(method.upper(), target, path, query, version, headers, b"")
        body = await self._read_body(request)
        return HttpRequest(method.upper(), target, path, query, version, headers, body)

    async def _read_body(self, request: HttpRequest) -> bytes:
        if "chunked" in (request.header("transfer-encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                end = await self._until(b"\r\n")
                size = int(bytes(self.buf[:end]).split(b";")[0].strip() or b"0", 16)
                del self.buf[: end + 2]
                if size == 0:
                    await self._until(b"\r\n")  # no trailers expected
                    del self.buf[:2]
                    return b"".join(parts)
                parts.append(await self._take(size))
                await self._take(2)
        length = request.header("content-length")
        return await self._take(int(length)) if length else b""

    def watch(self) -> None:
        """While a response is produced, keep reading so a client that leaves is noticed at once."""

        async def loop() -> None:
            while not self.eof:
                await self._fill()

        self._watcher = asyncio.get_running_loop().create_task(loop())

    async def unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _header(line: str) -> tuple[str, str]:
    name, sep, value = line.partition(":")
    if not sep:
        raise BadRequest(f"bad header line {line!r}")
    return name.strip().lower(), value.strip()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


class HttpExchange:
    """One request/response on a raw connection; the handler drives the response bytes itself."""

    def __init__(self, conn: _Connection, request: HttpRequest) -> None:
        self._conn = conn
        self.request = request
        self.head_sent = False
        self.finished = False
        self.closed = False
        self._chunked = False

    @property
    def client_gone(self) -> bool:
        return self._conn.peer_closed.is_set()

    async def _send(self, data: bytes) -> None:
        if self.closed or self.client_gone:
            raise ClientGone("client closed the connection")
        self._conn.writer.write(data)
        try:
            await self._conn.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone(str(exc)) from exc

    async def send_head(self, status: int, headers: Mapping[str, str], *, content_length: int | None) -> None:
        """Status line and headers; ``content_length=None`` means a chunked body follows."""
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if content_length is None:
            self._chunked = True
            lines.append("transfer-encoding: chunked")
        else:
            lines.append(f"content-length: {content_length}")
        self.head_sent = True
        await self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        await self._send(data)

    async def end(self, last: bytes = b"") -> None:
        """Finish the body; ``last`` is written in the same packet as the terminating chunk, so a
        client that stops reading at its final event still finds the connection reusable."""
        if self._chunked:
            tail = b"%x\r\n%s\r\n" % (len(last), last) if last else b""
            await self._send(tail + b"0\r\n\r\n")
        elif last:
            await self._send(last)
        self.finished = True

    async def respond(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        await self.send_head(status, headers, content_length=len(body))
        await self.write(body)
        await self.end()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but raise :class:`ClientGone` as soon as the client disconnects."""
        if self.client_gone:
            raise ClientGone("client closed the connection")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._conn.peer_closed.wait(), seconds)
            raise ClientGone("client closed the connection")

    def reset(self) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0): no response, no FIN."""
        sock = self._conn.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._conn.writer.transport.abort()
        self.closed = True

    async def close(self) -> None:
        """Flush what was written, then close the connection (FIN) without finishing the response."""
        self.closed = True
        self._conn.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._conn.writer.wait_closed(), 1.0)


Handler = Callable[[HttpExchange], Awaitable[None]]


class RawHttpServer:
    """HTTP/1.1 with keep-alive; every request goes to ``handler`` on the loop thread."""

    def __init__(self, handler: Handler, *, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._handler = handler
        self._on_error = on_error
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()
        self.open_connections = 0
        self.total_connections = 0
        self.active_requests = 0
        self.bytes_received = 0  # request bytes read on every connection so far

    async def start(self, host: str) -> int:
        self._server = await asyncio.start_server(self._serve, host, 0, limit=_MAX_HEAD * 16)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _count(self, attr: str, delta: int) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + delta)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._count("open_connections", 1)
        self._count("total_connections", 1)
        conn = _Connection(reader, writer, lambda size: self._count("bytes_received", size))
        try:
            while await self._one(conn):
                pass
        except (ClientGone, BadRequest, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): finish quietly (asyncio's done-callback would log a cancelled task)
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)
        finally:
            await conn.unwatch()
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._count("open_connections", -1)
            if task is not None:
                self._tasks.discard(task)

    async def _one(self, conn: _Connection) -> bool:
        """Serve one request; True when the connection stays open for the next."""
        request = await conn.read_request()
        if request is None:
            return False
        exchange = HttpExchange(conn, request)
        self._count("active_requests", 1)
        conn.watch()
        try:
            await self._run_handler(exchange)
        finally:
            self._count("active_requests", -1)
            await conn.unwatch()
        keep_alive = request.version == "HTTP/1.1" and (request.header("connection") or "").lower() != "close"
        return exchange.finished and not exchange.closed and keep_alive and not conn.eof

    async def _run_handler(self, exchange: HttpExchange) -> None:
        try:
            await self._handler(exchange)
        except (ClientGone, asyncio.CancelledError):
            raise
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)
            if exchange.head_sent or exchange.closed:
                raise ClientGone("handler failed mid-response") from exc
            body = f"fake server handler failed: {exc!r}".encode()
            await exchange.respond(500, {"content-type": "text/plain"}, body)


@dataclass(frozen=True)
class RawServerHandle:
    host: str
    port: int
    server: RawHttpServer = field(repr=False)
    loop: LoopThread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def run_raw_http(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    on_error: Callable[[BaseException], None] | None = None,
) -> Iterator[RawServerHandle]:
    """Serve ``handler`` with :class:`RawHttpServer` on a free port in its own loop thread."""
    loop = LoopThread(name="raw-http")
    server = RawHttpServer(handler, on_error=on_error)
    try:
        port = loop.call(server.start(host))
        yield RawServerHandle(host=host, port=port, server=server, loop=loop)
    finally:
        try:
            if loop.alive:
                loop.call(server.stop(), timeout=SHUTDOWN_TIMEOUT)
        finally:
            loop.stop()
