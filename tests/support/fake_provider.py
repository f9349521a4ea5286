"""One fake vendor server speaking the OpenAI, Anthropic and Gemini HTTP APIs at once.

Built on the raw HTTP/1.1 server in :mod:`tests.support.servers` (not uvicorn) so faults are exact:
a :class:`Reset` really resets the TCP connection, an :class:`EarlyClose` really stops mid-body.

Routes (any path prefix is tolerated, e.g. ``/x/v1/chat/completions``)::

    OpenAI     POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses
               (tests.support.fake_responses); GET /v1/models[/{id}]
    Anthropic  POST /v1/messages, /v1/messages/count_tokens; GET /v1/models[/{id}]
    Gemini     POST /{v1,v1beta,v1alpha}/models/{m}:{generateContent,streamGenerateContent,countTokens,
               embedContent,batchEmbedContents}; GET /{ver}/models[/{id}]

The vendor of a request is told from its path and headers (``anthropic-version``/``x-api-key`` ->
Anthropic, ``x-goog-api-key``/``/v1beta/``/``:method`` -> Gemini, else OpenAI). Answers are
deterministic: text ``"{vendor} says: {last user text}"``, usage 11 in / 7 out, tool calls to the first
declared tool with ``{"city": "Paris"}``, ``"{vendor} got tool result: {text}"`` after a tool result.

The answers themselves (constants, texts, error bodies, per-vendor response and SSE builders) live
in :mod:`tests.support.fake_answers`; their public names are re-exported here unchanged.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from tests.support.fake_answers import (
    FAKE_ANTHROPIC_MODELS,
    FAKE_ANTHROPIC_TOOL_USE_ID,
    FAKE_COMPLETION_TOKENS,
    FAKE_CREATED,
    FAKE_GEMINI_MODELS,
    FAKE_OPENAI_MODELS,
    FAKE_OPENAI_TOOL_CALL_ID,
    FAKE_PROMPT_TOKENS,
    FAKE_THOUGHT_SIGNATURE,
    FAKE_TOOL_ARG_PIECES,
    FAKE_TOOL_ARGS,
    FAKE_TOTAL_TOKENS,
    Ctx,
    Invalid,
    Planned,
    answer,
    anthropic_error_body,
    dumps,
    error_body,
    fake_embedding,
    fake_text,
    fake_tool_result_text,
    gemini_error_body,
    openai_error_body,
    split_text,
    status_reply,
    with_inband_error,
)
from tests.support.fake_cloud import CloudAccounts, cloud_answer, cloud_vendor
from tests.support.servers import HttpExchange, RawServerHandle, run_raw_http

__all__ = [
    "FAKE_ANTHROPIC_MODELS",
    "FAKE_ANTHROPIC_TOOL_USE_ID",
    "FAKE_COMPLETION_TOKENS",
    "FAKE_CREATED",
    "FAKE_GEMINI_MODELS",
    "FAKE_OPENAI_MODELS",
    "FAKE_OPENAI_TOOL_CALL_ID",
    "FAKE_PROMPT_TOKENS",
    "FAKE_THOUGHT_SIGNATURE",
    "FAKE_TOOL_ARGS",
    "FAKE_TOOL_ARG_PIECES",
    "FAKE_TOTAL_TOKENS",
    "Ctx",
    "EarlyClose",
    "FakeProvider",
    "Fault",
    "Hang",
    "Hook",
    "InBandErrorFirst",
    "Invalid",
    "MidStreamError",
    "Planned",
    "RecordedRequest",
    "Reply",
    "Reset",
    "SlowStream",
    "Status",
    "Trickle",
    "answer",
    "anthropic_error_body",
    "dumps",
    "error_body",
    "fake_embedding",
    "fake_text",
    "fake_tool_result_text",
    "gemini_error_body",
    "openai_error_body",
    "running_fake",
    "split_text",
    "sse",
    "status_reply",
    "vendor_of",
    "with_inband_error",
]

# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """Base class of the scripted faults."""


@dataclass(frozen=True)
class Status(Fault):
    """Answer with this HTTP status; ``body`` defaults to the vendor's error JSON (dict/str/bytes)."""

    code: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang(Fault):
    """Accept the request, send nothing for ``seconds`` (ends early if the client leaves), then answer."""

    seconds: float = 30.0


@dataclass(frozen=True)
class Reset(Fault):
    """Reset the TCP connection (RST) without sending a single byte of response."""


