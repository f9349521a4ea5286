"""Typed access to Gemini request JSON, for the GenAI dialect.

Gemini accepts lowerCamel and snake_case field names, even mixed in one body (the official SDK
itself sends ``"inlineData": {"mime_type": ...}``), so every lookup of a multi-word field goes
through ``get(obj, "inlineData", "inline_data")``. The checkers raise ``InvalidRequestError``
whose message names the field by its path in the body (``contents[2].parts[0].text``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from .gateway_fields import without_gateway_fields as _without_gateway_fields


def get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """The value under the camelCase name, else under the snake_case one (``None`` if neither)."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def fail(path: str, problem: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {problem}", param=path)


def as_object(value: Any, path: str) -> Mapping[str, Any]:
    # ``type(...) is dict`` first: JSON objects are dicts, and the ABC check costs several times more.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise fail(path, "expected an object")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(path, "expected a list")
    return value


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "expected a string")
    return value


def opt_str(value: Any, path: str) -> str | None:
    return None if value is None else as_str(value, path)


def opt_bool(value: Any, path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise fail(path, "expected true or false")


def opt_int(value: Any, path: str) -> int | None:
    """An integer; a float with an integral value is accepted (the SDK sends ``topK`` as ``3.0``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise fail(path, "expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise fail(path, "expected an integer")


def opt_float(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(path, "expected a number")
    return float(value)


def str_list(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = as_list(value, path)
    return tuple(as_str(item, f"{path}[{i}]") for i, item in enumerate(items))


def parse_fallbacks(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("fallbacks")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise fail("fallbacks", 'expected a list of "provider/model" strings')
    return tuple(value)


def without_gateway_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body to pass through to a Gemini upstream: everything but gateway-only fields."""
    return _without_gateway_fields(body)


def model_from_path(path_params: Mapping[str, str]) -> str:
    model = path_params.get("model", "")
    if model.startswith("models/"):
        model = model[len("models/") :]
    if not model:
        raise fail("model", "missing from the URL path (expected /{version}/models/{model}:{method})")
    return model
