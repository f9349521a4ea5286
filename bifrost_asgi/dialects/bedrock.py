"""The Bedrock runtime dialect (boto3 ``bedrock-runtime`` with ``endpoint_url=http://gw/bedrock``):
``converse``, ``converse_stream`` (event-stream framed), ``invoke_model`` and
``invoke_model_with_response_stream`` (Anthropic Messages bodies, ``anthropic_version:
bedrock-...``; the stream as base64 ``chunk`` events) and ``count_tokens``, reaching every provider.

The model is the path's ``modelId`` (boto3 percent-encodes it; ``provider/model`` names reach any
provider, bare ids default to the ``bedrock`` provider). A SigV4 ``Authorization`` from the client
is accepted and not checked: the gateway signs upstream with its own credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .. import _json
from ..errors import GatewayError, InvalidRequestError, NotFoundError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
)
from .anthropic import AnthropicDialect
from .base import Call, ErrorReply, RouteSpec, StreamRenderer
from .bedrock_render import ConverseStreamRenderer, InvokeStreamRenderer, render_converse, render_error
from .bedrock_request import parse_converse

ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("POST", "/model/{model_id:path}/converse", "chat"),
    RouteSpec("POST", "/model/{model_id:path}/converse-stream", "chat", {"stream": True}),
    RouteSpec("POST", "/model/{model_id:path}/invoke", "chat", {"invoke": True}),
    RouteSpec("POST", "/model/{model_id:path}/invoke-with-response-stream", "chat", {"invoke": True, "stream": True}),
    RouteSpec("POST", "/model/{model_id:path}/count-tokens", "count_tokens"),
)

_ANTHROPIC = AnthropicDialect()


def _model(call: Call) -> str:
    model = call.path_params.get("model_id", "")
    if not model:
        raise InvalidRequestError("modelId: required in the path", param="modelId")
    return model


def _invoke_body(body: Any, model: str, *, stream: bool = False) -> dict[str, Any]:
    """An ``invoke_model`` body for an Anthropic model on Bedrock, as an Anthropic Messages body."""
    if not isinstance(body, dict) or "messages" not in body or "anthropic_version" not in body:
        raise InvalidRequestError(
            "invoke_model through the gateway takes Anthropic Messages bodies (with anthropic_version, as "
            "for Claude on Bedrock); for any other model use converse",
            param="body",
        )
    fields = {k: v for k, v in body.items() if k not in ("anthropic_version", "stream")}  # the route decides
    return {**fields, "model": model, "stream": True} if stream else {**fields, "model": model}


class BedrockDialect:
    name: Format = "bedrock"
    routes: Sequence[RouteSpec] = ROUTES

    def parse_chat(self, body: Any, call: Call) -> ChatRequest:
        model = _model(call)
        if call.options.get("invoke"):
            return _ANTHROPIC.parse_chat(_invoke_body(body, model, stream=bool(call.options.get("stream"))), call)
        return parse_converse(body, model, stream=bool(call.options.get("stream")))

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        return None  # always the neutral request

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        return None

    def passthrough_renderer(self, request: Passthrough) -> StreamRenderer:
        raise NotImplementedError("this dialect gives no Passthrough")

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes:
        if request.source_format == "anthropic":  # invoke_model: the model's own (Anthropic) shape
            return _ANTHROPIC.render_chat(response, request)
        return render_converse(response, same_format=request.source_format == "bedrock")

    def stream_renderer(self, request: ChatRequest) -> StreamRenderer:
        if request.source_format == "anthropic":  # invoke_model_with_response_stream
            return InvokeStreamRenderer(_ANTHROPIC.stream_renderer(request))
        return ConverseStreamRenderer()

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest:
        raise NotFoundError("embeddings are not served on the Bedrock routes")

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes:
        raise NotFoundError("embeddings are not served on the Bedrock routes")  # pragma: no cover

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest:
        """``{"input": {"converse": {...}}}`` or ``{"input": {"invokeModel": {"body": "<json>"}}}``."""
        model = _model(call)
        wrapper = body.get("input") if isinstance(body, dict) else None
        if isinstance(wrapper, dict) and isinstance(wrapper.get("converse"), dict):
            return parse_converse(wrapper["converse"], model, stream=False)
        if isinstance(wrapper, dict) and isinstance(wrapper.get("invokeModel"), dict):
            raw = wrapper["invokeModel"].get("body")
            try:
                inner = _json.loads(raw) if isinstance(raw, str | bytes) else raw
            except ValueError:
                raise InvalidRequestError("input.invokeModel.body: not valid JSON", param="input") from None
            return _ANTHROPIC.parse_count_tokens(_invoke_body(inner, model), call)
        raise InvalidRequestError("input: expected {'converse': {...}} or {'invokeModel': {'body': ...}}",
                                  param="input")  # fmt: skip

    def render_count_tokens(self, tokens: int) -> bytes:
        return _json.dumps({"inputTokens": tokens})

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes:
        raise NotFoundError("model lists are a Bedrock control-plane call, not served on bedrock-runtime")

    def render_error(self, error: GatewayError) -> ErrorReply:
        return render_error(error)
