"""The router: walk a request's targets (primary, then fallbacks), and for each one take a queue
slot, pick a key, call the upstream, and retry or rotate keys as the failure warrants.

Semantics (Bifrost's, with its known bugs fixed):

* Retries: up to ``max_retries`` per target for retryable failures (429, 5xx, connect errors,
  timeouts), with jittered exponential backoff; an upstream ``Retry-After`` is honoured when it is
  at most ``max_retry_after_in_seconds`` (longer waits move on instead of sleeping).
* Key rotation: a 401/402/403/429 on one key moves to the provider's other keys first, without
  spending ``max_retries``.
* Cooldown: failing keys cool down and are skipped while others are available; a provider whose
  keys are all cooling is skipped when another target remains.
* Fallbacks: any provider failure moves to the next target; a client error (bad request) does
  not. When all fail, the primary's error is raised; every attempt is recorded on the context.
* Streams: a failure before the first content event counts as a failed attempt (retry/fallback);
  the stream is handed over only once content has arrived.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..config.settings import KeyConfig, NetworkConfig, ProviderConfig
from ..errors import (
    GatewayError,
    NotFoundError,
    NoUsableKeyError,
    PermissionDeniedError,
    QueueFullError,
    UpstreamError,
    UpstreamTimeoutError,
    drop_tracebacks,
)
from ..governance.identity import AuthenticatedKey
from ..neutral import (
    CONTENT_EVENTS,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
    StreamEvent,
    StreamFailure,
    StreamStart,
    Usage,
    replace,
)
from ..providers.base import PassthroughProvider, Provider, StreamDecoder, UpstreamRequest, UpstreamResponse
from ..streaming import DEFAULT_MAX_EVENT_BYTES
from ..upstream.base import Timeouts, Upstream, UpstreamStream
from .cooldown import Cooldowns
from .guard import AttemptGuard, AttemptTicket
from .keys import eligible_keys, scoped_keys, select_key
from .plan import Planner, Target
from .queues import ProviderQueue
from .retry import retry_delay

T = TypeVar("T")


class RouterMetrics(Protocol):
    def observe_upstream(
        self,
        *,
        provider: str,
        model: str,
        method: str,
        status: int | None,
        latency: float,
        success: bool,
        custom: Mapping[str, str],
    ) -> None: ...

    def count_retry(self, provider: str, reason: str) -> None: ...

    def count_fallback(self, from_provider: str, to_provider: str) -> None: ...

    def set_cooldown(self, provider: str, key_label: str, active: bool) -> None: ...

    def count_key_selection(self, provider: str, key_label: str) -> None: ...


@dataclass(frozen=True)
class ModelListing:
    """The models a client can name, and the providers whose upstream list could not be read
    (their configured models are in ``models``; their upstream's own list is unknown)."""

    models: list[ModelInfo]
    unlisted: Mapping[str, GatewayError] = field(default_factory=dict)


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    key: str | None
    status: int | None  # None: no HTTP answer (connect error, skipped)
    error: str | None = None

    def describe(self) -> str:
        outcome = str(self.status) if self.status is not None else (self.error or "error")
        return f"{self.provider}/{self.model}={outcome}"


@dataclass(slots=True)
class RequestContext:
    """Per-request bookkeeping the router fills in and the gateway reports."""

    request_id: str
    custom_labels: Mapping[str, str] = field(default_factory=dict)
    timeout_override: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    upstream_seconds: float = 0.0
    provider: str | None = None
    model: str | None = None
    usage: Usage | None = None
    #: The virtual key the request authenticated with (None: no key presented, or no governance).
    virtual_key: AuthenticatedKey | None = None
    tool_rounds: int | None = None  # MCP agent mode: tool rounds run (None: not in agent mode)
    #: Admission control for each attempt (None: nothing limits this request).
    guard: AttemptGuard | None = None
    #: The client left (or the stream broke) before the answer was complete.
    abandoned: bool = False
    #: Forwarded calls (files, batches, passthrough): which keys may serve it (None: by model).
    key_scope: KeyScope | None = None


@dataclass(frozen=True, slots=True)
class KeyScope:
    """Key choice for a forwarded call that names no model: ``pinned`` (a key's label) for an object
    that key created (a later get or cancel must reach the same account), else any usable key,
    those marked ``use_for_batch_api`` first when ``batch``."""

    pinned: str | None = None
    batch: bool = False
    provider: str | None = None  # the scope holds on this provider only (a chat naming an uploaded file)


@dataclass(slots=True)
class ProviderRuntime:
    name: str
    config: ProviderConfig
    impl: Provider
    queue: ProviderQueue


class ChatEvents(Protocol):
    """A stream of neutral events the gateway relays (an ``EventStream``, or MCP's agent stream)."""

    def events(self) -> AsyncIterator[StreamEvent]: ...

    def batches(self) -> AsyncIterator[Sequence[StreamEvent]]:
        """The same events, grouped by what arrived together (one upstream read): a relay
        writes each group at once."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class EventStream:
    """An upstream stream that has produced its first content: buffered events, the upstream
    events of the same read not parsed yet (``pending``), then the rest."""

    buffered: list[StreamEvent]
    chunks: AsyncIterator[bytes] | None
    decoder: StreamDecoder
    parser: Any
    _stack: AsyncExitStack
    pending: list[Any] = field(default_factory=list)
    rest: bytes = b""  # or: the bytes of the first content's read after its event (whole events)

    async def events(self) -> AsyncIterator[StreamEvent]:
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncIterator[Sequence[StreamEvent]]:
        """Each batch ends at a failure, which is the stream's last event. (The gateway's relay runs
        the same steps itself, without this generator between the upstream read and the client.)"""
        try:
            buffered = self.buffered
            yield buffered
            if self.chunks is None or (buffered and isinstance(buffered[-1], StreamFailure)):
                return
            try:
                if self.pending or self.rest:
                    batch = self.parse_pending()
                    if batch:
                        yield batch
                        if isinstance(batch[-1], StreamFailure):
                            return
                parse = self.reader()
                async for chunk in self.chunks:
                    batch = parse(chunk)
                    if batch:
                        yield batch
                        if isinstance(batch[-1], StreamFailure):
                            return
                batch = self.parse_end()
                if batch:
                    yield batch
            except GatewayError as exc:
                yield (StreamFailure(exc),)
        finally:
            await self.aclose()

    def parse_pending(self) -> list[StreamEvent]:
        """The events of the upstream events that came in the first content's read, after it
        (``rest``: read as an upstream read is)."""
        if self.rest:
            rest, self.rest = self.rest, b""
            return self.reader()(rest)
        batch = _parsed(self.pending, self.parser.feed)
        self.pending = []
        return batch

    def reader(self) -> Callable[[bytes], list[StreamEvent]]:
        """The events of one upstream read (cut after a failure): the whole read at once when the
        parser can take it so (``OpenAIRelayParser.feed_read``), or its leading plain deltas at once
        and the rest event by event (``feed_head``), else decoded and parsed event by event. May
        raise ``GatewayError`` (an event over the size limit)."""
        decoder = self.decoder
        decode = decoder.feed
        parse = self.parser.feed
        read = getattr(self.parser, "feed_read", None)
        if read is None:
            return lambda chunk: _parsed(decode(chunk), parse)
        head = self.parser.feed_head  # a relay with ``feed_read`` has both

        def parse_read(chunk: bytes) -> list[StreamEvent]:
            whole: list[StreamEvent] | None = read(chunk, decoder)
            if whole is not None:
                return whole
            split: tuple[StreamEvent, bytes] | None = head(chunk, decoder)
            if split is None:
                return _parsed(decode(chunk), parse)
            run, rest = split
            batch = _parsed(decode(rest), parse)
            batch.insert(0, run)
            return batch

        return parse_read

    def parse_end(self) -> list[StreamEvent]:
        """What the decoder and the parser still hold when the upstream ends."""
        batch = _parsed(self.decoder.close(), self.parser.feed)
        batch.extend(self.parser.close())
        return batch

    async def aclose(self) -> None:
        await self._stack.aclose()


def _primed(sse_events: Iterable[Any], parser: Any, buffered: list[StreamEvent], now: int) -> bool:
    """``sse_events`` (upstream events before the first content) parsed into ``buffered``: whether
    the first content came (the events of the one that brought it are all kept). A failure before it
    raises (so the attempt can be retried); a start without a timestamp gets ``now``."""
    for sse in sse_events:
        started = False
        for event in parser.feed(sse):
            if isinstance(event, StreamFailure):
                if not started:
                    raise event.error
            elif isinstance(event, CONTENT_EVENTS):
                started = True
            elif isinstance(event, StreamStart) and not event.created:
                event = replace(event, created=now)
            buffered.append(event)
        if started:
            return True
    return False


def _parsed(sse_events: Iterable[Any], parse: Callable[[Any], Iterable[StreamEvent]]) -> list[StreamEvent]:
    """The neutral events of ``sse_events``, cut after the first failure."""
    out: list[StreamEvent] = []
    for sse in sse_events:
        for event in parse(sse):
            out.append(event)
            if isinstance(event, StreamFailure):
                return out
    return out


Call = Callable[[ProviderRuntime, Target, KeyConfig | None, Timeouts], Awaitable[T]]
ForwardBuild = Callable[[Provider, KeyConfig | None], UpstreamRequest]


@dataclass(slots=True)
class ForwardedStream:
    """A forwarded call's answer: who served it (provider, key label) and its body, streamed."""

    provider: str
    key: str | None
    stream: UpstreamStream
    _stack: AsyncExitStack

    async def aclose(self) -> None:
        await self._stack.aclose()


