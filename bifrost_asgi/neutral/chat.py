"""The neutral chat schema: what every dialect parses into and every provider builds from.

Frozen, slotted dataclasses; no vendor names, no I/O. Conventions:

* A message is a role plus an ordered tuple of parts. Tool calls are parts of an
  ``assistant`` message; tool results are parts of a ``tool`` message (one message may
  hold several results, e.g. an Anthropic user turn with parallel ``tool_result`` blocks).
* ``system``/``developer`` messages keep their position; providers that need a top-level
  system prompt hoist them.
* Tool-call arguments are kept as the JSON *text* the model produced (OpenAI semantics);
  ``ToolCall.arguments_object()`` parses them for vendors that want an object.
* Prompt-cache breakpoints (Anthropic ``cache_control``, Bedrock ``cachePoint``) are ``CacheHint``s
  beside the content they close: ``Message.cache`` pairs a part's index with its hint, ``ToolSpec.cache``
  marks a tool. Vendors that cache on their own (OpenAI, Gemini, Cohere) ignore them.
* ``Usage.input_tokens`` counts the whole prompt, cached tokens included (OpenAI semantics);
  ``output_tokens`` includes reasoning tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import _json
from ._build import fast_new

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "stop_sequence", "length", "tool_calls", "content_filter", "error", "other"]
# ``openai_responses`` is OpenAI's Responses API: a client format, and an upstream format for
# OpenAI and Azure (every other provider gets it translated from the neutral request).
Format = Literal["openai", "anthropic", "gemini", "bedrock", "cohere", "openai_responses"]


@fast_new
@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@fast_new
@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image, by URL or inline base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class FilePart:
    """A document (PDF, text...), inline base64 ``data``, a ``url`` or a vendor ``file_id``."""

    data: str | None = None
    media_type: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class AudioPart:
    data: str
    format: str


@fast_new
@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """Model thinking. ``signature`` must be echoed back unchanged to the vendor that made it;
    ``redacted`` holds opaque redacted-thinking data (Anthropic)."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str = "{}"
    signature: str | None = None  # Gemini thoughtSignature, echoed back on the next turn

    def arguments_object(self) -> dict[str, Any]:
        """The arguments as an object; invalid or non-object JSON gives ``{}`` (lossy by nature)."""
        if not self.arguments.strip():
            return {}
        try:
            value = _json.loads(self.arguments)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {"value": value}


@fast_new
@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    content: tuple[Part, ...] = ()
    is_error: bool = False
    name: str | None = None  # the called function's name when the dialect knows it

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


Part = TextPart | ImagePart | FilePart | AudioPart | ReasoningPart | ToolCall | ToolResult


@fast_new
@dataclass(frozen=True, slots=True)
class CacheHint:
    """A prompt-cache breakpoint: the prompt up to and including what it marks may be cached and
    reused. ``ttl`` is ``"5m"``, ``"1h"`` or ``None`` (the vendor's default)."""

    ttl: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...] = ()
    name: str | None = None
    # (index into ``parts``, hint): a cache breakpoint right after that part.
    cache: tuple[tuple[int, CacheHint], ...] = ()

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCall))


@fast_new
@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    cache: CacheHint | None = None  # a cache breakpoint after this tool (the tool list up to it)


@fast_new
@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``auto`` | ``none`` | ``required`` (any tool) | ``tool`` (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class Reasoning:
    """Thinking controls: an ``effort`` word and/or a token ``budget``; ``enabled=False`` turns it off."""

    effort: str | None = None
    budget_tokens: int | None = None
    enabled: bool | None = None
    include_thoughts: bool | None = None
    summary: str | None = None  # "auto" | "concise" | "detailed" (Bifrost's reasoning_summary)


@fast_new
@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    source_format: Format = "openai"
    stream: bool = False
    include_usage: bool = False  # the client asked for usage in the stream
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    n: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    fallbacks: tuple[str, ...] = ()
    # The client's body as parsed JSON, for same-format passthrough (only ``model`` is rewritten).
    raw: Mapping[str, Any] | None = None
    # Vendor-specific request headers to forward when the provider speaks the same format
    # (e.g. ``anthropic-beta``).
    passthrough_headers: Mapping[str, str] = field(default_factory=dict)
    # Fields the client sent that have no neutral equivalent: name -> value. A provider of
    # another format must refuse (400) any it cannot honour rather than drop it silently.
    untranslatable: Mapping[str, Any] = field(default_factory=dict)
    # Legacy text completion (``/v1/completions``): the prompt arrives as one user message.
    text_completion: bool = False
    # A same-format stream may be relayed to the client as the upstream sent it
    # (``UpstreamFrame``); False when something between needs every neutral event (MCP agent mode).
    relay_frames: bool = True


@fast_new
@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@fast_new
@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None = "stop"
    stop_sequence: str | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class ChatResponse:
    id: str
    model: str
    choices: tuple[Choice, ...]
    usage: Usage | None = None
    created: int = 0
    # The upstream body, when it is already in ``raw_format``: a client of that same
    # format gets it byte for byte.
    raw: bytes | None = None
    raw_format: Format | None = None

    @property
    def message(self) -> Message:
        return self.choices[0].message if self.choices else Message("assistant")


@fast_new
@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    inputs: tuple[str | tuple[int, ...], ...]
    source_format: Format = "openai"
    dimensions: int | None = None
    task_type: str | None = None
    user: str | None = None
    fallbacks: tuple[str, ...] = ()
    raw: Mapping[str, Any] | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    model: str
    vectors: tuple[tuple[float, ...], ...]
    usage: Usage | None = None


@fast_new
@dataclass(frozen=True, slots=True)
class CountTokensRequest:
    model: str
    chat: ChatRequest


@fast_new
@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str  # the upstream model name (no provider prefix), or the alias
    provider: str
    created: int = 0
    display_name: str | None = None
    # A name the gateway resolves itself (a ``routing.aliases`` entry): listed as it is, never as
    # ``provider/id``; ``provider`` is its first target's.
    alias: bool = False

    def listed_id(self, home: str | None) -> str:
        """The id a client sends: bare on the provider's own route and for aliases, else ``provider/id``."""
        return self.id if self.alias or self.provider == home else f"{self.provider}/{self.id}"
