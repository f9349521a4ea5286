"""A stdio MCP server with three small tools, for the bench's MCP row (tools injected, never called).

The gateway starts it (``mcp.client_configs`` with ``connection_type: stdio``), lists its tools and
adds them to every chat request it forwards; the fake upstream never calls one.

    python bench/mcp_tools.py    # speaks MCP on stdin/stdout
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SCRIPT = str(Path(__file__).resolve())


def build_server() -> Any:
    from mcp.server.mcpserver import MCPServer  # only in the server process, not in bench/run.py

    server = MCPServer("bench")

    @server.tool()
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}, 21C"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def lookup(query: str, limit: int = 5) -> list[str]:
        """Search a small index and return matching titles."""
        return [f"{query} {i}" for i in range(limit)]

    return server


def client_config(python: str) -> dict[str, object]:
    """The gateway's ``client_configs`` entry that starts this file with ``python``."""
    return {
        "name": "bench",
        "connection_type": "stdio",
        "stdio_config": {"command": python, "args": [SCRIPT]},
        "tools_to_execute": ["*"],
    }


if __name__ == "__main__":
    build_server().run("stdio")
    sys.exit(0)
