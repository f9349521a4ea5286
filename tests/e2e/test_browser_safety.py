"""Browsers cannot spend the keys: non-JSON inference bodies get 415 in each dialect before any
upstream call, CORS follows client.allowed_origins, the CLI bound to loopback refuses other Host
names, and /health/ready says whether authentication is on."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from bifrost_asgi.asgi.browser import is_loopback_host
from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.cli_server import run_cli

pytestmark = pytest.mark.e2e


def providers(fake: FakeProvider) -> dict[str, object]:
    keys = [{"value": "sk-upstream"}]
    return {
        "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
        "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
        "gemini": {"keys": keys, "network_config": {"base_url": fake.url + "/v1beta"}},
    }


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    config = {"providers": providers(fake_provider), "client": {"allowed_origins": ["https://app.example.com"]}}
    with run_gateway(config) as handle:
        yield handle


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/chat/completions", "text/plain"),
        ("/anthropic/v1/messages", "application/x-www-form-urlencoded"),
        ("/genai/v1beta/models/gemini-2.0-flash:generateContent", "multipart/form-data; boundary=x"),
    ],
)
def test_non_json_bodies_are_415_before_any_upstream_call(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, content_type: str
) -> None:
    body = json.dumps({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    reply = httpx2.post(gateway.url + path, content=body, headers={"content-type": content_type})
    assert reply.status_code == 415, reply.text
    assert "application/json" in reply.text
    assert fake_provider.count() == 0


def test_cors_follows_allowed_origins(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type, authorization"}  # fmt: skip
    ok = httpx2.options(gateway.url + "/v1/chat/completions", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in ok.headers["access-control-allow-headers"]
    evil = httpx2.options(gateway.url + "/v1/chat/completions", headers={**preflight, "origin": "https://evil.test"})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx2.post(gateway.url + "/v1/chat/completions", json=body, headers={"origin": "https://app.example.com"})
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "https://app.example.com"
    other = httpx2.post(gateway.url + "/v1/chat/completions", json=body, headers={"origin": "https://evil.test"})
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(fake_provider: FakeProvider) -> None:
    with run_gateway({"providers": providers(fake_provider)}) as handle:
        preflight = {"origin": "https://evil.test", "access-control-request-method": "POST"}
        reply = httpx2.options(handle.url + "/v1/chat/completions", headers=preflight)
        assert "access-control-allow-origin" not in reply.headers and reply.status_code >= 400
        ready = httpx2.get(handle.url + "/health/ready").json()
        assert ready["auth"] == "off"


def test_loopback_names() -> None:
    for host in ("localhost", "localhost:8080", "127.0.0.1:80", "[::1]:8080", "app.localhost", "127.1.2.3"):
        assert is_loopback_host(host), host
    for host in ("evil.test", "evil.test:8080", "127.0.0.1.evil.test", "10.0.0.1", ""):
        assert not is_loopback_host(host), host


def cli(config: Path, host: str, log: Path) -> contextlib.AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]:
    return run_cli(config, log, "--host", host)


def test_cli_on_loopback_refuses_other_host_names(tmp_path: Path, fake_provider: FakeProvider) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"providers": providers(fake_provider)}))
    with cli(config, "127.0.0.1", tmp_path / "log") as (url, _):
        rebound = httpx2.get(url + "/v1/models", headers={"host": "attacker.example"})
        assert rebound.status_code == 403 and "loopback" in rebound.text
        assert httpx2.get(url + "/health", headers={"host": "localhost:1234"}).status_code == 200


def test_cli_beyond_loopback_without_auth_warns(tmp_path: Path, fake_provider: FakeProvider) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"providers": providers(fake_provider)}))
    log = tmp_path / "log"
    with cli(config, "0.0.0.0", log) as (url, _):
        assert httpx2.get(url + "/health", headers={"host": "gateway.internal"}).status_code == 200
        text = log.read_text()
    assert "without authentication" in text and "enforce_auth_on_inference" in text
