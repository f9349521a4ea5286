"""``POST /v1/responses/input_tokens`` (and under ``/openai``) through the OpenAI SDK's
``responses.input_tokens.count``: counted by the vendor where it counts (Anthropic), else estimated."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    providers = {name: {"keys": [{"value": f"sk-{name}"}], "network_config": {"base_url": fake_provider.url}}
                 for name in ("openai", "anthropic")}  # fmt: skip
    with run_gateway({"providers": providers}) as handle:
        yield handle


@pytest.mark.parametrize("base", ["/v1", "/openai", "/openai/v1"])
def test_input_tokens_counted_for_openai_clients(fake_provider: FakeProvider, gateway: ServerHandle, base: str) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + base, api_key="client", max_retries=0)
    estimated = sdk.responses.input_tokens.count(model="openai/gpt-4o-mini", input="hello there, how are you?")
    assert estimated.object == "response.input_tokens" and estimated.input_tokens > 0
    counted = sdk.responses.input_tokens.count(
        model="anthropic/claude-haiku-4-5", input="hello", instructions="be brief"
    )
    assert counted.input_tokens > 0
    upstream = fake_provider.last("/v1/messages/count_tokens")
    assert upstream.json["model"] == "claude-haiku-4-5" and upstream.json["system"]
