"""The integration prefixes (``/langchain``, ``/litellm``, ``/pydanticai``) serve the forwarded
calls too — files, batches, images, audio, Anthropic batches and files, GenAI batches, token
counting, models, Azure deployment paths — through the real SDKs pointed at the prefix, against
fake vendors that validate like the real APIs. Shared paths (``/v1/files`` is OpenAI's and
Anthropic's) are told apart by the SDK's own headers."""

from __future__ import annotations

import io
from collections.abc import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.support import FakeProvider, ServerHandle, fake_text, run_gateway
from tests.support.fake_genai_batches import FakeGenAIBatches
from tests.support.fake_media import FAKE_AUDIO, FAKE_IMAGE_B64, FakeMedia

pytestmark = pytest.mark.e2e

OPENAI_KEY = "sk-openai-int-1"
ANTHROPIC_KEY = "sk-ant-int-2"
GEMINI_KEY = "gm-int-3"
CLIENT_KEY = "client-key-never-upstream"
JSONL = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
PREFIXES = ["/langchain", "/litellm", "/pydanticai"]


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    FakeGenAIBatches().install(fake_provider)
    providers = {
        "openai": {"keys": [{"value": OPENAI_KEY}], "network_config": {"base_url": fake_provider.url}},
        "anthropic": {"keys": [{"value": ANTHROPIC_KEY}], "network_config": {"base_url": fake_provider.url}},
        "gemini": {"keys": [{"value": GEMINI_KEY}], "network_config": {"base_url": fake_provider.url + "/v1beta"}},
    }
    with run_gateway({"providers": providers}) as handle:
        yield handle


def _no_client_key(fake: FakeProvider) -> None:
    assert not any(CLIENT_KEY in v for r in fake.requests for v in [*r.headers.values(), *r.query.values()])


@pytest.mark.parametrize("prefix", PREFIXES)
def test_openai_sdk_files_batches_images_audio_under_the_prefix(
    fake_provider: FakeProvider, gateway: ServerHandle, prefix: str
) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + prefix + "/v1", api_key=CLIENT_KEY, max_retries=0)
    created = sdk.files.create(file=("requests.jsonl", io.BytesIO(JSONL)), purpose="batch")
    assert created.id.startswith("file-") and sdk.files.retrieve(created.id).filename == "requests.jsonl"
    assert sdk.files.content(created.id).read() == JSONL
    batch = sdk.batches.create(input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert sdk.batches.retrieve(batch.id).id == batch.id
    assert sdk.batches.cancel(batch.id).status == "cancelling"

    image = sdk.images.generate(model="gpt-image-1", prompt="a red fox")
    assert image.data is not None and image.data[0].b64_json == FAKE_IMAGE_B64
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hi") as speech:
        assert b"".join(speech.iter_bytes()) == b"".join(FAKE_AUDIO)
    heard = sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF" + b"\x01" * 100))
    assert heard.text == "heard 104 bytes of a.wav"

    assert sdk.models.list().data  # the models list, as at the root
    assert all(r.headers["authorization"] == f"Bearer {OPENAI_KEY}" for r in fake_provider.matching("/v1/files"))
    _no_client_key(fake_provider)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_anthropic_sdk_batches_files_and_token_counting_under_the_prefix(
    fake_provider: FakeProvider, gateway: ServerHandle, prefix: str
) -> None:
    sdk = anthropic.Anthropic(base_url=gateway.url + prefix, api_key=CLIENT_KEY, max_retries=0)
    params: dict[str, object] = {"model": "claude-haiku-4-5", "max_tokens": 10,
                                 "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    batch = sdk.messages.batches.create(requests=[{"custom_id": "one", "params": params}])  # type: ignore[list-item]
    assert batch.id.startswith("msgbatch_")
    assert sdk.messages.batches.retrieve(batch.id).id == batch.id
    assert [r.custom_id for r in sdk.messages.batches.results(batch.id)] == ["one"]
    counted = sdk.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens > 0
    assert all(r.headers["x-api-key"] == ANTHROPIC_KEY for r in fake_provider.matching("/messages/batches"))
    _no_client_key(fake_provider)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_genai_sdk_batches_under_the_prefix(fake_provider: FakeProvider, gateway: ServerHandle, prefix: str) -> None:
    options = types.HttpOptions(base_url=gateway.url + prefix, api_version="v1beta")
    client = genai.Client(api_key=CLIENT_KEY, http_options=options)
    inline: list[types.InlinedRequestOrDict] = [{"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}]
    job = client.batches.create(model="gemini-2.5-flash", src=inline)
    assert job.name is not None and client.batches.get(name=job.name).name == job.name
    assert fake_provider.last(":batchGenerateContent").headers["x-goog-api-key"] == GEMINI_KEY
    _no_client_key(fake_provider)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_azure_sdk_deployment_paths_under_the_prefix(
    fake_provider: FakeProvider, gateway: ServerHandle, prefix: str
) -> None:
    sdk = openai.AzureOpenAI(
        azure_endpoint=gateway.url + prefix, api_version="2024-10-21", api_key=CLIENT_KEY, max_retries=0
    )
    answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == fake_text("openai", "hello")
    image = sdk.images.generate(model="gpt-image-1", prompt="a fox")
    assert image.data is not None and image.data[0].b64_json == FAKE_IMAGE_B64
    _no_client_key(fake_provider)
