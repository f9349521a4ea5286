"""Tool injection: MCP tools added to a neutral request, and to the client's own body when the
request is relayed in its own format (``raw``: OpenAI chat, Anthropic messages, Gemini
generateContent, OpenAI Responses), in that format's tool shape; or added to a same-format
``Passthrough``'s body, which then goes upstream exactly as the neutral request's ``raw`` would. Pure.

Tools the client declared itself win: an MCP tool whose exposed name the request already has is
not added again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..neutral import ChatRequest, Passthrough, ToolSpec
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


@dataclass(frozen=True, slots=True)
class RelayedTools:
    """A set of MCP tools as an OpenAI chat body (the one same-format ``Passthrough`` there is)
    takes them, rendered once: the runtime keeps the set of every tool until one changes. The
    rendered tools are shared by the bodies they go into, read-only, as every part of a body below
    its top level is (a provider copies the top level to change it, and serialises the rest)."""

    tools: tuple[RemoteTool, ...]
    exposed: frozenset[str]
    rendered: tuple[dict[str, Any], ...]  # the body's ``tools`` entries, after the client's own
    name_chars: int  # what governance's estimate counts of them: their names' characters
    auto: bool  # one of them runs by itself (agent mode)

    @classmethod
    def of(cls, tools: Iterable[RemoteTool]) -> RelayedTools:
        tools = tuple(tools)
        specs = [t.spec for t in tools]
        return cls(
            tools,
            frozenset(t.exposed for t in tools),
            tuple(_openai(spec) for spec in specs),
            sum(len(spec.name) for spec in specs),
            any(t.auto for t in tools),
        )


_BODY, _TEXT_CHARS, _TOOLS = (Passthrough._fields.index(f) for f in ("body", "text_chars", "tools"))


def inject_passthrough(passthrough: Passthrough, tools: RelayedTools) -> Passthrough:
    """``inject_tools`` for a same-format request: the tools added to its body (as to a neutral
    request's ``raw``) and to what governance's estimate counts (the tools, their names' characters)."""
    if passthrough.format != "openai":  # pragma: no cover - no other dialect gives a Passthrough
        raise ValueError(f"no passthrough tool injection for {passthrough.format!r} bodies")
    body = passthrough.body
    existing = body.get("tools")
    if not isinstance(existing, list):
        existing = []
    elif existing:
        own = _function_names(existing)
        if not own.isdisjoint(tools.exposed):  # the client's own tool of the same name wins
            tools = RelayedTools.of(t for t in tools.tools if t.exposed not in own)
    if not tools.tools:
        return passthrough
    new_body = dict(body)
    new_body["tools"] = [*existing, *tools.rendered]
    fields = list(passthrough)  # _replace, at a third of its cost (once per request)
    fields[_BODY] = new_body
    fields[_TEXT_CHARS] = passthrough.text_chars + tools.name_chars
    fields[_TOOLS] = passthrough.tools + len(tools.tools)
    return Passthrough._make(fields)


def _function_names(tools: list[Any]) -> set[str]:
    """The names of a checked OpenAI chat body's function tools: the neutral request's ``tools``
    (a tool of another type is set aside by the parser and named by nothing an MCP tool could clash with)."""
    return {t["function"]["name"] for t in tools if t.get("type") == "function"}
