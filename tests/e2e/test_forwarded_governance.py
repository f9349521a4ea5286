"""Forwarded calls are governed like chat (Bifrost's passthrough bypassed budgets, its #2873): a
virtual key is required, its provider access applies, and batch/passthrough calls count against
its request limit; files only need the key."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx2
import openai
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_media import FakeMedia

pytestmark = pytest.mark.e2e

VK = "sk-bf-forwarded-0001"


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    config = {
        "providers": {"openai": {"keys": [{"value": "sk-up"}], "network_config": {"base_url": fake_provider.url}},
                      "anthropic": {"keys": [{"value": "sk-ant"}], "network_config": {"base_url": fake_provider.url}}},
        "client": {"enforce_auth_on_inference": True},
        "governance": {
            "rate_limits": [{"id": "rl", "request_max_limit": 2, "request_reset_duration": "1h"}],
            "virtual_keys": [{"id": "vk", "name": "fwd", "value": VK, "rate_limit_id": "rl",
                              "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
        },
    }  # fmt: skip
    with run_gateway(config) as handle:
        yield handle


def test_virtual_key_required_provider_access_and_request_limit(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        anonymous = http.get("/openai_passthrough/v1/models")
        blocked = http.get("/anthropic_passthrough/v1/models", headers={"x-api-key": VK})
    assert anonymous.status_code == 401
    assert blocked.status_code == 403 and blocked.json()["error"]["type"]
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=VK, max_retries=0)
    file = sdk.files.create(file=("r.jsonl", io.BytesIO(b"{}\n")), purpose="batch")  # files: key only
    sdk.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    sdk.images.generate(model="openai/dall-e-3", prompt="fox")
    with pytest.raises(openai.RateLimitError):  # the third governed call is over the limit of 2
        sdk.images.generate(model="openai/dall-e-3", prompt="fox")
    assert not fake_provider.matching("/v1/models")
