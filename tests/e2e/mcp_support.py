"""Shared pieces of the MCP end-to-end tests: the gateway config (three providers on one fake
vendor, plus MCP clients) and waiting for the clients to connect."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import httpx2
import openai
from google import genai

from tests.support import FakeProvider, ServerHandle

UPSTREAM_KEY = "sk-upstream-mcp"
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-3-5-haiku-latest",
    "gemini": "gemini/gemini-2.0-flash",
}


def gateway_config(fake: FakeProvider, clients: Sequence[Mapping[str, Any]], **mcp: Any) -> dict[str, Any]:
    keys = [{"value": UPSTREAM_KEY}]
    return {
        "providers": {
            "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
            "gemini": {"keys": keys, "network_config": {"base_url": fake.url + "/v1beta"}},
        },
        "mcp": {"client_configs": [dict(c) for c in clients], "health_check_interval": "200ms", **mcp},
    }


def mcp_state(gateway: ServerHandle) -> dict[str, Any]:
    body = httpx2.get(f"{gateway.url}/health/ready", timeout=10).json()
    return dict(body.get("mcp_clients") or {})


def wait_for_tools(gateway: ServerHandle, expected: Mapping[str, int], timeout: float = 30.0) -> dict[str, Any]:
    """Wait until each named client is connected with at least the given number of tools."""
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = mcp_state(gateway)
        if all(
            state.get(n, {}).get("state") == "connected" and state[n]["tools"] >= count for n, count in expected.items()
        ):
            return state
        time.sleep(0.05)
    raise AssertionError(f"MCP clients did not connect within {timeout}s: {state}")


def wait_for_state(gateway: ServerHandle, name: str, wanted: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = mcp_state(gateway)
        if state.get(name, {}).get("state") == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"MCP client {name} did not become {wanted} within {timeout}s: {state}")


def openai_sdk(gateway: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-client", base_url=f"{gateway.url}/openai/v1", max_retries=0, timeout=60)


def anthropic_sdk(gateway: ServerHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-client", base_url=f"{gateway.url}/anthropic", max_retries=0, timeout=60)


def genai_sdk(gateway: ServerHandle) -> genai.Client:
    return genai.Client(api_key="sk-client", http_options={"base_url": f"{gateway.url}/genai", "timeout": 60_000})


def upstream_tool_names(body: Mapping[str, Any], vendor: str) -> list[str]:
    """The tool names a vendor request declared, in its own format."""
    tools = body.get("tools") or []
    if vendor == "openai":
        return [t["function"]["name"] for t in tools]
    if vendor == "anthropic":
        return [t["name"] for t in tools]
    return [d["name"] for t in tools for d in t.get("functionDeclarations") or t.get("function_declarations") or []]
