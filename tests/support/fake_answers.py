"""The fake vendor's answers: pure builders of OpenAI, Anthropic and Gemini responses.

Split out of :mod:`tests.support.fake_provider` (which re-exports the public names): constants,
the deterministic answer texts, vendor error bodies and the per-vendor response/SSE frame builders.
Nothing here touches a socket; :class:`Planned` is what the server in ``fake_provider`` sends.

Answers are deterministic: text ``"{vendor} says: {last user text}"``, usage 11 in / 7 out, tool
calls to the first declared tool with ``{"city": "Paris"}``, ``"{vendor} got tool result: {text}"``
after a tool result.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------- constants

FAKE_PROMPT_TOKENS = 11
FAKE_COMPLETION_TOKENS = 7
FAKE_TOTAL_TOKENS = FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS
FAKE_CREATED = 1700000000
FAKE_TOOL_ARGS: Mapping[str, Any] = {"city": "Paris"}
FAKE_OPENAI_TOOL_CALL_ID = "call_fake_1"
FAKE_ANTHROPIC_TOOL_USE_ID = "toolu_fake_1"
FAKE_THOUGHT_SIGNATURE = "c2lnMQ=="  # base64 of b"sig1"
FAKE_OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
FAKE_ANTHROPIC_MODELS = ("claude-haiku-4-5", "claude-opus-4-7")
FAKE_GEMINI_MODELS = ("gemini-2.5-flash", "gemini-3-pro-preview", "text-embedding-004")
# Tool-call arguments as streamed: the pieces concatenate to '{"city": "Paris"}'.
FAKE_TOOL_ARG_PIECES = ('{"city":', ' "Paris"', "}")


def fake_text(vendor: str, user_text: str) -> str:
    """The default answer text, e.g. ``fake_text("openai", "hello") == "openai says: hello"``."""
    return f"{vendor} says: {user_text}"


def fake_tool_result_text(vendor: str, result: str) -> str:
    return f"{vendor} got tool result: {result}"


def fake_embedding(index: int, dimensions: int = 3) -> list[float]:
    """The vector for input ``index``: exact in float32, so base64 round-trips compare equal."""
    values = [0.5, -0.25, float(index)]
    return (values + [0.0] * dimensions)[:dimensions]


def split_text(text: str) -> list[str]:
    """How streams split a text: one piece per word (leading spaces kept); joins back exactly."""
    pieces = re.findall(r"\s*\S+\s*$|\s*\S+", text)
    return pieces if pieces and "".join(pieces) == text else [text]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- error bodies

_OPENAI_ERRORS = {401: ("invalid_request_error", "invalid_api_key"), 404: ("invalid_request_error", "model_not_found"),
                  429: ("requests", "rate_limit_exceeded")}
_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                     403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                     429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                  501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_OVERLOADED_STATUS = {"openai": 503, "anthropic": 529, "gemini": 503, "bedrock": 503, "vertex": 503, "cohere": 503}


def openai_error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind, code = _OPENAI_ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    text = message or f"fake openai error {status}"
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


def anthropic_error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    text = message or f"fake anthropic error {status}"
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_fake"}


def gemini_error_body(
    status: int, message: str | None = None, *, reason: str | None = None, retry_delay: str | None = None
) -> dict[str, Any]:
    """Gemini's error JSON; ``reason`` adds an ErrorInfo (e.g. API_KEY_INVALID), ``retry_delay`` a
    RetryInfo (e.g. ``"2s"``)."""
    details: list[dict[str, Any]] = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}})
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": status, "message": message or f"fake gemini error {status}",
                             "status": _GEMINI_STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


def error_body(vendor: str, status: int, message: str | None = None, *, reason: str | None = None) -> dict[str, Any]:
    if vendor == "anthropic":
        return anthropic_error_body(status, message)
    if vendor in ("gemini", "vertex"):
        return gemini_error_body(status, message, reason=reason)
    if vendor in ("bedrock", "cohere"):  # Bedrock's type goes in the x-amzn-errortype header
        return {"message": message or f"fake bedrock error {status}"}
    return openai_error_body(status, message)


# --------------------------------------------------------------------------- planned responses


class Invalid(Exception):
    """The request is bad; the fake answers with the vendor's error JSON."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class Planned:
    """A response before it is sent: one frame per chunk when streaming, else one body."""

    status: int
    headers: dict[str, str]
    frames: list[bytes]
    streaming: bool
    inband_error: bytes | None = None


