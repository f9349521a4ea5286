"""``--check``: try each configured MCP client once and say whether it could connect."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from .config import MCPClientConfig, MCPConfig
from .runtime import MCPRuntime

CHECK_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ClientCheck:
    name: str
    target: str
    connected: bool
    detail: str  # "5 tool(s)", "disabled", or why it could not connect

    @property
    def line(self) -> str:
        state = "connected" if self.connected else ("disabled" if self.detail == "disabled" else "could not connect")
        detail = "" if self.detail == "disabled" else f": {self.detail}" if not self.connected else f", {self.detail}"
        return f"  {self.name}: {self.target}, {state}{detail}"

    @property
    def failed(self) -> bool:
        return not self.connected and self.detail != "disabled"


def target(client: MCPClientConfig) -> str:
    """Where the client connects, without secrets (no userinfo, path or query of the URL)."""
    if client.stdio_config is not None:
        return f"stdio ({client.stdio_config.command})"
    parts = urlsplit(client.url)
    port = f":{parts.port}" if parts.port else ""
    return f"{client.connection_type} ({parts.scheme}://{parts.hostname or '?'}{port})"


async def _connect_all(config: MCPConfig, version: int, timeout: float) -> list[ClientCheck]:
    runtime = MCPRuntime(config, registry=CollectorRegistry(), allow_version=version, log_changes=False)
    try:
        connected = await runtime.wait_attempted(timeout)
        results = []
        for client in config.client_configs:
            if client.disabled:
                results.append(ClientCheck(client.name, target(client), False, "disabled"))
                continue
            connection = runtime.connections[client.name]
            if connected[client.name]:
                results.append(ClientCheck(client.name, target(client), True, f"{len(connection.tools)} tool(s)"))
            else:
                reason = connection.last_error or f"no answer within {timeout:g}s"
                results.append(ClientCheck(client.name, target(client), False, reason))
        return results
    finally:
        await runtime.aclose()


def check_clients(config: MCPConfig, *, version: int = 2, timeout: float = CHECK_TIMEOUT) -> list[ClientCheck]:
    """Connect each client once (bounded by ``timeout``), then disconnect (stdio children end)."""
    if not config.client_configs:
        return []
    return asyncio.run(_connect_all(config, version, timeout))
