"""The provider contract: pure request building and response parsing for one upstream wire format.

Providers do no I/O. The router sends what ``build_*`` returns through the upstream seam
(``upstream.py``) and hands the answer to ``parse_*``. A provider that cannot express part of a
request raises ``UnsupportedFeatureError`` (400) naming what and why, never drops it silently.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .. import _json
from ..config.settings import KeyConfig, ProviderConfig
from ..errors import UpstreamError, UpstreamProtocolError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
    StreamEvent,
    Usage,
)
from ..neutral._build import fast_new
from ..streaming import SSEEvent


@fast_new
@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: bool = False
    body_stream: AsyncIterable[bytes] | None = None  # sent as it is read, instead of ``body``

    @property
    def payload(self) -> bytes | AsyncIterable[bytes] | None:
        """What the upstream client sends: the streamed body, else ``body``."""
        return self.body_stream if self.body_stream is not None else self.body


@fast_new
@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # lower-cased names, or a case-insensitive mapping
    body: bytes


def json_object(body: bytes, provider: str, what: str) -> dict[str, Any]:
    """An upstream answer that must be a JSON object; anything else is a 502 naming the provider."""
    try:
        value = _json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(f"{provider} returned an unreadable {what} answer", provider=provider)
    return value


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """From ``retry-after-ms``, else ``retry-after`` (seconds, or an HTTP date measured against the
    response's own ``date`` header: no clock here)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        until = email.utils.parsedate_to_datetime(value)
        now = email.utils.parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (until - now).total_seconds())


class StreamDecoder(Protocol):
    """Upstream stream bytes -> framed events (a name and a text payload) for the provider's
    ``StreamParser``: SSE for most vendors (``streaming.SSEDecoder``), AWS event-stream for Bedrock."""

    def feed(self, chunk: bytes) -> Iterable[SSEEvent]: ...

    def close(self) -> Iterable[SSEEvent]: ...


class RequestAuth(Protocol):
    """Signs or authorizes a built request just before it is sent (SigV4, OAuth bearer tokens).
    May do I/O (credential discovery, token minting), which is why it is async and separate from
    the pure ``build_*``; failures are ``UpstreamError`` 401s so the key is rotated and cooled."""

    async def authorize(self, request: UpstreamRequest, key: KeyConfig | None) -> UpstreamRequest: ...


class StreamParser(Protocol):
    """Turns the upstream's SSE events into neutral events, keeping whatever state it needs."""

    def feed(self, event: SSEEvent) -> Iterable[StreamEvent]: ...

    def close(self) -> Iterable[StreamEvent]:
        """The upstream ended the stream; emit what is still owed (e.g. a missing Finish)."""
        ...


class Provider(Protocol):
    name: str  # as configured, e.g. "openai", "groq", "my-vllm"
    format: Format  # the upstream wire format
    keyless: bool  # requests may go without a key (ollama, vllm...)
    auth: RequestAuth | None  # None: build_* put the credentials in the request already

    def stream_decoder(self, max_event_bytes: int) -> StreamDecoder:
        """A fresh decoder for one stream; SSE events over ``max_event_bytes`` are a 502."""
        ...

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest: ...

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse: ...

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser: ...

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest: ...

    def parse_embeddings(
        self, response: UpstreamResponse, request: EmbeddingRequest, model: str
    ) -> EmbeddingResponse: ...

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest | None:
        """``None`` when the vendor has no counting endpoint (the gateway then estimates)."""
        ...

    def parse_count_tokens(self, response: UpstreamResponse) -> int: ...

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest | None:
        """``None`` when models cannot be listed upstream (configured key ``models`` are used)."""
        ...

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]: ...

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        """An upstream error answer (status >= 400) as an ``UpstreamError`` with a readable message."""
        ...


@runtime_checkable
class PassthroughProvider(Protocol):
    """A provider that also takes a chat body in its own wire format as the client sent it
    (``Passthrough``): the same upstream request ``build_chat`` makes from that body as
    ``ChatRequest.raw``, and the answer body as it came with its usage, checked as ``parse_chat``
    checks it. The router uses it when every target of a request is one of these for its format."""

    format: Format

    def build_passthrough(self, request: Passthrough, model: str, key: KeyConfig | None) -> UpstreamRequest: ...

    def parse_passthrough(self, response: UpstreamResponse, model: str) -> tuple[bytes, Usage | None]: ...

    def passthrough_stream_parser(self, model: str) -> StreamParser:
        """The stream parser ``stream_parser`` gives a streamed ``Passthrough``'s request."""
        ...


class ProviderFactory(Protocol):
    def __call__(self, name: str, config: ProviderConfig) -> Provider: ...