@dataclass(frozen=True)
class SlowStream(Fault):
    """Headers at once, then sleep ``delay_per_chunk`` before every body chunk (SSE frame)."""

    delay_per_chunk: float = 0.05


@dataclass(frozen=True)
class MidStreamError(Fault):
    """Stream ``after_chunks`` frames, then the vendor's in-band error event, then end the body.

    OpenAI ``data: {"error":...}``, Anthropic ``event: error`` (overloaded_error), Gemini
    ``data: {"error":{"code":503,...}}``. A non-streaming request gets the vendor's overloaded status.
    """

    after_chunks: int = 1


@dataclass(frozen=True)
class InBandErrorFirst(MidStreamError):
    """A 200 stream whose very first event is the in-band error event."""

    after_chunks: int = 0


@dataclass(frozen=True)
class EarlyClose(Fault):
    """Send ``after_chunks`` frames, then close the connection without finishing the body.

    Non-streaming: headers with the full content-length and half the body, then close.
    """

    after_chunks: int = 1


@dataclass(frozen=True)
class Trickle(Fault):
    """Headers of an HTTP ``code`` answer (the vendor's error JSON, full content-length) at once,
    then its body one byte every ``delay`` seconds (ends early if the client leaves)."""

    code: int = 500
    delay: float = 0.5


