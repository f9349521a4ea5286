"""Neutral answers -> Responses ``Response`` objects, the ``error`` stream event, input-item pages.

Pure. A response object echoes the request's settings the way OpenAI does (``instructions``,
``tools``, ``tool_choice``, ``text``, ``reasoning``, ``metadata``...), so SDK code that reads
them back works; ``status`` and ``incomplete_details`` come from the finish reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import _json
from ..dialects.openai_messages import bad
from ..dialects.openai_render import error_object
from ..errors import GatewayError
from ..neutral import FinishReason, Usage
from .parse import ResponsesRequest


def usage_object(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def status_of(reason: FinishReason | None) -> tuple[str, dict[str, str] | None]:
    """(``status``, ``incomplete_details``) for a finish reason."""
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _reasoning_echo(body: Mapping[str, Any]) -> dict[str, Any]:
    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    return {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}


def _text_echo(body: Mapping[str, Any]) -> dict[str, Any]:
    text = body.get("text")
    text = dict(text) if isinstance(text, dict) else {}
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    return text


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: Sequence[Mapping[str, Any]],
    usage: Usage | None = None,
    incomplete: Mapping[str, str] | None = None,
    error: GatewayError | None = None,
) -> dict[str, Any]:
    body = request.body
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None if error is None else {"code": error.code or "server_error", "message": error.message},
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": request.chat.model,
        "output": list(output),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": request.previous_response_id,
        "reasoning": _reasoning_echo(body),
        "service_tier": "default",
        "store": request.store,
        "temperature": body.get("temperature", 1.0),
        "text": _text_echo(body),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": list(body.get("tools") or ()),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage_object(usage),
        "user": body.get("user"),
        "metadata": dict(request.metadata),
    }


def error_event(error: GatewayError, sequence_number: int) -> bytes:
    """The in-stream ``error`` event (``ResponseErrorEvent``)."""
    obj = error_object(error)
    payload = {
        "type": "error",
        "code": obj["code"] or obj["type"],
        "message": obj["message"],
        "param": obj["param"],
        "sequence_number": sequence_number,
    }
    return b"event: error\ndata: " + _json.dumps(payload) + b"\n\n"


def input_items_page(items: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /v1/responses/{id}/input_items``: ``order`` (default ``desc``), ``after``, ``limit`` (1-100)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad("order", f"expected 'asc' or 'desc', got {order!r}")
    raw_limit = query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise bad("limit", f"expected an integer from 1 to 100, got {raw_limit!r}")
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise bad("after", f"no input item {after!r} in this response")
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[: int(raw_limit)]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > len(page),
    }
