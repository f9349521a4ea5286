"""Neutral requests -> OpenAI Chat Completions / Completions / Embeddings request bodies.

Two paths:

* **passthrough** (the client spoke OpenAI and its body is in ``request.raw``): a shallow copy
  of that body with ``model`` replaced; streams also get ``stream_options.include_usage=true``
  so the gateway can count tokens. Unknown (future) fields survive untouched (a compatible
  server's ``Compat`` may rename or drop the few fields it is known to reject).
* **translation** (any other client format): built field by field from the neutral request.
  Documented losses: reasoning parts and their signatures (Chat Completions has no field for
  them), ``top_k``, ``ToolResult.is_error``. Anything the client sent that OpenAI cannot express
  and must not be silently dropped raises ``UnsupportedFeatureError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedFeatureError
from ..neutral import (
    AudioPart,
    ChatRequest,
    EmbeddingRequest,
    FilePart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
)

# Budget-only reasoning (Anthropic/Gemini thinking budgets) -> an OpenAI effort word.
LOW_EFFORT_BELOW = 2048
MEDIUM_EFFORT_BELOW = 8192


@dataclass(frozen=True, slots=True)
class Compat:
    """How an OpenAI-compatible server departs from OpenAI itself (``None`` means OpenAI).

    Every compatible server gets ``max_tokens`` (not ``max_completion_tokens``) and no
    ``encoding_format`` for embeddings (floats always work; both answers are parsed).
    ``stream_usage=False`` stops asking for the usage chunk (servers that reject
    ``stream_options`` but send usage anyway); ``drop`` lists request fields the server
    rejects and that carry no meaning for the answer; ``rename`` maps OpenAI names to its own.
    """

    stream_usage: bool = True
    drop: frozenset[str] = frozenset()
    rename: tuple[tuple[str, str], ...] = ()


def _adapt(body: dict[str, Any], compat: Compat) -> None:
    if "max_completion_tokens" in body:  # the newer name wins, as it does at OpenAI
        body["max_tokens"] = body.pop("max_completion_tokens")
    for name in compat.drop:
        body.pop(name, None)
    for old, new in compat.rename:
        if old in body:
            value = body.pop(old)
            body.setdefault(new, value)


def _stream_options(body: dict[str, Any], compat: Compat | None) -> None:
    if compat is not None and not compat.stream_usage:
        body.pop("stream_options", None)
        return
    options = body.get("stream_options")
    body["stream_options"] = (
        {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    )


def passthrough_body(
    raw: Mapping[str, Any], model: str, *, stream: bool, compat: Compat | None = None
) -> dict[str, Any]:
    body = dict(raw)
    body["model"] = model
    if compat is not None:
        _adapt(body, compat)
    if stream:
        _stream_options(body, compat)
    return body


def _check_untranslatable(request: ChatRequest, body: dict[str, Any]) -> None:
    """Refuse what the client's dialect flagged; OpenAI-dialect top-level fields go back in as-is."""
    refused: list[str] = []
    for name, value in request.untranslatable.items():
        if request.source_format == "openai" and name.isidentifier():
            body[name] = value
        else:
            refused.append(name)
    if refused:
        raise UnsupportedFeatureError(
            f"cannot translate {', '.join(sorted(refused))} to the OpenAI Chat Completions format",
            param=refused[0],
        )


