"""MCP tools offered to the model in every dialect, through the official SDKs, over real sockets:
a stdio MCP server (a child the gateway starts) and a streamable-HTTP one on loopback, both written
with the SDK's ``MCPServer``; the fake vendor records what the model was offered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from google.genai import types as gtypes

from tests.e2e.mcp_support import (
    MODELS,
    anthropic_sdk,
    gateway_config,
    genai_sdk,
    openai_sdk,
    upstream_tool_names,
    wait_for_tools,
)
from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.mcp_servers import http_client_config, run_http_mcp, stdio_client_config

pytestmark = pytest.mark.e2e

LOCAL = ["local-weather", "local-add", "local-boom", "local-hang", "local-pid"]
REMOTE = ["remote-weather", "remote-add", "remote-boom", "remote-hang", "remote-pid"]
HELLO: Any = [{"role": "user", "content": "what is the weather in Paris?"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    with run_http_mcp() as url:
        config = gateway_config(
            fake, [stdio_client_config("local"), http_client_config(url, "remote", tools_to_execute=["weather", "add"])]
        )
        with run_gateway(config) as handle:
            wait_for_tools(handle, {"local": 5, "remote": 2})
            yield handle


def test_openai_chat_gets_the_tools_of_every_connected_server(gateway: ServerHandle, fake: FakeProvider) -> None:
    completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    body = fake.last("/chat/completions").json
    assert upstream_tool_names(body, "openai") == [*LOCAL, "remote-weather", "remote-add"]
    weather = body["tools"][0]["function"]
    assert weather["description"] == "The weather in a city."
    assert weather["parameters"]["properties"]["city"]["type"] == "string"
    # No auto-execution configured: the model's call comes back to the client (explicit execution).
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "local-weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_only_tools_to_execute_are_offered(gateway: ServerHandle, fake: FakeProvider) -> None:
    openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    names = upstream_tool_names(fake.last("/chat/completions").json, "openai")
    assert "remote-boom" not in names and "remote-pid" not in names


def test_client_tools_come_first_and_are_not_duplicated(gateway: ServerHandle, fake: FakeProvider) -> None:
    own = {
        "type": "function",
        "function": {"name": "local-add", "description": "mine", "parameters": {"type": "object"}},
    }
    openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=[own])  # type: ignore[list-item]
    body = fake.last("/chat/completions").json
    names = upstream_tool_names(body, "openai")
    assert names.count("local-add") == 1 and names[0] == "local-add"
    assert body["tools"][0]["function"]["description"] == "mine"


def test_anthropic_messages_get_the_tools_in_anthropic_shape(gateway: ServerHandle, fake: FakeProvider) -> None:
    message = anthropic_sdk(gateway).messages.create(model="claude-3-5-haiku-latest", max_tokens=100, messages=HELLO)
    body = fake.last("/v1/messages").json
    assert upstream_tool_names(body, "anthropic") == [*LOCAL, "remote-weather", "remote-add"]
    assert body["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
    assert message.stop_reason == "tool_use" and message.content[0].name == "local-weather"  # type: ignore[union-attr]


def test_genai_generate_content_gets_function_declarations(gateway: ServerHandle, fake: FakeProvider) -> None:
    client = genai_sdk(gateway)
    response = client.models.generate_content(model="gemini-2.0-flash", contents="weather in Paris?")
    body = fake.last(":generateContent").json
    assert upstream_tool_names(body, "gemini") == [*LOCAL, "remote-weather", "remote-add"]
    assert response.function_calls and response.function_calls[0].name == "local-weather"


@pytest.mark.parametrize("model", [MODELS["anthropic"], MODELS["gemini"]])
def test_openai_client_to_another_vendor_gets_the_tools_translated(
    gateway: ServerHandle, fake: FakeProvider, model: str
) -> None:
    completion = openai_sdk(gateway).chat.completions.create(model=model, messages=HELLO, extra_body={})
    vendor = model.split("/")[0]
    request = fake.requests[-1]
    assert request.vendor == vendor
    assert upstream_tool_names(request.json, vendor)[:5] == LOCAL
    assert completion.choices[0].message.tool_calls[0].function.name == "local-weather"  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"x-bf-mcp-include-clients": "remote"}, ["remote-weather", "remote-add"], id="clients"),
        pytest.param({"x-bf-mcp-include-clients": "*"}, [*LOCAL, "remote-weather", "remote-add"], id="all-clients"),
        pytest.param({"x-bf-mcp-include-tools": "local-add,remote-*"}, ["local-add", "remote-weather", "remote-add"],
                     id="tools"),
        pytest.param({"x-bf-mcp-include-clients": "local", "x-bf-mcp-include-tools": "local-pid,remote-add"},
                     ["local-pid"], id="both-intersect"),
        pytest.param({"x-bf-mcp-include-clients": ""}, [], id="empty-clients-means-none"),
        pytest.param({"x-bf-mcp-include-tools": ""}, [], id="empty-tools-means-none"),
    ],
)  # fmt: skip
def test_request_headers_filter_the_tools(
    gateway: ServerHandle, fake: FakeProvider, headers: dict[str, str], expected: list[str]
) -> None:
    openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=headers)
    assert upstream_tool_names(fake.last("/chat/completions").json, "openai") == expected


def test_streamed_requests_are_offered_the_tools_too(gateway: ServerHandle, fake: FakeProvider) -> None:
    stream = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    names = [d.function.name for c in stream for d in (c.choices[0].delta.tool_calls or []) if c.choices and d.function]
    assert "local-weather" in names
    assert upstream_tool_names(fake.last("/chat/completions").json, "openai")[:5] == LOCAL


def test_genai_stream_tool_declarations(gateway: ServerHandle, fake: FakeProvider) -> None:
    client = genai_sdk(gateway)
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.0-flash", contents="weather?", config=gtypes.GenerateContentConfig()
        )
    )
    assert any(c.function_calls for c in chunks)
    assert upstream_tool_names(fake.last(":streamGenerateContent").json, "gemini")[:5] == LOCAL


def test_virtual_keys_limit_the_tools_to_their_mcp_configs(fake: FakeProvider) -> None:
    providers = [{"provider": p, "allowed_models": ["*"]} for p in ("openai", "anthropic", "gemini")]
    config = gateway_config(fake, [stdio_client_config("local")])
    config["client"] = {"enforce_auth_on_inference": True}
    config["governance"] = {"virtual_keys": [
        {"id": "vk-weather", "name": "weather", "value": "sk-bf-weather-1", "provider_configs": providers,
         "mcp_configs": [{"mcp_client_name": "local", "tools_to_execute": ["weather", "add"]}]},
        {"id": "vk-none", "name": "none", "value": "sk-bf-none-2", "provider_configs": providers},
    ]}  # fmt: skip
    with run_gateway(config) as gateway:
        wait_for_tools(gateway, {"local": 5})
        base = f"{gateway.url}/openai/v1"
        weather = openai.OpenAI(api_key="sk-bf-weather-1", base_url=base, max_retries=0)
        weather.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert upstream_tool_names(fake.last("/chat/completions").json, "openai") == ["local-weather", "local-add"]
        headers = {"x-bf-mcp-include-tools": "local-add,local-pid"}  # headers narrow, never widen
        weather.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=headers)
        assert upstream_tool_names(fake.last("/chat/completions").json, "openai") == ["local-add"]
        none = openai.OpenAI(api_key="sk-bf-none-2", base_url=base, max_retries=0)
        none.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert "tools" not in fake.last("/chat/completions").json


@pytest.mark.parametrize("model", ["gpt-4o-mini", MODELS["anthropic"], MODELS["gemini"]])
def test_responses_api_gets_the_tools_too(gateway: ServerHandle, fake: FakeProvider, model: str) -> None:
    response = openai_sdk(gateway).responses.create(model=model, input="what is the weather in Paris?")
    request = fake.requests[-1]
    if request.vendor == "openai":  # the Responses upstream: flat function tools in its own body
        assert request.path.endswith("/responses")
        names = [t["name"] for t in request.json["tools"]]
        assert names == [*LOCAL, "remote-weather", "remote-add"]
    else:
        assert upstream_tool_names(request.json, request.vendor)[:5] == LOCAL
    call = next(item for item in response.output if item.type == "function_call")
    assert call.name == "local-weather"
