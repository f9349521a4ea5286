"""MCP connections over real sockets and processes: start never waits for a server, a dead one
offers nothing and never fails chat, a killed server's tools return after it comes back (without
restarting the gateway), and stdio children are reaped on shutdown."""

from __future__ import annotations

import os
import signal
import socket
import time

import httpx2
import pytest

from tests.e2e.mcp_support import (
    gateway_config,
    mcp_state,
    openai_sdk,
    upstream_tool_names,
    wait_for_state,
    wait_for_tools,
)
from tests.support import FakeProvider, run_gateway
from tests.support.mcp_servers import (
    http_client_config,
    process_alive,
    run_http_mcp,
    run_sse_mcp,
    stdio_client_config,
    stdio_server_pids,
)

pytestmark = pytest.mark.e2e

HELLO: list = [{"role": "user", "content": "weather?"}]  # type: ignore[type-arg]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offered(fake: FakeProvider) -> list[str]:
    return upstream_tool_names(fake.last("/chat/completions").json, "openai")


def test_a_dead_server_never_delays_start_or_fails_chat(fake_provider: FakeProvider) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    config = gateway_config(fake_provider, [http_client_config(dead, "gone")])
    with run_gateway(config) as gateway:
        completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert completion.choices[0].message.content
        assert "tools" not in fake_provider.last("/chat/completions").json
        wait_for_state(gateway, "gone", "disconnected")
        assert mcp_state(gateway)["gone"]["tools"] == 0


def test_killed_http_server_loses_its_tools_and_gets_them_back(fake_provider: FakeProvider) -> None:
    port = free_port()
    client = http_client_config(f"http://127.0.0.1:{port}/mcp", "remote")
    with run_gateway(gateway_config(fake_provider, [client])) as gateway:
        with run_http_mcp(port):
            wait_for_tools(gateway, {"remote": 5})
            openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert offered(fake_provider)[0] == "remote-weather"
        wait_for_state(gateway, "remote", "disconnected")
        completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert completion.choices[0].message.content  # chat keeps working, without the tools
        assert "tools" not in fake_provider.last("/chat/completions").json
        with run_http_mcp(port):
            wait_for_tools(gateway, {"remote": 5})
            openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert offered(fake_provider)[0] == "remote-weather"


def test_killed_stdio_server_is_restarted_and_children_are_reaped(fake_provider: FakeProvider) -> None:
    before = set(stdio_server_pids())
    with run_gateway(gateway_config(fake_provider, [stdio_client_config("local")])) as gateway:
        wait_for_tools(gateway, {"local": 5})
        (first,) = set(stdio_server_pids()) - before
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (set(stdio_server_pids()) - before - {first}):
            time.sleep(0.05)
        wait_for_tools(gateway, {"local": 5})
        (second,) = set(stdio_server_pids()) - before
        assert second != first
        openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert offered(fake_provider)[0] == "local-weather"
    assert not process_alive(second), "the stdio MCP server outlived the gateway"
    assert set(stdio_server_pids()) <= before


def test_sse_servers_work_too(fake_provider: FakeProvider) -> None:
    with run_sse_mcp() as url:
        client = {"name": "old", "connection_type": "sse", "connection_string": url, "tools_to_execute": ["*"]}
        with run_gateway(gateway_config(fake_provider, [client])) as gateway:
            wait_for_tools(gateway, {"old": 5})
            call = {"id": "c1", "type": "function", "function": {"name": "old-add", "arguments": '{"a": 1, "b": 2}'}}
            response = httpx2.post(f"{gateway.url}/v1/mcp/tool/execute", json=call, timeout=30)
            assert response.json() == {"role": "tool", "content": "3", "tool_call_id": "c1"}
