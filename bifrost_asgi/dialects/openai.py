"""The OpenAI dialect: what the OpenAI SDKs (and everything that imitates them) send and expect.

Routes are relative; the app mounts them at the root and under ``/openai`` (where the SDK's
``base_url=".../openai"`` drops the ``/v1``). Parsing lives in ``openai_parse.py``, rendering in
``openai_render.py`` and ``openai_stream.py``; this module ties them into a ``Dialect``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
)
from . import openai_render
from .base import Call, ErrorReply, RouteSpec
from .openai_messages import bad
from .openai_parse import (
    parse_chat_body,
    parse_completion_body,
    parse_fallbacks,
    require_model,
    require_object,
    without_fallbacks,
)
from .openai_passthrough import passthrough_chat_body, passthrough_head
from .openai_stream import OpenAIStreamRenderer

ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("POST", "/v1/chat/completions", "chat"),
    RouteSpec("POST", "/v1/completions", "chat", {"text": True}),
    RouteSpec("POST", "/v1/embeddings", "embeddings"),
    RouteSpec("GET", "/v1/models", "models"),
    RouteSpec("GET", "/v1/models/{model_id:path}", "model", {"single": True}),
)

_ENCODINGS = frozenset({"float", "base64"})


def _embedding_inputs(value: Any) -> tuple[str | tuple[int, ...], ...]:
    if value is None:
        raise bad("input", "required")
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        raise bad("input", "expected a string, a non-empty list of strings, or token ids")
    if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        return (tuple(value),)
    inputs: list[str | tuple[int, ...]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            inputs.append(item)
        elif isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item):
            inputs.append(tuple(item))
        else:
            raise bad(f"input[{i}]", "expected a string or a non-empty list of token ids")
    return tuple(inputs)


def parse_embeddings_body(body: Any) -> EmbeddingRequest:
    body = require_object(body)
    model = require_model(body)
    inputs = _embedding_inputs(body.get("input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise bad("dimensions", "expected a positive integer")
    encoding = body.get("encoding_format")
    if encoding is not None and (not isinstance(encoding, str) or encoding not in _ENCODINGS):
        raise bad("encoding_format", f"expected 'float' or 'base64', got {encoding!r}")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise bad("user", "expected a string")
    return EmbeddingRequest(
        model=model,
        inputs=inputs,
        source_format="openai",
        dimensions=dimensions,
        user=user,
        fallbacks=parse_fallbacks(body),
        raw=without_fallbacks(body),
    )


def _deployment_model(body: Any, call: Call) -> Any:
    """Azure OpenAI paths name the model by deployment (``/openai/deployments/{deployment}/...``);
    a bare name is the azure provider's when one is configured (the route's default), as Bifrost
    makes it ``azure/<deployment>`` (model families would send ``gpt-4o`` to openai otherwise)."""
    deployment = call.path_params.get("deployment")
    if deployment is None or not isinstance(body, dict):
        return body
    if call.default_provider == "azure" and "/" not in deployment:
        deployment = "azure/" + deployment
    return {**body, "model": deployment}


class OpenAIDialect:
    """OpenAI Chat Completions, legacy Completions, Embeddings and Models."""

    name: Format = "openai"
    routes: Sequence[RouteSpec] = ROUTES

    def parse_chat(self, body: Any, call: Call) -> ChatRequest:
        body = _deployment_model(body, call)
        if call.options.get("text"):
            return parse_completion_body(body)
        return parse_chat_body(body)

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        if call.options.get("text"):
            return None  # legacy completions: the neutral request
        return passthrough_chat_body(_deployment_model(body, call))

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        if call.options.get("text"):
            return None
        return passthrough_head(_deployment_model(body, call))

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes:
        return openai_render.render_chat(response, request)

    def stream_renderer(self, request: ChatRequest) -> OpenAIStreamRenderer:
        return OpenAIStreamRenderer(request)

    def passthrough_renderer(self, request: Passthrough) -> OpenAIStreamRenderer:
        return OpenAIStreamRenderer.of(request.model, include_usage=request.include_usage, n=request.n)

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest:
        return parse_embeddings_body(_deployment_model(body, call))

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes:
        return openai_render.render_embeddings(response, request)

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest:
        return parse_chat_body(body)

    def render_count_tokens(self, tokens: int) -> bytes:
        return _json.dumps({"input_tokens": tokens})

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes:
        return openai_render.render_models(models, call)

    def render_error(self, error: GatewayError) -> ErrorReply:
        return openai_render.render_error(error)
