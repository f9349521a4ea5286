"""Hostile request bodies and model names over a real socket: each one a 400 in the client's
dialect, naming the field, decided before any upstream call (the fake provider sees nothing)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    entry = {"keys": [{"value": "sk-hostile-test-key"}], "network_config": {"base_url": fake_provider.url}}
    config = {"providers": {"openai": entry, "anthropic": entry, "gemini": entry}}
    with run_gateway(config) as handle:
        yield handle


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


HEAD = '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],'


OPENAI_CASES = [
    ("deep-tools", HEAD + '"tools":' + _nested(300) + "}"),
    ("deep-1000", HEAD + '"x":' + _nested(1000) + "}"),
    ("role-list", '{"model":"openai/gpt-4o","messages":[{"role":["user"],"content":"hi"}]}'),
    ("role-object", '{"model":"openai/gpt-4o","messages":[{"role":{"a":1},"content":"hi"}]}'),
    ("model-non-latin1", '{"model":"openai/gpt-\u4f60\u597d","messages":[{"role":"user","content":"hi"}]}'),
    ("model-crlf", '{"model":"openai/gpt\\r\\nx-injected: 1","messages":[{"role":"user","content":"hi"}]}'),
    ("model-nul", '{"model":"openai/gpt\\u0000","messages":[{"role":"user","content":"hi"}]}'),
    ("model-70k", '{"model":"openai/' + "m" * 70_000 + '","messages":[{"role":"user","content":"hi"}]}'),
    ("model-dotdot", '{"model":"gemini/../../../../_stats","messages":[{"role":"user","content":"hi"}]}'),
    ("fallback-dotdot", HEAD + '"fallbacks":["gemini/.."]}'),
]


@pytest.mark.parametrize(("name", "body"), OPENAI_CASES, ids=[c[0] for c in OPENAI_CASES])
def test_hostile_openai_bodies_are_400_before_any_upstream_call(
    fake_provider: FakeProvider, gateway: ServerHandle, name: str, body: str
) -> None:
    response = httpx2.post(
        gateway.url + "/v1/chat/completions", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    field = "fallbacks[0]" if name.startswith("fallback") else ("messages[0].role" if "role" in name else None)
    if name.startswith("model") or field:
        assert error["message"].startswith(field or "model"), error["message"]
    assert len(response.headers.get("x-bifrost-model", "")) < 300
    assert sum(len(k) + len(v) for k, v in response.headers.items()) < 2000  # nothing reflected
    assert fake_provider.requests == []


def test_embeddings_encoding_format_of_the_wrong_type_is_400(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    for value in (["float"], {"a": 1}):
        response = httpx2.post(
            gateway.url + "/v1/embeddings",
            json={"model": "openai/text-embedding-3-small", "input": "x", "encoding_format": value},
        )
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("encoding_format")
    assert fake_provider.requests == []


def test_anthropic_deep_body_and_bad_model_are_anthropic_400s(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    for body in (
        {"model": "anthropic/claude", "max_tokens": 5, "messages": HI, "metadata": {"x": _deep(400)}},
        {"model": "claude-\u00e9\u4f60", "max_tokens": 5, "messages": HI},
        {"model": "anthropic/claude\n", "max_tokens": 5, "messages": HI},
    ):
        response = httpx2.post(gateway.url + "/anthropic/v1/messages", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake_provider.requests == []


@pytest.mark.parametrize(
    "model", ["..%2F..%2F..%2F_stats", "gemini-2.5-flash%0D%0Ax-a:b", "g%00x", "%E4%BD%A0", "m" * 300]
)
def test_gemini_path_models_are_validated(fake_provider: FakeProvider, gateway: ServerHandle, model: str) -> None:
    response = httpx2.post(
        f"{gateway.url}/genai/v1beta/models/{model}:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert response.status_code in (400, 404), response.text
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == response.status_code
    assert fake_provider.requests == []


def test_crlf_in_a_model_never_drops_the_connection(gateway: ServerHandle) -> None:
    """Raw bytes on a socket: the gateway answers (a 400) instead of closing on us."""
    body = b'{"model":"openai/a\\r\\nb","messages":[{"role":"user","content":"hi"}]}'
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 400 "), head[:200]
