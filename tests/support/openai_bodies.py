"""OpenAI chat request bodies for the passthrough equivalence tests: the fixtures, hand-written
variations (valid, and each refused by the parser), and a hypothesis strategy that mixes good and
bad shapes in every field the parser or ``openai_passthrough`` looks at."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
USER: Any = {"role": "user", "content": "hi"}


def full_fixture() -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / "chat_request_full.json").read_bytes())
    return body


def _variant(**changes: Any) -> dict[str, Any]:
    body = full_fixture()
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def _simple(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-4o-mini", "messages": list(messages) or [USER], **fields}


def passing_bodies() -> list[Any]:
    """Valid bodies the passthrough takes (the common shapes), streamed or not."""
    return [
        full_fixture(),  # streamed, with stream_options
        _simple(stream=True),
        _simple(stream=True, stream_options={"include_usage": False}),
        _simple(stream=True, stream_options={"include_usage": True}, max_tokens=9),
        _variant(stream=None, stream_options=None),
        _variant(stream=False, fallbacks=None),
        _variant(stream=None, stream_options=None, reasoning_summary="concise"),
        _simple(),
        _simple(max_tokens=200, temperature=0.2),
        _simple(max_tokens=12, max_completion_tokens=30, n=2.0),
        _simple(safety_identifier="sid", user="u", seed=3, stop="\n", top_p=1),
        _simple(fallbacks=["openai/gpt-4o"], logprobs=True, top_logprobs=2, logit_bias={"1": 2}),
        _simple(modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}),
        _simple(some_future_field={"x": [1]}, store=True, metadata={"a": "b"}, service_tier="flex"),
        _simple(tools=[{"type": "custom", "custom": {"name": "sql"}}], tool_choice={"type": "custom"}),
        _simple(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="required"),
        _simple(response_format={"type": "json_object"}, reasoning_effort="none", parallel_tool_calls=True),
        _simple(
            {"role": "system", "content": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "!"}]},
            {"role": "developer", "content": ""},
            {"role": "user", "name": "ada", "content": []},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}, {"type": "text", "text": ""}]},
            {"role": "assistant", "content": None, "refusal": "I cannot"},
            {"role": "assistant", "content": None, "refusal": "", "tool_calls": None},
            {"role": "assistant", "content": "ok", "reasoning_content": "thought", "audio": {"id": "a"}},
            {"role": "assistant", "tool_calls": [{"type": "custom", "custom": {}}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "42"}]},
            {"role": "user", "content": [{"type": "image_url", "image_url": "https://example.com/a.png"}]},
        ),
    ]


def neutral_bodies() -> list[Any]:
    """Valid bodies left to the full parser: cache marks, deprecated function calls and roles."""
    return [
        _simple({"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}),
        _simple({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}),
        _simple({"role": "function", "name": "f", "content": "1"}),
    ]


def refused_bodies() -> list[Any]:
    """Bodies the parser refuses (a 400 each): the passthrough must leave each to it."""
    return [
        _variant(stream=None, reasoning_summary="verbose"),
        [],
        "text",
        {"messages": [USER]},
        {"model": " ", "messages": [USER]},
        {"model": "m", "messages": []},
        {"model": "m", "messages": {"role": "user"}},
        _simple({"role": "user", "content": 3}),
        _simple({"role": "user"}),
        _simple({"role": "bot", "content": "x"}),
        _simple({"role": "user", "name": 3, "content": "x"}),
        _simple({"role": "assistant"}),
        _simple({"role": "assistant", "content": None, "refusal": ""}),
        _simple({"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}),
        _simple({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": None}}]}),
        _simple({"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}),
        _simple({"role": "assistant", "content": [{"type": "image_url", "image_url": "x"}]}),
        _simple({"role": "tool", "content": "x"}),
        _simple({"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url", "image_url": "x"}]}),
        _simple({"role": "system", "content": [{"type": "image_url", "image_url": "x"}]}),
        _simple({"role": "user", "content": [{"type": "video"}]}),
        _simple({"role": "user", "content": [{"type": "text", "text": 1}]}),
        _simple({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}),
        _simple({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}),
        _simple({"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}),
        _simple({"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "x"}}]}),
        _simple(temperature="hot"),
        _simple(max_tokens=True),
        _simple(max_completion_tokens=0),
        _simple(n=1.5),
        _simple(stop=[1]),
        _simple(stream="yes"),
        _simple(tools={}),
        _simple(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        _simple(tool_choice="sometimes"),
        _simple(response_format={"type": "yaml"}),
        _simple(reasoning_effort=3),
        _simple(fallbacks="anthropic/claude"),
        _simple(fallbacks=["openai/gpt-4o", ""]),
        _simple(reasoning_summary="verbose"),
        _simple(user=42),
    ]


def corpus() -> list[Any]:
    """Every body of the three lists (fresh copies: a test may not share them)."""
    return copy.deepcopy([*passing_bodies(), *neutral_bodies(), *refused_bodies()])


# ----------------------------------------------------------------------------- hypothesis

_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2), st.text(max_size=5))
_STR = st.text(max_size=8)


def _mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` about 15 times in 16, else ``rare`` (``one_of`` would draw each about as often)."""
    return st.integers(0, 15).flatmap(lambda i: rare if i == 15 else usual)


