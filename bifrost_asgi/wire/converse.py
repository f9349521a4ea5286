"""The Bedrock Converse API's wire vocabulary: paths, stop reasons, error types and stream frames.

Shared by the Bedrock provider (which sends Converse requests and reads the answers) and any
inbound Bedrock dialect (which reads Converse requests and writes the answers), so it holds no
neutral types. ``POST /model/{modelId}/converse`` and ``/converse-stream``; ``modelId`` is a
model id, an inference-profile id or an ARN, percent-encoded whole (``:`` and ``/`` included).
A stream is event-stream framed (``wire.eventstream``): each event message carries
``:message-type: event``, ``:event-type`` (``messageStart``, ``contentBlockStart``,
``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``) and a JSON payload;
a failure is one message with ``:message-type: exception`` and ``:exception-type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from .. import _json
from .eventstream import EventMessage, encode_message

CONTENT_TYPE_STREAM = "application/vnd.amazon.eventstream"
SIGNING_SERVICE = "bedrock"

STOP_REASONS = (
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "model_context_window_exceeded",
)

STREAM_EVENTS = (
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
)

# Error types (as in ``x-amzn-errortype`` and a stream's ``:exception-type``, first letter
# lowered) -> the HTTP status Bedrock answers them with.
EXCEPTION_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "validationException": 400,
        "accessDeniedException": 403,
        "unrecognizedClientException": 403,
        "resourceNotFoundException": 404,
        "modelTimeoutException": 408,
        "throttlingException": 429,
        "serviceQuotaExceededException": 429,
        "modelNotReadyException": 429,
        "modelErrorException": 424,
        "modelStreamErrorException": 424,
        "internalServerException": 500,
        "serviceUnavailableException": 503,
    }
)


def model_path(model_id: str) -> str:
    """``modelId`` for the URL path: every reserved character percent-encoded."""
    return quote(model_id, safe="")


def converse_path(model_id: str, *, stream: bool) -> str:
    return f"/model/{model_path(model_id)}/{'converse-stream' if stream else 'converse'}"


def invoke_path(model_id: str) -> str:
    return f"/model/{model_path(model_id)}/invoke"


def normalize_error_type(value: str | None) -> str | None:
    """``ThrottlingException:http://internal.amazon.com/...`` or ``throttlingException`` ->
    ``throttlingException``."""
    if not value:
        return None
    name = value.split(":", 1)[0].strip().rsplit("#", 1)[-1]
    return (name[:1].lower() + name[1:]) or None


def status_for(error_type: str | None, default: int = 500) -> int:
    return EXCEPTION_STATUS.get(normalize_error_type(error_type) or "", default)


# --- stream frames ----------------------------------------------------------------------------


def encode_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    return encode_raw_event(event_type, _json.dumps(dict(payload)))


def encode_raw_event(event_type: str, payload: bytes) -> bytes:
    """An event message around an already encoded JSON payload (a relayed upstream frame)."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, payload)


def encode_exception(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, _json.dumps({"message": message}))


@dataclass(frozen=True, slots=True)
class ConverseFrame:
    """A decoded stream message: ``kind`` is ``event`` or ``exception``; ``type`` its event or
    exception type; ``payload`` the JSON object (``{}`` when absent or unreadable, with
    ``readable`` False)."""

    kind: str
    type: str
    payload: Mapping[str, Any]
    readable: bool = True


def frame_type(message: EventMessage) -> tuple[str, str]:
    """(``event`` | ``exception``, its event or exception type)."""
    kind = message.header(":message-type") or "event"
    name = message.header(":exception-type") if kind == "exception" else message.header(":event-type")
    return kind, name or ""


def read_frame(message: EventMessage) -> ConverseFrame:
    kind, name = frame_type(message)
    try:
        payload = _json.loads(message.payload) if message.payload else {}
    except ValueError:
        return ConverseFrame(kind, name, {}, readable=False)
    if not isinstance(payload, dict):
        return ConverseFrame(kind, name, {}, readable=False)
    payload.pop("p", None)  # padding some events carry
    return ConverseFrame(kind, name, payload)
