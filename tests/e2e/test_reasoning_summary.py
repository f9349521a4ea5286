"""Bifrost's ``reasoning_summary`` body field, through the real SDKs: never sent upstream as such;
mapped to the Responses API's ``reasoning.summary`` for a Responses-native upstream (OpenAI), to
Gemini's ``thinkingConfig.includeThoughts`` (Gemini's thought summaries), and consumed without a
field where the vendor has none (OpenAI chat, Anthropic). A clash with ``reasoning.summary`` or a
bad value is a 400 naming the field, before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.e2e.test_responses_sdk import gateway_config
from tests.support import FakeProvider, ServerHandle, run_gateway

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(gateway_config(fake_provider)) as handle:
        yield handle


@pytest.fixture
def client(gateway: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0)


def test_responses_to_openai_carries_it_as_reasoning_summary(
    client: openai.OpenAI, fake_provider: FakeProvider
) -> None:
    client.responses.create(
        model="openai/gpt-5-mini", input="hi", reasoning={"effort": "low"}, extra_body={"reasoning_summary": "detailed"}
    )
    sent = fake_provider.last("/v1/responses").json
    assert "reasoning_summary" not in sent
    assert sent["reasoning"] == {"effort": "low", "summary": "detailed"}


def test_responses_to_anthropic_and_gemini(client: openai.OpenAI, fake_provider: FakeProvider) -> None:
    client.responses.create(model="anthropic/claude-haiku-4-5", input="hi", extra_body={"reasoning_summary": "auto"})
    sent = fake_provider.last("/v1/messages").json
    assert "reasoning_summary" not in sent and "thinking" not in sent  # a summary alone turns no thinking on
    client.responses.create(model="gemini/gemini-2.5-flash", input="hi", extra_body={"reasoning_summary": "auto"})
    sent = fake_provider.last(":generateContent").json
    assert sent["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}


def test_chat_to_openai_consumes_it_and_to_gemini_asks_for_thoughts(
    client: openai.OpenAI, fake_provider: FakeProvider
) -> None:
    client.chat.completions.create(
        model="openai/gpt-5-mini", messages=HI, reasoning_effort="low", extra_body={"reasoning_summary": "concise"}
    )  # type: ignore[call-overload]
    sent = fake_provider.last("/v1/chat/completions").json
    assert "reasoning_summary" not in sent and sent["reasoning_effort"] == "low"
    client.chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=HI, extra_body={"reasoning_summary": "concise"}
    )  # type: ignore[call-overload]
    assert fake_provider.last(":generateContent").json["generationConfig"]["thinkingConfig"]["includeThoughts"] is True


def test_a_clash_or_a_bad_value_is_a_400_before_any_call(client: openai.OpenAI, fake_provider: FakeProvider) -> None:
    before = len(fake_provider.requests)
    with pytest.raises(openai.BadRequestError, match="reasoning_summary"):
        client.responses.create(
            model="openai/gpt-5-mini", input="hi", reasoning={"summary": "auto"},
            extra_body={"reasoning_summary": "detailed"},
        )  # fmt: skip
    with pytest.raises(openai.BadRequestError, match="reasoning_summary"):
        client.responses.create(model="openai/gpt-5-mini", input="hi", extra_body={"reasoning_summary": "verbose"})
    assert len(fake_provider.requests) == before
