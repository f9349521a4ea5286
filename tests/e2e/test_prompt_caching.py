"""Prompt-cache breakpoints survive translation, over real sockets: boto3 ``cachePoint`` blocks reach
Bedrock as sent and Anthropic as ``cache_control``; the Anthropic SDK's ``cache_control`` (and
Bifrost's on OpenAI content parts) reaches Bedrock as ``cachePoint`` blocks. The fake vendors check
the marks as the real APIs do (shape, ttl, at most four, a cache point after content)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.test_cloud_providers import bedrock_config
from tests.support import FakeProvider, ServerHandle, fake_text, run_gateway

pytestmark = pytest.mark.e2e

POINT = {"cachePoint": {"type": "default"}}
POINT_HOUR = {"cachePoint": {"type": "default", "ttl": "1h"}}
EPHEMERAL = {"type": "ephemeral"}
EPHEMERAL_HOUR = {"type": "ephemeral", "ttl": "1h"}
RULES = "You answer questions about the attached handbook."
HANDBOOK = "The handbook, long enough to be worth caching. " * 20
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    providers = {
        "anthropic": {"keys": [{"value": "sk-ant-cache"}], "network_config": {"base_url": fake_provider.url}},
        "bedrock": bedrock_config(fake_provider),
    }
    with run_gateway({"providers": providers}) as handle:
        yield handle


@pytest.fixture
def runtime(gateway: ServerHandle) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime", endpoint_url=gateway.url + "/bedrock", region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="client-secret",
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def _converse_with_points(runtime: Any, model: str) -> Any:
    return runtime.converse(
        modelId=model,
        system=[{"text": RULES}, POINT_HOUR],
        toolConfig={"tools": [{"toolSpec": {"name": "search", "inputSchema": {"json": SCHEMA}}}, POINT_HOUR]},
        messages=[{"role": "user", "content": [{"text": HANDBOOK}, POINT, {"text": "What is on page one?"}]}],
        inferenceConfig={"maxTokens": 50},
    )


def _bedrock_body(fake: FakeProvider) -> dict[str, Any]:
    (record,) = [r for r in fake.requests if r.vendor == "bedrock"][-1:]
    return dict(record.json)


def test_boto3_cache_points_reach_bedrock_as_sent(fake_provider: FakeProvider, runtime: Any) -> None:
    answer = _converse_with_points(runtime, "bedrock/claude-sonnet")
    assert answer["stopReason"] == "tool_use"  # the fake calls the first tool it is offered
    body = _bedrock_body(fake_provider)
    assert body["system"] == [{"text": RULES}, POINT_HOUR]
    assert body["toolConfig"]["tools"][1] == POINT_HOUR
    assert body["messages"][0]["content"] == [{"text": HANDBOOK}, POINT, {"text": "What is on page one?"}]


def test_boto3_cache_points_reach_anthropic_as_cache_control(fake_provider: FakeProvider, runtime: Any) -> None:
    _converse_with_points(runtime, "anthropic/claude-haiku-4-5")
    body = fake_provider.last("/v1/messages").json
    assert body["system"] == [{"type": "text", "text": RULES, "cache_control": EPHEMERAL_HOUR}]
    assert body["tools"][0]["cache_control"] == EPHEMERAL_HOUR
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": HANDBOOK, "cache_control": EPHEMERAL},
        {"type": "text", "text": "What is on page one?"},
    ]


def test_anthropic_sdk_cache_control_reaches_bedrock_as_cache_points(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    with anthropic.Anthropic(base_url=f"{gateway.url}/anthropic", api_key="k", max_retries=0) as client:
        message = client.messages.create(
            model="bedrock/claude-sonnet",
            max_tokens=50,
            system=[{"type": "text", "text": RULES, "cache_control": EPHEMERAL_HOUR}],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": HANDBOOK, "cache_control": EPHEMERAL}]},
                {"role": "assistant", "content": "Ready."},
                {"role": "user", "content": "What is on page one?"},
            ],
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == fake_text("bedrock", "What is on page one?")
    body = _bedrock_body(fake_provider)
    assert body["system"] == [{"text": RULES}, POINT_HOUR]
    assert body["messages"][0]["content"] == [{"text": HANDBOOK}, POINT]
    assert "cachePoint" not in str(body["messages"][1:])


def test_openai_sdk_content_part_cache_control_reaches_anthropic_and_bedrock(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    messages: Any = [
        {"role": "system", "content": [{"type": "text", "text": RULES, "cache_control": EPHEMERAL}]},
        {"role": "user", "content": [{"type": "text", "text": HANDBOOK, "cache_control": EPHEMERAL_HOUR},
                                     {"type": "text", "text": "What is on page one?"}]},
    ]  # fmt: skip
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0) as client:
        to_anthropic = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=messages)
        to_bedrock = client.chat.completions.create(model="bedrock/claude-sonnet", messages=messages)
    assert to_anthropic.choices[0].message.content and to_bedrock.choices[0].message.content
    claude = fake_provider.last("/v1/messages").json
    assert claude["system"] == [{"type": "text", "text": RULES, "cache_control": EPHEMERAL}]
    assert claude["messages"][0]["content"][0]["cache_control"] == EPHEMERAL_HOUR
    bedrock = _bedrock_body(fake_provider)
    assert bedrock["system"] == [{"text": RULES}, POINT]
    assert bedrock["messages"][0]["content"][:2] == [{"text": HANDBOOK}, POINT_HOUR]


def test_a_bad_cache_point_is_a_validation_error_before_any_upstream_call(
    fake_provider: FakeProvider, runtime: Any
) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        runtime.converse(
            modelId="bedrock/claude-sonnet",
            messages=[{"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "forever"}}]}],
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "messages[0].content[1].cachePoint.type" in caught.value.response["Error"]["Message"]
    assert fake_provider.requests == []