@dataclass(frozen=True)
class Ctx:
    seq: int
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    raw_body: bytes
    gemini_sep: str


def _id_headers(vendor: str, seq: int) -> dict[str, str]:
    if vendor == "openai":
        return {"x-request-id": f"req_fake_{seq}"}
    if vendor == "anthropic":
        return {"request-id": f"req_fake_{seq}"}
    return {}


def _json_reply(vendor: str, seq: int, value: Any, status: int = 200) -> Planned:
    headers = {"content-type": "application/json", **_id_headers(vendor, seq)}
    return Planned(status, headers, [dumps(value).encode()], streaming=False)


def _sse_reply(vendor: str, seq: int, frames: list[str], error_frame: str) -> Planned:
    headers = {"content-type": "text/event-stream", "cache-control": "no-cache", **_id_headers(vendor, seq)}
    return Planned(200, headers, [f.encode() for f in frames], streaming=True, inband_error=error_frame.encode())


def status_reply(vendor: str, code: int, body: Any, headers: Mapping[str, str], seq: int) -> Planned:
    if body is None:
        body = error_body(vendor, code)
    if isinstance(body, (bytes, str)):
        raw = body.encode() if isinstance(body, str) else body
        content_type = "application/json" if raw.lstrip().startswith((b"{", b"[")) else "text/plain"
    else:
        raw, content_type = dumps(body).encode(), "application/json"
    merged = {"content-type": content_type, **_id_headers(vendor, seq)}
    merged.update({k.lower(): v for k, v in headers.items()})
    return Planned(code, merged, [raw], streaming=False)


def with_inband_error(planned: Planned, vendor: str, after_chunks: int, seq: int) -> Planned:
    """Cut a stream after ``after_chunks`` frames and append the vendor's in-band error event."""
    if not planned.streaming:
        return status_reply(vendor, _OVERLOADED_STATUS[vendor], None, {}, seq)
    error = planned.inband_error or _inband_error(vendor, "\n\n").encode()
    return Planned(planned.status, planned.headers, [*planned.frames[:after_chunks], error], streaming=True)


def _inband_error(vendor: str, sep: str) -> str:
    if vendor == "anthropic":
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return f"event: error\ndata: {dumps(body)}\n\n"
    if vendor == "gemini":
        body = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
        return f"data: {dumps(body)}{sep}"
    body = {"error": {"message": "The server had an error while processing your request.",
                      "type": "server_error", "param": None, "code": None}}
    return f"data: {dumps(body)}\n\n"


@dataclass(frozen=True)
class _Answer:
    """What the fake model 'says': a text, or a call to ``tool``."""

    text: str = ""
    tool: str | None = None


def answer(vendor: str, ctx: Ctx) -> Planned:
    if vendor == "anthropic":
        return _anthropic(ctx)
    if vendor == "gemini":
        return _gemini(ctx)
    return _openai(ctx)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(400, f"{where}: expected a JSON object")
    return value


def _nonempty_list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise Invalid(400, f"{key}: expected a non-empty list")
    return value