class Router:
    def __init__(
        self,
        providers: Mapping[str, ProviderRuntime],
        planner: Planner,
        upstream: Upstream,
        cooldowns: Cooldowns,
        metrics: RouterMetrics,
        *,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        scrub: Callable[[bytes], bytes] = bytes,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.providers = providers
        self.planner = planner
        self.upstream = upstream
        self.cooldowns = cooldowns
        self.metrics = metrics
        self.rng = rng
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        # Masks configured secrets in upstream error bodies before anything parses or cuts them.
        self.scrub = scrub
        self.max_event_bytes = max_event_bytes
        self._timeout_cache: dict[tuple[int, float | None], tuple[NetworkConfig, Timeouts]] = {}
        self._eligible_cache: dict[tuple[str, str], list[int]] = {}
        # Providers that take a client's body in their own format as it came (``Passthrough``).
        self._passthrough: dict[str, PassthroughProvider] = {
            name: rt.impl for name, rt in providers.items() if isinstance(rt.impl, PassthroughProvider)
        }

    # ------------------------------------------------------------------ operations

    def plan(self, model: str, fallbacks: Sequence[str], default_provider: str | None) -> list[Target]:
        """The request's targets: primary, then fallbacks (an alias draws its primary here)."""
        return self.planner.plan(model, fallbacks, default_provider=default_provider, rng=self.rng)

    def certain_plan(self, model: str, fallbacks: Sequence[str], default_provider: str | None) -> list[Target] | None:
        """``plan`` made ahead of the request's checks, when that changes nothing: ``model`` is not an
        alias (the plan is pure: no weighted draw, the same plan every time) and planning raises
        nothing. None otherwise: the caller plans where it did, after its checks, so every error
        comes in the same order."""
        if self.planner.is_alias(model):
            return None
        try:
            return self.plan(model, fallbacks, default_provider)
        except GatewayError:
            return None

    def relays(self, targets: Sequence[Target], format: Format) -> bool:
        """Whether every target takes a ``format`` body as the client sent it (``passthrough``)."""
        providers = self._passthrough
        for target in targets:
            provider = providers.get(target.provider)
            if provider is None or provider.format != format:
                return False
        return True

    async def passthrough(self, request: Passthrough, targets: Sequence[Target], ctx: RequestContext) -> bytes:
        """``chat`` of a same-format request whose ``targets`` all take it as it is (see
        ``relays``): the upstream answer's body, as it came; usage, attempts, retries, fallbacks,
        admission and metrics as for ``chat``."""
        providers = self._passthrough

        async def call(rt: ProviderRuntime, target: Target, key: KeyConfig | None, timeouts: Timeouts) -> bytes:
            provider = providers[rt.name]
            response = await self._send(rt, provider.build_passthrough(request, target.model, key), key, timeouts, ctx)
            body, ctx.usage = provider.parse_passthrough(response, target.model)
            return body

        return await self._run(targets, ctx, "chat_completion", call, None)

    async def chat(
        self,
        request: ChatRequest,
        ctx: RequestContext,
        default_provider: str | None,
        *,
        targets: Sequence[Target] | None = None,
    ) -> ChatResponse:
        """The answer from the first target that gives one. ``targets``: the plan, when the caller
        made it already (an alias must not draw twice)."""
        if targets is None:
            targets = self.plan(request.model, request.fallbacks, default_provider)
        method = "text_completion" if request.text_completion else "chat_completion"

        async def call(rt: ProviderRuntime, target: Target, key: KeyConfig | None, timeouts: Timeouts) -> ChatResponse:
            built = rt.impl.build_chat(request, target.model, key)
            response = await self._send(rt, built, key, timeouts, ctx)
            parsed = rt.impl.parse_chat(response, request, target.model)
            ctx.usage = parsed.usage
            return parsed

        response = await self._run(targets, ctx, method, call, None)
        if not response.created:  # translated answers carry no timestamp of their own
            response = replace(response, created=int(self.wall_clock()))
        return response

    async def open_stream(self, request: ChatRequest, ctx: RequestContext, default_provider: str | None) -> EventStream:
        targets = self.planner.plan(request.model, request.fallbacks, default_provider=default_provider, rng=self.rng)
        return await self._open(
            targets,
            ctx,
            lambda rt, model, key: rt.impl.build_chat(request, model, key),
            lambda rt, model: rt.impl.stream_parser(request, model),
        )

    async def open_passthrough(
        self, request: Passthrough, targets: Sequence[Target], ctx: RequestContext
    ) -> EventStream:
        """``open_stream`` of a streamed same-format request whose ``targets`` all take it as it is
        (see ``relays``): the same upstream request as the provider builds from the parsed request,
        the same stream parser; attempts, retries, fallbacks, admission and metrics as there."""
        providers = self._passthrough
        return await self._open(
            targets,
            ctx,
            lambda rt, model, key: providers[rt.name].build_passthrough(request, model, key),
            lambda rt, model: providers[rt.name].passthrough_stream_parser(model),
        )

    async def _open(
        self,
        targets: Sequence[Target],
        ctx: RequestContext,
        build: Callable[[ProviderRuntime, str, KeyConfig | None], UpstreamRequest],
        stream_parser: Callable[[ProviderRuntime, str], Any],
    ) -> EventStream:
        """The first target's stream that gives content (each attempt: request built, opened, read
        until its first content)."""
        stack = AsyncExitStack()

        async def call(rt: ProviderRuntime, target: Target, key: KeyConfig | None, timeouts: Timeouts) -> EventStream:
            started = self.clock()
            try:
                built = await self._authorized(rt, build(rt, target.model, key), key)
            finally:
                ctx.upstream_seconds += self.clock() - started
            started = self.clock()
            # The attempt's total bounds every read until the first content, not only the headers:
            # an error body sent one byte at a time, or an upstream that answers at once and then
            # only sends keep-alive comments (each resetting the idle timer), must still time out
            # and let a fallback answer.
            stream: UpstreamStream | None = None
            try:
                async with asyncio.timeout(timeouts.total):
                    stream = await self.upstream.open(built, timeouts)
                    if stream.status >= 400:
                        body = self.scrub(await stream.read())
                        raise rt.impl.parse_error(UpstreamResponse(stream.status, stream.headers, body))
                    parser = stream_parser(rt, target.model)
                    decoder = rt.impl.stream_decoder(self.max_event_bytes)
                    return await self._prime(stream, decoder, parser, stack, int(self.wall_clock()))
            except TimeoutError:
                if stream is not None:
                    await stream.aclose()
                raise UpstreamTimeoutError(
                    f"upstream sent no content within {timeouts.total:g}s", provider=rt.name
                ) from None
            except BaseException:
                if stream is not None:
                    await stream.aclose()
                raise
            finally:
                ctx.upstream_seconds += self.clock() - started

        try:
            return await self._run(targets, ctx, "chat_completion", call, stack)
        except BaseException:
            await stack.aclose()
            raise

    async def embeddings(
        self, request: EmbeddingRequest, ctx: RequestContext, default_provider: str | None
    ) -> EmbeddingResponse:
        targets = self.planner.plan(request.model, request.fallbacks, default_provider=default_provider, rng=self.rng)

        async def call(
            rt: ProviderRuntime, target: Target, key: KeyConfig | None, timeouts: Timeouts
        ) -> EmbeddingResponse:
            built = rt.impl.build_embeddings(request, target.model, key)
            response = await self._send(rt, built, key, timeouts, ctx)
            parsed = rt.impl.parse_embeddings(response, request, target.model)
            ctx.usage = parsed.usage
            return parsed

        return await self._run(targets, ctx, "embedding", call, None)

    async def count_tokens(self, request: ChatRequest, ctx: RequestContext, default_provider: str | None) -> int:
        targets = self.planner.plan(request.model, (), default_provider=default_provider, rng=self.rng)

        async def call(rt: ProviderRuntime, target: Target, key: KeyConfig | None, timeouts: Timeouts) -> int:
            built = rt.impl.build_count_tokens(request, target.model, key)
            if built is None:
                return estimate_tokens(request)
            return rt.impl.parse_count_tokens(await self._send(rt, built, key, timeouts, ctx))

        return await self._run(targets[:1], ctx, "count_tokens", call, None)

    async def forward(
        self, target: Target, ctx: RequestContext, build: ForwardBuild, method: str = "forward"
    ) -> ForwardedStream:
        """Send one forwarded call (files, batches, images, audio, passthrough) to ``target`` with
        the gateway's key, queue slot, retries, key rotation and admission; the answer's body is
        streamed (the slot is held until it is read or closed). Error statuses raise the provider's
        parsed error, as for chat."""
        stack = AsyncExitStack()

        async def call(rt: ProviderRuntime, tgt: Target, key: KeyConfig | None, timeouts: Timeouts) -> ForwardedStream:
            built = await self._authorized(rt, build(rt.impl, key), key)
            started = self.clock()
            stream = await self.upstream.open(built, timeouts)
            try:
                if stream.status >= 400:
                    body = await stream.read()
                    raise rt.impl.parse_error(UpstreamResponse(stream.status, stream.headers, body))
            except BaseException:
                await stream.aclose()
                raise
            finally:
                ctx.upstream_seconds += self.clock() - started
            stack.push_async_callback(stream.aclose)
            return ForwardedStream(rt.name, key.label if key is not None else None, stream, stack)

        try:
            return await self._run([target], ctx, method, call, stack)
        except BaseException:
            await stack.aclose()
            raise

    async def list_models(self, ctx: RequestContext) -> ModelListing:
        """Every name a client can send: the aliases, then each configured provider's models (the
        upstream's list where it answers, plus the models named in its keys)."""
        results = await asyncio.gather(*(self._models_of(rt, ctx) for rt in self.providers.values()))
        models = [*self.planner.alias_models(), *(model for models, _ in results for model in models)]
        unlisted = {
            rt.name: error for rt, (_, error) in zip(self.providers.values(), results, strict=True) if error is not None
        }
        return ModelListing(models, unlisted)

    # ------------------------------------------------------------------ machinery

    async def _models_of(self, rt: ProviderRuntime, ctx: RequestContext) -> tuple[list[ModelInfo], GatewayError | None]:
        """The provider's models, and why its upstream list is unknown when asking it failed (its
        configured models are listed then). It may take as long as the provider's timeouts allow."""
        configured = sorted({m for key in rt.config.keys for m in key.models})
        fallback = [ModelInfo(id=m, provider=rt.name) for m in configured]
        usable = [k for k in rt.config.keys if k.enabled and (rt.impl.keyless or k.has_credentials)]
        key = usable[0] if usable else None
        if key is None and not rt.impl.keyless:
            return fallback, None
        built = rt.impl.build_list_models(key)
        if built is None:
            return fallback, None
        try:
            response = await self._send(rt, built, key, self._timeouts(rt, ctx), ctx)
            listed = list(rt.impl.parse_list_models(response))
        except GatewayError as exc:
            return fallback, exc
        seen = {m.id for m in listed}
        return listed + [m for m in fallback if m.id not in seen], None

    @staticmethod
    async def _authorized(rt: ProviderRuntime, built: UpstreamRequest, key: KeyConfig | None) -> UpstreamRequest:
        """The request signed or given its token by the provider's ``auth`` (when it has one)."""
        return built if rt.impl.auth is None else await rt.impl.auth.authorize(built, key)

    async def _send(
        self,
        rt: ProviderRuntime,
        built: UpstreamRequest,
        key: KeyConfig | None,
        timeouts: Timeouts,
        ctx: RequestContext,
    ) -> UpstreamResponse:
        started = self.clock()
        try:
            if rt.impl.auth is not None:
                built = await rt.impl.auth.authorize(built, key)
            response = await self.upstream.send(built, timeouts)
        finally:
            ctx.upstream_seconds += self.clock() - started
        if response.status >= 400:
            raise rt.impl.parse_error(UpstreamResponse(response.status, response.headers, self.scrub(response.body)))
        return response

    async def _prime(
        self, stream: UpstreamStream, decoder: StreamDecoder, parser: Any, stack: AsyncExitStack, now: int
    ) -> EventStream:
        """Read until the first content event; a failure before it raises (so it can be retried).
        The upstream events after it in the same read are kept unparsed (the first content goes out
        before they are looked at), and so is the chunk iterator: for a relay that takes whole reads
        (``feed_read``), a read the decoder may take a blank line at a time (``cuts_at_blank_lines``)
        keeps the bytes after the first content's event instead (``EventStream.rest``), read like the
        next upstream read: the read is searched for blank lines only up to that event."""
        buffered: list[StreamEvent] = []
        chunks = stream.chunks()
        cuts = getattr(decoder, "cuts_at_blank_lines", None) if hasattr(parser, "feed_read") else None
        async for chunk in chunks:
            if cuts is not None and cuts(chunk):  # decoded an event at a time up to the first content, the rest kept
                start = 0
                end = chunk.find(b"\n\n")
                while end >= 0:
                    end += 2  # after the blank line that ends this event
                    if _primed(decoder.feed(chunk[start:end]), parser, buffered, now):
                        stack.push_async_callback(stream.aclose)
                        return EventStream(buffered, chunks, decoder, parser, stack, rest=chunk[end:])
                    start = end
                    end = chunk.find(b"\n\n", start)
                if start == len(chunk):
                    continue
                chunk = chunk[start:]  # an event still in progress: decoded as below
            sse_events = list(decoder.feed(chunk))
            for position, sse in enumerate(sse_events):
                if _primed((sse,), parser, buffered, now):
                    stack.push_async_callback(stream.aclose)
                    return EventStream(buffered, chunks, decoder, parser, stack, sse_events[position + 1 :])
        tail = [event for sse in decoder.close() for event in parser.feed(sse)]
        tail.extend(parser.close())
        for event in tail:
            if isinstance(event, StreamFailure):
                raise event.error
            buffered.append(event)
        await stream.aclose()
        return EventStream(buffered, None, decoder, parser, stack)

    async def _run(
        self,
        targets: Sequence[Target],
        ctx: RequestContext,
        method: str,
        call: Call[T],
        stack: AsyncExitStack | None,
    ) -> T:
        primary_error: GatewayError | None = None
        try:
            for position, target in enumerate(targets):
                rt = self.providers[target.provider]
                remaining = len(targets) - position - 1
                if position > 0:
                    self.metrics.count_fallback(targets[0].provider, target.provider)
                if remaining and self._provider_cooling(rt, target.model):
                    ctx.attempts.append(Attempt(rt.name, target.model, None, None, "cooldown"))
                    continue
                try:
                    result = await self._on_target(rt, target, ctx, method, call, stack)
                except GatewayError as exc:
                    if primary_error is None:
                        primary_error = exc
                    else:  # a fallback's error, not the answer: no cycle through the frames it went through
                        drop_tracebacks(exc)
                    if not exc.allow_fallbacks and position == 0:
                        raise
                else:
                    if primary_error is not None:  # fallen back: the primary's error is not the answer either
                        drop_tracebacks(primary_error)
                    return result
            if primary_error is None:  # every target skipped: should not happen (the last one is never skipped)
                raise GatewayError("no provider could take the request", status=503, kind="overloaded")
            raise primary_error
        finally:
            # The error's traceback holds this frame: kept in a local, it would make a cycle that only
            # the collector frees (a pause when it runs, on every failed or fallen-back request).
            primary_error = None

    def _eligible(self, rt: ProviderRuntime, model: str) -> list[int]:
        """``eligible_keys`` of the provider for ``model``, computed once per (provider, model): the
        keys are configuration. The list is shared: never mutated."""
        key = (rt.name, model)
        found = self._eligible_cache.get(key)
        if found is None:
            found = eligible_keys(rt.config.keys, model, keyless=rt.impl.keyless)
            if len(self._eligible_cache) < 4096:  # model names come from clients
                self._eligible_cache[key] = found
        return found

    def _provider_cooling(self, rt: ProviderRuntime, model: str) -> bool:
        candidates = self._eligible(rt, model)
        if not candidates:
            return False
        return len(self.cooldowns.cooling_keys(rt.name, candidates)) == len(candidates)

    def _timeouts(self, rt: ProviderRuntime, ctx: RequestContext) -> Timeouts:
        """The attempt's timeouts from the provider's network config and the request's override;
        built once per (config, override) and cached (a frozen dataclass costs microseconds)."""
        network = rt.config.network_config
        key = (id(network), ctx.timeout_override)
        cached = self._timeout_cache.get(key)
        if cached is None or cached[0] is not network:
            cached = (network, _build_timeouts(network, ctx.timeout_override))
            if len(self._timeout_cache) < 1024:  # overrides come from a header: bounded
                self._timeout_cache[key] = cached
        return cached[1]

    async def _on_target(
        self,
        rt: ProviderRuntime,
        target: Target,
        ctx: RequestContext,
        method: str,
        call: Call[T],
        stack: AsyncExitStack | None,
    ) -> T:
        timeouts = self._timeouts(rt, ctx)
        queue = rt.queue
        first = timeouts
        if not queue.try_acquire():
            queued_at = self.clock()
            try:
                async with asyncio.timeout(timeouts.total):
                    await queue.acquire()
            except QueueFullError:
                ctx.attempts.append(Attempt(rt.name, target.model, None, None, "queue full"))
                raise
            except TimeoutError:
                ctx.attempts.append(Attempt(rt.name, target.model, None, None, "queue timeout"))
                raise UpstreamTimeoutError(
                    f"request waited {timeouts.total:g}s in provider '{rt.name}' queue without a free slot",
                    provider=rt.name,
                ) from None
            # Time spent queued counts against the first attempt's budget (retries get a full one).
            first = _remaining(timeouts, timeouts.total - (self.clock() - queued_at))
        try:
            result = await self._with_retries(rt, target, ctx, method, call, timeouts, first, stack)
        except BaseException:
            queue.release()
            raise
        if stack is None:
            queue.release()
        else:
            stack.callback(queue.release)  # a stream holds its slot until it ends
        return result

    async def _with_retries(
        self,
        rt: ProviderRuntime,
        target: Target,
        ctx: RequestContext,
        method: str,
        call: Call[T],
        timeouts: Timeouts,
        first: Timeouts,
        stack: AsyncExitStack | None = None,
    ) -> T:
        keys = rt.config.keys
        scope = ctx.key_scope
        if scope is not None and scope.provider not in (None, rt.name):
            scope = None
        if scope is None:
            candidates = self._eligible(rt, target.model)
        else:
            candidates = scoped_keys(keys, scope.pinned, scope.batch, keyless=rt.impl.keyless)
        allowed = ctx.guard.key_filter(rt.name) if ctx.guard is not None else None
        if allowed is not None and candidates:
            candidates = [i for i in candidates if keys[i].id in allowed or keys[i].name in allowed]
            if not candidates:
                raise PermissionDeniedError(
                    f"this virtual key may not use the keys of provider '{rt.name}' that serve '{target.model}' "
                    "(its provider config's key_ids)",
                    code="provider_blocked", provider=rt.name, model=target.model,
                )  # fmt: skip
        if not candidates and not rt.impl.keyless:
            raise self._no_key_error(rt, target.model) if scope is None else self._no_scoped_key(rt, scope)
        excluded: set[int] = set()
        retries = 0
        while True:
            index = self._pick_key(rt, candidates, excluded)
            key = keys[index] if index is not None else None
            label = key.label if key is not None else None
            if label is not None:
                self.metrics.count_key_selection(rt.name, label)
            started = self.clock()
            ticket = await self._admit(rt, target, ctx) if ctx.guard is not None else None
            try:
                result = await call(rt, target, key, first)
            except BaseException as exc:
                if ticket is not None:
                    await ticket.settle(None, "failed" if isinstance(exc, Exception) else "abandoned")
                if not isinstance(exc, UpstreamError):
                    raise
                first = timeouts
                self._record_failure(rt, target, ctx, method, exc, started, index, key)
                if exc.key_failure and index is not None:
                    excluded.add(index)
                    if any(i not in excluded for i in candidates):
                        self.metrics.count_retry(rt.name, "key_rotation")
                        drop_tracebacks(exc)  # retried: its frames would hold it (a stream's first read raised it)
                        continue
                delay = self._retry_delay(rt, exc, retries)
                if delay is None:
                    raise
                retries += 1
                excluded.clear()
                self.metrics.count_retry(rt.name, str(exc.status))
                drop_tracebacks(exc)  # retried: its frames would hold it (a stream's first read raised it)
                await self.sleep(delay)
                continue
            ctx.attempts.append(Attempt(rt.name, target.model, label, 200))
            ctx.provider, ctx.model = rt.name, target.model
            if ticket is not None:
                await self._settle_success(ticket, ctx, stack)
            self.metrics.observe_upstream(
                provider=rt.name, model=target.model, method=method, status=200,
                latency=self.clock() - started, success=True, custom=ctx.custom_labels,
            )  # fmt: skip
            if index is not None and self.cooldowns.success(rt.name, index) and key is not None:
                self.metrics.set_cooldown(rt.name, key.label, False)
            return result

    async def _admit(self, rt: ProviderRuntime, target: Target, ctx: RequestContext) -> AttemptTicket | None:
        """Admission for this attempt (governance); a refusal is recorded as an attempt and raised."""
        guard = ctx.guard
        if guard is None:
            return None
        try:
            return await guard.admit(rt.name, target.model)
        except GatewayError as exc:
            ctx.attempts.append(Attempt(rt.name, target.model, None, exc.status, exc.code or "refused"))
            raise

    @staticmethod
    async def _settle_success(ticket: AttemptTicket, ctx: RequestContext, stack: AsyncExitStack | None) -> None:
        """Settle now, or for a stream when it ends (its usage arrives with the last chunks)."""
        if stack is None:
            await ticket.settle(ctx.usage, "ok")
            return

        async def at_end() -> None:
            await ticket.settle(ctx.usage, "abandoned" if ctx.abandoned else "ok")

        stack.push_async_callback(at_end)

    def _pick_key(self, rt: ProviderRuntime, candidates: list[int], excluded: set[int]) -> int | None:
        """A weighted pick among the eligible keys not excluded, preferring keys not cooling down
        (the caller counts the selection)."""
        if not candidates:
            return None
        if len(candidates) == 1 and not excluded:
            index: int | None = candidates[0]  # the only key serves, cooling or not (as select_key picks)
        else:
            cooling = self.cooldowns.cooling_keys(rt.name, candidates)
            index = select_key(rt.config.keys, candidates, self.rng, exclude=excluded, cooling=cooling)
        return index

    def _record_failure(
        self,
        rt: ProviderRuntime,
        target: Target,
        ctx: RequestContext,
        method: str,
        exc: UpstreamError,
        started: float,
        index: int | None,
        key: KeyConfig | None,
    ) -> None:
        """Name the failed attempt, count it, and start the key's cooldown when it keeps failing."""
        exc.provider = exc.provider or rt.name
        exc.model = exc.model or target.model
        label = key.label if key is not None else None
        ctx.attempts.append(Attempt(rt.name, target.model, label, exc.status, exc.message[:120]))
        self.metrics.observe_upstream(
            provider=rt.name, model=target.model, method=method, status=exc.status,
            latency=self.clock() - started, success=False, custom=ctx.custom_labels,
        )  # fmt: skip
        if index is not None and (exc.retryable or exc.key_failure):
            retry_after = exc.retry_after if exc.status == 429 else None
            if self.cooldowns.failure(rt.name, index, retry_after=retry_after) and key is not None:
                self.metrics.set_cooldown(rt.name, key.label, True)

    def _retry_delay(self, rt: ProviderRuntime, exc: UpstreamError, retries: int) -> float | None:
        """Seconds to wait before the next retry, or None when this failure is final."""
        network = rt.config.network_config
        if not exc.retryable or retries >= network.max_retries:
            return None
        return retry_delay(
            retries + 1,
            initial_ms=network.retry_backoff_initial_ms,
            max_ms=network.retry_backoff_max_ms,
            retry_after=exc.retry_after,
            max_retry_after=network.max_retry_after_in_seconds,
            rng=self.rng,
        )

    def _no_scoped_key(self, rt: ProviderRuntime, scope: KeyScope) -> GatewayError:
        if scope.pinned is not None:
            return NotFoundError(
                f"the key of provider '{rt.name}' that created this object ({scope.pinned}) is no longer configured"
            )
        return NoUsableKeyError(f"provider '{rt.name}' has no enabled key with a value", status=401, provider=rt.name)

    def _no_key_error(self, rt: ProviderRuntime, model: str) -> NoUsableKeyError:
        keys = rt.config.keys
        unset = [k.label for k in keys if k.enabled and not k.value.get_secret_value()]
        if keys and len(unset) == len([k for k in keys if k.enabled]):
            return NoUsableKeyError(
                f"provider '{rt.name}' has no API key for model '{model}': "
                + ", ".join(f"{label} is not set" for label in unset),
                status=401,
                kind="authentication",
                provider=rt.name,
                model=model,
                code="no_api_key",
            )
        return NoUsableKeyError(
            f"provider '{rt.name}' has no enabled key that allows model '{model}' "
            f"(check providers.{rt.name}.keys[].models and blacklisted_models)",
            provider=rt.name,
            model=model,
            param="model",
            code="model_not_allowed",
        )


def _build_timeouts(network: NetworkConfig, override: float | None) -> Timeouts:
    total = override or network.default_request_timeout_in_seconds
    first_byte = min(network.first_byte_timeout_in_seconds or total, total)
    idle = network.stream_idle_timeout_in_seconds
    if override is not None:
        idle = min(idle, override)
    connect = min(network.connect_timeout_in_seconds, total)
    return Timeouts(connect=connect, first_byte=first_byte, total=total, idle=idle)


def _remaining(timeouts: Timeouts, seconds: float) -> Timeouts:
    """``timeouts`` with the total (and the waits inside it) cut down to ``seconds``."""
    if seconds >= timeouts.total:
        return timeouts
    seconds = max(seconds, 0.001)
    return Timeouts(
        connect=min(timeouts.connect, seconds),
        first_byte=min(timeouts.first_byte, seconds),
        total=seconds,
        idle=timeouts.idle,
    )


def estimate_tokens(request: ChatRequest) -> int:
    """A local estimate (about four characters a token) for vendors without a counting endpoint."""
    chars = sum(len(message.text()) for message in request.messages)
    return max(1, (chars + 3) // 4) if chars else 0
