"""Checks every dialect's request passes before anything is routed or paid for: how deep the body
nests, and what a model name may contain.

A body nested deeper than ``MAX_DEPTH`` could not be re-encoded for the upstream (orjson stops at
254 levels) and no real request needs it. A model name ends up in URL paths, response headers,
metric labels and log lines: it must be 1-256 printable ASCII characters without spaces, and no
``/``-separated segment may be ``.`` or ``..`` (so no name can walk an upstream path).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from ..errors import InvalidRequestError

MAX_DEPTH: Final = 100
MAX_MODEL_NAME: Final = 256
_MODEL_NAME: Final = re.compile(r"[!-~]+")


def check_depth(body: bytes, payload: Any) -> None:
    """400 naming where ``payload`` (parsed from ``body``) nests deeper than ``MAX_DEPTH``."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:  # cannot be that deep: skip the walk
        return
    stack: list[tuple[Any, int, str]] = [(payload, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            children: Iterable[tuple[str, Any]] = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > MAX_DEPTH:
            shown = path if len(path) <= 80 else path[:77] + "..."
            raise InvalidRequestError(
                f"{shown or 'body'}: the request body nests more than {MAX_DEPTH} levels deep", param=shown or None
            )
        stack.extend((child, depth + 1, child_path) for child_path, child in children)


def check_model_name(value: str, field: str = "model") -> str:
    """``value`` when it is a usable model name, else a 400 naming ``field``."""
    problem = _model_problem(value)
    if problem is None:
        return value
    shown = repr(value[:40] + ("..." if len(value) > 40 else ""))
    raise InvalidRequestError(f"{field}: {problem} (got {shown})", param=field, code="invalid_model")


def _model_problem(value: str) -> str | None:
    if len(value) > MAX_MODEL_NAME:
        return f"a model name has at most {MAX_MODEL_NAME} characters, this one has {len(value)}"
    if not _MODEL_NAME.fullmatch(value):
        return "a model name is printable ASCII without spaces or control characters"
    # A "." or ".." segment begins the name or follows a "/": split only then.
    if (value[:1] == "." or "/." in value) and any(segment in (".", "..") for segment in value.split("/")):
        return "a model name may not contain '.' or '..' path segments"
    return None


def check_model_names(model: str, fallbacks: Iterable[str]) -> None:
    check_model_name(model)
    for index, fallback in enumerate(fallbacks):
        check_model_name(fallback, f"fallbacks[{index}]")
