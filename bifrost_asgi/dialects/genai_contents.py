"""Gemini ``contents`` / ``systemInstruction`` -> neutral messages.

* ``user`` (and the legacy ``function``) turns become ``user`` messages; their
  ``functionResponse`` parts become ``tool`` messages (runs are kept in order).
* ``model`` turns become ``assistant`` messages: text, thought parts (``ReasoningPart`` with
  their ``thoughtSignature``) and ``functionCall`` parts (``ToolCall`` keeping the signature).
* A ``functionCall`` without an ``id`` gets a deterministic one from its position
  (``synthesise_call_id``); a ``functionResponse`` without an ``id`` answers the earliest
  unanswered call of the same name, so both sides of the pair carry the same id.
* A ``thoughtSignature`` on a plain text part only matters to Gemini itself (which gets the raw
  body); it is dropped for other providers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .. import _json
from ..neutral import (
    AudioPart,
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
)
from .genai_fields import as_list, as_object, as_str, fail, get, opt_bool, opt_str

_DATA_KEYS = (
    "text",
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "functionCall",
    "function_call",
    "functionResponse",
    "function_response",
)
_IGNORED_PART_KEYS = frozenset(
    {"thought", "thoughtSignature", "thought_signature", "videoMetadata", "video_metadata"}
    | {"mediaResolution", "media_resolution", "partMetadata", "part_metadata"}
)


def synthesise_call_id(turn: int, part: int, name: str) -> str:
    """A stable id for an id-less ``functionCall`` at ``contents[turn].parts[part]``."""
    digest = hashlib.sha256(f"{turn}:{part}:{name}".encode()).hexdigest()
    return "call_" + digest[:24]


class ContentsParser:
    """Parses one request's contents; collects what has no neutral equivalent in ``untranslatable``."""

    def __init__(self, untranslatable: dict[str, Any]) -> None:
        self.untranslatable = untranslatable
        self._pending: list[tuple[str, str]] = []  # (call id, function name), unanswered calls

    def parse(self, value: Any, path: str = "contents") -> list[Message]:
        turns = as_list(value, path)
        if not turns:
            raise fail(path, "must contain at least one content")
        messages: list[Message] = []
        for turn, raw in enumerate(turns):
            here = f"{path}[{turn}]"
            content = as_object(raw, here)
            role = content.get("role") or "user"
            parts = as_list(content.get("parts", []), f"{here}.parts")
            if role == "model":
                messages.append(Message("assistant", self._model_parts(parts, turn, here)))
            elif role in ("user", "function"):
                messages.extend(self._user_messages(parts, here))
            else:
                raise fail(f"{here}.role", f'expected "user" or "model", got {role!r}')
        return messages

    def _model_parts(self, parts: list[Any], turn: int, path: str) -> tuple[Part, ...]:
        out: list[Part] = []
        for index, raw in enumerate(parts):
            here = f"{path}.parts[{index}]"
            part = as_object(raw, here)
            call = get(part, "functionCall", "function_call")
            if call is not None:
                out.append(self._tool_call(call, part, turn, index, f"{here}.functionCall"))
                continue
            if get(part, "functionResponse", "function_response") is not None:
                raise fail(f"{here}.functionResponse", 'belongs in a "user" turn, not a "model" turn')
            parsed = self._common_part(part, here)
            if parsed is not None:
                out.append(parsed)
        return tuple(out)

    def _user_messages(self, parts: list[Any], path: str) -> list[Message]:
        """Runs of ``functionResponse`` parts become ``tool`` messages, other runs ``user`` ones."""
        messages: list[Message] = []
        run: list[Part] = []
        run_is_tool = False
        for index, raw in enumerate(parts):
            here = f"{path}.parts[{index}]"
            part = as_object(raw, here)
            response = get(part, "functionResponse", "function_response")
            parsed: Part | None
            if response is not None:
                parsed = self._tool_result(response, f"{here}.functionResponse")
            else:
                parsed = self._common_part(part, here)
            if parsed is None:
                continue
            is_tool = isinstance(parsed, ToolResult)
            if run and is_tool != run_is_tool:
                messages.append(Message("tool" if run_is_tool else "user", tuple(run)))
                run = []
            run.append(parsed)
            run_is_tool = is_tool
        if run:
            messages.append(Message("tool" if run_is_tool else "user", tuple(run)))
        return messages

    def _common_part(self, part: Mapping[str, Any], path: str) -> Part | None:
        text = part.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise fail(f"{path}.text", "expected a string")
            thought = part.get("thought")
            if thought is not None and opt_bool(thought, f"{path}.thought"):
                signature = opt_str(get(part, "thoughtSignature", "thought_signature"), f"{path}.thoughtSignature")
                return ReasoningPart(text=text, signature=signature)
            return TextPart(text)
        inline = get(part, "inlineData", "inline_data")
        if inline is not None:
            return _inline_part(as_object(inline, f"{path}.inlineData"), f"{path}.inlineData")
        file_data = get(part, "fileData", "file_data")
        if file_data is not None:
            return _file_part(as_object(file_data, f"{path}.fileData"), f"{path}.fileData")
        unknown = [key for key in part if key not in _IGNORED_PART_KEYS and key not in _DATA_KEYS]
        if unknown:
            self.untranslatable[f"{path}.{unknown[0]}"] = part[unknown[0]]
        return None

    def _tool_call(self, raw: Any, part: Mapping[str, Any], turn: int, index: int, path: str) -> ToolCall:
        call = as_object(raw, path)
        name = as_str(call.get("name"), f"{path}.name")
        args = call.get("args")
        if args is None:
            args = {}
        elif not isinstance(args, Mapping):
            raise fail(f"{path}.args", "expected an object")
        call_id = opt_str(call.get("id"), f"{path}.id") or synthesise_call_id(turn, index, name)
        signature = get(part, "thoughtSignature", "thought_signature")
        self._pending.append((call_id, name))
        return ToolCall(
            id=call_id,
            name=name,
            arguments=_json.dumps_str(args),
            signature=opt_str(signature, path.rsplit(".", 1)[0] + ".thoughtSignature"),
        )

    def _tool_result(self, raw: Any, path: str) -> ToolResult:
        response = as_object(raw, path)
        name = as_str(response.get("name"), f"{path}.name")
        call_id = self._answer(opt_str(response.get("id"), f"{path}.id"), name, path)
        payload = response.get("response")
        payload = {} if payload is None else as_object(payload, f"{path}.response")
        is_error = payload.get("error") is not None
        if is_error:
            value = payload["error"]
        elif "output" in payload:
            value = payload["output"]
        else:
            value = payload
        text = value if isinstance(value, str) else _json.dumps_str(value)
        content: list[Part] = [TextPart(text)]
        for index, extra in enumerate(as_list(response.get("parts", []), f"{path}.parts")):
            here = f"{path}.parts[{index}]"
            inline = get(as_object(extra, here), "inlineData", "inline_data")
            if inline is not None:
                content.append(_inline_part(as_object(inline, f"{here}.inlineData"), f"{here}.inlineData"))
        return ToolResult(call_id=call_id, content=tuple(content), is_error=is_error, name=name)

    def _answer(self, call_id: str | None, name: str, path: str) -> str:
        """The id of the call this response answers; consumes it from the pending calls."""
        position = next((i for i, (pending_id, _) in enumerate(self._pending) if pending_id == call_id), None)
        if position is None:
            position = next((i for i, (_, pending_name) in enumerate(self._pending) if pending_name == name), None)
        if position is not None:
            return self._pending.pop(position)[0]
        if call_id is not None:
            return call_id
        raise fail(path, f"no earlier functionCall named {name!r} is left for this functionResponse to answer")


