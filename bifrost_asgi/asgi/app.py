"""``bifrost_app()``: the gateway as a Starlette application, standalone or mounted.

Routes come from the dialects (plain ``RouteSpec`` data). Each route is a small ASGI endpoint that
reads the body (bounded), hands it to ``Gateway.handle`` and writes the reply; streams are pumped
while watching for the client's disconnect, which closes the upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..config.settings import BifrostSettings
from ..dialects.anthropic import AnthropicDialect
from ..dialects.base import Call, Dialect, RouteSpec
from ..dialects.bedrock import BedrockDialect
from ..dialects.genai import GenAIDialect
from ..dialects.openai import OpenAIDialect
from ..errors import GatewayError, InvalidRequestError, NotFoundError, RequestTooLargeError, ServiceUnavailableError
from ..gateway import Gateway, _Exchange
from ..governance.api import GovernanceApi
from ..observability.metrics import render_metrics
from ..replies import JsonReply, Reply, StreamReply
from ..responses import ResponsesDialect
from .browser import BrowserPolicy, json_body_error, preflighted
from .disconnect import ClientWatch, LoopWatches
from .headers import HeaderNames
from .mounts import AZURE_DEFAULT, MOUNTS, dialect_for_path, passthrough_mounts, sniff_dialect
from .route_index import TemplatedRoutes

if TYPE_CHECKING:
    from ..upstream._http import httpx

logger = logging.getLogger("bifrost_asgi")

_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class _Endpoint:
    """One dialect route as a raw ASGI app (no per-request Request/Response objects)."""

    def __init__(
        self,
        gateway: Gateway,
        dialect: Dialect,
        spec: RouteSpec,
        route: str,
        default_provider: str | None,
        watches: LoopWatches | None = None,
    ) -> None:
        self.gateway = gateway
        self.watches = watches if watches is not None else LoopWatches()
        self.dialect = dialect
        self.spec = spec
        self.route = route
        self.default_provider = default_provider
        self.streamed = "stream_body" in spec.options  # the body goes upstream as it arrives
        self.header_names = HeaderNames()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self.header_names.decode(scope["headers"])
        gateway = self.gateway
        method = scope["method"]
        if self.streamed:
            await self._streamed(scope, receive, send, headers)
            return
        try:
            refused = json_body_error(headers.get("content-type")) if method != "GET" else None
            if refused is not None and not (self.spec.operation == "forward" and preflighted(headers)):
                raise refused
            body = await _read_body(receive, headers, gateway.max_body_bytes) if method != "GET" else b""
        except GatewayError as exc:
            refused = None  # it is ``exc``, whose traceback holds this frame: no cycle through the local
            reply: Reply = gateway.error_reply(self.dialect, exc, route=self.route, method=method, headers=headers)
        else:
            query = scope.get("query_string", b"")
            call = Call(
                path_params=scope.get("path_params", {}),
                query=dict(parse_qsl(query.decode("latin-1"))) if query else {},
                headers=headers,
                options=self.spec.options,
                default_provider=self.default_provider,
            )
            # The client is watched while the flow runs in this task (see ClientWatch).
            watch = ClientWatch(receive, self.watches)
            try:
                handled = await gateway.respond(
                    self.dialect, self.spec.operation, call, body, route=self.route, method=method
                )
            except asyncio.CancelledError:
                watch.end()
                if not watch.stopped():  # cancelled more than once: let it through
                    raise
                if watch.gone:
                    return  # the client left: its request was cancelled wherever it was (queue, upstream)
                handled = (self._stopped_reply(method, headers), None)  # the server stopped it
            except BaseException:
                watch.end()
                raise
            else:
                watch.end()
                if watch.left():  # just as the reply was ready: released unsent
                    await self._drop(handled)
                    return
            reply, pending = handled
            if not isinstance(reply, StreamReply):
                try:
                    await _send_json(reply, send)
                finally:
                    if pending is not None:  # its accounting, once the reply is written
                        gateway.finish(pending)
                return
        if isinstance(reply, StreamReply):
            await _send_stream(reply, receive, send, gateway.settings.client.stream_write_timeout_seconds)
        else:
            await _send_json(reply, send)

    def _stopped_reply(self, method: str, headers: Mapping[str, str]) -> JsonReply:
        return self.gateway.error_reply(self.dialect, _stopped(), route=self.route, method=method, headers=headers)

    async def _drop(self, handled: tuple[Reply, _Exchange | None]) -> None:
        """A reply ready just as its client left: released unsent (a stream closed, the rest finished)."""
        reply, pending = handled
        if isinstance(reply, StreamReply):
            await reply.chunks.aclose()
        if pending is not None:
            self.gateway.finish(pending)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        """A route whose body goes upstream as it arrives (GenAI upload chunks), read by the upstream
        call itself: a client leaving mid-body fails that read (no disconnect watcher beside it)."""
        gateway = self.gateway
        refused = json_body_error(headers.get("content-type"))
        if refused is not None and not preflighted(headers):
            error = gateway.error_reply(self.dialect, refused, route=self.route, method=scope["method"],
                                        headers=headers)  # fmt: skip
            await _send_json(error, send)
            return
        query = scope.get("query_string", b"")
        call = Call(
            path_params=scope.get("path_params", {}),
            query=dict(parse_qsl(query.decode("latin-1"))) if query else {},
            headers=headers,
            options=self.spec.options,
            default_provider=self.default_provider,
            body_stream=_body_chunks(receive, headers, gateway.max_body_bytes),
            public_url=_public_url(scope, headers),
        )
        reply = await gateway.handle(self.dialect, self.spec.operation, call, b"", route=self.route,
                                     method=scope["method"])  # fmt: skip
        if isinstance(reply, StreamReply):
            await _send_stream(reply, receive, send, gateway.settings.client.stream_write_timeout_seconds)
        else:
            await _send_json(reply, send)


def _public_url(scope: Scope, headers: Mapping[str, str]) -> str:
    """``scheme://host/root/path`` of the request as the client sent it (``Host`` as given)."""
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root and not path.startswith(root):
        path = root + path
    return f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}{path}"


