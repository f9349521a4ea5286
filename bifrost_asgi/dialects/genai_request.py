"""A Gemini ``generateContent`` body -> a neutral ``ChatRequest``.

What has no neutral equivalent goes to ``ChatRequest.untranslatable`` (a provider of another
format refuses it with a 400; a Gemini upstream gets the raw body): server-side tools
(``googleSearch``, ``codeExecution``, ...), ``cachedContent``, non-text response modalities,
logprobs, unknown fields. Dropped on purpose because they only loosen or tune Gemini's own
behaviour: ``safetySettings``, ``labels``, ``mediaResolution``, ``toolConfig.retrievalConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..neutral import ChatRequest, Message, Reasoning, ResponseFormat, ToolChoice, ToolSpec
from .gateway_fields import with_summary
from .genai_contents import ContentsParser, parse_system_instruction
from .genai_fields import (
    as_list,
    as_object,
    as_str,
    fail,
    get,
    opt_bool,
    opt_float,
    opt_int,
    opt_str,
    parse_fallbacks,
    str_list,
    without_gateway_fields,
)
from .genai_schema import to_json_schema

_TOP_LEVEL_HANDLED = frozenset(
    {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config"}
    | {"generationConfig", "generation_config", "fallbacks", "model"}
)
_TOP_LEVEL_DROPPED = frozenset({"safetySettings", "safety_settings", "labels"})
_CONFIG_HANDLED = frozenset(
    {"temperature", "topP", "top_p", "topK", "top_k", "candidateCount", "candidate_count"}
    | {"maxOutputTokens", "max_output_tokens", "stopSequences", "stop_sequences", "seed"}
    | {"presencePenalty", "presence_penalty", "frequencyPenalty", "frequency_penalty"}
    | {"responseMimeType", "response_mime_type", "responseSchema", "response_schema"}
    | {"responseJsonSchema", "response_json_schema", "thinkingConfig", "thinking_config"}
    | {"responseModalities", "response_modalities"}
)
_CONFIG_DROPPED = frozenset(
    {"mediaResolution", "media_resolution", "enableEnhancedCivicAnswers", "enable_enhanced_civic_answers"}
)
_CONFIG_DROPPED_IF_FALSY = frozenset({"responseLogprobs", "response_logprobs", "logprobs"})


def parse_generate_request(body: Any, model: str, *, stream: bool, path: str = "") -> ChatRequest:
    """``path`` prefixes field names in error messages (``generateContentRequest.`` for countTokens)."""
    request = as_object(body, path.rstrip(".") or "request body")
    untranslatable: dict[str, Any] = {}
    messages: list[Message] = []
    system = parse_system_instruction(
        get(request, "systemInstruction", "system_instruction"), f"{path}systemInstruction"
    )
    if system is not None:
        messages.append(system)
    messages.extend(ContentsParser(untranslatable).parse(request.get("contents"), f"{path}contents"))
    tools = _parse_tools(request.get("tools"), f"{path}tools", untranslatable)
    tools, tool_choice = _parse_tool_config(get(request, "toolConfig", "tool_config"), f"{path}toolConfig", tools)
    for key, value in request.items():
        if value is not None and key not in _TOP_LEVEL_HANDLED and key not in _TOP_LEVEL_DROPPED:
            untranslatable[f"{path}{key}"] = value
    config_path = f"{path}generationConfig"
    config = get(request, "generationConfig", "generation_config")
    config = {} if config is None else as_object(config, config_path)
    _collect_untranslatable_config(config, config_path, untranslatable)
    max_tokens, temperature, top_p, top_k, stop, n, seed, presence, frequency = _sampling(config, config_path)
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        source_format="gemini",
        stream=stream,
        include_usage=True,  # Gemini streams always carry usageMetadata
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        stop=stop,
        n=n,
        seed=seed,
        presence_penalty=presence,
        frequency_penalty=frequency,
        tools=tools,
        tool_choice=tool_choice,
        response_format=_parse_response_format(config, config_path, untranslatable),
        reasoning=with_summary(_parse_thinking(config, config_path), request),
        fallbacks=parse_fallbacks(request),
        raw=without_gateway_fields(request),
        untranslatable=untranslatable,
    )


_Sampling = tuple[
    int | None, float | None, float | None, int | None, tuple[str, ...], int | None, int | None, float | None,
    float | None,
]  # fmt: skip
_NO_SAMPLING: _Sampling = (None, None, None, None, (), None, None, None, None)


def _sampling(config: Mapping[str, Any], path: str) -> _Sampling:
    """maxOutputTokens, temperature, topP, topK, stopSequences, candidateCount, seed, presencePenalty
    and frequencyPenalty, checked in that order; a field's path is only spelled out for a value to
    check (an absent field is ``None``, or ``()`` for the stop sequences)."""
    if not config:
        return _NO_SAMPLING
    value = get(config, "maxOutputTokens", "max_output_tokens")
    max_tokens = None if value is None else opt_int(value, f"{path}.maxOutputTokens")
    value = config.get("temperature")
    temperature = None if value is None else opt_float(value, f"{path}.temperature")
    value = get(config, "topP", "top_p")
    top_p = None if value is None else opt_float(value, f"{path}.topP")
    value = get(config, "topK", "top_k")
    top_k = None if value is None else opt_int(value, f"{path}.topK")
    value = get(config, "stopSequences", "stop_sequences")
    stop = () if value is None else str_list(value, f"{path}.stopSequences")
    value = get(config, "candidateCount", "candidate_count")
    n = None if value is None else opt_int(value, f"{path}.candidateCount")
    value = config.get("seed")
    seed = None if value is None else opt_int(value, f"{path}.seed")
    value = get(config, "presencePenalty", "presence_penalty")
    presence = None if value is None else opt_float(value, f"{path}.presencePenalty")
    value = get(config, "frequencyPenalty", "frequency_penalty")
    frequency = None if value is None else opt_float(value, f"{path}.frequencyPenalty")
    return max_tokens, temperature, top_p, top_k, stop, n, seed, presence, frequency


def _parse_tools(value: Any, path: str, untranslatable: dict[str, Any]) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    specs: list[ToolSpec] = []
    for i, raw in enumerate(as_list(value, path)):
        tool = as_object(raw, f"{path}[{i}]")
        for key, item in tool.items():
            if key in ("functionDeclarations", "function_declarations"):
                here = f"{path}[{i}].functionDeclarations"
                specs.extend(_declaration(d, f"{here}[{j}]") for j, d in enumerate(as_list(item, here)))
            elif item is not None:
                untranslatable[f"{path}[{i}].{key}"] = item
    return tuple(specs)


def _declaration(value: Any, path: str) -> ToolSpec:
    declaration = as_object(value, path)
    name = as_str(declaration.get("name"), f"{path}.name")
    json_schema = get(declaration, "parametersJsonSchema", "parameters_json_schema")
    if json_schema is not None:
        parameters: Mapping[str, Any] = as_object(json_schema, f"{path}.parametersJsonSchema")
    elif declaration.get("parameters") is not None:
        parameters = to_json_schema(as_object(declaration["parameters"], f"{path}.parameters"))
    else:
        parameters = {"type": "object", "properties": {}}
    description = opt_str(declaration.get("description"), f"{path}.description")
    return ToolSpec(name=name, description=description, parameters=parameters)


def _parse_tool_config(
    value: Any, path: str, tools: tuple[ToolSpec, ...]
) -> tuple[tuple[ToolSpec, ...], ToolChoice | None]:
    """``functionCallingConfig`` -> a tool choice. Several ``allowedFunctionNames`` narrow the
    tool list to those names (the neutral choice names at most one tool)."""
    if value is None:
        return tools, None
    here = f"{path}.functionCallingConfig"
    config = get(as_object(value, path), "functionCallingConfig", "function_calling_config")
    if config is None:
        return tools, None
    config = as_object(config, here)
    mode = (opt_str(config.get("mode"), f"{here}.mode") or "MODE_UNSPECIFIED").upper()
    names = str_list(get(config, "allowedFunctionNames", "allowed_function_names"), f"{here}.allowedFunctionNames")
    if names:
        known = {tool.name for tool in tools}
        missing = [name for name in names if name not in known]
        if missing:
            raise fail(f"{here}.allowedFunctionNames", f"{missing[0]!r} is not a declared function")
        tools = tuple(tool for tool in tools if tool.name in names)
    if mode in ("AUTO", "VALIDATED"):
        return tools, ToolChoice("auto")
    if mode == "NONE":
        return tools, ToolChoice("none")
    if mode == "ANY":
        return tools, ToolChoice("tool", names[0]) if len(names) == 1 else ToolChoice("required")
    if mode == "MODE_UNSPECIFIED":
        return tools, None
    raise fail(f"{here}.mode", f'expected "AUTO", "ANY", "NONE" or "VALIDATED", got {mode!r}')


def _parse_response_format(
    config: Mapping[str, Any], path: str, untranslatable: dict[str, Any]
) -> ResponseFormat | None:
    mime = get(config, "responseMimeType", "response_mime_type")
    if mime is None:
        return None
    mime = as_str(mime, f"{path}.responseMimeType")
    if mime == "text/plain":
        return None
    json_schema = get(config, "responseJsonSchema", "response_json_schema")
    schema = get(config, "responseSchema", "response_schema")
    if mime != "application/json":
        untranslatable[f"{path}.responseMimeType"] = mime
        return None
    if json_schema is not None:
        return ResponseFormat(
            "json_schema", schema=as_object(json_schema, f"{path}.responseJsonSchema"), name="response"
        )
    if schema is not None:
        return ResponseFormat(
            "json_schema", schema=to_json_schema(as_object(schema, f"{path}.responseSchema")), name="response"
        )
    return ResponseFormat("json_object")


def _parse_thinking(generation: Mapping[str, Any], config_path: str) -> Reasoning | None:
    """``generationConfig.thinkingConfig`` (its path spelled out only when it is there)."""
    value = get(generation, "thinkingConfig", "thinking_config")
    if value is None:
        return None
    path = f"{config_path}.thinkingConfig"
    config = as_object(value, path)
    budget = opt_int(get(config, "thinkingBudget", "thinking_budget"), f"{path}.thinkingBudget")
    level = opt_str(get(config, "thinkingLevel", "thinking_level"), f"{path}.thinkingLevel")
    include = opt_bool(get(config, "includeThoughts", "include_thoughts"), f"{path}.includeThoughts")
    effort = None if level is None or level.upper() == "THINKING_LEVEL_UNSPECIFIED" else level.lower()
    enabled: bool | None = None
    if budget is not None:
        if budget < -1:
            raise fail(f"{path}.thinkingBudget", "expected -1 (dynamic), 0 (off) or a positive token budget")
        enabled = budget != 0
        budget = budget if budget > 0 else None
    if effort is None and budget is None and enabled is None and include is None:
        return None
    return Reasoning(effort=effort, budget_tokens=budget, enabled=enabled, include_thoughts=include)


def _collect_untranslatable_config(config: Mapping[str, Any], path: str, untranslatable: dict[str, Any]) -> None:
    for key, value in config.items():
        if key in _CONFIG_HANDLED or key in _CONFIG_DROPPED or value is None:
            continue
        if key in _CONFIG_DROPPED_IF_FALSY and not value:
            continue
        untranslatable[f"{path}.{key}"] = value
    modalities = get(config, "responseModalities", "response_modalities")
    if modalities is not None:
        kinds = str_list(modalities, f"{path}.responseModalities")
        if any(kind.upper() != "TEXT" for kind in kinds):
            untranslatable[f"{path}.responseModalities"] = list(kinds)
