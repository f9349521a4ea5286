"""Neutral ``ChatRequest`` -> Cohere v2 ``/v2/chat`` body (pure).

Messages keep their roles (``system``/``developer`` -> ``system``); images go as ``image_url``
content (URLs or data URLs); assistant tool calls as ``tool_calls`` with JSON-text arguments (the
OpenAI shape); tool results as ``tool`` messages with ``tool_call_id`` and document content.
``top_p``/``top_k`` are ``p``/``k``; ``tool_choice`` ``required``/``none`` are ``REQUIRED``/``NONE``
(a forced tool by name is refused: Cohere cannot force one tool); thinking budgets go in
``thinking``. Refused with ``UnsupportedFeatureError``: ``n`` > 1, audio, documents other than
text, ``parallel_tool_calls: false``, and anything in ``untranslatable``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..neutral import (
    AudioPart,
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolResult,
)
from .anthropic_build import thinking_config


def _image(part: ImagePart, where: str) -> dict[str, Any]:
    if part.url is not None:
        url = part.url
    elif part.data is not None:
        url = f"data:{part.media_type or 'image/png'};base64,{part.data}"
    else:
        raise InvalidRequestError(f"{where}: image without data or url", param=where)
    image: dict[str, Any] = {"url": url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _file_text(part: FilePart, where: str) -> str:
    if part.data is None or not (part.media_type or "").startswith("text/"):
        raise UnsupportedFeatureError(f"{where}: Cohere takes text documents only", param=where)
    try:
        return base64.b64decode(part.data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError(f"{where}: text file data is not base64 UTF-8", param=where) from None


def _content(message: Message, where: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append(_image(part, where))
        elif isinstance(part, FilePart):
            content.append({"type": "text", "text": _file_text(part, where)})
        elif isinstance(part, AudioPart):
            raise UnsupportedFeatureError(f"{where}: Cohere does not accept audio input", param=where)
    return content


def _assistant(message: Message, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
    calls = message.tool_calls
    if calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in calls
        ]
        if text:
            out["tool_plan"] = text
    elif text:
        out["content"] = [{"type": "text", "text": text}]
    thinking = [p for p in message.parts if isinstance(p, ReasoningPart) and p.text and p.signature is None]
    if thinking and "content" in out:
        out["content"] = [{"type": "thinking", "thinking": p.text} for p in thinking] + out["content"]
    return out


def _tool_results(message: Message, where: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for part in message.parts:
        if not isinstance(part, ToolResult):
            continue
        text = part.text()
        results.append({"role": "tool", "tool_call_id": part.call_id,
                        "content": [{"type": "document", "document": {"data": text}}]})  # fmt: skip
    return results


def messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            out.append({"role": "system", "content": message.text()})
        elif message.role == "assistant":
            out.append(_assistant(message, where))
        elif message.role == "tool" or any(isinstance(p, ToolResult) for p in message.parts):
            out.extend(_tool_results(message, where))
            rest = _content(message, where)
            if rest:
                out.append({"role": "user", "content": rest})
        else:
            out.append({"role": "user", "content": _content(message, where)})
    if not out:
        raise InvalidRequestError("messages: Cohere needs at least one message", param="messages")
    return out


def _refuse(request: ChatRequest) -> None:
    if request.untranslatable:
        raise UnsupportedFeatureError(f"cannot be translated for Cohere: {'; '.join(request.untranslatable)}")
    if request.n is not None and request.n > 1:
        raise UnsupportedFeatureError(f"n={request.n}: Cohere returns one candidate", param="n")
    if request.parallel_tool_calls is False and request.tools:
        raise UnsupportedFeatureError(
            "parallel_tool_calls=false: Cohere cannot turn off parallel tool calls", param="parallel_tool_calls"
        )


def _tools(request: ChatRequest, body: dict[str, Any]) -> None:
    if not request.tools:
        return
    body["tools"] = [
        {"type": "function", "function": {"name": t.name, "description": t.description or "",
                                          "parameters": dict(t.parameters)}}
        for t in request.tools
    ]  # fmt: skip
    choice = request.tool_choice
    if choice is None or choice.mode == "auto":
        return
    if choice.mode == "tool":
        raise UnsupportedFeatureError(
            f"tool_choice {choice.name!r}: Cohere cannot force one named tool; use required", param="tool_choice"
        )
    body["tool_choice"] = "REQUIRED" if choice.mode == "required" else "NONE"


def _options(request: ChatRequest, body: dict[str, Any]) -> None:
    for name, value in (
        ("max_tokens", request.max_tokens), ("temperature", request.temperature), ("p", request.top_p),
        ("k", request.top_k), ("seed", request.seed), ("presence_penalty", request.presence_penalty or None),
        ("frequency_penalty", request.frequency_penalty or None),
    ):  # fmt: skip
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["response_format"] = {"type": "json_object"}
        if fmt.schema is not None:
            body["response_format"]["json_schema"] = dict(fmt.schema)
    if request.reasoning is not None:
        thinking, _ = thinking_config(request)
        if thinking is not None and thinking["type"] == "enabled":
            body["thinking"] = {"type": "enabled", "token_budget": thinking["budget_tokens"]}
        elif thinking is not None:
            body["thinking"] = {"type": "disabled"}


def build_body(request: ChatRequest, model: str) -> dict[str, Any]:
    _refuse(request)
    body: dict[str, Any] = {"model": model, "messages": messages(request)}
    _tools(request, body)
    _options(request, body)
    if request.stream:
        body["stream"] = True
    return body