def _stopped() -> ServiceUnavailableError:
    return ServiceUnavailableError("the gateway shut down before the upstream answered; retry on another instance")


async def _read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise InvalidRequestError("client disconnected while sending the body")
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the whole body in one message: the common case
        if len(first) > limit:
            raise _too_large(limit)
        return first
    chunks: list[bytes] = [first] if first else []
    size = len(first)
    if size > limit:
        raise _too_large(limit)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequestError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _body_chunks(receive: Receive, headers: Mapping[str, str], limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, counted against ``limit``."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequestError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            yield chunk
        if not message.get("more_body", False):
            return


def _too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"request body exceeds the limit of {limit} bytes (raise client.max_request_body_size_mb to allow more)",
        code="request_too_large",
    )


def _raw_headers(headers: Mapping[str, str], media_type: str) -> list[tuple[bytes, bytes]]:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.insert(0, (b"content-type", _JSON if media_type == "application/json" else media_type.encode()))
    return raw


_JSON = b"application/json"


async def _send_json(reply: JsonReply, send: Send) -> None:
    body = reply.body
    headers = _raw_headers(reply.headers, reply.media_type)
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _end_stopped_stream(reply: StreamReply, send: Send) -> None:
    """The server cancelled a stream (shutdown past its grace period): send the client the error
    event of its format and end the body properly, instead of a cut chunked body and a
    ``CancelledError`` traceback in the log."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    assert reply.abort is not None
    with contextlib.suppress(OSError, RuntimeError):  # the client may be gone too
        await send({"type": "http.response.body", "body": reply.abort(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_stream(reply: StreamReply, receive: Receive, send: Send, write_timeout: float) -> None:
    """Pump ``reply`` to the client while watching for its disconnect. A client that stops reading
    (each send blocks once the socket buffer is full) for ``write_timeout`` seconds is treated as
    gone: the stream ends and its provider slot is freed."""
    chunks = reply.chunks
    headers = _raw_headers({**_STREAM_HEADERS, **reply.headers}, reply.media_type)
    watchdog = _WriteWatchdog(write_timeout)

    async def pump() -> None:
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        now = watchdog.clock
        async for chunk in chunks:
            watchdog.since = now()  # a send under way since now (two attribute writes, not two calls a chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            watchdog.since = None
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(watch())
    watchdog.start(pumping)
    stopped = False
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server stops (its grace period is over), not the client
        stopped = reply.abort is not None and not pumping.done() and not watching.done()
        if not stopped:
            raise
    finally:
        watchdog.stop()
        for task in (pumping, watching):
            task.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
        await chunks.aclose()
    if stopped:
        await _end_stopped_stream(reply, send)
        return
    if watchdog.fired:
        logger.info("client stopped reading for %gs: stream ended (client.stream_write_timeout_seconds)",
                    write_timeout)  # fmt: skip
    elif pumping.done() and not pumping.cancelled() and (error := pumping.exception()) is not None:
        raise error


class _WriteWatchdog:
    """Cancels the pump once one ``send`` has been blocked for ``seconds``: one timer for the whole
    stream, re-armed only when it fires, instead of a timeout scope (a timer set and cancelled) per
    chunk. It fires exactly when a send has waited ``seconds``: when a send is under way it re-arms
    for that send's deadline, otherwise a full period ahead (a send starting meanwhile is younger).
    The pump marks each send itself: ``since = clock()`` before it, ``since = None`` after it."""

    __slots__ = ("_handle", "_loop", "_seconds", "_task", "clock", "fired", "since")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self.clock = self._loop.time
        self.since: float | None = None  # when the send under way started (None: none is)
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self.fired = False

    def start(self, task: asyncio.Future[None]) -> None:
        self._task = task
        self._handle = self._loop.call_later(self._seconds, self._check)

    def stop(self) -> None:
        # The task forgotten too: a cancelled pump keeps its CancelledError, whose traceback holds
        # the pump's frame, which holds this watchdog; holding the task would close a cycle.
        self._task = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        since, now = self.since, self._loop.time()
        if since is not None and now - since >= self._seconds:
            self.fired = True
            self._handle = None
            if self._task is not None:
                self._task.cancel()
            return
        self._handle = self._loop.call_at((since if since is not None else now) + self._seconds, self._check)


class _GatewayApp(Starlette):
    """Starlette, with the gateway's fixed paths looked up in a dict before the router walks its
    regex list: the inference routes are the hot path, and a walk over ~60 routes plus two
    exception middlewares cost more than parsing the request body. Templated dialect paths (Gemini
    models, file and batch ids) are found through ``TemplatedRoutes``; everything else (/metrics,
    404s and 405s, lifespan) goes through Starlette as usual."""

    fast_routes: dict[tuple[str, str], _Endpoint | _Sniffing]
    #: The templated routes by literal prefix (the Gemini model paths, file and batch ids).
    templated: TemplatedRoutes | None = None
    #: CORS and the loopback Host check (None when neither is configured).
    browser: BrowserPolicy | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.browser is not None and not self.browser.passes(scope):
                answered = await self.browser.handle(scope, receive, send)
                if answered is None:
                    return
                send = answered
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            endpoint = self.fast_routes.get((scope["method"], path))
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
            found = self.templated.match(scope, path) if self.templated is not None else None
            if found is not None and isinstance(found[0].endpoint, (_Endpoint, _Sniffing)):
                scope["app"] = self
                scope.update(found[1])
                await found[0].endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _shape(path: str) -> str:
    """A route path with its parameters unnamed: ``/v1/models/{model_id:path}`` (OpenAI),
    ``/v1/models/{model_id}`` (Anthropic) and ``/v1/models/{model:path}`` (GenAI) are one path."""
    return _PARAM.sub("{}", path)


class _Sniffing:
    """A path two dialects share under an integration prefix: the request's headers choose. The
    route matched with the first dialect's parameter names; the chosen one gets its own names."""

    def __init__(self, endpoints: Mapping[str, _Endpoint]) -> None:
        self.endpoints = endpoints
        self.params = {name: tuple(_PARAM.findall(e.route)) for name, e in endpoints.items()}
        self.header_names = HeaderNames()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self.header_names.decode(scope["headers"])
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        name = sniff_dialect(headers, query)
        if name not in self.endpoints:
            name = "openai"
        given: Mapping[str, Any] = scope.get("path_params") or {}
        names = self.params[name]
        if given and tuple(given) != names:
            scope = {**scope, "path_params": dict(zip(names, given.values(), strict=True))}
        await self.endpoints[name](scope, receive, send)


