"""Every read of an attempt is inside its deadline: an upstream that answers an error status at
once and then sends its body one byte at a time must time out like any other attempt and let a
healthy fallback answer, streamed or not (the client's own timeout only bounds a hang)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support import Trickle, fake_text, run_gateway, running_fake

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("client", ["aiohttp", "httpx"])
def test_a_trickled_error_body_times_out_and_the_fallback_answers(stream: bool, client: str) -> None:
    with running_fake() as slow, running_fake() as healthy:
        config = {
            "providers": {
                "openai": {
                    "keys": [{"value": "sk-slow-key"}],
                    "network_config": {"base_url": slow.url, "default_request_timeout_in_seconds": 1},
                },
                "backup": {
                    "keys": [{"value": "sk-backup-key"}],
                    "custom_provider_config": {"base_provider_type": "openai"},
                    "network_config": {"base_url": healthy.url},
                },
            },
            "client": {"upstream_client": client},
        }
        slow.always("openai", Trickle(500, delay=0.5))  # ~100 bytes: ~50 s of body
        body = {"model": "openai/gpt-4o-mini", "messages": HI, "fallbacks": ["backup/gpt-4o-mini"], "stream": stream}
        with run_gateway(config) as gw:
            response = httpx2.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["x-bifrost-provider"] == "backup"
        assert "openai/gpt-4o-mini=504" in response.headers["x-bifrost-attempt-trail"]
        text = fake_text("openai", "hi")
        if stream:
            assert "[DONE]" in response.text
        else:
            assert response.json()["choices"][0]["message"]["content"] == text
