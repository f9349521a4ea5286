"""Injection: neutral tools plus the client's own body, in its own format's tool shape."""

from __future__ import annotations

from typing import Any

from bifrost_asgi.mcp.inject import inject_tools
from bifrost_asgi.mcp.tools import RemoteTool
from bifrost_asgi.neutral import ChatRequest, Message, TextPart, ToolSpec

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