def _text_of(content: Any, kinds: tuple[str, ...] = ("text",)) -> str:
    """Text of an OpenAI/Anthropic ``content`` (a string or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in kinds)
    return ""


# --------------------------------------------------------------------------- OpenAI


def _openai(ctx: Ctx) -> Planned:
    if not ctx.headers.get("authorization", "").startswith("Bearer ") or ctx.headers["authorization"] == "Bearer ":
        raise Invalid(401, "You didn't provide an API key (Authorization: Bearer ...).")
    path = ctx.path.rstrip("/")
    if ctx.method == "GET":
        match = re.search(r"/models(?:/([^/]+))?$", path)
        if match is None:
            raise Invalid(404, f"Unknown request URL: GET {ctx.path}")
        models = [{"id": m, "object": "model", "created": FAKE_CREATED, "owned_by": "system"}
                  for m in FAKE_OPENAI_MODELS]
        if match.group(1) is None:
            return _json_reply("openai", ctx.seq, {"object": "list", "data": models})
        found = next((m for m in models if m["id"] == match.group(1)), None)
        if found is None:
            raise Invalid(404, f"The model '{match.group(1)}' does not exist")
        return _json_reply("openai", ctx.seq, found)
    body = _obj(ctx.body, "body")
    if not isinstance(body.get("model"), str):
        raise Invalid(400, "model: you must provide a model parameter")
    if "stream_options" in body and body.get("stream") is not True:
        raise Invalid(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    if path.endswith("/chat/completions"):
        return _openai_chat(ctx, body)
    if path.endswith("/responses"):
        from tests.support.fake_responses import responses_answer  # it builds on this module

        return responses_answer(ctx, body)
    if path.endswith("/completions"):
        return _openai_legacy(ctx, body)
    if path.endswith("/embeddings"):
        return _openai_embeddings(ctx, body)
    raise Invalid(404, f"Unknown request URL: POST {ctx.path}")


def _openai_decide(body: Mapping[str, Any]) -> _Answer:
    messages = _nonempty_list(body, "messages")
    last = _obj(messages[-1], f"messages[{len(messages) - 1}]")
    if last.get("role") == "tool":
        return _Answer(text=fake_tool_result_text("openai", _text_of(last.get("content"))))
    tools = body.get("tools") or []
    if tools and last.get("role") == "user" and body.get("tool_choice") != "none":
        first = _obj(tools[0], "tools[0]")
        spec = first.get("function") or first.get("custom") or first
        return _Answer(tool=str(spec.get("name", "tool")))
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _Answer(text=fake_text("openai", _text_of(users[-1].get("content")) if users else ""))


def _openai_usage() -> dict[str, Any]:
    return {"prompt_tokens": FAKE_PROMPT_TOKENS, "completion_tokens": FAKE_COMPLETION_TOKENS,
            "total_tokens": FAKE_TOTAL_TOKENS,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _openai_tool_call(name: str, arguments: str, *, first: bool = True) -> dict[str, Any]:
    if not first:
        return {"index": 0, "function": {"arguments": arguments}}
    return {"index": 0, "id": FAKE_OPENAI_TOOL_CALL_ID, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def _openai_chat(ctx: Ctx, body: Mapping[str, Any]) -> Planned:
    said = _openai_decide(body)
    model = str(body["model"])
    base = {"id": f"chatcmpl-fake-{ctx.seq}", "object": "chat.completion", "created": FAKE_CREATED, "model": model,
            "system_fingerprint": "fp_fake"}
    finish = "tool_calls" if said.tool else "stop"
    if body.get("stream") is not True:
        message: dict[str, Any] = {"role": "assistant", "content": None if said.tool else said.text,
                                   "refusal": None, "annotations": []}
        if said.tool:
            call = _openai_tool_call(said.tool, dumps(FAKE_TOOL_ARGS).replace(":", ": "))
            del call["index"]
            message["tool_calls"] = [call]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        response = {**base, "service_tier": "default", "choices": [choice],
                    "usage": _openai_usage()}
        return _json_reply("openai", ctx.seq, response)
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        data: dict[str, Any] = {**base, "object": "chat.completion.chunk",
                                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish_reason}]}
        if with_usage:
            data["usage"] = None
        return f"data: {dumps(data)}\n\n"

    if said.tool:
        first = _openai_tool_call(said.tool, "")
        frames = [chunk({"role": "assistant", "content": None, "tool_calls": [first], "refusal": None})]
        frames += [chunk({"tool_calls": [_openai_tool_call(said.tool, p, first=False)]}) for p in FAKE_TOOL_ARG_PIECES]
    else:
        frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
        frames += [chunk({"content": piece}) for piece in split_text(said.text)]
    frames.append(chunk({}, finish))
    if with_usage:
        usage_chunk = {**base, "object": "chat.completion.chunk", "choices": [], "usage": _openai_usage()}
        frames.append(f"data: {dumps(usage_chunk)}\n\n")
    frames.append("data: [DONE]\n\n")
    return _sse_reply("openai", ctx.seq, frames, _inband_error("openai", "\n\n"))


def _openai_legacy(ctx: Ctx, body: Mapping[str, Any]) -> Planned:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt and isinstance(prompt[0], str) else ""
    text = fake_text("openai", str(prompt))
    base = {"id": f"cmpl-fake-{ctx.seq}", "object": "text_completion", "created": FAKE_CREATED,
            "model": str(body["model"]), "system_fingerprint": "fp_fake"}
    usage = {"prompt_tokens": FAKE_PROMPT_TOKENS, "completion_tokens": FAKE_COMPLETION_TOKENS,
             "total_tokens": FAKE_TOTAL_TOKENS}
    if body.get("stream") is not True:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return _json_reply("openai", ctx.seq, {**base, "choices": [choice], "usage": usage})
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    frames = []
    for piece, finish in [*((p, None) for p in split_text(text)), ("", "stop")]:
        data: dict[str, Any] = {**base, "choices": [{"text": piece, "index": 0, "logprobs": None,
                                                     "finish_reason": finish}]}
        if with_usage:
            data["usage"] = None
        frames.append(f"data: {dumps(data)}\n\n")
    if with_usage:
        frames.append(f"data: {dumps({**base, 'choices': [], 'usage': usage})}\n\n")
    frames.append("data: [DONE]\n\n")
    return _sse_reply("openai", ctx.seq, frames, _inband_error("openai", "\n\n"))


def _openai_embeddings(ctx: Ctx, body: Mapping[str, Any]) -> Planned:
    given = body.get("input")
    if isinstance(given, str) or (isinstance(given, list) and given and isinstance(given[0], int)):
        count = 1
    elif isinstance(given, list) and given:
        count = len(given)
    else:
        raise Invalid(400, "input: expected a non-empty string or list")
    dimensions = body.get("dimensions")
    dims = dimensions if isinstance(dimensions, int) else 3
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index in range(count):
        vector = fake_embedding(index, dims)
        value: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    response = {"object": "list", "model": str(body["model"]), "data": data,
                "usage": {"prompt_tokens": FAKE_PROMPT_TOKENS, "total_tokens": FAKE_PROMPT_TOKENS}}
    return _json_reply("openai", ctx.seq, response)


# --------------------------------------------------------------------------- Anthropic


def _anthropic(ctx: Ctx) -> Planned:
    key = ctx.headers.get("x-api-key") or ctx.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not key:
        raise Invalid(401, "x-api-key header is required")
    version = ctx.headers.get("anthropic-version")
    if not version:
        raise Invalid(400, "anthropic-version: header is required")
    path = ctx.path.rstrip("/")
    if ctx.method == "GET":
        return _anthropic_models(ctx, path)
    body = _obj(ctx.body, "body")
    if not isinstance(body.get("model"), str):
        raise Invalid(400, "model: Field required")
    _anthropic_validate(body, version)
    if path.endswith("/v1/messages/count_tokens"):
        return _json_reply("anthropic", ctx.seq, {"input_tokens": FAKE_PROMPT_TOKENS})
    if path.endswith("/v1/messages"):
        if not isinstance(body.get("max_tokens"), int):
            raise Invalid(400, "max_tokens: Field required")
        return _anthropic_messages(ctx, body)
    raise Invalid(404, f"Not found: POST {ctx.path}")


def _anthropic_models(ctx: Ctx, path: str) -> Planned:
    match = re.search(r"/v1/models(?:/([^/]+))?$", path)
    if match is None:
        raise Invalid(404, f"Not found: GET {ctx.path}")
    models = [{"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
               "created_at": "2025-01-01T00:00:00Z"} for m in FAKE_ANTHROPIC_MODELS]
    if match.group(1) is None:
        page = {"data": models, "has_more": False, "first_id": models[0]["id"], "last_id": models[-1]["id"]}
        return _json_reply("anthropic", ctx.seq, page)
    found = next((m for m in models if m["id"] == match.group(1)), None)
    if found is None:
        raise Invalid(404, f"model: {match.group(1)}")
    return _json_reply("anthropic", ctx.seq, found)


def _cache_marks(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every ``cache_control`` in a Messages body, with where it is."""
    found: list[tuple[str, Any]] = []

    def visit(blocks: Any, where: str) -> None:
        for j, block in enumerate(blocks if isinstance(blocks, list) else []):
            if isinstance(block, dict):
                if block.get("cache_control") is not None:
                    found.append((f"{where}.{j}", block["cache_control"]))
                visit(block.get("content"), f"{where}.{j}.content")

    visit(body.get("system"), "system")
    visit(body.get("tools"), "tools")
    for i, message in enumerate(body.get("messages") or []):
        visit(message.get("content") if isinstance(message, dict) else None, f"messages.{i}.content")
    return found


