"""Injection: neutral tools plus the client's own body, in its own format's tool shape."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi.dialects.openai_parse import parse_chat_body
from bifrost_asgi.dialects.openai_passthrough import passthrough_chat_body
from bifrost_asgi.mcp.inject import RelayedTools, inject_passthrough, inject_tools
from bifrost_asgi.mcp.tools import RemoteTool
from bifrost_asgi.neutral import ChatRequest, Message, TextPart, ToolSpec
from tests.support.openai_bodies import passing_bodies

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
TOOLS = [RemoteTool("fs", "read", "Read a file.", SCHEMA), RemoteTool("fs", "list", None, {"properties": {}})]


def request(fmt: Any, raw: dict[str, Any] | None, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
    return ChatRequest("m", (Message("user", (TextPart("hi"),)),), source_format=fmt, raw=raw, tools=tools)


def test_neutral_tools_are_appended_and_schemas_get_a_type() -> None:
    out = inject_tools(request("openai", None), TOOLS)
    assert [t.name for t in out.tools] == ["fs-read", "fs-list"]
    assert out.tools[0].description == "Read a file." and out.tools[1].parameters["type"] == "object"
    assert out.raw is None


def test_openai_body_gets_function_tools() -> None:
    raw = {"model": "m", "tools": [{"type": "function", "function": {"name": "mine", "parameters": {}}}]}
    out = inject_tools(request("openai", raw), TOOLS)
    assert out.raw is not None and [t["function"]["name"] for t in out.raw["tools"]] == ["mine", "fs-read", "fs-list"]
    assert out.raw["tools"][1]["function"]["parameters"] == SCHEMA
    assert raw["tools"] and len(raw["tools"]) == 1  # the client's body is not mutated


def test_responses_body_gets_flat_function_tools() -> None:
    out = inject_tools(request("openai_responses", {"model": "m", "input": "hi"}), TOOLS[:1])
    assert out.raw is not None and out.raw["tools"] == [
        {"type": "function", "name": "fs-read", "parameters": SCHEMA, "description": "Read a file."}
    ]


def test_anthropic_body_gets_input_schema_tools() -> None:
    out = inject_tools(request("anthropic", {"messages": []}), TOOLS[:1])
    assert out.raw is not None and out.raw["tools"] == [
        {"name": "fs-read", "input_schema": SCHEMA, "description": "Read a file."}
    ]


def test_gemini_body_gets_one_function_declarations_tool() -> None:
    raw = {"contents": [], "tools": [{"googleSearch": {}}]}
    out = inject_tools(request("gemini", raw), TOOLS)
    assert out.raw is not None and out.raw["tools"][0] == {"googleSearch": {}}
    declarations = out.raw["tools"][1]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["fs-read", "fs-list"]
    assert declarations[0]["parametersJsonSchema"] == SCHEMA


def test_client_tools_with_the_same_name_win() -> None:
    mine = (ToolSpec("fs-read", "mine"),)
    out = inject_tools(request("openai", None, mine), TOOLS)
    assert [t.name for t in out.tools] == ["fs-read", "fs-list"] and out.tools[0].description == "mine"
    same = request("openai", None, (ToolSpec("fs-read"), ToolSpec("fs-list")))
    assert inject_tools(same, TOOLS) is same


def _with_tools(body: dict[str, Any], *names: str) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in names]
    return {**body, "tools": [*tools, {"type": "custom", "custom": {"name": "fs-list"}}]}


PASSTHROUGH_BODIES = [
    *passing_bodies(),
    _with_tools(passing_bodies()[0], "mine"),
    _with_tools(passing_bodies()[0], "fs-read"),  # the client's own fs-read wins; a custom tool names nothing
    _with_tools(passing_bodies()[0], "fs-read", "fs-list"),
]


@pytest.mark.parametrize("body", PASSTHROUGH_BODIES)
def test_a_passthrough_gets_the_body_and_the_estimate_the_neutral_request_would(body: dict[str, Any]) -> None:
    passthrough = passthrough_chat_body(body)
    assert passthrough is not None
    out = inject_passthrough(passthrough, RelayedTools.of(TOOLS))
    request = inject_tools(parse_chat_body(body), TOOLS)
    assert out.body == request.raw
    assert out.tools == len(request.tools)
    text = sum(len(m.text()) for m in request.messages) + sum(len(t.name) for t in request.tools)
    assert out.text_chars == text
    assert passthrough_chat_body(body) == passthrough  # the client's body is not mutated


def test_a_passthrough_that_has_every_tool_already_is_itself() -> None:
    passthrough = passthrough_chat_body(_with_tools(passing_bodies()[0], "fs-read", "fs-list"))
    assert passthrough is not None and inject_passthrough(passthrough, RelayedTools.of(TOOLS)) is passthrough


def test_relayed_tools_are_rendered_once_and_shared_read_only() -> None:
    relayed = RelayedTools.of([*TOOLS, RemoteTool("fs", "write", None, SCHEMA, auto=True)])
    assert relayed.auto and relayed.exposed == {"fs-read", "fs-list", "fs-write"}
    assert relayed.name_chars == len("fs-read") + len("fs-list") + len("fs-write")
    first, second = (passthrough_chat_body(b) for b in passing_bodies()[:2])
    assert first is not None and second is not None
    one, two = inject_passthrough(first, relayed), inject_passthrough(second, relayed)
    assert one.body["tools"] is not two.body["tools"]  # a list of each body's own
    assert one.body["tools"][-1] is two.body["tools"][-1] is relayed.rendered[-1]
