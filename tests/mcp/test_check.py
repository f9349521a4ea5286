"""``--check`` says, per MCP client, whether it could connect (real stdio server, dead HTTP one)."""

from __future__ import annotations

import socket

from bifrost_asgi.mcp.check import check_clients
from bifrost_asgi.mcp.config import MCPConfig
from tests.support.mcp_servers import http_client_config, stdio_client_config, stdio_server_pids


def test_check_lines_connect_each_client_once_and_reap_children() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    before = set(stdio_server_pids())
    config = MCPConfig.model_validate(
        {"client_configs": [
            stdio_client_config("local"),
            http_client_config(f"http://user:pw-secret@127.0.0.1:{port}/mcp?token=q-secret", "dead"),
            {**stdio_client_config("off"), "disabled": True},
        ]}
    )  # fmt: skip
    lines = [c.line for c in check_clients(config, timeout=30)]
    assert lines[0].startswith("  local: stdio (") and lines[0].endswith("connected, 5 tool(s)")
    assert lines[1].startswith(f"  dead: http (http://127.0.0.1:{port}), could not connect: ")
    assert lines[2] == "  off: stdio (" + config.client_configs[2].stdio_config.command + "), disabled"  # type: ignore[union-attr]
    assert "secret" not in "".join(lines)
    assert set(stdio_server_pids()) <= before
