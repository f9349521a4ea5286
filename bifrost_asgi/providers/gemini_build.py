"""Neutral ``ChatRequest`` -> Gemini ``generateContent`` body (for clients of other formats).

Mapping notes (see wire-formats.md §E):

* ``system``/``developer`` messages are hoisted into ``systemInstruction`` (position is lost);
  ``assistant`` turns become ``model`` turns; tool results become a ``user`` turn of
  ``functionResponse`` parts; consecutive turns with the same role are merged.
* ``functionResponse.name`` is looked up from the earlier ``ToolCall`` with the same id (or taken
  from ``ToolResult.name``). ``response`` is ``{"output": ...}`` (``{"error": ...}`` when
  ``is_error``) holding the parsed JSON object when the result text is one, else the text.
* Call ids go upstream only when they are not ones the gateway synthesised (``is_synthetic_id``).
* ``ToolCall.signature`` is echoed as ``thoughtSignature``. Gemini 3 rejects a function-call
  turn without one, so a call that never came from Gemini (history from another provider) gets
  Google's documented placeholder ``"skip_thought_signature_validator"`` on the first call of
  each model turn that carries no signature at all.
* Reasoning parts are not sent back: their signatures may belong to another vendor, and Gemini
  only needs the signatures that ride on function calls.
* Images and files go inline (``inlineData``); Files API, ``gs://`` and YouTube URIs go as
  ``fileData``. Other http(s) URLs are refused: Gemini will not fetch them and the gateway does
  not download on a client's behalf.
* ``parallel_tool_calls=False`` has no Gemini equivalent and is accepted silently (lossy, harmless);
  ``user`` and participant ``name`` are dropped; anything in ``untranslatable`` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..neutral import (
    AudioPart,
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
)
from .gemini_wire import is_gemini3, is_synthetic_id

SKIP_SIGNATURE = "skip_thought_signature_validator"
MAX_STOP_SEQUENCES = 5
_FILE_URI_PREFIXES = (
    "gs://",
    "https://generativelanguage.googleapis.com/",
    "https://www.youtube.com/",
    "https://youtube.com/",
    "https://youtu.be/",
)
_EFFORT_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
_EFFORT_LEVELS = {"none": "low", "minimal": "low", "low": "low"}  # Gemini 3 levels; the rest -> "high"


def build_body(request: ChatRequest, model: str) -> dict[str, Any]:
    _refuse_untranslatable(request)
    system, contents = build_contents(request.messages, model)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        declarations = [_declaration(tool.name, tool.description, tool.parameters) for tool in request.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request)}
    config = generation_config(request, model)
    if config:
        body["generationConfig"] = config
    return body


def _refuse_untranslatable(request: ChatRequest) -> None:
    if request.untranslatable:
        names = "; ".join(request.untranslatable)
        raise UnsupportedFeatureError(f"cannot be translated for a Gemini model: {names}")


def build_contents(messages: Sequence[Message], model: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents)."""
    names = {call.id: call.name for message in messages for call in message.tool_calls}
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system.extend(_system_parts(message, path))
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _message_parts(message, names, path)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise InvalidRequestError("messages: Gemini needs at least one user or assistant message", param="messages")
    if is_gemini3(model):
        for content in contents:
            _fill_missing_signature(content)
    return system, contents


