"""Neutral ``ChatRequest`` -> Bedrock Converse request body (pure).

Choices:

* system/developer messages are hoisted into top-level ``system`` text blocks; consecutive
  same-role turns are merged (Converse wants user and assistant to alternate); ``tool`` messages
  become user turns of ``toolResult`` blocks, which lead their turn.
* Images and documents go inline (``bytes``, base64 in JSON) or by ``s3://`` URL; web URLs are
  refused (Converse cannot fetch them). Documents: pdf, csv, doc(x), xls(x), html, txt, md.
* Reasoning: for Anthropic models the same thinking budget as the Anthropic provider, sent in
  ``additionalModelRequestFields.thinking``; signed thinking (and redacted thinking) from earlier
  turns goes back as ``reasoningContent``, unsigned thinking from other vendors is not sent. Other
  models: reasoning settings are refused.
* Cache hints become ``cachePoint`` blocks after what they mark (content, system, tools).
* ``top_k`` goes in ``additionalModelRequestFields`` for Anthropic models and is refused for
  others. ``seed`` is dropped (as for Anthropic). Refused with ``UnsupportedFeatureError``:
  ``n`` > 1, penalties, ``response_format`` JSON modes, audio, vendor file ids,
  ``parallel_tool_calls: false``, ``tool_choice: none`` in a conversation that has tool blocks
  (Converse has no "none"; without tool blocks the tools are simply not sent), and anything in
  ``untranslatable``.
"""

from __future__ import annotations

import re
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
from .anthropic_build import image_media_type, split_data_url, thinking_config
from .anthropic_wire import tool_id

IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
DOCUMENT_FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "application/pdf": "pdf",
        "text/csv": "csv",
        "application/msword": "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
        "application/vnd.ms-excel": "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "text/html": "html",
        "text/plain": "txt",
        "text/markdown": "md",
    }
)
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9\s\-()\[\]]")
_Maker = Callable[[Part, str, int], list[dict[str, Any]]]


def is_anthropic(model_id: str) -> bool:
    """Claude on Bedrock: ``anthropic.claude-...``, ``us.anthropic...`` or an ARN naming one."""
    return "anthropic." in model_id or "claude" in model_id


# --- content ----------------------------------------------------------------------------------


def _image(part: ImagePart, where: str) -> dict[str, Any]:
    data, media_type = part.data, part.media_type
    if data is None and part.url is not None:
        if part.url.startswith("s3://"):
            return {
                "image": {
                    "format": _image_format(media_type or part.url, where),
                    "source": {"s3Location": {"uri": part.url}},
                }
            }
        inline = split_data_url(part.url)
        if inline is None:
            raise UnsupportedFeatureError(
                f"{where}: Bedrock cannot fetch image URLs; send the image inline (base64) or by s3:// URI",
                param=where,
            )
        media_type, data = inline[0] or media_type, inline[1]
    if data is None:
        raise InvalidRequestError(f"{where}: image without data or url", param=where)
    fmt = _image_format(image_media_type(data, media_type, where), where)
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _image_format(media_type: str, where: str) -> str:
    fmt = media_type.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in IMAGE_FORMATS:
        raise UnsupportedFeatureError(
            f"{where}: Bedrock takes png, jpeg, gif or webp images, not {media_type}", param=where
        )
    return fmt


def _document(part: FilePart, where: str, number: int) -> dict[str, Any]:
    if part.file_id is not None:
        raise UnsupportedFeatureError(f"{where}: file ids from another vendor cannot be sent to Bedrock", param=where)
    media_type = part.media_type or "application/pdf"
    if media_type.startswith("image/"):
        return _image(ImagePart(data=part.data, url=part.url, media_type=media_type), where)
    fmt = DOCUMENT_FORMATS.get(media_type)
    if fmt is None:
        raise UnsupportedFeatureError(f"{where}: Bedrock cannot read {media_type} documents", param=where)
    if part.data is not None:
        source: dict[str, Any] = {"bytes": part.data}
    elif part.url is not None and part.url.startswith("s3://"):
        source = {"s3Location": {"uri": part.url}}
    else:
        raise UnsupportedFeatureError(f"{where}: Bedrock takes documents inline (base64) or by s3:// URI", param=where)
    stem = (part.filename or "").rsplit(".", 1)[0]
    name = re.sub(r"\s+", " ", _NAME_UNSAFE.sub(" ", stem)).strip() or f"document {number}"
    return {"document": {"format": fmt, "name": name, "source": source}}


