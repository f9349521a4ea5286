"""GenAI media through google-genai: ``responseModalities`` IMAGE/AUDIO toward OpenAI image and
speech models (``/v1/images/generations``, ``/v1/audio/speech`` with PCM), answered as
``inlineData`` parts; Imagen ``generate_images`` (the SDK's Vertex express mode, the only one that
allows it) translated to an OpenAI image model or forwarded to a gemini provider. The fakes refuse
what the real APIs refuse (unknown fields, ``response_format`` to gpt-image models, unknown voices)."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support import FakeProvider, ServerHandle, fake_imagen, run_gateway
from tests.support.fake_media import FAKE_IMAGE_B64, FAKE_PCM, FakeMedia

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    fake_imagen.install(fake_provider)
    gemini = {"keys": [{"name": "g", "value": "gm-key"}], "network_config": {"base_url": fake_provider.url + "/v1beta"}}
    openai = {"keys": [{"name": "o", "value": "sk-openai"}], "network_config": {"base_url": fake_provider.url + "/v1"}}
    anthropic = {"keys": [{"name": "a", "value": "sk-ant"}], "network_config": {"base_url": fake_provider.url}}
    with run_gateway({"providers": {"gemini": gemini, "openai": openai, "anthropic": anthropic}}) as handle:
        yield handle


def _client(gateway: ServerHandle, *, vertex: bool = False) -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url + "/genai", **({} if vertex else {"api_version": "v1beta"}))
    return genai.Client(vertexai=vertex or None, api_key="client-key", http_options=options)


def _inline(answer: types.GenerateContentResponse) -> list[types.Blob]:
    assert answer.candidates and answer.candidates[0].content and answer.candidates[0].content.parts
    return [p.inline_data for p in answer.candidates[0].content.parts if p.inline_data is not None]


def test_image_modality_to_an_openai_image_model(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway)
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"],
                                         image_config=types.ImageConfig(aspect_ratio="16:9"))  # fmt: skip
    answer = client.models.generate_content(model="openai/gpt-image-1", contents="a red fox", config=config)
    [image] = _inline(answer)
    assert image.mime_type == "image/png" and image.data == base64.b64decode(FAKE_IMAGE_B64)
    assert answer.usage_metadata and answer.usage_metadata.prompt_token_count == 5
    assert answer.usage_metadata.candidates_token_count == 100
    sent = fake_provider.last("/v1/images/generations").json
    assert sent == {"model": "gpt-image-1", "prompt": "a red fox", "size": "1536x1024"}
    dalle = client.models.generate_content(model="openai/dall-e-3", contents="a fox",
                                           config={"response_modalities": ["IMAGE"]})  # fmt: skip
    assert len(_inline(dalle)) == 1 and dalle.usage_metadata is None  # dall-e reports no usage: none claimed
    assert fake_provider.last("/v1/images/generations").json["response_format"] == "b64_json"


def test_audio_modality_to_an_openai_speech_model(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    voice = types.SpeechConfig(voice_config=types.VoiceConfig(
        prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Nova")))  # fmt: skip
    config = types.GenerateContentConfig(response_modalities=["AUDIO"], speech_config=voice,
                                         system_instruction="Speak softly.")  # fmt: skip
    client = _client(gateway)
    answer = client.models.generate_content(model="openai/tts-1", contents="Hello there", config=config)
    [audio] = _inline(answer)
    assert audio.mime_type == "audio/L16;codec=pcm;rate=24000" and audio.data == FAKE_PCM
    sent = fake_provider.last("/v1/audio/speech").json
    assert sent == {"model": "tts-1", "input": "Hello there", "voice": "nova", "response_format": "pcm",
                    "instructions": "Speak softly."}  # fmt: skip


def test_gemini_to_gemini_keeps_relaying_the_modalities(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway)
    client.models.generate_content(model="gemini-2.5-flash-image", contents="a fox",
                                   config={"response_modalities": ["TEXT", "IMAGE"]})  # fmt: skip
    sent = fake_provider.last(":generateContent").json
    assert sent["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]


@pytest.mark.parametrize(
    ("model", "config", "expected"),
    [
        ("openai/gpt-4o-mini", {"response_modalities": ["TEXT", "IMAGE"]},
         "['TEXT', 'IMAGE'] toward openai/gpt-4o-mini: IMAGE needs an OpenAI image model"),
        ("openai/gpt-image-1", {"response_modalities": ["AUDIO"]},
         "['AUDIO'] toward openai/gpt-image-1: AUDIO needs an OpenAI speech model"),
        ("openai/tts-1", {"response_modalities": ["AUDIO", "IMAGE"]}, "together cannot be produced by one OpenAI call"),
        ("anthropic/claude-haiku-4-5", {"response_modalities": ["IMAGE"]}, "provider 'anthropic' (anthropic format)"),
        ("openai/tts-1", {"response_modalities": ["AUDIO"], "speech_config": {"voice_config": {
            "prebuilt_voice_config": {"voice_name": "Kore"}}}}, "voiceName: 'Kore' is not a voice of tts-1"),
        ("openai/dall-e-2", {"response_modalities": ["IMAGE"], "image_config": {"aspect_ratio": "16:9"}},
         "imageConfig.aspectRatio: 16:9 cannot be served by dall-e-2"),
        ("openai/gpt-image-1", {"response_modalities": ["IMAGE"], "tools": [{"google_search": {}}]},
         "cannot be sent with ['IMAGE'] toward openai/gpt-image-1"),
    ],
)  # fmt: skip
def test_pairs_that_cannot_be_honoured_are_a_400_before_any_upstream_call(
    fake_provider: FakeProvider, gateway: ServerHandle, model: str, config: dict[str, Any], expected: str
) -> None:
    client = _client(gateway)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=model, contents="a fox", config=config)  # type: ignore[arg-type]
    assert caught.value.code == 400 and expected in str(caught.value.message), caught.value.message
    assert not fake_provider.requests


def test_streamed_media_arrives_as_one_event(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway)
    chunks = list(client.models.generate_content_stream(model="openai/gpt-image-1", contents="a fox",
                                                        config={"response_modalities": ["IMAGE"]}))  # fmt: skip
    assert len(chunks) == 1 and [b.data for b in _inline(chunks[0])] == [base64.b64decode(FAKE_IMAGE_B64)]
    spoken = list(client.models.generate_content_stream(model="openai/tts-1", contents="hi",
                                                        config={"response_modalities": ["AUDIO"]}))  # fmt: skip
    assert [b.mime_type for b in _inline(spoken[0])] == ["audio/L16;codec=pcm;rate=24000"]


def test_image_inputs_are_refused_by_name(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway)
    picture = types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")
    with pytest.raises(errors.ClientError) as edited:
        client.models.generate_content(model="openai/gpt-image-1", contents=[picture, "make it blue"],
                                       config={"response_modalities": ["IMAGE"]})  # fmt: skip
    assert edited.value.code == 400 and "contents[0]: only text parts" in str(edited.value.message)
    assert not fake_provider.requests


def _generate_images(client: genai.Client, model: str, **config: Any) -> types.GenerateImagesResponse:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # generate_images is deprecated in google-genai 3.x
        return client.models.generate_images(model=model, prompt="a fox in the snow", config=config or None)


def test_imagen_generate_images_to_an_openai_image_model(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway, vertex=True)
    answer = _generate_images(client, "openai/gpt-image-1", number_of_images=2, aspect_ratio="9:16",
                              output_mime_type="image/jpeg")  # fmt: skip
    images = answer.generated_images or []
    assert len(images) == 2
    assert all(i.image and i.image.image_bytes == base64.b64decode(FAKE_IMAGE_B64) for i in images)
    assert all(i.image and i.image.mime_type == "image/jpeg" for i in images)
    assert images[0].enhanced_prompt == "a fox in the snow"  # OpenAI's revised_prompt
    sent = fake_provider.last("/v1/images/generations").json
    assert sent == {"model": "gpt-image-1", "prompt": "a fox in the snow", "n": 2, "size": "1024x1536",
                    "output_format": "jpeg"}  # fmt: skip
    assert fake_provider.last("/v1/images/generations").headers["authorization"] == "Bearer sk-openai"


def test_imagen_predict_forwarded_to_a_gemini_provider(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = _client(gateway, vertex=True)
    answer = _generate_images(client, "imagen-3.0-generate-002", number_of_images=3)
    assert len(answer.generated_images or []) == 3
    forwarded = fake_provider.last(":predict")
    assert forwarded.path == "/v1beta/models/imagen-3.0-generate-002:predict"
    assert forwarded.headers["x-goog-api-key"] == "gm-key"
    plain = httpx.post(gateway.url + "/genai/v1beta/models/gemini/imagen-4.0-generate-001:predict",
                       json={"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 1}})  # fmt: skip
    assert plain.status_code == 200 and len(plain.json()["predictions"]) == 1
    assert fake_provider.last(":predict").path == "/v1beta/models/imagen-4.0-generate-001:predict"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"instances": [{"prompt": "a"}], "parameters": {"negativePrompt": "dogs"}},
         "parameters.negativePrompt: cannot be honoured by gpt-image-1"),
        ({"instances": [{"prompt": "a"}, {"prompt": "b"}]}, "instances: exactly one instance"),
        ({"instances": [{"prompt": "a", "image": {"bytesBase64Encoded": "AA=="}}]}, "instances[0].image: cannot be"),
        ({"instances": [{"prompt": "a"}], "parameters": {"sampleCount": 11}}, "parameters.sampleCount: expected"),
        ({"instances": [{"prompt": "a"}], "parameters": {"aspectRatio": "wide"}}, "parameters.aspectRatio: expected"),
    ],
)  # fmt: skip
def test_imagen_parameters_an_openai_model_cannot_honour(
    fake_provider: FakeProvider, gateway: ServerHandle, body: dict[str, Any], expected: str
) -> None:
    answer = httpx.post(gateway.url + "/genai/v1beta/models/openai/gpt-image-1:predict", json=body)
    assert answer.status_code == 400 and expected in answer.json()["error"]["message"], answer.text
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert not fake_provider.requests
