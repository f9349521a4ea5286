"""The Anthropic Messages dialect: what the Anthropic SDKs send to ``/anthropic`` and expect back.

Request parsing lives in ``anthropic_request.py``, stream rendering in ``anthropic_stream.py``.
Same-format passthrough: when the client speaks Anthropic and the upstream answered in
Anthropic's format, ``render_chat`` and ``render_error`` return the upstream body verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .. import _json
from ..errors import GatewayError, NotFoundError, UpstreamError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    Message,
    ModelInfo,
    Passthrough,
    ReasoningPart,
    TextPart,
    ToolCall,
)
from .anthropic_request import parse_request
from .anthropic_stream import AnthropicStreamRenderer
from .anthropic_wire import (
    error_body,
    error_headers,
    error_type_and_status,
    message_id,
    stop_reason,
    tool_id,
    usage_object,
)
from .base import Call, ErrorReply, RouteSpec, StreamRenderer
from .paging import anthropic_page


def _content_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ReasoningPart):
            if part.redacted is not None:
                blocks.append({"type": "redacted_thinking", "data": part.redacted})
            if part.text or part.signature:
                blocks.append({"type": "thinking", "thinking": part.text, "signature": part.signature or ""})
        elif isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCall):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_id(part.id),
                    "name": part.name,
                    "input": part.arguments_object(),
                }
            )
    return blocks


def _created_at(created: int) -> str:
    return datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _model_object(model: ModelInfo) -> dict[str, Any]:
    model_id = model.listed_id("anthropic")
    return {
        "type": "model",
        "id": model_id,
        "display_name": model.display_name or model.id,
        "created_at": _created_at(model.created),
        "lifecycle": "active",  # required by anthropic SDK 2.x's ModelInfo
    }


class AnthropicDialect:
    """Routes are relative to the dialect's mount (``/anthropic``)."""

    name: Format = "anthropic"

    def __init__(self) -> None:
        self.routes: Sequence[RouteSpec] = (
            RouteSpec("POST", "/v1/messages", "chat"),
            RouteSpec("POST", "/v1/messages/count_tokens", "count_tokens"),
            RouteSpec("GET", "/v1/models", "models"),
            RouteSpec("GET", "/v1/models/{model_id:path}", "model", options={"single": True}),
        )

    # --- chat ---------------------------------------------------------------------------------

    def parse_chat(self, body: Any, call: Call) -> ChatRequest:
        return parse_request(body, call.headers)

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        return None  # always the neutral request

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        return None

    def passthrough_renderer(self, request: Passthrough) -> StreamRenderer:
        raise NotImplementedError("this dialect gives no Passthrough")

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes:
        if response.raw is not None and response.raw_format == "anthropic" and request.source_format == "anthropic":
            return response.raw
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else Message("assistant")
        body = {
            "id": message_id(response.id),
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": _content_blocks(message),
            "stop_reason": stop_reason(choice.finish_reason if choice else None, bool(message.tool_calls)),
            "stop_sequence": choice.stop_sequence if choice else None,
            "usage": usage_object(response.usage),
        }
        return _json.dumps(body)

    def stream_renderer(self, request: ChatRequest) -> AnthropicStreamRenderer:
        return AnthropicStreamRenderer(request.model)

    # --- embeddings: the Anthropic API has none -------------------------------------------

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest:
        raise NotFoundError("the Anthropic API has no embeddings endpoint")

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes:
        raise NotFoundError("the Anthropic API has no embeddings endpoint")

    # --- count_tokens and models ------------------------------------------------------------

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest:
        return parse_request(body, call.headers, count_tokens=True)

    def render_count_tokens(self, tokens: int) -> bytes:
        return _json.dumps({"input_tokens": tokens})

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes:
        if call.options.get("single"):
            if not models:
                wanted = call.path_params.get("model_id", "")
                raise NotFoundError(f"model: {wanted!r} not found", param="model")
            return _json.dumps(_model_object(models[0]))
        data, more = anthropic_page([_model_object(m) for m in models], call.query)
        return _json.dumps(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    # --- errors -------------------------------------------------------------------------------

    def render_error(self, error: GatewayError) -> ErrorReply:
        if isinstance(error, UpstreamError) and error.raw_format == "anthropic" and error.raw_body:
            return ErrorReply(error.status, error.raw_body, error_headers(error, error.status))
        _, status = error_type_and_status(error)
        return ErrorReply(status, _json.dumps(error_body(error)), error_headers(error, status))
