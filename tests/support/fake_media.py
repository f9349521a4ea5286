"""Fake vendor endpoints beyond chat, validated like the real APIs (unknown fields are a 400, objects
belong to the API key that made them): OpenAI files, batches, images and audio; Anthropic message
batches and files; Azure OpenAI deployment paths (``api-key`` header, ``api-version`` required).

``install(fake)`` registers them as :meth:`FakeProvider.respond` hooks; ``MediaState`` keeps the
objects per key so a test can see which key a call reached.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.support.fake_answers import Invalid, fake_embedding, fake_text
from tests.support.fake_provider import FakeProvider, RecordedRequest, Reply, sse

CREATED = 1_700_000_000
FAKE_IMAGE_B64 = "iVBORw0KGgo="
FAKE_AUDIO = [b"ID3\x03\x00fake-audio-", b"\x00\xff" * 512, b"-end"]

FAKE_PCM = b"\x00\x01\xff\x7f" * 240  # 24 kHz 16-bit mono: 10 ms
_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
_SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}
_SIZES = {"gpt-image": {"1024x1024", "1536x1024", "1024x1536", "auto"},
          "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"}, "dall-e-2": {"256x256", "512x512", "1024x1024"}}
_PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}
_IMAGE_FIELDS = {"prompt", "model", "n", "quality", "response_format", "size", "style", "user", "background",
                 "moderation", "output_compression", "output_format", "partial_images", "stream", "input_fidelity"}
_EDIT_FIELDS = _IMAGE_FIELDS | {"image", "image[]", "mask"}
_SPEECH_FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
_TRANSCRIBE_FIELDS = {"file", "model", "language", "prompt", "response_format", "temperature",
                      "timestamp_granularities[]", "include[]", "stream", "chunking_strategy"}
_BATCH_FIELDS = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
_ANTHROPIC_BATCH_PARAMS = {"model", "max_tokens", "messages", "system", "temperature", "tools", "tool_choice",
                           "stop_sequences", "metadata", "top_p", "top_k", "thinking"}


@dataclass
class MediaState:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> object (+ "_key", "_content")
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq:04d}"


def _key(request: RecordedRequest) -> str:
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") or request.headers.get("x-api-key", "") or request.headers.get("api-key", "")


def _error(vendor: str, status: int, message: str) -> Reply:
    if vendor == "anthropic":
        return Reply(status=status, json={"type": "error", "error": {"type": "invalid_request_error",
                                                                      "message": message}})
    return Reply(status=status, json={"error": {"message": message, "type": "invalid_request_error",
                                                "param": None, "code": None}})


def _form(request: RecordedRequest) -> dict[str, tuple[str | None, bytes]]:
    """multipart/form-data fields: name -> (filename, value)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise Invalid(400, f"expected multipart/form-data, got {content_type or 'no content-type'}")
    message = BytesParser(policy=HTTP).parsebytes(b"content-type: " + content_type.encode() + b"\r\n\r\n"
                                                  + request.body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def _check_generation(model: str, body: dict[str, Any]) -> None:
    """What OpenAI refuses per image model: gpt-image models answer base64 only (no
    ``response_format``), dall-e models no ``output_format``; dall-e-3 makes one image a call."""
    family = next((f for f in _SIZES if model.startswith(f)), None)
    if family is None:
        raise Invalid(400, f"model {model!r} does not generate images")
    if family == "gpt-image" and "response_format" in body:
        raise Invalid(400, "Unknown parameter: 'response_format'.")
    if family != "gpt-image" and "output_format" in body:
        raise Invalid(400, "Unknown parameter: 'output_format'.")
    if family == "dall-e-3" and body.get("n", 1) != 1:
        raise Invalid(400, "dall-e-3: n must be 1")
    if "size" in body and body["size"] not in _SIZES[family]:
        raise Invalid(400, f"Invalid size {body['size']!r} for {model}")


def _strict(names: set[str], allowed: set[str]) -> None:
    extra = sorted(names - allowed)
    if extra:
        raise Invalid(400, f"Unrecognized request argument supplied: {extra[0]}")


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


class FakeMedia:
    def __init__(self) -> None:
        self.state = MediaState()

    def install(self, fake: FakeProvider) -> FakeMedia:
        fake.respond("/messages/batches", self._guard("anthropic", self._anthropic_batches))
        fake.respond("/openai/deployments/", self._guard("openai", self._azure))
        for path in ("/v1/files", "/v1/batches", "/v1/images/", "/v1/audio/"):
            fake.respond(path, self._guard("openai", self._openai))
        return self

    def _guard(self, vendor: str, handler: Any) -> Any:
        def hook(request: RecordedRequest) -> Any:
            if not _key(request):
                return _error(vendor, 401, "missing API key")
            try:
                return handler(request)
            except Invalid as exc:
                return _error(vendor, exc.status, exc.message)

        return hook

    # ------------------------------------------------------------------ OpenAI

    def _openai(self, request: RecordedRequest) -> Any:
        path = request.path.split("/v1", 1)[1]
        if path.startswith("/files"):
            return self._files(request, path, "anthropic" if "anthropic-version" in request.headers else "openai")
        if path.startswith("/batches"):
            return self._batches(request, path)
        if path.startswith("/images/"):
            return self._images(request, path)
        if path.startswith("/audio/"):
            return self._audio(request, path)
        raise Invalid(404, f"Unknown request URL: {request.method} {request.path}")

    def _owned(self, table: dict[str, dict[str, Any]], identifier: str, request: RecordedRequest) -> dict[str, Any]:
        found = table.get(identifier)
        if found is None or found["_key"] != _key(request):  # objects belong to the key's account
            raise Invalid(404, f"No such object: '{identifier}'")
        return found

    def _files(self, request: RecordedRequest, path: str, vendor: str) -> Any:
        state = self.state
        match = re.fullmatch(r"/files(?:/([^/]+))?(/content)?", path)
        if match is None:
            raise Invalid(404, f"Unknown request URL: {request.method} {request.path}")
        identifier, content = match.group(1), match.group(2)
        if identifier is None and request.method == "POST":
            fields = _form(request)
            _strict(set(fields), {"file", "purpose"} if vendor == "openai" else {"file"})
            filename, data = fields.get("file", (None, b""))
            if not filename:
                raise Invalid(400, "file: required")
            purpose = fields.get("purpose", (None, b""))[1].decode()
            if vendor == "openai" and purpose not in _PURPOSES:
                raise Invalid(400, f"purpose: invalid value {purpose!r}")
            new_id = state.next_id("file-" if vendor == "openai" else "file_")
            if vendor == "openai":
                obj = {"id": new_id, "object": "file", "bytes": len(data), "created_at": CREATED,
                       "filename": filename, "purpose": purpose, "status": "processed", "expires_at": None,
                       "status_details": None}
            else:
                obj = {"id": new_id, "type": "file", "filename": filename, "mime_type": "text/plain",
                       "size_bytes": len(data), "created_at": "2025-01-01T00:00:00Z", "downloadable": True}
            state.files[new_id] = {**obj, "_key": _key(request), "_content": data}
            return obj
        if identifier is None:
            mine = [_public(f) for f in state.files.values() if f["_key"] == _key(request)]
            return {"object": "list", "data": mine, "has_more": False,
                    "first_id": mine[0]["id"] if mine else None, "last_id": mine[-1]["id"] if mine else None}
        found = self._owned(state.files, identifier, request)
        if content:
            return Reply(body=found["_content"], headers={"content-type": "application/octet-stream"})
        if request.method == "DELETE":
            del state.files[identifier]
            if vendor == "anthropic":
                return {"id": identifier, "type": "file_deleted"}
            return {"id": identifier, "object": "file", "deleted": True}
        return _public(found)

    def _batches(self, request: RecordedRequest, path: str) -> Any:
        state = self.state
        match = re.fullmatch(r"/batches(?:/([^/]+))?(/cancel)?", path)
        if match is None:
            raise Invalid(404, f"Unknown request URL: {request.method} {request.path}")
        identifier, cancel = match.group(1), match.group(2)
        if identifier is None and request.method == "POST":
            body = request.json if isinstance(request.json, dict) else {}
            _strict(set(body), _BATCH_FIELDS)
            source = self._owned(state.files, str(body.get("input_file_id")), request)
            if body.get("completion_window") != "24h" or body.get("endpoint") not in (
                "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses"):
                raise Invalid(400, "completion_window must be '24h' and endpoint a supported one")
            new_id = state.next_id("batch_")
            obj = {"id": new_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                   "input_file_id": source["id"], "completion_window": "24h", "status": "validating",
                   "output_file_id": None, "error_file_id": None, "created_at": CREATED,
                   "request_counts": {"total": 1, "completed": 0, "failed": 0}, "metadata": body.get("metadata")}
            state.batches[new_id] = {**obj, "_key": _key(request)}
            return obj
        if identifier is None:
            mine = [_public(b) for b in state.batches.values() if b["_key"] == _key(request)]
            return {"object": "list", "data": mine, "has_more": False,
                    "first_id": mine[0]["id"] if mine else None, "last_id": mine[-1]["id"] if mine else None}
        found = self._owned(state.batches, identifier, request)
        if cancel:
            found["status"] = "cancelling"
        return _public(found)

    def _images(self, request: RecordedRequest, path: str) -> Any:
        if path == "/images/generations":
            body = request.json if isinstance(request.json, dict) else {}
            _strict(set(body), _IMAGE_FIELDS)
            model, prompt = body.get("model"), body.get("prompt")
        elif path in ("/images/edits", "/images/variations"):
            fields = _form(request)
            _strict(set(fields), _EDIT_FIELDS if path.endswith("edits") else {"image", "model", "n", "response_format",
                                                                               "size", "user"})
            if not (fields.get("image") or fields.get("image[]")):
                raise Invalid(400, "image: required")
            model = fields.get("model", (None, b""))[1].decode()
            prompt = fields.get("prompt", (None, b"variation"))[1].decode()
        else:
            raise Invalid(404, f"Unknown request URL: {request.method} {request.path}")
        if not prompt or not model or "/" in str(model):
            raise Invalid(400, f"prompt and a bare model are required (model={model!r})")
        if path == "/images/generations":
            _check_generation(str(model), body)
        count = int(body.get("n", 1)) if path == "/images/generations" else 1
        answer = {"created": CREATED, "data": [{"b64_json": FAKE_IMAGE_B64, "revised_prompt": str(prompt)}] * count}
        if not str(model).startswith("dall-e"):  # only gpt-image models report token usage
            answer["usage"] = {"input_tokens": 5, "output_tokens": 100, "total_tokens": 105,
                               "input_tokens_details": {"text_tokens": 5, "image_tokens": 0}}
        return answer

    def _audio(self, request: RecordedRequest, path: str) -> Any:
        if path == "/audio/speech":
            body = request.json if isinstance(request.json, dict) else {}
            _strict(set(body), _SPEECH_FIELDS)
            if not body.get("input") or not body.get("voice") or "/" in str(body.get("model")):
                raise Invalid(400, "input, voice and a bare model are required")
            if body["voice"] not in _VOICES or body.get("response_format", "mp3") not in _SPEECH_FORMATS:
                raise Invalid(400, f"voice {body['voice']!r} / response_format {body.get('response_format')!r}")
            if body.get("response_format") == "pcm":
                return Reply(body=FAKE_PCM, headers={"content-type": "audio/pcm"})
            return Reply(sse=FAKE_AUDIO, headers={"content-type": "audio/mpeg"})  # sent in chunks
        if path in ("/audio/transcriptions", "/audio/translations"):
            fields = _form(request)
            _strict(set(fields), _TRANSCRIBE_FIELDS)
            filename, data = fields.get("file", (None, b""))
            model = fields.get("model", (None, b""))[1].decode()
            if not filename or not data or not model or "/" in model:
                raise Invalid(400, "file and a bare model are required")
            return {"text": f"heard {len(data)} bytes of {filename}"}
        raise Invalid(404, f"Unknown request URL: {request.method} {request.path}")

    # ------------------------------------------------------------------ Azure

    def _azure(self, request: RecordedRequest) -> Any:
        if "api-key" not in request.headers or "authorization" in request.headers:
            raise Invalid(401, "Access denied due to invalid subscription key (api-key header)")
        if not request.query.get("api-version"):
            raise Invalid(404, "Resource not found (api-version query parameter missing)")
        match = re.search(r"/openai/deployments/([^/]+)/(.+)$", request.path)
        if match is None:
            raise Invalid(404, "Resource not found")
        deployment, rest = match.groups()
        if rest.startswith(("images/", "audio/")):
            return self._openai_media(request, "/" + rest)
        body = request.json if isinstance(request.json, dict) else {}
        if rest == "embeddings":
            return _azure_embeddings(body, deployment)
        if rest != "chat/completions":
            raise Invalid(404, f"Resource not found: {rest}")
        text = fake_text("azure", str(body["messages"][-1]["content"]))
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        base = {"id": "chatcmpl-azure", "created": CREATED, "model": deployment}
        if body.get("stream"):
            delta = {"id": "chatcmpl-azure", "object": "chat.completion.chunk", "created": CREATED,
                     "model": deployment}
            frames = [sse({**delta, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                                 "finish_reason": None}]}),
                      sse({**delta, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                      sse({**delta, "choices": [], "usage": usage}), b"data: [DONE]\n\n"]
            return Reply(sse=frames)
        return {**base, "object": "chat.completion", "usage": usage, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    def _openai_media(self, request: RecordedRequest, path: str) -> Any:
        return self._images(request, path) if path.startswith("/images/") else self._audio(request, path)

    # ------------------------------------------------------------------ Anthropic

    def _anthropic_batches(self, request: RecordedRequest) -> Any:
        if not request.headers.get("anthropic-version"):
            raise Invalid(400, "anthropic-version: header is required")
        state = self.state
        match = re.search(r"/v1/messages/batches(?:/([^/]+))?(/cancel|/results)?$", request.path)
        if match is None:
            raise Invalid(404, f"Not found: {request.path}")
        identifier, action = match.groups()
        if identifier is None and request.method == "POST":
            body = request.json if isinstance(request.json, dict) else {}
            _strict(set(body), {"requests"})
            for i, item in enumerate(body.get("requests") or []):
                _strict(set(item), {"custom_id", "params"})
                _strict(set(item["params"]), _ANTHROPIC_BATCH_PARAMS)
                if "/" in str(item["params"].get("model")):
                    raise Invalid(400, f"requests.{i}.params.model: unknown model")
            new_id = state.next_id("msgbatch_")
            count = len(body.get("requests") or [])
            results = f"https://api.anthropic.com/v1/messages/batches/{new_id}/results"  # the vendor's own host
            obj = {"id": new_id, "type": "message_batch", "processing_status": "ended",
                   "request_counts": {"processing": count, "succeeded": 0, "errored": 0, "canceled": 0,
                                      "expired": 0},
                   "ended_at": None, "created_at": "2025-01-01T00:00:00Z", "expires_at": "2025-01-02T00:00:00Z",
                   "archived_at": None, "cancel_initiated_at": None, "results_url": results}
            state.batches[new_id] = {**obj, "_key": _key(request), "_ids": [r["custom_id"] for r in body["requests"]]}
            return obj
        if identifier is None:
            mine = [_public(b) for b in state.batches.values() if b["_key"] == _key(request)]
            return {"data": mine, "has_more": False, "first_id": None, "last_id": None}
        found = self._owned(state.batches, identifier, request)
        if action == "/cancel":
            found["processing_status"] = "canceling"
        if action == "/results":
            lines = [json.dumps({"custom_id": cid, "result": {"type": "succeeded", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": "done"}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1}}}}) for cid in found["_ids"]]
            return Reply(body="\n".join(lines) + "\n", headers={"content-type": "application/binary"})
        if request.method == "DELETE":
            return {"id": identifier, "type": "message_batch_deleted"}
        return _public(found)


def _azure_embeddings(body: dict[str, Any], deployment: str) -> dict[str, Any]:
    """Azure's embeddings answer: the model is the deployment's (no ``model`` field needed)."""
    _strict(set(body), {"input", "model", "dimensions", "encoding_format", "user"})
    given = body.get("input")
    inputs = given if isinstance(given, list) else [given]
    data = [{"object": "embedding", "index": i, "embedding": fake_embedding(i)} for i in range(len(inputs))]
    return {"object": "list", "data": data, "model": deployment, "usage": {"prompt_tokens": 2, "total_tokens": 2}}
