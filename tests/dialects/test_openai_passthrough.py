"""``passthrough_chat_body`` against the full parser: for every body, either no ``Passthrough``
(the full parser decides, and gives every 400) or one that says what the parsed request says."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.dialects.openai_parse import parse_chat_body
from bifrost_asgi.dialects.openai_passthrough import passthrough_chat_body, passthrough_head
from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.neutral import ChatRequest, Passthrough
from tests.support.openai_bodies import chat_bodies, corpus, full_fixture, neutral_bodies, passing_bodies

DIALECT = OpenAIDialect()


def same_request(passthrough: Passthrough, request: ChatRequest) -> None:
    """What the flow reads from a ``Passthrough`` equals what it reads from the parsed request."""
    assert not request.text_completion
    assert (passthrough.stream, passthrough.include_usage) == (request.stream, request.include_usage)
    assert passthrough.format == request.source_format == "openai"
    assert passthrough.model == request.model
    assert passthrough.fallbacks == request.fallbacks
    assert passthrough.body == request.raw
    text = sum(len(m.text()) for m in request.messages) + sum(len(t.name) for t in request.tools)
    assert passthrough.text_chars == text
    assert (passthrough.messages, passthrough.tools) == (len(request.messages), len(request.tools))
    assert (passthrough.max_tokens, passthrough.n) == (request.max_tokens, request.n)


def check(body: Any) -> Passthrough | None:
    passthrough = passthrough_chat_body(body)
    if passthrough is not None:  # the gateway plans with the head before the walk: it must agree
        assert passthrough_head(body) == (passthrough.model, passthrough.fallbacks)
    try:
        request = parse_chat_body(body)
    except InvalidRequestError:
        assert passthrough is None, "the passthrough took a body the parser refuses"
        return None
    if passthrough is not None:
        same_request(passthrough, request)
    return passthrough


@pytest.mark.parametrize("body", corpus())
def test_corpus(body: Any) -> None:
    check(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_bodies())
def test_generated_bodies(body: Any) -> None:
    check(body)


def test_which_bodies_pass_through() -> None:
    """The bodies real clients send most (and the bench's) take the passthrough; the others are
    the full parser's."""
    assert all(check(body) is not None for body in passing_bodies())
    assert all(check(body) is None for body in neutral_bodies())
    body = full_fixture()
    del body["stream"]
    assert check(body) is not None


def test_body_is_not_copied_without_gateway_fields() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    passthrough = passthrough_chat_body(body)
    assert passthrough is not None and passthrough.body is body
    with_fallbacks = {**body, "fallbacks": ["openai/gpt-4o-mini"]}
    passthrough = passthrough_chat_body(with_fallbacks)
    assert passthrough is not None and passthrough.body == body


def test_dialect_legacy_completions_and_deployments() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert DIALECT.passthrough_chat(body, Call(options={"text": True})) is None
    call = Call(path_params={"deployment": "my-gpt"}, default_provider="azure")
    passthrough = DIALECT.passthrough_chat(body, call)
    assert passthrough is not None
    same_request(passthrough, DIALECT.parse_chat(body, call))
    assert passthrough.model == "azure/my-gpt"


def test_head_of_bodies_that_never_pass_through() -> None:
    """The head gives None (no plan, no walk) only where the walk gives None too; the deployment
    path and legacy completions as in ``passthrough_chat``."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert passthrough_head(body) == ("gpt-4o", ())
    assert passthrough_head({**body, "fallbacks": ["groq/x"]}) == ("gpt-4o", ("groq/x",))
    for refused in ({**body, "model": " "}, {**body, "fallbacks": [1]}, [body], None):
        assert passthrough_head(refused) is None
        assert passthrough_chat_body(refused) is None
    assert DIALECT.passthrough_head(body, Call(options={"text": True})) is None
    call = Call(path_params={"deployment": "my-gpt"}, default_provider="azure")
    assert DIALECT.passthrough_head(body, call) == ("azure/my-gpt", ())
