"""Hypothesis strategies for hostile client input: JSON of every type where a field is expected,
model names with control characters, non-Latin-1 text, path segments and great length, bodies
that are not JSON at all, and deep nesting. Used by the parser fuzz tests and the fault battery."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
VALID_MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.0-flash", "gpt-4o-mini")
MODELS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(VALID_MODELS),
    st.sampled_from(["gemini/../../../../_stats", "openai/a\r\nx-injected: 1", "openai/\x00", "openai/" + "m" * 300,
                     "openai/gpt-\u4f60\u597d", "openai/ ", "", "/", "openai/..", "openai//x"]),
    st.text(max_size=40).map(lambda s: "openai/" + s),
    JSON,
)


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = st.integers(min_value=90, max_value=600).map(_deep)
ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]) | JSON
TEXT_PART = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20) | JSON})
CONTENT = st.text(max_size=30) | st.lists(TEXT_PART | JSON, max_size=3) | JSON
OPENAI_MESSAGE = st.fixed_dictionaries(
    {"role": ROLES}, optional={"content": CONTENT, "name": JSON, "tool_calls": JSON, "tool_call_id": JSON}
)
OPENAI_CHAT = st.fixed_dictionaries(
    {"model": MODELS, "messages": st.lists(OPENAI_MESSAGE, min_size=1, max_size=3) | JSON},
    optional={
        "stream": st.booleans() | JSON,
        "temperature": JSON,
        "max_tokens": JSON,
        "n": JSON,
        "stop": JSON,
        "tools": JSON | DEEP,
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | JSON,
        "response_format": JSON,
        "fallbacks": st.lists(MODELS, max_size=2) | JSON,
        "stream_options": JSON,
        "metadata": DEEP,
    },
)
OPENAI_EMBEDDINGS = st.fixed_dictionaries(
    {"model": MODELS, "input": st.text(max_size=20) | st.lists(st.text(max_size=10), max_size=3) | JSON},
    optional={"encoding_format": st.sampled_from(["float", "base64"]) | JSON, "dimensions": JSON},
)
ANTHROPIC_BLOCK = st.fixed_dictionaries({"type": st.sampled_from(["text", "image", "tool_use", "tool_result"]) | JSON},
                                        optional={"text": JSON, "source": JSON, "id": JSON, "input": JSON})  # fmt: skip
ANTHROPIC_MESSAGES = st.fixed_dictionaries(
    {
        "model": MODELS,
        "max_tokens": st.integers(min_value=1, max_value=100) | JSON,
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]) | JSON,
                                   "content": st.text(max_size=20) | st.lists(ANTHROPIC_BLOCK, max_size=2) | JSON}),
            min_size=1, max_size=3,
        ) | JSON,
    },
    optional={"system": CONTENT, "stream": st.booleans() | JSON, "tools": JSON, "tool_choice": JSON,
              "thinking": JSON, "metadata": DEEP, "stop_sequences": JSON},
)  # fmt: skip
GENAI_PART = st.fixed_dictionaries({}, optional={"text": st.text(max_size=20) | JSON, "inlineData": JSON,
                                                 "functionCall": JSON, "functionResponse": JSON})  # fmt: skip
GENAI_GENERATE = st.fixed_dictionaries(
    {"contents": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "model"]) | JSON,
                                                 "parts": st.lists(GENAI_PART, max_size=2) | JSON}),
                          min_size=1, max_size=2) | JSON},
    optional={"generationConfig": JSON, "systemInstruction": JSON, "tools": JSON | DEEP,
              "safetySettings": JSON, "toolConfig": JSON},
)  # fmt: skip
GENAI_PATH_MODELS = st.one_of(
    st.sampled_from(["gemini-2.0-flash", "..%2F..%2F_stats", "g%0D%0Ax", "%00", "%E4%BD%A0", "m" * 300, "a%2F..%2Fb"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%:"), max_size=20),
)
RAW_BODIES = st.binary(max_size=64) | st.sampled_from(
    [b"", b"[", b"null", b"{}", b'"x"', b"\xff\xfe", b'{"model": 1e999}', b'{"a": 18446744073709551616}']
)
