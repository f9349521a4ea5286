"""A pipelined connection for the Lua scripts on the hot path (governance's admission and settlement).

A call on an idle connection (nothing sent awaiting its reply, nothing queued) is written at once;
calls made while replies are awaited, or in the same event-loop turn as others, go out together in
one write at the end of the turn, on one connection; replies (RESP2) are parsed as they arrive and
handed to their callers in order. Each script still runs atomically
on the server; only the transport is shared. It does what redis-py's command path does for these
calls (connect, ``AUTH``, ``SELECT``, ``EVALSHA`` with ``EVAL`` when the server lost the script,
``socket_timeout`` on every reply, errors as redis-py's exception classes), at a small fraction of
its cost per call (no pool checkout, retry wrapper, per-call timeout task or observability hooks).

Failures are redis-py's: ``ConnectionError`` (refused, reset, closed mid-call: every call in flight
fails, the next call reconnects), ``TimeoutError`` (no reply within ``socket_timeout``: the
connection is dropped), ``AuthenticationError``, ``ResponseError`` (a script error), so callers map
them as before. Used for ``redis://`` URLs with at most a user, a password and a database; other
URLs (TLS, unix sockets, query options) keep redis-py's own path (``ScriptPipe.for_url`` is None).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from itertools import chain
from typing import Any
from urllib.parse import unquote, urlparse

from redis.exceptions import AuthenticationError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import drop_tracebacks

_INCOMPLETE = object()  # a reply not fully received yet


class _Error:
    """An error reply (``-ERR ...``), turned into an exception for its caller."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def exception(self) -> RedisError:
        if self.message.startswith("NOSCRIPT"):
            return NoScriptError(self.message)
        if self.message.startswith(("WRONGPASS", "NOAUTH", "ERR invalid password", "ERR AUTH")):
            return AuthenticationError(self.message)
        return ResponseError(self.message)


def parse(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One RESP2 reply from ``buf[pos:]``: (the value, the position after it), or (``_INCOMPLETE``,
    ``pos``). Integers as ``int``, bulk and simple strings as ``bytes``, nil as None, arrays as lists,
    errors as ``_Error`` (as redis-py returns script replies with ``decode_responses`` off)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind = buf[pos]
    if kind == 42:  # "*" array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        at = end + 2
        size = len(buf)
        for _ in range(count):
            if at < size and buf[at] == 58:  # an integer (the scripts' replies): read here
                stop = buf.find(b"\r\n", at)
                if stop < 0:
                    return _INCOMPLETE, pos
                items.append(int(buf[at + 1 : stop]))
                at = stop + 2
                continue
            item, at = parse(buf, at)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, at
    if kind == 58:  # ":" integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 36:  # "$" bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buf) < stop + 2:
            return _INCOMPLETE, pos
        return bytes(buf[end + 2 : stop]), stop + 2
    if kind == 43:  # "+" simple string
        return bytes(buf[pos + 1 : end]), end + 2
    if kind == 45:  # "-" error
        return _Error(bytes(buf[pos + 1 : end]).decode(errors="replace")), end + 2
    raise RedisConnectionError(f"Protocol error: unexpected reply type {chr(kind)!r}")


def command(*parts: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


#: Where ``ScriptPipe.send`` delivers a reply: (the reply, None) or (None, the error).
ReplyCallback = Callable[[Any, BaseException | None], None]


class _Call:
    """One call: its command, who gets its reply (a future, or a callback called in the read that
    brings it), and for a script the source to send if the server lost it."""

    __slots__ = ("callback", "future", "packed", "script")

    def __init__(
        self,
        packed: bytes,
        future: asyncio.Future[Any] | None,
        script: bytes | None = None,
        callback: ReplyCallback | None = None,
    ) -> None:
        self.packed = packed
        self.future = future
        self.script = script
        self.callback = callback

    def resolve(self, reply: Any) -> None:
        if self.callback is not None:
            _deliver(self.callback, reply, None)
        elif self.future is not None and not self.future.done():
            self.future.set_result(reply)

    def fail(self, error: BaseException) -> None:
        if self.callback is not None:
            _deliver(self.callback, None, error)
        elif self.future is not None and not self.future.done():
            self.future.set_exception(error)

    def as_eval(self) -> _Call:
        """The same call as ``EVAL <source>`` (the server answered NOSCRIPT: it restarted or was flushed)."""
        assert self.script is not None
        rest = self.packed[self.packed.index(b"\r\n", self.packed.index(b"$40\r\n") + 5) + 2 :]
        count = int(self.packed[1 : self.packed.index(b"\r\n")])
        head = b"*%d\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n" % (count, len(self.script), self.script)
        return _Call(head + rest, self.future, None, self.callback)


def _deliver(callback: ReplyCallback, reply: Any, error: BaseException | None) -> None:
    """A callback's failure is the event loop's to report: it must not stop the replies after it."""
    try:
        callback(reply, error)
    except Exception as exc:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "a script reply callback raised", "exception": exc}
        )


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: ScriptPipe) -> None:
        self._pipe = pipe

    def data_received(self, data: bytes) -> None:
        self._pipe._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._lost(self, exc)