# ---------------------------------------------------------------------------------- content


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        url = f"data:{part.media_type or 'image/png'};base64,{part.data}"
    elif part.url is not None:
        url = part.url
    else:
        raise UnsupportedFeatureError("an image part has neither a URL nor inline data")
    image: dict[str, Any] = {"url": url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _file(part: FilePart) -> dict[str, Any]:
    if part.file_id is not None:
        file: dict[str, Any] = {"file_id": part.file_id}
    elif part.data is not None:
        media_type = part.media_type or "application/pdf"
        file = {"file_data": f"data:{media_type};base64,{part.data}"}
        file["filename"] = part.filename or ("document.pdf" if media_type == "application/pdf" else "document")
        return {"type": "file", "file": file}
    else:
        raise UnsupportedFeatureError("OpenAI Chat Completions cannot take a document by URL; send it inline")
    if part.filename:
        file["filename"] = part.filename
    return {"type": "file", "file": file}


def _content_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return _image(part)
    if isinstance(part, FilePart):
        return _file(part)
    if isinstance(part, AudioPart):
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
    return None  # reasoning is dropped (no Chat Completions field); calls/results are handled by role


def _content(parts: Iterable[Part]) -> str | list[dict[str, Any]]:
    converted = [c for c in map(_content_part, parts) if c is not None]
    if not converted:
        return ""
    if len(converted) == 1 and converted[0]["type"] == "text":
        text: str = converted[0]["text"]
        return text
    return converted


def _text_content(parts: Iterable[Part]) -> str | list[dict[str, Any]]:
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": t} for t in texts] if texts else ""


# ---------------------------------------------------------------------------------- messages


def _assistant(message: Message) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(
                {"id": part.id, "type": "function", "function": {"name": part.name, "arguments": part.arguments}}
            )
        elif isinstance(part, ImagePart | FilePart | AudioPart):
            raise UnsupportedFeatureError("OpenAI assistant messages can only hold text and tool calls")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    if message.name:
        out["name"] = message.name
    return out


def _tool_results(parts: Iterable[Part], carry: list[Part]) -> list[dict[str, Any]]:
    """One ``role: tool`` message per result; images/files inside results go to ``carry`` (OpenAI
    tool messages take text only) and are sent in a user message after the tool messages."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ToolResult):
            carry.extend(p for p in part.content if not isinstance(p, TextPart))
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": _text_content(part.content)})
    return out


def _flush(carry: list[Part], out: list[dict[str, Any]]) -> None:
    if carry:
        out.append({"role": "user", "content": _content(carry)})
        carry.clear()


def build_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    carry: list[Part] = []  # non-text tool-result content, waiting for the tool messages to end
    for message in messages:
        if message.role == "assistant":
            _flush(carry, out)
            out.append(_assistant(message))
            continue
        results = _tool_results(message.parts, carry)
        out.extend(results)
        if message.role == "tool":
            continue
        rest: list[Part] = [p for p in message.parts if not isinstance(p, ToolResult | ToolCall)]
        if message.role in ("system", "developer"):
            _flush(carry, out)
            entry: dict[str, Any] = {"role": message.role, "content": _text_content(rest)}
        else:
            rest = [*carry, *rest]
            carry.clear()
            if not rest and results:
                continue
            entry = {"role": "user", "content": _content(rest)}
        if message.name:
            entry["name"] = message.name
        out.append(entry)
    _flush(carry, out)
    return out


# ---------------------------------------------------------------------------------- options


def _tool(spec: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": spec.name}
    if spec.description is not None:
        function["description"] = spec.description
    function["parameters"] = spec.parameters if isinstance(spec.parameters, dict) else dict(spec.parameters)
    if spec.strict is not None:
        function["strict"] = spec.strict
    return {"type": "function", "function": function}


def tool_choice_value(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name or ""}}
    return choice.mode


def response_format_value(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response", "schema": dict(fmt.schema or {})}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def reasoning_effort(reasoning: Reasoning) -> str | None:
    if reasoning.effort:
        return reasoning.effort
    if reasoning.enabled is False or reasoning.budget_tokens is None:
        return None
    if reasoning.budget_tokens < LOW_EFFORT_BELOW:
        return "low"
    return "medium" if reasoning.budget_tokens < MEDIUM_EFFORT_BELOW else "high"


def _sampling(request: ChatRequest, body: dict[str, Any]) -> None:
    for name, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("n", request.n),
        ("seed", request.seed),
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
        ("user", request.user),
    ):
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True


def build_chat_body(request: ChatRequest, model: str, *, compat: Compat | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": build_messages(request.messages)}
    if request.max_tokens is not None:
        body["max_completion_tokens" if compat is None else "max_tokens"] = request.max_tokens
    _sampling(request, body)
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_value(request.tool_choice)
    if request.response_format is not None:
        body["response_format"] = response_format_value(request.response_format)
    if request.reasoning is not None:
        effort = reasoning_effort(request.reasoning)
        if effort is not None:
            body["reasoning_effort"] = effort
    _check_untranslatable(request, body)
    if compat is not None:
        _adapt(body, compat)
    if request.stream:
        _stream_options(body, compat)
    return body


def build_completion_body(request: ChatRequest, model: str, *, compat: Compat | None = None) -> dict[str, Any]:
    """A legacy ``/v1/completions`` body from a neutral text-completion request."""
    prompt = "\n\n".join(m.text() for m in request.messages if m.text())
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    _sampling(request, body)
    _check_untranslatable(request, body)
    if compat is not None:
        _adapt(body, compat)
    if request.stream:
        _stream_options(body, compat)
    return body


def build_embeddings_body(request: EmbeddingRequest, model: str, *, compat: Compat | None = None) -> dict[str, Any]:
    if request.source_format == "openai" and request.raw is not None:
        body = dict(request.raw)
        body["model"] = model
    else:
        body = {"model": model, "input": [i if isinstance(i, str) else list(i) for i in request.inputs]}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
    if compat is not None:
        body.pop("encoding_format", None)
        _adapt(body, compat)
    return body
