"""OpenAI chat bodies checked for an OpenAI-format upstream without building the neutral request.

``passthrough_chat_body`` gives a ``Passthrough`` only for a body that ``parse_chat_body`` accepts,
and ``None`` for every other one, including each body that parser refuses: the caller then runs
the full parser, so every 400 is that parser's (same message, same order). The top-level fields
are checked by the parser's own ``request_fields``; the messages by the walk below, which accepts
a subset of what ``openai_messages`` accepts: string content and text parts in every role, image,
audio and file parts from the user, assistant tool calls and refusals, tool results. Anything else
(``cache_control`` marks, deprecated ``function`` roles and calls) takes the full parser,
as does a body that is not certainly valid. A rule added to ``openai_messages`` that
refuses what this walk accepts must be added here too: ``tests/dialects/test_openai_passthrough.py``
compares the two over the fixtures and generated bodies.

The walk also counts what governance's estimate reads from ``Message.text()`` (the characters of
the text parts: none for tool results or tool calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import Passthrough
from .openai_parse import parse_fallbacks, request_fields, without_fallbacks

NOT_CERTAIN = -1  # a message the walk cannot vouch for: the full parser decides


def passthrough_head(body: Any) -> tuple[str, tuple[str, ...]] | None:
    """The ``model`` and ``fallbacks`` of the ``Passthrough`` that ``passthrough_chat_body`` may give
    ``body``, read from its top level alone (no walk over the messages), so that the caller can plan
    first and walk only when every target takes the body as it is. None: ``passthrough_chat_body``
    gives None for this body, certainly (not an object, no usable ``model``, unreadable
    ``fallbacks``)."""
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return None
    if "fallbacks" not in body:
        return model, ()
    try:
        return model, parse_fallbacks(body)
    except InvalidRequestError:
        return None


def passthrough_chat_body(body: Any) -> Passthrough | None:
    """A ``POST /v1/chat/completions`` body (streamed or not) as a ``Passthrough``, or None (see above)."""
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model.strip() or not isinstance(messages, list) or not messages:
        return None
    chars = 0
    for message in messages:
        size = _message_chars(message)
        if size == NOT_CERTAIN:
            return None
        chars += size
    try:
        fields = request_fields(body, {})
    except InvalidRequestError:
        return None
    tools = fields.get("tools", ())
    for tool in tools:
        chars += len(tool.name)
    return Passthrough(
        "openai",
        model,
        fields["fallbacks"],
        without_fallbacks(body),
        chars,
        len(messages),
        len(tools),
        fields["max_tokens"],
        fields.get("n"),
        fields.get("stream", False),
        fields["include_usage"],
    )


def _message_chars(message: Any) -> int:
    if not isinstance(message, dict):
        return NOT_CERTAIN
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        return NOT_CERTAIN
    role = message.get("role")
    content = message.get("content")
    if role == "user":
        return _content_chars(content, media=True)
    if role == "system" or role == "developer":
        return _content_chars(content, media=False)
    if role == "assistant":
        return _assistant_chars(message, content)
    if role == "tool":  # one ToolResult part: no text of its own
        if not isinstance(message.get("tool_call_id"), str) or _content_chars(content, media=False) < 0:
            return NOT_CERTAIN
        return 0
    return NOT_CERTAIN


def _content_chars(content: Any, *, media: bool) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return NOT_CERTAIN
    chars = 0
    for part in content:
        if not isinstance(part, dict) or part.get("cache_control") is not None:
            return NOT_CERTAIN
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                return NOT_CERTAIN
            chars += len(text)
        elif not (media and _media_ok(kind, part)):
            return NOT_CERTAIN
    return chars


def _media_ok(kind: Any, part: Mapping[str, Any]) -> bool:
    """An image, audio or file part ``openai_messages`` takes from a user (no text of its own)."""
    if kind == "image_url":
        image = part.get("image_url")
        return isinstance(image, str) or (isinstance(image, dict) and isinstance(image.get("url"), str))
    if kind == "input_audio":
        audio = part.get("input_audio")
        return isinstance(audio, dict) and isinstance(audio.get("data"), str) and isinstance(audio.get("format"), str)
    if kind == "file":
        file = part.get("file")
        return isinstance(file, dict) and any(isinstance(file.get(k), str) for k in ("file_id", "file_data"))
    return False


def _assistant_chars(message: Mapping[str, Any], content: Any) -> int:
    if "function_call" in message:
        return NOT_CERTAIN
    chars = 0
    if content is not None:
        chars = _assistant_content_chars(content)
    else:
        refusal = message.get("refusal")
        if "tool_calls" not in message and not refusal:
            return NOT_CERTAIN
        if isinstance(refusal, str):  # the refusal is the message's text
            chars = len(refusal)
    calls = message.get("tool_calls")
    if chars == NOT_CERTAIN or (calls is not None and not _tool_calls_ok(calls)):
        return NOT_CERTAIN
    return chars


def _assistant_content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return NOT_CERTAIN
    chars = 0
    for part in content:
        if not isinstance(part, dict):
            return NOT_CERTAIN
        kind = part.get("type")
        if kind != "text" and kind != "refusal":
            return NOT_CERTAIN
        text = part.get(kind)
        if not isinstance(text, str):
            return NOT_CERTAIN
        chars += len(text)
    return chars


def _tool_calls_ok(calls: Any) -> bool:
    if not isinstance(calls, list):
        return False
    for call in calls:
        if not isinstance(call, dict):
            return False
        if call.get("type", "function") != "function":
            continue  # not a function call: the parser sets it aside, no error
        function = call.get("function")
        if (
            not isinstance(call.get("id"), str)
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments", ""), str)
        ):
            return False
    return True
