"""A fake Gemini Files API, validated like the real one: the resumable upload protocol
(``POST /upload/v1beta/files`` with ``X-Goog-Upload-Protocol: resumable`` and ``Command: start``,
answered with an ``X-Goog-Upload-URL`` on the fake's own host; then ``upload`` and
``upload, finalize`` chunks to it, each at the offset received so far and exactly its
``Content-Length``), and ``files`` get, list and delete. Files belong to the ``x-goog-api-key``
that started the upload (another key gets a 403, as Google answers for another project's file),
so a test can see which key a later call reached; a ``fileData.fileUri`` in generateContent is
checked the same way (then the fake's usual answer follows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_answers import Invalid
from tests.support.fake_provider import FakeProvider, RecordedRequest, Reply

_FILE_FIELDS = {"name", "displayName", "mimeType", "sizeBytes", "display_name", "mime_type", "size_bytes"}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_TIME = "2025-01-01T00:00:00Z"


def _error(status: int, message: str) -> Reply:
    return Reply(status=status, json={"error": {"code": status, "message": message, "status": _STATUS[status]}})


@dataclass
class Session:
    key: str
    file: dict[str, Any]
    size: int
    received: bytearray = field(default_factory=bytearray)


@dataclass
class FakeGenAIFiles:
    fake: FakeProvider | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> File (+ "_key", "_content")
    seq: int = 0

    def install(self, fake: FakeProvider) -> FakeGenAIFiles:
        self.fake = fake
        fake.respond("/upload/", self._guarded(self._upload))
        fake.respond("/v1beta/files", self._guarded(self._files))
        fake.respond(":generateContent", self._guarded(self.check_file_uris))
        fake.respond(":streamGenerateContent", self._guarded(self.check_file_uris))
        return self

    def _guarded(self, handler: Any) -> Any:
        def guard(request: RecordedRequest) -> Any:
            if "key" in request.query:
                return _error(401, "API key not valid (x-goog-api-key only)")
            try:
                return handler(request)
            except Invalid as exc:
                return _error(exc.status, exc.message)

        return guard

    # ------------------------------------------------------------------ upload protocol

    def _upload(self, request: RecordedRequest) -> Any:
        if request.path != "/upload/v1beta/files" or request.method != "POST":
            raise Invalid(404, f"Unknown path: {request.method} {request.path}")
        if "upload_id" in request.query:
            return self._chunk(request, request.query["upload_id"])
        return self._start(request)

    def _start(self, request: RecordedRequest) -> Any:
        key = request.headers.get("x-goog-api-key")
        if not key:
            raise Invalid(401, "Method doesn't allow unregistered callers (x-goog-api-key)")
        if request.headers.get("x-goog-upload-protocol") != "resumable":
            raise Invalid(400, "X-Goog-Upload-Protocol: resumable is required")
        if request.headers.get("x-goog-upload-command") != "start":
            raise Invalid(400, "X-Goog-Upload-Command: start is required")
        size = request.headers.get("x-goog-upload-header-content-length", "")
        if not size.isdigit():
            raise Invalid(400, "X-Goog-Upload-Header-Content-Length is required")
        body = request.json if isinstance(request.json, dict) else {}
        extra = sorted(set(body) - {"file"}) or sorted(set(body.get("file") or {}) - _FILE_FIELDS)
        if extra:
            raise Invalid(400, f'Invalid JSON payload received. Unknown name "{extra[0]}"')
        self.seq += 1
        identifier = f"fakefile{self.seq:04d}"
        mime = request.headers.get("x-goog-upload-header-content-type") or "application/octet-stream"
        given = body.get("file") or {}
        file = {"name": f"files/{identifier}", "mimeType": given.get("mimeType") or given.get("mime_type") or mime,
                "sizeBytes": size}  # fmt: skip
        display = given.get("displayName") or given.get("display_name")
        if display:
            file["displayName"] = display
        session = f"fakesession{self.seq:04d}"
        self.sessions[session] = Session(key, file, int(size))
        assert self.fake is not None
        url = f"{self.fake.url}/upload/v1beta/files?upload_id={session}&upload_protocol=resumable"
        headers = {"x-goog-upload-url": url, "x-goog-upload-status": "active",
                   "x-goog-upload-chunk-granularity": "8388608",
                   "x-goog-upload-control-url": url}  # fmt: skip
        return Reply(body="", headers=headers)

    def _chunk(self, request: RecordedRequest, identifier: str) -> Any:
        session = self.sessions.get(identifier)
        if session is None or request.query.get("upload_protocol") != "resumable":
            raise Invalid(404, f"no upload session {identifier}")
        command = [c.strip() for c in request.headers.get("x-goog-upload-command", "").split(",")]
        if command == ["query"]:
            return self._status(session, "active")
        if command not in (["upload"], ["upload", "finalize"]):
            raise Invalid(400, f"X-Goog-Upload-Command: unknown command {command}")
        if request.headers.get("x-goog-upload-offset") != str(len(session.received)):
            raise Invalid(400, f"X-Goog-Upload-Offset: expected {len(session.received)}")
        if request.headers.get("content-length") != str(len(request.body)):
            raise Invalid(400, "Content-Length: required, the chunk's exact size")
        session.received += request.body
        if command == ["upload"]:
            return self._status(session, "active")
        if len(session.received) != session.size:
            raise Invalid(400, f"finalized at {len(session.received)} bytes, declared {session.size}")
        del self.sessions[identifier]
        assert self.fake is not None
        identifier = session.file["name"].split("/", 1)[1]
        file = {**session.file, "createTime": _TIME, "updateTime": _TIME, "expirationTime": _TIME,
                "sha256Hash": "ZmFrZQ==", "uri": f"{self.fake.url}/v1beta/{session.file['name']}",
                "state": "ACTIVE", "source": "UPLOADED"}  # fmt: skip
        self.files[identifier] = {**file, "_key": session.key, "_content": bytes(session.received)}
        return Reply(json={"file": file}, headers={"x-goog-upload-status": "final"})

    @staticmethod
    def _status(session: Session, status: str) -> Reply:
        headers = {"x-goog-upload-status": status, "x-goog-upload-size-received": str(len(session.received))}
        return Reply(body="", headers=headers)

    # ------------------------------------------------------------------ files get, list, delete

    def _files(self, request: RecordedRequest) -> Any:
        key = request.headers.get("x-goog-api-key")
        if not key:
            raise Invalid(401, "Method doesn't allow unregistered callers (x-goog-api-key)")
        match = re.fullmatch(r"/v1beta/files(?:/([^/:]+))?", request.path)
        if match is None:
            raise Invalid(404, f"Unknown path: {request.method} {request.path}")
        identifier = match.group(1)
        if identifier is None and request.method == "GET":
            mine = [self._public(f) for f in self.files.values() if f["_key"] == key]
            return {"files": mine} if mine else {}
        found = self._owned(identifier or "", key)
        if request.method == "GET":
            return self._public(found)
        if request.method == "DELETE":
            del self.files[str(identifier)]
            return {}
        raise Invalid(404, f"Unknown method: {request.method} {request.path}")

    def _owned(self, identifier: str, key: str) -> dict[str, Any]:
        found = self.files.get(identifier)
        if found is None:
            raise Invalid(404, f"File {identifier} does not exist")
        if found["_key"] != key:
            raise Invalid(403, f"You do not have permission to access the File {identifier} or it may not exist")
        return found

    @staticmethod
    def _public(file: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in file.items() if not k.startswith("_")}

    def check_file_uris(self, request: RecordedRequest) -> None:  # None: the fake's usual answer
        """generateContent: each ``fileData.fileUri`` must name a file of the calling key."""
        key = request.headers.get("x-goog-api-key", "")
        for content in (request.json or {}).get("contents") or []:
            for part in content.get("parts") or []:
                uri = (part.get("fileData") or {}).get("fileUri", "")
                if "/files/" in uri:
                    self._owned(uri.rsplit("/", 1)[-1], key)
