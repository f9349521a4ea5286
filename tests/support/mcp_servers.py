"""Real MCP servers for tests, written with the official SDK's ``MCPServer``.

* Run this file as a script for a **stdio** server (``python tests/support/mcp_servers.py``):
  ``stdio_client_config(name)`` is the gateway's ``client_configs`` entry for it.
* :func:`run_http_mcp` serves the same tools over **streamable HTTP** on loopback (uvicorn thread);
  pass ``port=`` to restart a server where a killed one was.

Tools: ``weather(city)`` (what the fake model asks for: it calls the first declared tool with
``{"city": "Paris"}``), ``add(a, b)``, ``boom()`` (raises), ``hang()`` (never returns), ``pid()`` (the
server's process id, to kill it). Tool order is ``weather`` first, so it is the one the fake calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

SCRIPT = str(Path(__file__).resolve())


def weather_text(city: str) -> str:
    return f"sunny in {city}, 21C"


def build_server(name: str = "tools") -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    def weather(city: str) -> str:
        """The weather in a city."""
        return weather_text(city)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def boom() -> str:
        """Always fails."""
        raise RuntimeError("the boom tool exploded")

    @server.tool()
    async def hang() -> str:
        """Never answers."""
        await asyncio.sleep(3600)
        return "unreachable"

    @server.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    return server


def stdio_client_config(name: str = "local", **extra: Any) -> dict[str, Any]:
    """A ``client_configs`` entry that starts this file as a stdio MCP server."""
    return {
        "name": name,
        "connection_type": "stdio",
        "stdio_config": {"command": sys.executable, "args": [SCRIPT]},
        "tools_to_execute": ["*"],
        **extra,
    }


def http_client_config(url: str, name: str = "remote", **extra: Any) -> dict[str, Any]:
    return {"name": name, "connection_type": "http", "connection_string": url, "tools_to_execute": ["*"], **extra}


@contextlib.contextmanager
def run_http_mcp(port: int = 0) -> Iterator[str]:
    """A streamable-HTTP MCP server on loopback; yields its endpoint URL (``.../mcp``)."""
    from tests.support.servers import run_server

    app = build_server("remote").streamable_http_app()
    with run_server(app, port=port) as handle:
        yield f"{handle.url}/mcp"


def stdio_server_pids() -> list[int]:
    """Processes running this file (stdio servers some gateway started), from ``/proc``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if SCRIPT.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def run_sse_mcp() -> Iterator[str]:
    """The same tools over the (older) SSE transport; yields the SSE endpoint URL (``.../sse``)."""
    from tests.support.servers import run_server

    with run_server(build_server("sse").sse_app()) as handle:
        yield f"{handle.url}/sse"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    build_server(os.environ.get("MCP_SERVER_NAME", "local")).run("stdio")
