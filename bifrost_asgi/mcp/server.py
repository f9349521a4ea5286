"""``/mcp``: the gateway as one MCP server over streamable HTTP (the SDK's own server and session
manager), so MCP hosts can use it as their tool hub.

``tools/list`` answers every connected tool this request may use (``tools_to_execute``, the
``x-bf-mcp-include-*`` headers, the virtual key's ``mcp_configs``), named ``<client>-<tool>``;
``tools/call`` is proxied to the owning server, its result passed on as it came. Auto-execute lists
do not apply here: approving calls is the MCP host's job. The manager runs stateless (any replica
can answer any request) and is started on first use, so a mounted app without lifespan works.
Host-header (DNS-rebinding) checks are off: the gateway's own auth guards the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

if TYPE_CHECKING:
    from ..governance.identity import AuthenticatedKey
    from .runtime import MCPRuntime

KEY_STATE = "bifrost_virtual_key"
STOP_TIMEOUT = 10.0

Scope = dict[str, Any]


def _request_headers(ctx: ServerRequestContext[Any, Any]) -> tuple[Mapping[str, str], AuthenticatedKey | None]:
    request = ctx.request
    scope: Mapping[str, Any] = getattr(request, "scope", None) or {}
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
    state = scope.get("state") or {}
    return headers, state.get(KEY_STATE)


class GatewayMCPServer:
    def __init__(self, runtime: MCPRuntime, *, version: str = "") -> None:
        self._runtime = runtime
        self.server: Server[Any] = Server(
            "bifrost", version=version, on_list_tools=self._list_tools, on_call_tool=self._call_tool
        )
        self.manager = StreamableHTTPSessionManager(
            app=self.server,
            stateless=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        headers, key = _request_headers(ctx)
        tools = self._runtime.allowed(headers, key)
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.exposed, description=t.description, input_schema=dict(t.input_schema))
                for t in tools.values()
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        headers, key = _request_headers(ctx)
        tool = self._runtime.allowed(headers, key).get(params.name)
        if tool is None:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Tool '{params.name}' is not allowed for this request")],
                is_error=True,
            )
        return await self._runtime.call_tool(tool, dict(params.arguments or {}))

    async def _serve(self) -> None:
        async with self.manager.run():
            self._ready.set()
            await self._stop.wait()

    async def handle(self, scope: Scope, receive: Any, send: Any, key: AuthenticatedKey | None) -> None:
        """Serve one HTTP request to ``/mcp`` (the caller authenticated it as ``key``)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._serve())
        await self._ready.wait()
        scope = dict(scope)
        scope["state"] = {**(scope.get("state") or {}), KEY_STATE: key}
        await self.manager.handle_request(scope, receive, send)

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
