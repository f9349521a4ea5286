"""``generationConfig``'s sampling fields: read only when present (``_sampling``) gives what the
eager reading field by field gave, values and errors alike, for any config."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.dialects.genai_fields import get, opt_float, opt_int, str_list
from bifrost_asgi.dialects.genai_request import _sampling, parse_generate_request
from bifrost_asgi.errors import InvalidRequestError

NAMES = (
    "maxOutputTokens", "max_output_tokens", "temperature", "topP", "top_p", "topK", "top_k", "stopSequences",
    "stop_sequences", "candidateCount", "candidate_count", "seed", "presencePenalty", "presence_penalty",
    "frequencyPenalty", "frequency_penalty", "thinkingConfig", "other",
)  # fmt: skip
VALUES = (
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=32) | st.text(max_size=2)
    | st.lists(st.text(max_size=2) | st.integers(0, 2), max_size=2) | st.dictionaries(st.text(max_size=2), st.none())
)  # fmt: skip
CONFIGS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6)


def _eager(config: dict[str, Any], path: str) -> tuple[Any, ...]:
    """The reading before ``_sampling``: every field checked with its path, present or not."""
    return (
        opt_int(get(config, "maxOutputTokens", "max_output_tokens"), f"{path}.maxOutputTokens"),
        opt_float(config.get("temperature"), f"{path}.temperature"),
        opt_float(get(config, "topP", "top_p"), f"{path}.topP"),
        opt_int(get(config, "topK", "top_k"), f"{path}.topK"),
        str_list(get(config, "stopSequences", "stop_sequences"), f"{path}.stopSequences"),
        opt_int(get(config, "candidateCount", "candidate_count"), f"{path}.candidateCount"),
        opt_int(config.get("seed"), f"{path}.seed"),
        opt_float(get(config, "presencePenalty", "presence_penalty"), f"{path}.presencePenalty"),
        opt_float(get(config, "frequencyPenalty", "frequency_penalty"), f"{path}.frequencyPenalty"),
    )


def _outcome(read: Any, config: dict[str, Any], path: str) -> Any:
    try:
        values = read(config, path)
    except InvalidRequestError as error:
        return ("error", error.message, error.param)
    return ("ok", values, tuple(type(v) for v in values))


@given(CONFIGS, st.sampled_from(["generationConfig", "generateContentRequest.generationConfig"]))
def test_sampling_matches_the_eager_reading(config: dict[str, Any], path: str) -> None:
    assert _outcome(_sampling, config, path) == _outcome(_eager, config, path)


@given(CONFIGS)
def test_the_request_carries_the_sampling_fields(config: dict[str, Any]) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}
    expected = _outcome(_eager, config, "generationConfig")
    try:
        request = parse_generate_request(body, "m", stream=False)
    except InvalidRequestError as error:
        if expected[0] == "error":  # a sampling error comes first; a later field may fail too
            assert (error.message, error.param) == expected[1:]
        return
    assert expected[0] == "ok"
    got = (request.max_tokens, request.temperature, request.top_p, request.top_k, request.stop, request.n,
           request.seed, request.presence_penalty, request.frequency_penalty)  # fmt: skip
    assert got == expected[1]