def _inline_part(inline: Mapping[str, Any], path: str) -> Part:
    mime = as_str(get(inline, "mimeType", "mime_type"), f"{path}.mimeType")
    data = as_str(inline.get("data"), f"{path}.data")
    if mime.startswith("image/"):
        return ImagePart(data=data, media_type=mime)
    if mime.startswith("audio/"):
        return AudioPart(data=data, format=mime.split("/", 1)[1])
    return FilePart(data=data, media_type=mime)


def _file_part(file_data: Mapping[str, Any], path: str) -> Part:
    uri = as_str(get(file_data, "fileUri", "file_uri"), f"{path}.fileUri")
    mime = opt_str(get(file_data, "mimeType", "mime_type"), f"{path}.mimeType")
    if mime is not None and mime.startswith("image/"):
        return ImagePart(url=uri, media_type=mime)
    return FilePart(url=uri, media_type=mime)


def parse_system_instruction(value: Any, path: str = "systemInstruction") -> Message | None:
    """``systemInstruction`` (a Content whose role is ignored, or a plain string) -> a system message."""
    if value is None:
        return None
    if isinstance(value, str):
        return Message("system", (TextPart(value),)) if value else None
    content = as_object(value, path)
    texts: list[Part] = []
    for index, raw in enumerate(as_list(content.get("parts", []), f"{path}.parts")):
        here = f"{path}.parts[{index}]"
        text = as_object(raw, here).get("text")
        if text is None:
            raise fail(here, "only text parts are supported in systemInstruction")
        texts.append(TextPart(as_str(text, f"{here}.text")))
    return Message("system", tuple(texts)) if texts else None
