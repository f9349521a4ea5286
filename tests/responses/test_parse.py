"""Responses request bodies -> neutral requests (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.neutral import ReasoningPart, ResponseFormat, TextPart, ToolCall, ToolChoice, ToolResult
from bifrost_asgi.responses.items import encode_reasoning
from bifrost_asgi.responses.parse import parse_request

TOOL: dict[str, Any] = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def test_string_input_and_instructions() -> None:
    parsed = parse_request({"model": "m", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50})
    chat = parsed.chat
    assert [(m.role, m.text()) for m in chat.messages] == [("system", "Be brief."), ("user", "hi")]
    assert chat.source_format == "openai_responses"
    assert chat.max_tokens == 50
    assert parsed.store is True
    assert chat.raw == {"model": "m", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50}


def test_items_merge_into_turns_and_results_are_named() -> None:
    items = [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
    ]
    chat = parse_request({"model": "m", "input": items, "tools": [TOOL]}).chat
    assert [m.role for m in chat.messages] == ["developer", "user", "assistant", "tool"]
    assistant, tool = chat.messages[2], chat.messages[3]
    assert assistant.parts == (
        ReasoningPart("think"),
        ToolCall("c1", "get_weather", '{"city":"Paris"}'),
        ToolCall("c2", "get_weather", '{"city":"Rome"}'),
    )
    assert tool.parts == (
        ToolResult("c1", (TextPart("sunny"),), name="get_weather"),
        ToolResult("c2", (TextPart("rain"),), name="get_weather"),
    )


def test_reasoning_state_made_here_comes_back() -> None:
    encrypted = encode_reasoning(ReasoningPart("t", signature="sig-1"))
    item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": encrypted}
    chat = parse_request({"model": "m", "input": [{"role": "user", "content": "q"}, item]}).chat
    assert chat.messages[1].parts == (ReasoningPart("t", signature="sig-1"),)
    foreign = {**item, "encrypted_content": "gAAAAopaque-openai-blob"}
    chat = parse_request({"model": "m", "input": [{"role": "user", "content": "q"}, foreign]}).chat
    assert chat.messages[1].parts == (ReasoningPart("t"),)


def test_tools_choice_format_reasoning() -> None:
    body = {
        "model": "m",
        "input": "x",
        "tools": [TOOL, {"type": "function", "name": "other"}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "other"}]},
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True}},
        "reasoning": {"effort": "high", "summary": "auto"},
        "temperature": 0.5,
        "top_p": 0.9,
        "parallel_tool_calls": False,
    }
    chat = parse_request(body).chat
    assert [t.name for t in chat.tools] == ["other"]
    assert chat.tool_choice == ToolChoice("required")
    assert chat.response_format == ResponseFormat("json_schema", {"type": "object"}, "r", True)
    assert chat.reasoning is not None and chat.reasoning.effort == "high" and chat.reasoning.include_thoughts
    assert (chat.temperature, chat.top_p, chat.parallel_tool_calls) == (0.5, 0.9, False)
    assert not chat.untranslatable


def test_hosted_tools_and_openai_only_fields_are_flagged() -> None:
    body = {"model": "m", "input": "x", "tools": [{"type": "web_search"}], "background": True,
            "truncation": "auto", "tool_choice": {"type": "file_search"}}  # fmt: skip
    flagged = parse_request(body).chat.untranslatable
    assert set(flagged) == {"tools[0] (web_search tool)", "background", "truncation", "tool_choice (file_search)"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"model": "m", "input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "x", "previous_response_id": 7}, "previous_response_id"),
    ],
)
def test_bad_fields_are_named(body: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        parse_request(body)
    assert raised.value.message.startswith(path + ":"), raised.value.message
    assert raised.value.param == path


HISTORY: list[dict[str, Any]] = [
    {"id": "msg_u", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
    {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "bifrost:e30="},
    {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c1", "name": "get_weather",
     "arguments": "{}", "thought_signature": "sig"},
]  # fmt: skip
FOLLOW_UP: dict[str, Any] = {
    "model": "m",
    "previous_response_id": "resp_1",
    "instructions": "new rules",
    "input": [{"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
}


def test_history_is_prepended_and_spelled_out_for_an_upstream_that_never_saw_it() -> None:
    parsed = parse_request(FOLLOW_UP, history=HISTORY)
    roles = [m.role for m in parsed.chat.messages]
    assert roles == ["system", "user", "assistant", "tool"]
    assert parsed.chat.messages[0].text() == "new rules"
    assert parsed.chat.messages[2].tool_calls[0].signature == "sig"
    raw = dict(parsed.chat.raw or {})
    assert "previous_response_id" not in raw
    assert raw["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        *FOLLOW_UP["input"],
    ]


def test_history_held_upstream_leaves_the_body_untouched() -> None:
    parsed = parse_request(FOLLOW_UP, history=HISTORY, upstream_holds=True)
    assert parsed.chat.raw == FOLLOW_UP
    assert len(parsed.chat.messages) == 4  # a fallback to another vendor still gets the whole conversation


def test_unknown_previous_response_only_an_upstream_can_continue() -> None:
    parsed = parse_request(FOLLOW_UP, history=None)
    assert parsed.chat.untranslatable == {"previous_response_id": "resp_1"}
    assert parsed.chat.raw == FOLLOW_UP


def test_input_items_pages() -> None:
    from bifrost_asgi.responses.render import input_items_page

    items = [{"id": f"i{n}"} for n in range(5)]
    page = input_items_page(items, {"limit": "2"})
    assert [i["id"] for i in page["data"]] == ["i4", "i3"] and page["has_more"]
    page = input_items_page(items, {"order": "asc", "after": "i2"})
    assert [i["id"] for i in page["data"]] == ["i3", "i4"] and not page["has_more"]
    assert (page["first_id"], page["last_id"]) == ("i3", "i4")
    for query, name in (({"order": "up"}, "order"), ({"limit": "0"}, "limit"), ({"after": "nope"}, "after")):
        with pytest.raises(InvalidRequestError) as raised:
            input_items_page(items, query)
        assert raised.value.param == name