def _system_parts(message: Message, path: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        if not isinstance(part, TextPart):
            raise UnsupportedFeatureError(f"{path}.content[{j}]: Gemini system instructions hold text only")
        if part.text:
            parts.append({"text": part.text})
    return parts


def _message_parts(message: Message, names: Mapping[str, str], path: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    trailing: list[dict[str, Any]] = []  # media returned by tools, after the functionResponse parts
    for j, part in enumerate(message.parts):
        here = f"{path}.content[{j}]"
        if isinstance(part, TextPart):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, ToolCall):
            parts.append(_function_call(part))
        elif isinstance(part, ToolResult):
            parts.append(_function_response(part, names, here))
            trailing.extend(media_part(p, here) for p in part.content if not isinstance(p, TextPart))
        elif isinstance(part, ReasoningPart):
            continue
        else:
            parts.append(media_part(part, here))
    return parts + trailing


def _function_call(call: ToolCall) -> dict[str, Any]:
    function_call: dict[str, Any] = {"name": call.name, "args": call.arguments_object()}
    if call.id and not is_synthetic_id(call.id):
        function_call["id"] = call.id
    part: dict[str, Any] = {"functionCall": function_call}
    if call.signature:
        part["thoughtSignature"] = call.signature
    return part


def _function_response(result: ToolResult, names: Mapping[str, str], path: str) -> dict[str, Any]:
    name = result.name or names.get(result.call_id)
    if not name:
        raise InvalidRequestError(
            f"{path}: the tool result for call {result.call_id!r} has no matching earlier tool call, "
            "and Gemini needs the function's name",
            param=path,
        )
    value = _result_value(result.text())
    response: dict[str, Any] = {"name": name, "response": {"error" if result.is_error else "output": value}}
    if result.call_id and not is_synthetic_id(result.call_id):
        response["id"] = result.call_id
    return {"functionResponse": response}


def _result_value(text: str) -> Any:
    """A JSON object result goes as an object (Gemini reads it structurally); anything else as text."""
    if text.lstrip().startswith("{"):
        try:
            value = _json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
    return text


def _fill_missing_signature(content: dict[str, Any]) -> None:
    calls = [part for part in content["parts"] if "functionCall" in part]
    if content["role"] == "model" and calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE


def passthrough_body(raw: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A Gemini client's body as sent, except that for Gemini 3 a model turn whose function calls
    carry no signature at all (history another provider produced through the gateway) gets the
    placeholder on its first call, as translated requests do. Only changed turns are copied."""
    body = dict(raw)
    contents = body.get("contents")
    if not is_gemini3(model) or not isinstance(contents, list):
        return body
    patched: list[Any] = []
    for content in contents:
        parts = content.get("parts") if isinstance(content, Mapping) and content.get("role") == "model" else None
        calls = [i for i, part in enumerate(parts or ()) if isinstance(part, Mapping) and _is_call(part)]
        if parts is None or not calls or any(_has_signature(parts[i]) for i in calls):
            patched.append(content)
            continue
        new_parts = list(parts)
        new_parts[calls[0]] = {**parts[calls[0]], "thoughtSignature": SKIP_SIGNATURE}
        patched.append({**content, "parts": new_parts})
    body["contents"] = patched
    return body


def _is_call(part: Mapping[str, Any]) -> bool:
    return part.get("functionCall") is not None or part.get("function_call") is not None


def _has_signature(part: Mapping[str, Any]) -> bool:
    return bool(part.get("thoughtSignature") or part.get("thought_signature"))


def media_part(part: Part, path: str) -> dict[str, Any]:
    if isinstance(part, AudioPart):
        return {"inlineData": {"mimeType": f"audio/{part.format}", "data": part.data}}
    if not isinstance(part, ImagePart | FilePart):
        raise UnsupportedFeatureError(f"{path}: {type(part).__name__} cannot be sent to Gemini here", param=path)
    kind = "image" if isinstance(part, ImagePart) else "file"
    if part.data is not None:
        if not part.media_type:
            raise InvalidRequestError(f"{path}: inline {kind} data needs a media type for Gemini", param=path)
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if part.url is not None:
        return _url_part(part.url, part.media_type, kind, path)
    raise UnsupportedFeatureError(
        f"{path}: vendor file ids cannot be sent to Gemini; send the {kind} inline as base64", param=path
    )


def _url_part(url: str, media_type: str | None, kind: str, path: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not mime:
            raise InvalidRequestError(f"{path}: expected a data URL like data:image/png;base64,...", param=path)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(_FILE_URI_PREFIXES):
        file_data = {"fileUri": url}
        if media_type:
            file_data["mimeType"] = media_type
        return {"fileData": file_data}
    raise UnsupportedFeatureError(
        f"{path}: Gemini does not fetch {kind} URLs and the gateway does not download them; send the {kind} "
        "inline as base64 (a data: URL), or as a Gemini Files API or gs:// URI",
        param=path,
    )


def _declaration(name: str, description: str | None, parameters: Mapping[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": name}
    if description:
        declaration["description"] = description
    declaration["parametersJsonSchema"] = dict(parameters)
    return declaration


def _calling_config(request: ChatRequest) -> dict[str, Any]:
    choice = request.tool_choice
    assert choice is not None
    if choice.mode == "tool":
        if not choice.name:
            raise InvalidRequestError("tool_choice: a forced tool needs a name", param="tool_choice")
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}


def generation_config(request: ChatRequest, model: str) -> dict[str, Any]:
    if len(request.stop) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(
            f"stop: Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences, got {len(request.stop)}", param="stop"
        )
    pairs: list[tuple[str, Any]] = [
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
        ("candidateCount", request.n),
        ("maxOutputTokens", request.max_tokens),
        ("stopSequences", list(request.stop) or None),
        ("seed", request.seed),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    ]
    config = {name: value for name, value in pairs if value is not None}
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        config["responseMimeType"] = "application/json"
        if response_format.type == "json_schema" and response_format.schema is not None:
            config["responseJsonSchema"] = dict(response_format.schema)
    if request.reasoning is not None:
        thinking = thinking_config(request.reasoning, model)
        if thinking:
            config["thinkingConfig"] = thinking
    return config


def thinking_config(reasoning: Reasoning, model: str) -> dict[str, Any]:
    """Budgets for Gemini 2.x, levels for Gemini 3 (which cannot switch thinking off: "low" is its floor)."""
    gemini3 = is_gemini3(model)
    config: dict[str, Any] = {}
    if reasoning.enabled is False:
        config["thinkingLevel" if gemini3 else "thinkingBudget"] = "low" if gemini3 else 0
    elif reasoning.budget_tokens is not None:
        config["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None:
        effort = reasoning.effort.lower()
        if gemini3:
            config["thinkingLevel"] = _EFFORT_LEVELS.get(effort, "high")
        else:
            config["thinkingBudget"] = _EFFORT_BUDGETS.get(effort, -1)
    elif reasoning.enabled and not gemini3:
        config["thinkingBudget"] = -1  # dynamic
    if reasoning.include_thoughts is not None:
        config["includeThoughts"] = reasoning.include_thoughts
    return config
