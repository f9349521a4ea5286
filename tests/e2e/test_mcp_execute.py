"""``POST /v1/mcp/tool/execute`` over a real socket against real MCP servers: results as ``role:
tool`` messages (or Responses outputs), tool errors and timeouts as error results (never a 500),
bad requests as 400s naming the field."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.e2e.mcp_support import gateway_config, wait_for_tools
from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.mcp_servers import http_client_config, run_http_mcp, stdio_client_config, weather_text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[ServerHandle]:
    with FakeProvider() as fake, run_http_mcp() as url:
        clients = [stdio_client_config("local", tool_execution_timeout=1), http_client_config(url, "remote")]
        with run_gateway(gateway_config(fake, clients)) as handle:
            wait_for_tools(handle, {"local": 5, "remote": 5})
            yield handle


def execute(gateway: ServerHandle, body: Any, *, query: str = "", **headers: str) -> httpx2.Response:
    return httpx2.post(f"{gateway.url}/v1/mcp/tool/execute{query}", json=body, headers=headers, timeout=30)


def call(name: str, arguments: Any = "{}", call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize("client", ["local", "remote"])
def test_a_tool_call_returns_a_tool_message(gateway: ServerHandle, client: str) -> None:
    response = execute(gateway, call(f"{client}-weather", json.dumps({"city": "Oslo"}), "call_xyz"))
    assert response.status_code == 200, response.text
    assert response.json() == {"role": "tool", "content": weather_text("Oslo"), "tool_call_id": "call_xyz"}
    assert "x-bifrost-tool-error" not in response.headers


def test_arguments_may_be_an_object(gateway: ServerHandle) -> None:
    response = execute(gateway, call("local-add", {"a": 2, "b": 40}))
    assert response.json()["content"] == "42"


def test_responses_format(gateway: ServerHandle) -> None:
    body = {"type": "function_call", "call_id": "fc_1", "name": "remote-add", "arguments": '{"a": 1, "b": 2}'}
    response = execute(gateway, body, query="?format=responses")
    assert response.status_code == 200
    assert response.json() == {"type": "function_call_output", "call_id": "fc_1", "output": "3"}
    documented = {**body, "type": "function_call_output"}  # the shape Bifrost's docs show
    assert execute(gateway, documented, query="?format=responses").json()["output"] == "3"


@pytest.mark.parametrize("client", ["local", "remote"])
def test_a_tool_that_raises_is_an_error_result(gateway: ServerHandle, client: str) -> None:
    response = execute(gateway, call(f"{client}-boom"))
    assert response.status_code == 200
    assert response.headers["x-bifrost-tool-error"] == "true"
    assert "boom" in response.json()["content"]


def test_a_tool_that_hangs_times_out_as_an_error_result(gateway: ServerHandle) -> None:
    started = time.monotonic()
    response = execute(gateway, call("local-hang"))
    assert response.status_code == 200 and response.headers["x-bifrost-tool-error"] == "true"
    assert response.json()["content"] == "tool 'local-hang' timed out after 1s"
    assert time.monotonic() - started < 20  # bounded by the tool's 1 s timeout, not the client's
    assert execute(gateway, call("local-weather", '{"city": "Rome"}')).json()["content"] == weather_text("Rome")


def test_invalid_arguments_are_an_error_result(gateway: ServerHandle) -> None:
    response = execute(gateway, call("local-weather", "{not json"))
    assert response.status_code == 200 and response.headers["x-bifrost-tool-error"] == "true"
    assert "not valid JSON" in response.json()["content"]


@pytest.mark.parametrize(
    ("body", "query", "headers", "words"),
    [
        pytest.param(call("local-nope"), "", {}, "Tool 'local-nope' is not allowed", id="unknown-tool"),
        pytest.param(call("local-add"), "", {"x-bf-mcp-include-clients": "remote"}, "not allowed", id="filtered"),
        pytest.param({"id": "c", "type": "function"}, "", {}, "function", id="no-function"),
        pytest.param({"type": "function", "function": {"name": "local-add"}}, "", {}, "id", id="no-id"),
        pytest.param(call("local-add", 5), "", {}, "function.arguments", id="arguments-type"),
        pytest.param(call("local-add"), "?format=xml", {}, "format", id="format"),
        pytest.param({"type": "function_call", "name": "local-add"}, "?format=responses", {}, "call_id",
                     id="no-call-id"),
        pytest.param([1, 2], "", {}, "tool call object", id="not-an-object"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_naming_the_field(
    gateway: ServerHandle, body: Any, query: str, headers: dict[str, str], words: str
) -> None:
    response = execute(gateway, body, query=query, **headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert words in error["message"]


def test_without_mcp_clients_the_route_says_so(fake_provider: FakeProvider) -> None:
    with run_gateway(
        {"providers": {"openai": {"keys": [{"value": "k"}], "network_config": {"base_url": fake_provider.url}}}}
    ) as gw:
        response = execute(gw, call("x-y"))
    assert response.status_code == 404 and "no MCP clients are configured" in response.json()["error"]["message"]
