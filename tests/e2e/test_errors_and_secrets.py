"""Errors as the official ``openai`` SDK sees them, and secrets that never leave the gateway.

Each error check asserts the SDK's own exception class, the HTTP status and that the message names
the field (or the upstream's message, passed through). The secret checks capture every log record
of the whole request path at DEBUG and look for the key values in records, error bodies, reply
headers, ``/health``, ``/health/ready`` and ``/metrics``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx2
import openai
import pytest

from tests.support import (
    FakeProvider,
    MidStreamError,
    Reset,
    ServerHandle,
    Status,
    fake_text,
    openai_error_body,
    run_gateway,
)

pytestmark = pytest.mark.e2e

SECRET = "sk-test-secret-123"
ENV_SECRET = "sk-from-env-secret-456789"
ENV_NAME = "E2E_BIFROST_VLLM_KEY"
HELLO: Any = [{"role": "user", "content": "hello"}]


def openai_entry(fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {"keys": [{"value": SECRET}], "network_config": {"base_url": fake.url}, **extra}


def sdk(gateway: ServerHandle, path: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + path, api_key="sk-client-side", max_retries=0)


def error_of(body: bytes) -> dict[str, Any]:
    """The OpenAI-shaped error object of a JSON error body."""
    payload = httpx2.Response(200, content=body).json()
    assert set(payload) == {"error"}, payload
    error: dict[str, Any] = payload["error"]
    assert isinstance(error["message"], str)
    assert "type" in error
    return error


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    config = {
        "providers": {"openai": openai_entry(fake_provider)},
        "client": {"max_request_body_size_mb": 0.001},
    }
    with run_gateway(config) as handle:
        yield handle


# --------------------------------------------------------------------------- bad client input


def test_malformed_json_is_400_naming_json(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    response = httpx2.post(
        gateway.url + "/v1/chat/completions", content=b'{"model": "openai/gpt-4o-mini", "messages": [',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = error_of(response.content)
    assert "JSON" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert fake_provider.requests == []


def test_missing_messages_is_400_naming_messages(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).post("/chat/completions", body={"model": "openai/gpt-4o-mini"}, cast_to=object)
    assert caught.value.status_code == 400
    assert "messages" in caught.value.message
    assert fake_provider.requests == []


@pytest.mark.parametrize("index", [0, 1])
def test_ill_typed_field_is_400_naming_its_path(fake_provider: FakeProvider, gateway: ServerHandle, index: int) -> None:
    messages: Any = [{"role": "user", "content": "hi"}, {"role": "user", "content": "there"}]
    messages[index]["role"] = 5
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=messages)
    assert caught.value.status_code == 400
    assert f"messages[{index}].role" in caught.value.message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body.get("param") == f"messages[{index}].role"
    assert fake_provider.requests == []


def test_body_over_limit_is_413(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x" * 2000}]
        )
    assert caught.value.status_code == 413
    assert "max_request_body_size_mb" in caught.value.message
    assert fake_provider.requests == []


def test_chunked_body_over_limit_is_413(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the limit is enforced while reading
        yield b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}]}'

    response = httpx2.post(gateway.url + "/v1/chat/completions", content=chunks())
    assert response.status_code == 413
    assert "max_request_body_size_mb" in error_of(response.content)["message"]
    assert fake_provider.requests == []


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/openai/v1/nope", "/v1/chat/completions/extra"])
def test_unknown_route_is_json_404(gateway: ServerHandle, path: str) -> None:
    response = httpx2.post(gateway.url + path, json={"model": "x"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = error_of(response.content)
    assert path in error["message"]


def test_unknown_route_through_sdk_is_not_found_error(gateway: ServerHandle) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(gateway, "/openai/v1").get("/assistants-nope", cast_to=object)
    assert caught.value.status_code == 404
    assert "/openai/v1/assistants-nope" in caught.value.message


# --------------------------------------------------------------------------- upstream errors

UPSTREAM = [
    pytest.param(401, openai.AuthenticationError, id="401"),
    pytest.param(429, openai.RateLimitError, id="429"),
    pytest.param(500, openai.InternalServerError, id="500"),
    pytest.param(400, openai.BadRequestError, id="400"),
    pytest.param(403, openai.PermissionDeniedError, id="403"),
]


@pytest.mark.parametrize(("status", "exception"), UPSTREAM)
def test_upstream_error_maps_to_sdk_exception(
    fake_provider: FakeProvider, gateway: ServerHandle, status: int, exception: type[openai.APIStatusError]
) -> None:
    message = f"upstream refused this ({status}): temperature is out of range"
    fake_provider.always("openai", Status(status, openai_error_body(status, message)))
    with pytest.raises(exception) as caught:
        sdk(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == status
    assert message in caught.value.message
    assert fake_provider.count("/chat/completions") >= 1


@pytest.mark.parametrize(("status", "exception"), UPSTREAM[:3])
def test_upstream_error_on_stream_request(
    fake_provider: FakeProvider, gateway: ServerHandle, status: int, exception: type[openai.APIStatusError]
) -> None:
    message = f"upstream says no ({status})"
    fake_provider.always("openai", Status(status, openai_error_body(status, message)))
    with pytest.raises(exception) as caught:
        list(sdk(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True))
    assert caught.value.status_code == status
    assert message in caught.value.message


def test_unknown_model_with_two_providers_names_them(fake_provider: FakeProvider) -> None:
    config = {
        "providers": {
            "openai": openai_entry(fake_provider),
            "anthropic": {"keys": [{"value": "sk-ant-e2e-key"}], "network_config": {"base_url": fake_provider.url}},
        }
    }
    with run_gateway(config) as gw, pytest.raises(openai.BadRequestError) as caught:
        sdk(gw).chat.completions.create(model="mystery-model-9", messages=HELLO)
    assert caught.value.status_code == 400
    text = caught.value.message
    assert "mystery-model-9" in text
    assert "anthropic" in text
    assert "openai" in text
    assert "provider/model" in text
    assert fake_provider.requests == []


def test_key_models_exclude_the_model(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": openai_entry(fake_provider, keys=[{"value": SECRET, "models": ["gpt-4o"]}])}}
    with run_gateway(config) as gw:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        allowed = sdk(gw).chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    text = caught.value.message
    assert "gpt-4o-mini" in text
    assert "openai" in text
    assert SECRET not in text
    assert allowed.choices[0].message.content == fake_text("openai", "hello")
    assert [r.json["model"] for r in fake_provider.requests] == ["gpt-4o"]


def test_unset_env_key_is_authentication_error_naming_the_variable(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("E2E_UNSET_OPENAI_KEY", raising=False)
    config = {
        "providers": {
            "openai": openai_entry(fake_provider, keys=[{"value": "env.E2E_UNSET_OPENAI_KEY"}]),
            "groq": {"keys": [{"value": "gsk-other-provider-key"}], "network_config": {"base_url": fake_provider.url}},
        }
    }
    with run_gateway(config) as gw, pytest.raises(openai.AuthenticationError) as caught:
        sdk(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == 401
    text = caught.value.message
    assert "E2E_UNSET_OPENAI_KEY" in text
    assert "gsk-other-provider-key" not in text
    assert "sk-client-side" not in text
    assert fake_provider.requests == []


# --------------------------------------------------------------------------- secrets


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in (
        "bifrost_asgi",
        "bifrost_asgi.requests",
        "httpx",
        "httpx2",
        "httpcore",
        "httpcore2",
        "aiohttp",
        "openai",
        "uvicorn",
        "uvicorn.error",
        "asyncio",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_secrets_never_leave_the_gateway(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, everything_logged: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_NAME, ENV_SECRET)
    config = {
        "providers": {
            "openai": openai_entry(fake_provider),
            "my-vllm": {
                "keys": [{"value": f"env.{ENV_NAME}"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": fake_provider.url},
            },
        },
        "client": {"enable_logging": True, "log_content": True},
    }
    secrets = (SECRET, ENV_SECRET)
    seen: list[str] = []  # every body and header the client got back

    def record(response: httpx2.Response) -> None:
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())

    with run_gateway(config) as gw, httpx2.Client(base_url=gw.url) as http:
        for model in ("openai/gpt-4o-mini", "my-vllm/llama-3"):
            body = {"model": model, "messages": HELLO}
            ok = http.post("/v1/chat/completions", json=body)
            assert ok.status_code == 200
            record(ok)
            streamed = http.post("/v1/chat/completions", json={**body, "stream": True})
            assert streamed.status_code == 200
            assert "[DONE]" in streamed.text
            record(streamed)
            fake_provider.script("/chat/completions", [Status(401), Status(500), Reset(), MidStreamError(1)])
            for payload in (body, body, body, {**body, "stream": True}):
                failed = http.post("/v1/chat/completions", json=payload)
                record(failed)
            assert fake_provider.count("/chat/completions") >= 6
            bad = http.post("/v1/chat/completions", json={"model": model, "messages": "nope"})
            assert bad.status_code == 400
            record(bad)
        # The SDK too: plain, streamed, failing.
        client = sdk(gw)
        client.chat.completions.create(model="my-vllm/llama-3", messages=HELLO)
        list(client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True))
        fake_provider.script("/chat/completions", [Status(401)])
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        for path in ("/health", "/health/ready", "/metrics", "/v1/models", "/openai/v1/models"):
            response = http.get(path)
            assert response.status_code == 200, path
            record(response)

    # The keys did go upstream (the test would prove nothing otherwise) ...
    upstream_auth = {r.headers.get("authorization") for r in fake_provider.requests}
    assert {f"Bearer {SECRET}", f"Bearer {ENV_SECRET}"} <= upstream_auth
    # ... and nowhere else.
    messages = [record.getMessage() for record in everything_logged.records]
    assert any("bifrost_asgi" in r.name for r in everything_logged.records), "nothing was logged at all?"
    for secret in secrets:
        assert not [m for m in messages if secret in m]
        assert not [text for text in everything_logged.text.splitlines() if secret in text]
        assert not [text for text in seen if secret in text]


def test_upstream_error_echoing_the_key_does_not_reach_the_client(
    fake_provider: FakeProvider, everything_logged: pytest.LogCaptureFixture
) -> None:
    """Some upstreams quote the key they rejected; the client must not learn the gateway's key."""
    echo = f"Incorrect API key provided: {SECRET}. You can find your API key at https://example.invalid."
    with run_gateway({"providers": {"openai": openai_entry(fake_provider)}}) as gw:
        fake_provider.always("openai", Status(401, openai_error_body(401, echo)))
        with pytest.raises(openai.AuthenticationError) as plain:
            sdk(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        with pytest.raises(openai.AuthenticationError) as streamed:
            list(sdk(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True))
    for caught in (plain, streamed):
        assert caught.value.status_code == 401
        assert "Incorrect API key provided" in caught.value.message
        assert SECRET not in caught.value.response.text
    assert not [r for r in everything_logged.records if SECRET in r.getMessage()]


def _escaped_forms(secret: str) -> list[bytes]:
    """Upstream error bodies that carry ``secret`` past a naive mask: cut by the gateway's own
    snippet limits (plain 300 characters, Anthropic/Gemini 200 bytes, the log's 1,000), or escaped."""
    every_char = "".join(f"\\u{ord(c):04x}" for c in secret)
    dash, percent = secret.replace("-", "\\u002d"), secret.replace("-", "%2D")
    forms = [
        f'{{"error": {{"message": "Incorrect API key provided: {dash}", "type": "x"}}}}',
        f'{{"error": {{"message": "key {every_char} is wrong", "type": "x"}}}}',
        f'{{"error": {{"message": "key {percent}", "type": "x"}}}}',
    ]
    forms += ["e" * (limit - cut) + secret for limit in (200, 300, 1000) for cut in (3, 6, 9, 12)]
    return [form.encode() for form in forms]


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_upstream_error_never_leaks_a_key_prefix_in_any_encoding(
    fake_provider: FakeProvider, everything_logged: pytest.LogCaptureFixture, dialect: str
) -> None:
    prefix = SECRET[:6]
    config = {
        "providers": {
            "openai": openai_entry(fake_provider),
            "anthropic": {"keys": [{"value": SECRET}], "network_config": {"base_url": fake_provider.url}},
        },
        "client": {"enable_logging": True},
    }
    seen: list[str] = []
    with run_gateway(config) as gw, httpx2.Client(base_url=gw.url) as http:
        for body in _escaped_forms(SECRET):
            for stream in (False, True):
                fake_provider.script(dialect, [Status(401, body, {"content-type": "application/json"})])
                response = http.post(
                    "/v1/chat/completions",
                    json={"model": f"{dialect}/some-model", "messages": HELLO, "stream": stream},
                )
                assert response.status_code == 401
                seen.append(response.text)
                seen.append(json.dumps(response.json(), ensure_ascii=False))  # what a client's parser sees
                seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    decoded = [*seen, *(unquote(text) for text in seen)]
    assert not [text for text in decoded if prefix in text]
    assert not [r for r in everything_logged.records if prefix in unquote(r.getMessage())]
