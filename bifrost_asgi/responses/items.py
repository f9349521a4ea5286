"""Responses ``input`` items <-> neutral messages, pure, with field-path error messages.

Input: a string (one user message) or a list of items: messages (``user``/``assistant``/
``system``/``developer``; text, image, file and audio parts), ``function_call``,
``function_call_output`` and ``reasoning`` items. Consecutive assistant-side items (an assistant
message, reasoning, function calls) form one neutral assistant message; consecutive
``function_call_output`` items form one tool message, each result named after its call.

Output: a neutral assistant message becomes ``reasoning``, ``message`` and ``function_call``
items in the order of its parts. Vendor state that must come back on the next turn travels in
the items themselves: Anthropic thinking signatures and redacted thinking in the reasoning item's
``encrypted_content`` (``bifrost:`` + base64 JSON, opaque to the client), Gemini thought
signatures on the stored copy of a function call (``thought_signature``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import _json
from ..dialects.openai_messages import bad, split_data_url, type_name
from ..neutral import (
    AudioPart,
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    ToolCall,
    ToolResult,
)

_MESSAGE_ROLES: Mapping[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "developer",
}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})
_SIGNATURE_PREFIX = "bifrost:"
#: Stored-copy-only field of a function call: Gemini's thought signature.
SIGNATURE_FIELD = "thought_signature"

IdFactory = Callable[[str], str]


# ---------------------------------------------------------------------------------- input


def normalize_input(value: Any) -> list[dict[str, Any]]:
    """``input`` as a list of item objects (a string becomes one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list):
        raise bad("input", f"expected a string or a list of items, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad(f"input[{i}]", f"expected an object, got {type_name(item)}")
    return value


def _text(part: Mapping[str, Any], path: str) -> TextPart:
    text = part.get("text")
    if not isinstance(text, str):
        raise bad(f"{path}.text", f"expected a string, got {type_name(text)}")
    return TextPart(text)


def _image(part: Mapping[str, Any], path: str, untranslatable: dict[str, Any]) -> Part | None:
    detail = part.get("detail") if isinstance(part.get("detail"), str) else None
    url = part.get("image_url")
    if isinstance(url, str):
        split = split_data_url(url)
        if split is not None:
            return ImagePart(data=split[1], media_type=split[0], detail=detail)
        return ImagePart(url=url, detail=detail)
    if isinstance(part.get("file_id"), str):
        untranslatable[f"{path}.file_id"] = part["file_id"]  # an OpenAI file means nothing elsewhere
        return None
    raise bad(path, "expected 'image_url' (a URL or data URL) or 'file_id'")


def _file(part: Mapping[str, Any], path: str, untranslatable: dict[str, Any]) -> Part | None:
    filename = part.get("filename") if isinstance(part.get("filename"), str) else None
    data = part.get("file_data")
    if isinstance(data, str):
        split = split_data_url(data)
        if split is not None:
            return FilePart(data=split[1], media_type=split[0], filename=filename)
        return FilePart(data=data, media_type="application/pdf", filename=filename)
    if isinstance(part.get("file_url"), str):
        return FilePart(url=part["file_url"], filename=filename)
    if isinstance(part.get("file_id"), str):
        untranslatable[f"{path}.file_id"] = part["file_id"]
        return None
    raise bad(path, "expected 'file_data', 'file_url' or 'file_id'")


def _content_part(part: Any, path: str, untranslatable: dict[str, Any]) -> Part | None:
    if not isinstance(part, dict):
        raise bad(path, f"expected an object, got {type_name(part)}")
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        return _text(part, path)
    if kind == "refusal":
        refusal = part.get("refusal")
        return TextPart(refusal if isinstance(refusal, str) else "")
    if kind == "input_image":
        return _image(part, path, untranslatable)
    if kind == "input_file":
        return _file(part, path, untranslatable)
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise bad(f"{path}.input_audio", "expected an object with 'data' and 'format'")
        return AudioPart(audio["data"], str(audio.get("format") or "wav"))
    raise bad(f"{path}.type", f"unsupported content part type {kind!r}")


def _content(value: Any, path: str, untranslatable: dict[str, Any]) -> tuple[Part, ...]:
    if isinstance(value, str):
        return (TextPart(value),)
    if not isinstance(value, list):
        raise bad(path, f"expected a string or a list of content parts, got {type_name(value)}")
    parts = (_content_part(p, f"{path}[{i}]", untranslatable) for i, p in enumerate(value))
    return tuple(p for p in parts if p is not None)


def decode_reasoning(encrypted: Any) -> tuple[str | None, str | None]:
    """(signature, redacted) from a reasoning item's ``encrypted_content`` made by this gateway;
    anything else (OpenAI's own encrypted reasoning) is opaque to other vendors: (None, None)."""
    if not isinstance(encrypted, str) or not encrypted.startswith(_SIGNATURE_PREFIX):
        return None, None
    try:
        state = _json.loads(base64.b64decode(encrypted[len(_SIGNATURE_PREFIX) :], validate=True))
    except (ValueError, binascii.Error):
        return None, None
    if not isinstance(state, dict):
        return None, None
    signature, redacted = state.get("s"), state.get("r")
    return (signature if isinstance(signature, str) else None, redacted if isinstance(redacted, str) else None)


def encode_reasoning(part: ReasoningPart) -> str | None:
    if part.signature is None and part.redacted is None:
        return None
    state = {k: v for k, v in (("s", part.signature), ("r", part.redacted)) if v is not None}
    return _SIGNATURE_PREFIX + base64.b64encode(_json.dumps(state)).decode()


def _reasoning(item: Mapping[str, Any]) -> ReasoningPart:
    texts: list[str] = []
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts.extend(str(p.get("text") or "") for p in parts if isinstance(p, dict))
    signature, redacted = decode_reasoning(item.get("encrypted_content"))
    return ReasoningPart("".join(texts), signature=signature, redacted=redacted)


def _call(item: Mapping[str, Any], path: str) -> ToolCall:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{path}.call_id", "expected a non-empty string")
    if not isinstance(name, str) or not name:
        raise bad(f"{path}.name", "expected a non-empty string")
    if not isinstance(arguments, str):
        raise bad(f"{path}.arguments", f"expected a JSON string, got {type_name(arguments)}")
    signature = item.get(SIGNATURE_FIELD)
    return ToolCall(call_id, name, arguments, signature if isinstance(signature, str) else None)


def _result(item: Mapping[str, Any], path: str, names: Mapping[str, str], untranslatable: dict[str, Any]) -> ToolResult:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{path}.call_id", "expected a non-empty string")
    output = item.get("output")
    if output is None:
        raise bad(f"{path}.output", "required")
    return ToolResult(call_id, _content(output, f"{path}.output", untranslatable), name=names.get(call_id))


class _Builder:
    """Accumulates neutral messages, merging assistant-side items and consecutive tool results."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.names: dict[str, str] = {}  # call_id -> function name

    def add(self, role: Role, parts: Sequence[Part]) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role and role in ("assistant", "tool"):
            self.messages[-1] = Message(role, (*last.parts, *parts))
        else:
            self.messages.append(Message(role, tuple(parts)))


def items_to_messages(
    items: Sequence[Mapping[str, Any]], untranslatable: dict[str, Any], *, first_input: int = 0
) -> list[Message]:
    """``items[:first_input]`` are a stored conversation's, the rest the request's ``input``."""
    builder = _Builder()
    for i, item in enumerate(items):
        path = f"input[{i - first_input}]" if i >= first_input else f"previous_response_id (stored item {i})"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = _MESSAGE_ROLES.get(str(item.get("role")))
            if role is None:
                expected = "expected 'user', 'assistant', 'system' or 'developer'"
                raise bad(f"{path}.role", f"{expected}, got {item.get('role')!r}")
            builder.add(role, _content(item.get("content"), f"{path}.content", untranslatable))
        elif kind == "function_call":
            call = _call(item, path)
            builder.names[call.id] = call.name
            builder.add("assistant", (call,))
        elif kind == "function_call_output":
            builder.add("tool", (_result(item, path, builder.names, untranslatable),))
        elif kind == "reasoning":
            builder.add("assistant", (_reasoning(item),))
        elif kind == "item_reference":
            untranslatable[path] = item
        else:
            untranslatable[f"{path} ({kind})"] = item  # hosted-tool calls and outputs
    return builder.messages


# ---------------------------------------------------------------------------------- output


def _message_item(texts: list[str], ids: IdFactory) -> dict[str, Any]:
    return {
        "id": ids("msg"),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "".join(texts), "annotations": [], "logprobs": []}],
    }


def reasoning_item(part: ReasoningPart, item_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
    if part.text:
        item["summary"] = [{"type": "summary_text", "text": part.text}]
    encrypted = encode_reasoning(part)
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def function_call_item(call: ToolCall, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
    }


def output_items(message: Message, ids: IdFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(items for the client, items to store): the stored copy keeps Gemini thought signatures."""
    shown: list[dict[str, Any]] = []
    stored: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            item = _message_item(texts, ids)
            shown.append(item)
            stored.append(item)
            texts.clear()

    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ReasoningPart):
            flush()
            item = reasoning_item(part, ids("rs"))
            shown.append(item)
            stored.append(item)
        elif isinstance(part, ToolCall):
            flush()
            item = function_call_item(part, ids("fc"))
            shown.append(item)
            stored.append({**item, SIGNATURE_FIELD: part.signature} if part.signature else item)
    flush()
    return shown, stored
