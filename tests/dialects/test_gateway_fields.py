"""Gateway-only body fields (``fallbacks``, ``reasoning_summary``): read by every dialect, never
forwarded (an Anthropic upstream rejects unknown fields), and validated with a 400 naming them."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi.dialects.anthropic import AnthropicDialect
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.genai import GenAIDialect
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.errors import InvalidRequestError

USER = [{"role": "user", "content": "hi"}]


def parse(dialect: str, extra: dict[str, Any]) -> Any:
    if dialect == "openai":
        return OpenAIDialect().parse_chat({"model": "m", "messages": USER, **extra}, Call())
    if dialect == "anthropic":
        return AnthropicDialect().parse_chat({"model": "m", "max_tokens": 5, "messages": USER, **extra}, Call())
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **extra}
    return GenAIDialect().parse_chat(body, Call(path_params={"model": "m"}))


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
def test_reasoning_summary_is_consumed_and_kept_as_the_reasoning_summary(dialect: str) -> None:
    request = parse(dialect, {"reasoning_summary": "detailed", "fallbacks": ["openai/gpt-4o"]})
    assert request.reasoning is not None and request.reasoning.summary == "detailed"
    assert request.fallbacks == ("openai/gpt-4o",)
    assert "reasoning_summary" not in request.raw and "fallbacks" not in request.raw


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
def test_a_bad_reasoning_summary_is_a_400_naming_it(dialect: str) -> None:
    with pytest.raises(InvalidRequestError, match="reasoning_summary") as caught:
        parse(dialect, {"reasoning_summary": "verbose"})
    assert caught.value.status == 400


def test_the_body_is_not_copied_without_gateway_fields() -> None:
    body = {"model": "m", "messages": USER}
    assert OpenAIDialect().parse_chat(body, Call()).raw is body


def test_a_responses_body_gets_the_summary_in_its_own_field() -> None:
    from bifrost_asgi.dialects.gateway_fields import summary_into_reasoning

    body = {"model": "m", "reasoning": {"effort": "low"}, "reasoning_summary": "auto"}
    assert summary_into_reasoning(body) == {"model": "m", "reasoning": {"effort": "low", "summary": "auto"}}
    same = {"model": "m"}
    assert summary_into_reasoning(same) is same
    with pytest.raises(InvalidRequestError, match="reasoning_summary"):
        summary_into_reasoning({"reasoning": {"summary": "auto"}, "reasoning_summary": "detailed"})
