"""Files, batches, images and audio through the official SDKs, and the raw passthrough prefixes,
against fake vendors that validate like the real APIs (unknown fields rejected, objects owned by
the key that made them): every call carries the gateway's key, and a later get, cancel or content
read reaches the key that created the object."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import anthropic
import httpx2
import openai
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_media import FAKE_AUDIO, FAKE_IMAGE_B64, FakeMedia


@contextlib.contextmanager
def _sdk_deprecation_ignored() -> Iterator[None]:
    """Newer openai SDKs warn on endpoints OpenAI still serves; the suite turns warnings into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield

pytestmark = pytest.mark.e2e

KEYS = ["sk-openai-key-one", "sk-openai-key-two"]
ANTHROPIC_KEY = "sk-ant-key-three"
CLIENT_KEY = "client-key-never-upstream"
JSONL = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'


@pytest.fixture
def media(fake_provider: FakeProvider) -> FakeMedia:
    return FakeMedia().install(fake_provider)


@pytest.fixture
def gateway(fake_provider: FakeProvider, media: FakeMedia) -> Iterator[ServerHandle]:
    providers = {
        "openai": {"keys": [{"name": f"k{i}", "value": v} for i, v in enumerate(KEYS)],
                   "network_config": {"base_url": fake_provider.url}},
        "anthropic": {"keys": [{"value": ANTHROPIC_KEY}], "network_config": {"base_url": fake_provider.url}},
    }  # fmt: skip
    with run_gateway({"providers": providers}) as handle:
        yield handle


