"""Neutral answers -> Gemini JSON (camelCase only: the SDK reads responses by camelCase keys)."""

from __future__ import annotations

import math
import re
from typing import Any

from .. import _json
from ..errors import BudgetExceededError, GatewayError, UpstreamError
from ..neutral import (
    AudioPart,
    ChatResponse,
    Choice,
    FilePart,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
)
from .base import ErrorReply

FINISH_REASONS: dict[FinishReason, str] = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",  # Gemini ends a function call with STOP; the functionCall parts say the rest
    "content_filter": "SAFETY",
    "error": "OTHER",
    "other": "OTHER",
}

# The shape of the ids a Gemini upstream's id-less calls get from the gateway: a Gemini client
# never saw them from Google, so they are not shown (the client's next turn pairs calls and
# responses by name and order, as Gemini does).
_GATEWAY_CALL_ID = re.compile(r"call_[0-9a-f]{24}")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",  # a gateway budget (Google has no 402 of its own)
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",  # Google has no status name for 413; the code stays truthful
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CODE_BY_KIND = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "overloaded": 503,
    "timeout": 504,
    "api_error": 500,
}


def render_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, ToolCall):
        call: dict[str, Any] = {} if _GATEWAY_CALL_ID.fullmatch(part.id) else {"id": part.id}
        call["name"] = part.name
        call["args"] = part.arguments_object()
        rendered: dict[str, Any] = {"functionCall": call}
        if part.signature:
            rendered["thoughtSignature"] = part.signature
        return rendered
    if isinstance(part, ReasoningPart):
        return render_thought(part.text, part.signature)
    if isinstance(part, ImagePart | FilePart):
        if part.data is not None:
            return {"inlineData": {"mimeType": part.media_type or "application/octet-stream", "data": part.data}}
        if part.url is not None:
            file_data = {"fileUri": part.url}
            if part.media_type:
                file_data["mimeType"] = part.media_type
            return {"fileData": file_data}
        return None
    if isinstance(part, AudioPart):
        return {"inlineData": {"mimeType": f"audio/{part.format}", "data": part.data}}
    return None  # tool results never appear in a model turn


def render_thought(text: str, signature: str | None) -> dict[str, Any] | None:
    """A thought part; Anthropic's redacted thinking has no Gemini form and is dropped."""
    if not text and not signature:
        return None
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def render_content(message: Message) -> dict[str, Any]:
    parts = [rendered for rendered in map(render_part, message.parts) if rendered is not None]
    return {"role": "model", "parts": parts} if parts else {"role": "model"}


def render_candidate(choice: Choice) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": render_content(choice.message)}
    if choice.finish_reason is not None:
        candidate["finishReason"] = FINISH_REASONS[choice.finish_reason]
    candidate["index"] = choice.index
    return candidate


def usage_metadata(usage: Usage) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(0, usage.output_tokens - usage.reasoning_tokens),
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_input_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_input_tokens
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    return metadata


def render_response(response: ChatResponse) -> dict[str, Any]:
    body: dict[str, Any] = {"candidates": [render_candidate(choice) for choice in response.choices]}
    if response.usage is not None:
        body["usageMetadata"] = usage_metadata(response.usage)
    body["modelVersion"] = response.model
    body["responseId"] = response.id
    return body


def error_code(error: GatewayError) -> int:
    """The HTTP status for a Gemini client: by kind, keeping 5xx detail (502) where it is truthful."""
    if error.kind == "api_error" and error.status in (500, 501, 502):
        return error.status
    if isinstance(error, BudgetExceededError):  # the gateway's own budget: a truthful 402
        return 402
    if error.status == 415:
        return 415
    return _CODE_BY_KIND.get(error.kind, 500)


def error_body(error: GatewayError) -> dict[str, Any]:
    """``{"error": {"code", "message", "status"}}`` with ``"error"`` as the first key."""
    code = error_code(error)
    detail: dict[str, Any] = {"code": code, "message": error.message, "status": _STATUS_NAMES.get(code, "UNKNOWN")}
    if error.retry_after is not None:
        delay = f"{max(0, math.ceil(error.retry_after))}s"
        detail["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    return {"error": detail}


def raw_upstream_error(error: GatewayError) -> tuple[int, bytes] | None:
    """A Gemini upstream's own error body, with the status its ``error.code`` says (a bad key is a
    400 there even though the gateway files it as an authentication failure)."""
    if not isinstance(error, UpstreamError) or error.raw_format != "gemini" or not error.raw_body:
        return None
    status = error.status
    try:
        code = _json.loads(error.raw_body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if isinstance(code, int) and 400 <= code <= 599:
        status = code
    return (status if status >= 400 else 500), error.raw_body


def error_reply(error: GatewayError) -> ErrorReply:
    raw = raw_upstream_error(error)
    status, body = raw if raw is not None else (error_code(error), _json.dumps(error_body(error)))
    headers = dict(error.headers)
    if status in (429, 503) and error.retry_after is not None:
        headers["retry-after"] = str(max(0, math.ceil(error.retry_after)))
    return ErrorReply(status=status, body=body, headers=headers)
