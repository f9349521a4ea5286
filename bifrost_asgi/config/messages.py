"""Readable configuration errors: field path, what was wrong, the bad input (unless it may be a
secret) and a fix, for every pydantic error or rule violation found while loading settings."""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections.abc import Iterable, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .settings import ConfigProblem, NetworkConfig, SettingsModel

#: Where a settings path came from when not from the file: ("providers", "openai") -> "BIFROST_...".
Origins = dict[tuple[str, ...], str]

# Inputs under these names are never shown: they hold, or may hold, secrets.
_SECRET_NAMES = frozenset(
    {
        "value", "client_secret", "password", "extra_headers", "headers", "ca_cert_pem",
        "connection_string", "bedrock_key_config", "vertex_key_config", "sapaicore_key_config",
        "proxy_config", "mcp", "env_var", "admin_token", "url",
    }
)  # fmt: skip
_STRING_LISTS = frozenset({"models", "blacklisted_models", "prometheus_labels", "scopes"})
_EXTRA_ACCEPTED: dict[type[BaseModel], tuple[str, ...]] = {
    NetworkConfig: ("retry_backoff_initial", "retry_backoff_max"),
}
_HIDDEN_FIELDS = frozenset({"env_var", "config_hash", "status"})

_FIELD_FIXES = {
    "weight": "use a number >= 0; weights are relative shares between keys or targets, e.g. 1.0",
    "max_retries": "use a whole number from 0 to 20",
    "base_url": 'use the provider\'s http(s) base URL, e.g. "https://api.openai.com" (no /v1/... suffix)',
    "retry_backoff_initial_ms": 'use milliseconds (500) or a duration ("500ms", "2s"), at most the max backoff',
    "retry_backoff_max_ms": 'use milliseconds (5000) or a duration ("5s"), at least the initial backoff',
    "concurrency": "use a whole number >= 1 (parallel upstream requests for this provider)",
    "buffer_size": "use a whole number >= 0 (requests allowed to wait for a free slot)",
    "value": 'use the key itself or "env.NAME" to read it from the environment variable NAME',
    "models": 'use a list of model names, e.g. ["gpt-4o-mini"] (empty = all models)',
    "blacklisted_models": 'use a list of model names, e.g. ["gpt-4"]',
    "keys": 'use a list of key objects, e.g. [{"value": "env.OPENAI_API_KEY", "weight": 1.0}]',
    "base_provider_type": 'use "openai", "anthropic" or "gemini": the API format the server speaks',
    "extra_headers": 'use an object of header names to string values, e.g. {"x-team": "ml"}',
    "default_request_timeout_in_seconds": "use a number of seconds > 0, e.g. 30",
    "enabled": "use true or false",
    "endpoint": 'use your Azure resource URL, e.g. "https://my-resource.openai.azure.com"',
    "target": 'use "provider/model", e.g. "openai/gpt-4o-mini"',
    "aliases": 'map a model name to targets, e.g. {"fast": [{"target": "groq/llama-3.1-8b-instant"}]}',
    "fallbacks": 'map a model name to "provider/model" strings, e.g. {"gpt-4o": ["anthropic/claude-3-5-haiku-latest"]}',
    "network_config": 'an object such as {"max_retries": 3}; keep retry_backoff_initial_ms <= retry_backoff_max_ms',
    "port": "use a port number from 0 to 65535",
    "workers": "use a whole number >= 1",
}
_TYPE_FIXES = {
    "bool_type": "use true or false (without quotes)",
    "bool_parsing": "use true or false (without quotes)",
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "string_type": "use a string in double quotes",
    "list_type": "use a JSON list: [...]",
    "dict_type": "use a JSON object: {...}",
    "model_type": "use a JSON object: {...}",
    "model_attributes_type": "use a JSON object: {...}",
    "greater_than_equal": "use a value >= {ge}",
    "greater_than": "use a value > {gt}",
    "less_than_equal": "use a value <= {le}",
    "less_than": "use a value < {lt}",
}