def _anthropic_validate_cache(body: Mapping[str, Any]) -> None:
    marks = _cache_marks(body)
    for where, mark in marks:
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral" or set(mark) - {"type", "ttl"}:
            raise Invalid(400, f"{where}.cache_control: Input tag does not match the expected tag 'ephemeral'")
        if mark.get("ttl", "5m") not in ("5m", "1h"):
            raise Invalid(400, f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    if len(marks) > 4:
        raise Invalid(400, f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}.")


def _anthropic_validate(body: Mapping[str, Any], version: str) -> None:
    _anthropic_validate_cache(body)
    if version >= "2026-10-21":
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                raise Invalid(400, f"{name}: Extra inputs are not permitted (anthropic-version {version})")
    for i, message in enumerate(_nonempty_list(body, "messages")):
        content = _obj(message, f"messages[{i}]").get("content")
        for j, block in enumerate(content if isinstance(content, list) else []):
            where = f"messages.{i}.content.{j}"
            block = _obj(block, where)
            if block.get("type") == "text" and not block.get("text"):
                raise Invalid(400, f"{where}: text content blocks must be non-empty")
            ident = block.get("id") if block.get("type") == "tool_use" else block.get("tool_use_id")
            if block.get("type") in ("tool_use", "tool_result") and not re.fullmatch(r"[a-zA-Z0-9_-]+", str(ident)):
                raise Invalid(400, f"{where}: String should match pattern '^[a-zA-Z0-9_-]+$'")


def _anthropic_decide(body: Mapping[str, Any]) -> _Answer:
    messages = body["messages"]
    last = messages[-1]
    content = last.get("content")
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(
        content, list) else []
    if last.get("role") == "user" and results:
        texts = " ".join(_text_of(r.get("content")) for r in results)
        return _Answer(text=fake_tool_result_text("anthropic", texts))
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if tools and last.get("role") == "user" and choice.get("type") != "none":
        return _Answer(tool=str(_obj(tools[0], "tools.0").get("name", "tool")))
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _Answer(text=fake_text("anthropic", _text_of(users[-1].get("content")) if users else ""))


def _anthropic_messages(ctx: Ctx, body: Mapping[str, Any]) -> Planned:
    said = _anthropic_decide(body)
    model = str(body["model"])
    stop = "tool_use" if said.tool else "end_turn"
    block: dict[str, Any] = (
        {"type": "tool_use", "id": FAKE_ANTHROPIC_TOOL_USE_ID, "name": said.tool, "input": dict(FAKE_TOOL_ARGS)}
        if said.tool else {"type": "text", "text": said.text}
    )
    usage = {"input_tokens": FAKE_PROMPT_TOKENS, "output_tokens": FAKE_COMPLETION_TOKENS,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "standard"}
    message = {"id": f"msg_fake_{ctx.seq}", "type": "message", "role": "assistant", "model": model,
               "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage}
    if body.get("stream") is not True:
        return _json_reply("anthropic", ctx.seq, message)

    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {dumps({'type': name, **data})}\n\n"

    start_usage = {**usage, "output_tokens": 1}
    frames = [event("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                                  "usage": start_usage}})]
    if said.tool:
        frames.append(event("content_block_start", {"index": 0, "content_block": {**block, "input": {}}}))
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ("", *FAKE_TOOL_ARG_PIECES)]
    else:
        frames.append(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        deltas = [{"type": "text_delta", "text": p} for p in split_text(said.text)]
    frames.append(event("ping", {}))
    frames += [event("content_block_delta", {"index": 0, "delta": d}) for d in deltas]
    frames.append(event("content_block_stop", {"index": 0}))
    frames.append(event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": {"output_tokens": FAKE_COMPLETION_TOKENS}}))
    frames.append(event("message_stop", {}))
    return _sse_reply("anthropic", ctx.seq, frames, _inband_error("anthropic", "\n\n"))


# --------------------------------------------------------------------------- Gemini

_GEMINI_POST = re.compile(r"/(?:v1|v1beta|v1alpha)/(?:models|tunedModels)/([^/:]+):(\w+)$")
_GEMINI_GET = re.compile(r"/(?:v1|v1beta|v1alpha)/models(?:/([^/:]+))?$")


def _g(obj: Mapping[str, Any], camel: str) -> Any:
    """A Gemini field by camelCase or snake_case name."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), camel))


def _gemini(ctx: Ctx) -> Planned:
    key = ctx.headers.get("x-goog-api-key") or ctx.query.get("key") or ctx.headers.get("authorization", "")
    if not key.strip():
        raise Invalid(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
    if ctx.method == "GET":
        return _gemini_models(ctx)
    match = _GEMINI_POST.search(ctx.path)
    if match is None:
        raise Invalid(404, f"Not found: POST {ctx.path}")
    model, method = match.groups()
    body = _obj(ctx.body, "body")
    if method in ("generateContent", "streamGenerateContent"):
        return _gemini_generate(ctx, body, model, stream=method == "streamGenerateContent")
    if method == "countTokens":
        details = [{"modality": "TEXT", "tokenCount": FAKE_PROMPT_TOKENS}]
        return _json_reply("gemini", ctx.seq, {"totalTokens": FAKE_PROMPT_TOKENS, "promptTokensDetails": details})
    if method == "embedContent":
        dims = _g(body, "outputDimensionality") or 3
        return _json_reply("gemini", ctx.seq, {"embedding": {"values": fake_embedding(0, int(dims))}})
    if method == "batchEmbedContents":
        requests = _nonempty_list(body, "requests")
        vectors = [{"values": fake_embedding(i, int(_g(_obj(r, f"requests[{i}]"), "outputDimensionality") or 3))}
                   for i, r in enumerate(requests)]
        return _json_reply("gemini", ctx.seq, {"embeddings": vectors})
    raise Invalid(404, f"Method not found: {method}")


def _gemini_models(ctx: Ctx) -> Planned:
    match = _GEMINI_GET.search(ctx.path.rstrip("/"))
    if match is None:
        raise Invalid(404, f"Not found: GET {ctx.path}")
    models = [{"name": f"models/{m}", "version": "001", "displayName": m, "description": "fake",
               "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
               "supportedGenerationMethods": ["generateContent", "countTokens"]} for m in FAKE_GEMINI_MODELS]
    if match.group(1) is None:
        return _json_reply("gemini", ctx.seq, {"models": models})
    found = next((m for m in models if m["name"] == f"models/{match.group(1)}"), None)
    if found is None:
        raise Invalid(404, f"models/{match.group(1)} is not found")
    return _json_reply("gemini", ctx.seq, found)


def _gemini_decide(body: Mapping[str, Any], model: str) -> _Answer:
    contents = _nonempty_list(body, "contents")
    for i, content in enumerate(contents):
        parts = _obj(content, f"contents[{i}]").get("parts") or []
        if not parts:  # as Gemini answers it
            raise Invalid(400, f"contents[{i}].parts: must not be empty")
        calls = [p for p in parts if isinstance(p, dict) and _g(p, "functionCall") is not None]
        if model.startswith("gemini-3") and calls and not _g(calls[0], "thoughtSignature"):
            raise Invalid(400, f"Function call is missing a thought_signature in functionCall parts (contents[{i}])")
    last_parts = [p for p in (contents[-1].get("parts") or []) if isinstance(p, dict)]
    responses = [_g(p, "functionResponse") for p in last_parts if _g(p, "functionResponse") is not None]
    if responses:
        return _Answer(text=fake_tool_result_text("gemini", " ".join(_gemini_result_text(r) for r in responses)))
    declarations = [d for tool in body.get("tools") or [] for d in (_g(tool, "functionDeclarations") or [])]
    mode = _g(_g(body.get("toolConfig") or body.get("tool_config") or {}, "functionCallingConfig") or {}, "mode")
    if declarations and contents[-1].get("role", "user") == "user" and mode != "NONE":
        return _Answer(tool=str(declarations[0].get("name", "tool")))
    users = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    last_user = (users[-1].get("parts") or []) if users else []
    text = " ".join(str(p["text"]) for p in last_user if isinstance(p, dict) and "text" in p)
    return _Answer(text=fake_text("gemini", text))


def _gemini_result_text(function_response: Any) -> str:
    response = function_response.get("response") if isinstance(function_response, dict) else None
    if not isinstance(response, dict):
        raise Invalid(400, "functionResponse.response: expected a JSON object")
    output = response.get("output", response)
    return output if isinstance(output, str) else dumps(output)


def _gemini_generate(ctx: Ctx, body: Mapping[str, Any], model: str, *, stream: bool) -> Planned:
    said = _gemini_decide(body, model)
    final_usage = {"promptTokenCount": FAKE_PROMPT_TOKENS, "candidatesTokenCount": FAKE_COMPLETION_TOKENS,
                   "totalTokenCount": FAKE_TOTAL_TOKENS}

    def response(parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        usage = final_usage if last else {"promptTokenCount": FAKE_PROMPT_TOKENS, "totalTokenCount": FAKE_PROMPT_TOKENS}
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                "responseId": f"fake-response-{ctx.seq}"}

    if said.tool:
        call = {"functionCall": {"name": said.tool, "args": dict(FAKE_TOOL_ARGS)},
                "thoughtSignature": FAKE_THOUGHT_SIGNATURE}
        chunks = [response([call], last=True)]
    else:
        pieces = split_text(said.text)
        chunks = [response([{"text": p}], last=i == len(pieces) - 1) for i, p in enumerate(pieces)]
    if not stream:
        return _json_reply("gemini", ctx.seq, response([{"text": said.text}] if not said.tool else chunks[0][
            "candidates"][0]["content"]["parts"], last=True))
    if ctx.query.get("alt") == "sse":
        frames = [f"data: {dumps(c)}{ctx.gemini_sep}" for c in chunks]
        return _sse_reply("gemini", ctx.seq, frames, _inband_error("gemini", ctx.gemini_sep))
    frames = [("[" if i == 0 else ",\r\n") + dumps(c) for i, c in enumerate(chunks)] + ["]"]
    headers = {"content-type": "application/json"}
    error = ",\r\n" + dumps({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    return Planned(200, headers, [f.encode() for f in frames], streaming=True, inband_error=(error + "]").encode())
