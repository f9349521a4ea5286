"""The official ``openai`` SDK against the gateway over a real socket, with the fake vendor behind it.

What a new user does: point ``OpenAI(base_url=...)`` at the gateway (``/openai``, ``/openai/v1`` or
``/v1`` with ``provider/model``) and get chat completions (plain and streamed), embeddings, the model
list and legacy completions from the provider configured by ``network_config.base_url``. Every test
checks both ends: what the SDK returned and what the fake vendor received (model rewritten, the
gateway's key upstream instead of the client's).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2
import openai
import pytest

from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FAKE_TOTAL_TOKENS,
    FakeProvider,
    ServerHandle,
    SlowStream,
    fake_embedding,
    fake_text,
    run_gateway,
    split_text,
)

pytestmark = pytest.mark.e2e

SECRET = "sk-test-secret-123"
CLIENT_KEY = "sk-client-key-not-for-upstream"
HELLO: Any = [{"role": "user", "content": "hello"}]


def openai_config(fake: FakeProvider, **provider: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"keys": [{"value": SECRET}], "network_config": {"base_url": fake.url}}
    entry.update(provider)
    return {"providers": {"openai": entry}}


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(openai_config(fake_provider)) as handle:
        yield handle


# (path under the gateway, model the client names, model ids the list returns)
BASES = [
    pytest.param("/openai", "gpt-4o-mini", "", id="openai"),
    pytest.param("/openai/v1", "gpt-4o-mini", "", id="openai-v1"),
    pytest.param("/v1", "openai/gpt-4o-mini", "openai/", id="v1-provider-model"),
]


def sdk(gateway: ServerHandle, path: str, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + path, api_key=CLIENT_KEY, max_retries=0, **kwargs)


def assert_gateway_credentials(headers: Mapping[str, str], secret: str = SECRET) -> None:
    """Upstream got the configured key, and nothing of the client's own key."""
    assert headers["authorization"] == f"Bearer {secret}"
    assert not any(CLIENT_KEY in value for value in headers.values())


# --------------------------------------------------------------------------- chat


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_chat_completion(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    client = sdk(gateway, path)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HELLO, temperature=0.5)
    completion = raw.parse()

    assert completion.choices[0].message.content == fake_text("openai", "hello")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model.endswith("gpt-4o-mini")
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        FAKE_PROMPT_TOKENS,
        FAKE_COMPLETION_TOKENS,
    )
    assert raw.headers["x-bifrost-provider"] == "openai"
    assert raw.headers["x-request-id"]

    upstream = fake_provider.last("/chat/completions")
    assert upstream.path == "/v1/chat/completions"
    assert upstream.json["model"] == "gpt-4o-mini"  # "openai/" prefix stripped
    assert upstream.json["messages"] == HELLO
    assert upstream.json["temperature"] == 0.5
    assert_gateway_credentials(upstream.headers)


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_chat_stream_with_usage_arrives_incrementally(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    text = "hello there general kenobi, you are a bold one"
    fake_provider.script("openai", [SlowStream(delay_per_chunk=0.04)])
    client = sdk(gateway, path)
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    upstream_busy_at_first_piece: bool | None = None
    usage_chunks = []
    finish_reasons = []
    for chunk in stream:
        if chunk.usage is not None:
            usage_chunks.append(chunk)
        for choice in chunk.choices:
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
            if choice.delta.content:
                if upstream_busy_at_first_piece is None:
                    # The upstream is still sleeping between its frames: the gateway relays as it reads.
                    upstream_busy_at_first_piece = fake_provider.active_requests == 1
                pieces.append(choice.delta.content)

    assert upstream_busy_at_first_piece is True
    assert pieces == split_text(fake_text("openai", text))
    assert len(pieces) > 1
    assert finish_reasons == ["stop"]
    assert len(usage_chunks) == 1
    usage = usage_chunks[0].usage
    assert usage is not None
    assert usage_chunks[0].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        FAKE_PROMPT_TOKENS,
        FAKE_COMPLETION_TOKENS,
        FAKE_TOTAL_TOKENS,
    )

    upstream = fake_provider.last("/chat/completions")
    assert upstream.json["model"] == "gpt-4o-mini"
    assert upstream.json["stream"] is True
    assert upstream.json["stream_options"] == {"include_usage": True}
    assert_gateway_credentials(upstream.headers)


