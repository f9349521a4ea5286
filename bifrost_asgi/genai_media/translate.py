"""Pure translation between GenAI media requests and OpenAI's image and speech endpoints.

* ``generateContent`` with ``generationConfig.responseModalities`` ``IMAGE`` (an image model:
  gpt-image-*, dall-e-*) -> ``POST /images/generations``; ``AUDIO`` (a TTS model) ->
  ``POST /audio/speech`` with ``response_format: pcm`` (24 kHz 16-bit mono little-endian, which is
  Gemini's ``audio/L16;codec=pcm;rate=24000``). Answers come back as candidates' ``inlineData``.
* Imagen ``:predict`` (``instances[].prompt``, ``parameters``) -> ``/images/generations``; answers
  as ``predictions[].bytesBase64Encoded``.

What cannot be honoured is a 400 naming the field, decided before any upstream call.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidRequestError
from ..neutral import ChatRequest, TextPart

MODALITIES = "generationConfig.responseModalities"
PCM_MIME = "audio/L16;codec=pcm;rate=24000"
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
_IMAGE_MODEL = re.compile(r"(?:^|[/-])(?:gpt-image|dall-e|chatgpt-image)")
_TTS_MODEL = re.compile(r"tts")
# Read here rather than refused: they say what to produce and how.
_MEDIA_CONFIG = frozenset(
    {MODALITIES, "generationConfig.speechConfig", "generationConfig.imageConfig"}
    | {"generationConfig.speech_config", "generationConfig.image_config"}
)
# Imagen parameters that only tune Google's own safety filters, watermark or prompt rewriting.
_PREDICT_DROPPED = frozenset(
    {"personGeneration", "safetySetting", "addWatermark", "includeRaiReason", "includeSafetyAttributes"}
    | {"enhancePrompt", "language"}
)
_PREDICT_PARAMETERS = frozenset({"sampleCount", "aspectRatio", "outputOptions"}) | _PREDICT_DROPPED
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def fail(field: str, problem: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {problem}", param=field)


def media_kind(request: ChatRequest) -> str | None:
    """``"IMAGE"`` or ``"AUDIO"`` when the request asks for one (``TEXT`` may come with it)."""
    raw = request.untranslatable.get(MODALITIES)
    if not isinstance(raw, list):
        return None
    kinds = {str(kind).upper() for kind in raw} - {"TEXT", "MODALITY_UNSPECIFIED"}
    if not kinds:
        return None
    if len(kinds) > 1:
        raise fail(MODALITIES, f"{sorted(kinds)} together cannot be produced by one OpenAI call: ask for one")
    kind = next(iter(kinds))
    if kind not in ("IMAGE", "AUDIO"):
        raise fail(MODALITIES, f"'{kind}' is not a response modality (expected TEXT, IMAGE or AUDIO)")
    return kind


def check_pair(request: ChatRequest, kind: str, provider: str, model: str) -> None:
    """400 unless ``provider/model`` can produce ``kind`` for this request."""
    asked = request.untranslatable.get(MODALITIES)
    pair = f"{asked} toward {provider}/{model}"
    if kind == "IMAGE" and not _IMAGE_MODEL.search(model):
        raise fail(MODALITIES, f"{pair}: IMAGE needs an OpenAI image model (gpt-image-1, dall-e-3), not '{model}'")
    if kind == "AUDIO" and not _TTS_MODEL.search(model):
        raise fail(MODALITIES, f"{pair}: AUDIO needs an OpenAI speech model (tts-1, gpt-4o-mini-tts), not '{model}'")
    for name in request.untranslatable:
        if name not in _MEDIA_CONFIG:
            raise fail(name, f"cannot be sent with {pair}")
    if request.tools:
        raise fail("tools", f"cannot be sent with {pair}")


def prompt_of(request: ChatRequest, target: str) -> tuple[str, str]:
    """(system text, the user turns' text): only text can be sent to ``target``."""
    system: list[str] = []
    user: list[str] = []
    for index, message in enumerate(request.messages):
        for part in message.parts:
            if not isinstance(part, TextPart):
                raise fail(f"contents[{index}]", f"only text parts can be sent to {target} (got {type(part).__name__})")
        (system if message.role == "system" else user).append(message.text())
    prompt = "\n\n".join(text for text in user if text)
    if not prompt.strip():
        raise fail("contents", f"a text prompt is required for {target}")
    return "\n\n".join(system), prompt


def _config(request: ChatRequest, camel: str, snake: str) -> Mapping[str, Any]:
    raw = request.raw or {}
    config = raw.get("generationConfig") or raw.get("generation_config") or {}
    value = (config.get(camel) or config.get(snake)) if isinstance(config, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _size(model: str, aspect: Any, field: str) -> str | None:
    """An OpenAI ``size`` for a Gemini/Imagen aspect ratio (``"16:9"``): square, landscape or portrait."""
    if aspect is None:
        return None
    match = re.fullmatch(r"(\d+):(\d+)", str(aspect))
    if match is None or int(match.group(2)) == 0:
        raise fail(field, f"expected a ratio such as '16:9', got {aspect!r}")
    ratio = int(match.group(1)) / int(match.group(2))
    shape = "square" if ratio == 1 else "landscape" if ratio > 1 else "portrait"
    if "dall-e-2" in model and shape != "square":
        raise fail(field, f"{aspect} cannot be served by {model} (square images only)")
    sizes = {"square": "1024x1024", "landscape": "1792x1024", "portrait": "1024x1792"} if "dall-e" in model else \
        {"square": "1024x1024", "landscape": "1536x1024", "portrait": "1024x1536"}  # fmt: skip
    return sizes[shape]


def image_request(model: str, prompt: str, count: int | None, size: str | None, mime: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    if count is not None:
        body["n"] = count
    if size is not None:
        body["size"] = size
    if "dall-e" in model:
        body["response_format"] = "b64_json"  # gpt-image models always answer base64 and refuse the field
    elif mime is not None:
        body["output_format"] = _FORMATS[mime]
    return body


def generate_image_request(request: ChatRequest, model: str) -> dict[str, Any]:
    system, prompt = prompt_of(request, model)
    image = _config(request, "imageConfig", "image_config")
    aspect = image.get("aspectRatio") or image.get("aspect_ratio")
    size = _size(model, aspect, "generationConfig.imageConfig.aspectRatio")
    text = f"{system}\n\n{prompt}" if system else prompt
    return image_request(model, text, request.n, size, None)


def speech_request(request: ChatRequest, model: str) -> dict[str, Any]:
    system, prompt = prompt_of(request, model)
    speech = _config(request, "speechConfig", "speech_config")
    field = "generationConfig.speechConfig"
    if speech.get("multiSpeakerVoiceConfig") or speech.get("multi_speaker_voice_config"):
        raise fail(f"{field}.multiSpeakerVoiceConfig", f"{model} speaks with one voice")
    voice_config = speech.get("voiceConfig") or speech.get("voice_config") or {}
    prebuilt = voice_config.get("prebuiltVoiceConfig") or voice_config.get("prebuilt_voice_config") or {}
    name = prebuilt.get("voiceName") or prebuilt.get("voice_name") or "alloy"
    voice = str(name).lower()
    if voice not in OPENAI_VOICES:
        raise fail(f"{field}.voiceConfig.prebuiltVoiceConfig.voiceName",
                   f"'{name}' is not a voice of {model} (one of {', '.join(OPENAI_VOICES)})")  # fmt: skip
    body: dict[str, Any] = {"model": model, "input": prompt, "voice": voice, "response_format": "pcm"}
    if system:
        body["instructions"] = system
    return body


def image_parts(answer: Mapping[str, Any], mime: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in answer.get("data") or ():
        data = item.get("b64_json") if isinstance(item, Mapping) else None
        if isinstance(data, str) and data:
            parts.append({"inlineData": {"mimeType": mime, "data": data}})
    return parts


def image_mime(request_body: Mapping[str, Any]) -> str:
    return "image/" + str(request_body.get("output_format") or "png")


def candidates(parts: Sequence[dict[str, Any]], model: str, usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ``generateContent`` answer: one candidate holding ``parts``."""
    answer: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP", "index": 0}],
        "modelVersion": model,
    }
    metadata = _usage(usage)
    if metadata is not None:
        answer["usageMetadata"] = metadata
    return answer


def speech_parts(audio: bytes) -> list[dict[str, Any]]:
    return [{"inlineData": {"mimeType": PCM_MIME, "data": base64.b64encode(audio).decode()}}]


def _usage(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """gpt-image models report ``input_tokens``/``output_tokens``; dall-e and speech report nothing."""
    if not isinstance(usage, Mapping):
        return None
    prompt, output = usage.get("input_tokens"), usage.get("output_tokens")
    if not isinstance(prompt, int) or not isinstance(output, int):
        return None
    total = usage.get("total_tokens")
    return {"promptTokenCount": prompt, "candidatesTokenCount": output,
            "totalTokenCount": total if isinstance(total, int) else prompt + output}  # fmt: skip


def predict_request(payload: Any, model: str) -> dict[str, Any]:
    """An Imagen ``:predict`` body -> an ``/images/generations`` body for ``model``."""
    if not isinstance(payload, Mapping):
        raise fail("body", "expected a JSON object with 'instances'")
    instances = payload.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], Mapping):
        raise fail("instances", f"exactly one instance with a 'prompt' is served toward {model}")
    instance = instances[0]
    extra = sorted(set(instance) - {"prompt"})
    if extra:
        raise fail(f"instances[0].{extra[0]}", f"cannot be sent to {model} (a text prompt only)")
    prompt = instance.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise fail("instances[0].prompt", "a non-empty string is required")
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise fail("parameters", "expected an object")
    unknown = sorted(set(parameters) - _PREDICT_PARAMETERS)
    if unknown:
        raise fail(f"parameters.{unknown[0]}", f"cannot be honoured by {model}")
    count = parameters.get("sampleCount")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10):
        raise fail("parameters.sampleCount", "expected an integer from 1 to 10")
    options = parameters.get("outputOptions") or {}
    mime = options.get("mimeType") if isinstance(options, Mapping) else None
    if mime is not None and (mime not in _FORMATS or "dall-e" in model):
        raise fail("parameters.outputOptions.mimeType", f"{mime!r} cannot be produced by {model}")
    size = _size(model, parameters.get("aspectRatio"), "parameters.aspectRatio")
    return image_request(model, prompt, count, size, mime)


def predictions(answer: Mapping[str, Any], mime: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for item in answer.get("data") or ():
        data = item.get("b64_json") if isinstance(item, Mapping) else None
        if isinstance(data, str) and data:
            prediction: dict[str, Any] = {"bytesBase64Encoded": data, "mimeType": mime}
            revised = item.get("revised_prompt")
            if isinstance(revised, str) and revised:
                prediction["prompt"] = revised
            found.append(prediction)
    return {"predictions": found}