@dataclass(frozen=True)
class Reply:
    """A custom answer from a :meth:`FakeProvider.respond` hook.

    ``json`` (serialised), ``body`` (raw) or ``sse`` (frames sent as separate chunks, e.g. built
    with :func:`sse`); content-type defaults to match.
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    sse: Sequence[bytes | str] | None = None


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE frame: ``event: <event>`` (optional) and ``data: <json or str>``."""
    payload = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake received it; header names are lower-case."""

    seq: int
    vendor: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    json: Any

    @property
    def stream(self) -> bool:
        if "/converse-stream" in self.path or ":streamRawPredict" in self.path:
            return True
        return ":streamGenerateContent" in self.path or (
            isinstance(self.json, dict) and self.json.get("stream") is True
        )

    @property
    def model(self) -> str | None:
        if isinstance(self.json, dict) and isinstance(self.json.get("model"), str):
            return str(self.json["model"])
        bedrock = re.search(r"/model/([^/]+)/(?:converse|invoke)", self.path)
        if bedrock is not None:
            return unquote(bedrock.group(1))
        match = re.search(r"/models/([^/:]+):", self.path)
        return match.group(1) if match else None


Hook = Callable[[RecordedRequest], Any]
_ALIASES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "genai": "gemini", "google": "gemini",
            "bedrock": "bedrock", "vertex": "vertex", "cohere": "cohere"}


def _matches(target: str, request: RecordedRequest) -> bool:
    vendor = _ALIASES.get(target.lower())
    return request.vendor == vendor if vendor else target in request.path


def vendor_of(path: str, headers: Mapping[str, str]) -> str:
    cloud = cloud_vendor(path)
    if cloud is not None:
        return cloud
    if re.search(r"/(?:models|tunedModels)/[^/]+:\w+$", path) or re.search(r"/v1(?:beta|alpha)(?:/|$)", path):
        return "gemini"
    if "x-goog-api-key" in headers:
        return "gemini"
    if "/v1/messages" in path or "anthropic-version" in headers or "x-api-key" in headers:
        return "anthropic"
    return "openai"


# --------------------------------------------------------------------------- the server


class FakeProvider:
    """The fake vendor server. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, *, host: str = "127.0.0.1", gemini_sse_separator: str = "\r\n\r\n") -> None:
        self.host = host
        self.cloud = CloudAccounts()  # who the Bedrock / Vertex / OAuth routes accept (fake_cloud)
        self.gemini_sse_separator = gemini_sse_separator
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripts: dict[str, list[Fault]] = {}
        self._always: dict[str, Fault] = {}
        self._hooks: dict[str, Hook] = {}
        self._errors: list[BaseException] = []
        self._stack: contextlib.ExitStack | None = None
        self._handle: RawServerHandle | None = None

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        if self._handle is not None:
            raise RuntimeError("FakeProvider already started")
        with contextlib.ExitStack() as stack:
            serving = run_raw_http(self._handle_exchange, host=self.host, on_error=self._error)
            self._handle = stack.enter_context(serving)
            self._stack = stack.pop_all()
        return self

    def stop(self) -> None:
        stack, self._stack, self._handle = self._stack, None, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _running(self) -> RawServerHandle:
        if self._handle is None:
            raise RuntimeError("FakeProvider is not running (use `with FakeProvider() as fake:`)")
        return self._handle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: OpenAI SDK base_url is ``url + "/v1"``, Anthropic ``url``."""
        return self._running.url

    @property
    def port(self) -> int:
        return self._running.port

    @property
    def open_connections(self) -> int:
        return self._running.server.open_connections

    @property
    def total_connections(self) -> int:
        """Connections accepted so far (keep-alive reuse keeps this low)."""
        return self._running.server.total_connections

    @property
    def bytes_received(self) -> int:
        """Request bytes read so far (a body arriving shows here before the request is handled)."""
        return self._running.server.bytes_received

    @property
    def active_requests(self) -> int:
        return self._running.server.active_requests

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake itself (hooks, bugs); should stay empty."""
        with self._lock:
            return list(self._errors)

    def _error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)

    # recording ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def matching(self, path_contains: str | None = None, *, vendor: str | None = None) -> list[RecordedRequest]:
        found = self.requests
        if path_contains is not None:
            found = [r for r in found if path_contains in r.path]
        if vendor is not None:
            found = [r for r in found if r.vendor == _ALIASES.get(vendor, vendor)]
        return found

    def last(self, path_contains: str | None = None, *, vendor: str | None = None) -> RecordedRequest:
        found = self.matching(path_contains, vendor=vendor)
        if not found:
            seen = [f"{r.method} {r.path}" for r in self.requests]
            raise LookupError(f"no request matching path {path_contains!r} vendor {vendor!r}; got {seen}")
        return found[-1]

    def count(self, path_contains: str | None = None, *, vendor: str | None = None) -> int:
        return len(self.matching(path_contains, vendor=vendor))

    def reset(self) -> None:
        """Forget recorded requests, scripts, always-faults, hooks and errors."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
            self._always.clear()
            self._hooks.clear()
            self._errors.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.005)

    def wait_idle(self, timeout: float = 5.0, *, connections: bool = False) -> None:
        """Wait until no request is in flight (and, with ``connections``, no connection is open)."""
        self.wait_for(
            lambda: self.active_requests == 0 and (not connections or self.open_connections == 0), timeout
        )

    # scripting ------------------------------------------------------------------------------
    def script(self, target: str, faults: Sequence[Fault]) -> None:
        """Faults used one per matching request, then defaults resume. ``target`` is a vendor
        (``openai``/``anthropic``/``gemini``) or a substring of the path. Replaces an earlier script."""
        with self._lock:
            self._scripts[target] = list(faults)

    def always(self, target: str, fault: Fault | None) -> None:
        """Apply ``fault`` to every matching request (after scripts run out); None removes it."""
        with self._lock:
            if fault is None:
                self._always.pop(target, None)
            else:
                self._always[target] = fault

    def respond(self, path_contains: str, handler: Hook | None) -> None:
        """Custom answers: ``handler(request)`` returns a :class:`Reply`, a dict (JSON 200), a
        :class:`Fault`, or None for the default answer. None as handler removes the hook."""
        with self._lock:
            if handler is None:
                self._hooks.pop(path_contains, None)
            else:
                self._hooks[path_contains] = handler

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for target, queue in self._scripts.items():
                if queue and _matches(target, request):
                    return queue.pop(0)
            for target, fault in self._always.items():
                if _matches(target, request):
                    return fault
        return None

    def _hook_for(self, request: RecordedRequest) -> Hook | None:
        with self._lock:
            return next((h for p, h in self._hooks.items() if p in request.path), None)

    # serving --------------------------------------------------------------------------------
    def _record(self, exchange: HttpExchange) -> RecordedRequest:
        raw = exchange.request
        headers: dict[str, str] = {}
        for name, value in raw.headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            parsed = json.loads(raw.body) if raw.body else None
        except ValueError:
            parsed = None
        with self._lock:
            request = RecordedRequest(
                seq=len(self._requests) + 1,
                vendor=vendor_of(raw.path, headers),
                method=raw.method,
                path=raw.path,
                query=dict(parse_qsl(raw.query, keep_blank_values=True)),
                headers=headers,
                body=raw.body,
                json=parsed,
            )
            self._requests.append(request)
        return request

    async def _handle_exchange(self, exchange: HttpExchange) -> None:
        request = self._record(exchange)
        fault = self._take_fault(request)
        planned: Planned | None = None
        hook = None if isinstance(fault, (Status, Reset)) else self._hook_for(request)
        if hook is not None:
            outcome = hook(request)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if isinstance(outcome, Fault):
                fault = fault or outcome
            else:
                planned = self._from_hook(request, outcome)
        if isinstance(fault, Reset):
            exchange.reset()
            return
        if isinstance(fault, Hang):
            await exchange.sleep(fault.seconds)
            fault = None
        await self._deliver(exchange, request, fault, planned)

    async def _deliver(
        self, exchange: HttpExchange, request: RecordedRequest, fault: Fault | None, planned: Planned | None
    ) -> None:
        if isinstance(fault, Status | Trickle):
            body = fault.body if isinstance(fault, Status) else None
            headers = fault.headers if isinstance(fault, Status) else {}
            planned = status_reply(request.vendor, fault.code, body, headers, request.seq)
        elif planned is None:
            planned = self._default(request)
        if isinstance(fault, MidStreamError) and planned.status == 200:
            planned = with_inband_error(planned, request.vendor, fault.after_chunks, request.seq)
        if isinstance(fault, Trickle):
            await _trickle(exchange, planned, fault.delay)
            return
        delay = fault.delay_per_chunk if isinstance(fault, SlowStream) else 0.0
        cut = fault.after_chunks if isinstance(fault, EarlyClose) else None
        await _send(exchange, planned, delay, cut)

    def _default(self, request: RecordedRequest) -> Planned:
        ctx = Ctx(
            seq=request.seq,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.json,
            raw_body=request.body,
            gemini_sep=self.gemini_sse_separator,
        )
        if request.vendor in ("bedrock", "vertex", "google-oauth", "cohere"):
            return cloud_answer(request.vendor, ctx, self.cloud, self.url)
        try:
            return answer(request.vendor, ctx)
        except Invalid as exc:
            return status_reply(request.vendor, exc.status, error_body(
                request.vendor, exc.status, exc.message, reason=exc.reason
            ), {}, request.seq)

    def _from_hook(self, request: RecordedRequest, outcome: Any) -> Planned | None:
        if outcome is None:
            return None
        if isinstance(outcome, Mapping):
            outcome = Reply(json=dict(outcome))
        if not isinstance(outcome, Reply):
            raise TypeError(f"respond() hook returned {type(outcome).__name__}; expected Reply/dict/Fault/None")
        headers = {k.lower(): v for k, v in outcome.headers.items()}
        if outcome.sse is not None:
            headers.setdefault("content-type", "text/event-stream")
            frames = [f.encode() if isinstance(f, str) else f for f in outcome.sse]
            return Planned(outcome.status, headers, frames, streaming=True)
        if outcome.body is not None:
            headers.setdefault("content-type", "text/plain")
            body = outcome.body.encode() if isinstance(outcome.body, str) else outcome.body
        else:
            headers.setdefault("content-type", "application/json")
            body = dumps(outcome.json).encode()
        return Planned(outcome.status, headers, [body], streaming=False)


async def _trickle(exchange: HttpExchange, planned: Planned, delay: float) -> None:
    body = b"".join(planned.frames)
    await exchange.send_head(planned.status, planned.headers, content_length=len(body))
    for index in range(len(body)):
        await exchange.sleep(delay)
        if exchange.client_gone:
            return
        await exchange.write(body[index : index + 1])
    await exchange.end()


async def _send(exchange: HttpExchange, planned: Planned, delay: float, cut: int | None) -> None:
    if not planned.streaming:
        body = b"".join(planned.frames)
        if delay:
            await exchange.sleep(delay)
        await exchange.send_head(planned.status, planned.headers, content_length=len(body))
        if cut is not None:
            await exchange.write(body[: len(body) // 2])
            await exchange.close()
            return
        await exchange.write(body)
        await exchange.end()
        return
    await exchange.send_head(planned.status, planned.headers, content_length=None)
    for index, frame in enumerate(planned.frames):
        if cut is not None and index >= cut:
            await exchange.close()
            return
        if delay:
            await exchange.sleep(delay)
        if index == len(planned.frames) - 1:
            await exchange.end(frame)
            return
        await exchange.write(frame)
    await exchange.end()


@contextlib.contextmanager
def running_fake(**kwargs: Any) -> Iterator[FakeProvider]:
    """``with running_fake() as fake:`` — a started :class:`FakeProvider`, stopped on exit."""
    with FakeProvider(**kwargs) as fake:
        yield fake