def suggest(name: str, choices: Sequence[str]) -> str:
    """'did you mean ...?' (when one is close) plus the allowed names."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}allowed here: {', '.join(choices)}"


def path_of(loc: Iterable[str | int]) -> str:
    """('providers', 'openai', 'keys', 0, 'weight') -> 'providers.openai.keys[0].weight'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(exc: ValidationError, label: str, origins: Origins) -> str:
    lines = [f"invalid configuration in {label}:"]
    for error in exc.errors():
        if error["type"] == "bifrost_config":  # a rule raised without a loader context
            ctx = error.get("ctx") or {}
            problem = ConfigProblem(str(ctx.get("path")), str(ctx.get("problem")), str(ctx.get("fix")))
            lines += _problem_lines(problem, origins)
            continue
        path, message, fix = _describe(error)
        lines.append(f"  - {path}: {message}{_origin_note(error['loc'], origins)}")
        lines.append(f"    fix: {fix}")
    return "\n".join(lines)


def format_problems(problems: Sequence[ConfigProblem], label: str, origins: Origins) -> str:
    lines = [f"invalid configuration in {label}:"]
    for problem in problems:
        lines += _problem_lines(problem, origins)
    return "\n".join(lines)


def _problem_lines(problem: ConfigProblem, origins: Origins) -> list[str]:
    note = _origin_note(tuple(problem.path.split(".")), origins)
    return [f"  - {problem.path}: {problem.message}{note}", f"    fix: {problem.fix}"]


def _origin_note(loc: tuple[str | int, ...], origins: Origins) -> str:
    parts = tuple(str(p) for p in loc)
    for end in range(len(parts), 0, -1):
        origin = origins.get(parts[:end])
        if origin is not None:
            return f" (from {origin})"
    return ""


def _describe(error: ErrorDetails) -> tuple[str, str, str]:
    loc = tuple(error["loc"])
    kind = error["type"]
    fields = _all_field_names()
    last = next((p for p in reversed(loc) if isinstance(p, str) and p in fields), "")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        fix = suggest(str(loc[-1]), allowed) if allowed else "remove it"
        return path_of(loc), f"unknown field {str(loc[-1])!r}", fix
    if kind == "missing":
        missing = str(loc[-1])
        fix = f"add {missing!r}" + (f"; {_FIELD_FIXES[missing]}" if missing in _FIELD_FIXES else "")
        return path_of(loc), "required field is missing", fix
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    fix = _FIELD_FIXES.get(last) or _TYPE_FIXES.get(kind, "correct this value")
    with contextlib.suppress(KeyError, IndexError, ValueError):
        fix = fix.format(**(error.get("ctx") or {}))
    if kind != "value_error":  # our validators' messages already quote the value when it is safe
        message += _shown_input(loc, error.get("input"))
    return path_of(loc), message, fix


def _shown_input(loc: tuple[str | int, ...], value: Any) -> str:
    if isinstance(value, dict):
        return " (got an object)"
    if isinstance(value, list):
        return " (got a list)"
    if not _showable(loc):
        return " (value not shown)"
    if value is None or isinstance(value, bool | int | float):
        return f" (got {'null' if value is None else str(value).lower() if isinstance(value, bool) else value})"
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return f" (got {text[:80]}{'...' if len(text) > 80 else ''})"


def _showable(loc: tuple[str | int, ...]) -> bool:
    if any(isinstance(p, str) and p in _SECRET_NAMES for p in loc) or not loc:
        return False
    last = loc[-1]
    if isinstance(last, int):
        return len(loc) > 1 and loc[-2] in _STRING_LISTS
    return last in _all_field_names()


@functools.cache
def _all_field_names() -> frozenset[str]:
    names: set[str] = set()
    for model in _models(SettingsModel, set()):
        names.update(model.model_fields)
    return frozenset(names)


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        for inner in _inner_models(field.annotation):
            if inner not in seen:
                _models(inner, seen)
    return seen


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _inner_models(arg)]


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The field names accepted by the model at ``loc`` (for 'did you mean')."""
    annotation: Any = SettingsModel
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return []
    model = _unwrap(annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    names = [n for n in model.model_fields if n not in _HIDDEN_FIELDS]
    return sorted([*names, *_EXTRA_ACCEPTED.get(model, ())])


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, type(int | None)):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