def _paths(prefix: str, name: str, spec: RouteSpec) -> list[str]:
    """The OpenAI SDK's base URL may or may not end in /v1: its routes are served without it too,
    at the root as well (so an app mounted at /openai serves base_url ``.../openai``)."""
    paths = [prefix + spec.path]
    if name in ("openai", "responses") and spec.path.startswith("/v1/"):
        paths.append(prefix + spec.path[3:])
    return paths


def _routes(gateway: Gateway) -> list[BaseRoute]:
    dialects: dict[str, Dialect] = {
        "openai": OpenAIDialect(),
        "anthropic": AnthropicDialect(),
        "gemini": GenAIDialect(),
        "responses": ResponsesDialect(),
        "bedrock": BedrockDialect(),
    }
    # (method, path) -> {dialect: endpoint}, in registration order; paths that differ only in
    # their parameters' names are one route (the first path registered), sniffed between dialects.
    # Every mount's own routes come first (the inference routes, matched earliest), then the
    # forwarded calls; both from the one MOUNTS list, so no prefix can miss a route.
    table: dict[tuple[str, str], dict[str, _Endpoint]] = {}
    shapes: dict[tuple[str, str], str] = {}
    watches = LoopWatches()  # one disconnect-watch timer per event loop for every route

    def add(prefix: str, name: str, default: str | None, spec: RouteSpec) -> None:
        for path in _paths(prefix, name, spec):
            first = shapes.setdefault((spec.method, _shape(path)), path)
            served = table.setdefault((spec.method, first), {})
            served.setdefault(name, _Endpoint(gateway, dialects[name], spec, path, default, watches))

    azure_default = "azure" if "azure" in gateway.settings.providers else "openai"
    for mount in MOUNTS:
        for spec in dialects[mount.dialect].routes if mount.own else ():
            add(mount.prefix, mount.dialect, mount.default, spec)
    execute = RouteSpec("POST", "/v1/mcp/tool/execute", "mcp_execute")
    executes = _Endpoint(gateway, dialects["openai"], execute, execute.path, None, watches)
    table[("POST", execute.path)] = {"openai": executes}
    for mount in MOUNTS:
        default = azure_default if mount.default == AZURE_DEFAULT else mount.default
        for spec in mount.forwarded:
            add(mount.prefix, mount.dialect, default, spec)
    for prefix, vendor, spec in passthrough_mounts():
        add(prefix, vendor, vendor, spec)
    routes: list[BaseRoute] = []
    for (method, path), served in table.items():
        endpoint: Any = next(iter(served.values())) if len(served) == 1 else _Sniffing(served)
        routes.append(Route(path, endpoint, methods=[method], include_in_schema=False))
    return routes