class ScriptPipe:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 2.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self._host, self._port, self._db = host, port, db
        self._username, self._password = username, password
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._queue: list[_Call] = []  # not sent yet
        self._pending: deque[_Call] = deque()  # sent, reply awaited (in order)
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._progress = 0.0  # loop time of the last write to an idle connection or the last reply
        self._templates: dict[int, bytes] = {}  # EVALSHA with N parts, as a format (a few sizes)
        self._loaded: set[bytes] = set()  # SHAs sent as EVAL since the last connection dropped

    @classmethod
    def for_url(cls, url: str, *, timeout: float) -> ScriptPipe | None:
        """A pipe for a plain ``redis://host[:port][/db]`` URL (user and password allowed), else None."""
        parsed = urlparse(url)
        if parsed.scheme != "redis" or parsed.query or parsed.fragment or not parsed.hostname:
            return None
        path = unquote(parsed.path).strip("/")
        if path and not path.isdigit():
            return None
        return cls(
            unquote(parsed.hostname),
            parsed.port or 6379,
            db=int(path or 0),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            timeout=timeout,
            connect_timeout=timeout,
        )

    def call(self, sha: bytes, script: bytes, parts: list[bytes]) -> asyncio.Future[Any]:
        """``EVALSHA sha *parts`` (``parts``: the key count, the keys, the arguments), or ``EVAL`` with
        ``script`` on its first call on a connection or if the server lost it: a future of its reply.
        The server runs the calls in the order they were made (``send``'s too)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._enqueue(sha, script, parts, future, None, loop)
        return future

    def send(self, sha: bytes, script: bytes, parts: list[bytes], callback: ReplyCallback) -> None:
        """``call`` for a reply nobody awaits: ``callback`` gets it (or the error) in the read that
        brings it, without a future or a task."""
        self._enqueue(sha, script, parts, None, callback, asyncio.get_running_loop())

    def _enqueue(
        self,
        sha: bytes,
        script: bytes,
        parts: list[bytes],
        future: asyncio.Future[Any] | None,
        callback: ReplyCallback | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        if sha not in self._loaded:  # its first call since connecting: the source itself, so the
            # script runs in its place in the order (a NOSCRIPT answer would send it again behind
            # the calls made meanwhile) and the server keeps it for the EVALSHAs after it
            self._loaded.add(sha)
            self._queue_or_send(_Call(command(b"EVAL", script, *parts), future, None, callback), loop)
            return
        count = len(parts)
        template = self._templates.get(count)
        if template is None:  # one per part count: the whole command in one formatting, no loop here
            template = self._templates[count] = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%%s\r\n" % (count + 2) + (
                b"$%d\r\n%s\r\n" * count
            )
        packed = template % (sha, *chain.from_iterable(zip(map(len, parts), parts, strict=True)))
        self._queue_or_send(_Call(packed, future, script, callback), loop)

    def _queue_or_send(self, call: _Call, loop: asyncio.AbstractEventLoop) -> None:
        queue = self._queue
        if not queue and not self._pending and self._transport is not None and self._loop is loop:
            self._send([call])  # an idle connection: nothing to batch with, write now
            return
        queue.append(call)
        if len(queue) == 1:
            loop.call_soon(self._flush)

    async def close(self) -> None:
        self._drop(RedisConnectionError("Connection closed by the gateway."))
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
            self._connecting = None

    # ------------------------------------------------------------------ sending

    def _flush(self) -> None:
        if not self._queue:
            return
        loop = asyncio.get_running_loop()
        if self._transport is not None and self._loop is not loop:
            self._drop(RedisConnectionError("event loop changed"))  # a transport serves the loop it was made on
        if self._transport is None:
            if self._connecting is None or self._connecting.done():
                self._connecting = loop.create_task(self._connect_or_fail(loop))
            return
        batch, self._queue = self._queue, []
        self._send(batch)

    def _send(self, batch: list[_Call]) -> None:
        assert self._transport is not None and self._loop is not None
        if not self._pending:
            self._progress = self._loop.time()
        self._pending.extend(batch)
        self._transport.write(b"".join([call.packed for call in batch]))
        if self._timer is None:
            self._timer = self._loop.call_at(self._progress + self._timeout, self._check_timeout)

    async def _connect_or_fail(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await self._connect(loop)
        except Exception as exc:  # never leave a caller waiting on a connection that will not come
            drop_tracebacks(exc)
            error = RedisConnectionError(f"Error connecting to {self._host}:{self._port}: {type(exc).__name__}")
            self._drop(error)
            self._fail_queue(error)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        where = f"{self._host}:{self._port}"
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), self._host, self._port), self._connect_timeout
            )
        except TimeoutError:
            self._fail_queue(RedisTimeoutError(f"Timeout connecting to {where}"))
            return
        except OSError as exc:
            # asyncio's create_connection keeps the errors in a list of a frame their tracebacks
            # hold: a cycle per failed connect (each call while the store is down) for the collector.
            drop_tracebacks(exc)
            self._fail_queue(RedisConnectionError(f"Error {exc.errno} connecting to {where}. {exc.strerror or exc}."))
            return
        self._loop, self._transport, self._protocol = loop, transport, protocol  # (uvloop: not an asyncio.Transport)
        self._buffer.clear()
        handshake: list[_Call] = []
        if self._password is not None:
            auth = [b"AUTH", self._username.encode(), self._password.encode()] if self._username else [
                b"AUTH", self._password.encode()]  # fmt: skip
            handshake.append(_Call(command(*auth), loop.create_future()))
        if self._db:
            handshake.append(_Call(command(b"SELECT", b"%d" % self._db), loop.create_future()))
        if handshake:
            self._send(handshake)
            try:
                for call in handshake:
                    assert call.future is not None
                    await call.future
            except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                error = (
                    exc if isinstance(exc, RedisConnectionError | RedisTimeoutError) else RedisConnectionError(str(exc))
                )
                self._drop(error)
                self._fail_queue(error)
                return
        self._flush()

    # ------------------------------------------------------------------ receiving

    def _received(self, protocol: _Protocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        buf = self._buffer
        buf += data
        pending = self._pending
        pos = 0
        while pending:
            try:
                reply, pos = parse(buf, pos)
            except (ValueError, RedisConnectionError) as exc:  # not RESP: drop the connection
                self._drop(
                    exc if isinstance(exc, RedisConnectionError) else RedisConnectionError(f"Protocol error: {exc}")
                )
                return
            if reply is _INCOMPLETE:
                break
            call = pending.popleft()
            if isinstance(reply, _Error):
                if call.script is not None and reply.message.startswith("NOSCRIPT"):
                    # the server was flushed (SCRIPT FLUSH): send the source, behind what was sent
                    # meanwhile; the next first calls go as EVAL again
                    self._loaded.clear()
                    self._send([call.as_eval()])
                else:
                    call.fail(reply.exception())
            else:
                call.resolve(reply)
        del buf[:pos]
        assert self._loop is not None
        self._progress = self._loop.time()

    def _check_timeout(self) -> None:
        self._timer = None
        if not self._pending or self._loop is None:
            return
        due = self._progress + self._timeout
        if self._loop.time() >= due:
            self._drop(RedisTimeoutError(f"Timeout reading from {self._host}:{self._port}"))
        else:
            self._timer = self._loop.call_at(due, self._check_timeout)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            self._drop(
                RedisConnectionError(f"Connection to {self._host}:{self._port} lost" + (f": {exc}" if exc else ""))
            )

    # ------------------------------------------------------------------ failures

    def _drop(self, error: Exception) -> None:
        """Close the connection; every call sent on it fails with ``error`` (the queue waits for the next)."""
        transport, self._transport, self._protocol = self._transport, None, None
        self._loaded.clear()  # the next server may be a restarted one, without the scripts
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, deque()
        self._buffer.clear()
        for call in pending:
            call.fail(error)
        if transport is not None:
            transport.close()

    def _fail_queue(self, error: Exception) -> None:
        queue, self._queue = self._queue, []
        for call in queue:
            call.fail(error)
