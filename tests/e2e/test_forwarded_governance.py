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
VK_MODELS = "sk-bf-forwarded-models"
VK_BUDGET = "sk-bf-forwarded-budget"


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    config = {
        "providers": {"openai": {"keys": [{"value": "sk-up"}], "network_config": {"base_url": fake_provider.url}},
                      "anthropic": {"keys": [{"value": "sk-ant"}], "network_config": {"base_url": fake_provider.url}}},
        "client": {"enforce_auth_on_inference": True},
        "governance": {
            "rate_limits": [{"id": "rl", "request_max_limit": 2, "request_reset_duration": "1h"}],
            "budgets": [{"id": "b", "max_limit": 10.0, "reset_duration": "1d", "virtual_key_id": "vk-budget"}],
            "virtual_keys": [
                {"id": "vk", "name": "fwd", "value": VK, "rate_limit_id": "rl",
                 "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]},
                {"id": "vk-models", "name": "images-only", "value": VK_MODELS,
                 "provider_configs": [{"provider": "openai", "allowed_models": ["dall-e-3"]}]},
                {"id": "vk-budget", "name": "budgeted", "value": VK_BUDGET,
                 "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]},
            ],
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


def test_calls_that_name_no_model_are_refused_clearly_under_a_model_list_or_a_dollar_budget(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    # A batch's models are inside its file: a key limited to some models, or with a dollar budget, cannot
    # be checked or charged before it runs, so it is refused (never let through), and the error says why.
    for key, status, words in ((VK_MODELS, 403, "may use only some models"), (VK_BUDGET, 403, "dollar budget")):
        sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        file = sdk.files.create(file=("r.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert caught.value.status_code == status
        assert words in caught.value.message and "batches and passthrough" in caught.value.message
        assert "''" not in caught.value.message and "'openai/'" not in caught.value.message
    assert not fake_provider.matching("/v1/batches")
    images_only = openai.OpenAI(base_url=gateway.url + "/v1", api_key=VK_MODELS, max_retries=0)
    assert images_only.images.generate(model="openai/dall-e-3", prompt="fox").data
