"""A fake Gemini Batch API, validated like the real one: ``models/{model}:batchGenerateContent``
with inline requests (unknown fields a 400, a model, the path's or an inline request's own,
not named ``gemini-*`` a 404), ``batches`` get, list, cancel and
delete as long-running operations; each batch belongs to the ``x-goog-api-key`` that made it
(another key gets a 404), so a test can see which key a later call reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_answers import Invalid
from tests.support.fake_provider import FakeProvider, RecordedRequest, Reply

_BATCH_FIELDS = {"displayName", "inputConfig", "priority"}
_REQUEST_FIELDS = {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                   "safetySettings", "cachedContent", "labels"}  # fmt: skip
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_TIME = "2025-01-01T00:00:00Z"


def _error(status: int, message: str) -> Reply:
    return Reply(status=status, json={"error": {"code": status, "message": message, "status": _STATUS[status]}})


def _strict(names: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(names - allowed)
    if extra:
        raise Invalid(400, f'Invalid JSON payload received. Unknown name "{extra[0]}" at \'{where}\'')


@dataclass
class FakeGenAIBatches:
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"_key", "_op"}
    seq: int = 0

    def install(self, fake: FakeProvider) -> FakeGenAIBatches:
        fake.respond(":batchGenerateContent", self._guard)
        fake.respond("/batches", self._guard)
        return self

    def _guard(self, request: RecordedRequest) -> Any:
        if not request.headers.get("x-goog-api-key") or "key" in request.query:
            return _error(401, "API key not valid (x-goog-api-key only)")
        try:
            return self._handle(request)
        except Invalid as exc:
            return _error(exc.status, exc.message)

    def _handle(self, request: RecordedRequest) -> Any:
        create = re.fullmatch(r"/v1beta/models/([^/:]+):batchGenerateContent", request.path)
        if create and request.method == "POST":
            return self._create(request, create.group(1))
        match = re.fullmatch(r"/v1beta/batches(?:/([^/:]+))?(:cancel)?", request.path)
        if match is None:
            raise Invalid(404, f"Unknown path: {request.method} {request.path}")
        identifier, cancel = match.groups()
        if identifier is None and request.method == "GET":
            mine = [b["_op"] for b in self.batches.values() if b["_key"] == request.headers["x-goog-api-key"]]
            return {"operations": mine}
        found = self.batches.get(identifier or "")
        if found is None or found["_key"] != request.headers["x-goog-api-key"]:
            raise Invalid(404, f"Requested entity was not found: batches/{identifier}")
        if cancel and request.method == "POST":
            found["_op"]["metadata"]["state"] = "BATCH_STATE_CANCELLED"
            return {}
        if request.method == "DELETE":
            del self.batches[str(identifier)]
            return {}
        if request.method == "GET":
            return found["_op"]
        raise Invalid(404, f"Unknown method: {request.method} {request.path}")

    def _create(self, request: RecordedRequest, model: str) -> Any:
        if not model.startswith("gemini-"):
            raise Invalid(404, f"models/{model} is not found for API version v1beta")
        body = request.json if isinstance(request.json, dict) else {}
        _strict(set(body), {"batch"}, "")
        batch = body.get("batch") or {}
        _strict(set(batch), _BATCH_FIELDS, "batch")
        source = batch.get("inputConfig") or {}
        _strict(set(source), {"requests", "fileName"}, "batch.input_config")
        items = (source.get("requests") or {}).get("requests")
        if not isinstance(items, list) or not items:
            raise Invalid(400, "batch.input_config.requests.requests: at least one request is required")
        for i, item in enumerate(items):
            where = f"batch.input_config.requests.requests[{i}]"
            _strict(set(item), {"request", "metadata"}, where)
            _strict(set(item.get("request") or {}), _REQUEST_FIELDS, where + ".request")
            if not (item.get("request") or {}).get("contents"):
                raise Invalid(400, f"{where}.request.contents: required")
            own = (item.get("request") or {}).get("model")
            if own is not None and not str(own).startswith("models/gemini-"):
                raise Invalid(404, f"{where}.request.model: {own} is not found for API version v1beta")
        self.seq += 1
        identifier = f"fakebatch{self.seq:04d}"
        count = str(len(items))
        metadata = {"@type": _TYPE, "model": f"models/{model}", "displayName": batch.get("displayName", ""),
                    "createTime": _TIME, "updateTime": _TIME, "state": "BATCH_STATE_PENDING",
                    "batchStats": {"requestCount": count, "pendingRequestCount": count},
                    "name": f"batches/{identifier}"}  # fmt: skip
        operation = {"name": f"batches/{identifier}", "metadata": metadata}
        self.batches[identifier] = {"_key": request.headers["x-goog-api-key"], "_op": operation}
        return operation
