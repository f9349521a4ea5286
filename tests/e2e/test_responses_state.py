"""Responses API: vendor reasoning state across turns, errors before and during streams, metrics,
and real frameworks (LangChain ``use_responses_api=True``, pydantic-ai ``OpenAIResponsesModel``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from tests.e2e.test_responses_sdk import MODELS, TOOLS, fake, gateway, gateway_config
from tests.support import (
    FAKE_ANTHROPIC_TOOL_USE_ID,
    FAKE_THOUGHT_SIGNATURE,
    FakeProvider,
    MidStreamError,
    RecordedRequest,
    ServerHandle,
    Status,
    fake_text,
    fake_tool_result_text,
    run_gateway,
)

pytestmark = pytest.mark.e2e
__all__ = ["fake", "gateway"]  # the module fixtures of test_responses_sdk, one instance here


@pytest.fixture
def client(gateway: ServerHandle, fake: FakeProvider) -> Iterator[openai.OpenAI]:
    fake.reset()
    yield openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0)
    fake.respond("/v1/messages", None)


def thinking_then_tool(request: RecordedRequest) -> dict[str, Any] | None:
    """An Anthropic answer with a signed thinking block before its tool call (first turn only)."""
    if any(m.get("role") == "assistant" for m in request.json.get("messages", [])):
        return None
    return {
        "id": "msg_think", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [
            {"type": "thinking", "thinking": "Need the weather tool.", "signature": "anthropic-sig-123"},
            {"type": "redacted_thinking", "data": "opaque-redacted"},
            {"type": "tool_use", "id": FAKE_ANTHROPIC_TOOL_USE_ID, "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }  # fmt: skip


def test_anthropic_thinking_signatures_come_back_on_the_next_turn(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.respond("/v1/messages", thinking_then_tool)
    model = MODELS["anthropic"]
    first = client.responses.create(model=model, input="Weather?", tools=TOOLS, reasoning={"effort": "low"})
    assert [item.type for item in first.output] == ["reasoning", "reasoning", "function_call"]
    assert first.output[0].summary[0].text == "Need the weather tool."  # type: ignore[union-attr]
    second = client.responses.create(
        model=model, previous_response_id=first.id, tools=TOOLS, reasoning={"effort": "low"},
        input=[{"type": "function_call_output", "call_id": FAKE_ANTHROPIC_TOOL_USE_ID, "output": "sunny"}],
    )  # fmt: skip
    assert second.output_text == fake_tool_result_text("anthropic", "sunny")
    sent = fake.last(vendor="anthropic").json
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "Need the weather tool.", "signature": "anthropic-sig-123"}
    assert assistant[1] == {"type": "redacted_thinking", "data": "opaque-redacted"}
    assert assistant[2]["type"] == "tool_use"
    assert sent["thinking"]["type"] == "enabled" and sent["thinking"]["budget_tokens"] == 1024


def test_gemini_3_thought_signatures_come_back_from_the_store(client: openai.OpenAI, fake: FakeProvider) -> None:
    model = "gemini/gemini-3-pro-preview"  # the fake refuses a replayed call without its signature
    with client.responses.stream(model=model, input="Weather?", tools=TOOLS) as stream:
        first = stream.get_final_response()
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(
        model=model, previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )  # fmt: skip
    assert second.output_text == fake_tool_result_text("gemini", "sunny")
    parts = fake.last(vendor="gemini").json["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == FAKE_THOUGHT_SIGNATURE


def test_error_before_the_stream_is_the_openai_error_shape(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.always("anthropic", Status(401))
    try:
        with pytest.raises(openai.AuthenticationError):
            client.responses.create(model=MODELS["anthropic"], input="hi", stream=True)
    finally:
        fake.always("anthropic", None)


def test_failure_during_the_stream_is_an_error_event(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script("anthropic", [MidStreamError(after_chunks=4)])
    events = list(client.responses.create(model=MODELS["anthropic"], input="hello there friend", stream=True))
    kinds = [event.type for event in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds
    failed = events[-1]
    with pytest.raises(openai.NotFoundError):  # a failed response is not stored
        client.responses.retrieve(failed.response.id)  # type: ignore[union-attr]


def test_native_upstream_failure_event_is_relayed(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script("/v1/responses", [MidStreamError(after_chunks=5)])  # after the first delta
    events = list(client.responses.create(model=MODELS["openai"], input="hello there", stream=True))
    assert [e.type for e in events][-2:] == ["response.output_text.delta", "error"]
    assert events[-1].message == "The server had an error."  # the upstream's own frame, verbatim
    assert events[0].response.id.startswith("resp_fake_")  # type: ignore[union-attr]


def test_metrics_carry_the_responses_route(gateway: ServerHandle, client: openai.OpenAI) -> None:
    client.responses.create(model=MODELS["gemini"], input="count me")
    metrics = httpx2.get(gateway.url + "/metrics").text
    lines = [line for line in metrics.splitlines() if line.startswith("bifrost_requests_total{")]
    assert any('route="/v1/responses"' in line and 'provider="gemini"' in line for line in lines), lines


@pytest.mark.parametrize("vendor", ["anthropic", "gemini"])
def test_langchain_use_responses_api(gateway: ServerHandle, fake: FakeProvider, vendor: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODELS[vendor], base_url=gateway.url + "/v1", api_key="sk-client",
                     use_responses_api=True, max_retries=0)  # fmt: skip
    assert llm.invoke("hello").text == fake_text(vendor, "hello")
    called = llm.bind_tools(TOOLS).invoke("Weather in Paris?")
    assert called.tool_calls[0]["name"] == "get_weather" and called.tool_calls[0]["args"] == {"city": "Paris"}
    assert json.loads(json.dumps(fake.last(vendor=vendor).json))  # the vendor got its own format


def test_pydantic_ai_responses_model(gateway: ServerHandle) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIResponsesModel(MODELS["gemini"], provider=OpenAIProvider(base_url=gateway.url + "/v1",
                                                                           api_key="sk-client"))  # fmt: skip
    assert Agent(model).run_sync("hello").output == fake_text("gemini", "hello")


def test_unknown_previous_response_is_404_unless_an_openai_upstream_may_hold_it(
    client: openai.OpenAI, fake: FakeProvider
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.create(model=MODELS["anthropic"], previous_response_id="resp_gone", input="next")
    assert raised.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert fake.count(vendor="anthropic") == 0
    client.responses.create(model=MODELS["openai"], previous_response_id="resp_made_at_openai", input="next")
    assert fake.last(vendor="openai").json["previous_response_id"] == "resp_made_at_openai"


def test_base_url_without_v1(gateway: ServerHandle) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/openai", api_key="sk-client", max_retries=0)
    made = client.responses.create(model="gpt-4o-mini", input="hello")  # POST /openai/responses
    assert client.responses.retrieve(made.id).id == made.id


VK_A, VK_B = "sk-bf-owner-a-0001", "sk-bf-owner-b-0002"


def test_stored_responses_are_visible_only_to_the_virtual_key_that_made_them(fake_provider: FakeProvider) -> None:
    every = [{"provider": p, "allowed_models": ["*"]} for p in ("openai", "anthropic", "gemini")]
    config = {
        **gateway_config(fake_provider),
        "client": {"enforce_auth_on_inference": True},
        "governance": {"virtual_keys": [
            {"id": "vk-a", "name": "a", "value": VK_A, "provider_configs": every},
            {"id": "vk-b", "name": "b", "value": VK_B, "provider_configs": every},
        ]},
    }  # fmt: skip
    with run_gateway(config) as gateway:
        alice = openai.OpenAI(base_url=gateway.url + "/v1", api_key=VK_A, max_retries=0)
        bob = openai.OpenAI(base_url=gateway.url + "/v1", api_key=VK_B, max_retries=0)
        made = alice.responses.create(model=MODELS["anthropic"], input="mine")
        assert alice.responses.retrieve(made.id).id == made.id
        for attempt in (
            lambda: bob.responses.retrieve(made.id),
            lambda: bob.responses.input_items.list(made.id),
            lambda: bob.responses.delete(made.id),
        ):
            with pytest.raises(openai.NotFoundError):
                attempt()
        # Bob cannot continue Alice's conversation either: to him the id is unknown.
        with pytest.raises(openai.NotFoundError) as raised:
            bob.responses.create(model=MODELS["anthropic"], previous_response_id=made.id, input="next")
        assert "previous_response_id" in raised.value.message
        alice.responses.delete(made.id)
