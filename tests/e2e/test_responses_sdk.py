"""The Responses API through the official ``openai`` SDK, over real sockets, for every provider
format: OpenAI (native: forwarded to the fake's ``/v1/responses``), Anthropic and Gemini
(translated). Plain, streamed (``responses.stream`` and ``stream=True``), a function-tool round
trip by ``previous_response_id`` with only a ``function_call_output`` item, ``json_schema``
output, ``retrieve``, ``delete``, ``input_items``, fallback across providers, unsupported
endpoints and hosted tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FakeProvider,
    ServerHandle,
    Status,
    fake_text,
    fake_tool_result_text,
    run_gateway,
)

pytestmark = pytest.mark.e2e

KEY = "sk-upstream-responses"
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "gemini": "gemini/gemini-2.5-flash",
}
VENDORS = tuple(MODELS)
TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def gateway_config(fake: FakeProvider) -> dict[str, Any]:
    keys = [{"value": KEY}]
    return {
        "providers": {
            "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
            "gemini": {"keys": keys, "network_config": {"base_url": fake.url + "/v1beta"}},
        }
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(gateway_config(fake)) as handle:
        yield handle


@pytest.fixture
def client(gateway: ServerHandle, fake: FakeProvider) -> openai.OpenAI:
    fake.reset()
    return openai.OpenAI(base_url=gateway.url + "/openai/v1", api_key="sk-client", max_retries=0)


def upstream_of(fake: FakeProvider, vendor: str) -> dict[str, Any]:
    request = fake.last(vendor=vendor)
    return dict(request.json)


@pytest.mark.parametrize("vendor", VENDORS)
def test_plain(client: openai.OpenAI, fake: FakeProvider, vendor: str) -> None:
    response = client.responses.create(model=MODELS[vendor], input="hello", instructions="Be brief.")
    assert response.output_text == fake_text(vendor, "hello")
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (FAKE_PROMPT_TOKENS, FAKE_COMPLETION_TOKENS)
    sent = upstream_of(fake, vendor)
    if vendor == "openai":
        assert fake.last(vendor="openai").path.endswith("/v1/responses")
        assert sent == {"model": "gpt-4o-mini", "input": "hello", "instructions": "Be brief."}
    elif vendor == "anthropic":
        assert sent["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    else:
        assert "Be brief." in json.dumps(sent["systemInstruction"])


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_helper(client: openai.OpenAI, vendor: str) -> None:
    with client.responses.stream(model=MODELS[vendor], input="hello there") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for expected in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                     "response.output_text.done", "response.content_part.done", "response.output_item.done"):
        assert expected in kinds, (expected, kinds)
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert final.output_text == fake_text(vendor, "hello there")
    ids = {e.response.id for e in events if hasattr(e, "response")}
    assert ids == {final.id}
    assert final.usage is not None and final.usage.output_tokens == FAKE_COMPLETION_TOKENS


@pytest.mark.parametrize("vendor", VENDORS)
def test_tool_round_trip_by_previous_response_id(client: openai.OpenAI, fake: FakeProvider, vendor: str) -> None:
    first = client.responses.create(model=MODELS[vendor], input="Weather in Paris?", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    second = client.responses.create(
        model=MODELS[vendor],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=TOOLS,
    )
    assert second.output_text == fake_tool_result_text(vendor, "sunny")
    assert second.previous_response_id == first.id
    sent = upstream_of(fake, vendor)
    if vendor == "openai":  # the upstream holds the first response: the id goes up untouched
        assert sent["previous_response_id"] == first.id
        assert len(sent["input"]) == 1
    elif vendor == "anthropic":
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert sent["messages"][1]["content"][-1]["type"] == "tool_use"
        assert sent["messages"][2]["content"][0]["type"] == "tool_result"
    else:
        roles = [c["role"] for c in sent["contents"]]
        assert roles == ["user", "model", "user"]
        assert "functionResponse" in sent["contents"][2]["parts"][0]
        assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


@pytest.mark.parametrize("vendor", VENDORS)
def test_streamed_tool_round_trip(client: openai.OpenAI, vendor: str) -> None:
    with client.responses.stream(model=MODELS[vendor], input="Weather in Paris?", tools=TOOLS) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = next(item for item in first.output if item.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Paris"}
    # The follow-up is sent right after completed: the stored response must already be there.
    events = list(
        client.responses.create(
            model=MODELS[vendor],
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rainy"}],
            tools=TOOLS,
            stream=True,
        )
    )
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == fake_tool_result_text(vendor, "rainy")
    assert events[-1].type == "response.completed"


@pytest.mark.parametrize("vendor", ("anthropic", "gemini"))
def test_json_schema_output(client: openai.OpenAI, fake: FakeProvider, vendor: str) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}  # fmt: skip
    client.responses.create(
        model=MODELS[vendor],
        input="hello",
        text={"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}},
    )
    sent = json.dumps(upstream_of(fake, vendor))
    assert '"answer"' in sent  # the schema reached the vendor in its own field


@pytest.mark.parametrize("vendor", VENDORS)
def test_retrieve_delete_and_input_items(client: openai.OpenAI, vendor: str) -> None:
    made = client.responses.create(model=MODELS[vendor], input="keep me")
    again = client.responses.retrieve(made.id)
    assert again.id == made.id and again.output_text == made.output_text
    items = client.responses.input_items.list(made.id)
    assert [item.type for item in items.data] == ["message"]
    assert items.data[0].content[0].text == "keep me"  # type: ignore[union-attr]
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(made.id)


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    made = client.responses.create(model=MODELS["anthropic"], input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_fallback_to_another_vendor(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.always("anthropic", Status(529))
    try:
        response = client.responses.create(
            model=MODELS["anthropic"], input="hello", extra_body={"fallbacks": [MODELS["gemini"]]}
        )
    finally:
        fake.always("anthropic", None)
    assert response.output_text == fake_text("gemini", "hello")


def test_hosted_tool_refused_for_translated_vendor(client: openai.OpenAI, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODELS["anthropic"], input="hi", tools=[{"type": "web_search"}])
    assert "web_search" in raised.value.message
    assert fake.count(vendor="anthropic") == 0


def test_unsupported_openai_endpoint_is_named(gateway: ServerHandle) -> None:
    answer = httpx2.post(gateway.url + "/openai/v1/fine_tuning/jobs", json={})
    assert answer.status_code == 404
    assert "/v1/fine_tuning/jobs is not supported" in answer.json()["error"]["message"]


def test_bad_input_names_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODELS["gemini"], input=[{"role": "robot", "content": "hi"}])
    assert "input[0].role" in raised.value.message
