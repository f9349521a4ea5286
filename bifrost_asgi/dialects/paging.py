"""Model-list pages as the Anthropic and GenAI APIs cut them (pure: a list in, a slice out).

Anthropic: ``limit`` (1-1000, default 20), ``after_id`` / ``before_id`` cursors (ids of the
rendered list), ``has_more``. GenAI: ``pageSize`` (default 50, capped at 1000) and an opaque
``pageToken`` (here the offset, which the gateway hands out as ``nextPageToken``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ..errors import InvalidRequestError

T = TypeVar("T")


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int, *, clamp: bool = False) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}: expected an integer, got {raw!r}", param=name) from None
    if clamp:
        return max(low, min(value, high)) if value > 0 else default
    if not low <= value <= high:
        raise InvalidRequestError(f"{name}: must be between {low} and {high}, got {value}", param=name)
    return value


def anthropic_page(items: Sequence[dict[str, Any]], query: Mapping[str, str]) -> tuple[list[dict[str, Any]], bool]:
    """The page of ``items`` (rendered model objects with ``id``) and whether more remain."""
    limit = _int(query, "limit", 20, 1, 1000)
    ids = [item["id"] for item in items]
    after, before = query.get("after_id"), query.get("before_id")
    if after and before:
        raise InvalidRequestError("after_id and before_id cannot both be given", param="after_id")
    if before:
        end = _position(ids, before, "before_id")
        start = max(0, end - limit)
        return list(items[start:end]), start > 0
    start = _position(ids, after, "after_id") + 1 if after else 0
    page = list(items[start : start + limit])
    return page, start + limit < len(items)


def genai_page(items: Sequence[T], query: Mapping[str, str]) -> tuple[list[T], str | None]:
    """The page of ``items`` and the token of the next one (None on the last page)."""
    size = _int(query, "pageSize", 50, 1, 1000, clamp=True)
    token = query.get("pageToken") or ""
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidRequestError(f"pageToken: {token!r} is not a token this gateway handed out", param="pageToken")
        start = int(token)
    end = start + size
    return list(items[start:end]), (str(end) if end < len(items) else None)


def _position(ids: list[str], wanted: str, name: str) -> int:
    try:
        return ids.index(wanted)
    except ValueError:
        raise InvalidRequestError(f"{name}: no model with id {wanted!r} in the list", param=name) from None
