"""Neutral answers -> OpenAI JSON bodies: chat completions, legacy text completions, embeddings,
models and errors. Pure functions; the stream renderer lives in ``openai_stream.py``."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import ErrorKind, GatewayError, NotFoundError, UpstreamError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    Message,
    ModelInfo,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
)
from .base import Call, ErrorReply

FINISH_REASONS: Mapping[FinishReason, str] = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "error": "stop",
    "other": "stop",
}

# error.kind -> (OpenAI error "type", default "code")
_ERROR_TYPES: Mapping[ErrorKind, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "overloaded": ("server_error", "overloaded"),
    "timeout": ("timeout", "timeout"),
    "api_error": ("server_error", None),
}


def finish_reason(reason: FinishReason | None) -> str | None:
    return None if reason is None else FINISH_REASONS.get(reason, "stop")


def with_prefix(identifier: str, prefix: str) -> str:
    return identifier if identifier.startswith(prefix) else prefix + identifier


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def tool_call_object(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def message_object(message: Message) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(tool_call_object(part))
        elif isinstance(part, ReasoningPart) and part.text:
            reasoning.append(part.text)
    out: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    if calls:
        out["tool_calls"] = calls
    return out


def _chat_choice(choice: Choice) -> dict[str, Any]:
    return {
        "index": choice.index,
        "message": message_object(choice.message),
        "logprobs": None,
        "finish_reason": finish_reason(choice.finish_reason),
    }


def _text_choice(choice: Choice) -> dict[str, Any]:
    return {
        "text": choice.message.text(),
        "index": choice.index,
        "logprobs": None,
        "finish_reason": finish_reason(choice.finish_reason),
    }


def render_chat(response: ChatResponse, request: ChatRequest) -> bytes:
    if response.raw is not None and response.raw_format == "openai" and request.source_format == "openai":
        return response.raw
    if request.text_completion:
        body: dict[str, Any] = {
            "id": with_prefix(response.id, "cmpl-"),
            "object": "text_completion",
            "created": response.created,
            "model": request.model,
            "choices": [_text_choice(c) for c in response.choices],
        }
    else:
        body = {
            "id": with_prefix(response.id, "chatcmpl-"),
            "object": "chat.completion",
            "created": response.created,
            "model": request.model,
            "choices": [_chat_choice(c) for c in response.choices],
        }
    if response.usage is not None:
        body["usage"] = usage_object(response.usage)
    return _json.dumps(body)


# ---------------------------------------------------------------------------------- embeddings


def base64_floats(vector: Sequence[float]) -> str:
    """Little-endian float32, base64: what the OpenAI SDK decodes for ``encoding_format="base64"``."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def render_embeddings(response: EmbeddingResponse, request: EmbeddingRequest) -> bytes:
    as_base64 = request.raw is not None and request.raw.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64_floats(vector) if as_base64 else list(vector),
        }
        for i, vector in enumerate(response.vectors)
    ]
    body: dict[str, Any] = {"object": "list", "data": data, "model": request.model}
    if response.usage is not None:  # an upstream that reports no counts: no usage claimed, not 0
        prompt_tokens = response.usage.input_tokens
        body["usage"] = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return _json.dumps(body)


# ---------------------------------------------------------------------------------- models


def _model_object(model: ModelInfo, default_provider: str | None) -> dict[str, Any]:
    model_id = model.listed_id(default_provider)
    return {"id": model_id, "object": "model", "created": model.created, "owned_by": model.provider}


def render_models(models: Sequence[ModelInfo], call: Call) -> bytes:
    """The list, or for the single-model route the model named by ``model_id`` (else the first
    given: the caller may have filtered already)."""
    objects = [_model_object(m, call.default_provider) for m in models]
    if not call.options.get("single"):
        return _json.dumps({"object": "list", "data": objects})
    wanted = call.path_params.get("model_id", "")
    for obj, model in zip(objects, models, strict=True):
        if wanted in (obj["id"], model.id, f"{model.provider}/{model.id}"):
            return _json.dumps(obj)
    if objects:
        return _json.dumps(objects[0])
    raise NotFoundError(f"model '{wanted}' not found", param="model", code="model_not_found")


# ---------------------------------------------------------------------------------- errors


def error_object(error: GatewayError) -> dict[str, Any]:
    kind_type, default_code = _ERROR_TYPES.get(error.kind, ("server_error", None))
    return {
        "message": error.message,
        "type": kind_type,
        "param": error.param,
        "code": error.code or default_code,
    }


def _status(error: GatewayError) -> int:
    return 503 if error.status == 529 else error.status


def _headers(error: GatewayError, status: int) -> dict[str, str]:
    headers = dict(error.headers)
    if error.retry_after is not None and status in (429, 503):
        seconds = max(0.0, error.retry_after)
        headers["retry-after"] = str(math.ceil(seconds))
        headers["retry-after-ms"] = str(round(seconds * 1000))
    if status == 429 and isinstance(error, UpstreamError) and not error.retryable:
        headers["x-should-retry"] = "false"  # e.g. insufficient_quota: retrying cannot help
    return headers


def render_error(error: GatewayError) -> ErrorReply:
    status = _status(error)
    headers = _headers(error, status)
    if isinstance(error, UpstreamError) and error.raw_format == "openai" and error.raw_body:
        return ErrorReply(status, error.raw_body, headers)
    return ErrorReply(status, _json.dumps({"error": error_object(error)}), headers)
