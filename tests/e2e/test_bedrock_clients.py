"""boto3 ``bedrock-runtime`` with ``endpoint_url=http://gw/bedrock`` as a fourth inbound dialect:
``converse``, ``converse_stream`` (real event-stream frames, parsed by botocore), ``invoke_model``
(Anthropic bodies) and ``count_tokens``, reaching OpenAI and Anthropic providers. The client's
SigV4 signature is accepted and not required; the gateway's own keys go upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, FakeProvider, ServerHandle, fake_text, run_gateway

pytestmark = pytest.mark.e2e

SECRETS = {"openai": "sk-oa-bedrock-test", "anthropic": "sk-ant-bedrock-test"}
HELLO: Any = [{"role": "user", "content": [{"text": "hello"}]}]
HELLO_ANTHROPIC: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    providers = {name: {"keys": [{"value": secret}], "network_config": {"base_url": fake_provider.url}}
                 for name, secret in SECRETS.items()}  # fmt: skip
    with run_gateway({"providers": providers}) as handle:
        yield handle


@pytest.fixture
def runtime(gateway: ServerHandle) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime", endpoint_url=gateway.url + "/bedrock", region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="client-secret-not-upstream",
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def test_converse_to_openai_and_anthropic(fake_provider: FakeProvider, runtime: Any) -> None:
    answer = runtime.converse(modelId="openai/gpt-4o-mini", messages=HELLO, inferenceConfig={"maxTokens": 50})
    assert answer["output"]["message"]["content"] == [{"text": fake_text("openai", "hello")}]
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["inputTokens"] == FAKE_PROMPT_TOKENS
    upstream = fake_provider.last("/chat/completions")
    assert upstream.json["model"] == "gpt-4o-mini"
    assert upstream.headers["authorization"] == f"Bearer {SECRETS['openai']}"

    claude = runtime.converse(modelId="anthropic/claude-haiku-4-5", messages=HELLO, system=[{"text": "be brief"}])
    assert claude["output"]["message"]["content"][0]["text"] == fake_text("anthropic", "hello")
    assert fake_provider.last("/v1/messages").json["system"]
    assert not any("client-secret" in v for r in fake_provider.requests for v in r.headers.values())


def test_converse_stream_is_event_stream_framed(runtime: Any) -> None:
    response = runtime.converse_stream(modelId="openai/gpt-4o-mini", messages=HELLO)
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == fake_text("openai", "hello")
    assert events[-1]["metadata"]["usage"]["outputTokens"] == FAKE_COMPLETION_TOKENS


def test_tool_use_round_trip(runtime: Any) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    spec = {"name": "get_weather", "description": "weather", "inputSchema": {"json": schema}}
    tools = {"tools": [{"toolSpec": spec}]}
    ask = [{"role": "user", "content": [{"text": "weather in Paris? use the tool"}]}]
    answer = runtime.converse(modelId="anthropic/claude-haiku-4-5", toolConfig=tools, messages=ask)
    assert answer["stopReason"] == "tool_use"
    use = answer["output"]["message"]["content"][-1]["toolUse"]
    assert use["name"] == "get_weather" and use["input"] == {"city": "Paris"}


def test_invoke_model_with_an_anthropic_body_and_count_tokens(fake_provider: FakeProvider, runtime: Any) -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": messages}
    invoked = runtime.invoke_model(modelId="anthropic/claude-haiku-4-5", body=json.dumps(body))
    answer = json.loads(invoked["body"].read())
    assert answer["content"][0]["text"] == fake_text("anthropic", "hi")
    assert "anthropic_version" not in fake_provider.last("/v1/messages").json  # not an Anthropic API field
    counted = runtime.count_tokens(modelId="anthropic/claude-haiku-4-5", input={"converse": {"messages": HELLO}})
    assert counted["inputTokens"] > 0


def test_errors_are_boto3_client_errors_with_bedrock_codes(runtime: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId="openai/gpt-4o-mini", messages=[{"role": "system", "content": [{"text": "x"}]}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "messages[0].role" in caught.value.response["Error"]["Message"]


def _stream_events(response: Any) -> list[dict[str, Any]]:
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_invoke_model_with_response_stream_text(fake_provider: FakeProvider, runtime: Any, model: str) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
            "messages": HELLO_ANTHROPIC}  # fmt: skip
    events = _stream_events(runtime.invoke_model_with_response_stream(modelId=model, body=json.dumps(body)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    vendor = model.split("/")[0]
    assert text == fake_text(vendor, "hi")
    assert events[-2]["usage"]["output_tokens"] == FAKE_COMPLETION_TOKENS
    path = "/chat/completions" if vendor == "openai" else "/v1/messages"
    assert fake_provider.last(path).json["stream"] is True


def test_invoke_model_with_response_stream_tool_call(runtime: Any) -> None:
    tool = {"name": "get_weather", "description": "weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}  # fmt: skip
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "tools": [tool],
            "messages": [{"role": "user", "content": "weather in Paris? use the tool"}]}  # fmt: skip
    stream = runtime.invoke_model_with_response_stream(modelId="openai/gpt-4o-mini", body=json.dumps(body))
    events = _stream_events(stream)
    start = next(e for e in events if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use")
    assert start["content_block"]["name"] == "get_weather"
    arguments = "".join(e["delta"]["partial_json"] for e in events
                        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta")  # fmt: skip
    assert json.loads(arguments) == {"city": "Paris"}
    assert next(e for e in events if e["type"] == "message_delta")["delta"]["stop_reason"] == "tool_use"


def test_invoke_model_with_response_stream_errors_are_client_errors(runtime: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        runtime.invoke_model_with_response_stream(modelId="openai/gpt-4o-mini", body=json.dumps({"prompt": "x"}))
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": "many", "messages": HELLO_ANTHROPIC}
    with pytest.raises(ClientError) as caught:
        runtime.invoke_model_with_response_stream(modelId="openai/gpt-4o-mini", body=json.dumps(body))
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "max_tokens" in caught.value.response["Error"]["Message"]
