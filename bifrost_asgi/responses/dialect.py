"""The Responses dialect's routes and error shape (OpenAI's ``{"error": {...}}``).

Requests and answers go through ``ResponsesService`` (state) around ``parse``/``render``/
``stream`` (pure); the chat-style methods of the ``Dialect`` protocol serve other operations
and are not routed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .. import _json
from ..dialects import openai_render
from ..dialects.base import Call, ErrorReply, RouteSpec, StreamRenderer
from ..errors import GatewayError, NotFoundError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
)
from .parse import RESPONSES_FORMAT, parse_request

ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("POST", "/v1/responses", "responses"),
    RouteSpec("POST", "/v1/responses/input_tokens", "count_tokens"),
    RouteSpec("GET", "/v1/responses/{response_id}", "response_get"),
    RouteSpec("DELETE", "/v1/responses/{response_id}", "response_delete"),
    RouteSpec("GET", "/v1/responses/{response_id}/input_items", "response_input_items"),
)


def _elsewhere() -> NotFoundError:
    return NotFoundError("this operation is not served by the Responses API routes")


class ResponsesDialect:
    name: Format = RESPONSES_FORMAT
    routes: Sequence[RouteSpec] = ROUTES

    def render_error(self, error: GatewayError) -> ErrorReply:
        return openai_render.render_error(error)

    # The Dialect protocol's other operations: never routed to this dialect.

    def parse_chat(self, body: Any, call: Call) -> ChatRequest:
        raise _elsewhere()

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        return None  # always the neutral request

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        return None

    def passthrough_renderer(self, request: Passthrough) -> StreamRenderer:
        raise NotImplementedError("this dialect gives no Passthrough")

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes:
        raise _elsewhere()

    def stream_renderer(self, request: ChatRequest) -> StreamRenderer:
        raise _elsewhere()

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest:
        raise _elsewhere()

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes:
        raise _elsewhere()

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest:
        """``POST /v1/responses/input_tokens``: a Responses body (input, instructions, tools...),
        counted as the gateway counts for Anthropic and GenAI (the vendor's counting endpoint where
        it has one, else an estimate). A ``previous_response_id`` is not expanded."""
        return parse_request(body).chat

    def render_count_tokens(self, tokens: int) -> bytes:
        return _json.dumps({"object": "response.input_tokens", "input_tokens": tokens})

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes:
        raise _elsewhere()
