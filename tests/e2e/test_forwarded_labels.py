"""Forwarded calls (files, batches, images, audio, passthrough) are reported with the model the
request names — JSON ``model``, the multipart ``model`` field, a GenAI path's model — or, when it
names none, the kind of call: in the request log line, the ``bifrost_requests_total`` labels and the
``x-bifrost-model`` header; never ``unknown`` for a call that named its model, never a file name."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_media import FakeMedia
from tests.support.request_log import RequestLines, capture_request_log

pytestmark = pytest.mark.e2e

OPENAI_KEY = "sk-label-openai-1"
GEMINI_KEY = "gm-label-gemini-2"
JSONL = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
SECRET_FILE_NAME = "payroll-2026-secret.jsonl"


@pytest.fixture
def request_log() -> Iterator[RequestLines]:
    with capture_request_log() as lines:
        yield lines


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    FakeMedia().install(fake_provider)
    providers = {
        "openai": {"keys": [{"value": OPENAI_KEY, "models": ["gpt-image-1", "whisper-1", "tts-1", "gpt-4o-mini"]}],
                   "network_config": {"base_url": fake_provider.url}},
        "gemini": {"keys": [{"value": GEMINI_KEY}], "network_config": {"base_url": fake_provider.url + "/v1beta"}},
    }  # fmt: skip
    with run_gateway({"providers": providers, "client": {"log_json": True}}) as handle:
        yield handle


def _records(log: RequestLines, count: int) -> list[dict[str, Any]]:
    return log.records(count, timeout=10.0)


def test_forwarded_calls_name_their_model_or_their_kind(
    gateway: ServerHandle, request_log: RequestLines, fake_provider: FakeProvider
) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="c", max_retries=0)
    image = sdk.images.with_raw_response.generate(model="gpt-image-1", prompt="a fox")  # JSON model
    assert image.headers["x-bifrost-model"] == "gpt-image-1"
    heard = sdk.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("a.wav", b"RIFF" * 50))
    assert heard.headers["x-bifrost-model"] == "whisper-1"  # the multipart field
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hi") as speech:
        assert speech.headers["x-bifrost-model"] == "tts-1"
        speech.read()
    upload = sdk.files.with_raw_response.create(file=(SECRET_FILE_NAME, io.BytesIO(JSONL)), purpose="batch")
    assert upload.headers["x-bifrost-model"] == "files"  # no model: the kind of call
    created = upload.parse()
    batch = sdk.batches.with_raw_response.create(
        input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.headers["x-bifrost-model"] == "batches"
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        chat = http.post("/openai_passthrough/v1/chat/completions",
                         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
        listed = http.get("/openai_passthrough/v1/models")
        genai = http.post("/genai_passthrough/v1beta/models/gemini-2.5-flash:countTokens",
                          json={"contents": [{"parts": [{"text": "hi"}]}]})  # fmt: skip
    assert chat.headers["x-bifrost-model"] == "gpt-4o-mini"
    assert listed.headers["x-bifrost-model"] == "passthrough"
    assert genai.headers["x-bifrost-model"] == "gemini-2.5-flash"  # the model in a GenAI path

    expected = ["gpt-image-1", "whisper-1", "tts-1", "files", "batches", "gpt-4o-mini", "passthrough",
                "gemini-2.5-flash"]  # fmt: skip
    records = _records(request_log, len(expected))
    assert sorted(r["model"] for r in records) == sorted(expected)
    assert not any(SECRET_FILE_NAME in line or OPENAI_KEY in line for line in request_log.lines)

    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        metrics = http.get("/metrics").text
    samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
    counted = {s.labels["model"] for s in samples if s.name == "bifrost_requests_total"}
    assert {"gpt-image-1", "whisper-1", "tts-1", "files", "batches", "passthrough"} <= counted
    assert "unknown" not in counted and SECRET_FILE_NAME not in metrics


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, value in parts:
        extra = f'; filename="{filename}"' if filename else ""
        out += f'--b0und\r\ncontent-disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode() + value + b"\r\n"
    return out + b"--b0und--\r\n"


def test_a_passthrough_upload_is_not_searched_for_its_model(gateway: ServerHandle, request_log: RequestLines) -> None:
    """The ``model`` field before the file is read; after it, the upload is not scanned: "unknown"."""
    audio = ("file", "a.wav", b"RIFF" + b"\x00" * 4000)
    headers = {"authorization": "Bearer c", "content-type": "multipart/form-data; boundary=b0und"}
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        first = http.post("/openai_passthrough/v1/audio/transcriptions", headers=headers,
                          content=_form(("model", None, b"whisper-1"), audio))  # fmt: skip
        after = http.post("/openai_passthrough/v1/audio/transcriptions", headers=headers,
                          content=_form(audio, ("model", None, b"whisper-1")))  # fmt: skip
    assert first.status_code == after.status_code == 200
    assert first.headers["x-bifrost-model"] == "whisper-1"
    assert after.headers["x-bifrost-model"] == "unknown"
    assert sorted(r["model"] for r in _records(request_log, 2)) == ["unknown", "whisper-1"]