def test_stream_without_include_usage_sends_no_usage_chunk(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = sdk(gateway, "/openai/v1")
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert all(chunk.choices for chunk in chunks)
    # No usage-only chunk, but the finish chunk carries the usage (as Bifrost does, for LangChain).
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == FAKE_COMPLETION_TOKENS
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == fake_text("openai", "hello")
    # The gateway still asks upstream for usage (to count tokens), but keeps it from this client.
    assert fake_provider.last("/chat/completions").json["stream_options"] == {"include_usage": True}


# --------------------------------------------------------------------------- embeddings, models, legacy


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_embeddings_sdk_default_base64(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    client = sdk(gateway, path)
    result = client.embeddings.create(model=model.replace("gpt-4o-mini", "text-embedding-3-small"), input=["a", "b"])

    assert [item.embedding for item in result.data] == [fake_embedding(0), fake_embedding(1)]
    assert [item.index for item in result.data] == [0, 1]
    upstream = fake_provider.last("/embeddings")
    assert upstream.path == "/v1/embeddings"
    assert upstream.json == {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"}
    assert_gateway_credentials(upstream.headers)


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_embeddings_float(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    client = sdk(gateway, path)
    result = client.embeddings.create(
        model=model.replace("gpt-4o-mini", "text-embedding-3-small"), input="a", encoding_format="float"
    )

    assert [item.embedding for item in result.data] == [fake_embedding(0)]
    assert result.usage.prompt_tokens >= 0
    upstream = fake_provider.last("/embeddings")
    assert upstream.json["encoding_format"] == "float"
    assert upstream.json["model"] == "text-embedding-3-small"


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_model_list(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    ids = [m.id for m in sdk(gateway, path).models.list()]

    assert ids == [f"{list_prefix}{m}" for m in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")]
    upstream = fake_provider.last("/models")
    assert upstream.method == "GET"
    assert upstream.path == "/v1/models"
    assert_gateway_credentials(upstream.headers)


@pytest.mark.parametrize(("path", "model", "list_prefix"), BASES)
def test_legacy_completions(
    fake_provider: FakeProvider, gateway: ServerHandle, path: str, model: str, list_prefix: str
) -> None:
    result = sdk(gateway, path).completions.create(model=model, prompt="say hi", max_tokens=5)

    assert result.choices[0].text == fake_text("openai", "say hi")
    assert result.choices[0].finish_reason == "stop"
    upstream = fake_provider.last()
    assert upstream.path == "/v1/completions"
    assert upstream.json["model"] == "gpt-4o-mini"
    assert upstream.json["prompt"] == "say hi"
    assert_gateway_credentials(upstream.headers)


def test_legacy_completions_stream(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    stream = sdk(gateway, "/v1").completions.create(model="openai/gpt-4o-mini", prompt="say hi", stream=True)
    text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert text == fake_text("openai", "say hi")
    assert fake_provider.last().path == "/v1/completions"


# --------------------------------------------------------------------------- other OpenAI-compatible providers


def test_custom_provider_by_name_and_extra_headers(fake_provider: FakeProvider) -> None:
    config = {
        "providers": {
            "my-vllm": {
                "keys": [{"value": "sk-vllm-key-456"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": fake_provider.url, "extra_headers": {"X-Tenant": "team-a"}},
            }
        }
    }
    with run_gateway(config) as gw:
        client = sdk(gw, "/v1")
        completion = client.chat.completions.create(model="my-vllm/llama-3.1-8b", messages=HELLO)
        streamed = client.chat.completions.create(model="my-vllm/llama-3.1-8b", messages=HELLO, stream=True)
        streamed_text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)

    assert completion.choices[0].message.content == fake_text("openai", "hello")
    assert streamed_text == fake_text("openai", "hello")
    sent = fake_provider.matching("/chat/completions")
    assert len(sent) == 2
    for upstream in sent:
        assert upstream.path == "/v1/chat/completions"
        assert upstream.json["model"] == "llama-3.1-8b"
        assert upstream.headers["x-tenant"] == "team-a"
        assert_gateway_credentials(upstream.headers, "sk-vllm-key-456")


def test_preset_provider_with_base_url_override(fake_provider: FakeProvider) -> None:
    # groq's API root is https://api.groq.com/openai (+ /v1/...): an override keeps the /v1 suffix rule.
    config = {
        "providers": {
            "groq": {
                "keys": [{"value": "gsk-groq-key-789"}],
                "network_config": {"base_url": fake_provider.url + "/openai/", "extra_headers": {"X-Trace": "t1"}},
            }
        }
    }
    with run_gateway(config) as gw:
        client = sdk(gw, "/v1")
        completion = client.chat.completions.create(model="groq/llama-3.3-70b-versatile", messages=HELLO)
        stream = client.chat.completions.create(
            model="groq/llama-3.3-70b-versatile", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)

    assert completion.choices[0].message.content == fake_text("openai", "hello")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake_text("openai", "hello")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == FAKE_TOTAL_TOKENS
    for upstream in fake_provider.matching("/chat/completions"):
        assert upstream.path == "/openai/v1/chat/completions"
        assert upstream.json["model"] == "llama-3.3-70b-versatile"
        assert upstream.headers["x-trace"] == "t1"
        assert_gateway_credentials(upstream.headers, "gsk-groq-key-789")


def test_extra_headers_on_openai_provider(fake_provider: FakeProvider) -> None:
    config = openai_config(
        fake_provider, network_config={"base_url": fake_provider.url, "extra_headers": {"OpenAI-Project": "proj_1"}}
    )
    with run_gateway(config) as gw:
        sdk(gw, "/openai").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        sdk(gw, "/openai").embeddings.create(model="text-embedding-3-small", input="x")
    for upstream in fake_provider.requests:
        assert upstream.headers["openai-project"] == "proj_1"
        assert_gateway_credentials(upstream.headers)


# --------------------------------------------------------------------------- weighted keys


def test_weighted_keys_split_traffic(fake_provider: FakeProvider) -> None:
    config = openai_config(
        fake_provider,
        keys=[
            {"name": "heavy", "value": "sk-weight-eighty", "weight": 0.8},
            {"name": "light", "value": "sk-weight-twenty", "weight": 0.2},
            # Would win most picks if it were eligible; its models list excludes gpt-4o-mini.
            {"name": "other", "value": "sk-only-for-gpt-4o", "weight": 5.0, "models": ["gpt-4o"]},
        ],
    )
    total = 1000
    via_sdk = 50
    body = {"model": "openai/gpt-4o-mini", "messages": HELLO}
    with run_gateway(config) as gw:
        client = sdk(gw, "/v1")
        for _ in range(via_sdk):
            assert client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO).choices
        with httpx2.Client(base_url=gw.url, headers={"authorization": f"Bearer {CLIENT_KEY}"}) as http:
            for _ in range(total - via_sdk):
                response = http.post("/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text

    seen = collections.Counter(r.headers["authorization"] for r in fake_provider.matching("/chat/completions"))
    assert sum(seen.values()) == total
    assert set(seen) == {"Bearer sk-weight-eighty", "Bearer sk-weight-twenty"}
    share = seen["Bearer sk-weight-eighty"] / total
    assert 0.74 <= share <= 0.86, seen
