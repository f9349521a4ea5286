"""OpenAI-format upstream answers -> neutral: chat and text completions, embeddings, models, errors.

Lenient about what OpenAI-compatible servers vary on (``reasoning_content`` vs ``reasoning``,
``null`` usage fields, tool calls ending with ``finish_reason: "stop"``, FastAPI-style
``{"detail": ...}`` errors, HTML error pages) and strict about what would corrupt an answer
(a body that is not a JSON object -> ``UpstreamProtocolError``).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import UpstreamError, UpstreamProtocolError
from ..neutral import (
    ChatResponse,
    Choice,
    EmbeddingResponse,
    FinishReason,
    Message,
    ModelInfo,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
)
from .base import UpstreamResponse, json_object, retry_after_seconds

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "eos": "stop",  # some compatible servers
}

_STATUS_BY_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
}

_ERROR_SNIPPET = 300


def _int(value: Any) -> int:
    # an int, not a bool: JSON gives no other int subclass, and one type check is the cheapest
    return value if type(value) is int else 0


def finish_reason(value: Any) -> FinishReason | None:
    if value is None:
        return None
    return FINISH_REASONS.get(value, "other") if isinstance(value, str) else "other"


def parse_usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    # ``_int`` written out: this runs for every answer and every streamed usage chunk.
    get = value.get
    prompt = get("prompt_tokens")
    completion = get("completion_tokens")
    details = get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    if type(cached) is not int or not cached:
        cached = get("prompt_cache_hit_tokens")  # DeepSeek
        if type(cached) is not int:
            cached = 0
    details = get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else 0
    return Usage(
        prompt if type(prompt) is int else 0,
        completion if type(completion) is int else 0,
        cached,
        0,
        reasoning if type(reasoning) is int else 0,
    )


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else _json.dumps_str(value)


def _tool_calls(value: Any) -> list[Part]:
    calls: list[Part] = []
    if not isinstance(value, list):
        return calls
    for i, call in enumerate(value):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            continue
        call_id = call.get("id")
        calls.append(
            ToolCall(
                call_id if isinstance(call_id, str) and call_id else f"call_{i}",
                str(function.get("name") or ""),
                _arguments(function.get("arguments")),
            )
        )
    return calls


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # some servers answer with content parts
        return "".join(p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def message_parts(message: Mapping[str, Any]) -> tuple[Part, ...]:
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ReasoningPart(reasoning))
    text = _text(message.get("content"))
    if not text and isinstance(message.get("refusal"), str):
        text = message["refusal"]
    if text:
        parts.append(TextPart(text))
    parts.extend(_tool_calls(message.get("tool_calls")))
    function_call = message.get("function_call")
    if isinstance(function_call, dict) and isinstance(function_call.get("name"), str):
        name = function_call["name"]
        parts.append(ToolCall(name, name, _arguments(function_call.get("arguments"))))
    return tuple(parts)


def _choice(raw: Any, position: int) -> Choice:
    if not isinstance(raw, dict):
        return Choice(position, Message("assistant"), "other")
    index = raw.get("index")
    index = index if isinstance(index, int) else position
    if "message" in raw or "text" not in raw:
        message = raw.get("message")
        parts = message_parts(message) if isinstance(message, dict) else ()
    else:  # legacy text completion
        text = raw.get("text")
        parts = (TextPart(text),) if isinstance(text, str) and text else ()
    reason = finish_reason(raw.get("finish_reason")) or "stop"
    if reason == "stop" and any(isinstance(p, ToolCall) for p in parts):
        reason = "tool_calls"
    return Choice(index, Message("assistant", parts), reason)


def _readable_choice(choice: Any) -> bool:
    """A chat choice (``message`` with string, list or null ``content``) or a legacy one (``text``)."""
    if not isinstance(choice, dict):
        return False
    message = choice.get("message")
    if isinstance(message, dict):
        return isinstance(message.get("content"), str | list | None)
    return isinstance(choice.get("text"), str)


def _checked_answer(body: bytes, provider: str) -> tuple[dict[str, Any], list[Any]]:
    """The answer's JSON object and its choices, each readable; else a 502 naming the provider."""
    data = json_object(body, provider, "chat")
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise UpstreamProtocolError(f"{provider} answered without a 'choices' list", provider=provider)
    for index, choice in enumerate(choices):
        if not _readable_choice(choice):
            raise UpstreamProtocolError(f"{provider} answered an unreadable choices[{index}]", provider=provider)
    return data, choices


def answer_usage(body: bytes, provider: str) -> Usage | None:
    """The usage of an answer relayed to the client as it came, the answer checked as
    ``parse_chat_body`` checks it (same errors)."""
    data, _ = _checked_answer(body, provider)
    return parse_usage(data.get("usage"))


def parse_chat_body(body: bytes, model: str, provider: str, *, raw_only: bool = False) -> ChatResponse:
    """The neutral answer. ``raw_only``: the client speaks OpenAI too and gets ``raw`` verbatim, so
    the choices are not converted (only id, model, created and usage are read)."""
    data, choices = _checked_answer(body, provider)
    if raw_only:
        choices = []
    identifier = data.get("id")
    created = data.get("created")
    upstream_model = data.get("model")
    return ChatResponse(
        id=identifier if isinstance(identifier, str) else "",
        model=upstream_model if isinstance(upstream_model, str) and upstream_model else model,
        choices=tuple(_choice(c, i) for i, c in enumerate(choices)),
        usage=parse_usage(data.get("usage")),
        created=_int(created),
        raw=body,
        raw_format="openai",
    )