def _ops_routes(gateway: Gateway) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        status, body = gateway.health(verbose=False)
        return JSONResponse(body, status_code=status)

    def refused(request: Request) -> Response | None:
        if gateway.operations_allowed(request.headers.get("authorization")):
            return None
        error = GatewayError("this endpoint needs 'Authorization: Bearer <client.operations_token>'", status=401)
        error.kind = "authentication"
        rendered = OpenAIDialect().render_error(error)
        headers = {"www-authenticate": "Bearer"}
        return Response(rendered.body, status_code=401, media_type="application/json", headers=headers)

    async def ready(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        status, body = gateway.health(verbose=True)
        return JSONResponse(body, status_code=status)

    async def metrics(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        # the usage gauges of every answer already sent (a slow store delays a scrape by 1 s at most)
        await gateway.governance.drain(timeout=1.0)
        body, content_type = render_metrics(gateway.registry)
        return Response(body, media_type=content_type)

    return [
        *_admin_routes(gateway),
        Route("/mcp", _MCPEndpoint(gateway), methods=["GET", "POST", "DELETE"]),
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


class _MCPEndpoint:
    """``/mcp``: the gateway's MCP server (streamable HTTP), behind the gateway's own auth."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.dialect = OpenAIDialect()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"")
        try:
            await self.gateway.serve_mcp(
                scope, receive, send, headers, dict(parse_qsl(query.decode("latin-1"))) if query else {}
            )
        except GatewayError as exc:
            reply = self.gateway.error_reply(self.dialect, exc, route="/mcp", method=scope["method"], headers=headers)
            await _send_json(reply, send)


_ERROR_DIALECTS: Mapping[str, Dialect] = {
    "openai": OpenAIDialect(),
    "anthropic": AnthropicDialect(),
    "gemini": GenAIDialect(),
    "bedrock": BedrockDialect(),
}


def _route_error(method: str, path: str, status: int) -> GatewayError:
    last = path.rsplit("/", 1)[-1]
    if ":" in last and "/models/" in path:  # /v1beta/models/gemini-x:unknownMethod
        verb = last.rsplit(":", 1)[1]
        return NotFoundError(f"method ':{verb}' is not supported on models (POST {path})")
    if status == 405:
        error = GatewayError(f"method {method} is not allowed on {path}", status=405)
        error.kind = "invalid_request"
        return error
    return NotFoundError(_not_found_message(method, path))


_SERVED_OPENAI = (
    "chat/completions, completions, embeddings, models, responses, files, batches, images, audio"
)


def _not_found_message(method: str, path: str) -> str:
    """Unknown paths; an OpenAI API path (``.../v1/...``) is named as an unsupported endpoint."""
    if "/v1/" in path and "/anthropic/" not in path and "/genai/" not in path:
        endpoint = path[path.index("/v1/") :]
        return (
            f"route not found: {method} {path}: the OpenAI endpoint {method} {endpoint} is not supported "
            f"by this gateway (it serves {_SERVED_OPENAI})"
        )
    return f"route not found: {method} {path}"


def _admin_routes(gateway: Gateway) -> list[BaseRoute]:
    """``/api/governance/...`` when an admin token is configured (``Authorization: Bearer <token>``)."""
    settings = gateway.settings
    token = settings.client.admin_token or settings.admin_token
    if token is None:
        return []
    expected = token.get_secret_value().encode()
    api = GovernanceApi(gateway.governance, settings.providers, settings.version)

    async def governance_api(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip().encode() if auth[:7].lower() == "bearer " else b""
        if not hmac.compare_digest(given, expected):
            error = {"error": {"message": "the management API needs Authorization: Bearer <client.admin_token>",
                               "type": "authentication_error"}}  # fmt: skip
            return JSONResponse(error, status_code=401)
        try:
            status, body = await api.handle(request.method, request.path_params["path"], await request.body())
        except GatewayError as exc:  # the store is unreachable
            return JSONResponse({"error": {"message": exc.message, "type": "server_error"}}, status_code=exc.status)
        return JSONResponse(body, status_code=status)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [Route("/api/governance/{path:path}", governance_api, methods=methods)]


def _error_handlers() -> dict[Any, Any]:
    async def not_found(request: Request, exc: Exception) -> Response:
        path: str = request.scope["path"]
        root: str = request.scope.get("root_path", "")
        relative = path[len(root) :] if root and path.startswith(root) else path
        error = _route_error(request.method, path, getattr(exc, "status_code", 404))
        rendered = _ERROR_DIALECTS[dialect_for_path(relative)].render_error(error)
        return Response(rendered.body, status_code=rendered.status, media_type="application/json")

    return {404: not_found, 405: not_found}


def bifrost_app(
    settings: BifrostSettings | None = None,
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    registry: CollectorRegistry | None = None,
) -> Starlette:
    """The gateway as an ASGI app.

    ``settings`` or ``config`` (a config.json path or a dict in that shape) configure it; without
    either, the same ``BIFROST_*`` settings as the command apply (``BIFROST_DEMO=1``,
    ``BIFROST_CONFIG``, ``BIFROST_APP_DIR``, overrides, providers detected from vendor keys).
    ``transport`` is an httpx-style async transport for upstream calls (tests, proxies);
    ``registry`` a prometheus ``CollectorRegistry`` (default: a new one).
    Works mounted (no lifespan needed); when a lifespan runs, shutdown drains and closes clients.
    The gateway object is at ``app.state.gateway``.
    """
    if settings is None:
        from ..config.loading import settings_from_environment

        settings = settings_from_environment(config)
    elif config is not None:
        raise TypeError("pass either settings or config, not both")
    gateway = Gateway(settings, transport=transport, registry=registry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gateway.lifespan(app):
            yield

    routes = _routes(gateway)
    app = _GatewayApp(routes=[*_ops_routes(gateway), *routes], exception_handlers=_error_handlers(), lifespan=lifespan)
    app.fast_routes = {
        (method, route.path): route.endpoint
        for route in routes
        if isinstance(route, Route) and isinstance(route.endpoint, (_Endpoint, _Sniffing)) and "{" not in route.path
        for method in route.methods or ()
        if method != "HEAD"
    }
    app.templated = TemplatedRoutes(app.router.routes)
    app.state.gateway = gateway
    policy = _browser_policy(settings, loopback_only=False)
    app.browser = policy if policy.active else None
    return app


def _browser_policy(settings: BifrostSettings, *, loopback_only: bool) -> BrowserPolicy:
    client = settings.client
    return BrowserPolicy(
        allowed_origins=client.allowed_origins, allowed_headers=client.allowed_headers, loopback_only=loopback_only
    )


def refuse_non_loopback_hosts(app: Starlette) -> None:
    """For a server bound to loopback: refuse requests whose ``Host`` is not a loopback name (DNS
    rebinding). The CLI calls this; an app mounted elsewhere does not know its bind address."""
    if isinstance(app, _GatewayApp):
        app.browser = _browser_policy(app.state.gateway.settings, loopback_only=True)


create_app = bifrost_app
