"""Anthropic answer pieces -> neutral: stop reasons, usage, error types (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..errors import ErrorKind, UpstreamError
from ..neutral import FinishReason, Usage

_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

FINISH_REASONS: Mapping[str, FinishReason] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop_sequence",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "pause_turn": "other",
    }
)

# error.type -> (HTTP status, neutral kind); the status is what Anthropic answers with that type.
ERROR_TYPES: Mapping[str, tuple[int, ErrorKind]] = MappingProxyType(
    {
        "invalid_request_error": (400, "invalid_request"),
        "authentication_error": (401, "authentication"),
        "billing_error": (402, "permission"),
        "permission_error": (403, "permission"),
        "not_found_error": (404, "not_found"),
        "request_too_large": (413, "request_too_large"),
        "rate_limit_error": (429, "rate_limit"),
        "api_error": (500, "api_error"),
        "timeout_error": (504, "timeout"),
        "overloaded_error": (529, "overloaded"),
    }
)


def tool_id(call_id: str) -> str:
    """Anthropic requires ``^[a-zA-Z0-9_-]+$``; replace anything else with ``_`` (deterministic,
    so a ``tool_use.id`` and its ``tool_result.tool_use_id`` stay equal)."""
    return _ID_UNSAFE.sub("_", call_id) or "toolu_"


def finish_reason(stop_reason: Any) -> FinishReason | None:
    if not isinstance(stop_reason, str):
        return None
    return FINISH_REASONS.get(stop_reason, "other")


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(usage: Any, base: Usage | None = None) -> Usage:
    """Anthropic usage -> neutral (``input_tokens`` there excludes cache reads and writes).
    Fields missing from ``usage`` keep their value from ``base`` (stream updates are partial)."""
    if base is None:  # a whole answer's usage: every missing field is 0, as with ``Usage()`` for base
        if not isinstance(usage, dict):
            return Usage()
        reads = _count(usage, "cache_read_input_tokens")
        writes = _count(usage, "cache_creation_input_tokens")
        details = usage.get("output_tokens_details")
        return Usage(
            _count(usage, "input_tokens") + reads + writes,
            _count(usage, "output_tokens"),
            reads,
            writes,
            _count(details, "thinking_tokens") if isinstance(details, dict) else 0,
        )
    if not isinstance(usage, dict):
        return base
    uncached = base.input_tokens - base.cached_input_tokens - base.cache_creation_tokens
    if "input_tokens" in usage:
        uncached = _count(usage, "input_tokens")
    cached = _count(usage, "cache_read_input_tokens") if "cache_read_input_tokens" in usage else None
    created = _count(usage, "cache_creation_input_tokens") if "cache_creation_input_tokens" in usage else None
    cached = base.cached_input_tokens if cached is None else cached
    created = base.cache_creation_tokens if created is None else created
    output = _count(usage, "output_tokens") if "output_tokens" in usage else base.output_tokens
    details = usage.get("output_tokens_details")
    reasoning = _count(details, "thinking_tokens") if isinstance(details, dict) else base.reasoning_tokens
    return Usage(
        input_tokens=uncached + cached + created,
        output_tokens=output,
        cached_input_tokens=cached,
        cache_creation_tokens=created,
        reasoning_tokens=reasoning,
    )


def error_from_body(body: Any, *, fallback_status: int | None = None, **kwargs: Any) -> UpstreamError | None:
    """``{"type":"error","error":{"type","message"}}`` (or any ``{"error":{...}}``) -> ``UpstreamError``;
    ``None`` if not that shape.
    The status is ``fallback_status`` (the HTTP status) or, in a stream, the one the type implies."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    known = ERROR_TYPES.get(error_type or "")
    status = fallback_status or (known[0] if known else 500)
    kind = known[1] if known and (fallback_status is None or known[0] == fallback_status) else None
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return UpstreamError(
        message or f"anthropic error {error_type or status}",
        status=status,
        kind=kind,
        upstream_type=error_type,
        # Only a body in Anthropic's own shape may reach Anthropic clients verbatim.
        raw_format="anthropic" if body.get("type") == "error" else None,
        code=code if isinstance(code, str) else None,
        **kwargs,
    )
