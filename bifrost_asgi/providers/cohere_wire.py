"""Cohere v2 vocabulary (pure): input types (shared with Cohere models on Bedrock), finish
reasons, usage, answer messages and errors."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import _json
from ..errors import UpstreamError
from ..neutral import FinishReason, Part, ReasoningPart, TextPart, ToolCall, Usage

# Gemini-style task types (the neutral vocabulary) -> Cohere input types.
INPUT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "RETRIEVAL_QUERY": "search_query",
        "RETRIEVAL_DOCUMENT": "search_document",
        "QUESTION_ANSWERING": "search_query",
        "FACT_VERIFICATION": "search_query",
        "CLASSIFICATION": "classification",
        "CLUSTERING": "clustering",
        "SEMANTIC_SIMILARITY": "clustering",
    }
)


def input_type(task_type: str | None) -> str:
    """Cohere's ``input_type`` for a task type (its own names pass through); search_document by default."""
    if not task_type:
        return "search_document"
    if task_type in ("search_query", "search_document", "classification", "clustering", "image"):
        return task_type
    return INPUT_TYPES.get(task_type.upper(), "search_document")


FINISH_REASONS: Mapping[str, FinishReason] = MappingProxyType(
    {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop_sequence",
        "MAX_TOKENS": "length",
        "TOOL_CALL": "tool_calls",
        "ERROR": "error",
        "TIMEOUT": "error",
    }
)


def finish_reason(value: Any) -> FinishReason | None:
    if not isinstance(value, str):
        return None
    return FINISH_REASONS.get(value.upper(), "other")


def _count(obj: Any, name: str) -> int:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(usage: Any) -> Usage | None:
    """``usage.tokens`` (what the model processed) when present, else ``usage.billed_units``."""
    if not isinstance(usage, dict):
        return None
    counts = usage.get("tokens") if isinstance(usage.get("tokens"), dict) else usage.get("billed_units")
    return Usage(
        input_tokens=_count(counts, "input_tokens"),
        output_tokens=_count(counts, "output_tokens"),
        cached_input_tokens=_count(usage, "cached_tokens"),
    )


def message_parts(message: Any) -> tuple[Part, ...]:
    """A v2 assistant message (content blocks, ``tool_plan``, ``tool_calls``) as neutral parts."""
    if not isinstance(message, dict):
        return ()
    parts: list[Part] = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            parts.append(ReasoningPart(block["thinking"]))
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
    if not parts and isinstance(message.get("tool_plan"), str) and message["tool_plan"]:
        parts.append(ReasoningPart(message["tool_plan"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        parts.append(
            ToolCall(
                id=str(call.get("id", "")),
                name=str(function.get("name", "")),
                arguments=arguments if isinstance(arguments, str) else _json.dumps_str(arguments or {}),
            )
        )
    return tuple(parts)


def error_from_body(body: Any, status: int, **kwargs: Any) -> UpstreamError:
    message = body.get("message") if isinstance(body, dict) else None
    text = message if isinstance(message, str) and message else f"HTTP {status}"
    return UpstreamError(f"cohere: {text}", status=status, raw_format="cohere", **kwargs)
