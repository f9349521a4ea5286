"""A fake Imagen ``models/{model}:predict`` on the Gemini API, validated like the real one
(``instances[].prompt`` only, known ``parameters`` only, a model named ``imagen-*``): it answers
``sampleCount`` predictions of a tiny PNG."""

from __future__ import annotations

import re
from typing import Any

from tests.support.fake_answers import Invalid
from tests.support.fake_provider import FakeProvider, RecordedRequest, Reply

IMAGEN_PNG_B64 = "iVBORw0KGgoAAAANSUhEUg=="
_PARAMETERS = {"sampleCount", "aspectRatio", "personGeneration", "safetySetting", "addWatermark", "outputOptions",
               "includeRaiReason", "includeSafetyAttributes", "negativePrompt", "enhancePrompt", "language",
               "sampleImageSize", "seed"}  # fmt: skip


def install(fake: FakeProvider) -> None:
    fake.respond(":predict", _predict)


def _predict(request: RecordedRequest) -> Any:
    try:
        return _answer(request)
    except Invalid as exc:
        return Reply(status=exc.status, json={"error": {"code": exc.status, "message": exc.message,
                                                        "status": "INVALID_ARGUMENT"}})  # fmt: skip


def _answer(request: RecordedRequest) -> Any:
    if not request.headers.get("x-goog-api-key") or "key" in request.query:
        raise Invalid(401, "API key not valid (x-goog-api-key only)")
    match = re.fullmatch(r"/v1beta/models/(imagen-[^/:]+):predict", request.path)
    if match is None:
        raise Invalid(404, f"models/{request.path} is not found for API version v1beta, or predict is not supported")
    body = request.json if isinstance(request.json, dict) else {}
    extra = sorted(set(body) - {"instances", "parameters"}) or sorted(set(body.get("parameters") or {}) - _PARAMETERS)
    if extra:
        raise Invalid(400, f'Invalid JSON payload received. Unknown name "{extra[0]}"')
    instances = body.get("instances") or []
    if not instances or not all(isinstance(i, dict) and i.get("prompt") for i in instances):
        raise Invalid(400, "instances[].prompt: required")
    count = int((body.get("parameters") or {}).get("sampleCount", 4))
    return {"predictions": [{"bytesBase64Encoded": IMAGEN_PNG_B64, "mimeType": "image/png"}] * count}
