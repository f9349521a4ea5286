"""``OpenAIStreamParser``'s shortcut for text-only chunks (``_text_only``) gives exactly what the
general path gives, for any chunk shape (hypothesis) and for the recorded streams."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi.providers import openai_stream
from bifrost_asgi.providers.openai_stream import OpenAIStreamParser

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.text(max_size=4), st.just(0.5))
_KEYS = ["content", "role", "refusal", "reasoning_content", "reasoning", "tool_calls", "function_call", "x"]


@st.composite
def _chunk(draw: st.DrawFn) -> dict[str, Any]:
    """A text chunk as OpenAI sends it, with each part of it changed now and then."""
    delta: Any = {"content": draw(st.one_of(st.text(max_size=3), _scalars))}
    if draw(st.integers(0, 3)) == 0:
        delta.update(draw(st.dictionaries(st.sampled_from(_KEYS), _scalars, max_size=2)))
    if draw(st.integers(0, 9)) == 0:
        delta = draw(_scalars)
    choice: dict[str, Any] = {
        "index": draw(st.sampled_from([0, 1, None, "0", True])),
        "delta": delta,
        "logprobs": None,
        "finish_reason": draw(st.sampled_from([None, None, "stop", 3])),
    }
    for key in ("index", "delta", "finish_reason"):
        if draw(st.integers(0, 7)) == 0:
            del choice[key]
    chunk: dict[str, Any] = {"id": "x", "choices": [choice], "usage": None}
    if draw(st.integers(0, 5)) == 0:
        chunk["choices"] = draw(st.one_of(st.just([choice, choice]), st.just([]), _scalars))
    if draw(st.integers(0, 5)) == 0:
        chunk["usage"] = draw(st.one_of(st.just({"prompt_tokens": 3, "completion_tokens": 1}), _scalars))
    if draw(st.integers(0, 5)) == 0:
        del chunk["usage"]
    if draw(st.integers(0, 7)) == 0:
        chunk["x_groq"] = draw(st.one_of(st.just({"usage": {"prompt_tokens": 2}}), _scalars))
    if draw(st.integers(0, 11)) == 0:
        chunk["error"] = draw(st.one_of(st.just({"message": "boom"}), _scalars))
    return chunk


def _events(chunks: list[Any], shortcut: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch:
        if not shortcut:
            patch.setattr(openai_stream, "_text_only", lambda chunk: None)
        parser = OpenAIStreamParser("openai", "m")
        out = []
        for chunk in chunks:
            out.append(repr(list(parser.feed_chunk(chunk, "{}"))))
        out.append(repr(list(parser.close())))
        return out


@given(st.lists(_chunk(), min_size=1, max_size=6))
@FUZZ
def test_the_text_shortcut_gives_what_the_general_path_gives(chunks: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = {"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        assert _events([first, *chunks], True, monkeypatch) == _events([first, *chunks], False, monkeypatch)


def test_the_shortcut_takes_plain_text_chunks() -> None:
    chunk = {
        "id": "x",
        "choices": [{"index": 1, "delta": {"content": "hi"}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    assert openai_stream._text_only(chunk) == ("hi", 1)
    for other in (
        {**chunk, "x_groq": {}},
        {**chunk, "usage": {"prompt_tokens": 1}},
        {**chunk, "choices": [{"delta": {"content": "a", "role": "assistant"}}]},
        {**chunk, "choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}]},
    ):
        assert openai_stream._text_only(other) is None
