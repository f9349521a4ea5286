from __future__ import annotations

from bifrost_asgi.neutral import ChatResponse, Message, TextPart, ToolCall, ToolResult, Usage


def test_tool_call_arguments_object_is_lossy_only_for_bad_json() -> None:
    assert ToolCall("c1", "f", '{"city": "Paris"}').arguments_object() == {"city": "Paris"}
    assert ToolCall("c1", "f", "").arguments_object() == {}
    assert ToolCall("c1", "f", "{not json").arguments_object() == {}
    assert ToolCall("c1", "f", "[1, 2]").arguments_object() == {"value": [1, 2]}


def test_message_helpers() -> None:
    call = ToolCall("c1", "f")
    message = Message("assistant", (TextPart("a"), call, TextPart("b")))
    assert message.text() == "ab"
    assert message.tool_calls == (call,)
    assert ToolResult("c1", (TextPart("x"), TextPart("y"))).text() == "xy"
    assert Usage(input_tokens=3, output_tokens=4).total_tokens == 7
    assert ChatResponse("r", "m", ()).message == Message("assistant")
