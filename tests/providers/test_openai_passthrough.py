"""The passthrough of OpenAI-format providers (OpenAI, compatible presets, Azure) against their
neutral path: the same upstream request, byte for byte, from a ``Passthrough`` as from the parsed
request, and the same client answer, usage and errors from the same upstream answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bifrost_asgi.config.settings import AzureKeyConfig, KeyConfig, ProviderConfig
from bifrost_asgi.dialects.openai_parse import parse_chat_body
from bifrost_asgi.dialects.openai_passthrough import passthrough_chat_body
from bifrost_asgi.dialects.openai_render import render_chat
from bifrost_asgi.errors import GatewayError, InvalidRequestError
from bifrost_asgi.neutral import Passthrough, Usage
from bifrost_asgi.providers.azure import AzureProvider
from bifrost_asgi.providers.base import PassthroughProvider, UpstreamResponse
from bifrost_asgi.providers.compat import compat_provider
from bifrost_asgi.providers.openai import OpenAIProvider
from bifrost_asgi.providers.openai_parse import parse_usage
from bifrost_asgi.providers.registry import create_provider
from tests.support.openai_bodies import chat_bodies, corpus

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
CONFIG = ProviderConfig.model_validate(
    {"network_config": {"base_url": "http://upstream.test", "extra_headers": {"X-Team": "a"}}}
)
KEY = KeyConfig(
    value=SecretStr("sk-secret"),
    azure_key_config=AzureKeyConfig(endpoint="https://r.openai.azure.com", deployments={"gpt-4o": "prod"}),
)
PROVIDERS: list[Any] = [
    OpenAIProvider("openai", CONFIG),
    compat_provider("groq", CONFIG),
    compat_provider("mistral", CONFIG),  # drops and renames fields
    compat_provider("ollama", CONFIG),
    AzureProvider("azure", CONFIG),
]
IDS = ["openai", "groq", "mistral", "ollama", "azure"]


def passing(bodies: list[Any]) -> list[Any]:
    return [body for body in bodies if passthrough_chat_body(body) is not None]


def same_upstream_request(provider: Any, body: Any) -> None:
    passthrough = passthrough_chat_body(body)
    if passthrough is None:
        return
    request = parse_chat_body(body)
    for model in ("gpt-4o", "gpt-4o-mini"):
        for key in (KEY, None):
            try:
                neutral = provider.build_chat(request, model, key)
            except GatewayError as exc:  # Azure without a key config
                with pytest.raises(type(exc)) as caught:
                    provider.build_passthrough(passthrough, model, key)
                assert caught.value.message == exc.message
                continue
            assert provider.build_passthrough(passthrough, model, key) == neutral


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
@pytest.mark.parametrize("body", passing(corpus()))
def test_same_upstream_request(provider: Any, body: Any) -> None:
    same_upstream_request(provider, body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_bodies())
def test_same_upstream_request_generated(body: Any) -> None:
    for provider in PROVIDERS:
        same_upstream_request(provider, body)


def test_openai_format_providers_take_passthroughs() -> None:
    assert all(isinstance(provider, PassthroughProvider) for provider in PROVIDERS)
    for name in ("anthropic", "gemini", "cohere"):
        assert not isinstance(create_provider(name, ProviderConfig()), PassthroughProvider)


ANSWERS: list[bytes] = [
    (FIXTURES / "chat_response_text.json").read_bytes(),
    (FIXTURES / "chat_response_tools.json").read_bytes(),
    b'{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":null}}',
    b'{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}],"usage":{"prompt_cache_hit_tokens":2}}',
    b'{"choices":[{"text":"legacy"}],"usage":"none"}',
    # unreadable: the same 502 either way
    b"<html>oops</html>",
    b"[]",
    b'{"choices":3}',
    b'{"choices":[{"message":{"content":3}}]}',
    b'{"choices":[7]}',
]


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
@pytest.mark.parametrize("answer", ANSWERS)
def test_same_answer(provider: Any, answer: bytes) -> None:
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    passthrough = passthrough_chat_body(body)
    assert isinstance(passthrough, Passthrough)
    request = parse_chat_body(body)
    response = UpstreamResponse(200, {"content-type": "application/json"}, answer)
    try:
        parsed = provider.parse_chat(response, request, "gpt-4o")
    except GatewayError as exc:
        with pytest.raises(type(exc)) as caught:
            provider.parse_passthrough(response, "gpt-4o")
        assert (caught.value.message, caught.value.status) == (exc.message, exc.status)
        return
    assert provider.parse_passthrough(response, "gpt-4o") == (render_chat(parsed, request), parsed.usage)


def test_refused_bodies_have_no_passthrough() -> None:
    for body in corpus():
        try:
            parse_chat_body(body)
        except InvalidRequestError:
            assert passthrough_chat_body(body) is None


def reference_usage(value: Any) -> Usage | None:
    """``parse_usage`` as it was written before it was inlined (``_int`` per field)."""

    def number(v: Any) -> int:
        return v if type(v) is int else 0

    if not isinstance(value, dict):
        return None
    prompt_details = value.get("prompt_tokens_details")
    cached = number(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    if not cached:
        cached = number(value.get("prompt_cache_hit_tokens"))
    completion_details = value.get("completion_tokens_details")
    reasoning = number(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    return Usage(
        input_tokens=number(value.get("prompt_tokens")),
        output_tokens=number(value.get("completion_tokens")),
        cached_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


_COUNT = st.one_of(st.integers(-2, 50), st.none(), st.booleans(), st.floats(0, 3), st.text(max_size=2))


@given(
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "prompt_tokens": _COUNT,
                "completion_tokens": _COUNT,
                "prompt_cache_hit_tokens": _COUNT,
                "prompt_tokens_details": st.one_of(
                    st.fixed_dictionaries({}, optional={"cached_tokens": _COUNT}), _COUNT
                ),
                "completion_tokens_details": st.one_of(
                    st.fixed_dictionaries({}, optional={"reasoning_tokens": _COUNT}), _COUNT
                ),
            },
        ),
        _COUNT,
    )
)
def test_usage_as_before(value: Any) -> None:
    assert parse_usage(value) == reference_usage(value)
