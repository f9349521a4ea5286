"""Bedrock Converse answers -> neutral: content blocks, stop reasons, usage, errors (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import _json
from ..errors import UpstreamError
from ..neutral import FinishReason, Part, ReasoningPart, TextPart, ToolCall, Usage
from ..wire.converse import normalize_error_type, status_for

FINISH_REASONS: Mapping[str, FinishReason] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop_sequence",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "guardrail_intervened": "content_filter",
        "content_filtered": "content_filter",
    }
)


def finish_reason(stop_reason: Any) -> FinishReason | None:
    if not isinstance(stop_reason, str):
        return None
    return FINISH_REASONS.get(stop_reason, "other")


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(usage: Any) -> Usage | None:
    """Converse usage -> neutral; ``inputTokens`` there excludes cache reads and writes."""
    if not isinstance(usage, dict):
        return None
    cached = _count(usage, "cacheReadInputTokens")
    created = _count(usage, "cacheWriteInputTokens")
    return Usage(
        input_tokens=_count(usage, "inputTokens") + cached + created,
        output_tokens=_count(usage, "outputTokens"),
        cached_input_tokens=cached,
        cache_creation_tokens=created,
    )


def content_parts(content: Any) -> tuple[Part, ...]:
    parts: list[Part] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            tool_input = use.get("input")
            parts.append(
                ToolCall(
                    id=str(use.get("toolUseId", "")),
                    name=str(use.get("name", "")),
                    arguments=_json.dumps_str(tool_input if tool_input is not None else {}),
                )
            )
        elif isinstance(block.get("reasoningContent"), dict):
            parts.extend(_reasoning(block["reasoningContent"]))
    return tuple(parts)


def _reasoning(content: Mapping[str, Any]) -> list[Part]:
    text = content.get("reasoningText")
    if isinstance(text, dict):
        signature = text.get("signature")
        return [ReasoningPart(str(text.get("text", "")), signature=signature if isinstance(signature, str) else None)]
    redacted = content.get("redactedContent")
    if isinstance(redacted, str):
        return [ReasoningPart(redacted=redacted)]
    return []


def error_from(
    error_type: str | None, message: Any, *, status: int | None, raw_body: bytes, provider: str, **kwargs: Any
) -> UpstreamError:
    """An AWS error (``x-amzn-errortype`` or a stream's ``:exception-type``) as an ``UpstreamError``
    with Bedrock's status for that type (throttling -> 429, retryable)."""
    name = normalize_error_type(error_type)
    text = message if isinstance(message, str) and message else f"Bedrock {name or 'error'}"
    return UpstreamError(
        f"{provider}: {text}" if name is None else f"{provider}: {name}: {text}",
        status=status or status_for(name),
        raw_body=raw_body,
        upstream_type=name,
        provider=provider,
        **kwargs,
    )
