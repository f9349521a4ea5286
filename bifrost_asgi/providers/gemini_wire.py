"""Reading Gemini answers: parts, finish reasons, usage and errors (shared by the batch and
stream parsers). Gemini omits zero-valued fields (proto3 JSON), so every count defaults to 0."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import UpstreamError
from ..neutral import FilePart, FinishReason, ImagePart, Part, ReasoningPart, TextPart, ToolCall, Usage

_SYNTHETIC_ID = re.compile(r"call_[0-9a-f]{24}")
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_CONTENT_FILTER = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
    | {"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER"}
)


def synthesise_call_id(seed: str, choice: int, index: int, name: str, args: str) -> str:
    """Gemini usually sends no call id; this one is stable for the same answer (the response id
    is part of the seed, so calls in different turns differ)."""
    digest = hashlib.sha256(f"{seed}\x00{choice}\x00{index}\x00{name}\x00{args}".encode()).hexdigest()
    return "call_" + digest[:24]


def is_synthetic_id(call_id: str) -> bool:
    return _SYNTHETIC_ID.fullmatch(call_id) is not None


def is_gemini3(model: str) -> bool:
    match = _GEMINI_MAJOR.search(model)
    return match is not None and int(match.group(1)) >= 3


def response_id(body: Mapping[str, Any], data: bytes | str) -> str:
    value = body.get("responseId")
    if isinstance(value, str) and value:
        return value
    raw = data.encode() if isinstance(data, str) else data
    return "gemini-" + hashlib.sha256(raw).hexdigest()[:24]


def count(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def finish_reason(value: Any, has_tool_calls: bool) -> FinishReason | None:
    if not isinstance(value, str) or not value:
        return None
    if value == "STOP":
        return "tool_calls" if has_tool_calls else "stop"
    if value == "MAX_TOKENS":
        return "length"
    if value in _CONTENT_FILTER:
        return "content_filter"
    return "other"  # MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, OTHER, LANGUAGE, NO_IMAGE...


def parse_usage(metadata: Any) -> Usage | None:
    """``promptTokenCount`` includes cached tokens; tool-use prompt tokens are input too; output is
    ``candidatesTokenCount + thoughtsTokenCount`` (Gemini counts thoughts separately)."""
    if not isinstance(metadata, Mapping):
        return None
    thoughts = count(metadata, "thoughtsTokenCount")
    return Usage(
        input_tokens=count(metadata, "promptTokenCount") + count(metadata, "toolUsePromptTokenCount"),
        output_tokens=count(metadata, "candidatesTokenCount") + thoughts,
        cached_input_tokens=count(metadata, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def part_signature(part: Mapping[str, Any]) -> str | None:
    signature = part.get("thoughtSignature")
    return signature if isinstance(signature, str) and signature else None


def function_call(part: Mapping[str, Any]) -> tuple[str | None, str, str] | None:
    """(id, name, args JSON) of a ``functionCall`` part, or ``None``."""
    call = part.get("functionCall")
    if not isinstance(call, Mapping):
        return None
    args = call.get("args")
    call_id = call.get("id")
    return (
        call_id if isinstance(call_id, str) and call_id else None,
        str(call.get("name", "")),
        _json.dumps_str(args if isinstance(args, Mapping) else {}),
    )


def candidate_parts(parts: Any, seed: str, choice: int) -> tuple[Part, ...]:
    out: list[Part] = []
    tool_index = 0
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Mapping):
            continue
        call = function_call(part)
        if call is not None:
            call_id, name, args = call
            call_id = call_id or synthesise_call_id(seed, choice, tool_index, name, args)
            out.append(ToolCall(id=call_id, name=name, arguments=args, signature=part_signature(part)))
            tool_index += 1
            continue
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                out.append(ReasoningPart(text=text, signature=part_signature(part)))
            elif out and isinstance(out[-1], TextPart):
                out[-1] = TextPart(out[-1].text + text)
            elif text:
                out.append(TextPart(text))
            continue
        inline = part.get("inlineData")
        if isinstance(inline, Mapping) and isinstance(inline.get("data"), str):
            mime = str(inline.get("mimeType", "application/octet-stream"))
            data = inline["data"]
            out.append(ImagePart(data=data, media_type=mime) if mime.startswith("image/") else FilePart(data, mime))
    return tuple(out)


def retry_delay(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``)."""
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def error_reason(details: Any) -> str | None:
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
            return str(detail["reason"])
    return None


def error_from_body(
    body: Any, *, status: int, raw_body: bytes, provider: str, retry_after: float | None = None
) -> UpstreamError | None:
    """``{"error": {"code", "message", "status", "details"}}`` (or a one-item list of it, as the
    non-SSE stream endpoint sends) -> ``UpstreamError``. A bad key is a 400 at Google; it becomes
    an authentication failure (401) for the gateway and clients of other formats."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
        status = code
    details = error.get("details")
    reason = error_reason(details)
    status_name = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    kind = None
    if reason == "API_KEY_INVALID":
        status, kind = 401, "authentication"
    delay = retry_delay(details)
    return UpstreamError(
        message or f"{provider} returned HTTP {status}" + (f" {status_name}" if status_name else ""),
        status=status,
        kind=kind,
        raw_body=raw_body,
        raw_format="gemini",
        upstream_type=status_name,
        code=reason or status_name,
        retry_after=retry_after if retry_after is not None else delay,
        provider=provider,
    )