def client(gateway: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/openai/v1", api_key=CLIENT_KEY, max_retries=0)


def _no_client_key(fake: FakeProvider) -> None:
    assert not any(CLIENT_KEY in v for r in fake.requests for v in r.headers.values())


def test_openai_files_and_batches_stay_with_the_key_that_made_them(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    sdk = client(gateway)
    created = sdk.files.create(file=("requests.jsonl", io.BytesIO(JSONL)), purpose="batch")
    assert created.id.startswith("file-") and created.bytes == len(JSONL)
    upload = fake_provider.last("/v1/files")
    assert upload.headers["content-type"].startswith("multipart/form-data")  # multipart kept intact
    owner = upload.headers["authorization"]
    for _ in range(6):  # two keys: each read must reach the creating key (the fake 404s the other)
        assert sdk.files.retrieve(created.id).filename == "requests.jsonl"
    assert sdk.files.content(created.id).read() == JSONL
    assert created.id in [f.id for f in sdk.files.list()] or len(KEYS) > 1

    batch = sdk.batches.create(input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.input_file_id == created.id
    assert sdk.batches.retrieve(batch.id).id == batch.id
    assert sdk.batches.cancel(batch.id).status == "cancelling"
    assert sdk.files.delete(created.id).deleted is True
    pinned = [r for r in fake_provider.requests if created.id in r.path or batch.id in r.path
              or (r.path.endswith("/v1/batches") and r.method == "POST")]  # fmt: skip
    assert pinned and all(r.headers["authorization"] == owner for r in pinned)
    _no_client_key(fake_provider)


def test_unknown_object_ids_go_to_the_default_provider_and_its_error_is_the_sdks(gateway: ServerHandle) -> None:
    with pytest.raises(openai.NotFoundError):
        client(gateway).files.retrieve("file-nobody-made")


def test_images_generate_edit_and_variation(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    sdk = client(gateway)
    generated = sdk.images.generate(model="openai/gpt-image-1", prompt="a red fox", size="1024x1024")
    assert generated.data is not None and generated.data[0].b64_json == FAKE_IMAGE_B64
    assert fake_provider.last("/images/generations").json["model"] == "gpt-image-1"  # provider prefix gone
    edited = sdk.images.edit(model="openai/gpt-image-1", image=("fox.png", b"\x89PNG fake"), prompt="make it blue")
    assert edited.data is not None and edited.data[0].revised_prompt == "make it blue"
    edit = fake_provider.last("/images/edits")
    assert b"\x89PNG fake" in edit.body and b'name="model"\r\n\r\ngpt-image-1\r\n' in edit.body
    with _sdk_deprecation_ignored():  # openai 3.x marks the endpoint deprecated; clients still call it
        varied = sdk.images.create_variation(model="dall-e-2", image=("fox.png", b"\x89PNG fake"))
    assert varied.data is not None
    _no_client_key(fake_provider)


def test_audio_speech_streams_binary_and_transcriptions_keep_the_upload(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    sdk = client(gateway)
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hello") as speech:
        assert speech.headers["content-type"] == "audio/mpeg"
        assert b"".join(speech.iter_bytes()) == b"".join(FAKE_AUDIO)
    audio = ("hello.wav", b"RIFF" + b"\x01" * 2000)
    text = sdk.audio.transcriptions.create(model="openai/whisper-1", file=audio)
    assert text.text == "heard 2004 bytes of hello.wav"
    with _sdk_deprecation_ignored():
        translated = sdk.audio.translations.create(model="whisper-1", file=audio)
    assert translated.text == text.text


def test_an_unsupported_pair_is_a_400_naming_it(gateway: ServerHandle) -> None:
    with pytest.raises(openai.BadRequestError, match="anthropic"):
        client(gateway).images.generate(model="anthropic/claude-haiku-4-5", prompt="x")


def test_anthropic_sdk_message_batches(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key=CLIENT_KEY, max_retries=0)
    params: dict[str, object] = {"model": "claude-haiku-4-5", "max_tokens": 10,
                                 "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    batch = sdk.messages.batches.create(requests=[{"custom_id": "one", "params": params}])  # type: ignore[list-item]
    assert batch.id.startswith("msgbatch_") and batch.request_counts.processing == 1
    assert batch.results_url is not None and not batch.results_url.startswith("https://api.anthropic.com")
    assert sdk.messages.batches.retrieve(batch.id).id == batch.id
    results = list(sdk.messages.batches.results(batch.id))  # follows results_url through the gateway
    assert [r.custom_id for r in results] == ["one"] and results[0].result.type == "succeeded"
    assert sdk.messages.batches.cancel(batch.id).processing_status == "canceling"
    assert all(r.headers["x-api-key"] == ANTHROPIC_KEY for r in fake_provider.matching("/messages/batches"))
    _no_client_key(fake_provider)


def test_passthrough_prefixes_forward_any_vendor_path_with_the_gateways_key(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        models = http.get("/openai_passthrough/v1/models", headers={"authorization": f"Bearer {CLIENT_KEY}"})
        anthropic_models = http.get("/anthropic_passthrough/v1/models")
        missing = http.get("/openai_passthrough/v1/nothing-here")
        dotted = http.get("/openai_passthrough/v1/../../admin")
    assert models.status_code == 200 and models.json()["object"] == "list"
    openai_call, anthropic_call = fake_provider.matching("/v1/models")[:2]
    assert openai_call.path == anthropic_call.path == "/v1/models"  # the version is not doubled
    assert openai_call.headers["authorization"] in {f"Bearer {k}" for k in KEYS}
    assert anthropic_call.headers["x-api-key"] == ANTHROPIC_KEY
    assert anthropic_models.status_code == 200 and "data" in anthropic_models.json()
    assert missing.status_code == 404 and "error" in missing.json()
    assert dotted.status_code in (400, 404)  # never reaches another path upstream
    assert not any("admin" in r.path for r in fake_provider.requests)
    _no_client_key(fake_provider)


def test_a_form_post_from_a_browser_cannot_upload(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    """Multipart bodies are taken only with a credentials header, which no cross-site form can set."""
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        refused = http.post("/v1/files", files={"file": ("a.jsonl", JSONL)}, data={"purpose": "batch"})
    assert refused.status_code == 415
    assert not fake_provider.matching("/v1/files")
