"""Value helpers shared by every settings model (the gateway's and those of feature packages such as
``mcp/``): Go-style durations, ``env.NAME`` secret references resolved against the validation
context's environment, and the strict base model. Imports nothing of the gateway."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo

logger = logging.getLogger("bifrost_asgi.config")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|us|µs|ns)?\s*$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "us": 0.001, "µs": 0.001, "ns": 1e-6}


def parse_duration_ms(value: Any) -> float:
    """Milliseconds from an int/float (already ms) or a Go-style duration string ("500ms", "5s", "1.5s")."""
    if isinstance(value, bool):
        raise ValueError("expected milliseconds as a number or a duration like '500ms' or '5s'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]
    raise ValueError(f"{value!r} is not a duration: use milliseconds (500) or a string like '500ms' or '5s'")


def resolve_env_reference(value: str, environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """``"env.NAME"`` -> (value of $NAME or "", "NAME"); anything else -> (value, None)."""
    if value.startswith("env."):
        name = value[4:]
        return (environ if environ is not None else os.environ).get(name, ""), name
    return value, None


def _context(info: ValidationInfo) -> dict[str, Any] | None:
    return info.context if isinstance(info.context, dict) else None


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    ctx = _context(info)
    environ = ctx.get("environ") if ctx else None
    return environ if isinstance(environ, Mapping) else os.environ


def _secret_input(value: Any, info: ValidationInfo) -> tuple[Any, str | None]:
    """Resolve one secret-bearing input: ``"env.NAME"``, or Bifrost's exported form
    ``{"value": ..., "env_var": "env.NAME", "from_env": true}``. Unset variables resolve to ""
    and are reported once by name (never by value)."""
    if isinstance(value, dict) and value and set(value) <= {"value", "env_var", "from_env", "type", "ref"}:
        env_var = value.get("env_var")
        if isinstance(env_var, str) and env_var and value.get("from_env", True):
            value = env_var if env_var.startswith("env.") else f"env.{env_var}"
        else:
            value = value.get("value", "")
    if not isinstance(value, str):
        return value, None
    resolved, name = resolve_env_reference(value, _environ(info))
    if name is not None and not resolved:
        ctx = _context(info)
        missing = ctx.get("missing_env") if ctx else None
        if isinstance(missing, set):
            missing.add(name)
        else:
            logger.warning("environment variable %s is not set; settings that use env.%s stay empty", name, name)
    return resolved, name


def _resolve_strings(values: Any, info: ValidationInfo) -> Any:
    """``env.`` references among the string values of a flat mapping (headers, provider meta)."""
    if not isinstance(values, dict):
        return values
    return {k: _secret_input(v, info)[0] if isinstance(v, str | dict) else v for k, v in values.items()}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
