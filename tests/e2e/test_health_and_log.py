"""Liveness and readiness views, the one-line-per-request JSON log, and the x-bifrost-* reply
headers, over real sockets with the official SDKs."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FakeProvider,
    ServerHandle,
    Status,
    openai_error_body,
    run_gateway,
)
from tests.support.request_log import RequestLines, capture_request_log

pytestmark = pytest.mark.e2e

OPENAI_KEY = "sk-health-openai-Vb81mx2Lq0"
DISABLED_KEY = "sk-health-disabled-Jt44pe9Wz3"
ANTHROPIC_ENV = "BIFROST_E2E_HEALTH_ANTHROPIC_KEY"
ANTHROPIC_KEY = "ant-health-from-env-Rr62kd7Uy5"
GEMINI_KEY = "gem-health-key-Cx90fa3Nn8"
SECRETS = (OPENAI_KEY, DISABLED_KEY, ANTHROPIC_KEY, GEMINI_KEY)
PROMPT = "the plum in the icebox is purple 7781"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def config(fake: FakeProvider, *, max_retries: int = 0, **client: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "keys": [
                    {"value": OPENAI_KEY, "models": ["*"], "name": "oa-main"},
                    {"value": DISABLED_KEY, "models": ["*"], "name": "oa-off", "enabled": False},
                ],
                "network_config": {
                    "base_url": fake.url,
                    "max_retries": max_retries,
                    "retry_backoff_initial_ms": 1,
                    "retry_backoff_max_ms": 2,
                },
            },
            "anthropic": {"keys": [{"value": f"env.{ANTHROPIC_ENV}"}], "network_config": {"base_url": fake.url}},
            "gemini": {"keys": [{"value": GEMINI_KEY}], "network_config": {"base_url": fake.url + "/v1beta"}},
        },
        "routing": {"cooldown_failures": 2, "cooldown_seconds": 60},
        "client": client,
    }


@pytest.fixture
def fake(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    monkeypatch.setenv(ANTHROPIC_ENV, ANTHROPIC_KEY)
    return fake_provider


def oai(gw: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-key", base_url=gw.url + "/openai/v1", max_retries=0)


def ant(gw: ServerHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="client-key", base_url=gw.url + "/anthropic", max_retries=0)


MESSAGES: Any = [{"role": "user", "content": PROMPT}]


# --------------------------------------------------------------------------- health


def test_liveness_readiness_and_cooldown_without_key_values(fake: FakeProvider) -> None:
    with run_gateway(config(fake)) as gw, httpx2.Client(base_url=gw.url, timeout=5.0) as http:
        live = http.get("/health")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})

        ready = http.get("/health/ready")
        assert ready.status_code == 200
        view = ready.json()
        assert view["status"] == "ready" and view["in_flight"] == 0
        assert set(view["providers"]) == {"openai", "anthropic", "gemini"}
        openai_view = view["providers"]["openai"]
        assert openai_view == {
            "format": "openai",
            "keys": 2,
            "usable_keys": 1,
            "cooling_keys": {},
            "ready": True,
            "queue": {"in_flight": 0, "waiting": 0, "concurrency": 1000, "buffer_size": 5000},
        }
        assert view["providers"]["anthropic"]["keys"] == view["providers"]["anthropic"]["usable_keys"] == 1
        for secret in SECRETS:
            assert secret not in ready.text and secret not in live.text

        # Two 500s (the cooldown threshold) cool the only usable openai key down.
        fake.script("openai", [Status(500), Status(500)])
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                oai(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        cooled = http.get("/health/ready")
        assert cooled.status_code == 200, "other providers are still ready"
        body = cooled.json()
        openai_view = body["providers"]["openai"]
        assert list(openai_view["cooling_keys"]) == ["oa-main"]
        assert 0 < openai_view["cooling_keys"]["oa-main"] <= 60
        assert openai_view["ready"] is False
        assert body["providers"]["anthropic"]["ready"] is True and body["status"] == "ready"
        for secret in SECRETS:
            assert secret not in cooled.text

        metrics = http.get("/metrics").text
        cooldown = {
            (s.labels["provider"], s.labels["key"]): s.value
            for family in text_string_to_metric_families(metrics)
            for s in family.samples
            if s.name == "bifrost_cooldown_active"
        }
        assert cooldown == {("openai", "oa-main"): 1.0}
        for secret in SECRETS:
            assert secret not in metrics


# --------------------------------------------------------------------------- request log


@pytest.fixture
def request_log() -> Iterator[RequestLines]:
    """The lines written to the ``bifrost_asgi.requests`` logger (INFO and up)."""
    with capture_request_log() as lines:
        yield lines


def _records(log: RequestLines, count: int) -> list[dict[str, Any]]:
    """Wait for ``count`` lines (a stream is logged just after its last byte) and parse them."""
    records = log.records(count, timeout=5.0)
    assert len(log.lines) == count, log.lines
    return records


def test_one_json_log_line_per_request_without_prompt_or_secrets(fake: FakeProvider, request_log: RequestLines) -> None:
    with run_gateway(config(fake, log_json=True)) as gw:
        client, claude = oai(gw), ant(gw)
        plain = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-request-id": "obs-req-1"}
        )
        assert plain.headers["x-request-id"] == "obs-req-1"
        assert plain.parse().choices[0].message.content == f"openai says: {PROMPT}"

        streamed = claude.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES, stream=True
        )
        generated = streamed.headers["x-request-id"]
        assert GENERATED_ID.fullmatch(generated)
        assert [e.type for e in streamed.parse()][-1] == "message_stop"

        unsafe = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-request-id": "not a valid id\t!"}
        )
        replaced = unsafe.headers["x-request-id"]
        assert GENERATED_ID.fullmatch(replaced) and replaced != generated

        fake.script("openai", [Status(500)])
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-request-id": "obs-req-fail"}
            )
        assert failed.value.response.headers["x-request-id"] == "obs-req-fail"

        # An upstream that echoes the gateway's key: masked in the reply and in the log.
        echo = openai_error_body(401, f"Incorrect API key provided: {OPENAI_KEY}.")
        fake.script("openai", [Status(401, echo)])
        with pytest.raises(openai.AuthenticationError) as denied:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-request-id": "obs-req-echo"}
            )
        assert OPENAI_KEY not in denied.value.response.text
        assert "Incorrect API key provided: ***." in denied.value.response.text

        records = _records(request_log, 5)
    by_id = {r["request_id"]: r for r in records}
    assert sorted(by_id) == sorted(["obs-req-1", generated, replaced, "obs-req-fail", "obs-req-echo"])

    ok = by_id["obs-req-1"]
    assert {k: ok[k] for k in ("dialect", "route", "method", "provider", "model", "status", "stream", "attempts")} == {
        "dialect": "openai", "route": "/openai/v1/chat/completions", "method": "POST", "provider": "openai",
        "model": "gpt-4o-mini", "status": 200, "stream": False, "attempts": 1,
    }  # fmt: skip
    assert (ok["input_tokens"], ok["output_tokens"]) == (FAKE_PROMPT_TOKENS, FAKE_COMPLETION_TOKENS)
    assert ok["latency_ms"] > 0 and 0 <= ok["overhead_ms"] <= ok["latency_ms"]
    assert ok["error"] is None

    stream = by_id[generated]
    assert (stream["dialect"], stream["provider"], stream["model"]) == ("anthropic", "anthropic", "claude-haiku-4-5")
    assert (stream["status"], stream["stream"], stream["attempts"]) == (200, True, 1)
    assert (stream["input_tokens"], stream["output_tokens"]) == (FAKE_PROMPT_TOKENS, FAKE_COMPLETION_TOKENS)

    bad = by_id["obs-req-fail"]
    assert (bad["status"], bad["provider"], bad["model"], bad["attempts"]) == (500, "openai", "gpt-4o-mini", 1)
    assert bad["error"] == "fake openai error 500"
    assert bad["input_tokens"] is None and bad["output_tokens"] is None

    echoed = by_id["obs-req-echo"]
    assert echoed["status"] == 401 and echoed["error"] == "Incorrect API key provided: ***."

    for line in request_log.lines:
        assert "\n" not in line
        assert "plum" not in line and PROMPT not in line, "no prompt text in the request log by default"
        assert "openai says" not in line, "no completion text either"
        for secret in SECRETS:
            assert secret not in line


# --------------------------------------------------------------------------- reply headers


def _overhead(headers: httpx2.Headers | Any, elapsed_ms: float) -> float:
    value = float(headers["x-bifrost-overhead-ms"])
    assert math.isfinite(value) and 0 <= value <= elapsed_ms
    return value


def test_reply_headers_name_the_provider_that_answered(fake: FakeProvider) -> None:
    with run_gateway(config(fake, max_retries=1)) as gw, httpx2.Client(base_url=gw.url, timeout=10.0) as http:
        client = oai(gw)

        started = time.perf_counter()
        plain = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        elapsed = (time.perf_counter() - started) * 1000
        assert (plain.headers["x-bifrost-provider"], plain.headers["x-bifrost-model"]) == ("openai", "gpt-4o-mini")
        assert plain.headers["x-bifrost-attempts"] == "1"
        _overhead(plain.headers, elapsed)

        fake.script("openai", [Status(500)])  # retried on the same provider
        retried = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert (retried.headers["x-bifrost-provider"], retried.headers["x-bifrost-attempts"]) == ("openai", "2")

        fake.script("openai", [Status(500), Status(500)])  # retry fails too: the fallback answers
        started = time.perf_counter()
        fell_back = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_body={"fallbacks": ["anthropic/claude-haiku-4-5"]}
        )
        elapsed = (time.perf_counter() - started) * 1000
        assert fell_back.parse().choices[0].message.content == f"anthropic says: {PROMPT}"
        headers = fell_back.headers
        assert (headers["x-bifrost-provider"], headers["x-bifrost-model"]) == ("anthropic", "claude-haiku-4-5")
        assert headers["x-bifrost-attempts"] == "3"
        _overhead(headers, elapsed)

        body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        started = time.perf_counter()
        with http.stream(
            "POST", "/genai/v1beta/models/gemini-2.5-flash:streamGenerateContent", params={"alt": "sse"}, json=body
        ) as reply:
            assert reply.status_code == 200
            reply.read()
        elapsed = (time.perf_counter() - started) * 1000
        streamed = reply.headers
        assert (streamed["x-bifrost-provider"], streamed["x-bifrost-model"]) == ("gemini", "gemini-2.5-flash")
        assert streamed["x-bifrost-attempts"] == "1"
        _overhead(streamed, elapsed)

        fake.script("openai", [Status(500), Status(500)])  # nobody answers
        failed = http.post("/openai/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES})
        assert failed.status_code == 500
        assert failed.headers["x-bifrost-attempts"] == "2"
        assert "x-bifrost-provider" not in failed.headers
        assert GENERATED_ID.fullmatch(failed.headers["x-request-id"])
        _overhead(failed.headers, 10_000)
