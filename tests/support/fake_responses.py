"""The fake OpenAI vendor's ``POST /v1/responses`` (the Responses API), whole and streamed.

Same deterministic answers as the chat endpoint: after a ``function_call_output`` item
``"openai got tool result: {output}"``; with function tools and a user turn last, a call to the
first function tool with ``{"city": "Paris"}``; else ``"openai says: {last user text}"``. The
fake keeps no state: ``previous_response_id`` is echoed back, never looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.fake_answers import (
    FAKE_COMPLETION_TOKENS,
    FAKE_CREATED,
    FAKE_OPENAI_TOOL_CALL_ID,
    FAKE_PROMPT_TOKENS,
    FAKE_TOOL_ARG_PIECES,
    FAKE_TOTAL_TOKENS,
    Ctx,
    Invalid,
    Planned,
    dumps,
    fake_text,
    fake_tool_result_text,
    split_text,
)
from tests.support.fake_answers import _json_reply as json_reply
from tests.support.fake_answers import _sse_reply as sse_reply


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return ""


def _decide(body: Mapping[str, Any]) -> tuple[str, str | None]:
    """(text, tool name or None)."""
    given = body.get("input")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given
    if not isinstance(items, list) or not items:
        raise Invalid(400, "input: expected a string or a non-empty list of items")
    last = items[-1]
    if not isinstance(last, dict):
        raise Invalid(400, f"input[{len(items) - 1}]: expected an object")
    if last.get("type") == "function_call_output":
        return fake_tool_result_text("openai", _text_of(last.get("output"))), None
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if tools and last.get("role") == "user" and body.get("tool_choice") != "none":
        return "", str(tools[0].get("name"))
    users = [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
    return fake_text("openai", _text_of(users[-1].get("content")) if users else ""), None


def _usage() -> dict[str, Any]:
    return {"input_tokens": FAKE_PROMPT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": FAKE_COMPLETION_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": FAKE_TOTAL_TOKENS}  # fmt: skip


def _items(seq: int, text: str, tool: str | None, arguments: str) -> list[dict[str, Any]]:
    if tool:
        return [{"id": f"fc_fake_{seq}", "type": "function_call", "status": "completed",
                 "call_id": FAKE_OPENAI_TOOL_CALL_ID, "name": tool, "arguments": arguments}]  # fmt: skip
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return [{"id": f"msg_fake_{seq}", "type": "message", "status": "completed", "role": "assistant",
             "content": [part]}]  # fmt: skip


def _response(ctx: Ctx, body: Mapping[str, Any], status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"resp_fake_{ctx.seq}", "object": "response", "created_at": FAKE_CREATED, "status": status,
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "model": str(body["model"]), "output": output, "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"), "store": body.get("store", True),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "usage": _usage() if status == "completed" else None, "metadata": body.get("metadata") or {}}  # fmt: skip


def responses_answer(ctx: Ctx, body: Mapping[str, Any]) -> Planned:
    text, tool = _decide(body)
    arguments = "".join(FAKE_TOOL_ARG_PIECES)
    final = _response(ctx, body, "completed", _items(ctx.seq, text, tool, arguments))
    if body.get("stream") is not True:
        return json_reply("openai", ctx.seq, final)
    frames: list[str] = []

    def event(kind: str, **payload: Any) -> None:
        data = {"type": kind, "sequence_number": len(frames), **payload}
        frames.append(f"event: {kind}\ndata: {dumps(data)}\n\n")

    started = _response(ctx, body, "in_progress", [])
    event("response.created", response=started)
    event("response.in_progress", response=started)
    item = final["output"][0]
    where = {"item_id": item["id"], "output_index": 0}
    if tool:
        event("response.output_item.added", output_index=0, item={**item, "arguments": "", "status": "in_progress"})
        for piece in FAKE_TOOL_ARG_PIECES:
            event("response.function_call_arguments.delta", **where, delta=piece)
        event("response.function_call_arguments.done", **where, name=tool, arguments=arguments)
    else:
        event("response.output_item.added", output_index=0, item={**item, "content": [], "status": "in_progress"})
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        event("response.content_part.added", **where, content_index=0, part=empty)
        for piece in split_text(text):
            event("response.output_text.delta", **where, content_index=0, delta=piece, logprobs=[])
        event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
        event("response.content_part.done", **where, content_index=0, part=item["content"][0])
    event("response.output_item.done", output_index=0, item=item)
    event("response.completed", response=final)
    error = {"type": "error", "code": "server_error", "message": "The server had an error.", "param": None,
             "sequence_number": len(frames)}  # fmt: skip
    return sse_reply("openai", ctx.seq, frames, f"event: error\ndata: {dumps(error)}\n\n")
