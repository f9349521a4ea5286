"""Operations endpoints: with ``client.operations_token`` set, /metrics and /health/ready need the
bearer token (401 in the OpenAI error shape otherwise); /health stays open for probes; the token
is a secret like any other. Hostile model names in failed requests are labelled ``other``."""

from __future__ import annotations

import httpx2
import pytest

from tests.support import FakeProvider, run_gateway

pytestmark = pytest.mark.e2e

TOKEN = "ops-token-4b1d9e7f2a"


def test_operations_token_guards_metrics_and_ready(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_OPS_TOKEN", TOKEN)
    config = {
        "providers": {
            "openai": {"keys": [{"value": "sk-ops-key-123456"}], "network_config": {"base_url": fake_provider.url}}
        },
        "client": {"operations_token": "env.E2E_OPS_TOKEN"},
    }
    with run_gateway(config) as gw, httpx2.Client(base_url=gw.url) as http:
        assert http.get("/health").status_code == 200
        for path in ("/metrics", "/health/ready"):
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
                refused = http.get(path, headers=headers)
                assert refused.status_code == 401, (path, headers)
                assert refused.json()["error"]["type"] == "authentication_error"
                assert TOKEN not in refused.text
            allowed = http.get(path, headers={"authorization": f"Bearer {TOKEN}"})
            assert allowed.status_code == 200
            assert TOKEN not in allowed.text


def test_hostile_model_names_do_not_get_labels(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "sk-ops-key-123456", "models": ["gpt-4o-mini"]}],
                                       "network_config": {"base_url": fake_provider.url}}}}  # fmt: skip
    with run_gateway(config) as gw, httpx2.Client(base_url=gw.url) as http:
        for i in range(30):
            http.post(
                "/v1/chat/completions",
                json={"model": f"openai/hostile-{i}", "messages": [{"role": "user", "content": "x"}]},
            )
        ok = http.post(
            "/v1/chat/completions", json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
        )
        assert ok.status_code == 200
        text = http.get("/metrics").text
    assert "hostile-" not in text
    assert 'model="gpt-4o-mini"' in text and 'model="other"' in text
