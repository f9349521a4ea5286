"""Prompt-cache breakpoints as clients send them -> neutral ``CacheHint`` (pure).

Anthropic (and Bifrost's OpenAI extension) mark a content block, a system block or a tool with
``cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}``; Bedrock Converse puts a
``{"cachePoint": {"type": "default", "ttl"?: ...}}`` block after the content to cache. Both mean the
same thing: the prompt up to here may be cached. A neutral message keeps them as (part index, hint)
pairs, so providers that cache on their own never see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import CacheHint, Part, ToolResult

TTLS = ("5m", "1h")
Hints = tuple[tuple[int, CacheHint], ...]


def _hint(value: Any, path: str, kind: str) -> CacheHint:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{path}: expected an object like {{'type': '{kind}'}}", param=path)
    if value.get("type") != kind:
        raise InvalidRequestError(f"{path}.type: expected '{kind}', got {value.get('type')!r}", param=f"{path}.type")
    ttl = value.get("ttl")
    if ttl is not None and ttl not in TTLS:
        raise InvalidRequestError(f"{path}.ttl: expected '5m' or '1h', got {ttl!r}", param=f"{path}.ttl")
    return CacheHint(ttl)


def cache_control(value: Any, path: str) -> CacheHint:
    """An Anthropic-style ``cache_control`` object (``path`` names it) -> ``CacheHint``."""
    return _hint(value, path, "ephemeral")


def cache_point(value: Any, path: str) -> CacheHint:
    """A Bedrock ``cachePoint`` object -> ``CacheHint``."""
    return _hint(value, path, "default")


def split_results(parts: Sequence[Part], hints: Hints) -> tuple[tuple[Part, ...], Hints, tuple[Part, ...], Hints]:
    """A user turn's tool results apart from the rest of it, each hint following the part it marks:
    (results, their hints, others, their hints)."""
    if not hints:  # the common turn: no breakpoint and no tool result, all of it "others"
        for part in parts:
            if isinstance(part, ToolResult):
                break
        else:
            return (), (), tuple(parts), ()
    marks = dict(hints)
    results: list[Part] = []
    result_hints: list[tuple[int, CacheHint]] = []
    others: list[Part] = []
    other_hints: list[tuple[int, CacheHint]] = []
    for index, part in enumerate(parts):
        side, side_hints = (results, result_hints) if isinstance(part, ToolResult) else (others, other_hints)
        side.append(part)
        if index in marks:
            side_hints.append((len(side) - 1, marks[index]))
    return tuple(results), tuple(result_hints), tuple(others), tuple(other_hints)
