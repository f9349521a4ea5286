"""The model a forwarded call is reported under: what the request names, else its kind; bounded."""

from __future__ import annotations

import pytest

from bifrost_asgi import _json
from bifrost_asgi.forwarding.labels import call_label
from bifrost_asgi.forwarding.routes import ANTHROPIC_ROUTES, OPENAI_ROUTES, passthrough_routes

JSON = {"content-type": "application/json"}
FILES, BATCHES = OPENAI_ROUTES[0], OPENAI_ROUTES[5]
SPEECH = next(s for s in OPENAI_ROUTES if s.path == "/v1/audio/speech")
PASS = passthrough_routes("gemini")[1]  # POST


def test_the_named_model_or_the_kind_of_call() -> None:
    assert call_label(SPEECH, {}, JSON, b'{"model": "tts-1", "input": "hi"}') == "tts-1"
    assert call_label(BATCHES, {}, JSON, b'{"input_file_id": "file-1"}') == "batches"
    assert call_label(FILES, {}, {"content-type": "multipart/form-data; boundary=x"}, b"") == "files"
    assert call_label(ANTHROPIC_ROUTES[0], {}, JSON, b'{"requests": []}') == "batches"
    path = {"path": "v1beta/models/gemini-2.5-flash:generateContent"}
    assert call_label(PASS, path, JSON, b'{"contents": []}') == "gemini-2.5-flash"
    assert call_label(PASS, {"path": "v1beta/cachedContents"}, JSON, b"{}") == "passthrough"


@pytest.mark.parametrize("model", ["a b", "x" * 200, "sk-\x00secret", "../etc", ""])
def test_a_name_that_is_no_plain_model_id_is_unknown(model: str) -> None:
    body = _json.dumps({"model": model})
    assert call_label(SPEECH, {}, JSON, body) in ("unknown", "media")
    assert call_label(SPEECH, {}, JSON, b"not json") == "media"