# ---------------------------------------------------------------------------------- embeddings


def _vector(value: Any, position: int, provider: str) -> tuple[float, ...]:
    if isinstance(value, list):
        return tuple(float(x) for x in value)
    if isinstance(value, str):
        try:
            packed = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            packed = b"\x00"  # fails the length check below
        if len(packed) % 4 == 0:
            return struct.unpack(f"<{len(packed) // 4}f", packed)
    raise UpstreamProtocolError(f"{provider} sent an unreadable embedding at data[{position}]", provider=provider)


def parse_embeddings_body(body: bytes, model: str, provider: str) -> EmbeddingResponse:
    data = json_object(body, provider, "embeddings")
    items = data.get("data")
    if not isinstance(items, list):
        raise UpstreamProtocolError(f"{provider} answered without a 'data' list", provider=provider)
    indexed: list[tuple[int, tuple[float, ...]]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise UpstreamProtocolError(f"{provider} sent a malformed embedding at data[{i}]", provider=provider)
        index = item.get("index")
        indexed.append((index if isinstance(index, int) else i, _vector(item.get("embedding"), i, provider)))
    indexed.sort(key=lambda pair: pair[0])
    usage = data.get("usage")
    prompt_tokens = _int(usage.get("prompt_tokens")) if isinstance(usage, dict) else 0
    upstream_model = data.get("model")
    return EmbeddingResponse(
        model=upstream_model if isinstance(upstream_model, str) and upstream_model else model,
        vectors=tuple(v for _, v in indexed),
        usage=Usage(input_tokens=prompt_tokens),
    )


def parse_models_body(body: bytes, provider: str) -> Sequence[ModelInfo]:
    data = json_object(body, provider, "models")
    items = data.get("data")
    if not isinstance(items, list):
        raise UpstreamProtocolError(f"{provider} answered without a 'data' list of models", provider=provider)
    return [
        ModelInfo(id=item["id"], provider=provider, created=_int(item.get("created")))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


# ---------------------------------------------------------------------------------- errors


def _detail_message(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI validation errors (vLLM, SGLang...)
        messages = [d.get("msg") for d in detail if isinstance(d, dict) and isinstance(d.get("msg"), str)]
        return "; ".join(str(m) for m in messages) or None
    return None


def _describe_non_json(response: UpstreamResponse, provider: str) -> str:
    text = response.body.decode("utf-8", errors="replace").strip()
    content_type = response.headers.get("content-type", "")
    if "html" in content_type or text[:1] == "<":
        return f"{provider} answered HTTP {response.status} with an HTML page instead of a JSON error"
    if not text:
        return f"{provider} answered HTTP {response.status} with an empty body"
    snippet = text if len(text) <= _ERROR_SNIPPET else text[:_ERROR_SNIPPET] + "..."
    return f"{provider} answered HTTP {response.status}: {snippet}"


def _error_fields(data: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None, bool]:
    """(message, type, code, param, is_openai_shape) from a decoded error body."""
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("type")
        code = error.get("code")
        param = error.get("param")
        return (
            message if isinstance(message, str) else None,
            kind if isinstance(kind, str) else None,
            str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None,
            param if isinstance(param, str) else None,
            isinstance(message, str),
        )
    if isinstance(error, str):
        return error, None, None, None, False
    message = data.get("message")
    if isinstance(message, str):
        return message, None, None, None, False
    if isinstance(message, dict):  # Mistral: {"object": "error", "message": {"detail": [...]}}
        return _detail_message(message.get("detail")), None, None, None, False
    return _detail_message(data.get("detail")), None, None, None, False


def parse_error_response(response: UpstreamResponse, provider: str) -> UpstreamError:
    message = kind = code = param = None
    is_openai = False
    try:
        data = _json.loads(response.body) if response.body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        message, kind, code, param, is_openai = _error_fields(data)
    error = UpstreamError(
        message or _describe_non_json(response, provider),
        status=response.status,
        raw_body=response.body if is_openai else None,
        raw_format="openai" if is_openai else None,
        upstream_type=kind,
        code=code,
        param=param,
        provider=provider,
        retry_after=retry_after_seconds(response.headers),
    )
    should_retry = response.headers.get("x-should-retry")
    if "insufficient_quota" in (code, kind) or should_retry == "false":
        error.retryable = False  # out of credit: retrying (here or in the SDK) cannot help
    elif should_retry == "true":
        error.retryable = True
    return error


def stream_error(error: Mapping[str, Any], raw: bytes, provider: str) -> UpstreamError:
    """An in-band ``{"error": {...}}`` stream frame."""
    message, kind, code, param, _ = _error_fields({"error": error})
    status = error.get("code") if isinstance(error.get("code"), int) else None
    if status is None or not 400 <= status <= 599:
        status = _STATUS_BY_TYPE.get(kind or "", 500)
    return UpstreamError(
        message or f"{provider} reported an error mid-stream",
        status=status,
        raw_body=raw,
        raw_format="openai",
        upstream_type=kind,
        code=code,
        param=param,
        provider=provider,
    )
