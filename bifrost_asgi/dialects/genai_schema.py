"""Gemini's OpenAPI-subset ``Schema`` -> JSON Schema, for providers of other formats.

Gemini ``parameters`` / ``responseSchema`` use upper-case types (``"OBJECT"``), ``nullable`` and
``propertyOrdering``, and the SDK may send snake_case keywords (``any_of``, ``property_ordering``).
The result uses lower-case types, ``["t", "null"]`` for nullable, camelCase keywords, and drops
``propertyOrdering`` (a Gemini-only output hint). Property *names* are never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_KEYWORDS = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": "propertyOrdering",
    "additional_properties": "additionalProperties",
}
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not"})


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nullable = False
    for raw_key, value in schema.items():
        key = _KEYWORDS.get(raw_key, raw_key)
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif key == "nullable":
            nullable = value is True
        elif key == "propertyOrdering":
            continue
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {name: _sub(sub) for name, sub in value.items()}
        elif key == "anyOf" and isinstance(value, list):
            out["anyOf"] = [_sub(sub) for sub in value]
        elif key in _SUBSCHEMA:
            out[key] = _sub(value)
        else:
            out[key] = value
    if nullable:
        _make_nullable(out)
    return out


def _sub(value: Any) -> Any:
    return to_json_schema(value) if isinstance(value, Mapping) else value


def _make_nullable(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    enum = out.get("enum")
    if isinstance(enum, list) and None not in enum:
        out["enum"] = [*enum, None]
