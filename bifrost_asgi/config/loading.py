"""Loading settings: Bifrost's config.json (comments and trailing commas tolerated), ``BIFROST_*``
environment overrides, keyword overrides, and providers detected from vendor API-key variables.

Precedence, strongest first: keyword overrides, ``BIFROST_*`` variables, the file; objects are
deep-merged, lists and scalars replaced. Every failure is a ``ConfigError`` whose message names the
source, the field path and a fix, and never contains a secret.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import _json
from ..errors import ConfigError
from .messages import Origins, format_problems, format_validation_error, suggest
from .settings import PROVIDER_KEY_ENV, BifrostSettings, SettingsModel

logger = logging.getLogger("bifrost_asgi.config")

#: Top-level Bifrost config.json sections this gateway accepts and ignores.
IGNORED_SECTIONS = frozenset(
    {
        "$schema", "encryption_key", "auth_config", "framework", "vector_store",
        "config_store", "logs_store", "cluster_config", "saml_config", "load_balancer_config",
        "guardrails_config", "plugins", "audit_logs", "large_payload_optimization", "websocket",
        "server", "source_of_truth", "env_label", "alerting", "webhooks", "skills_registry",
        "scim_config", "access_profiles", "feature_flags", "circuit_breaker_config",
    }
)  # fmt: skip
SETTINGS_FIELDS = frozenset(SettingsModel.model_fields)
#: Server settings the command line also takes as flags.
SERVER_ENV = frozenset({"BIFROST_HOST", "BIFROST_PORT", "BIFROST_WORKERS", "BIFROST_LOG_LEVEL"})
DEMO_LABEL = "bifrost_asgi/demo/config.json"
_FILE_FIELDS = SETTINGS_FIELDS - {"config"}

# A comma is trailing when only whitespace and whole comments stand between it and a closing bracket.
# The lookahead's comments are possessive (``*+``) and a block comment cannot run past its ``*/``, so a
# bracket inside a comment (``, // see [docs]``) is never taken for the closing one.
_TOKENS = re.compile(
    r"""
    (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<line>//[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<open>/\*)
  | (?P<comma>,(?=(?:\s|//[^\n]*+|/\*(?:[^*]|\*(?!/))*+\*/)*+[\]}]))
    """,
    re.S | re.X,
)
_NOT_NEWLINE = re.compile(r"[^\n]")


def strip_json_comments(text: str, source: str = "config") -> str:
    """JSON with ``//`` and ``/* */`` comments and trailing commas -> strict JSON. Comments become
    spaces, so line and column numbers of later errors still point into the original text."""

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "string":
            return match.group()
        if kind == "open":
            line, col = _line_col(text, match.start())
            raise ConfigError(f"{source}:{line}:{col}: a /* comment is never closed\n  fix: end it with */")
        return _NOT_NEWLINE.sub(" ", match.group())

    return _TOKENS.sub(replace, text)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def parse_config_text(text: str, source: str = "config") -> dict[str, Any]:
    """Parse config.json text (comments allowed) into a dict; errors give line and column."""
    clean = strip_json_comments(text.replace("\ufeff", " ", 1) if text.startswith("\ufeff") else text, source)
    try:
        data = _json.loads(clean)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f"{source}:{line}:{col}" if line is not None else source
        reason = getattr(exc, "msg", None) or "not valid JSON"
        raise ConfigError(
            f"{where}: invalid JSON: {reason}\n  fix: check the syntax at line {line}, column {col}; "
            "keys and strings need double quotes, // and /* */ comments and trailing commas are allowed"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the configuration must be a JSON object, got {type(data).__name__}\n"
            '  fix: start the file with {"providers": {...}}'
        )
    return data


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse one config.json file."""
    file = Path(path).expanduser()
    label = str(file.resolve()) if file.exists() else str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {label}\n  fix: pass an existing file with --config PATH "
            "(or BIFROST_CONFIG), or leave both unset to configure providers from the environment"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {label}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (byte {exc.start})\n  fix: save the file as UTF-8") from None
    return parse_config_text(text, label)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: objects merge recursively, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def env_overrides(
    environ: Mapping[str, str], providers: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], Origins]:
    """``BIFROST_A__B__C=value`` -> ``{"a": {"b": {"c": value}}}`` for known top-level settings.
    Values starting with ``[`` or ``{`` are JSON; deeper variables win over a JSON blob above them.
    Provider names match configured ones case-insensitively (variables arrive upper-case)."""
    by_lower = {name.lower(): name for name in providers or {}}
    items: list[tuple[list[str], str, str]] = []
    for name, raw in environ.items():
        if not name.upper().startswith("BIFROST_"):
            continue
        parts = name[len("BIFROST_") :].lower().split("__")
        if parts[0] not in _FILE_FIELDS or "" in parts:
            continue
        if parts[0] == "providers" and len(parts) > 1:
            parts[1] = by_lower.get(parts[1], parts[1])
        items.append((parts, raw, name))
    tree: dict[str, Any] = {}
    origins: Origins = {}
    for parts, raw, name in sorted(items, key=lambda item: len(item[0])):
        _set_path(tree, parts, _env_value(raw, name))
        origins[tuple(parts)] = name
    return tree, origins


def _env_value(raw: str, name: str) -> Any:
    if raw.strip()[:1] not in ("[", "{"):
        return raw
    try:
        return _json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            f"environment variable {name}: invalid JSON ({getattr(exc, 'msg', 'syntax error')} at column "
            f"{getattr(exc, 'colno', '?')})\n  fix: quote keys and strings with double quotes, e.g. "
            f'{name}=\'[{{"value": "env.OPENAI_API_KEY"}}]\''
        ) from None


def _set_path(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    leaf = parts[-1]
    current = node.get(leaf)
    node[leaf] = deep_merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value


def detect_providers(environ: Mapping[str, str]) -> dict[str, Any]:
    """One provider per vendor API-key variable that is set, keyed ``{"value": "env.NAME"}``."""
    found: dict[str, Any] = {}
    for provider, names in PROVIDER_KEY_ENV.items():
        name = next((n for n in names if environ.get(n)), None)
        if name is not None:
            found[provider] = {"keys": [{"value": f"env.{name}"}]}
    return found


def _plain(value: Any) -> Any:
    """Models (as set by the caller) and mappings -> plain dicts, so they deep-merge like JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_top_level(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """The sections to validate, and message lines for unknown ones (reported together with any
    field errors, so one run shows every problem)."""
    ignored = sorted(k for k in data if k in IGNORED_SECTIONS)
    unknown = [k for k in data if k not in IGNORED_SECTIONS and k not in _FILE_FIELDS]
    lines: list[str] = []
    for key in unknown:
        lines.append(f"  - {key}: unknown top-level section")
        lines.append(f"    fix: {suggest(key, sorted(_FILE_FIELDS))}")
    if ignored:
        logger.info("ignoring Bifrost config sections this gateway does not use: %s", ", ".join(ignored))
    return {k: v for k, v in data.items() if k in _FILE_FIELDS}, lines


def _source(config: Any, environ: Mapping[str, str]) -> tuple[dict[str, Any], str | None, str]:
    """(data, file path or None, label for messages)."""
    if isinstance(config, Mapping):
        return _plain(config), None, "the config mapping"
    path = os.fspath(config) if config is not None else (environ.get("BIFROST_CONFIG") or "").strip()
    if not path:
        return {}, None, "the environment (no config file)"
    data = read_config_file(path)
    resolved = str(Path(path).expanduser().resolve())
    return data, resolved, resolved


def load_settings(
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> BifrostSettings:
    """Settings from ``config`` (a config.json path or a dict; default: ``$BIFROST_CONFIG`` if set),
    then ``BIFROST_*`` variables, then ``overrides`` (same names as ``BifrostSettings`` fields).
    With no provider from any of them, providers are detected from ``OPENAI_API_KEY`` and friends.
    Raises ``ConfigError`` for anything invalid; unset ``env.`` variables only log a warning."""
    env = os.environ if environ is None else environ
    raw, path, label = _source(config, env)
    return _load(raw, path, label, env, overrides)


_TRUE = frozenset({"1", "true", "yes", "on"})


def wants_demo(environ: Mapping[str, str]) -> bool:
    """``BIFROST_DEMO`` is set to a true value (1, true, yes, on)."""
    return environ.get("BIFROST_DEMO", "").strip().lower() in _TRUE


def config_in_app_dir(directory: str | os.PathLike[str]) -> str | None:
    """``DIR/config.json`` when it exists (Bifrost's ``-app-dir``), else None: providers then come
    from the environment, as with no config at all."""
    path = Path(directory).expanduser() / "config.json"
    if path.is_file():
        return str(path)
    if not Path(directory).expanduser().is_dir():
        raise ConfigError(f"app directory not found: {directory}\n  fix: pass an existing directory to --app-dir")
    logger.info("no config.json in %s; configuring providers from the environment", directory)
    return None


def settings_from_environment(
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> BifrostSettings:
    """What the command, its app factory and ``bifrost_app()`` without settings load:
    ``BIFROST_DEMO=1`` -> the demo; else ``config``, or ``BIFROST_CONFIG``, or
    ``BIFROST_APP_DIR/config.json``, with the ``BIFROST_*`` variables and detected providers."""
    env = os.environ if environ is None else environ
    if config is None and wants_demo(env):
        return demo_settings(environ=env, **overrides)
    if config is None and not (env.get("BIFROST_CONFIG") or "").strip():
        app_dir = (env.get("BIFROST_APP_DIR") or "").strip()
        config = config_in_app_dir(app_dir) if app_dir else None
    return load_settings(config, environ=env, **overrides)


def demo_settings(*, environ: Mapping[str, str] | None = None, **overrides: Any) -> BifrostSettings:
    """The ``--demo`` configuration: a keyless ``mock`` provider and aliases that make the
    migration guide's models (gpt-4o-mini, claude-3-sonnet-20240229, gemini-2.0-flash...) answer
    offline. Only the server variables (``BIFROST_HOST``/``PORT``/``WORKERS``/``LOG_LEVEL``) of
    ``environ`` apply, so the rest of the environment cannot change it."""
    text = resources.files("bifrost_asgi").joinpath("demo", "config.json").read_text(encoding="utf-8")
    server_env = {k: v for k, v in (environ or {}).items() if k.upper() in SERVER_ENV}
    return _load(parse_config_text(text, DEMO_LABEL), None, DEMO_LABEL, server_env, overrides)


def _load(
    raw: Mapping[str, Any], path: str | None, label: str, env: Mapping[str, str], overrides: Mapping[str, Any]
) -> BifrostSettings:
    data, unknown_sections = _check_top_level(raw, label)
    unknown = sorted(set(overrides) - SETTINGS_FIELDS)
    if unknown:
        known = ", ".join(sorted(SETTINGS_FIELDS))
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {known}")
    providers = data.get("providers")
    env_tree, origins = env_overrides(env, providers if isinstance(providers, dict) else None)
    merged = deep_merge(deep_merge(data, env_tree), _plain(overrides))
    for key in overrides:
        origins[(key,)] = f"the setting {key}="
    if not merged.get("providers"):
        detected = detect_providers(env)
        if detected:
            merged["providers"] = detected
            origins[("providers",)] = "provider detection from API-key environment variables"
            logger.info("no providers configured; detected from the environment: %s", ", ".join(detected))
    if path is not None:
        merged.setdefault("config", path)
    return _validate(merged, env, label, origins, unknown_sections)


def _validate(
    data: dict[str, Any], environ: Mapping[str, str], label: str, origins: Origins, earlier: list[str]
) -> BifrostSettings:
    """``earlier``: problem lines already found (unknown sections), listed before the others."""
    context: dict[str, Any] = {"environ": environ, "missing_env": set(), "problems": []}
    header = f"invalid configuration in {label}:"
    try:
        model = SettingsModel.model_validate(data, context=context)
    except ValidationError as exc:
        found = format_validation_error(exc, label, origins).split("\n")[1:]
        raise ConfigError("\n".join([header, *earlier, *found])) from None
    if context["problems"] or earlier:
        found = format_problems(context["problems"], label, origins).split("\n")[1:]
        raise ConfigError("\n".join([header, *earlier, *found]))
    for name in sorted(context["missing_env"]):
        logger.warning(
            "environment variable %s is not set: settings that reference env.%s are empty until it is", name, name
        )
    _warn_odd_values(model)
    return BifrostSettings.from_model(model)


def _warn_odd_values(model: SettingsModel) -> None:
    for name, provider in model.providers.items():
        queue = provider.concurrency_and_buffer_size
        if queue.concurrency > queue.buffer_size:
            logger.warning(
                "providers.%s.concurrency_and_buffer_size: concurrency %d exceeds buffer_size %d "
                "(Bifrost rejects this; requests beyond the buffer are queued or dropped)",
                name, queue.concurrency, queue.buffer_size,
            )  # fmt: skip
        if provider.keys and not any(key.enabled for key in provider.keys):
            logger.warning("providers.%s: every key is disabled, so requests to it will fail", name)
