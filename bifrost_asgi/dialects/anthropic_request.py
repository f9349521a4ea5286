"""Anthropic Messages request body -> neutral ``ChatRequest`` (pure).

Every malformed field raises ``InvalidRequestError`` whose message names the field path, e.g.
``messages[2].content[0].source.data: expected a string``. Things with no neutral equivalent
(server tools, Files-API ids, unknown block types, ``container``...) are recorded in
``ChatRequest.untranslatable`` so that a provider of another format refuses them; an Anthropic
upstream receives the client's body verbatim (``raw``) and never looks at them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import MappingProxyType
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
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
    replace,
)
from .cache_hints import Hints, cache_control, split_results
from .gateway_fields import with_summary, without_gateway_fields

# Top-level fields that change what the model does but have no neutral equivalent.
_UNTRANSLATABLE_FIELDS = ("container", "mcp_servers", "context_management")
# Headers an Anthropic upstream should see as the client sent them (same-format passthrough only).
_PASSTHROUGH_HEADERS = ("anthropic-beta", "anthropic-version")


class _Context:
    """Per-request parsing state: untranslatable findings and tool-use ids -> names."""

    __slots__ = ("tool_names", "untranslatable")

    def __init__(self) -> None:
        self.untranslatable: dict[str, Any] = {}
        self.tool_names: dict[str, str] = {}


# --- small typed accessors -------------------------------------------------------------------


def _fail(path: str, expected: str, value: Any) -> InvalidRequestError:
    got = "null" if value is None else type(value).__name__
    return InvalidRequestError(f"{path}: expected {expected}, got {got}", param=path)


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "an object", value)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, "an array", value)
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    return value


def _opt_str(value: Any, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _opt_int(value: Any, path: str, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "an integer", value)
    if value < minimum:
        raise InvalidRequestError(f"{path}: must be >= {minimum}, got {value}", param=path)
    return value


def _opt_float(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "a number", value)
    return float(value)


def _opt_bool(value: Any, path: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(path, "a boolean", value)
    return value


# --- content blocks ---------------------------------------------------------------------------


def _image(block: dict[str, Any], path: str, ctx: _Context) -> ImagePart | None:
    source = _obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        return ImagePart(
            data=_str(source.get("data"), f"{path}.source.data"),
            media_type=_str(source.get("media_type"), f"{path}.source.media_type"),
        )
    if kind == "url":
        return ImagePart(url=_str(source.get("url"), f"{path}.source.url"))
    ctx.untranslatable[f"{path}.source: image source type {kind!r}"] = source
    return None


def _document(block: dict[str, Any], path: str, ctx: _Context) -> FilePart | None:
    source = _obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    title = _opt_str(block.get("title"), f"{path}.title")
    if kind == "base64":
        return FilePart(
            data=_str(source.get("data"), f"{path}.source.data"),
            media_type=_str(source.get("media_type"), f"{path}.source.media_type"),
            filename=title,
        )
    if kind == "url":
        return FilePart(url=_str(source.get("url"), f"{path}.source.url"), media_type="application/pdf", filename=title)
    if kind == "text":
        text = _str(source.get("data"), f"{path}.source.data")
        media_type = _opt_str(source.get("media_type"), f"{path}.source.media_type") or "text/plain"
        return FilePart(data=base64.b64encode(text.encode()).decode(), media_type=media_type, filename=title)
    ctx.untranslatable[f"{path}.source: document source type {kind!r}"] = source
    return None


def _block_type(block: Any, path: str) -> tuple[dict[str, Any], str]:
    block = _obj(block, path)
    return block, _str(block.get("type"), f"{path}.type")


def _media_block(block: dict[str, Any], kind: str, path: str, ctx: _Context) -> Part | None:
    """text / image / document: the blocks allowed both in turns and inside ``tool_result``."""
    if kind == "text":
        text = _str(block.get("text"), f"{path}.text")
        return TextPart(text) if text else None
    if kind == "image":
        return _image(block, path, ctx)
    if kind == "document":
        return _document(block, path, ctx)
    ctx.untranslatable[f"{path}: content block type {kind!r}"] = block
    return None


def _tool_result(block: dict[str, Any], path: str, ctx: _Context) -> ToolResult:
    call_id = _str(block.get("tool_use_id"), f"{path}.tool_use_id")
    content = block.get("content")
    parts: list[Part] = []
    if isinstance(content, str):
        if content:
            parts.append(TextPart(content))
    elif content is not None:
        for j, item in enumerate(_list(content, f"{path}.content")):
            item_path = f"{path}.content[{j}]"
            item, kind = _block_type(item, item_path)
            part = _media_block(item, kind, item_path, ctx)
            if part is not None:
                parts.append(part)
    is_error = _opt_bool(block.get("is_error"), f"{path}.is_error") or False
    return ToolResult(call_id=call_id, content=tuple(parts), is_error=is_error, name=ctx.tool_names.get(call_id))


def _tool_use(block: dict[str, Any], path: str, ctx: _Context) -> ToolCall:
    call_id = _str(block.get("id"), f"{path}.id")
    name = _str(block.get("name"), f"{path}.name")
    tool_input = block.get("input")
    arguments = "{}" if tool_input is None else _json.dumps_str(tool_input)
    ctx.tool_names[call_id] = name
    return ToolCall(id=call_id, name=name, arguments=arguments)


# Block types allowed in one role only.
_ROLE_ONLY: Mapping[str, str] = MappingProxyType(
    {
        "tool_use": "assistant",
        "thinking": "assistant",
        "redacted_thinking": "assistant",
        "tool_result": "user",
    }
)


def _turn_block(block: dict[str, Any], kind: str, path: str, role: str, ctx: _Context) -> Part | None:
    wanted = "user" if role == "system" and kind != "text" else _ROLE_ONLY.get(kind, role)
    if wanted != role:
        raise InvalidRequestError(f"{path}: {kind!r} blocks are not allowed in {role} messages", param=path)
    if kind == "tool_use":
        return _tool_use(block, path, ctx)
    if kind == "tool_result":
        return _tool_result(block, path, ctx)
    if kind == "thinking":
        return ReasoningPart(
            text=_str(block.get("thinking"), f"{path}.thinking"),
            signature=_opt_str(block.get("signature"), f"{path}.signature"),
        )
    if kind == "redacted_thinking":
        return ReasoningPart(redacted=_str(block.get("data"), f"{path}.data"))
    return _media_block(block, kind, path, ctx)


def _content_parts(content: Any, path: str, role: str, ctx: _Context) -> tuple[list[Part], Hints]:
    if isinstance(content, str):
        return ([TextPart(content)] if content else []), ()
    if not isinstance(content, list):
        raise _fail(path, "a string or an array of content blocks", content)
    parts: list[Part] = []
    hints: list[tuple[int, CacheHint]] = []
    for j, raw_block in enumerate(content):
        block_path = f"{path}[{j}]"
        block, kind = _block_type(raw_block, block_path)
        part = _turn_block(block, kind, block_path, role, ctx)
        if part is not None:
            parts.append(part)
        hint = _block_hint(block, kind, block_path)
        if hint is not None and parts:  # a mark on a block that made no part closes the one before
            hints.append((len(parts) - 1, hint))
    return parts, tuple(hints)


def _block_hint(block: dict[str, Any], kind: str, path: str) -> CacheHint | None:
    """The block's ``cache_control``; for a ``tool_result``, the last one inside it marks the whole
    result (the result's own one wins)."""
    if block.get("cache_control") is not None:
        return cache_control(block["cache_control"], f"{path}.cache_control")
    content = block.get("content") if kind == "tool_result" else None
    hint = None
    for j, item in enumerate(content if isinstance(content, list) else ()):
        if item.get("cache_control") is not None:  # items are objects: _tool_result checked them
            hint = cache_control(item["cache_control"], f"{path}.content[{j}].cache_control")
    return hint


def _messages(body: dict[str, Any], ctx: _Context) -> list[Message]:
    out: list[Message] = []
    for i, raw_message in enumerate(_list(body.get("messages"), "messages")):
        path = f"messages[{i}]"
        message = _obj(raw_message, path)
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            raise InvalidRequestError(
                f"{path}.role: expected 'user', 'assistant' or 'system', got {role!r}", param=f"{path}.role"
            )
        if "content" not in message:
            raise InvalidRequestError(f"{path}.content: field required", param=f"{path}.content")
        parts, hints = _content_parts(message["content"], f"{path}.content", role, ctx)
        if role == "user":
            results, result_hints, others, other_hints = split_results(parts, hints)
            if results:
                out.append(Message("tool", results, cache=result_hints))
            if others or not results:
                out.append(Message("user", others, cache=other_hints))
        else:
            out.append(Message(role, tuple(parts), cache=hints))
    return out


def _system(value: Any) -> Message | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Message("system", (TextPart(value),)) if value else None
    blocks = _list(value, "system")
    parts: list[Part] = []
    hints: list[tuple[int, CacheHint]] = []
    for j, raw in enumerate(blocks):
        block, kind = _block_type(raw, f"system[{j}]")
        if kind != "text":
            raise InvalidRequestError(f"system[{j}].type: expected 'text', got {kind!r}", param=f"system[{j}].type")
        text = _str(block.get("text"), f"system[{j}].text")
        if text:
            parts.append(TextPart(text))
        if block.get("cache_control") is not None and parts:
            hints.append((len(parts) - 1, cache_control(block["cache_control"], f"system[{j}].cache_control")))
    return Message("system", tuple(parts), cache=tuple(hints)) if parts else None


# --- tools and options ------------------------------------------------------------------------


def _tools(value: Any, ctx: _Context) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    specs: list[ToolSpec] = []
    for i, raw in enumerate(_list(value, "tools")):
        path = f"tools[{i}]"
        tool = _obj(raw, path)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            ctx.untranslatable[f"{path}: server tool {kind!r}"] = tool
            continue
        name = _str(tool.get("name"), f"{path}.name")
        schema = _obj(tool.get("input_schema"), f"{path}.input_schema")
        marked = tool.get("cache_control")
        specs.append(
            ToolSpec(
                name=name,
                description=_opt_str(tool.get("description"), f"{path}.description"),
                parameters=schema,
                strict=_opt_bool(tool.get("strict"), f"{path}.strict"),
                cache=None if marked is None else cache_control(marked, f"{path}.cache_control"),
            )
        )
    return tuple(specs)


def _cache_last(messages: list[Message], value: Any) -> None:
    """Top-level ``cache_control`` (Anthropic's automatic caching): a breakpoint on the last block."""
    hint = cache_control(value, "cache_control")
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.parts:
            last = len(message.parts) - 1
            kept = tuple(pair for pair in message.cache if pair[0] != last)
            messages[i] = replace(message, cache=(*kept, (last, hint)))
            return


def _tool_choice(value: Any) -> tuple[ToolChoice | None, bool | None]:
    """The neutral choice and ``parallel_tool_calls`` (False when parallel use is disabled)."""
    if value is None:
        return None, None
    choice = _obj(value, "tool_choice")
    kind = choice.get("type")
    disable = _opt_bool(choice.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use")
    parallel = False if disable else None
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "none":
        return ToolChoice("none"), parallel
    if kind == "tool":
        return ToolChoice("tool", _str(choice.get("name"), "tool_choice.name")), parallel
    raise InvalidRequestError(
        f"tool_choice.type: expected 'auto', 'any', 'tool' or 'none', got {kind!r}", param="tool_choice.type"
    )


def _reasoning(body: dict[str, Any], output_config: dict[str, Any]) -> Reasoning | None:
    effort = _opt_str(output_config.get("effort"), "output_config.effort")
    value = body.get("thinking")
    if value is None:
        return Reasoning(effort=effort) if effort else None
    thinking = _obj(value, "thinking")
    kind = thinking.get("type")
    if kind == "enabled":
        budget = _opt_int(thinking.get("budget_tokens"), "thinking.budget_tokens", minimum=1)
        if budget is None:
            raise InvalidRequestError("thinking.budget_tokens: field required", param="thinking.budget_tokens")
        return Reasoning(effort=effort, budget_tokens=budget, enabled=True, include_thoughts=True)
    if kind == "adaptive":
        return Reasoning(effort=effort, enabled=True, include_thoughts=True)
    if kind == "disabled":
        return Reasoning(enabled=False)
    raise InvalidRequestError(
        f"thinking.type: expected 'enabled', 'adaptive' or 'disabled', got {kind!r}", param="thinking.type"
    )


def _response_format(body: dict[str, Any], output_config: dict[str, Any]) -> ResponseFormat | None:
    path = "output_config.format"
    value = output_config.get("format")
    if value is None and body.get("output_format") is not None:  # the beta spelling
        path, value = "output_format", body["output_format"]
    if value is None:
        return None
    fmt = _obj(value, path)
    if fmt.get("type") != "json_schema":
        raise InvalidRequestError(f"{path}.type: expected 'json_schema', got {fmt.get('type')!r}", param=f"{path}.type")
    return ResponseFormat("json_schema", schema=_obj(fmt.get("schema"), f"{path}.schema"))


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(_str(s, f"stop_sequences[{i}]") for i, s in enumerate(_list(value, "stop_sequences")))


def _fallbacks(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = _list(value, "fallbacks")
    return tuple(_str(item, f"fallbacks[{i}]") for i, item in enumerate(items))


def _user(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    if metadata is None:
        return None
    return _opt_str(_obj(metadata, "metadata").get("user_id"), "metadata.user_id")


def _max_tokens(body: dict[str, Any], *, required: bool) -> int | None:
    value = _opt_int(body.get("max_tokens"), "max_tokens", minimum=1)
    if value is None and required:
        raise InvalidRequestError("max_tokens: field required", param="max_tokens")
    return value


def parse_request(body: Any, headers: Mapping[str, str], *, count_tokens: bool = False) -> ChatRequest:
    """A Messages (or count_tokens) body -> ``ChatRequest``; ``raw`` keeps it minus ``fallbacks``."""
    body = _obj(body, "request body")
    model = _str(body.get("model"), "model")
    if not model:
        raise InvalidRequestError("model: must not be empty", param="model")
    ctx = _Context()
    system = _system(body.get("system"))
    messages = _messages(body, ctx)
    if body.get("cache_control") is not None:
        _cache_last(messages, body["cache_control"])
    output_config = _obj(body.get("output_config") or {}, "output_config")
    tool_choice, parallel = _tool_choice(body.get("tool_choice"))
    for name in _UNTRANSLATABLE_FIELDS:
        if body.get(name) is not None:
            ctx.untranslatable[name] = body[name]
    stream = False if count_tokens else bool(_opt_bool(body.get("stream"), "stream"))
    return ChatRequest(
        model=model,
        messages=((system,) if system else ()) + tuple(messages),
        source_format="anthropic",
        stream=stream,
        include_usage=stream,  # Anthropic streams always carry usage
        max_tokens=_max_tokens(body, required=not count_tokens),
        temperature=_opt_float(body.get("temperature"), "temperature"),
        top_p=_opt_float(body.get("top_p"), "top_p"),
        top_k=_opt_int(body.get("top_k"), "top_k"),
        stop=_stop(body.get("stop_sequences")),
        tools=_tools(body.get("tools"), ctx),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=_response_format(body, output_config),
        reasoning=with_summary(_reasoning(body, output_config), body),
        user=_user(body),
        fallbacks=_fallbacks(body.get("fallbacks")),
        raw=without_gateway_fields(body),
        passthrough_headers={h: headers[h] for h in _PASSTHROUGH_HEADERS if h in headers},
        untranslatable=ctx.untranslatable,
    )
