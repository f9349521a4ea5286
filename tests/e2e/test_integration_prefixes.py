"""Bifrost's integration prefixes (``/langchain``, ``/litellm``, ``/pydanticai``) through the real
clients that use them: each prefix serves the OpenAI, Anthropic and GenAI dialects as the root does,
so ``base_url=http://gw/langchain`` works for ChatOpenAI, ChatAnthropic and ChatGoogleGenerativeAI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, FakeProvider, ServerHandle, fake_text, run_gateway

pytestmark = pytest.mark.e2e

SECRET = {"openai": "sk-oa-secret-1", "anthropic": "sk-ant-secret-2", "gemini": "gm-secret-3"}
CLIENT_KEY = "client-key-not-for-upstream"


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    providers = {
        name: {"keys": [{"value": secret}], "network_config": {"base_url": fake_provider.url + suffix}}
        for (name, secret), suffix in zip(SECRET.items(), ("", "", "/v1beta"), strict=True)
    }
    with run_gateway({"providers": providers}) as handle:
        yield handle


def _no_client_key(fake: FakeProvider) -> None:
    assert not any(CLIENT_KEY in v for r in fake.requests for v in r.headers.values())


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
def test_langchain_chat_openai_plain_and_streamed(
    fake_provider: FakeProvider, gateway: ServerHandle, prefix: str
) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt-4o-mini", base_url=gateway.url + prefix, api_key=CLIENT_KEY, max_retries=0)
    answer = llm.invoke("hello")
    assert answer.content == fake_text("openai", "hello")
    assert answer.usage_metadata is not None and answer.usage_metadata["input_tokens"] == FAKE_PROMPT_TOKENS

    chunks = list(llm.stream("hello"))
    assert "".join(str(c.content) for c in chunks) == fake_text("openai", "hello")
    # No stream_options from LangChain with a custom base_url: the usage rides on the last chunk.
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk  # type: ignore[assignment]
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == FAKE_COMPLETION_TOKENS
    assert fake_provider.last("/chat/completions").headers["authorization"] == f"Bearer {SECRET['openai']}"
    _no_client_key(fake_provider)


def test_langchain_chat_anthropic_plain_and_streamed(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(  # type: ignore[call-arg]
        model="claude-sonnet-4-5", base_url=gateway.url + "/langchain", api_key=CLIENT_KEY, max_retries=0
    )
    answer = llm.invoke("hello")
    assert answer.content == fake_text("anthropic", "hello")
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == FAKE_COMPLETION_TOKENS
    streamed = "".join(str(c.content if isinstance(c.content, str) else c.text) for c in llm.stream("hello"))
    assert streamed == fake_text("anthropic", "hello")
    upstream = fake_provider.last("/v1/messages")
    assert upstream.path == "/v1/messages"
    assert SECRET["anthropic"] in (upstream.headers.get("x-api-key", ""), upstream.headers.get("authorization", ""))
    _no_client_key(fake_provider)


def test_langchain_chat_google_genai_plain_and_streamed(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    from langchain_google_genai import ChatGoogleGenerativeAI

    llm = ChatGoogleGenerativeAI(model="gemini-2.5-flash", base_url=gateway.url + "/langchain", api_key=CLIENT_KEY)
    answer = llm.invoke("hello")
    assert answer.text == fake_text("gemini", "hello")
    streamed = "".join(c.text for c in llm.stream("hello"))
    assert streamed == fake_text("gemini", "hello")
    upstream = fake_provider.last(":streamGenerateContent")
    assert upstream.headers["x-goog-api-key"] == SECRET["gemini"]
    _no_client_key(fake_provider)


def test_litellm_completion_through_its_prefix(
    fake_provider: FakeProvider, gateway: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of its price list at import
    import litellm

    base = gateway.url + "/litellm"
    response: Any = litellm.completion(
        model="openai/gpt-4o-mini", api_base=base, api_key=CLIENT_KEY, messages=[{"role": "user", "content": "hi"}]
    )
    assert response.choices[0].message.content == fake_text("openai", "hi")
    assert response.usage.prompt_tokens == FAKE_PROMPT_TOKENS
    streamed = litellm.completion(
        model="anthropic/claude-sonnet-4-5", api_base=base, api_key=CLIENT_KEY, stream=True,
        messages=[{"role": "user", "content": "hi"}], max_tokens=50,
    )  # fmt: skip
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed)
    assert text == fake_text("anthropic", "hi")
    assert fake_provider.last("/v1/messages").json["model"] == "claude-sonnet-4-5"
    _no_client_key(fake_provider)


def test_pydantic_ai_agent_through_its_prefix(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=gateway.url + "/pydanticai/v1", api_key=CLIENT_KEY)
    agent = Agent(OpenAIChatModel("gpt-4o-mini", provider=provider))

    async def run() -> tuple[str, str]:
        result = await agent.run("hello")
        async with agent.run_stream("hello") as stream:
            streamed = await stream.get_output()
        return result.output, streamed

    plain, streamed = asyncio.run(run())
    assert plain == streamed == fake_text("openai", "hello")
    _no_client_key(fake_provider)


# --------------------------------------------------------------------------- one model, each SDK's shape


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
@pytest.mark.parametrize("api_version", ["v1beta", "v1", ""])
def test_genai_models_get_through_a_prefix(gateway: ServerHandle, prefix: str, api_version: str) -> None:
    """``/<prefix>/v1/models/{id}`` and ``/<prefix>/models/{id}`` are OpenAI paths too: the
    google-genai client's headers choose the GenAI answer (``name: models/...``)."""
    from google import genai

    client = genai.Client(
        api_key=CLIENT_KEY, http_options={"base_url": gateway.url + prefix, "api_version": api_version}
    )
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_openai_models_retrieve_through_a_prefix(gateway: ServerHandle, prefix: str, suffix: str) -> None:
    import openai

    client = openai.OpenAI(base_url=gateway.url + prefix + suffix, api_key=CLIENT_KEY, max_retries=0)
    model = client.models.retrieve("gpt-4o-mini")
    assert model.id == "gpt-4o-mini" and model.object == "model"


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
def test_anthropic_models_retrieve_through_a_prefix(gateway: ServerHandle, prefix: str) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=gateway.url + prefix, api_key=CLIENT_KEY, max_retries=0)
    model = client.models.retrieve("claude-haiku-4-5")  # a catalogue model of the configured provider
    assert model.id == "claude-haiku-4-5" and model.type == "model"
