"""Pure MCP tool bookkeeping: exposed names, request filters, call outcomes. No I/O, no SDK.

A tool is exposed as ``<client>-<tool>``; client names cannot contain ``-``, so the first hyphen
splits a name back safely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..neutral import ToolSpec

INCLUDE_CLIENTS_HEADER = "x-bf-mcp-include-clients"
INCLUDE_TOOLS_HEADER = "x-bf-mcp-include-tools"


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """One tool of a connected server, as the gateway offers it: ``exposed`` is its name there,
    ``spec`` its neutral declaration (both built once per tool sync, not per request); ``auto``:
    agent mode runs it by itself."""

    client: str
    name: str
    description: str | None = None
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    auto: bool = False
    exposed: str = field(init=False, compare=False)
    spec: ToolSpec = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        exposed = f"{self.client}-{self.name}"
        schema = dict(self.input_schema)
        schema.setdefault("type", "object")
        object.__setattr__(self, "exposed", exposed)
        object.__setattr__(self, "spec", ToolSpec(exposed, self.description, schema))


def split_name(exposed: str) -> tuple[str, str] | None:
    client, sep, tool = exposed.partition("-")
    return (client, tool) if sep and client and tool else None


def _names(raw: str) -> frozenset[str]:
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


@dataclass(frozen=True, slots=True)
class ToolFilter:
    """Which tools one request may be offered. ``None`` fields allow everything; an empty set nothing."""

    clients: frozenset[str] | None = None
    tools: frozenset[str] | None = None

    def allows(self, tool: RemoteTool) -> bool:
        if self.clients is not None and "*" not in self.clients and tool.client not in self.clients:
            return False
        if self.tools is None or "*" in self.tools:
            return True
        return tool.exposed in self.tools or f"{tool.client}-*" in self.tools

    @property
    def empty(self) -> bool:
        return self.clients == frozenset() or self.tools == frozenset()


def request_filter(headers: Mapping[str, str], *, auto_inject: bool) -> ToolFilter | None:
    """The filter the ``x-bf-mcp-include-*`` headers ask for; ``None`` when no tool may be offered.

    An absent header allows everything, an empty one nothing. With auto-injection off, only tools
    a header names are offered.
    """
    clients = headers.get(INCLUDE_CLIENTS_HEADER)
    tools = headers.get(INCLUDE_TOOLS_HEADER)
    if clients is None and tools is None and not auto_inject:
        return None
    selected = ToolFilter(
        clients=None if clients is None else _names(clients),
        tools=None if tools is None else _names(tools),
    )
    return None if selected.empty else selected


def offered(tools: Iterable[RemoteTool], filters: Iterable[ToolFilter]) -> dict[str, RemoteTool]:
    """The tools every filter allows, by exposed name, in server order."""
    chain = tuple(filters)
    return {t.exposed: t for t in tools if all(f.allows(t) for f in chain)}


class KeyMCPConfig(Protocol):
    """What a virtual key says about one MCP client (``governance.VirtualKeyMCPConfig``)."""

    @property
    def mcp_client_name(self) -> str | None: ...
    @property
    def mcp_client_id(self) -> int | str | None: ...
    @property
    def tools_to_execute(self) -> list[str]: ...


def key_filter(
    configs: Sequence[KeyMCPConfig], client_ids: Mapping[str, str], open_clients: Iterable[str], *, version: int = 2
) -> ToolFilter:
    """The tools a virtual key allows: its ``mcp_configs`` (a client named by ``mcp_client_name``, or by
    ``mcp_client_id`` = the client's ``client_id`` or name; ``["*"]`` all its tools, empty none, or all
    with config version 1), plus every ``allow_on_all_virtual_keys`` client it does not configure.
    A key without MCP configs gets only those open clients."""
    allowed: set[str] = set()
    named: set[str] = set()
    for config in configs:
        client = config.mcp_client_name or client_ids.get(str(config.mcp_client_id), str(config.mcp_client_id))
        named.add(client)
        tools = config.tools_to_execute
        if tools == ["*"] or (not tools and version == 1):
            allowed.add(f"{client}-*")
        else:
            allowed.update(f"{client}-{t}" for t in tools)
    allowed.update(f"{c}-*" for c in open_clients if c not in named)
    return ToolFilter(tools=frozenset(allowed))
