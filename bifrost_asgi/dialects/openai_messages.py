"""OpenAI chat ``messages`` -> neutral ``Message`` tuples, with field-path error messages.

Content is a string or a list of parts (text, image_url with ``data:`` URLs split into media
type and base64 data, input_audio, file); assistant ``tool_calls`` keep their argument JSON
text verbatim; ``tool`` (and deprecated ``function``) messages become ``ToolResult`` parts.
Bifrost's ``cache_control`` on a content part becomes a cache hint (kept for Anthropic and Bedrock).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
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
from .cache_hints import Hints, cache_control

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def bad(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {message}", param=path)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------------------------- content


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<type>;base64,<data>`` -> (type, data); anything else -> None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[5:-7] or "application/octet-stream", data


def _image_part(part: Mapping[str, Any], path: str) -> ImagePart:
    image = part.get("image_url")
    if isinstance(image, str):  # lenient: some clients send the URL directly
        image = {"url": image}
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        raise bad(f"{path}.image_url", "expected an object with a string 'url'")
    url: str = image["url"]
    detail = image.get("detail")
    detail = detail if isinstance(detail, str) else None
    split = split_data_url(url)
    if split is not None:
        return ImagePart(data=split[1], media_type=split[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _audio_part(part: Mapping[str, Any], path: str) -> AudioPart:
    audio = part.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        raise bad(f"{path}.input_audio", "expected an object with string 'data' and 'format'")
    fmt = audio.get("format")
    if not isinstance(fmt, str):
        raise bad(f"{path}.input_audio.format", "expected a string such as 'wav' or 'mp3'")
    return AudioPart(data=audio["data"], format=fmt)


def _file_part(part: Mapping[str, Any], path: str) -> FilePart:
    file = part.get("file")
    if not isinstance(file, dict):
        raise bad(f"{path}.file", "expected an object with 'file_id' or 'file_data'")
    filename = file.get("filename") if isinstance(file.get("filename"), str) else None
    if isinstance(file.get("file_id"), str):
        return FilePart(file_id=file["file_id"], filename=filename)
    data = file.get("file_data")
    if not isinstance(data, str):
        raise bad(f"{path}.file", "expected a string 'file_id' or 'file_data'")
    split = split_data_url(data)
    if split is not None:
        return FilePart(data=split[1], media_type=split[0], filename=filename)
    media_type = "application/pdf" if filename and filename.lower().endswith(".pdf") else None
    return FilePart(data=data, media_type=media_type, filename=filename)


def _content_part(part: Any, path: str, *, assistant: bool) -> Part:
    if not isinstance(part, dict):
        raise bad(path, f"expected a content part object, got {type_name(part)}")
    kind = part.get("type")
    if kind == "text" or (assistant and kind == "refusal"):
        text = part.get(kind)
        if not isinstance(text, str):
            raise bad(f"{path}.{kind}", f"expected a string, got {type_name(text)}")
        return TextPart(text)
    if not assistant:
        if kind == "image_url":
            return _image_part(part, path)
        if kind == "input_audio":
            return _audio_part(part, path)
        if kind == "file":
            return _file_part(part, path)
    allowed = "'text' or 'refusal'" if assistant else "'text', 'image_url', 'input_audio' or 'file'"
    raise bad(f"{path}.type", f"expected {allowed}, got {kind!r}")


def _content(value: Any, path: str, *, assistant: bool = False) -> tuple[Part, ...]:
    if isinstance(value, str):
        return (TextPart(value),)
    if isinstance(value, list):
        return tuple(_content_part(p, f"{path}[{i}]", assistant=assistant) for i, p in enumerate(value))
    raise bad(path, "expected a string or a list of content parts")


def _text_only(parts: tuple[Part, ...], path: str) -> tuple[Part, ...]:
    for i, p in enumerate(parts):
        if not isinstance(p, TextPart):
            raise bad(f"{path}[{i}]", "only 'text' parts are allowed in this message")
    return parts


# ---------------------------------------------------------------------------------- messages


def _tool_calls(value: Any, path: str, untranslatable: dict[str, Any]) -> list[Part]:
    if not isinstance(value, list):
        raise bad(path, f"expected a list, got {type_name(value)}")
    calls: list[Part] = []
    for i, call in enumerate(value):
        here = f"{path}[{i}]"
        if not isinstance(call, dict):
            raise bad(here, f"expected an object, got {type_name(call)}")
        if call.get("type", "function") != "function":
            untranslatable[here] = call
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str):
            raise bad(f"{here}.id", "expected a string")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad(f"{here}.function", "expected an object with a string 'name'")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise bad(f"{here}.function.arguments", "expected a JSON string")
        calls.append(ToolCall(call_id, function["name"], arguments))
    return calls


def _assistant(msg: Mapping[str, Any], path: str, untranslatable: dict[str, Any]) -> tuple[Part, ...]:
    parts: list[Part] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ReasoningPart(reasoning))
    content = msg.get("content")
    if content is not None:
        parts.extend(
            p for p in _content(content, f"{path}.content", assistant=True) if not isinstance(p, TextPart) or p.text
        )
    elif "tool_calls" not in msg and "function_call" not in msg and not msg.get("refusal"):
        raise bad(f"{path}.content", "required unless 'tool_calls' is present")
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal and content is None:
        parts.append(TextPart(refusal))
    if msg.get("tool_calls") is not None:
        parts.extend(_tool_calls(msg["tool_calls"], f"{path}.tool_calls", untranslatable))
    function_call = msg.get("function_call")
    if isinstance(function_call, dict):  # deprecated single call: the id is the function's name
        name = function_call.get("name")
        if not isinstance(name, str):
            raise bad(f"{path}.function_call.name", "expected a string")
        arguments = function_call.get("arguments", "")
        parts.append(ToolCall(name, name, arguments if isinstance(arguments, str) else ""))
    if msg.get("audio") is not None:
        untranslatable[f"{path}.audio"] = msg["audio"]
    return tuple(parts)


def _message(msg: Any, path: str, untranslatable: dict[str, Any]) -> Message:
    if not isinstance(msg, dict):
        raise bad(path, f"expected a message object, got {type_name(msg)}")
    role = msg.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        expected = "'system', 'developer', 'user', 'assistant' or 'tool'"
        raise bad(f"{path}.role", f"expected {expected}, got {role!r}")
    name = msg.get("name")
    if name is not None and not isinstance(name, str):
        raise bad(f"{path}.name", f"expected a string, got {type_name(name)}")
    if role == "assistant":
        return Message("assistant", _assistant(msg, path, untranslatable), name)
    content = msg.get("content")
    if content is None:
        raise bad(f"{path}.content", "required")
    hints = _cache_hints(content, f"{path}.content") if isinstance(content, list) else ()
    if role == "user":
        return Message("user", _content(content, f"{path}.content"), name, hints)
    parts = _text_only(_content(content, f"{path}.content"), f"{path}.content")
    result_hints = ((0, hints[-1][1]),) if hints else ()  # a mark in a result's content marks the result
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str):
            raise bad(f"{path}.tool_call_id", "required string for a 'tool' message")
        return Message("tool", (ToolResult(call_id, parts),), cache=result_hints)
    if role == "function":  # deprecated: the result of the function named ``name``
        if name is None:
            raise bad(f"{path}.name", "required for a 'function' message")
        return Message("tool", (ToolResult(name, parts, name=name),), cache=result_hints)
    system_role: Role = "developer" if role == "developer" else "system"
    return Message(system_role, parts, name, hints)


def _cache_hints(content: list[Any], path: str) -> Hints:
    """Bifrost's ``cache_control`` on content parts (Anthropic's shape), for vendors that cache by
    breakpoint; one part per list entry, so the indices carry over."""
    return tuple(
        (i, cache_control(part["cache_control"], f"{path}[{i}].cache_control"))
        for i, part in enumerate(content)
        if isinstance(part, dict) and part.get("cache_control") is not None
    )


def parse_messages(value: Any, untranslatable: dict[str, Any]) -> tuple[Message, ...]:
    if value is None:
        raise bad("messages", "required")
    if not isinstance(value, list):
        raise bad("messages", f"expected a list of messages, got {type_name(value)}")
    if not value:
        raise bad("messages", "must contain at least one message")
    return tuple(_message(m, f"messages[{i}]", untranslatable) for i, m in enumerate(value))
