"""Browsers cannot spend the provider keys.

* Inference routes take JSON bodies only (``json_body_error``): a cross-site HTML form or a
  ``text/plain`` fetch, which a browser sends without asking the server first, gets 415 and never
  reaches a provider. Forwarded routes (multipart uploads, binary passthrough) take other bodies
  only from requests a form cannot make (``preflighted``: a credentials header). (A JSON request
  from another site needs a CORS preflight, refused below.)
* CORS follows ``client.allowed_origins`` (none by default): allowed origins get their preflight
  answered and ``access-control-allow-origin`` on replies; other origins' preflights get 403.
* When the CLI binds a loopback address, a request whose ``Host`` is not a loopback name is
  refused (403): a DNS-rebinding page cannot talk to the gateway on the user's machine.

``BrowserPolicy`` runs only when one of the last two is configured; the content-type check is one
header lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .. import _json
from ..errors import GatewayError

if TYPE_CHECKING:  # the CLI imports is_loopback_host without loading Starlette
    from starlette.types import Message, Receive, Scope, Send

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_DEFAULT_HEADERS = (
    "authorization", "content-type", "x-api-key", "x-goog-api-key", "api-key", "x-bf-vk",
    "anthropic-version", "anthropic-beta", "x-stainless-os", "x-stainless-lang", "x-stainless-arch",
    "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-package-version",
    "x-stainless-retry-count", "x-stainless-timeout", "x-goog-api-client", "openai-organization",
    "openai-project", "user-agent",
)  # fmt: skip


#: Host header values whose loopback verdict a policy remembers (clients choose them: bounded).
HOSTS_REMEMBERED = 256

_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "x-bf-vk")


def preflighted(headers: Mapping[str, str]) -> bool:
    """The request carries a credentials header that no HTML form can set: a browser sends it only
    after a CORS preflight (refused unless the origin is allowed). Forwarded routes that take
    multipart or binary bodies (files, images, audio, passthrough) accept any body on that basis."""
    return any(name in headers for name in _CREDENTIAL_HEADERS)


def json_body_error(content_type: str | None) -> GatewayError | None:
    """415 unless the body is declared JSON (``application/json``, ``+json``) or not declared at all."""
    if content_type is None or content_type == "application/json":  # the common case, decided at once
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    error = GatewayError(
        f"unsupported content type {media or 'empty'!r}: inference routes take JSON bodies "
        "(send content-type: application/json)",
        status=415,
        kind="invalid_request",
        code="unsupported_media_type",
    )
    error.allow_fallbacks = False
    return error


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost``, ``127.x.x.x`` or ``[::1]``, with or without a port."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[: name.find("]") + 1] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class BrowserPolicy:
    def __init__(self, *, allowed_origins: Sequence[str], allowed_headers: Sequence[str], loopback_only: bool) -> None:
        self.any_origin = "*" in allowed_origins
        self.origins = frozenset(o.rstrip("/").lower() for o in allowed_origins if o != "*")
        headers = {h.lower() for h in (*_DEFAULT_HEADERS, *allowed_headers)}
        self.allow_headers = ", ".join(sorted(headers))
        self.loopback_only = loopback_only
        # ``is_loopback_host`` of each Host header value seen (raw bytes), bounded: a client
        # names the same host on every request, and the parse cost more than the lookup.
        self._loopback: dict[bytes, bool] = {}

    def loopback(self, host: bytes) -> bool:
        """``is_loopback_host`` of a raw ``Host`` header value, remembered for the next request."""
        known = self._loopback.get(host)
        if known is None:
            known = is_loopback_host(host.decode("latin-1"))
            if len(self._loopback) < HOSTS_REMEMBERED:
                self._loopback[host] = known
        return known

    @property
    def active(self) -> bool:
        return self.loopback_only or self.any_origin or bool(self.origins)

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.origins

    def passes(self, scope: Scope) -> bool:
        """True when ``handle`` would hand back ``send`` as it is (no Origin to answer or to add
        CORS headers for, and a loopback Host where one is required): the common request is
        decided without the coroutine."""
        host = b""
        for name, value in scope["headers"]:
            if name == b"origin":
                return False
            if name == b"host":
                host = value
        return not self.loopback_only or self.loopback(host)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Send | None:
        """The ``send`` to answer with (CORS headers added), or None when this answered already."""
        headers = {k: v for k, v in scope["headers"] if k in (b"host", b"origin", b"access-control-request-method")}
        if self.loopback_only and not self.loopback(headers.get(b"host", b"")):
            await _answer(send, 403, "requests to this gateway must name a loopback host (it is bound to loopback)")
            return None
        raw_origin = headers.get(b"origin")
        if raw_origin is None:
            return send
        origin = raw_origin.decode("latin-1")
        allowed = self._allowed(origin)
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            if not allowed:
                await _answer(send, 403, "this origin is not in client.allowed_origins")
                return None
            await send({"type": "http.response.start", "status": 204, "headers": [
                *self._cors(origin),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", self.allow_headers.encode()),
                (b"access-control-max-age", b"600"),
            ]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return None
        if not allowed:
            return send

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self._cors(origin)]}
            await send(message)

        return with_cors

    def _cors(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", b"*" if self.any_origin else origin.encode("latin-1")),
            (b"access-control-expose-headers", b"x-request-id, retry-after, x-ratelimit-remaining-requests"),
            (b"vary", b"origin"),
        ]


async def _answer(send: Send, status: int, message: str) -> None:
    body = _json.dumps({"error": {"message": message, "type": "permission_error", "code": "forbidden"}})
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
