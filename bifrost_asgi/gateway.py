"""The composition root: settings, providers, queues, the upstream seam, the router, metrics and
the request log, plus the one-way flow every route runs (parse -> route -> render).

No Starlette here: ``app.py`` adapts HTTP to ``Gateway.handle`` and ``Reply`` back to HTTP.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from prometheus_client import CollectorRegistry

from . import _json
from .config.settings import BifrostSettings, KeyConfig
from .dialects.base import Call, Dialect, Operation, StreamRenderer
from .dialects.validate import check_depth, check_model_names
from .errors import (
    ConfigError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
    drop_tracebacks,
)
from .forwarding.labels import KIND_LABELS, call_label
from .forwarding.routes import ForwardSpec
from .forwarding.service import Forwarder, Inbound, genai_file_ids
from .genai_media import MODALITIES, GenAIMedia
from .governance.admission import Estimate
from .governance.setup import build_governance
from .neutral import (
    CONTENT_EVENTS,
    ChatRequest,
    ChatResponse,
    ContentRun,
    Passthrough,
    StreamEvent,
    StreamFailure,
    UsageUpdate,
)
from .observability.log_output import ensure_log_output
from .observability.metrics import Metrics, multiprocess_enabled
from .observability.request_log import Redactor, RequestLogger, RequestRecord, SecretRedactingFilter, request_id_from
from .providers.registry import create_provider
from .replies import JsonReply, RelayChunks, Reply, StreamReply
from .responses import Conversations, ResponsesService
from .routing.cooldown import Cooldowns
from .routing.plan import NO_PROVIDERS_FIX, Planner, Target
from .routing.queues import ProviderQueue
from .routing.router import ChatEvents, EventStream, ModelListing, ProviderRuntime, RequestContext, Router
from .store import KeyValueStore, open_store
from .upstream.base import SchemeUpstream, Upstream
from .upstream.limits import BodyLimits
from .upstream.mock import MockUpstream

if TYPE_CHECKING:
    from .mcp.agent import AgentRun
    from .mcp.runtime import MCPRuntime, Offer
    from .upstream._http import httpx

logger = logging.getLogger("bifrost_asgi")

TIMEOUT_HEADER = "x-bf-request-timeout"


@dataclass(slots=True)
class _Exchange:
    """What one request reports when it ends (metrics + log line)."""

    route: str
    method: str
    dialect: str
    started: float
    ctx: RequestContext
    stream: bool = False
    status: int = 200
    error: str | None = None
    model: str = ""
    # Set when the request is concluded (``Gateway._conclude``): what its metrics report.
    duration: float = 0.0
    labels: tuple[str, str] = ("unknown", "unknown")  # provider, model


class Gateway:
    def __init__(
        self,
        settings: BifrostSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        registry: CollectorRegistry | None = None,
        upstream: Upstream | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        store: KeyValueStore | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.metrics = Metrics(
            self.registry, custom_labels=settings.client.prometheus_labels, served_models_only=True
        )
        self.clock = clock
        self._rng = rng or random.Random()
        self.closing = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Streams being relayed (by id): shutdown ends the ones that outlive the grace period.
        self._streams: dict[int, ChatEvents] = {}
        self._aborting = False
        self._used = False  # the first request sets up log output and warns about an empty config
        self.max_body_bytes = int(settings.client.max_request_body_size_mb * 1024 * 1024)
        # A reply's metrics are counted after it is written, except when a scrape may be served by
        # another worker process (multiprocess metrics): then before, as the log line always is.
        self._defer_finish = not multiprocess_enabled()
        providers = self._provider_runtimes(settings)
        self._register_models(settings)
        self.upstream = upstream or self._default_upstream(settings, transport)
        secrets = _secret_values(settings)
        # Upstream error bodies reach clients (verbatim when same-format): mask echoed key values.
        self._scrub = Redactor(secrets, patterns=False)
        self.cooldowns = Cooldowns(
            threshold=settings.routing.cooldown_failures, seconds=settings.routing.cooldown_seconds, clock=clock
        )
        self.router = Router(
            providers,
            Planner(settings.providers, settings.routing),
            self.upstream,
            self.cooldowns,
            self.metrics,
            rng=self._rng,
            clock=clock,
            scrub=self._scrub.mask.mask_bytes,
            max_event_bytes=int(settings.client.max_stream_event_size_mb * 1024 * 1024),
        )
        self.request_log = RequestLogger(
            logging.getLogger("bifrost_asgi.requests"),
            json=settings.client.log_json,
            log_content=settings.client.log_content,
        )
        # Shared state (governance counters, stored responses): Redis when ``redis_url`` is set.
        self.store: KeyValueStore = store if store is not None else open_store(
            settings.redis_url.get_secret_value() if settings.redis_url else None, clock=clock
        )
        self.responses = ResponsesService(
            Conversations(self.store, ttl_seconds=settings.client.responses_ttl_seconds), ids=self._new_item_id
        )
        self._required_headers = tuple(h.lower() for h in settings.client.required_headers)
        self.governance, self._governance_store = build_governance(
            settings, self.store, self.registry, clock=clock
        )
        self.mcp = _mcp_runtime(settings, self.registry, clock)
        # Files, batches, images, audio, passthrough: same-vendor, object ids remembered in the store.
        self.forwarder = Forwarder(self.router, self.router.planner, self.store, self.governance)
        self.genai_media = GenAIMedia(self.router)
        self._install_redaction(secrets)

    def _provider_runtimes(self, settings: BifrostSettings) -> dict[str, ProviderRuntime]:
        """One runtime (implementation + queue) per configured provider; every queue gauge starts at 0."""
        providers = {
            name: ProviderRuntime(
                name=name,
                config=config,
                impl=create_provider(name, config),
                queue=ProviderQueue(
                    name,
                    concurrency=config.concurrency_and_buffer_size.concurrency,
                    buffer_size=config.concurrency_and_buffer_size.buffer_size,
                    drop_excess=settings.client.drop_excess_requests,
                    on_depth=self.metrics.set_queue_depth,
                ),
            )
            for name, config in settings.providers.items()
        }
        for name in providers:
            self.metrics.set_queue_depth(name, 0)
        return providers

    def _register_models(self, settings: BifrostSettings) -> None:
        """Configured model names keep their own metric label (other unserved names become "other")."""
        for name, config in settings.providers.items():
            self.metrics.register_models(name, {m for k in config.keys for m in _configured_models(k) if m != "*"})
            self.metrics.register_models(name, KIND_LABELS.values())  # forwarded calls that name no model
        routing = settings.routing
        targets = [t.target for ts in routing.aliases.values() for t in ts]
        targets += [t for chain in routing.fallbacks.values() for t in chain]
        for target in targets:
            provider, _, model = target.partition("/")
            if provider in settings.providers and model:
                self.metrics.register_models(provider, [model])

    @staticmethod
    def _default_upstream(settings: BifrostSettings, transport: httpx.AsyncBaseTransport | None) -> Upstream:
        """The network client (sized for the largest provider concurrency), with ``mock://`` served in-process."""
        max_connections = max(
            (p.concurrency_and_buffer_size.concurrency for p in settings.providers.values()), default=100
        )
        client = settings.client
        limits = BodyLimits(
            max_bytes=int(client.max_upstream_response_size_mb * 1024 * 1024), max_ratio=client.max_decompression_ratio
        )
        network = _network_upstream(client.upstream_client, transport, max_connections, limits)
        return SchemeUpstream(network, MockUpstream())

    def _install_redaction(self, secrets: list[str]) -> None:
        """Mask configured secret values (and credential shapes) in every gateway log record."""
        self._redactor = SecretRedactingFilter(secrets)
        # A logger's filter does not see records propagated from its children: attach to each.
        names = [n for n in logging.Logger.manager.loggerDict if n.startswith("bifrost_asgi.")]
        self._filtered = [logging.getLogger(n) for n in ("bifrost_asgi", "bifrost_asgi.requests", "httpx", *names)]
        for filtered in self._filtered:
            filtered.addFilter(self._redactor)

    def _new_request_id(self) -> str:
        """128 random bits as 32 hex digits, like a uuid4 but without a system call per request
        (through bytes: formatting a 128-bit int as hex cost three times as much)."""
        return self._rng.getrandbits(128).to_bytes(16, "big").hex()

    def _new_item_id(self, prefix: str) -> str:
        """A Responses id (``resp_...``, ``msg_...``): 192 random bits, unique across replicas."""
        return prefix + "_" + self._rng.getrandbits(192).to_bytes(24, "big").hex()

    # ------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Compose into a host's lifespan; on exit, drain in-flight requests (bounded) and close clients."""
        if self.mcp is not None:
            self.mcp.start()  # connects in the background; never delays start
        try:
            yield
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        self.closing = True
        grace = self.settings.client.shutdown_grace_seconds
        if self.in_flight:
            logger.info("draining %d in-flight request(s) for up to %gs", self.in_flight, grace)
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                logger.warning("%d request(s) still running after %gs grace; closing", self.in_flight, grace)
                await self._abort_streams()
        await self.aclose()

    async def _abort_streams(self) -> None:
        """Close the upstream side of every stream still being relayed: each relay then sends its
        client an error event and ends. (Closing the client pool alone does not reliably wake a
        read in progress: with aiohttp it can wait for the idle timeout.)"""
        self._aborting = True
        for events in list(self._streams.values()):
            await events.aclose()

    async def aclose(self) -> None:
        if self.mcp is not None:
            await self.mcp.aclose()
        await self.upstream.aclose()
        await self.governance.drain()  # the last answers' settlements, before their store closes
        await self.store.close()
        if self._governance_store is not None:
            await self._governance_store.close()
        for filtered in self._filtered:
            filtered.removeFilter(self._redactor)

    def _enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight <= 0:
            self.in_flight = 0
            self._idle.set()

    # ------------------------------------------------------------------ the flow

    async def handle(
        self, dialect: Dialect, operation: Operation, call: Call, body: bytes, *, route: str, method: str
    ) -> Reply:
        """The reply to one request, its accounting done (``respond``, then ``finish``)."""
        reply, pending = await self.respond(dialect, operation, call, body, route=route, method=method)
        if pending is not None:
            self.finish(pending)
        return reply

    async def respond(
        self, dialect: Dialect, operation: Operation, call: Call, body: bytes, *, route: str, method: str
    ) -> tuple[Reply, _Exchange | None]:
        """The reply to one request, and what is left to do once it is written: ``finish(pending)``
        (its in-flight count, metrics, tokens and cost; None when nothing is left). The request
        log line is written before the reply is handed back, so a client that reads the log after
        its answer finds it; the rest runs after the reply is written, off its latency, and before
        the event loop serves anything else (a scrape of ``/metrics`` on the same server sees it).
        Under multiprocess metrics (one scrape reads every worker's files) nothing is left over."""
        ctx = RequestContext(
            request_id=request_id_from(call.headers, self._new_request_id),
            custom_labels=self.metrics.custom_label_values(call.headers),
        )
        exchange = _Exchange(route, method, dialect.name, self.clock(), ctx)
        if not self._used:
            self._first_use()
        self.in_flight += 1
        self._idle.clear()
        self.metrics.inc_in_flight(exchange.dialect)
        try:
            try:
                if self.closing:
                    raise ServiceUnavailableError("the gateway is shutting down; retry on another instance")
                ctx.timeout_override = _timeout_override(call.headers)
                if self._required_headers:
                    _check_required_headers(call.headers, self._required_headers)
                if self.governance.active:
                    ctx.virtual_key = await self.governance.authenticate(call.headers, call.query)
                reply = await self._dispatch(dialect, operation, call, body, exchange)
            except GatewayError as exc:
                drop_tracebacks(exc)  # an answer now: no cycle through the frames it went through
                reply = self._error_reply(dialect, exc, exchange)
            except Exception as exc:  # a bug of ours: never an exception page, never a secret
                logger.exception("internal error handling %s %s (request %s)", method, route, ctx.request_id)
                error = GatewayError(f"internal gateway error (request id {ctx.request_id}): {type(exc).__name__}")
                reply = self._error_reply(dialect, error, exchange)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):  # the client left (or the server is stopping)
                exchange.status, exchange.error = 499, "client disconnected"
            self._finish(exchange)
            raise
        if isinstance(reply, StreamReply):
            return reply, None  # the relay finishes it when the stream ends
        self._conclude(exchange)
        if self._defer_finish:
            return reply, exchange
        self.finish(exchange)
        return reply, None

    def finish(self, exchange: _Exchange) -> None:
        """What is left of a concluded request once its reply is written (see ``respond``)."""
        self._leave()
        self.metrics.dec_in_flight(exchange.dialect)
        self._count(exchange)

    def _first_use(self) -> None:
        """Once, at the first request (the host's logging is set up by then): make the request
        line visible, and say so when no provider is configured."""
        self._used = True
        if self.settings.client.enable_logging:
            ensure_log_output(json=self.settings.client.log_json)
        if not self.settings.providers:
            logger.warning("no providers are configured: every request fails. %s", NO_PROVIDERS_FIX)

    def error_reply(
        self, dialect: Dialect, error: GatewayError, *, route: str, method: str, headers: Mapping[str, str]
    ) -> JsonReply:
        """An error found before the flow starts (body too large, unreadable body)."""
        ctx = RequestContext(request_id=request_id_from(headers))
        exchange = _Exchange(route, method, dialect.name, self.clock(), ctx)
        try:
            return self._error_reply(dialect, error, exchange)
        finally:
            self._finish_metrics_only(exchange)

    async def _dispatch(
        self, dialect: Dialect, operation: Operation, call: Call, body: bytes, exchange: _Exchange
    ) -> Reply:
        ctx = exchange.ctx
        default = call.default_provider
        if operation in ("models", "model"):
            return self._models_reply(dialect, call, await self.router.list_models(ctx), operation, exchange)
        if operation in _STORED_RESPONSE_OPERATIONS:
            return self._ok(await self._stored_response(operation, call, ctx), exchange)
        if operation == "forward":
            return await self._forward(call, body, exchange)
        payload = _parse_json(body)
        check_depth(body, payload)
        if operation == "responses":
            return await self._responses(dialect, call, payload, len(body), exchange)
        if operation == "chat":
            targets: list[Target] | None = None  # the plan, when made before the parse
            passthrough: Passthrough | None = None
            if (head := dialect.passthrough_head(payload, call)) is not None:
                # Plan from the top level first: the walk runs only when every target may take the body.
                targets = self.router.certain_plan(head[0], head[1], default)
                if targets is None or self.router.relays(targets, dialect.name):
                    passthrough = dialect.passthrough_chat(payload, call)
                    if passthrough is not None and self.mcp is not None:  # its tools, unless agent mode
                        passthrough = self.mcp.offer_passthrough(passthrough, call.headers, ctx.virtual_key)
            if passthrough is not None:
                relayed = targets is not None  # certain_plan's targets, which relay (checked above)
                targets = self._plan_passthrough(passthrough, len(body), default, exchange, targets)
                if relayed or self.router.relays(targets, passthrough.format):
                    if passthrough.stream:
                        exchange.stream = True
                        events = await self.router.open_passthrough(passthrough, targets, ctx)
                        return self._stream_reply(events, dialect.passthrough_renderer(passthrough), exchange)
                    return self._ok(await self.router.passthrough(passthrough, targets, ctx), exchange)
            request = dialect.parse_chat(payload, call)
            check_model_names(request.model, request.fallbacks)
            exchange.model = request.model
            if request.source_format == "gemini" and (files := genai_file_ids(request)):
                ctx.key_scope = await self.forwarder.file_scope(files)  # a file is readable by its key only
            offer = self.mcp.offer(request, call.headers, ctx.virtual_key) if self.mcp is not None else None
            if offer is not None:
                request = offer.request
            if self.governance.active:
                ctx.guard = self.governance.guard(ctx.virtual_key, ctx.request_id, _chat_estimate(request, len(body)))
            if MODALITIES in request.untranslatable:  # GenAI IMAGE/AUDIO: an OpenAI image or speech model?
                media = await self.genai_media.generate(request, ctx, default)
                if media is not None:
                    exchange.stream = request.stream
                    return JsonReply(200, media.body, self._headers(exchange), media.media_type)
            if request.stream:
                exchange.stream = True
                return await self._stream(dialect, request, exchange, default, offer=offer)
            if offer is None:  # the common case: straight to the router, one coroutine layer less
                response = await self.router.chat(request, ctx, default, targets=targets)
            else:
                response = await self._chat(request, ctx, default, offer)
            return self._ok(dialect.render_chat(response, request), exchange)
        if operation == "mcp_execute":
            return await self._execute_tool(call, payload, exchange)
        if operation == "embeddings":
            emb = dialect.parse_embeddings(payload, call)
            check_model_names(emb.model, emb.fallbacks)
            exchange.model = emb.model
            if self.governance.active:
                tokens = sum(len(i) // 4 + 1 if isinstance(i, str) else len(i) for i in emb.inputs)
                ctx.guard = self.governance.guard(ctx.virtual_key, ctx.request_id, Estimate(tokens, 0))
            result = await self.router.embeddings(emb, ctx, default)
            return self._ok(dialect.render_embeddings(result, emb, call), exchange)
        if operation == "count_tokens":
            request = dialect.parse_count_tokens(payload, call)
            check_model_names(request.model, ())
            exchange.model = request.model
            tokens = await self.router.count_tokens(request, ctx, default)
            return self._ok(dialect.render_count_tokens(tokens), exchange)
        raise NotFoundError(f"operation {operation!r} is not served here")  # pragma: no cover

    def _plan_passthrough(
        self,
        passthrough: Passthrough,
        size: int,
        default: str | None,
        exchange: _Exchange,
        targets: list[Target] | None,
    ) -> list[Target]:
        """What the chat flow does with a parsed request before routing it, in the same order
        (names checked, admission guard), then the plan (``targets`` when ``Router.certain_plan``
        made it already): a same-format request needs no neutral form when every target takes its
        format as it is (``Router.relays``)."""
        ctx = exchange.ctx
        check_model_names(passthrough.model, passthrough.fallbacks)
        exchange.model = passthrough.model
        if self.governance.active:
            p = passthrough
            estimate = _estimate(p.text_chars, p.messages, p.tools, p.max_tokens, p.n, size)
            ctx.guard = self.governance.guard(ctx.virtual_key, ctx.request_id, estimate)
        if targets is not None:
            return targets
        return self.router.plan(passthrough.model, passthrough.fallbacks, default)

    async def _responses(
        self, dialect: Dialect, call: Call, payload: Any, size: int, exchange: _Exchange
    ) -> Reply:
        """``POST /v1/responses``: the stored conversation in, the answer stored before it is out."""
        ctx = exchange.ctx
        owner = _owner(ctx)
        prepared = await self.responses.prepare(payload, owner)
        check_model_names(prepared.chat.model, prepared.chat.fallbacks)
        offer = self.mcp.offer(prepared.chat, call.headers, ctx.virtual_key) if self.mcp is not None else None
        if offer is not None:
            prepared = replace(prepared, chat=offer.request)
        request = prepared.chat
        exchange.model = request.model
        if prepared.previous_response_id is not None and not prepared.history:
            self._check_held_upstream(prepared.previous_response_id, request, call.default_provider)
        if self.governance.active:
            # A follow-up's prompt includes the stored conversation: the body no longer bounds it.
            bound = size if not prepared.history else sys.maxsize
            ctx.guard = self.governance.guard(ctx.virtual_key, ctx.request_id, _chat_estimate(request, bound))
        if request.stream:
            exchange.stream = True
            renderer = self.responses.stream_renderer(prepared)
            reply = await self._stream(dialect, request, exchange, call.default_provider, renderer, offer)
            chunks = self.responses.storing(prepared, renderer, reply.chunks, owner, lambda: ctx.provider)
            return StreamReply(chunks, reply.headers, reply.media_type)
        response = await self._chat(request, ctx, call.default_provider, offer)
        return self._ok(await self.responses.complete(prepared, response, owner, ctx.provider), exchange)

    def _check_held_upstream(self, response_id: str, request: ChatRequest, default: str | None) -> None:
        """A ``previous_response_id`` this gateway does not hold: only a Responses-native upstream
        (OpenAI, Azure) among the request's targets may hold it; with none, it is simply unknown."""
        targets = self.router.planner.plan(request.model, request.fallbacks, default_provider=default, rng=self._rng)
        if not any(getattr(self.router.providers[t.provider].impl, "responses_api", False) for t in targets):
            raise NotFoundError(
                f"previous_response_id: response '{response_id}' not found (never stored, expired, deleted, "
                "made with another key, or made by a gateway that does not share this one's store)",
                param="previous_response_id",
                code="previous_response_not_found",
            )

    async def _chat(
        self, request: ChatRequest, ctx: RequestContext, default: str | None, offer: Offer | None
    ) -> ChatResponse:
        """One chat answer: the router's, or MCP agent mode around the router."""
        if offer is None or not offer.agent or self.mcp is None:
            return await self.router.chat(request, ctx, default)
        response, run = await self.mcp.chat(offer, lambda r: self.router.chat(r, ctx, default))
        ctx.usage, ctx.tool_rounds = run.usage, run.rounds
        return response

    async def _stored_response(self, operation: Operation, call: Call, ctx: RequestContext) -> bytes:
        response_id = call.path_params.get("response_id", "")
        owner = _owner(ctx)
        if operation == "response_delete":
            return await self.responses.delete(response_id, owner)
        if operation == "response_input_items":
            return await self.responses.input_items(response_id, owner, call.query)
        return await self.responses.retrieve(response_id, owner, call.query)

    async def serve_mcp(
        self, scope: Any, receive: Any, send: Any, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> None:
        """``/mcp`` (raw ASGI): authenticated like inference, then the MCP server answers."""
        if self.mcp is None:
            raise NotFoundError("no MCP clients are configured (mcp.client_configs), so /mcp serves no tools")
        if self.closing:
            raise ServiceUnavailableError("the gateway is shutting down; retry on another instance")
        key = await self.governance.authenticate(headers, query) if self.governance.active else None
        self.mcp.start()
        await self.mcp.server.handle(scope, receive, send, key)

    async def _execute_tool(self, call: Call, payload: Any, exchange: _Exchange) -> JsonReply:
        """``POST /v1/mcp/tool/execute`` (same auth as inference)."""
        if self.mcp is None:
            raise NotFoundError("no MCP clients are configured (mcp.client_configs)")
        body, headers = await self.mcp.execute_request(payload, call.query, call.headers, exchange.ctx.virtual_key)
        return JsonReply(200, body, {**self._headers(exchange), **headers})

    def _models_reply(
        self, dialect: Dialect, call: Call, listing: ModelListing, operation: Operation, exchange: _Exchange
    ) -> JsonReply:
        models = listing.models
        for provider, error in listing.unlisted.items():
            logger.warning("provider '%s' could not list its models (%s): listing its configured ones", provider, error)
        if operation == "model":
            wanted = call.path_params.get("model_id") or call.path_params.get("model") or ""
            matches = [m for m in models if wanted in (m.id, f"models/{m.id}", m.listed_id(None))]
            if not matches and listing.unlisted:
                raise _unlisted_error(wanted, listing.unlisted)
            if not matches:
                raise NotFoundError(f"model '{wanted}' is not served by any configured provider", param="model")
            models = matches[:1]
        return self._ok(dialect.render_models(models, call), exchange)

    async def _stream(
        self,
        dialect: Dialect,
        request: ChatRequest,
        exchange: _Exchange,
        default: str | None,
        renderer: StreamRenderer | None = None,
        offer: Offer | None = None,
    ) -> StreamReply:
        ctx = exchange.ctx
        events: ChatEvents = await self.router.open_stream(request, ctx, default)
        if offer is not None and offer.agent and self.mcp is not None:

            def done(run: AgentRun) -> None:
                ctx.tool_rounds = run.rounds

            events = self.mcp.stream(offer, events, lambda r: self.router.open_stream(r, ctx, default), done)
        return self._stream_reply(events, renderer or dialect.stream_renderer(request), exchange)

    def _stream_reply(self, events: ChatEvents, renderer: StreamRenderer, exchange: _Exchange) -> StreamReply:
        """The client's stream of ``events`` (relayed by ``_relay``), with its end on abandon and abort."""
        self._streams[id(events)] = events
        headers = self._headers(exchange)

        async def abandon() -> None:
            exchange.status, exchange.error = 499, "client disconnected"
            exchange.ctx.abandoned = True
            await self._end_stream(events, exchange)

        def abort() -> bytes:
            error = ServiceUnavailableError("the gateway shut down before the stream finished")
            exchange.status, exchange.error = error.status, error.message
            return self._scrubbed(renderer.fail(error))

        chunks = RelayChunks(self._relay(events, renderer, exchange), abandon)
        return StreamReply(chunks, headers, renderer.media_type, abort=abort)

    async def _forward(self, call: Call, body: bytes, exchange: _Exchange) -> Reply:
        """Files, batches, images, audio, passthrough: same-vendor, the answer streamed back."""
        spec: ForwardSpec = call.options["forward"]
        inbound = Inbound(
            spec=spec, path_params=call.path_params, query=urlencode(call.query), query_params=call.query,
            headers=call.headers, body=body, default_provider=call.default_provider,
            body_stream=call.body_stream, public_url=call.public_url,
        )  # fmt: skip
        exchange.model = call_label(spec, call.path_params, call.headers, body)
        done = await self.forwarder.forward(inbound, exchange.ctx)
        exchange.ctx.model = exchange.ctx.model or exchange.model
        exchange.status = done.status
        headers = {**self._headers(exchange), **done.headers}
        media_type = headers.pop("content-type")
        if done.body is not None:
            return JsonReply(done.status, self._scrubbed(done.body), headers, media_type)

        async def relay() -> AsyncGenerator[bytes, None]:
            try:
                async for chunk in done.answer.stream.chunks():
                    yield chunk
            except BaseException:
                exchange.ctx.abandoned = True
                if exchange.status < 400:
                    exchange.status, exchange.error = 499, "client disconnected"
                raise
            finally:
                await done.answer.aclose()
                self._finish(exchange)

        async def abandon() -> None:
            exchange.status, exchange.error = 499, "client disconnected"
            await done.answer.aclose()
            self._finish(exchange)

        return StreamReply(RelayChunks(relay(), abandon), headers, media_type, status=done.status)

    async def _relay(self, events: ChatEvents, renderer: Any, exchange: _Exchange) -> AsyncGenerator[bytes, None]:
        """The client's chunks: what one upstream read brought is rendered and written at once.
        From one upstream (an ``EventStream``), one loop from the upstream read to the chunk: the
        stream's steps (``EventStream.batches``) run here, without a generator between."""
        ctx = exchange.ctx
        provider, model = ctx.provider or "unknown", ctx.model or "unknown"
        observe_gap = self.metrics.inter_token_observer(provider, model)  # bound once, not per chunk
        zero_gaps = self.metrics.inter_token_zeros(provider, model)  # observe_gap(0.0), n times at once
        render = renderer.render
        clock = self.clock
        last: float | None = None
        failed = False

        def take(batch: Sequence[StreamEvent]) -> bytes:
            """One batch's chunk (b"" for none); a failure ends it and the stream (``failed``)."""
            nonlocal last, failed
            if len(batch) == 1 and last is not None and type(run := batch[0]) is ContentRun:
                at = clock()  # nearly every read of a relayed stream: what the loop below does for it
                observe_gap(at - last)
                last = at
                if run.count > 1:  # its other events came in the same read: gaps of 0
                    zero_gaps(run.count - 1)
                rendered: bytes = render(run)
                return rendered
            out: list[bytes] = []
            now = None
            for event in batch:
                if isinstance(event, CONTENT_EVENTS):
                    if now is None:
                        now = clock()
                    if last is None:
                        self.metrics.observe_first_token(provider, model, now - exchange.started)
                    else:
                        observe_gap(now - last)
                    last = now
                    if type(event) is ContentRun:  # its other events came in the same read: gaps of 0
                        zero_gaps(event.count - 1)
                elif isinstance(event, UsageUpdate):
                    ctx.usage = event.usage
                elif isinstance(event, StreamFailure):
                    error = event.error
                    if self._aborting:
                        error = ServiceUnavailableError("the gateway shut down before the stream finished")
                    exchange.status = error.status
                    exchange.error = error.message
                    ctx.abandoned = True
                    failed = True
                    out.append(self._scrubbed(renderer.fail(error)))
                    return b"".join(out)
                chunk = render(event)
                if chunk:
                    out.append(chunk)
            return (out[0] if len(out) == 1 else b"".join(out)) if out else b""

        try:
            if type(events) is EventStream:
                out = take(events.buffered)
                if out or failed:
                    yield out
                if failed:
                    return
                if events.chunks is not None:
                    batch: Sequence[StreamEvent] = ()
                    try:
                        batch = events.parse_pending() if events.pending or events.rest else ()
                    except GatewayError as exc:
                        drop_tracebacks(exc)  # kept in ``batch``: no cycle through this frame
                        batch = (StreamFailure(exc),)
                    if batch:
                        out = take(batch)
                        if out or failed:
                            yield out
                        if failed:
                            return
                    parse = events.reader()
                    following = events.chunks.__anext__
                    while True:
                        try:
                            batch = parse(await following())
                        except StopAsyncIteration:
                            break
                        except GatewayError as exc:
                            drop_tracebacks(exc)  # kept in ``batch``: no cycle through this frame
                            batch = (StreamFailure(exc),)
                        if batch:
                            out = take(batch)
                            if out or failed:
                                yield out
                            if failed:
                                return
                    try:
                        batch = events.parse_end()
                    except GatewayError as exc:
                        drop_tracebacks(exc)  # kept in ``batch``: no cycle through this frame
                        batch = (StreamFailure(exc),)
                    if batch:
                        out = take(batch)
                        if out or failed:
                            yield out
                        if failed:
                            return
                await events.aclose()  # where the stream's own generator closes it: before the tail
            else:
                async for batch in events.batches():
                    out = take(batch)
                    if out or failed:
                        yield out
                    if failed:
                        return
            tail = renderer.finish()
            if tail:
                yield tail
        except BaseException:
            ctx.abandoned = True
            if exchange.error is None:
                exchange.status = 499
                exchange.error = "client disconnected"
            raise
        finally:
            await self._end_stream(events, exchange)

    async def _end_stream(self, events: ChatEvents, exchange: _Exchange) -> None:
        self._streams.pop(id(events), None)
        await events.aclose()
        self._finish(exchange)

    # ------------------------------------------------------------------ replies and reporting

    def _ok(self, body: bytes, exchange: _Exchange) -> JsonReply:
        return JsonReply(200, body, self._headers(exchange))

    def _error_reply(self, dialect: Dialect, error: GatewayError, exchange: _Exchange) -> JsonReply:
        rendered = dialect.render_error(error)
        exchange.status = rendered.status
        exchange.error = error.message
        headers = {**self._headers(exchange), **rendered.headers}
        return JsonReply(rendered.status, self._scrubbed(rendered.body), headers)

    def _scrubbed(self, body: bytes) -> bytes:
        """``body`` with every configured key value masked (an upstream may echo the key it got)."""
        return self._scrub.mask.mask_bytes(body)

    def _headers(self, exchange: _Exchange) -> dict[str, str]:
        ctx = exchange.ctx
        attempts = ctx.attempts
        overhead = (self.clock() - exchange.started - ctx.upstream_seconds) * 1000.0
        headers = {
            "x-request-id": ctx.request_id,
            "x-bifrost-attempts": str(len(attempts)),
            "x-bifrost-overhead-ms": f"{max(overhead, 0.0):.3f}",
        }
        if ctx.provider is not None:
            headers["x-bifrost-provider"] = ctx.provider
            headers["x-bifrost-model"] = ctx.model or ""
        if len(attempts) > 1 or (attempts and attempts[-1].status != 200):
            headers["x-bifrost-attempt-trail"] = self._scrub(", ".join(a.describe() for a in attempts))
        return headers

    def _finish(self, exchange: _Exchange) -> None:
        self._leave()
        self.metrics.dec_in_flight(exchange.dialect)
        self._finish_metrics_only(exchange)

    def _finish_metrics_only(self, exchange: _Exchange) -> None:
        self._conclude(exchange)
        self._count(exchange)

    def _conclude(self, exchange: _Exchange) -> None:
        """The request is over: its duration and labels fixed, its log line written."""
        ctx = exchange.ctx
        exchange.duration = duration = self.clock() - exchange.started
        provider, model = ctx.provider, ctx.model
        if provider is None and ctx.attempts:  # failed: report the primary target (its error is the one returned)
            provider, model = ctx.attempts[0].provider, ctx.attempts[0].model
        exchange.labels = provider, model = provider or "unknown", model or exchange.model or "unknown"
        if self.settings.client.enable_logging and self.request_log.wants(exchange.status):
            usage = ctx.usage
            self.request_log.log(
                RequestRecord(
                    request_id=ctx.request_id, dialect=exchange.dialect, route=exchange.route,
                    method=exchange.method, provider=provider, model=model, status=exchange.status,
                    attempts=len(ctx.attempts),
                    fallbacks_used=len({a.provider + "/" + a.model for a in ctx.attempts}) - 1 if ctx.attempts else 0,
                    latency_ms=duration * 1000.0,  # the logger rounds (to 3 decimals)
                    overhead_ms=max(duration - ctx.upstream_seconds, 0.0) * 1000.0,
                    input_tokens=usage.input_tokens if usage else None,
                    output_tokens=usage.output_tokens if usage else None,
                    stream=exchange.stream, error=exchange.error,
                    virtual_key=ctx.virtual_key.id if ctx.virtual_key is not None else None,
                    tool_rounds=ctx.tool_rounds,
                )
            )  # fmt: skip

    def _count(self, exchange: _Exchange) -> None:
        """A concluded request's metrics, tokens and cost."""
        ctx = exchange.ctx
        provider, model = exchange.labels
        self.metrics.observe_request(
            route=exchange.route, method=exchange.method, dialect=exchange.dialect, provider=provider,
            model=model, status=exchange.status, stream=exchange.stream, duration=exchange.duration,
            custom=ctx.custom_labels,
        )  # fmt: skip
        usage = ctx.usage
        if usage is not None and ctx.provider is not None:
            self.metrics.add_tokens(
                provider=provider, model=model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
            )
            self.governance.record_cost(provider, model, usage)

    # ------------------------------------------------------------------ operations view

    def operations_allowed(self, authorization: str | None) -> bool:
        """Whether a request to /metrics or /health/ready may see them (``client.operations_token``)."""
        token = self.settings.client.operations_token
        if token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        expected = token.get_secret_value().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def health(self, *, verbose: bool) -> tuple[int, dict[str, Any]]:
        if not verbose:
            return (503 if self.closing else 200), {"status": "shutting_down" if self.closing else "ok"}
        cooling = self.cooldowns.snapshot()
        providers: dict[str, Any] = {}
        for name, rt in self.router.providers.items():
            keys = rt.config.keys
            usable = [i for i, k in enumerate(keys) if k.enabled and (rt.impl.keyless or k.has_credentials)]
            cooling_keys = {keys[i].label: s for (p, i), s in cooling.items() if p == name and i < len(keys)}
            providers[name] = {
                "format": rt.impl.format,
                "keys": len(keys),
                "usable_keys": len(usable),
                "cooling_keys": cooling_keys,
                "ready": bool(usable or rt.impl.keyless) and len(cooling_keys) < max(len(usable), 1),
                "queue": {
                    "in_flight": rt.queue.in_flight,
                    "waiting": rt.queue.waiting,
                    "concurrency": rt.queue.concurrency,
                    "buffer_size": rt.queue.buffer_size,
                },
            }
        ready = not self.closing and any(p["ready"] for p in providers.values())
        status = "shutting_down" if self.closing else ("ready" if ready else "degraded")
        body = {"status": status, "in_flight": self.in_flight, "auth": self._auth_mode(), "providers": providers}
        if self.mcp is not None:  # informational: a down MCP server does not make the gateway unready
            self.mcp.start()  # a mounted app without lifespan connects on first use
            body["mcp_clients"] = self.mcp.health()
        return (200 if ready else 503), body

    def _auth_mode(self) -> str:
        """``required`` (a virtual key on every inference request), ``optional`` (keys exist, none
        required) or ``off`` (anyone who reaches the gateway spends its keys)."""
        gov = self.governance
        if gov.enforce:
            return "required"
        return "optional" if gov.config.virtual_keys or gov.shared else "off"


def _mcp_runtime(
    settings: BifrostSettings, registry: CollectorRegistry, clock: Callable[[], float]
) -> MCPRuntime | None:
    """The MCP runtime when MCP clients are configured (the SDK is imported only then)."""
    if not settings.mcp.enabled_clients:
        return None
    from . import __version__
    from .mcp.runtime import MCPRuntime

    return MCPRuntime(
        settings.mcp, registry=registry, allow_version=settings.version, gateway_version=__version__, clock=clock
    )


def _configured_models(key: KeyConfig) -> list[str]:
    """The model names a key lists: ``models`` and the names its provider meta deploys (Azure,
    Bedrock, Vertex ``deployments``)."""
    names = list(key.models)
    for meta in (key.azure_key_config, key.bedrock_key_config, key.vertex_key_config):
        deployments = meta.get("deployments") if isinstance(meta, dict) else getattr(meta, "deployments", None)
        if isinstance(deployments, dict):
            names.extend(str(name) for name in deployments)
    return names


def _secret_values(settings: BifrostSettings) -> list[str]:
    """Every configured secret: provider key values, virtual keys, the admin and operations tokens,
    Redis passwords."""
    secrets = [s for p in settings.providers.values() for k in p.keys for s in k.secret_values()]
    secrets += [vk.value.get_secret_value() for vk in settings.governance.virtual_keys]
    for token in (settings.client.admin_token, settings.admin_token, settings.client.operations_token):
        if token is not None:
            secrets.append(token.get_secret_value())
    for url in (settings.redis_url, settings.governance.store.url):
        if url is not None:
            secrets.append(urlsplit(url.get_secret_value()).password or "")
    for client in settings.mcp.client_configs:
        secrets.extend(v.get_secret_value() for v in client.headers.values())
        if client.connection_string is not None:
            secrets.append(client.connection_string.get_secret_value())
    return [s for s in secrets if s]


def _network_upstream(
    choice: str, transport: httpx.AsyncBaseTransport | None, max_connections: int, limits: BodyLimits
) -> Upstream:
    """aiohttp when available and nothing asks for httpx (an injected transport is httpx-style)."""
    if transport is None and choice != "httpx":
        try:
            from .upstream._aiohttp import AiohttpUpstream
        except ModuleNotFoundError:
            if choice == "aiohttp":
                raise ConfigError(
                    'client.upstream_client is "aiohttp" but aiohttp is not installed: '
                    "pip install 'bifrost-asgi[fast]' or set it to \"auto\""
                ) from None
        else:
            return AiohttpUpstream(max_connections=max_connections, limits=limits)
    from .upstream._httpx import HttpxUpstream  # httpx2 only when it is used

    return HttpxUpstream(transport, max_connections=max_connections, limits=limits)


_STORED_RESPONSE_OPERATIONS = frozenset({"response_get", "response_delete", "response_input_items"})


def _owner(ctx: RequestContext) -> str | None:
    """Who a stored response belongs to: the virtual key that made it (None without governance)."""
    return ctx.virtual_key.id if ctx.virtual_key is not None else None


def _parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidRequestError("request body is empty: expected a JSON object")
    try:
        return _json.loads(body)
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None


def _check_required_headers(headers: Mapping[str, str], required: tuple[str, ...]) -> None:
    missing = [name for name in required if not headers.get(name)]
    if missing:
        raise InvalidRequestError(
            f"missing required headers: {', '.join(missing)} (client.required_headers)", code="missing_required_headers"
        )


def _chat_estimate(request: ChatRequest, body_bytes: int) -> Estimate:
    """Prompt tokens estimated from the message text (about four characters a token, plus framing),
    never above the body size; output: ``max_tokens`` x ``n`` when given."""
    chars = sum(len(message.text()) for message in request.messages) + sum(len(tool.name) for tool in request.tools)
    return _estimate(chars, len(request.messages), len(request.tools), request.max_tokens, request.n, body_bytes)


def _estimate(
    text_chars: int, messages: int, tools: int, max_tokens: int | None, n: int | None, body_bytes: int
) -> Estimate:
    """``_chat_estimate`` from its parts (a ``Passthrough`` counts them while it checks the body):
    the text plus framing, 16 characters a message and 200 a tool."""
    chars = text_chars + 16 * messages + 200 * tools
    tokens = max(1, min(chars, body_bytes) // 4 + 1)
    output = max_tokens * (n or 1) if max_tokens is not None else None
    return Estimate(tokens, output)


def _unlisted_error(model: str, unlisted: Mapping[str, GatewayError]) -> UpstreamError:
    """A model in no list while some provider's list is unknown: it may be served, so not a 404
    but the upstream failure (504 when one timed out, else 502), naming the providers."""
    why = "; ".join(f"provider '{name}': {error.message}" for name, error in unlisted.items())
    timed_out = any(isinstance(e, UpstreamTimeoutError) for e in unlisted.values())
    return UpstreamError(
        f"model '{model}' is not among the configured models, and the model list could not be read from the "
        f"upstream ({why})", status=504 if timed_out else 502, provider=next(iter(unlisted)), param="model",
    )  # fmt: skip


def _timeout_override(headers: Mapping[str, str]) -> float | None:
    raw = headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw.strip().removesuffix("s"))
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InvalidRequestError(
            f"{TIMEOUT_HEADER}: expected seconds between 0 and 3600, got {raw!r}", param=TIMEOUT_HEADER
        )
    return value
