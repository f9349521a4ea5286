"""Neutral ``ChatRequest`` -> Anthropic Messages request body (API version 2023-06-01; pure).

Choices (wire-formats E.1-E.7):

* system/developer messages are hoisted into top-level ``system`` (one string, or text blocks
  when there are several); consecutive same-role turns are merged; ``tool`` messages become
  user turns whose ``tool_result`` blocks come before any other block.
* ``max_tokens`` is required by Anthropic: ``DEFAULT_MAX_TOKENS`` (4096) when the client gave
  none; with thinking on and no client value, the thinking budget is added on top.
* Reasoning: an effort word becomes a thinking budget (``THINKING_BUDGETS``); budgets below
  Anthropic's minimum of 1024 are raised to it. With thinking on, ``temperature``/``top_p``/
  ``top_k`` are not sent (Anthropic rejects them with thinking).
* Thinking from other vendors (no signature) is not sent back: Anthropic would reject it.
* Cache hints become ``cache_control`` on the block, system block or tool they mark (a one-block
  system prompt with a hint stays a block list).
* ``temperature`` is clamped to Anthropic's [0, 1]. ``seed`` is dropped (a best-effort hint
  even on OpenAI). Zero penalties are dropped; non-zero ``presence_penalty``/``frequency_penalty``,
  ``n`` > 1, ``response_format`` ``json_object`` (Anthropic has no schema-less JSON mode), audio,
  vendor file ids and anything in ``untranslatable`` are refused with ``UnsupportedFeatureError``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..neutral import (
    AudioPart,
    CacheHint,
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
)
from .anthropic_wire import tool_id

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
THINKING_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768, "max": 32768}
)
# Magic prefixes of base64-encoded images, for inline data that arrives without a media type.
_IMAGE_SIGNATURES = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def image_media_type(data: str, media_type: str | None, where: str) -> str:
    if media_type:
        return media_type
    for prefix, guessed in _IMAGE_SIGNATURES:
        if data.startswith(prefix):
            return guessed
    raise InvalidRequestError(f"{where}: the image's media type is unknown (Anthropic needs one)", param=where)


def split_data_url(url: str) -> tuple[str | None, str] | None:
    """``data:image/png;base64,XXX`` -> (``image/png``, ``XXX``); ``None`` for other URLs."""
    if not url.startswith("data:"):
        return None
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if encoding != "base64":
        return None
    return media_type or None, data


def _image(part: ImagePart, where: str) -> dict[str, Any]:
    data, media_type = part.data, part.media_type
    if data is None and part.url is not None:
        inline = split_data_url(part.url)
        if inline is None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        media_type, data = inline[0] or media_type, inline[1]
    if data is None:
        raise InvalidRequestError(f"{where}: image without data or url", param=where)
    source = {"type": "base64", "media_type": image_media_type(data, media_type, where), "data": data}
    return {"type": "image", "source": source}


def _document(part: FilePart, where: str) -> dict[str, Any]:
    if part.file_id is not None:
        raise UnsupportedFeatureError(f"{where}: file ids from another vendor cannot be sent to Anthropic", param=where)
    media_type = part.media_type or "application/pdf"
    if part.data is None:
        if part.url is None:
            raise InvalidRequestError(f"{where}: file without data, url or file_id", param=where)
        block: dict[str, Any] = {"type": "document", "source": {"type": "url", "url": part.url}}
    elif media_type.startswith("image/"):
        return _image(ImagePart(data=part.data, media_type=media_type), where)
    elif media_type == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": part.data}}
    elif media_type.startswith("text/"):
        try:
            text = base64.b64decode(part.data, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequestError(f"{where}: text file data is not base64 UTF-8", param=where) from None
        block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    else:
        raise UnsupportedFeatureError(f"{where}: Anthropic cannot read {media_type} files", param=where)
    if part.filename:
        block["title"] = part.filename
    return block


def _tool_result(part: ToolResult, where: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(part.call_id)}
    if all(isinstance(p, TextPart) for p in part.content):
        text = part.text()
        if text:
            block["content"] = text
    else:
        block["content"] = [b for p in part.content for b in _part(p, where)]
    if part.is_error:
        block["is_error"] = True
    return block


def _part(part: Part, where: str) -> list[dict[str, Any]]:
    """One neutral part -> zero or more Anthropic content blocks."""
    if isinstance(part, TextPart):
        return [{"type": "text", "text": part.text}] if part.text else []
    if isinstance(part, ImagePart):
        return [_image(part, where)]
    if isinstance(part, FilePart):
        return [_document(part, where)]
    if isinstance(part, ToolCall):
        return [{"type": "tool_use", "id": tool_id(part.id), "name": part.name, "input": part.arguments_object()}]
    if isinstance(part, ToolResult):
        return [_tool_result(part, where)]
    if isinstance(part, ReasoningPart):
        if part.redacted is not None:
            return [{"type": "redacted_thinking", "data": part.redacted}]
        if part.signature:  # unsigned thinking (another vendor's) would be rejected
            return [{"type": "thinking", "thinking": part.text, "signature": part.signature}]
        return []
    if isinstance(part, AudioPart):
        raise UnsupportedFeatureError(f"{where}: Anthropic does not accept audio input", param=where)
    raise UnsupportedFeatureError(f"{where}: unsupported content", param=where)  # pragma: no cover


def _system_part(part: Part, where: str) -> list[dict[str, Any]]:
    if not isinstance(part, TextPart):
        raise UnsupportedFeatureError(f"{where}: Anthropic system prompts take text only", param=where)
    return [{"type": "text", "text": part.text}] if part.text else []


def cache_control(hint: CacheHint) -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": hint.ttl} if hint.ttl else {"type": "ephemeral"}


def _blocks(message: Message, where: str, make: Callable[[Part, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A message's blocks, ``cache_control`` on the last block of each part its hints mark (thinking
    blocks cannot carry one: the mark goes to the block before)."""
    if not message.cache:
        return [b for part in message.parts for b in make(part, where)]
    marks = dict(message.cache)
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(message.parts):
        blocks.extend(make(part, where))
        hint = marks.get(index)
        if hint is None:
            continue
        last = next((b for b in reversed(blocks) if b["type"] not in ("thinking", "redacted_thinking")), None)
        if last is not None:
            last["cache_control"] = cache_control(hint)
    return blocks


