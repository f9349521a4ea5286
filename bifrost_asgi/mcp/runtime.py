"""The MCP runtime the gateway holds: its connections, which tools a request is offered, and tool
execution (every error or timeout becomes a tool result marked as an error, never an exception).

``start`` is idempotent and cheap to call per request: the gateway calls it from its lifespan when
one runs, and from the first request otherwise (mounted apps get no lifespan). Connections run in
the background: a slow or dead server never delays start or fails a chat request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mcp.types import CallToolResult, TextContent
from prometheus_client import CollectorRegistry

from .. import _json
from ..errors import InvalidRequestError, PermissionDeniedError
from ..neutral import ChatRequest, ChatResponse, Passthrough, TextPart, ToolCall, ToolResult
from .agent import AgentPolicy, AgentRun, ChatCall, run_agent
from .agent_stream import AgentStream, EventSource, OpenStream
from .config import MCPClientConfig, MCPConfig
from .connection import Connection, State, ToolUnavailableError, describe_error
from .execute import execute_format, parse_execute, render_execute
from .inject import RelayedTools, inject_passthrough, inject_tools
from .metrics import MCPMetrics
from .results import result_text
from .tools import INCLUDE_CLIENTS_HEADER, INCLUDE_TOOLS_HEADER, RemoteTool, key_filter, offered, request_filter

if TYPE_CHECKING:
    from ..governance.identity import AuthenticatedKey
    from .server import GatewayMCPServer

logger = logging.getLogger("bifrost_asgi.mcp")

STOP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Offer:
    """The MCP tools one request was offered (by exposed name) and the request that carries them;
    ``agent``: some of them run by themselves (agent mode)."""

    request: ChatRequest
    tools: Mapping[str, RemoteTool]
    agent: bool = False


class MCPRuntime:
    def __init__(
        self,
        config: MCPConfig,
        *,
        registry: CollectorRegistry,
        allow_version: int = 2,
        gateway_version: str = "",
        clock: Callable[[], float] = time.monotonic,
        log_changes: bool = True,
    ) -> None:
        self.config = config
        self.allow_version = allow_version
        self.metrics = MCPMetrics(registry)
        self.clock = clock
        self.auto_inject = not config.tool_manager_config.disable_auto_tool_inject
        self.connections = {
            c.name: Connection(
                c,
                sync_interval=config.tool_sync_interval,
                health_interval=config.health_check_interval,
                on_change=self._changed,
                allow_version=allow_version,
                gateway_version=gateway_version,
                log_changes=log_changes,
            )
            for c in config.enabled_clients
        }
        for name in self.connections:
            self.metrics.set_client(name, connected=False, tools=0)
        self.active = bool(self.connections)
        # Virtual keys name clients by name or by client_id.
        self._client_ids = {c.client_id: c.name for c in config.client_configs if c.client_id}
        self._open_clients = [c.name for c in config.client_configs if c.allow_on_all_virtual_keys]
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._server: GatewayMCPServer | None = None
        self._all: dict[str, RemoteTool] | None = None  # every tool by exposed name; reset on any change
        self._all_relayed: RelayedTools | None = None  # _all for an OpenAI chat body; reset with it
        self._gateway_version = gateway_version

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._started or not self.active:
            return
        self._started = True
        self._tasks = [asyncio.ensure_future(c.run()) for c in self.connections.values()]

    @property
    def server(self) -> GatewayMCPServer:
        """The ``/mcp`` server (built on first use)."""
        if self._server is None:
            from .server import GatewayMCPServer

            self._server = GatewayMCPServer(self, version=self._gateway_version)
        return self._server

    async def aclose(self) -> None:
        """Stop ``/mcp`` and every connection (each leaves its SDK context, which ends a stdio child)."""
        if self._server is not None:
            await self._server.aclose()
        for connection in self.connections.values():
            connection.stop()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_attempted(self, timeout: float) -> dict[str, bool]:
        """Start, and whether each client's first attempt connected (bounded by ``timeout``; ``--check``)."""
        self.start()
        names = list(self.connections)
        results = await asyncio.gather(*(self.connections[n].wait_attempted(timeout) for n in names))
        return dict(zip(names, results, strict=True))

    def _changed(self, connection: Connection) -> None:
        self._all = self._all_relayed = None
        connected = connection.state is State.CONNECTED
        self.metrics.set_client(connection.name, connected=connected, tools=len(connection.tools))

    # ------------------------------------------------------------------ offering

    def tools(self) -> list[RemoteTool]:
        """Every tool of every connected client (already limited to ``tools_to_execute``)."""
        return [t for c in self.connections.values() if c.state is State.CONNECTED for t in c.tools]

    def allowed(self, headers: Mapping[str, str], key: AuthenticatedKey | None) -> dict[str, RemoteTool]:
        """The tools a request may use (by exposed name): connected, in ``tools_to_execute``, and
        allowed by the ``x-bf-mcp-include-*`` headers and by the virtual key's ``mcp_configs``."""
        self.start()
        if (
            key is None
            and self.auto_inject
            and INCLUDE_CLIENTS_HEADER not in headers
            and INCLUDE_TOOLS_HEADER not in headers
        ):
            if self._all is None:
                self._all = {t.exposed: t for t in self.tools()}
            return self._all  # the common case: no filter at all
        selected = request_filter(headers, auto_inject=self.auto_inject)
        if selected is None:
            return {}
        filters = [selected]
        if key is not None:
            version = self.allow_version
            filters.append(key_filter(key.mcp_configs, self._client_ids, self._open_clients, version=version))
        return offered(self.tools(), filters)

    def offer(self, request: ChatRequest, headers: Mapping[str, str], key: AuthenticatedKey | None) -> Offer | None:
        """The request with the tools it may use added, or ``None`` when it gets none."""
        if not self.active:
            return None
        tools = self.allowed(headers, key)
        if not tools:
            return None
        agent = any(t.auto for t in tools.values())
        offered_request = inject_tools(request, tools.values())
        if agent:  # the agent loop reads every neutral event of a stream: no verbatim frames
            offered_request = replace(offered_request, relay_frames=False)
        return Offer(offered_request, tools, agent)

    def offer_passthrough(
        self, passthrough: Passthrough, headers: Mapping[str, str], key: AuthenticatedKey | None
    ) -> Passthrough | None:
        """``offer`` for a same-format request: it with the tools it may use added (itself when it
        gets none), or None when some of them run by themselves: agent mode reads the neutral
        answer, so the caller parses the request and takes ``offer`` instead."""
        if not self.active:
            return passthrough
        tools = self.allowed(headers, key)
        if not tools:
            return passthrough
        if tools is not self._all:
            relayed = RelayedTools.of(tools.values())
        elif self._all_relayed is not None:  # every tool: rendered once per change
            relayed = self._all_relayed
        else:
            relayed = self._all_relayed = RelayedTools.of(tools.values())
        return None if relayed.auto else inject_passthrough(passthrough, relayed)

    def policy(self, offer: Offer) -> AgentPolicy:
        tools = offer.tools

        def auto(name: str) -> bool:
            tool = tools.get(name)
            return tool is not None and tool.auto

        return AgentPolicy(auto, self.config.tool_manager_config.max_agent_depth)

    async def chat(self, offer: Offer, call_model: ChatCall) -> tuple[ChatResponse, AgentRun]:
        """Agent mode around ``call_model`` (the router): tools run until a final answer."""
        tools = offer.tools
        response, run = await run_agent(offer.request, call_model, lambda c: self.execute(c, tools), self.policy(offer))
        self._count(run, stream=False)
        return response, run

    def stream(
        self, offer: Offer, first: EventSource, open_stream: OpenStream, on_done: Callable[[AgentRun], None]
    ) -> AgentStream:
        """Agent mode for a streamed request: ``first`` is the opened model stream."""
        tools = offer.tools

        def done(run: AgentRun) -> None:
            self._count(run, stream=True)
            on_done(run)

        return AgentStream(
            offer.request, first, open_stream, lambda c: self.execute(c, tools), self.policy(offer), done
        )

    def _count(self, run: AgentRun, *, stream: bool) -> None:
        for _ in range(run.rounds):
            self.metrics.count_round(stream=stream)
        if run.exhausted:
            self.metrics.count_exhausted(stream=stream)

    def health(self) -> dict[str, Any]:
        return {
            name: {"state": c.state.value, "tools": len(c.tools), **({"error": c.last_error} if c.last_error else {})}
            for name, c in self.connections.items()
        }

    # ------------------------------------------------------------------ execution

    def _timeout(self, config: MCPClientConfig) -> float:
        return config.tool_execution_timeout or self.config.tool_manager_config.tool_execution_timeout

    async def execute(self, call: ToolCall, tools: Mapping[str, RemoteTool]) -> ToolResult:
        """Run one tool call; any failure is a result marked ``is_error`` (the model reads it)."""
        tool = tools.get(call.name)
        if tool is None:
            return _error(call, f"tool {call.name!r} is not available to this request")
        try:
            arguments = _json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            return _error(call, f"the arguments of {call.name!r} are not valid JSON")
        if not isinstance(arguments, dict):
            return _error(call, f"the arguments of {call.name!r} must be a JSON object")
        result = await self.call_tool(tool, arguments)
        return ToolResult(call.id, (TextPart(result_text(result)),), is_error=bool(result.is_error), name=call.name)

    async def call_tool(self, tool: RemoteTool, arguments: dict[str, Any]) -> CallToolResult:
        """Call ``tool`` on its server under its timeout; a failure is an ``is_error`` result."""
        connection = self.connections[tool.client]
        timeout = self._timeout(connection.config)
        name = tool.exposed
        started = self.clock()
        try:
            result = await connection.call(tool.name, arguments, timeout)
        except ToolUnavailableError:
            outcome, result = "unavailable", _failed(f"tool {name!r} is unavailable: its MCP server is not connected")
        except TimeoutError:
            outcome, result = "timeout", _failed(f"tool {name!r} timed out after {timeout:g}s")
        except Exception as exc:  # the SDK's MCPError (a -32001 is its own timeout), a broken transport...
            if getattr(exc, "code", None) == -32001:
                outcome, result = "timeout", _failed(f"tool {name!r} timed out after {timeout:g}s")
            else:
                outcome, result = "error", _failed(f"tool {name!r} failed: {describe_error(exc)}")
        else:
            outcome = "error" if result.is_error else "success"
        self.metrics.observe_call(tool.client, tool.name, outcome, self.clock() - started)
        return result

    async def execute_request(
        self, payload: Any, query: Mapping[str, str], headers: Mapping[str, str], key: AuthenticatedKey | None
    ) -> tuple[bytes, dict[str, str]]:
        """``POST /v1/mcp/tool/execute``: run the call if this request may use the tool."""
        fmt = execute_format(query)
        call = parse_execute(payload, fmt)
        tools = self.allowed(headers, key)
        if call.name not in tools:
            if key is not None and call.name in self.allowed(headers, None):
                raise PermissionDeniedError(
                    f"Tool '{call.name}' is not allowed for this virtual key", code="mcp_tool_blocked"
                )
            raise InvalidRequestError(
                f"Tool '{call.name}' is not allowed for this request (unknown, not connected, or filtered out by "
                "tools_to_execute or the x-bf-mcp-include-* headers)",
                code="tool_execution_error",
                param="name" if fmt == "responses" else "function.name",
            )
        return render_execute(await self.execute(call, tools), fmt)


def _failed(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, (TextPart(message),), is_error=True, name=call.name)
