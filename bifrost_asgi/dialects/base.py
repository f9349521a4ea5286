"""The dialect contract: pure parsing of a client's request and rendering of answers in its format.

Routes are plain data (``RouteSpec``); ``app.py`` turns them into Starlette routes and
``gateway.py`` runs the one-way flow: parse -> route -> render.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol

from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
    StreamEvent,
)

Operation = Literal[
    "chat",
    "embeddings",
    "count_tokens",
    "models",
    "model",
    "responses",
    "response_get",
    "response_delete",
    "response_input_items",
    "mcp_execute",
    "forward",
]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str  # Starlette path template, relative to the dialect's mount point
    operation: Operation
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"stream": True}


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class Call(NamedTuple):
    """What a dialect may read about an inbound HTTP request besides its JSON body. A named tuple
    (immutable): built once per request, and a frozen dataclass cost several times as much."""

    path_params: Mapping[str, str] = _NOTHING
    query: Mapping[str, str] = _NOTHING
    headers: Mapping[str, str] = _NOTHING  # lower-cased names
    options: Mapping[str, Any] = _NOTHING  # from the RouteSpec
    default_provider: str | None = None  # the mount's default ("openai" on /openai, ...)
    # Routes whose body goes upstream as it arrives (GenAI upload chunks): the body, unread, and
    # the URL the client reached the route at (``scheme://host/root/path``).
    body_stream: AsyncIterator[bytes] | None = None
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class StreamRenderer(Protocol):
    """Stateful: renders one stream's neutral events as SSE bytes in the client's format."""

    media_type: str

    def render(self, event: StreamEvent) -> bytes: ...

    def finish(self) -> bytes:
        """The stream ended normally: whatever the format still owes (``[DONE]``, ``message_stop``)."""
        ...

    def fail(self, error: GatewayError) -> bytes:
        """The stream broke after content was sent: an error frame valid in this format."""
        ...


class Dialect(Protocol):
    name: Format
    routes: Sequence[RouteSpec]

    def parse_chat(self, body: Any, call: Call) -> ChatRequest: ...

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        """The body as a same-format ``Passthrough`` when it is certainly valid and needs no
        neutral form on the way (a chat for an upstream of the dialect's own format); None: parse it."""
        ...

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        """The ``model`` and ``fallbacks`` a ``passthrough_chat`` of ``body`` would give, from the
        body's top level only (the gateway plans with them before the walk); None when
        ``passthrough_chat`` certainly gives None."""
        ...

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes: ...

    def stream_renderer(self, request: ChatRequest) -> StreamRenderer: ...

    def passthrough_renderer(self, request: Passthrough) -> StreamRenderer:
        """``stream_renderer`` of a streamed ``Passthrough`` this dialect gave (as for its request)."""
        ...

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest: ...

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes: ...

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest: ...

    def render_count_tokens(self, tokens: int) -> bytes: ...

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes: ...

    def render_error(self, error: GatewayError) -> ErrorReply: ...
