"""The next model call of an agent loop: the conversation so far plus the assistant's tool calls
and their results, in the neutral request and, when the request is relayed in the client's own
format, in that body too (the client's other fields kept as they were). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..neutral import ChatRequest, ChatResponse, Message, TextPart, ToolCall, ToolResult
from ..providers.anthropic_build import conversation
from ..providers.gemini_build import build_contents
from ..providers.openai_build import build_messages
from ..providers.openai_parse import parse_chat_body


def _responses_items(turns: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Responses ``input`` items: the assistant's text and function calls, then their outputs."""
    items: list[dict[str, Any]] = []
    for message in turns:
        for part in message.parts:
            if isinstance(part, TextPart) and part.text:
                items.append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": part.text}]}
                )
            elif isinstance(part, ToolCall):
                items.append(
                    {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments}
                )
            elif isinstance(part, ToolResult):
                items.append({"type": "function_call_output", "call_id": part.call_id, "output": part.text()})
    return items


def _raw_turns(request: ChatRequest, turns: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]]:
    if request.source_format == "openai_responses":
        return "input", _responses_items(turns)
    if request.source_format == "anthropic":
        return "messages", conversation(turns)[1]
    if request.source_format == "gemini":
        return "contents", build_contents(turns, request.model)[1]
    return "messages", build_messages(turns)


def _extended_raw(request: ChatRequest, turns: tuple[Message, ...]) -> Mapping[str, Any] | None:
    raw = request.raw
    if raw is None:
        return None
    field, added = _raw_turns(request, turns)
    existing = raw.get(field)
    if isinstance(existing, str) and field == "input":  # a Responses input given as one string
        existing = [{"type": "message", "role": "user", "content": existing}]
    if not isinstance(existing, list):
        return None  # an unusual body: build the next call from the neutral request instead
    return {**raw, field: [*existing, *added]}


def next_request(request: ChatRequest, assistant: Message, results: Sequence[ToolResult]) -> ChatRequest:
    turns = (assistant, Message("tool", tuple(results)))
    return replace(request, messages=request.messages + turns, raw=_extended_raw(request, turns))


def neutral_response(response: ChatResponse) -> ChatResponse:
    """``response`` with its choices: an OpenAI answer relayed verbatim to an OpenAI client is parsed
    without them (the client gets the bytes), but the agent needs to read its tool calls."""
    if response.choices or response.raw is None or response.raw_format != "openai":
        return response
    return replace(parse_chat_body(response.raw, response.model, "openai"), raw=response.raw, created=response.created)
