"""Connection-level limits for the servers the CLI starts (uvicorn, one process or several).

uvicorn bounds nothing for a connection that has not finished sending a request: a client that
opens a socket and sends nothing (or one header byte a minute) holds a descriptor forever, and
1,100 of them lock every real client out of a 1,024-descriptor gateway. ``GuardedH11Protocol`` /
``GuardedHttpToolsProtocol`` add, per connection:

* a header read deadline (``client.header_read_timeout_seconds``): a request's head must be
  complete within it, else 408 and close; re-armed for every request on a kept-alive connection;
* a maximum head size (``client.max_header_size_kb``): 431 and close beyond it (uvicorn's h11
  option covers only h11).

``server_options`` turns the settings into uvicorn options (keep-alive idle timeout, the maximum
number of concurrent connections, 503 beyond) and ``raise_open_file_limit`` lifts the soft
``RLIMIT_NOFILE`` to the hard limit. Under ``uvicorn --factory`` or gunicorn the same limits are
the host server's flags (see README "Connection limits").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from . import _json
from .config.settings import BifrostSettings

_HEAD_END = b"\r\n\r\n"


def _reply(status: str, message: str) -> bytes:
    body = _json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}})
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


class _HeadGuard:
    """Mixed into a uvicorn HTTP protocol (before it in the MRO)."""

    transport: asyncio.Transport
    config: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = kwargs.get("config", args[0] if args else None)
        self._head_timeout: float = getattr(config, "bifrost_header_read_timeout", 10.0)
        self._head_limit: int = getattr(config, "h11_max_incomplete_event_size", None) or 65536
        # One timer per connection, not one per request: ``_arm`` moves the deadline
        # (``_head_due``) and starts a timer only when none is pending; when the timer fires it
        # re-arms for a deadline that moved, does nothing while a request is being served (its
        # head is complete) and times the head out otherwise.
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_due = 0.0
        self._tail: bytes | None = b""  # the head's last bytes (to find its end); None once complete
        self._head_bytes = 0
        self._served = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def _arm(self) -> None:
        self._tail = b""
        self._head_bytes = 0
        loop = asyncio.get_running_loop()
        self._head_due = due = loop.time() + self._head_timeout
        if self._head_timer is None:
            self._head_timer = loop.call_at(due, self._head_check)

    def _head_check(self) -> None:
        self._head_timer = None
        if self._tail is None:  # the head is complete: the next request's ``_arm`` starts a timer
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._head_due:  # re-armed since this timer was set
            self._head_timer = loop.call_at(self._head_due, self._head_check)
            return
        self._head_timed_out()

    def _head_timed_out(self) -> None:
        if self._tail is not None and not self.transport.is_closing():
            if self._head_bytes or not self._served:  # an idle kept-alive connection just closes
                self.transport.write(_reply("408 Request Timeout", "request headers were not received in time"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._tail is not None and not self._head_data(data):
            return
        super().data_received(data)  # type: ignore[misc]

    def _head_data(self, data: bytes) -> bool:
        """Track the head being read; False when it grew past the limit (answered 431, closed)."""
        tail = self._tail or b""
        seen = tail + data if tail else data
        end = seen.find(_HEAD_END)
        if end != -1:
            self._tail = None  # the timer, when it fires, finds the head complete
            if self._head_bytes + end - len(tail) <= self._head_limit:
                return True
        else:
            self._head_bytes += len(data)
        if end != -1 or self._head_bytes > self._head_limit:
            self._tail = None
            self.transport.write(_reply("431 Request Header Fields Too Large", "request headers are too large"))
            self.transport.close()
            return False
        self._tail = seen[-3:]
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._served = True
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(_HeadGuard, H11Protocol):
    """uvicorn's h11 protocol with a header read deadline and a head size limit."""


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed
        return None
    return HttpToolsProtocol


_HTTPTOOLS = _httptools_protocol()
if _HTTPTOOLS is not None:

    class GuardedHttpToolsProtocol(_HeadGuard, _HTTPTOOLS):  # type: ignore[valid-type,misc]
        """uvicorn's httptools protocol with a header read deadline and a head size limit."""


def guarded_protocol() -> type[asyncio.Protocol]:
    """The fastest guarded protocol available (httptools, else h11)."""
    if _HTTPTOOLS is not None:
        return GuardedHttpToolsProtocol
    return GuardedH11Protocol


def server_options(settings: BifrostSettings) -> dict[str, Any]:
    """uvicorn options for the connection limits in ``settings.client``."""
    client = settings.client
    return {
        "http": guarded_protocol(),
        "timeout_keep_alive": client.keep_alive_timeout_seconds,
        "limit_concurrency": client.max_connections,
        "h11_max_incomplete_event_size": int(client.max_header_size_kb * 1024),
        "header_read_timeout": client.header_read_timeout_seconds,
    }


def raise_open_file_limit() -> tuple[int, int] | None:
    """Lift the soft ``RLIMIT_NOFILE`` to the hard limit; returns (old soft, new soft) when raised."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return None
    return soft, target
