"""``POST /v1/responses`` bodies -> a neutral ``ChatRequest`` plus what the Responses layer keeps.

Pure: the stored conversation a ``previous_response_id`` names is loaded by the service first
and handed in as ``history`` (its expanded input and output items). ``ChatRequest.raw`` is what
an upstream that speaks Responses itself (OpenAI, Azure) gets, with only ``model`` rewritten:

* the client's body as it is, when there is no history or the referenced response lives at
  that upstream (``previous_response_id`` then goes there untouched);
* otherwise the body with the history spelled out in ``input`` and no ``previous_response_id``
  (the upstream never saw that conversation).

Fields a translation cannot honour go to ``ChatRequest.untranslatable`` (providers of another
format refuse them with a 400 naming them): hosted tools, ``background``, ``conversation``,
``prompt``, ``truncation: "auto"``, ``max_tool_calls``, ``top_logprobs``, file ids, and a
``previous_response_id`` the gateway does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..dialects.gateway_fields import summary_into_reasoning
from ..dialects.openai_messages import bad, type_name
from ..dialects.openai_parse import parse_fallbacks, require_model, require_object
from ..neutral import ChatRequest, Message, Reasoning, ResponseFormat, TextPart, ToolChoice, ToolSpec
from ..neutral._build import fast_new
from .items import SIGNATURE_FIELD, items_to_messages, normalize_input

RESPONSES_FORMAT: Final = "openai_responses"
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
# Present and truthy: no translation can honour them.
_UNTRANSLATABLE = ("background", "conversation", "prompt", "max_tool_calls", "top_logprobs")


@fast_new
@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    chat: ChatRequest
    body: Mapping[str, Any]  # the client's body (for echoing its settings in the response)
    input_items: list[dict[str, Any]]  # this request's own items, normalized
    history: Sequence[Mapping[str, Any]] = ()  # the referenced conversation's items
    previous_response_id: str | None = None
    store: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)


def previous_id(body: Any) -> str | None:
    """``previous_response_id``, validated (the service loads it before parsing the rest)."""
    value = require_object(body).get("previous_response_id")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad("previous_response_id", f"expected a response id, got {type_name(value)}")
    return value


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(name, f"expected a number, got {type_name(value)}")
    return float(value)


def _flag(body: Mapping[str, Any], name: str, default: bool | None) -> bool | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(name, f"expected a boolean, got {type_name(value)}")
    return value


def _positive(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(name, f"expected a positive integer, got {value!r}")
    return value


def _tools(value: Any, untranslatable: dict[str, Any]) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad("tools", f"expected a list, got {type_name(value)}")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(value):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise bad(path, f"expected an object, got {type_name(tool)}")
        kind = tool.get("type")
        if kind != "function":
            untranslatable[f"{path} ({kind} tool)"] = tool  # hosted tools run at OpenAI only
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise bad(f"{path}.name", "expected a non-empty string (Responses function tools are flat)")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad(f"{path}.parameters", "expected a JSON Schema object")
        description = tool.get("description") if isinstance(tool.get("description"), str) else None
        strict = tool.get("strict") if isinstance(tool.get("strict"), bool) else None
        if parameters is None:
            specs.append(ToolSpec(name, description, strict=strict))
        else:
            specs.append(ToolSpec(name, description, parameters, strict))
    return tuple(specs)


def _tool_choice(
    value: Any, tools: tuple[ToolSpec, ...], untranslatable: dict[str, Any]
) -> tuple[ToolChoice | None, tuple[ToolSpec, ...]]:
    """The choice, and the tools the model may use (``allowed_tools`` narrows them)."""
    if value is None:
        return None, tools
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise bad("tool_choice", f"expected 'none', 'auto', 'required' or an object, got {value!r}")
        return ToolChoice(value), tools  # type: ignore[arg-type]
    if not isinstance(value, dict):
        raise bad("tool_choice", f"expected a string or an object, got {type_name(value)}")
    kind = value.get("type")
    if kind == "function":
        name = value.get("name")
        if not isinstance(name, str) or name not in {t.name for t in tools}:
            raise bad("tool_choice.name", f"expected the name of a function in 'tools', got {name!r}")
        return ToolChoice("tool", name), tools
    if kind == "allowed_tools":
        mode, allowed = value.get("mode"), value.get("tools")
        if mode not in ("auto", "required") or not isinstance(allowed, list):
            raise bad("tool_choice", "allowed_tools needs 'mode' ('auto' or 'required') and a list of 'tools'")
        names = {t.get("name") for t in allowed if isinstance(t, dict) and t.get("type") == "function"}
        if len(names) != len(allowed):
            untranslatable["tool_choice.tools"] = allowed  # hosted tools among them
        narrowed = tuple(t for t in tools if t.name in names)
        return ToolChoice(mode), narrowed
    untranslatable[f"tool_choice ({kind})"] = value
    return None, tools


def _text_format(value: Any, untranslatable: dict[str, Any]) -> ResponseFormat | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("text", f"expected an object, got {type_name(value)}")
    verbosity = value.get("verbosity")
    if verbosity not in (None, "medium"):
        untranslatable["text.verbosity"] = verbosity
    fmt = value.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad("text.format", f"expected an object, got {type_name(fmt)}")
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind == "json_schema":
        schema, name = fmt.get("schema"), fmt.get("name")
        if not isinstance(schema, dict):
            raise bad("text.format.schema", "expected a JSON Schema object")
        if not isinstance(name, str) or not name:
            raise bad("text.format.name", "expected a non-empty string")
        strict = fmt.get("strict") if isinstance(fmt.get("strict"), bool) else None
        return ResponseFormat("json_schema", schema, name, strict)
    raise bad("text.format.type", f"expected 'text', 'json_object' or 'json_schema', got {kind!r}")


def _reasoning(value: Any) -> Reasoning | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("reasoning", f"expected an object, got {type_name(value)}")
    effort, summary = value.get("effort"), value.get("summary")
    if effort is not None and effort not in _EFFORTS:
        raise bad("reasoning.effort", f"expected one of {', '.join(sorted(_EFFORTS))}, got {effort!r}")
    if summary is not None and summary not in ("auto", "concise", "detailed"):
        raise bad("reasoning.summary", f"expected 'auto', 'concise' or 'detailed', got {summary!r}")
    if effort is None and summary is None:
        return None
    return Reasoning(
        effort=effort,
        enabled=False if effort == "none" else None,
        include_thoughts=True if summary is not None else None,
        summary=summary,
    )


def _instructions(body: Mapping[str, Any]) -> tuple[Message, ...]:
    value = body.get("instructions")
    if value is None:
        return ()
    if not isinstance(value, str):
        raise bad("instructions", f"expected a string, got {type_name(value)}")
    return (Message("system", (TextPart(value),)),) if value else ()


def replayable(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored items as input another Responses upstream accepts: no ids or statuses it never
    issued, no reasoning it cannot decrypt, no gateway-only fields."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "reasoning":
            continue
        if kind == "message" and item.get("role") == "assistant":
            content = item.get("content")
            texts = [p.get("text", "") for p in content if isinstance(p, dict)] if isinstance(content, list) else []
            out.append({"role": "assistant", "content": "".join(str(t) for t in texts) if texts else content})
            continue
        out.append({k: v for k, v in item.items() if k not in ("id", "status", SIGNATURE_FIELD)})
    return out


def _raw(body: dict[str, Any], history: Sequence[Mapping[str, Any]] | None, upstream_holds: bool,
         input_items: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    raw = {k: v for k, v in body.items() if k != "fallbacks"}
    if history and not upstream_holds:
        raw.pop("previous_response_id", None)
        raw["input"] = [*replayable(history), *input_items]
    return raw


def parse_request(
    body: Any,
    *,
    history: Sequence[Mapping[str, Any]] | None = None,
    upstream_holds: bool = False,
) -> ResponsesRequest:
    """``history``: the items of the referenced response (None: not held by this gateway);
    ``upstream_holds``: that response also lives at the upstream that made it."""
    body = summary_into_reasoning(require_object(body))
    model = require_model(body)
    previous = previous_id(body)
    untranslatable: dict[str, Any] = {}
    raw_input = body.get("input")
    if raw_input is None and previous is None:
        raise bad("input", "required")
    input_items = normalize_input(raw_input) if raw_input is not None else []
    if not input_items and previous is None:
        raise bad("input", "expected a string or at least one item")
    if previous is not None and history is None:
        untranslatable["previous_response_id"] = previous  # not held here: only its own upstream can continue it
    stored = list(history or ())
    messages = items_to_messages([*stored, *input_items], untranslatable, first_input=len(stored))
    tools = _tools(body.get("tools"), untranslatable)
    choice, tools = _tool_choice(body.get("tool_choice"), tools, untranslatable)
    for name in _UNTRANSLATABLE:
        if body.get(name):
            untranslatable[name] = body[name]
    if body.get("truncation") not in (None, "disabled"):
        untranslatable["truncation"] = body["truncation"]
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise bad("metadata", f"expected an object of strings, got {type_name(metadata)}")
    user = body.get("safety_identifier") or body.get("user")
    chat = ChatRequest(
        model=model,
        messages=(*_instructions(body), *messages),
        source_format=RESPONSES_FORMAT,
        stream=bool(_flag(body, "stream", False)),
        include_usage=True,
        max_tokens=_positive(body, "max_output_tokens"),
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=_flag(body, "parallel_tool_calls", None),
        response_format=_text_format(body.get("text"), untranslatable),
        reasoning=_reasoning(body.get("reasoning")),
        user=user if isinstance(user, str) else None,
        fallbacks=parse_fallbacks(body),
        raw=_raw(body, history, upstream_holds, input_items),
        untranslatable=untranslatable,
    )
    return ResponsesRequest(
        chat=chat,
        body=body,
        input_items=input_items,
        history=history or (),
        previous_response_id=previous,
        store=bool(_flag(body, "store", True)),
        metadata=metadata or {},
    )
