"""The ``AzureOpenAI`` SDK against the gateway at both of its documented endpoints (``http://gw`` and
``http://gw/openai``): the deployment in the path is the model, ``api-key`` and ``api-version`` are
accepted, and a bare deployment name means ``azure/...`` when an azure provider exists."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support import FakeProvider, ServerHandle, fake_text, run_gateway
from tests.support.fake_media import FAKE_IMAGE_B64, FakeMedia

pytestmark = pytest.mark.e2e

AZURE_SECRET = "azure-resource-key-1"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def azure_gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    key = {"value": AZURE_SECRET, "azure_key_config": {"endpoint": fake_provider.url, "api_version": "2024-10-21",
                                                      "deployments": {"gpt-4o": "prod-gpt-4o"}}}  # fmt: skip
    with run_gateway({"providers": {"azure": {"keys": [key]}}}) as handle:
        yield handle


@pytest.mark.parametrize("suffix", ["", "/openai"])
def test_azure_sdk_to_an_azure_provider_plain_streamed_and_images(
    fake_provider: FakeProvider, azure_gateway: ServerHandle, suffix: str
) -> None:
    sdk = openai.AzureOpenAI(
        azure_endpoint=azure_gateway.url + suffix, api_version="2025-01-01-preview", api_key="client", max_retries=0
    )
    answer = sdk.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == fake_text("azure", "hello")
    upstream = fake_provider.last("/chat/completions")
    assert upstream.path == "/openai/deployments/prod-gpt-4o/chat/completions"  # the key's deployment map
    assert upstream.headers["api-key"] == AZURE_SECRET and upstream.query["api-version"] == "2024-10-21"

    streamed = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == fake_text("azure", "hello")

    image = sdk.images.generate(model="dall-e-3", prompt="a fox")
    assert image.data is not None and image.data[0].b64_json == FAKE_IMAGE_B64
    assert fake_provider.last("/images/generations").path == "/openai/deployments/dall-e-3/images/generations"


def test_azure_sdk_without_an_azure_provider_reaches_openai(fake_provider: FakeProvider) -> None:
    provider = {"keys": [{"value": "sk-openai"}], "network_config": {"base_url": fake_provider.url}}
    config = {"providers": {"openai": provider}}
    with run_gateway(config) as gateway:
        sdk = openai.AzureOpenAI(azure_endpoint=gateway.url, api_version="2024-10-21", api_key="c", max_retries=0)
        answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
        vectors = sdk.embeddings.create(model="text-embedding-3-small", input="hi")
    assert answer.choices[0].message.content == fake_text("openai", "hello")
    assert fake_provider.last("/chat/completions").json["model"] == "gpt-4o-mini"
    assert fake_provider.last("/embeddings").json["model"] == "text-embedding-3-small"
    assert len(vectors.data) == 1


def test_a_bare_deployment_is_the_azure_providers_beside_an_openai_one(fake_provider: FakeProvider) -> None:
    """Model families would send ``gpt-4o`` to openai; an Azure deployment path means azure (Bifrost:
    ``azure/<deployment>``) for chat, embeddings and media alike."""
    FakeMedia().install(fake_provider)
    key = {"value": AZURE_SECRET, "azure_key_config": {"endpoint": fake_provider.url, "api_version": "2024-10-21"}}
    openai_provider = {"keys": [{"value": "sk-openai"}], "network_config": {"base_url": fake_provider.url}}
    with run_gateway({"providers": {"openai": openai_provider, "azure": {"keys": [key]}}}) as gateway:
        sdk = openai.AzureOpenAI(azure_endpoint=gateway.url, api_version="2024-10-21", api_key="c", max_retries=0)
        answer = sdk.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
        vectors = sdk.embeddings.create(model="text-embedding-3-small", input="hi")
        image = sdk.images.generate(model="gpt-image-1", prompt="a fox")
    assert answer.choices[0].message.content == fake_text("azure", "hello")
    assert len(vectors.data) == 1 and image.data is not None
    assert fake_provider.last("/embeddings").path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert fake_provider.last("/images/generations").path == "/openai/deployments/gpt-image-1/images/generations"
    assert not any(r.headers.get("authorization") == "Bearer sk-openai" for r in fake_provider.requests)
