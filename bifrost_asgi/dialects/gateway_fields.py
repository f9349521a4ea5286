"""Body fields that are the gateway's, not any vendor's: read by every dialect, never sent upstream.

``fallbacks`` (Bifrost's list of ``provider/model`` targets) and ``reasoning_summary`` (Bifrost's
wish for a reasoning summary: ``auto``, ``concise`` or ``detailed``; it becomes
``Reasoning.summary``, which an upstream that has the notion — OpenAI's Responses
``reasoning.summary`` — receives in its own field). A vendor given either in its body rejects the
request (Anthropic: "Extra inputs are not permitted").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import Reasoning

GATEWAY_FIELDS = frozenset({"fallbacks", "reasoning_summary"})
SUMMARIES = ("auto", "concise", "detailed")


def without_gateway_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body to pass through: the same dict (no copy) when it carries no gateway field."""
    if isinstance(body, dict) and GATEWAY_FIELDS.isdisjoint(body):
        return body
    return {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}


def reasoning_summary(body: Mapping[str, Any]) -> str | None:
    value = body.get("reasoning_summary")
    if value is None:
        return None
    if value not in SUMMARIES:
        raise InvalidRequestError(
            f"reasoning_summary: expected one of {', '.join(SUMMARIES)}, got {value!r}", param="reasoning_summary"
        )
    return str(value)


def with_summary(reasoning: Reasoning | None, body: Mapping[str, Any]) -> Reasoning | None:
    """``reasoning`` with the body's ``reasoning_summary`` (validated) when it has one."""
    summary = reasoning_summary(body) if "reasoning_summary" in body else None
    if summary is None:
        return reasoning
    return dataclasses.replace(reasoning or Reasoning(), summary=summary)