def _tool_result(part: ToolResult, where: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, item in enumerate(part.content):
        if isinstance(item, TextPart):
            if item.text:
                content.append({"text": item.text})
        elif isinstance(item, ImagePart):
            content.append(_image(item, f"{where}.content[{i}]"))
        elif isinstance(item, FilePart):
            content.append(_document(item, f"{where}.content[{i}]", i + 1))
        else:
            raise UnsupportedFeatureError(f"{where}: Bedrock tool results take text, images and documents", param=where)
    result: dict[str, Any] = {"toolUseId": tool_id(part.call_id), "content": content or [{"text": ""}]}
    if part.is_error:
        result["status"] = "error"
    return {"toolResult": result}


def _block(part: Part, where: str, number: int) -> list[dict[str, Any]]:
    if isinstance(part, TextPart):
        return [{"text": part.text}] if part.text else []
    if isinstance(part, ImagePart):
        return [_image(part, where)]
    if isinstance(part, FilePart):
        return [_document(part, where, number)]
    if isinstance(part, ToolCall):
        return [{"toolUse": {"toolUseId": tool_id(part.id), "name": part.name, "input": part.arguments_object()}}]
    if isinstance(part, ToolResult):
        return [_tool_result(part, where)]
    if isinstance(part, ReasoningPart):
        if part.redacted is not None:
            return [{"reasoningContent": {"redactedContent": part.redacted}}]
        if part.signature:  # another vendor's unsigned thinking would be rejected
            return [{"reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}}]
        return []
    if isinstance(part, AudioPart):
        raise UnsupportedFeatureError(f"{where}: Bedrock Converse does not accept audio input", param=where)
    raise UnsupportedFeatureError(f"{where}: unsupported content", param=where)  # pragma: no cover


def _system_part(part: Part, where: str, number: int) -> list[dict[str, Any]]:
    if not isinstance(part, TextPart):
        raise UnsupportedFeatureError(f"{where}: Bedrock system prompts take text only", param=where)
    return [{"text": part.text}] if part.text else []


def cache_point(hint: CacheHint) -> dict[str, Any]:
    point = {"type": "default", "ttl": hint.ttl} if hint.ttl else {"type": "default"}
    return {"cachePoint": point}


def _blocks(message: Message, where: str, number: int, make: _Maker) -> tuple[list[dict[str, Any]], int]:
    """(a message's blocks with a ``cachePoint`` after each part a hint marks, documents so far)."""
    marks = dict(message.cache)
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(message.parts):
        number += isinstance(part, FilePart)
        blocks.extend(make(part, where, number))
        hint = marks.get(index)
        if hint is not None and blocks:
            blocks.append(cache_point(hint))
    return blocks, number


def conversation(messages: tuple[Message, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``system`` blocks, ``messages``) for Converse."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    documents = 0
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system.extend(_blocks(message, where, 0, _system_part)[0])
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks, documents = _blocks(message, where, documents, _block)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: "toolResult" not in b)
    if not turns:
        raise InvalidRequestError("messages: Bedrock needs at least one user or assistant message", param="messages")
    return system, turns


# --- options ----------------------------------------------------------------------------------


def _refuse(request: ChatRequest) -> None:
    if request.untranslatable:
        raise UnsupportedFeatureError(f"cannot be translated for Bedrock: {'; '.join(request.untranslatable)}")
    if request.n is not None and request.n > 1:
        raise UnsupportedFeatureError(f"n={request.n}: Bedrock returns one candidate", param="n")
    for name, value in (
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    ):
        if value:
            raise UnsupportedFeatureError(
                f"{name}={value:g}: Bedrock Converse has no {name.replace('_', ' ')}", param=name
            )
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        raise UnsupportedFeatureError(
            f"response_format {fmt.type}: Bedrock Converse has no JSON output mode; describe the format in the "
            "prompt or use a tool",
            param="response_format",
        )
    if request.parallel_tool_calls is False and request.tools:
        raise UnsupportedFeatureError(
            "parallel_tool_calls=false: Bedrock Converse cannot turn off parallel tool calls",
            param="parallel_tool_calls",
        )


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for turn in messages for b in turn["content"])


def _tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = request.tool_choice
    if not request.tools:
        if _has_tool_blocks(messages):
            raise InvalidRequestError(
                "tools: Bedrock needs the tool definitions when the conversation has tool calls or results",
                param="tools",
            )
        return None
    if choice is not None and choice.mode == "none":
        if _has_tool_blocks(messages):
            raise UnsupportedFeatureError(
                "tool_choice none: Bedrock Converse has no 'none' and needs the tools for this conversation's "
                "tool calls; use tool_choice auto",
                param="tool_choice",
            )
        return None
    tools = []
    for spec in request.tools:
        schema = dict(spec.parameters)
        schema.setdefault("type", "object")
        tool: dict[str, Any] = {"name": spec.name, "inputSchema": {"json": schema}}
        if spec.description:
            tool["description"] = spec.description
        tools.append({"toolSpec": tool})
        if spec.cache is not None:
            tools.append(cache_point(spec.cache))
    config: dict[str, Any] = {"tools": tools}
    if choice is not None and choice.mode == "required":
        config["toolChoice"] = {"any": {}}
    elif choice is not None and choice.mode == "tool":
        if not choice.name:
            raise InvalidRequestError("tool_choice: a forced tool needs a name", param="tool_choice")
        config["toolChoice"] = {"tool": {"name": choice.name}}
    elif choice is not None:
        config["toolChoice"] = {"auto": {}}
    return config


def _reasoning_wanted(request: ChatRequest) -> bool:
    reasoning = request.reasoning
    if reasoning is None or reasoning.enabled is False or reasoning.effort == "none" or reasoning.budget_tokens == 0:
        return False
    return bool(reasoning.enabled or reasoning.budget_tokens or reasoning.effort)


def _inference(request: ChatRequest, model_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    anthropic = is_anthropic(model_id)
    thinking_on = False
    if anthropic and request.reasoning is not None:
        thinking, max_tokens = thinking_config(request)
        if thinking is not None and thinking["type"] == "enabled":
            extra["thinking"] = thinking
            config["maxTokens"] = max_tokens
            thinking_on = True
    elif _reasoning_wanted(request):
        raise UnsupportedFeatureError(
            f"reasoning: the gateway can set a thinking budget on Bedrock for Anthropic models only, not {model_id}",
            param="reasoning_effort",
        )
    if request.max_tokens is not None and not thinking_on:
        config["maxTokens"] = request.max_tokens
    if not thinking_on:  # Anthropic rejects sampling settings with thinking
        if request.temperature is not None:
            config["temperature"] = min(max(request.temperature, 0.0), 1.0) if anthropic else request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.top_k is not None:
            if not anthropic:
                raise UnsupportedFeatureError(
                    "top_k: Bedrock Converse takes top_k only for Anthropic models", param="top_k"
                )
            extra["top_k"] = request.top_k
    if request.stop:
        config["stopSequences"] = list(request.stop)
    return config


def build_body(request: ChatRequest, model_id: str) -> dict[str, Any]:
    """The Converse body for ``request`` (the model goes in the URL)."""
    _refuse(request)
    system, messages = conversation(request.messages)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    extra: dict[str, Any] = {}
    inference = _inference(request, model_id, extra)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, messages)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    if extra:
        body["additionalModelRequestFields"] = extra
    return body
