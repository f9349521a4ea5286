"""Up-front request checks: nesting depth and model names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.dialects.validate import MAX_DEPTH, check_depth, check_model_name
from bifrost_asgi.errors import InvalidRequestError


def test_depth_within_the_limit_passes_and_beyond_names_the_path() -> None:
    ok: Any = 1
    for _ in range(MAX_DEPTH):
        ok = [ok]
    check_depth(json.dumps(ok).encode(), ok)
    deep = [ok]
    with pytest.raises(InvalidRequestError) as caught:
        check_depth(json.dumps({"tools": deep}).encode(), {"tools": deep})
    assert caught.value.message.startswith("tools[0][0]")
    assert caught.value.status == 400


def test_many_brackets_side_by_side_are_not_deep() -> None:
    wide = [[] for _ in range(5000)]
    check_depth(json.dumps(wide).encode(), wide)


@pytest.mark.parametrize(
    "name", ["gpt-4o", "openai/gpt-4o", "ft:gpt-4o-mini:org:x:1", "meta-llama/Llama-3.1-70B", "models/gemini-2.5-pro"]
)
def test_real_model_names_pass(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a" * 257, "gpt\r\n", "g\x00", "gpt 4o", "gpt-\u00e9", "\u4f60", "gemini/../x", "a/./b", "..", "x/.."]
)
def test_bad_model_names_are_400_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_model_name(name, "fallbacks[2]")
    assert caught.value.message.startswith("fallbacks[2]: ")
    assert caught.value.param == "fallbacks[2]"
    assert len(caught.value.message) < 200


@given(st.text(alphabet="./a", min_size=1, max_size=12))
def test_dot_segments_found_wherever_they_are(name: str) -> None:
    """The cheap pre-check (a name starting with "." or holding "/.") misses no dot segment."""
    dotted = any(segment in (".", "..") for segment in name.split("/"))
    try:
        check_model_name(name)
    except InvalidRequestError as exc:
        assert dotted and "path segments" in exc.message
    else:
        assert not dotted
