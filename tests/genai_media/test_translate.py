"""GenAI media translation, pure: which modality is asked, sizes, Imagen bodies, answers."""

from __future__ import annotations

import pytest

from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.genai_media import translate as t
from bifrost_asgi.neutral import ChatRequest, Message, TextPart


def _request(modalities: list[str] | None, **raw_config: object) -> ChatRequest:
    untranslatable = {} if modalities is None else {t.MODALITIES: modalities}
    raw = {"generationConfig": {"responseModalities": modalities, **raw_config}}
    return ChatRequest(model="m", messages=(Message("user", (TextPart("a fox"),)),), raw=raw,
                       untranslatable=untranslatable)  # fmt: skip


@pytest.mark.parametrize(
    ("modalities", "kind"), [(None, None), (["TEXT", "IMAGE"], "IMAGE"), (["audio"], "AUDIO"), (["IMAGE"], "IMAGE")]
)
def test_the_asked_modality(modalities: list[str] | None, kind: str | None) -> None:
    assert t.media_kind(_request(modalities)) == kind


@pytest.mark.parametrize(("modalities", "message"), [(["IMAGE", "AUDIO"], "together"), (["VIDEO"], "'VIDEO' is not")])
def test_modalities_one_call_cannot_produce(modalities: list[str], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        t.media_kind(_request(modalities))


@pytest.mark.parametrize(
    ("model", "aspect", "size"),
    [("gpt-image-1", "1:1", "1024x1024"), ("gpt-image-1", "21:9", "1536x1024"), ("gpt-image-1", "3:4", "1024x1536"),
     ("dall-e-3", "16:9", "1792x1024"), ("dall-e-3", "9:16", "1024x1792"), ("dall-e-2", "1:1", "1024x1024"),
     ("gpt-image-1", None, None)],
)  # fmt: skip
def test_aspect_ratios_become_the_models_sizes(model: str, aspect: str | None, size: str | None) -> None:
    assert t._size(model, aspect, "f") == size


def test_predict_bodies_and_answers() -> None:
    body = t.predict_request({"instances": [{"prompt": "p"}], "parameters": {
        "sampleCount": 2, "aspectRatio": "4:3", "personGeneration": "allow_adult",
        "outputOptions": {"mimeType": "image/webp"}}}, "gpt-image-1")  # fmt: skip
    assert body == {"model": "gpt-image-1", "prompt": "p", "n": 2, "size": "1536x1024", "output_format": "webp"}
    assert t.predict_request({"instances": [{"prompt": "p"}]}, "dall-e-3")["response_format"] == "b64_json"
    with pytest.raises(InvalidRequestError, match=r"outputOptions\.mimeType"):
        t.predict_request({"instances": [{"prompt": "p"}], "parameters": {"outputOptions": {"mimeType": "image/gif"}}},
                          "gpt-image-1")  # fmt: skip
    answer = {"data": [{"b64_json": "AAA", "revised_prompt": "q"}, {"b64_json": ""}]}
    assert t.predictions(answer, "image/webp") == {
        "predictions": [{"bytesBase64Encoded": "AAA", "mimeType": "image/webp", "prompt": "q"}]
    }


def test_candidates_claim_usage_only_when_the_vendor_reports_it() -> None:
    parts = t.speech_parts(b"\x00\x01")
    assert parts == [{"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000", "data": "AAE="}}]
    assert "usageMetadata" not in t.candidates(parts, "tts-1", None)
    usage = t.candidates(parts, "gpt-image-1", {"input_tokens": 3, "output_tokens": 4})["usageMetadata"]
    assert usage == {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}


def test_speech_voice_and_instructions() -> None:
    request = _request(["AUDIO"], speechConfig={"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Coral"}}})
    assert t.speech_request(request, "gpt-4o-mini-tts") == {
        "model": "gpt-4o-mini-tts", "input": "a fox", "voice": "coral", "response_format": "pcm"}
    assert t.speech_request(_request(["AUDIO"]), "tts-1")["voice"] == "alloy"
