"""MCP metrics, on the app's registry (never the global one).

=========================================== ========= =====================================
name                                        type      labels
=========================================== ========= =====================================
``bifrost_mcp_client_connected``            gauge     client               (1 connected, 0 not)
``bifrost_mcp_client_tools``                gauge     client               (tools offered)
``bifrost_mcp_tool_calls_total``            counter   client, tool, outcome
``bifrost_mcp_tool_call_duration_seconds``  histogram client, tool
``bifrost_mcp_agent_rounds_total``          counter   stream               (tool rounds run)
``bifrost_mcp_agent_depth_exhausted_total`` counter   stream
=========================================== ========= =====================================

``outcome`` is ``success``, ``error`` (the tool reported an error or raised), ``timeout`` or
``unavailable`` (its server is not connected). Clients come from the config; tool names from those
servers, at most ``MAX_TOOLS_PER_CLIENT`` per client (the rest report as ``other``).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MAX_TOOLS_PER_CLIENT: Final = 200
TOOL_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class MCPMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._connected = Gauge(
            "bifrost_mcp_client_connected", "1 when the MCP client is connected", ("client",),
            registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self._tools = Gauge(
            "bifrost_mcp_client_tools", "Tools the MCP client offers", ("client",),
            registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self._calls = Counter(
            "bifrost_mcp_tool_calls_total", "MCP tool calls by outcome", ("client", "tool", "outcome"),
            registry=registry,
        )  # fmt: skip
        self._duration = Histogram(
            "bifrost_mcp_tool_call_duration_seconds", "MCP tool call latency", ("client", "tool"),
            registry=registry, buckets=TOOL_BUCKETS,
        )  # fmt: skip
        self._rounds = Counter(
            "bifrost_mcp_agent_rounds_total", "Agent-mode tool rounds run", ("stream",), registry=registry
        )
        self._exhausted = Counter(
            "bifrost_mcp_agent_depth_exhausted_total", "Agent loops stopped by max_agent_depth", ("stream",),
            registry=registry,
        )  # fmt: skip
        self._seen: dict[str, set[str]] = {}

    def _tool(self, client: str, tool: str) -> str:
        seen = self._seen.setdefault(client, set())
        if tool in seen:
            return tool
        if len(seen) >= MAX_TOOLS_PER_CLIENT:
            return "other"
        seen.add(tool)
        return tool

    def set_client(self, client: str, *, connected: bool, tools: int) -> None:
        self._connected.labels(client).set(1 if connected else 0)
        self._tools.labels(client).set(tools)

    def observe_call(self, client: str, tool: str, outcome: str, seconds: float) -> None:
        tool = self._tool(client, tool)
        self._calls.labels(client, tool, outcome).inc()
        self._duration.labels(client, tool).observe(seconds)

    def count_round(self, *, stream: bool) -> None:
        self._rounds.labels("true" if stream else "false").inc()

    def count_exhausted(self, *, stream: bool) -> None:
        self._exhausted.labels("true" if stream else "false").inc()
