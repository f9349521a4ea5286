"""``/mcp``: the gateway as one MCP server over streamable HTTP, used by the official SDK's own
client: every connected, allowed tool listed as ``<client>-<tool>``, calls proxied to the owning
server (auto-execute lists do not apply), the same auth and filters as inference."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from tests.e2e.mcp_support import gateway_config, wait_for_tools
from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.mcp_servers import http_client_config, run_http_mcp, stdio_client_config, weather_text

pytestmark = pytest.mark.e2e

PROVIDERS = [{"provider": p, "allowed_models": ["*"]} for p in ("openai", "anthropic", "gemini")]
VK = "sk-bf-mcp-host-1"


@pytest.fixture(scope="module")
def gateway() -> Iterator[ServerHandle]:
    with FakeProvider() as fake, run_http_mcp() as url:
        clients = [stdio_client_config("local", tools_to_auto_execute=["weather"]),
                   http_client_config(url, "remote", tools_to_execute=["weather", "add"])]  # fmt: skip
        config = gateway_config(fake, clients)
        config["governance"] = {"virtual_keys": [
            {"id": "vk-host", "name": "host", "value": VK, "provider_configs": PROVIDERS,
             "mcp_configs": [{"mcp_client_name": "local", "tools_to_execute": ["weather", "add", "boom"]},
                             {"mcp_client_name": "remote", "tools_to_execute": ["*"]}]},
        ]}  # fmt: skip
        with run_gateway(config) as handle:
            wait_for_tools(handle, {"local": 5, "remote": 2})
            yield handle


async def session(gateway: ServerHandle, headers: dict[str, str], work: Any) -> Any:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode="legacy") as client,
    ):
        return await work(client)


def run(gateway: ServerHandle, work: Any, **headers: str) -> Any:
    return asyncio.run(session(gateway, headers, work))


def test_an_mcp_client_lists_every_allowed_tool(gateway: ServerHandle) -> None:
    async def work(client: Client) -> Any:
        return (await client.list_tools()).tools, client.server_info

    tools, info = run(gateway, work)
    names = [t.name for t in tools]
    assert names == [
        "local-weather",
        "local-add",
        "local-boom",
        "local-hang",
        "local-pid",
        "remote-weather",
        "remote-add",
    ]
    assert info is not None and info.name == "bifrost"
    weather = tools[0]
    assert weather.description == "The weather in a city." and weather.input_schema["properties"]["city"]


def test_calls_are_proxied_to_the_owning_server(gateway: ServerHandle) -> None:
    async def work(client: Client) -> Any:
        return (
            await client.call_tool("remote-weather", {"city": "Lima"}),
            await client.call_tool("local-add", {"a": 20, "b": 22}),
            await client.call_tool("local-boom", {}),
        )

    weather, added, boom = run(gateway, work)
    assert isinstance(weather.content[0], TextContent) and weather.content[0].text == weather_text("Lima")
    assert not weather.is_error and added.structured_content == {"result": 42}
    assert boom.is_error and "boom" in boom.content[0].text


def test_headers_and_virtual_keys_filter_the_served_tools(gateway: ServerHandle) -> None:
    async def work(client: Client) -> Any:
        names = [t.name for t in (await client.list_tools()).tools]
        blocked = await client.call_tool("local-pid", {})
        return names, blocked

    names, blocked = run(gateway, work, **{"x-bf-mcp-include-clients": "remote"})
    assert names == ["remote-weather", "remote-add"] and blocked.is_error
    names, blocked = run(gateway, work, authorization=f"Bearer {VK}")
    assert names == ["local-weather", "local-add", "local-boom", "remote-weather", "remote-add"]
    assert blocked.is_error and "not allowed" in blocked.content[0].text


def test_a_bad_virtual_key_is_refused_before_mcp(gateway: ServerHandle) -> None:
    response = httpx2.post(
        f"{gateway.url}/mcp", headers={"x-bf-vk": "sk-bf-wrong", "accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 401 and "sk-bf-wrong" not in response.text
    assert json.loads(response.text)["error"]


def test_without_mcp_clients_mcp_is_404(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "k"}], "network_config": {"base_url": fake_provider.url}}}}
    with run_gateway(config) as gw:
        response = httpx2.post(f"{gw.url}/mcp", json={}, timeout=10)
    assert response.status_code == 404 and "no MCP clients" in response.text
