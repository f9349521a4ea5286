"""The one error hierarchy. Every failure a client can see is a ``GatewayError``; dialects render it.

::

    GatewayError                      status  kind              retryable  fallbacks
    ├── InvalidRequestError           400     invalid_request   no         no
    │   └── UnsupportedFeatureError   400     invalid_request   no         no   (cannot translate)
    ├── AuthenticationError           401     authentication    no         no
    ├── PermissionDeniedError         403     permission        no         no
    ├── NotFoundError                 404     not_found         no         no
    ├── RequestTooLargeError          413     request_too_large no         no
    ├── BudgetExceededError           402     permission        no         yes  (a governance budget)
    ├── RateLimitedError              429     rate_limit        yes        yes
    │   └── QueueFullError            429     rate_limit        no         yes
    ├── ServiceUnavailableError       503     overloaded        no         no   (gateway shutting down)
    ├── NoUsableKeyError              400/401 invalid_request   no         yes  (no key allows the model)
    └── UpstreamError                 any     from status       5xx/429    yes  (an upstream answered with an error)
        ├── UpstreamConnectionError   502     api_error         yes        yes
        ├── UpstreamTimeoutError      504     timeout           yes        yes
        └── UpstreamProtocolError     502     api_error         no         yes  (unparseable upstream answer)

``ConfigError`` is separate: it is raised at start-up, never sent to a client.

``kind`` is the dialect-neutral error class; each dialect maps it to its own ``type``/``status``
strings. Messages never contain key values: build them from names, not secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "overloaded",
    "timeout",
    "api_error",
]

_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    402: "permission",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    503: "overloaded",
    529: "overloaded",
    504: "timeout",
}


def kind_for_status(status: int) -> ErrorKind:
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return "invalid_request" if 400 <= status < 500 else "api_error"


class GatewayError(Exception):
    status: int = 500
    kind: ErrorKind = "api_error"
    retryable: bool = False
    allow_fallbacks: bool = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: ErrorKind | None = None,
        param: str | None = None,
        code: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.param = param
        self.code = code
        self.provider = provider
        self.model = model
        self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class InvalidRequestError(GatewayError):
    status = 400
    kind: ErrorKind = "invalid_request"
    allow_fallbacks = False


class UnsupportedFeatureError(InvalidRequestError):
    """The request uses something the target provider's format cannot express."""


class AuthenticationError(GatewayError):
    status = 401
    kind: ErrorKind = "authentication"
    allow_fallbacks = False


class PermissionDeniedError(GatewayError):
    status = 403
    kind: ErrorKind = "permission"
    allow_fallbacks = False


class NotFoundError(GatewayError):
    status = 404
    kind: ErrorKind = "not_found"
    allow_fallbacks = False


class BudgetExceededError(GatewayError):
    """A governance budget has no room for the request (402: SDKs do not retry it)."""

    status = 402
    kind: ErrorKind = "permission"
    allow_fallbacks = True


class RequestTooLargeError(GatewayError):
    status = 413
    kind: ErrorKind = "request_too_large"
    allow_fallbacks = False


class RateLimitedError(GatewayError):
    status = 429
    kind: ErrorKind = "rate_limit"
    retryable = True


class QueueFullError(RateLimitedError):
    retryable = False


class ServiceUnavailableError(GatewayError):
    status = 503
    kind: ErrorKind = "overloaded"
    allow_fallbacks = False


class UpstreamError(GatewayError):
    """An upstream answered with an error status. ``raw_body``/``raw_format`` keep its body so a
    client speaking the same format can get it verbatim."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        raw_body: bytes | None = None,
        raw_format: str | None = None,
        upstream_type: str | None = None,
        **kwargs: object,
    ) -> None:
        kind = kwargs.pop("kind", None) or kind_for_status(status)
        super().__init__(message, status=status, kind=kind, **kwargs)  # type: ignore[arg-type]
        self.raw_body = raw_body
        self.raw_format = raw_format
        self.upstream_type = upstream_type
        self.retryable = status in RETRYABLE_STATUSES
        # The provider failed (overloaded, rate-limited, bad credentials): another provider may
        # serve the request. A 4xx about the request itself is the client's to fix.
        self.allow_fallbacks = status >= 500 or status in (401, 402, 403, 408, 429)

    @property
    def key_failure(self) -> bool:
        """The key itself failed (rate-limited, revoked, out of quota): try the provider's other keys."""
        return self.status in (401, 402, 403, 429)


class UpstreamConnectionError(UpstreamError):
    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, status=502, kind="api_error", **kwargs)  # type: ignore[arg-type]
        self.retryable = True


class UpstreamTimeoutError(UpstreamError):
    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, status=504, kind="timeout", **kwargs)  # type: ignore[arg-type]
        self.retryable = True


class UpstreamProtocolError(UpstreamError):
    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, status=502, kind="api_error", **kwargs)  # type: ignore[arg-type]
        self.retryable = False


class NoUsableKeyError(GatewayError):
    """No configured key of the provider may serve the model (or none has a value)."""

    status = 400
    kind: ErrorKind = "invalid_request"
    allow_fallbacks = True


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


class ConfigError(ValueError):
    """Bad configuration, found at start-up. The message names the source, the field and the fix."""


def drop_tracebacks(exc: BaseException) -> None:
    """Forget the tracebacks of ``exc`` and of the exceptions it holds (its cause and context, an
    OS error an exception carries as ``os_error``), once it is an answer rather than a crash.

    A traceback holds the frames it went through; a frame that holds the exception (in a local,
    or through an object that keeps it) makes a cycle that only the cycle collector frees, and the
    gateway's collections are rare and so long (a young generation of 50,000 objects): a pause of
    tens of milliseconds in the middle of some request. A gateway error is rendered to the client
    by its message; its frames are not needed once it is."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 16:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        current.__traceback__ = None
        pending += (current.__cause__, current.__context__, getattr(current, "os_error", None))
