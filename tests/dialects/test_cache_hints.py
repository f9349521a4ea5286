"""Prompt-cache breakpoints from each dialect -> neutral ``CacheHint``s beside what they mark."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.dialects.anthropic_request import parse_request
from bifrost_asgi.dialects.bedrock_request import parse_converse
from bifrost_asgi.dialects.cache_hints import split_results
from bifrost_asgi.dialects.openai_parse import parse_chat_body
from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.neutral import CacheHint, Message, TextPart, ToolResult

EPHEMERAL = {"type": "ephemeral"}
EPHEMERAL_HOUR = {"type": "ephemeral", "ttl": "1h"}
HOUR = CacheHint("1h")
TOOL = {"name": "lookup", "input_schema": {"type": "object"}}


def anthropic(**body: Any) -> tuple[Message, ...]:
    return parse_request({"model": "m", "max_tokens": 8, **body}, {}).messages


def test_anthropic_blocks_system_and_tools_keep_their_marks() -> None:
    request = parse_request(
        {
            "model": "m",
            "max_tokens": 8,
            "system": [{"type": "text", "text": "rules"}, {"type": "text", "text": "doc", "cache_control": EPHEMERAL}],
            "tools": [{**TOOL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "a", "cache_control": EPHEMERAL}, {"type": "text", "text": "b"},
            ]}],
        },
        {},
    )  # fmt: skip
    system, user = request.messages
    assert system.cache == ((1, CacheHint()),)
    assert user == Message("user", (TextPart("a"), TextPart("b")), cache=((0, CacheHint()),))
    assert request.tools[0].cache == HOUR


def test_anthropic_marks_follow_tool_results_out_of_the_user_turn() -> None:
    messages = anthropic(messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
        {"role": "user", "content": [
            {"type": "text", "text": "context", "cache_control": EPHEMERAL},
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "found", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            ]},
        ]},
    ])  # fmt: skip
    tool, user = messages[2:]
    assert isinstance(tool.parts[0], ToolResult) and tool.cache == ((0, HOUR),)
    assert user.parts == (TextPart("context"),) and user.cache == ((0, CacheHint()),)


def test_anthropic_top_level_cache_control_marks_the_last_block_and_null_is_no_mark() -> None:
    messages = anthropic(
        cache_control=EPHEMERAL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "a", "cache_control": None}]},
                  {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    )  # fmt: skip
    assert [m.cache for m in messages] == [(), (), ((0, CacheHint()),)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "cache_control": "yes"}]}]},
         "messages[0].content[0].cache_control"),
        ({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "a", "cache_control": {"type": "persistent"}}]}]},
         "messages[0].content[0].cache_control.type"),
        ({"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "2h"}}],
          "messages": [{"role": "user", "content": "a"}]}, "system[0].cache_control.ttl"),
        ({"tools": [{**TOOL, "cache_control": []}], "messages": [{"role": "user", "content": "a"}]},
         "tools[0].cache_control"),
    ],
)  # fmt: skip
def test_a_bad_cache_control_is_a_400_naming_it(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        anthropic(**body)
    assert caught.value.param == field
    assert field in str(caught.value)


def test_openai_content_parts_carry_bifrost_cache_control() -> None:
    request = parse_chat_body({"model": "anthropic/claude-x", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "s", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": [{"type": "text", "text": "a"},
                                     {"type": "text", "text": "b", "cache_control": EPHEMERAL_HOUR}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": "plain"},
    ]})  # fmt: skip
    assert [m.cache for m in request.messages] == [((0, CacheHint()),), ((1, HOUR),), (), ((0, CacheHint()),), ()]
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]\.cache_control\.type"):
        parse_chat_body({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "x"}}]}]})  # fmt: skip


def test_bedrock_cache_points_become_hints_in_system_messages_and_tools() -> None:
    request = parse_converse(
        {
            "system": [{"text": "rules"}, {"cachePoint": {"type": "default"}}, {"text": "more"}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}},
                                     {"cachePoint": {"type": "default", "ttl": "1h"}}]},
            "messages": [{"role": "user", "content": [{"text": "a"}, {"cachePoint": {"type": "default"}},
                                                      {"text": "b"}]}],
        },
        "m",
        stream=False,
    )  # fmt: skip
    system, user = request.messages
    assert system == Message("system", (TextPart("rules"), TextPart("more")), cache=((0, CacheHint()),))
    assert user == Message("user", (TextPart("a"), TextPart("b")), cache=((0, CacheHint()),))
    assert request.tools[0].cache == HOUR


def test_bedrock_system_without_cache_points_is_still_one_text() -> None:
    request = parse_converse({"system": [{"text": "a"}, {"text": "b"}], "messages": [
        {"role": "user", "content": [{"text": "q"}]}]}, "m", stream=False)  # fmt: skip
    assert request.messages[0] == Message("system", (TextPart("a\nb"),))


def test_a_bad_bedrock_cache_point_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_converse({"messages": [{"role": "user", "content": [
            {"text": "a"}, {"cachePoint": {"type": "ephemeral"}}]}]}, "m", stream=False)  # fmt: skip
    assert caught.value.param == "messages[0].content[1].cachePoint.type"


def test_split_results_moves_each_hint_with_its_part() -> None:
    parts = (TextPart("a"), ToolResult("t"), TextPart("b"))
    kept, kept_hints, others, other_hints = split_results(parts, ((1, HOUR), (2, CacheHint())))
    assert (kept, kept_hints) == ((ToolResult("t"),), ((0, HOUR),))
    assert (others, other_hints) == ((TextPart("a"), TextPart("b")), ((1, CacheHint()),))


def _split_reference(parts: list[Any], hints: tuple[tuple[int, CacheHint], ...]) -> tuple[Any, ...]:
    """``split_results`` without its shortcut for a turn with neither hints nor tool results."""
    marks = dict(hints)
    sides: dict[bool, tuple[list[Any], list[tuple[int, CacheHint]]]] = {True: ([], []), False: ([], [])}
    for index, part in enumerate(parts):
        side, side_hints = sides[isinstance(part, ToolResult)]
        side.append(part)
        if index in marks:
            side_hints.append((len(side) - 1, marks[index]))
    return tuple(sides[True][0]), tuple(sides[True][1]), tuple(sides[False][0]), tuple(sides[False][1])


_PARTS = st.lists(
    st.builds(TextPart, st.text(max_size=2)) | st.builds(ToolResult, st.text(max_size=2)), max_size=4
)
_HINTS = st.lists(st.tuples(st.integers(0, 4), st.sampled_from([CacheHint(), HOUR])), max_size=3).map(tuple)


@given(_PARTS, _HINTS | st.just(()))
def test_split_results_matches_the_general_split(parts: list[Any], hints: tuple[tuple[int, CacheHint], ...]) -> None:
    assert split_results(parts, hints) == _split_reference(parts, hints)
    assert split_results(tuple(parts), hints) == _split_reference(parts, hints)
