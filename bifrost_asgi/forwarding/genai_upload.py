"""GenAI file uploads (``client.files.upload``): Google's resumable protocol through the gateway.

1. **start**: ``POST /upload/{ver}/files`` with ``X-Goog-Upload-Protocol: resumable`` and
   ``X-Goog-Upload-Command: start`` goes to the provider with the gateway's key. The upstream's
   ``X-Goog-Upload-URL`` is never handed out: the client gets a gateway URL on the same route,
   ``?upload_id=<token>``, the token a random name under which the store keeps the provider, the
   key and the upstream session (its query string: the upstream URL must be the provider's own
   upload root, so neither a key nor a request can be sent elsewhere).
2. **upload / finalize / query**: each chunk sent to that URL is streamed to the upstream session
   with the same key (never buffered whole, never retried: a chunk cannot be replayed; the SDK
   resends it). The finalized answer's ``file.name`` is remembered with the key, so
   ``files.get/list/delete`` and a ``fileData.fileUri`` reach the account that holds the file.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .. import _json
from ..errors import GatewayError, InvalidRequestError, NotFoundError, UpstreamProtocolError
from ..providers.base import Provider, UpstreamRequest
from ..providers.forward import ForwardCall, build_forward
from ..routing.plan import Target
from ..routing.router import ForwardedStream, KeyScope, RequestContext, Router
from ..store import KeyValueStore

SESSION_SECONDS = 7 * 24 * 3600.0  # Google keeps an upload session for about a week
_SESSION_PREFIX = "forward:gemini-upload:"
_DROPPED_ANSWER = ("x-goog-upload-url", "x-goog-upload-control-url")
_SESSION_KEYS = ("upload_id", "upload_protocol")


@dataclass(frozen=True, slots=True)
class UploadCall:
    provider: str  # the provider a start names (a chunk's comes from its session)
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body_stream: AsyncIterator[bytes] | None  # the body as the client sends it (a start's is read whole)
    public_url: str  # scheme://host/root/route of the upload endpoint, as the client reached it


@dataclass(slots=True)
class UploadAnswer:
    answer: ForwardedStream  # read and closed: ``body`` holds it
    headers: dict[str, str]
    body: bytes
    file_id: str | None = None  # a finalized file's id ("abc" of "files/abc"), to remember


Check = Callable[[str], None]


class Uploads:
    def __init__(self, router: Router, store: KeyValueStore, token: Callable[[], str] | None = None) -> None:
        self._router = router
        self._store = store
        self._token = token or (lambda: secrets.token_urlsafe(24))

    async def forward(self, upload: UploadCall, ctx: RequestContext, check: Check) -> UploadAnswer:
        session = upload.query.get("upload_id")
        if session is None:
            return await self._start(upload, ctx, check)
        return await self._chunk(upload, session, ctx)

    async def _start(self, upload: UploadCall, ctx: RequestContext, check: Check) -> UploadAnswer:
        command = upload.headers.get("x-goog-upload-command", "").lower()
        if upload.headers.get("x-goog-upload-protocol", "").lower() != "resumable" or "start" not in command:
            raise InvalidRequestError(
                "X-Goog-Upload-Protocol: only 'resumable' uploads are served, started with "
                "'X-Goog-Upload-Command: start' (then upload to the X-Goog-Upload-URL answered)",
                param="X-Goog-Upload-Protocol",
            )
        check(upload.provider)
        ctx.key_scope = KeyScope(batch=True)
        body = b"".join([chunk async for chunk in upload.body_stream]) if upload.body_stream is not None else b""
        call = ForwardCall("POST", "/files", urlencode(_query(upload.query, ())), upload.headers, body, upload=True)
        sent: list[str] = []
        answer = await self._send(Target(upload.provider, ""), ctx, call, None, sent)
        answered = await _read(answer)
        headers = _upload_headers(answer)
        upstream = answer.stream.headers.get("x-goog-upload-url")
        if answer.stream.status < 300 and upstream:
            token = self._token()
            session = _session_query(upstream, sent[0], upload.provider)
            value = "\n".join((answer.provider, answer.key or "", session)).encode()
            await self._store.set(_SESSION_PREFIX + token, value, ttl_seconds=SESSION_SECONDS)
            headers["x-goog-upload-url"] = f"{upload.public_url}?{urlencode({'upload_id': token})}"
        return UploadAnswer(answer, headers, answered)

    async def _chunk(self, upload: UploadCall, token: str, ctx: RequestContext) -> UploadAnswer:
        stored = await self._store.get(_SESSION_PREFIX + token) if token else None
        if stored is None:
            raise NotFoundError(
                "upload_id: no upload session with this id (expired after a week, never started, or started "
                "at a gateway that does not share this one's store): start the upload again",
                param="upload_id",
            )
        provider, key, session = stored.decode().split("\n", 2)
        ctx.key_scope = KeyScope(pinned=key or None)
        query = {**_query(upload.query, _SESSION_KEYS), **dict(parse_qsl(session))}
        call = ForwardCall("POST", "/files", urlencode(query), upload.headers, upload=True)
        answer = await self._send(Target(provider, ""), ctx, call, upload, [])
        body = await _read(answer)
        headers = _upload_headers(answer)
        final = answer.stream.status < 300 and answer.stream.headers.get("x-goog-upload-status") == "final"
        return UploadAnswer(answer, headers, body, _file_name(body) if final else None)

    async def _send(
        self, target: Target, ctx: RequestContext, call: ForwardCall, chunk: UploadCall | None, sent: list[str]
    ) -> ForwardedStream:
        """One upstream call; a chunk's body streamed with its declared length, and only once."""
        stream = chunk.body_stream if chunk is not None else None
        length = chunk.headers.get("content-length") if chunk is not None else None

        def build(impl: Provider, key: Any) -> UpstreamRequest:
            built = build_forward(impl, target.provider, call, key)
            sent.append(built.url)
            if chunk is None:
                return built
            if len(sent) > 1:  # a retry after part of the chunk was sent upstream
                raise GatewayError(
                    "the upstream failed while this upload chunk was sent and a chunk cannot be replayed: "
                    "query the upload's status ('X-Goog-Upload-Command: query') and resend from its offset",
                    status=502,
                )
            headers = dict(built.headers)
            if length is not None and length.isdigit():
                headers["content-length"] = length
            return replace(built, headers=headers, body=None, body_stream=stream)

        return await self._router.forward(target, ctx, build, method="file")


