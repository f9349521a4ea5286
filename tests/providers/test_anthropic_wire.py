"""``parse_usage`` of a whole answer (no ``base``) takes a shortcut: it gives what the general
path gives from a zero ``Usage()`` base, for any usage value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.neutral import Usage
from bifrost_asgi.providers.anthropic_wire import parse_usage

NAMES = (
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
    "output_tokens_details", "service_tier",
)  # fmt: skip
COUNTS = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=2)
DETAILS = st.dictionaries(st.sampled_from(["thinking_tokens", "other"]), COUNTS, max_size=2)
USAGES = st.dictionaries(st.sampled_from(NAMES), COUNTS | DETAILS, max_size=6)


@given(USAGES | COUNTS | st.lists(COUNTS, max_size=2))
def test_whole_answer_usage_matches_the_general_path(usage: Any) -> None:
    got = parse_usage(usage)
    assert got == parse_usage(usage, Usage())
    assert tuple(type(v) for v in (got.input_tokens, got.output_tokens, got.cached_input_tokens)) == (int, int, int)


def test_a_stream_update_keeps_what_it_does_not_name() -> None:
    base = parse_usage({"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 1})
    assert base == Usage(7, 1, 2, 0, 0)
    assert parse_usage({"output_tokens": 9}, base) == Usage(7, 9, 2, 0, 0)
