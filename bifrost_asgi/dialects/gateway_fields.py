"""Body fields that are the gateway's, not any vendor's: read by every dialect, never sent upstream.

``fallbacks`` (Bifrost's list of ``provider/model`` targets) and ``reasoning_summary`` (Bifrost's
wish for a reasoning summary: ``auto``, ``concise`` or ``detailed``; it becomes
``Reasoning.summary`` and asks for the thoughts to be returned (``include_thoughts``). Where it
goes: a Responses request to a Responses-native upstream (OpenAI, Azure) carries it as
``reasoning.summary``; Gemini gets ``thinkingConfig.includeThoughts`` (its thought summaries);
OpenAI chat has no such field and Anthropic returns summarized thinking whenever thinking is on, so
for them it is consumed and nothing is sent — a summary alone turns no thinking on). A vendor given
either field in its body rejects the request (Anthropic: "Extra inputs are not permitted").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import Reasoning, replace

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
    reasoning = reasoning or Reasoning()
    thoughts = True if reasoning.include_thoughts is None else reasoning.include_thoughts
    return replace(reasoning, summary=summary, include_thoughts=thoughts)


def summary_into_reasoning(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses body with ``reasoning_summary`` moved into ``reasoning.summary`` (the Responses
    API's own field), validated; the same body when it has none. Both, differing: a 400."""
    if "reasoning_summary" not in body:
        return body
    summary = reasoning_summary(body)
    rest = {k: v for k, v in body.items() if k != "reasoning_summary"}
    reasoning = body.get("reasoning")
    if summary is None or not isinstance(reasoning, dict | None):
        return rest  # a malformed ``reasoning`` is the parser's 400
    given = (reasoning or {}).get("summary")
    if given is not None and given != summary:
        raise InvalidRequestError(
            f"reasoning_summary: {summary!r} contradicts reasoning.summary {given!r}; send one of them",
            param="reasoning_summary",
        )
    rest["reasoning"] = {**(reasoning or {}), "summary": summary}
    return rest