def _or_bad(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid``, now and then anything at all."""
    return _mostly(valid, _ANY)


def _typed(kind: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"type": st.just(kind), kind: _or_bad(value)})


_PARTS = {
    "text": _typed("text", _STR),
    "refusal": _typed("refusal", _STR),
    "image_url": _typed("image_url", st.one_of(_STR, st.fixed_dictionaries({"url": _STR}))),
    "input_audio": _typed("input_audio", st.fixed_dictionaries({"data": _STR, "format": _STR})),
    "file": _typed("file", st.fixed_dictionaries({}, optional={"file_id": _STR, "file_data": _STR})),
}


def _part(kinds: list[str]) -> st.SearchStrategy[Any]:
    part = st.one_of(*(_PARTS[k] for k in kinds))
    marked = part.map(lambda p: {**p, "cache_control": {"type": "ephemeral"}})
    odd = st.one_of(_ANY, st.fixed_dictionaries({"type": st.sampled_from(["video", "refusal", "image_url"])}))
    return _mostly(part, st.one_of(marked, odd))


def _content(kinds: list[str]) -> st.SearchStrategy[Any]:
    return _or_bad(st.one_of(_STR, st.lists(_part(kinds), max_size=3)))


_FUNCTION = st.fixed_dictionaries({"name": _or_bad(_STR)}, optional={"arguments": _or_bad(_STR)})
_TOOL_CALL = st.fixed_dictionaries(
    {"id": _or_bad(_STR), "function": _or_bad(_FUNCTION)}, optional={"type": st.sampled_from(["function", "custom"])}
)
_ASSISTANT = st.fixed_dictionaries(
    {"role": st.just("assistant")},
    optional={
        "content": st.one_of(st.none(), _content(["text", "refusal"])),
        "tool_calls": _or_bad(st.lists(_or_bad(_TOOL_CALL), max_size=2)),
        "refusal": _or_bad(_STR),
        "reasoning_content": _or_bad(_STR),
        "name": _or_bad(_STR),
    },
)
_MESSAGES = [
    st.fixed_dictionaries(
        {"role": st.just("user"), "content": _content(list(_PARTS))}, optional={"name": _or_bad(_STR)}
    ),
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": _content(["text"])}),
    st.fixed_dictionaries({"role": st.just("tool"), "content": _content(["text"]), "tool_call_id": _or_bad(_STR)}),
    _ASSISTANT,
]
_ODD_MESSAGES = [
    _ANY,
    _ASSISTANT.map(lambda m: {**m, "function_call": {"name": "f"}}),
    st.fixed_dictionaries({"role": st.sampled_from(["function", "bot", "tool"]), "content": _STR}),
    st.fixed_dictionaries({"role": st.just("user")}),
]
_MESSAGE = _mostly(st.one_of(*_MESSAGES), st.one_of(*_ODD_MESSAGES))

_TOOL = st.fixed_dictionaries(
    {"type": st.sampled_from(["function", "function", "custom"]), "function": st.fixed_dictionaries({"name": _STR})}
)
_SCALARS = {
    "max_tokens": _or_bad(st.integers(1, 300)),
    "max_completion_tokens": _or_bad(st.integers(1, 300)),
    "temperature": _or_bad(st.floats(0, 2)),
    "n": _or_bad(st.one_of(st.integers(1, 3), st.just(2.0))),
    "stop": _or_bad(st.lists(_STR, max_size=2)),
    "stream": _or_bad(st.booleans()),
    "tools": _or_bad(st.lists(_or_bad(_TOOL), max_size=2)),
    "tool_choice": _or_bad(st.sampled_from(["auto", "none", "required"])),
    "user": _or_bad(_STR),
    "fallbacks": _or_bad(st.lists(st.sampled_from(["openai/gpt-4o", "groq/x"]), max_size=2)),
    "reasoning_summary": _or_bad(st.sampled_from(["auto", "concise"])),
    "logprobs": _ANY,
    "future_field": _ANY,
}


def chat_bodies() -> st.SearchStrategy[Any]:
    """Chat bodies, mostly well formed, with a bad value anywhere."""
    model = _or_bad(st.sampled_from(["openai/gpt-4o-mini", "gpt-4o"]))
    messages = _or_bad(st.lists(_MESSAGE, min_size=1, max_size=4))
    body = st.fixed_dictionaries({"model": model, "messages": messages}, optional=_SCALARS)
    return _or_bad(body)
