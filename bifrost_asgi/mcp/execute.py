"""``POST /v1/mcp/tool/execute``: an OpenAI-style tool call in, a ``role: tool`` message out
(``?format=responses``: a Responses ``function_call`` in, a ``function_call_output`` out). Pure
parsing and rendering; the gateway runs the call. A tool that fails or times out is still a 200
with the error as the result (and ``x-bifrost-tool-error: true``): the caller appends it to the
conversation like any other result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .. import _json
from ..errors import InvalidRequestError
from ..neutral import ToolCall, ToolResult

Format = Literal["chat", "responses"]
ERROR_HEADER = "x-bifrost-tool-error"


def execute_format(query: Mapping[str, str]) -> Format:
    value = query.get("format", "chat") or "chat"
    if value not in ("chat", "responses"):
        raise InvalidRequestError(f'format: expected "chat" or "responses", got {value!r}', param="format")
    return value  # type: ignore[return-value]


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{field}: expected a non-empty string", param=field)
    return value


def _arguments(value: Any, field: str) -> str:
    if value is None:
        return "{}"
    if isinstance(value, dict):
        return _json.dumps_str(value)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field}: expected the arguments as a JSON string (or an object)", param=field)
    return value


def parse_execute(payload: Any, fmt: Format) -> ToolCall:
    """The tool call of a request body, or a 400 naming the field."""
    if not isinstance(payload, dict):
        raise InvalidRequestError("request body: expected a tool call object")
    if fmt == "responses":
        kind = payload.get("type")
        if kind not in ("function_call", "function_call_output", None):
            raise InvalidRequestError(f'type: expected "function_call", got {kind!r}', param="type")
        call_id = _text(payload.get("call_id"), "call_id")
        return ToolCall(call_id, _text(payload.get("name"), "name"), _arguments(payload.get("arguments"), "arguments"))
    function = payload.get("function")
    if not isinstance(function, dict):
        raise InvalidRequestError('function: expected {"name": ..., "arguments": "..."}', param="function")
    call_id = _text(payload.get("id"), "id")
    name = _text(function.get("name"), "function.name")
    return ToolCall(call_id, name, _arguments(function.get("arguments"), "function.arguments"))


def render_execute(result: ToolResult, fmt: Format) -> tuple[bytes, dict[str, str]]:
    headers = {ERROR_HEADER: "true"} if result.is_error else {}
    if fmt == "responses":
        body: dict[str, Any] = {"type": "function_call_output", "call_id": result.call_id, "output": result.text()}
    else:
        body = {"role": "tool", "content": result.text(), "tool_call_id": result.call_id}
    return _json.dumps(body), headers
