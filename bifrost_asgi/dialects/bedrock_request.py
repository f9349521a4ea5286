"""Bedrock Converse request bodies (boto3 ``bedrock-runtime`` ``converse`` / ``converse_stream``)
-> ``ChatRequest``. Pure. Blob fields (image and document bytes) arrive base64-encoded, as boto3
serialises them. ``raw`` keeps the body for a Bedrock upstream, which gets it as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import InvalidRequestError
from ..neutral import (
    CacheHint,
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
    replace,
)
from .cache_hints import Hints, cache_point, split_results
from .gateway_fields import without_gateway_fields

_IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_DOC_TYPES = {"pdf": "application/pdf", "txt": "text/plain", "md": "text/markdown", "html": "text/html",
              "csv": "text/csv"}  # fmt: skip
# Converse fields with no neutral equivalent: another vendor refuses them rather than drops them.
_UNTRANSLATABLE = ("guardrailConfig", "additionalModelRequestFields", "promptVariables", "performanceConfig")


def _bad(field: str, problem: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {problem}", param=field)


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, "expected an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(field, "expected a list")
    return value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _bad(field, "expected a string")
    return value


def _block(block: Any, path: str) -> Part:
    block = _obj(block, path)
    if "text" in block:
        return TextPart(_text(block["text"], f"{path}.text"))
    if "image" in block:
        image = _obj(block["image"], f"{path}.image")
        fmt = image.get("format")
        data = _obj(image.get("source"), f"{path}.image.source").get("bytes")
        if fmt not in _IMAGE_TYPES or not isinstance(data, str):
            raise _bad(f"{path}.image", "expected format png/jpeg/gif/webp and source.bytes")
        return ImagePart(data=data, media_type=_IMAGE_TYPES[fmt])
    if "document" in block:
        doc = _obj(block["document"], f"{path}.document")
        data = _obj(doc.get("source"), f"{path}.document.source").get("bytes")
        if not isinstance(data, str):
            raise _bad(f"{path}.document.source.bytes", "expected base64 bytes")
        name = doc.get("name")
        return FilePart(data=data, media_type=_DOC_TYPES.get(str(doc.get("format")), "application/octet-stream"),
                        filename=name if isinstance(name, str) else None)  # fmt: skip
    if "toolUse" in block:
        use = _obj(block["toolUse"], f"{path}.toolUse")
        return ToolCall(
            id=_text(use.get("toolUseId"), f"{path}.toolUse.toolUseId"),
            name=_text(use.get("name"), f"{path}.toolUse.name"),
            arguments=_json.dumps_str(use.get("input") if isinstance(use.get("input"), dict) else {}),
        )
    if "toolResult" in block:
        return _tool_result(_obj(block["toolResult"], f"{path}.toolResult"), f"{path}.toolResult")
    if "reasoningContent" in block:
        reasoning = _obj(block["reasoningContent"], f"{path}.reasoningContent")
        if "redactedContent" in reasoning:
            return ReasoningPart(redacted=str(reasoning["redactedContent"]))
        text = _obj(reasoning.get("reasoningText"), f"{path}.reasoningContent.reasoningText")
        signature = text.get("signature")
        return ReasoningPart(str(text.get("text") or ""), signature if isinstance(signature, str) else None)
    raise _bad(path, f"unsupported content block {sorted(block)[:1]}")


def _tool_result(result: dict[str, Any], path: str) -> ToolResult:
    parts: list[Part] = []
    for i, item in enumerate(_list(result.get("content", []), f"{path}.content")):
        item = _obj(item, f"{path}.content[{i}]")
        if "json" in item:
            parts.append(TextPart(_json.dumps_str(item["json"])))
        else:
            parts.append(_block(item, f"{path}.content[{i}]"))
    return ToolResult(
        call_id=_text(result.get("toolUseId"), f"{path}.toolUseId"),
        content=tuple(parts),
        is_error=result.get("status") == "error",
    )


def _messages(body: Mapping[str, Any]) -> list[Message]:
    messages: list[Message] = []
    for i, raw in enumerate(_list(body.get("messages"), "messages")):
        item = _obj(raw, f"messages[{i}]")
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise _bad(f"messages[{i}].role", f"expected 'user' or 'assistant', got {role!r}")
        blocks, hints = _content(_list(item.get("content"), "content"), f"messages[{i}].content")
        results, result_hints, others, other_hints = split_results(blocks, hints)
        marks = dict(result_hints)
        messages.extend(Message("tool", (r,), cache=((0, marks[n]),) if n in marks else ())
                        for n, r in enumerate(results))  # fmt: skip
        if others or not results:
            messages.append(Message(role, others, cache=other_hints))
    return messages


def _content(blocks: list[Any], path: str) -> tuple[list[Part], Hints]:
    """Content blocks -> parts, a ``cachePoint`` block becoming a hint on the part before it."""
    parts: list[Part] = []
    hints: list[tuple[int, CacheHint]] = []
    for j, block in enumerate(blocks):
        if isinstance(block, dict) and "cachePoint" in block:
            hint = cache_point(block["cachePoint"], f"{path}[{j}].cachePoint")
            if parts:
                hints.append((len(parts) - 1, hint))
            continue
        parts.append(_block(block, f"{path}[{j}]"))
    return parts, tuple(hints)


def _system(body: Mapping[str, Any]) -> tuple[Message, ...]:
    """The text blocks joined into one part; a ``cachePoint`` among them ends a part there."""
    if body.get("system") is None:
        return ()
    segments: list[list[str]] = [[]]
    hints: list[tuple[int, CacheHint]] = []
    for i, raw in enumerate(_list(body["system"], "system")):
        block = _obj(raw, f"system[{i}]")
        if "cachePoint" in block:
            hint = cache_point(block["cachePoint"], f"system[{i}].cachePoint")
            if segments[-1]:
                hints.append((len(segments) - 1, hint))
                segments.append([])
            continue
        segments[-1].append(_text(block.get("text"), f"system[{i}].text"))
    parts = tuple(TextPart("\n".join(texts)) for texts in segments if texts)
    return (Message("system", parts, cache=tuple(hints)),) if parts else ()


def _tools(config: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], ToolChoice | None]:
    specs: list[ToolSpec] = []
    for i, raw in enumerate(_list(config.get("tools", []), "toolConfig.tools")):
        entry = _obj(raw, f"toolConfig.tools[{i}]")
        if "cachePoint" in entry:  # the tool list up to here may be cached
            hint = cache_point(entry["cachePoint"], f"toolConfig.tools[{i}].cachePoint")
            if specs:
                specs[-1] = replace(specs[-1], cache=hint)
            continue
        spec = _obj(entry.get("toolSpec"), f"toolConfig.tools[{i}].toolSpec")
        schema = _obj(spec.get("inputSchema", {"json": {"type": "object"}}), f"toolConfig.tools[{i}].inputSchema")
        description = spec.get("description")
        specs.append(ToolSpec(
            name=_text(spec.get("name"), f"toolConfig.tools[{i}].toolSpec.name"),
            description=description if isinstance(description, str) else None,
            parameters=_obj(schema.get("json"), f"toolConfig.tools[{i}].inputSchema.json"),
        ))  # fmt: skip
    choice = config.get("toolChoice")
    if choice is None:
        return tuple(specs), None
    choice = _obj(choice, "toolConfig.toolChoice")
    if "any" in choice:
        return tuple(specs), ToolChoice("required")
    if "tool" in choice:
        return tuple(specs), ToolChoice("tool", _text(_obj(choice["tool"], "toolChoice.tool").get("name"), "name"))
    return tuple(specs), ToolChoice("auto")


def parse_converse(body: Any, model: str, *, stream: bool) -> ChatRequest:
    body = _obj(body, "request body")
    config = _obj(body.get("inferenceConfig") or {}, "inferenceConfig")
    tools, choice = _tools(_obj(body.get("toolConfig") or {}, "toolConfig"))
    stop = config.get("stopSequences") or []
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise _bad("inferenceConfig.maxTokens", "expected a positive integer")
    return ChatRequest(
        model=model,
        messages=_system(body) + tuple(_messages(body)),
        source_format="bedrock",
        stream=stream,
        include_usage=stream,
        max_tokens=max_tokens,
        temperature=_number(config.get("temperature"), "inferenceConfig.temperature"),
        top_p=_number(config.get("topP"), "inferenceConfig.topP"),
        stop=tuple(_text(s, "inferenceConfig.stopSequences[]") for s in _list(stop, "inferenceConfig.stopSequences")),
        tools=tools,
        tool_choice=choice,
        raw=without_gateway_fields(body),
        untranslatable={k: body[k] for k in _UNTRANSLATABLE if body.get(k)},
    )


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(field, "expected a number")
    return float(value)
