"""The ``mcp`` section of config.json, as Bifrost has it (``core/schemas/mcp.go``, schema ``mcp``).

Only what this gateway implements is accepted; Bifrost features it does not implement (OAuth,
per-user auth, code mode, in-process clients) fail at start naming the field, rather than being
accepted and ignored. ``client.mcp_*`` (deprecated in Bifrost) are moved here by
``move_deprecated_client_fields``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from ..config.values import _Model, _resolve_strings, _secret_input, parse_duration_ms

logger = logging.getLogger("bifrost_asgi.config")

#: ASCII, no hyphen (it separates client and tool in ``<client>-<tool>``), no space, no leading digit.
_CLIENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Deprecated ``client.mcp_*`` fields -> (path under ``mcp``).
DEPRECATED_CLIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "mcp_agent_depth": ("tool_manager_config", "max_agent_depth"),
    "mcp_tool_execution_timeout": ("tool_manager_config", "tool_execution_timeout"),
    "mcp_disable_auto_tool_inject": ("tool_manager_config", "disable_auto_tool_inject"),
    "mcp_tool_sync_interval": ("tool_sync_interval",),
}


def _seconds(value: Any) -> float:
    """Seconds from an int/float (seconds, as Bifrost's int fields) or a duration string ("30s", "500ms")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return float(value)
    negative = isinstance(value, str) and value.strip().startswith("-")
    ms = parse_duration_ms(value.strip()[1:] if negative else value)
    return -ms / 1000.0 if negative else ms / 1000.0


def _interval(value: Any) -> Any:
    """Go duration, or Bifrost's legacy integer nanoseconds for ``tool_sync_interval``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        return value / 1e9
    return _seconds(value)


class StdioConfig(_Model):
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    #: Names of environment variables passed to the child (besides the SDK's safe defaults).
    envs: list[str] = Field(default_factory=list)


class MCPClientConfig(_Model):
    name: str
    connection_type: Literal["stdio", "http", "sse"]
    client_id: str | None = None
    connection_string: SecretStr | None = None
    stdio_config: StdioConfig | None = None
    auth_type: Literal["none", "headers"] = "none"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Tools the gateway may offer and run: ``["*"]`` all; empty or absent none (version 2; see ``allows``).
    tools_to_execute: list[str] | None = None
    #: Tools run automatically in agent mode (each must also be in ``tools_to_execute``).
    tools_to_auto_execute: list[str] = Field(default_factory=list)
    is_ping_available: bool = True
    #: Seconds; ``None``/0 = the global interval, negative = never re-sync.
    tool_sync_interval: float | None = None
    #: Seconds; ``None`` = the tool manager's timeout.
    tool_execution_timeout: float | None = Field(default=None, gt=0)
    allow_on_all_virtual_keys: bool = False
    disabled: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CLIENT_NAME.match(value):
            raise ValueError(
                f"the client name {value!r} must be ASCII letters, digits and underscores, not starting with a "
                "digit (no hyphens: tools are named <client>-<tool>)"
            )
        return value

    @field_validator("connection_string", mode="before")
    @classmethod
    def _connection_env(cls, value: Any, info: ValidationInfo) -> Any:
        return _secret_input(value, info)[0]

    @field_validator("headers", mode="before")
    @classmethod
    def _headers_env(cls, value: Any, info: ValidationInfo) -> Any:
        return _resolve_strings(value, info)

    @field_validator("tool_sync_interval", mode="before")
    @classmethod
    def _sync(cls, value: Any) -> Any:
        return _interval(value)

    @field_validator("tool_execution_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        return None if value is None else _seconds(value)

    @field_validator("tools_to_execute", "tools_to_auto_execute")
    @classmethod
    def _allow_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if "*" in value and len(value) > 1:
            raise ValueError('"*" means every tool: use it alone, not mixed with tool names')
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"duplicate tool names: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _branch(self) -> MCPClientConfig:
        if self.connection_type == "stdio" and self.stdio_config is None:
            raise ValueError('connection_type "stdio" needs "stdio_config": {"command": "...", "args": [...]}')
        if self.connection_type != "stdio":
            url = self.connection_string.get_secret_value() if self.connection_string else ""
            if not url:
                raise ValueError(
                    f'connection_type "{self.connection_type}" needs "connection_string": the server URL '
                    '(e.g. "http://localhost:3001/mcp", or "env.NAME")'
                )
            if not url.startswith(("http://", "https://")):
                raise ValueError("connection_string must be an http:// or https:// URL")
        return self

    @property
    def url(self) -> str:
        return self.connection_string.get_secret_value() if self.connection_string else ""

    def executes(self, tool: str, *, version: int = 2) -> bool:
        """Whether ``tool`` may be offered and run (``tools_to_execute``; version 1: empty = all)."""
        allowed = self.tools_to_execute
        if not allowed:
            return version == 1
        return allowed == ["*"] or tool in allowed

    def auto_executes(self, tool: str, *, version: int = 2) -> bool:
        """Whether agent mode runs ``tool`` by itself (``tools_to_auto_execute``, within ``tools_to_execute``)."""
        auto = self.tools_to_auto_execute
        return bool(auto) and (auto == ["*"] or tool in auto) and self.executes(tool, version=version)


class ToolManagerConfig(_Model):
    #: Seconds each tool call may take.
    tool_execution_timeout: float = Field(default=30.0, gt=0)
    #: Model calls an agent-mode request may make (the first included).
    max_agent_depth: int = Field(default=10, ge=1)
    #: True: tools are offered only when a request names them (``x-bf-mcp-include-*`` headers).
    disable_auto_tool_inject: bool = False

    @field_validator("tool_execution_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        return _seconds(value)


class MCPConfig(_Model):
    client_configs: list[MCPClientConfig] = Field(default_factory=list)
    tool_manager_config: ToolManagerConfig = Field(default_factory=ToolManagerConfig)
    #: Seconds between tool re-syncs (Go duration or legacy integer nanoseconds); negative = never.
    tool_sync_interval: float = 600.0
    #: Seconds between health checks of each connected client (bifrost-asgi; Bifrost uses 10 s).
    health_check_interval: float = Field(default=10.0, gt=0)

    @field_validator("tool_sync_interval", mode="before")
    @classmethod
    def _sync(cls, value: Any) -> Any:
        return _interval(value)

    @field_validator("health_check_interval", mode="before")
    @classmethod
    def _health(cls, value: Any) -> Any:
        return _seconds(value)

    @field_validator("client_configs")
    @classmethod
    def _unique(cls, value: list[MCPClientConfig]) -> list[MCPClientConfig]:
        names = [c.name for c in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"MCP client names must be unique: {', '.join(duplicates)} used more than once")
        return value

    @property
    def enabled_clients(self) -> list[MCPClientConfig]:
        return [c for c in self.client_configs if not c.disabled]


def move_deprecated_client_fields(data: Any) -> Any:
    """Move Bifrost's deprecated ``client.mcp_*`` settings under ``mcp`` (an explicit ``mcp`` value wins)."""
    if not isinstance(data, dict) or not isinstance(data.get("client"), dict):
        return data
    client = data["client"]
    found = [name for name in DEPRECATED_CLIENT_FIELDS if name in client]
    if not found:
        return data
    mcp = data.get("mcp") or {}
    if not isinstance(mcp, dict):
        return data
    mcp = dict(mcp)
    for name in found:
        path = DEPRECATED_CLIENT_FIELDS[name]
        if len(path) == 1:
            mcp.setdefault(path[0], client[name])
        else:
            section = mcp.get(path[0]) or {}
            if isinstance(section, dict):
                mcp[path[0]] = {path[1]: client[name], **section}
        logger.warning("client.%s is deprecated: use mcp.%s", name, ".".join(path))
    return {**data, "client": {k: v for k, v in client.items() if k not in found}, "mcp": mcp}
