"""One MCP client connection, kept alive by a supervisor task (official ``mcp`` SDK, legacy handshake
so that any server works and ``ping`` is available).

The supervisor connects (bounded by ``CONNECT_TIMEOUT``), lists the tools, then health-checks every
``health_interval`` (``ping``, or ``tools/list`` when the server has no ping) and re-lists the tools
every ``sync_interval``. Any failure closes the session and reconnects after a capped exponential
backoff. The SDK context is entered and left by the supervisor task itself, so leaving it (on
``stop`` or failure) always terminates a stdio child. Tool calls come from other tasks through
``call``; while disconnected the client offers no tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from enum import StrEnum
from typing import Any

from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Implementation

from ..upstream._http import httpx
from .config import MCPClientConfig
from .tools import RemoteTool

logger = logging.getLogger("bifrost_asgi.mcp")

CONNECT_TIMEOUT = 30.0
CHECK_TIMEOUT = 5.0
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
MAX_TOOL_PAGES = 100


class State(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class ToolUnavailableError(Exception):
    """The tool's server is not connected right now."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason that names the error type and never a URL or header (they may hold secrets)."""
    if isinstance(exc, ExceptionGroup) and exc.exceptions:
        return describe_error(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    if "://" in text:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Connection:
    def __init__(
        self,
        config: MCPClientConfig,
        *,
        sync_interval: float,
        health_interval: float,
        on_change: Callable[[Connection], None] = lambda _: None,
        allow_version: int = 2,
        gateway_version: str = "",
        log_changes: bool = True,
    ) -> None:
        self.config = config
        self.name = config.name
        own_sync = config.tool_sync_interval
        self.sync_interval = own_sync or sync_interval
        self.health_interval = health_interval
        self.state = State.CONNECTING
        self.tools: tuple[RemoteTool, ...] = ()
        self.last_error: str | None = None
        self._on_change = on_change
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._attempted = asyncio.Event()  # the first connection attempt ended (either way)
        self._allow_version = allow_version
        self._gateway_version = gateway_version
        self._log_changes = log_changes

    # ------------------------------------------------------------------ public

    async def run(self) -> None:
        """Supervise until ``stop()``: connect, serve, reconnect with backoff."""
        delay = BACKOFF_INITIAL
        while not self._stop.is_set():
            try:
                await self._session()
                delay = BACKOFF_INITIAL
            except Exception as exc:  # any failure of the server or transport: reconnect later
                self._set(State.DISCONNECTED, describe_error(exc))
                self._attempted.set()
            if self._stop.is_set():
                break
            await self._sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
        self._set(State.DISCONNECTED, None)

    def stop(self) -> None:
        self._stop.set()

    async def wait_attempted(self, timeout: float) -> bool:
        """Wait until the first attempt to connect succeeded or failed; True when connected."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._attempted.wait()
        return self.state is State.CONNECTED

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> CallToolResult:
        client = self._client
        if client is None or self.state is not State.CONNECTED:
            raise ToolUnavailableError(f"MCP client {self.name!r} is not connected")
        async with asyncio.timeout(timeout):
            return await client.call_tool(tool, arguments, read_timeout_seconds=timeout)

    # ------------------------------------------------------------------ supervision

    async def _session(self) -> None:
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                client = await stack.enter_async_context(await self._client_for(stack))
                tools = await self._list_tools(client)
            self._client = client
            self.tools = tools
            try:
                self._set(State.CONNECTED, None)
                await self._serve(client)
            finally:
                self._client = None
                self.tools = ()

    async def _client_for(self, stack: AsyncExitStack) -> Client:
        config = self.config
        info = Implementation(name="bifrost-asgi", version=self._gateway_version)
        transport: Any
        if config.connection_type == "stdio":
            assert config.stdio_config is not None
            stdio = config.stdio_config
            env = {name: os.environ[name] for name in stdio.envs if name in os.environ}
            params = StdioServerParameters(command=stdio.command, args=list(stdio.args), env=env or None)
            transport = stdio_client(params, errlog=sys.stderr)
        elif config.connection_type == "http":
            http = await stack.enter_async_context(
                httpx.AsyncClient(headers=self._headers(), timeout=httpx.Timeout(30.0, read=300.0))
            )
            transport = streamable_http_client(config.url, http_client=http)
        else:
            transport = sse_client(config.url, headers=self._headers())
        return Client(transport, mode="legacy", client_info=info, cache=None)

    def _headers(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.config.headers.items()}

    async def _list_tools(self, client: Client) -> tuple[RemoteTool, ...]:
        tools: list[RemoteTool] = []
        cursor: str | None = None
        for _ in range(MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor)
            version = self._allow_version
            tools.extend(
                RemoteTool(
                    self.name,
                    t.name,
                    t.description or None,
                    dict(t.input_schema),
                    auto=self.config.auto_executes(t.name, version=version),
                )
                for t in page.tools
                if self.config.executes(t.name, version=version)
            )
            cursor = page.next_cursor
            if not cursor:
                break
        return tuple(tools)

    async def _serve(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        next_sync = loop.time() + self.sync_interval if self.sync_interval > 0 else None
        while not await self._sleep(self.health_interval):
            async with asyncio.timeout(CHECK_TIMEOUT):
                if next_sync is not None and loop.time() >= next_sync:
                    tools = await self._list_tools(client)
                    if tools != self.tools:
                        self.tools = tools
                        self._set(State.CONNECTED, None, force=True)
                    next_sync = loop.time() + self.sync_interval
                elif self.config.is_ping_available:
                    await client.session.send_ping()
                else:
                    await client.list_tools()

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until stopped; True when stopped."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            return False
        return True

    def _set(self, state: State, error: str | None, *, force: bool = False) -> None:
        changed = state is not self.state or force
        self.state, self.last_error = state, error
        if state is State.CONNECTED:
            self._attempted.set()
        if not changed:
            return
        if self._log_changes and state is State.CONNECTED:
            logger.info("MCP client %s connected: %d tool(s)", self.name, len(self.tools))
        elif self._log_changes and error:
            logger.warning("MCP client %s is not connected (%s); retrying with backoff", self.name, error)
        self._on_change(self)
