"""Answers of the wrong shape are failures: valid JSON that is not the vendor's shape is a 502
naming the provider and what was wrong (so a fallback runs), never an empty 200; a non-JSON error
body reaches the client wrapped in its own dialect's error shape."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support import Reply, run_gateway, running_fake

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]
CASES = [
    # (upstream provider, client path, body sent, wrong answer, what the 502 names)
    ("anthropic", "/anthropic/v1/messages", {"model": "anthropic/claude-3-5-haiku-latest", "max_tokens": 5,
     "messages": HI}, {"id": "m", "type": "message", "content": 5}, "'content' list"),
    ("anthropic", "/v1/chat/completions", {"model": "anthropic/claude-3-5-haiku-latest", "messages": HI},
     {"content": [{"type": "text", "text": 7}]}, "without its text"),
    ("gemini", "/genai/v1beta/models/gemini-2.0-flash:generateContent",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
     {"candidates": [{"content": {"parts": "hi"}}]}, "not a list of parts"),
    ("gemini", "/v1/chat/completions", {"model": "gemini/gemini-2.0-flash", "messages": HI}, {"usage": {}},
     "'candidates' list"),
    ("openai", "/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": HI}, {"choices": [5]},
     "choices[0]"),
]  # fmt: skip


def _config(bad: str, good: str) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"keys": [{"value": "sk-shape-o"}], "network_config": {"base_url": bad}},
            "anthropic": {"keys": [{"value": "sk-shape-a"}], "network_config": {"base_url": bad}},
            "gemini": {"keys": [{"value": "shape-g"}], "network_config": {"base_url": f"{bad}/v1beta"}},
            "backup": {
                "keys": [{"value": "sk-shape-b"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": good},
            },
        }
    }


@pytest.mark.parametrize(("provider", "path", "body", "answer", "named"), CASES)
def test_wrong_shape_is_a_502_naming_the_provider_and_falls_back(
    provider: str, path: str, body: dict[str, Any], answer: Any, named: str
) -> None:
    with running_fake() as bad, running_fake() as good:
        path_of = {"anthropic": "/v1/messages", "gemini": ":generateContent", "openai": "/chat/completions"}
        bad.respond(path_of[provider], lambda request: Reply(json=answer))
        with run_gateway(_config(bad.url, good.url)) as gw:
            alone = httpx2.post(gw.url + path, json=body, timeout=30)
            rescued = httpx2.post(gw.url + path, json={**body, "fallbacks": ["backup/gpt-4o-mini"]}, timeout=30)
    assert alone.status_code == 502, alone.text
    assert provider in alone.text and named in alone.text
    assert rescued.status_code == 200, rescued.text
    assert rescued.headers["x-bifrost-provider"] == "backup"


def test_non_json_gemini_error_is_wrapped_in_the_genai_error_shape() -> None:
    with running_fake() as bad, running_fake() as good:
        bad.respond(":generateContent", lambda request: Reply(status=503, body="upstream exploded <b>badly</b>"))
        with run_gateway(_config(bad.url, good.url)) as gw:
            response = httpx2.post(
                gw.url + "/genai/v1beta/models/gemini-2.0-flash:generateContent",
                json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                timeout=30,
            )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == 503 and isinstance(error["status"], str)
    assert "upstream exploded" in error["message"]
