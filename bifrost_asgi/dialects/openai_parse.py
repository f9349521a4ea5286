"""OpenAI Chat Completions / legacy Completions request bodies -> neutral ``ChatRequest``.

Hand-written validation (no pydantic on the hot path): every error is an ``InvalidRequestError``
whose message starts with the JSON path of the offending field (``messages[1].role: ...``).
The client's body is kept as ``ChatRequest.raw`` (minus the gateway-only ``fallbacks``) so an
OpenAI-format upstream gets it unchanged; everything the neutral schema cannot carry and a
translation must not silently drop goes to ``ChatRequest.untranslatable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import (
    ChatRequest,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    ToolChoice,
    ToolSpec,
)
from .gateway_fields import with_summary, without_gateway_fields
from .openai_messages import bad, parse_messages, type_name

_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
LEGACY_MAX_TOKENS_DEFAULT = 16


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequestError(f"request body: expected a JSON object, got {type_name(body)}")
    return body


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise bad("model", "required")
    if not isinstance(model, str) or not model.strip():
        raise bad("model", f"expected a non-empty string, got {type_name(model)}")
    return model


def parse_fallbacks(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("fallbacks")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad("fallbacks", f"expected a list of 'provider/model' strings, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise bad(f"fallbacks[{i}]", "expected a non-empty 'provider/model' string")
    return tuple(value)


def without_fallbacks(body: dict[str, Any]) -> dict[str, Any]:
    """The body to pass through: the same dict (no copy) unless it carries a gateway-only field
    (``fallbacks``, ``reasoning_summary``)."""
    return without_gateway_fields(body)


# ---------------------------------------------------------------------------------- scalars


# Each converter takes (value, field name, untranslatable) for a field that is present and not null.
_Converter = Callable[[Any, str, dict[str, Any]], Any]


def _number(value: Any, name: str, _: dict[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(name, f"expected a number, got {type_name(value)}")
    return float(value)


def _integer(minimum: int | None) -> _Converter:
    def convert(value: Any, name: str, _: dict[str, Any]) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if not (isinstance(value, float) and value.is_integer()):
                raise bad(name, f"expected an integer, got {type_name(value)}")
            value = int(value)
        if minimum is not None and value < minimum:
            raise bad(name, f"must be at least {minimum}, got {value}")
        return int(value)

    return convert


def _boolean(value: Any, name: str, _: dict[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise bad(name, f"expected a boolean, got {type_name(value)}")
    return value


def _string(value: Any, name: str, _: dict[str, Any]) -> str:
    if not isinstance(value, str):
        raise bad(name, f"expected a string, got {type_name(value)}")
    return value


def _stop(value: Any, name: str, _: dict[str, Any]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise bad(name, "expected a string or a list of strings")


# ---------------------------------------------------------------------------------- tools


def _tools(value: Any, _: str, untranslatable: dict[str, Any]) -> tuple[ToolSpec, ...]:
    if not isinstance(value, list):
        raise bad("tools", f"expected a list, got {type_name(value)}")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(value):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise bad(path, f"expected an object, got {type_name(tool)}")
        if tool.get("type") != "function":
            untranslatable[path] = tool
            continue
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad(f"{path}.function", "expected an object with a string 'name'")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad(f"{path}.function.parameters", "expected a JSON Schema object")
        description = function.get("description")
        description = description if isinstance(description, str) else None
        strict = function.get("strict")
        strict = strict if isinstance(strict, bool) else None
        if parameters is None:  # the dataclass default: a fresh empty object schema
            specs.append(ToolSpec(function["name"], description, strict=strict))
        else:
            specs.append(ToolSpec(function["name"], description, parameters, strict))
    return tuple(specs)


def _allowed_tools(value: Mapping[str, Any], untranslatable: dict[str, Any]) -> ToolChoice | None:
    allowed = value.get("allowed_tools")
    if not isinstance(allowed, dict) or not isinstance(allowed.get("tools"), list):
        raise bad("tool_choice.allowed_tools", "expected an object with 'mode' and a list of 'tools'")
    tools = allowed["tools"]
    if len(tools) == 1 and allowed.get("mode") == "required" and isinstance(tools[0], dict):
        function = tools[0].get("function")
        name = function.get("name") if isinstance(function, dict) else tools[0].get("name")
        if isinstance(name, str):
            return ToolChoice("tool", name)
    untranslatable["tool_choice"] = value
    return None


def _tool_choice(value: Any, _: str, untranslatable: dict[str, Any]) -> ToolChoice | None:
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            raise bad("tool_choice", f"expected 'none', 'auto', 'required' or an object, got {value!r}")
        return ToolChoice(value)  # type: ignore[arg-type]
    if not isinstance(value, dict):
        raise bad("tool_choice", f"expected a string or an object, got {type_name(value)}")
    kind = value.get("type")
    if kind == "function":
        function = value.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad("tool_choice.function", "expected an object with a string 'name'")
        return ToolChoice("tool", function["name"])
    if kind == "allowed_tools":
        return _allowed_tools(value, untranslatable)
    if kind == "custom":
        untranslatable["tool_choice"] = value
        return None
    raise bad("tool_choice.type", f"expected 'function', 'allowed_tools' or 'custom', got {kind!r}")


def _response_format(value: Any, _: str, __: dict[str, Any]) -> ResponseFormat:
    if not isinstance(value, dict):
        raise bad("response_format", f"expected an object, got {type_name(value)}")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise bad("response_format.json_schema", "expected an object with 'name' and 'schema'")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise bad("response_format.json_schema.schema", "expected a JSON Schema object")
        name = spec.get("name")
        strict = spec.get("strict")
        return ResponseFormat(
            "json_schema",
            schema,
            name if isinstance(name, str) else None,
            strict if isinstance(strict, bool) else None,
        )
    raise bad("response_format.type", f"expected 'text', 'json_object' or 'json_schema', got {kind!r}")


def _reasoning(value: Any, name: str, _: dict[str, Any]) -> Reasoning:
    effort = _string(value, name, _)
    return Reasoning(effort=effort, enabled=False if effort == "none" else None)


def _stream_options(value: Any, name: str, _: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        raise bad(name, f"expected an object, got {type_name(value)}")
    include = value.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise bad(f"{name}.include_usage", f"expected a boolean, got {type_name(include)}")
    return include is True


# body field -> (ChatRequest field, converter); "_"-prefixed targets are resolved in ``_common``.
_FIELDS: Mapping[str, tuple[str, _Converter]] = MappingProxyType(
    {
        "stream": ("stream", _boolean),
        "stream_options": ("_include_usage", _stream_options),
        "max_completion_tokens": ("_max_completion_tokens", _integer(1)),
        "max_tokens": ("_max_tokens", _integer(1)),
        "temperature": ("temperature", _number),
        "top_p": ("top_p", _number),
        "top_k": ("top_k", _integer(0)),
        "stop": ("stop", _stop),
        "n": ("n", _integer(1)),
        "seed": ("seed", _integer(None)),
        "presence_penalty": ("presence_penalty", _number),
        "frequency_penalty": ("frequency_penalty", _number),
        "tools": ("tools", _tools),
        "tool_choice": ("tool_choice", _tool_choice),
        "parallel_tool_calls": ("parallel_tool_calls", _boolean),
        "response_format": ("response_format", _response_format),
        "reasoning_effort": ("reasoning", _reasoning),
        "user": ("user", _string),
        "safety_identifier": ("_safety_identifier", _string),
    }
)

# Fields a non-OpenAI upstream cannot honour when set: refuse them there rather than drop them.
_UNTRANSLATABLE = frozenset(
    {
        "logit_bias",
        "prediction",
        "web_search_options",
        "audio",
        "functions",
        "function_call",
        "logprobs",
        "top_logprobs",
    }
)


def request_fields(
    body: Mapping[str, Any], untranslatable: dict[str, Any], *, max_tokens_default: int | None = None
) -> dict[str, Any]:
    """The ``ChatRequest`` fields of the body's top level (everything but ``model`` and the
    messages), each checked: a 400 naming the first bad field."""
    fields: dict[str, Any] = {}
    for name, value in body.items():
        entry = _FIELDS.get(name)
        if entry is not None:
            if value is not None:
                fields[entry[0]] = entry[1](value, name, untranslatable)
        elif name in _UNTRANSLATABLE:
            if value:
                untranslatable[name] = value
        elif name == "modalities" and isinstance(value, list) and any(m != "text" for m in value):
            untranslatable[name] = value
    max_completion = fields.pop("_max_completion_tokens", None)
    max_tokens = fields.pop("_max_tokens", None)
    max_tokens = max_completion if max_completion is not None else max_tokens
    fields["max_tokens"] = max_tokens if max_tokens is not None else max_tokens_default
    safety_identifier = fields.pop("_safety_identifier", None)
    if fields.get("user") is None and safety_identifier is not None:
        fields["user"] = safety_identifier
    fields["include_usage"] = fields.pop("_include_usage", False) and fields.get("stream", False)
    if "reasoning_summary" in body:
        fields["reasoning"] = with_summary(fields.get("reasoning"), body)
    fields["fallbacks"] = parse_fallbacks(body) if "fallbacks" in body else ()
    return fields


def _common(
    body: dict[str, Any],
    model: str,
    messages: tuple[Message, ...],
    untranslatable: dict[str, Any],
    *,
    text_completion: bool = False,
    max_tokens_default: int | None = None,
) -> ChatRequest:
    fields = request_fields(body, untranslatable, max_tokens_default=max_tokens_default)
    return ChatRequest(
        model=model,
        messages=messages,
        source_format="openai",
        raw=without_fallbacks(body),
        untranslatable=untranslatable,
        text_completion=text_completion,
        **fields,
    )


def parse_chat_body(body: Any) -> ChatRequest:
    """``POST /v1/chat/completions``."""
    body = require_object(body)
    model = require_model(body)
    untranslatable: dict[str, Any] = {}
    messages = parse_messages(body.get("messages"), untranslatable)
    return _common(body, model, messages, untranslatable)


def _prompt(body: Mapping[str, Any], untranslatable: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise bad("prompt", "required")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        if len(prompt) > 1:
            untranslatable["prompt"] = prompt  # several prompts at once
        first: str = prompt[0]
        return first
    valid_tokens = isinstance(prompt, list) and all(
        (isinstance(t, int) and not isinstance(t, bool))
        or (isinstance(t, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in t))
        for t in prompt
    )
    if not valid_tokens or not prompt:
        raise bad("prompt", "expected a string, a list of strings or a list of token ids")
    untranslatable["prompt"] = prompt  # token ids mean nothing to another vendor
    return ""


def parse_completion_body(body: Any) -> ChatRequest:
    """``POST /v1/completions`` (legacy): the prompt becomes one user message."""
    body = require_object(body)
    model = require_model(body)
    untranslatable: dict[str, Any] = {}
    prompt = _prompt(body, untranslatable)
    for name in ("echo", "suffix"):
        if body.get(name):
            untranslatable[name] = body[name]
    best_of = body.get("best_of")
    if isinstance(best_of, int) and best_of > 1:
        untranslatable["best_of"] = best_of
    messages = (Message("user", (TextPart(prompt),)),)
    return _common(
        body,
        model,
        messages,
        untranslatable,
        text_completion=True,
        max_tokens_default=LEGACY_MAX_TOKENS_DEFAULT,
    )
