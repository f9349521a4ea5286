"""Small Anthropic wire helpers shared by the response and stream renderers (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..errors import ErrorKind, GatewayError, UpstreamError
from ..neutral import FinishReason, Usage

_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

_STOP_REASONS: Mapping[FinishReason, str] = MappingProxyType(
    {
        "stop": "end_turn",
        "stop_sequence": "stop_sequence",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
        "error": "end_turn",
        "other": "end_turn",
    }
)

# kind -> (error.type, HTTP status); ``None`` keeps the error's own status (see ``error_reply_parts``).
_ERROR_TYPES: Mapping[ErrorKind, tuple[str, int | None]] = MappingProxyType(
    {
        "invalid_request": ("invalid_request_error", None),
        "authentication": ("authentication_error", 401),
        "permission": ("permission_error", 403),
        "not_found": ("not_found_error", 404),
        "request_too_large": ("request_too_large", 413),
        "rate_limit": ("rate_limit_error", 429),
        "overloaded": ("overloaded_error", 529),
        "timeout": ("timeout_error", 504),
        "api_error": ("api_error", None),
    }
)

_RETRY_AFTER_STATUSES = frozenset({429, 503, 529})


def tool_id(call_id: str) -> str:
    """A tool-call id Anthropic clients accept (``^[a-zA-Z0-9_-]+$``); deterministic."""
    return _ID_UNSAFE.sub("_", call_id) or "toolu_"


def message_id(response_id: str) -> str:
    """``msg_...`` derived from the upstream response id."""
    if response_id.startswith("msg_"):
        return response_id
    return "msg_" + _ID_UNSAFE.sub("_", response_id)


def stop_reason(reason: FinishReason | None, has_tool_calls: bool) -> str:
    """Neutral finish reason -> ``stop_reason`` (wire-formats E.4). A plain stop with tool calls
    is ``tool_use``: Anthropic clients run their tool loop on that value."""
    if has_tool_calls and reason in (None, "stop", "tool_calls", "other"):
        return "tool_use"
    return _STOP_REASONS[reason] if reason is not None else "end_turn"


def usage_object(usage: Usage | None) -> dict[str, int]:
    """Anthropic usage: ``input_tokens`` excludes cache reads and writes."""
    if usage is None:
        usage = Usage()
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_creation_tokens
    return {
        "input_tokens": max(0, uncached),
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens,
    }


def error_type_and_status(error: GatewayError) -> tuple[str, int]:
    if isinstance(error, UpstreamError) and error.raw_format == "anthropic" and error.upstream_type:
        return error.upstream_type, error.status
    if error.status == 402:
        return "billing_error", 402
    error_type, status = _ERROR_TYPES[error.kind]
    if status is not None:
        return error_type, status
    if error.kind == "invalid_request":
        return error_type, error.status if 400 <= error.status < 500 else 400
    return error_type, error.status if error.status >= 500 else 500


def error_body(error: GatewayError) -> dict[str, Any]:
    error_type, _ = error_type_and_status(error)
    return {"type": "error", "error": {"type": error_type, "message": error.message}}


def error_headers(error: GatewayError, status: int) -> dict[str, str]:
    headers = dict(error.headers)
    if error.retry_after is not None and status in _RETRY_AFTER_STATUSES:
        headers["retry-after"] = str(max(0, math.ceil(error.retry_after)))
    if status == 429 and isinstance(error, UpstreamError) and not error.retryable:
        headers["x-should-retry"] = "false"  # e.g. OpenAI insufficient_quota: the SDK must not retry
    return headers