def conversation(messages: tuple[Message, ...]) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(top-level ``system``, ``messages``) for Anthropic."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system.extend(_blocks(message, where, _system_part))
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, where, _part)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # tool results lead their user turn
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    if not turns:
        raise InvalidRequestError("messages: Anthropic needs at least one user or assistant message", param="messages")
    if len(system) == 1 and "cache_control" not in system[0]:
        return system[0]["text"], turns
    return (system or None), turns


# --- options ----------------------------------------------------------------------------------


def _refuse_untranslatable(request: ChatRequest) -> None:
    if request.untranslatable:
        names = "; ".join(request.untranslatable)
        raise UnsupportedFeatureError(f"cannot be translated for an Anthropic model: {names}")
    if request.n is not None and request.n > 1:
        raise UnsupportedFeatureError(f"n={request.n}: Anthropic returns one candidate", param="n")
    for name, value in (
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    ):
        if value:
            raise UnsupportedFeatureError(f"{name}={value:g}: Anthropic has no {name.replace('_', ' ')}", param=name)


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for spec in request.tools:
        schema = dict(spec.parameters)
        schema.setdefault("type", "object")
        tool: dict[str, Any] = {"name": spec.name, "input_schema": schema}
        if spec.description:
            tool["description"] = spec.description
        if spec.strict:
            tool["strict"] = True
        if spec.cache is not None:
            tool["cache_control"] = cache_control(spec.cache)
        tools.append(tool)
    return tools


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    kind: str | None = None
    name: str | None = None
    if choice is None:
        kind = "auto" if request.parallel_tool_calls is False else None
    else:
        kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[choice.mode]
        name = choice.name
    if kind is None:
        return None
    out: dict[str, Any] = {"type": kind}
    if kind == "tool":
        if not name:
            raise InvalidRequestError("tool_choice: a forced tool needs a name", param="tool_choice")
        out["name"] = name
    if request.parallel_tool_calls is False and kind != "none":
        out["disable_parallel_tool_use"] = True
    return out


def thinking_config(request: ChatRequest) -> tuple[dict[str, Any] | None, int]:
    """(``thinking``, ``max_tokens``): Anthropic needs ``1024 <= budget_tokens < max_tokens``."""
    max_tokens = request.max_tokens
    reasoning = request.reasoning
    if reasoning is None or (reasoning.enabled is None and reasoning.budget_tokens is None and not reasoning.effort):
        return None, max_tokens or DEFAULT_MAX_TOKENS
    if reasoning.enabled is False or reasoning.effort == "none" or reasoning.budget_tokens == 0:
        return {"type": "disabled"}, max_tokens or DEFAULT_MAX_TOKENS
    budget = reasoning.budget_tokens if reasoning.budget_tokens and reasoning.budget_tokens > 0 else None
    if budget is None:
        effort = reasoning.effort or "medium"
        if effort not in THINKING_BUDGETS:
            raise UnsupportedFeatureError(
                f"reasoning effort {effort!r}: expected one of {', '.join(THINKING_BUDGETS)}", param="reasoning_effort"
            )
        budget = THINKING_BUDGETS[effort]
    budget = max(budget, MIN_THINKING_BUDGET)
    if max_tokens is None:
        return {"type": "enabled", "budget_tokens": budget}, budget + DEFAULT_MAX_TOKENS
    if max_tokens <= budget:
        budget = max_tokens - 1
        if budget < MIN_THINKING_BUDGET:
            raise InvalidRequestError(
                f"max_tokens={max_tokens}: too small for thinking on Anthropic "
                f"(the thinking budget must be at least {MIN_THINKING_BUDGET} and below max_tokens)",
                param="max_tokens",
            )
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def _sampling(request: ChatRequest, body: dict[str, Any]) -> None:
    if request.temperature is not None:
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        body["top_k"] = request.top_k


def _output_config(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        raise UnsupportedFeatureError(
            "response_format json_object: Anthropic has no schema-less JSON mode; use json_schema",
            param="response_format",
        )
    if fmt.schema is None:
        raise InvalidRequestError("response_format: json_schema needs a schema", param="response_format")
    return {"format": {"type": "json_schema", "schema": dict(fmt.schema)}}


def build_body(request: ChatRequest, model: str, *, counting: bool = False) -> dict[str, Any]:
    """The Messages body for ``request``; ``counting`` builds a count_tokens body (no sampling
    options, nothing refused that only matters for generation)."""
    if not counting:
        _refuse_untranslatable(request)
    system, messages = conversation(request.messages)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system is not None:
        body["system"] = system
    thinking, max_tokens = thinking_config(request)
    if thinking is not None:
        body["thinking"] = thinking
    if request.tools:
        body["tools"] = _tools(request)
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    output_config = _output_config(request)
    if output_config is not None:
        body["output_config"] = output_config
    if counting:
        return body
    body["max_tokens"] = max_tokens
    if thinking is None or thinking["type"] == "disabled":
        _sampling(request, body)
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return body