async def _read(answer: ForwardedStream) -> bytes:
    try:
        return await answer.stream.read()
    finally:
        await answer.aclose()


def _query(query: Mapping[str, str], dropped: tuple[str, ...]) -> dict[str, str]:
    """The client's query without its ``key`` (the gateway's own goes upstream), ``provider``
    (the gateway's) or ``dropped``."""
    return {k: v for k, v in query.items() if k not in ("key", "provider") and k not in dropped}


def _session_query(upstream: str, sent: str, provider: str) -> str:
    """The upstream session's query string, once its URL is seen to be the provider's own upload
    endpoint (same scheme, host and path the start was sent to)."""
    given, asked = urlsplit(upstream), urlsplit(sent)
    if (given.scheme, given.netloc, given.path) != (asked.scheme, asked.netloc, asked.path):
        raise UpstreamProtocolError(
            f"provider '{provider}' answered an upload URL outside its own upload endpoint; it is not used",
            provider=provider,
        )
    return given.query


def _upload_headers(answer: ForwardedStream) -> dict[str, str]:
    kept = {
        k: v
        for k, v in answer.stream.headers.items()
        if (k.startswith("x-goog-upload-") and k not in _DROPPED_ANSWER) or k in ("content-type", "retry-after")
    }
    kept.setdefault("content-type", "application/json")
    return kept


def _file_name(body: bytes) -> str | None:
    """``abc`` of a finalized ``{"file": {"name": "files/abc", ...}}``."""
    try:
        answer = _json.loads(body)
    except ValueError:
        return None
    file = answer.get("file") if isinstance(answer, dict) else None
    name = file.get("name") if isinstance(file, dict) else None
    return name.rsplit("/", 1)[-1] if isinstance(name, str) and name.startswith("files/") else None
