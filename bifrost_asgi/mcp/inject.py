"""Tool injection: MCP tools added to a neutral request, and to the client's own body when the
request is relayed in its own format (``raw``: OpenAI chat, Anthropic messages, Gemini
generateContent, OpenAI Responses), in that format's tool shape. Pure.

Tools the client declared itself win: an MCP tool whose exposed name the request already has is
not added again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..neutral import ChatRequest, ToolSpec
from .tools import RemoteTool


def _openai(spec: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": spec.name, "parameters": dict(spec.parameters)}
    if spec.description:
        function["description"] = spec.description
    return {"type": "function", "function": function}


def _responses(spec: ToolSpec) -> dict[str, Any]:
    """The Responses API's function tools are flat."""
    tool: dict[str, Any] = {"type": "function", "name": spec.name, "parameters": dict(spec.parameters)}
    if spec.description:
        tool["description"] = spec.description
    return tool


def _anthropic(spec: ToolSpec) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": spec.name, "input_schema": dict(spec.parameters)}
    if spec.description:
        tool["description"] = spec.description
    return tool


def _gemini_declaration(spec: ToolSpec) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": spec.name, "parametersJsonSchema": dict(spec.parameters)}
    if spec.description:
        declaration["description"] = spec.description
    return declaration


def _raw_with_tools(raw: Mapping[str, Any], fmt: str, specs: tuple[ToolSpec, ...]) -> dict[str, Any]:
    body = dict(raw)
    existing = body.get("tools")
    tools = list(existing) if isinstance(existing, list) else []
    if fmt == "anthropic":
        tools.extend(_anthropic(s) for s in specs)
    elif fmt == "gemini":
        tools.append({"functionDeclarations": [_gemini_declaration(s) for s in specs]})
    elif fmt == "openai_responses":
        tools.extend(_responses(s) for s in specs)
    else:
        tools.extend(_openai(s) for s in specs)
    body["tools"] = tools
    return body


def inject_tools(request: ChatRequest, tools: Iterable[RemoteTool]) -> ChatRequest:
    own = {t.name for t in request.tools}
    specs = tuple(t.spec for t in tools if t.exposed not in own)
    if not specs:
        return request
    raw = _raw_with_tools(request.raw, request.source_format, specs) if request.raw is not None else None
    return replace(request, tools=request.tools + specs, raw=raw)  # ~10 us: once per request
