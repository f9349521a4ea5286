"""Virtual keys through the official SDKs, over real sockets: each SDK works by setting its usual API
key to the virtual key, and every governance refusal reaches it as its own exception class with
Bifrost's status (401, 403, 429 with retry-after and x-ratelimit-*, 402), before any upstream call."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from tests.support import FakeProvider, ServerHandle, run_gateway

pytestmark = pytest.mark.e2e

VK = "sk-bf-team-alpha-0001"
VK_OPUS_ONLY = "sk-bf-openai-only-0002"
VK_OFF = "sk-bf-inactive-0003"
VK_LIMITED = "sk-bf-limited-0004"
VK_BROKE = "sk-bf-budget-0005"
ALL = [{"provider": p, "allowed_models": ["*"]} for p in ("openai", "anthropic", "gemini")]
HELLO: Any = [{"role": "user", "content": "hello"}]


def config(fake: FakeProvider) -> dict[str, Any]:
    keys = [{"value": "sk-upstream-secret"}]
    return {
        "providers": {
            "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
            "gemini": {"keys": keys, "network_config": {"base_url": fake.url + "/v1beta"}},
        },
        "client": {"enforce_auth_on_inference": True},
        "governance": {
            "rate_limits": [{"id": "rl-2", "request_max_limit": 2, "request_reset_duration": "1h"}],
            "budgets": [{"id": "b-tiny", "max_limit": 0.0000001, "reset_duration": "1d", "virtual_key_id": "vk-broke"}],
            "virtual_keys": [
                {"id": "vk-alpha", "name": "alpha", "value": VK, "provider_configs": ALL},
                {"id": "vk-openai", "name": "openai-mini", "value": VK_OPUS_ONLY,
                 "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"]}]},
                {"id": "vk-off", "name": "off", "value": VK_OFF, "is_active": False, "provider_configs": ALL},
                {"id": "vk-limited", "name": "limited", "value": VK_LIMITED, "rate_limit_id": "rl-2",
                 "provider_configs": ALL},
                {"id": "vk-broke", "name": "broke", "value": VK_BROKE, "provider_configs": ALL},
            ],
        },
    }  # fmt: skip


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(config(fake_provider)) as handle:
        yield handle


def oai(gateway: ServerHandle, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{gateway.url}/openai/v1", max_retries=0)


def ant(gateway: ServerHandle, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=f"{gateway.url}/anthropic", max_retries=0)


def gem(gateway: ServerHandle, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options={"base_url": f"{gateway.url}/genai"})


def call_openai(gateway: ServerHandle, key: str, model: str = "gpt-4o-mini") -> Any:
    return oai(gateway, key).chat.completions.create(model=model, messages=HELLO, max_tokens=16)


def call_anthropic(gateway: ServerHandle, key: str, model: str = "claude-3-5-haiku-latest") -> Any:
    return ant(gateway, key).messages.create(model=model, max_tokens=16, messages=HELLO)


def call_genai(gateway: ServerHandle, key: str, model: str = "gemini-2.0-flash") -> Any:
    client = gem(gateway, key)  # held: a collected Client closes its HTTP client mid-call
    return client.models.generate_content(model=model, contents="hello")


# ------------------------------------------------------------------------------ authentication


def test_each_sdk_works_with_the_virtual_key_as_its_api_key(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    assert call_openai(gateway, VK).choices[0].message.content
    assert call_anthropic(gateway, VK).content[0].text  # type: ignore[union-attr]
    assert call_genai(gateway, VK).text
    assert fake_provider.count() == 3
    for request in fake_provider.requests:  # the virtual key never goes upstream
        assert not any(VK in value for value in request.headers.values())


def test_x_bf_vk_header_and_genai_query_key(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    body = {"model": "openai/gpt-4o-mini", "messages": HELLO}
    assert httpx2.post(gateway.url + "/v1/chat/completions", json=body, headers={"x-bf-vk": VK}).status_code == 200
    url = gateway.url + f"/genai/v1beta/models/gemini-2.0-flash:generateContent?key={VK}"
    assert httpx2.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]}).status_code == 200


def test_no_key_is_401_in_every_dialect(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.AuthenticationError) as oe:
        call_openai(gateway, "sk-not-a-virtual-key")
    assert oe.value.status_code == 401 and "virtual key is required" in oe.value.message
    assert oe.value.code == "virtual_key_required"
    with pytest.raises(anthropic.AuthenticationError) as ae:
        call_anthropic(gateway, "sk-ant-not-virtual")
    assert ae.value.status_code == 401 and "virtual key is required" in str(ae.value)
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, "AIza-not-virtual")
    assert ge.value.code == 401 and ge.value.status == "UNAUTHENTICATED"
    response = httpx2.get(gateway.url + "/v1/models")
    assert response.status_code == 401
    assert fake_provider.count() == 0


def test_unknown_key_is_401_not_found(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    unknown = "sk-bf-00000000-dead-beef"
    with pytest.raises(openai.AuthenticationError) as oe:
        call_openai(gateway, unknown)
    assert oe.value.code == "virtual_key_not_found" and unknown not in oe.value.message
    with pytest.raises(anthropic.AuthenticationError):
        call_anthropic(gateway, unknown)
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, unknown)
    assert ge.value.code == 401
    assert fake_provider.count() == 0


def test_inactive_key_is_403_blocked(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.PermissionDeniedError) as oe:
        call_openai(gateway, VK_OFF)
    assert oe.value.code == "virtual_key_blocked" and "inactive" in oe.value.message
    with pytest.raises(anthropic.PermissionDeniedError):
        call_anthropic(gateway, VK_OFF)
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, VK_OFF)
    assert ge.value.code == 403 and ge.value.status == "PERMISSION_DENIED"
    assert fake_provider.count() == 0


def test_provider_and_model_blocked_are_403(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.PermissionDeniedError) as model:
        call_openai(gateway, VK_OPUS_ONLY, model="gpt-4o")
    assert model.value.code == "model_blocked" and "gpt-4o" in model.value.message
    with pytest.raises(anthropic.PermissionDeniedError) as provider:
        call_anthropic(gateway, VK_OPUS_ONLY)
    assert "provider 'anthropic'" in str(provider.value)
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, VK_OPUS_ONLY)
    assert ge.value.code == 403
    assert call_openai(gateway, VK_OPUS_ONLY).choices  # the allowed model still works
    assert fake_provider.count() == 1


# ------------------------------------------------------------------------------ limits


def test_request_limit_is_429_with_headers_in_every_sdk(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    call_openai(gateway, VK_LIMITED)
    call_anthropic(gateway, VK_LIMITED)
    with pytest.raises(openai.RateLimitError) as oe:
        call_openai(gateway, VK_LIMITED)
    headers = oe.value.response.headers
    assert oe.value.code == "rate_limited" and int(headers["retry-after"]) > 0
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert "request limit exceeded" in oe.value.message and "limited" in oe.value.message
    with pytest.raises(anthropic.RateLimitError):
        call_anthropic(gateway, VK_LIMITED)
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, VK_LIMITED)
    assert ge.value.code == 429 and ge.value.status == "RESOURCE_EXHAUSTED"
    assert fake_provider.count() == 2


def test_budget_is_402_in_every_sdk(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.APIStatusError) as oe:
        call_openai(gateway, VK_BROKE)
    assert oe.value.status_code == 402 and oe.value.code == "budget_exceeded"
    assert "Budget exceeded" in oe.value.message and "b-tiny" in oe.value.message
    with pytest.raises(anthropic.APIStatusError) as ae:
        call_anthropic(gateway, VK_BROKE)
    assert ae.value.status_code == 402 and ae.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    with pytest.raises(genai_errors.ClientError) as ge:
        call_genai(gateway, VK_BROKE)
    assert ge.value.code == 402
    assert fake_provider.count() == 0, [(r.method, r.path, r.vendor) for r in fake_provider.requests]


def test_virtual_key_values_never_leave_the_gateway(
    fake_provider: FakeProvider, gateway: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        call_openai(gateway, VK)
        with pytest.raises(openai.AuthenticationError):
            call_openai(gateway, "sk-bf-wrong-value-9999")
        with pytest.raises(openai.RateLimitError):
            for _ in range(3):
                call_openai(gateway, VK_LIMITED)
    outputs = [r.getMessage() for r in caplog.records]
    outputs += [httpx2.get(gateway.url + p).text for p in ("/metrics", "/health", "/health/ready")]
    for secret in (VK, VK_LIMITED, "sk-bf-wrong-value-9999", VK[6:], "sk-upstream-secret"):
        assert not any(secret in text for text in outputs), secret
    assert any("virtual_key=vk-alpha" in line for line in outputs)
    metrics = outputs[-3]
    assert 'bifrost_virtual_key_requests_total{virtual_key="alpha"}' in metrics
    assert 'bifrost_governance_rejections_total{reason="rate_limited",virtual_key="limited"}' in metrics
    assert 'bifrost_cost_usd_total{model="gpt-4o-mini",provider="openai"}' in metrics
