"""Forwarded calls end to end (minus HTTP): choose the provider and key, admit, send, remember.

* **Which provider.** An object id the gateway handed out before (a file, a batch) is looked up in
  the shared store (``gateway.store``: Redis across replicas when configured), so a later get,
  cancel or content read reaches the same provider *and key* that created it; a batch's
  ``input_file_id`` takes the batch to where its file is. Media calls and GenAI
  ``:batchGenerateContent`` resolve their ``model`` (body or path) as chat does (``provider/model`` or
  a bare name); the rest go to the ``provider`` query parameter or
  ``x-model-provider`` header, else the dialect's vendor. The provider must speak that vendor's
  API: anything else is a 400 naming the pair.
* **Which key.** The creating key for a remembered object; else any usable key (``use_for_batch_api``
  keys first for files and batches). Retries, key rotation, queues and metrics as for chat.
* **Admission.** Batches, media and passthrough calls go through governance's guard like chat
  (virtual-key access, rate limits, budgets); files only need the virtual key (checked earlier).
* **Bodies.** Sent whole (the gateway reads at most ``max_request_body_size_mb``); only ``model`` is
  rewritten (JSON or the one multipart field). Answers are streamed back, except object-creating
  answers, which are read to remember their id.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from .. import _json
from ..dialects.validate import check_model_name
from ..errors import InvalidRequestError
from ..genai_media import GenAIMedia
from ..governance.admission import Estimate
from ..neutral import ChatRequest, FilePart, ImagePart
from ..providers.base import Provider, UpstreamRequest
from ..providers.forward import ForwardCall, build_forward
from ..routing.plan import Planner, Target
from ..routing.router import ForwardedStream, KeyScope, RequestContext, Router
from ..store import KeyValueStore
from . import genai_batch, multipart
from .genai_upload import UploadCall, Uploads
from .routes import ForwardSpec

REMEMBER_SECONDS = 30 * 24 * 3600.0
_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")
_VENDOR_FORMATS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}
_GENAI_FILE = re.compile(r"/v1(?:alpha|beta)?\d*/files/([a-z0-9-]+)$")
_ANSWER_HEADERS = ("content-type", "content-disposition", "retry-after")


class GuardFactory(Protocol):
    @property
    def active(self) -> bool: ...

    def guard(self, key: Any, request_id: str, estimate: Estimate) -> Any: ...


@dataclass(frozen=True, slots=True)
class Inbound:
    spec: ForwardSpec
    path_params: Mapping[str, str]
    query: str  # raw
    query_params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    default_provider: str | None
    body_stream: AsyncIterator[bytes] | None = None  # an upload chunk, unread
    public_url: str = ""  # where the client reached this route


@dataclass(slots=True)
class Forwarded:
    """The upstream's answer: ``body`` when it was read (a created object), else ``answer`` to stream."""

    status: int
    headers: dict[str, str]
    answer: ForwardedStream
    body: bytes | None = None


class Forwarder:
    def __init__(self, router: Router, planner: Planner, store: KeyValueStore, governance: GuardFactory) -> None:
        self._router = router
        self._planner = planner
        self._store = store
        self._governance = governance
        self._uploads = Uploads(router, store)
        self._media = GenAIMedia(router)

    async def forward(self, inbound: Inbound, ctx: RequestContext) -> Forwarded:
        spec = inbound.spec
        if spec.kind == "upload":
            return await self._upload(inbound, ctx)
        body = inbound.body
        pinned, provider = await self._remembered(inbound)
        model = ""
        params = inbound.path_params
        if spec.model == "path":
            target = self._media_target(inbound)
            if spec.translated and self._format(target.provider) == "openai":
                return await self._predict(inbound, target, ctx)
            model = target.model
            params = {**params, "model": model}
            if spec.inline_models:
                body = genai_batch.inline_models(body, target, self._resolve(inbound))
        elif spec.model is not None:
            target = self._media_target(inbound)
            model = target.model
            body = _with_model(body, inbound.headers.get("content-type", ""), spec.model, model)
        else:
            target = Target(provider or self._named_provider(inbound), "")
        self._check_pair(target.provider, spec.vendor)
        ctx.key_scope = KeyScope(pinned=pinned, batch=spec.kind in ("file", "batch"))
        if self._governance.active and spec.kind != "file":
            estimate = Estimate(len(body) // 4, 0)
            ctx.guard = self._governance.guard(ctx.virtual_key, ctx.request_id, estimate)
        call = ForwardCall(
            method=spec.method,
            path=_upstream_path(spec, params),
            query=_without_client_key(inbound.query) if spec.vendor == "gemini" else inbound.query,
            headers=inbound.headers,
            body=body,
            model=model or None,
        )
        name = target.provider

        def build(impl: Provider, key: Any) -> UpstreamRequest:
            return build_forward(impl, name, call, key)

        answer = await self._router.forward(target, ctx, build, method=spec.kind)
        headers = _answer_headers(answer.stream.headers)
        if not (spec.creates or spec.links):
            return Forwarded(answer.stream.status, headers, answer)
        try:
            read = await answer.stream.read()
        finally:
            await answer.aclose()
        if spec.creates:
            await self._remember(spec, read, answer)
        if spec.links:
            read = _local_links(read)
        return Forwarded(answer.stream.status, headers, answer, read)

    async def _predict(self, inbound: Inbound, target: Target, ctx: RequestContext) -> Forwarded:
        """Imagen ``:predict`` toward an OpenAI image model: translated (``genai_media``)."""
        try:
            payload = _json.loads(inbound.body)
        except ValueError:
            raise InvalidRequestError("request body is not valid JSON") from None
        if self._governance.active:
            ctx.guard = self._governance.guard(ctx.virtual_key, ctx.request_id, Estimate(len(inbound.body) // 4, 0))
        answer, body = await self._media.predict(payload, target, ctx)
        return Forwarded(200, {"content-type": "application/json"}, answer, body)

    def _format(self, provider: str) -> str | None:
        runtime = self._router.providers.get(provider)
        return runtime.impl.format if runtime is not None else None

    async def _upload(self, inbound: Inbound, ctx: RequestContext) -> Forwarded:
        """A GenAI resumable upload's start or chunk (``genai_upload.py``); a finalized file is
        remembered with its key like any created object."""
        upload = UploadCall(
            provider=self._named_provider(inbound), query=inbound.query_params, headers=inbound.headers,
            body_stream=inbound.body_stream, public_url=inbound.public_url,
        )  # fmt: skip
        done = await self._uploads.forward(upload, ctx, lambda provider: self._check_pair(provider, "gemini"))
        if done.file_id is not None:
            await self._remember_id("gemini", done.file_id, done.answer)
        return Forwarded(done.answer.stream.status, done.headers, done.answer, done.body)

    async def file_scope(self, file_ids: list[str]) -> KeyScope | None:
        """A chat naming GenAI files (``genai_file_ids``): when the gateway uploaded one, the
        uploading key on that provider (a file is readable by its own project only)."""
        for file_id in file_ids:
            stored = await self._store.get(_store_key("gemini", file_id))
            if stored is not None:
                provider, _, key = stored.decode().partition("\n")
                return KeyScope(pinned=key or None, provider=provider)
        return None

    # ------------------------------------------------------------------ where it goes

    async def _remembered(self, inbound: Inbound) -> tuple[str | None, str | None]:
        """(key label, provider) of the object the call names, when the gateway made it."""
        spec = inbound.spec
        wanted: str | None = None
        if spec.reads is not None:
            wanted = inbound.path_params.get(spec.reads)
        elif spec.refers is not None and inbound.body:
            try:
                payload = _json.loads(inbound.body)
            except ValueError:
                raise InvalidRequestError("request body is not valid JSON") from None
            value = payload.get(spec.refers) if isinstance(payload, dict) else None
            wanted = value if isinstance(value, str) else None
        if not wanted:
            return None, None
        stored = await self._store.get(_store_key(spec.vendor, wanted))
        if stored is None:
            return None, None
        provider, _, key = stored.decode().partition("\n")
        return (key or None), provider

    async def _remember(self, spec: ForwardSpec, body: bytes, answer: ForwardedStream) -> None:
        if answer.stream.status >= 300:
            return
        try:
            created = _json.loads(body)
        except ValueError:
            return
        identifier = created.get(spec.id_field) if isinstance(created, dict) else None
        if isinstance(identifier, str) and identifier:
            # "batches/abc" -> "abc", as the later path names it
            await self._remember_id(spec.vendor, identifier.rsplit("/", 1)[-1], answer)

    async def _remember_id(self, vendor: str, identifier: str, answer: ForwardedStream) -> None:
        value = f"{answer.provider}\n{answer.key or ''}".encode()
        await self._store.set(_store_key(vendor, identifier), value, ttl_seconds=REMEMBER_SECONDS)

    def _named_provider(self, inbound: Inbound) -> str:
        named = inbound.query_params.get("provider") or inbound.headers.get("x-model-provider")
        return named or inbound.default_provider or inbound.spec.vendor

    def _media_target(self, inbound: Inbound) -> Target:
        spec = inbound.spec
        params = inbound.path_params
        deployment = params.get("deployment")
        if deployment and inbound.default_provider == "azure" and "/" not in deployment:
            deployment = "azure/" + deployment  # as the dialect does for chat: the azure provider's
        model = deployment or (params.get("model") if spec.model == "path" else None)
        publisher = params.get("publisher")
        if model and publisher and publisher != "google":  # Vertex's publishers/openai/models/gpt-image-1
            model = f"{publisher}/{model}"
        model = model or _model_of(inbound.body, inbound.headers, spec)
        if not model:
            raise InvalidRequestError("model: required, e.g. 'openai/gpt-image-1'", param="model")
        return self._resolve(inbound)(check_model_name(model))

    def _resolve(self, inbound: Inbound) -> Callable[[str], Target]:
        """Resolves a model name as chat does (``provider/model``, a bare name, an alias)."""
        default, rng = inbound.default_provider, self._router.rng
        return lambda model: self._planner.plan(model, (), default_provider=default, rng=rng)[0]

    def _check_pair(self, provider: str, vendor: str) -> None:
        runtime = self._router.providers.get(provider)
        if runtime is None:
            raise InvalidRequestError(
                f"provider '{provider}' is not configured (configured: {', '.join(self._router.providers) or 'none'})",
                param="provider",
            )
        if runtime.impl.format != _VENDOR_FORMATS[vendor]:
            raise InvalidRequestError(
                f"this {vendor} endpoint is forwarded as is and cannot reach provider '{provider}' "
                f"({runtime.impl.format} format): name a provider that speaks the {vendor} API",
                param="model",
            )


def genai_file_ids(request: ChatRequest) -> list[str]:
    """The Gemini file ids a request's parts name (``fileData.fileUri`` ``.../v1beta/files/abc``)."""
    found: list[str] = []
    for message in request.messages:
        for part in message.parts:
            url = part.url if isinstance(part, (FilePart, ImagePart)) else None
            match = _GENAI_FILE.search(url) if url else None
            if match is not None:
                found.append(match.group(1))
    return found


def _store_key(vendor: str, identifier: str) -> str:
    return f"forward:{vendor}:{identifier}"


def _upstream_path(spec: ForwardSpec, params: Mapping[str, str]) -> str:
    path = spec.upstream
    for name, value in params.items():
        path = path.replace("{" + name + "}", _passthrough_path(value) if name == "path" else _segment(value))
    return path


def _without_client_key(query: str) -> str:
    """GenAI clients may put their key in ``?key=``: the gateway's own key goes upstream instead."""
    if "key=" not in query:
        return query
    return "&".join(pair for pair in query.split("&") if pair.partition("=")[0] != "key")


def _passthrough_path(rest: str) -> str:
    """A passthrough path is the vendor's own (``v1/models``, ``v1beta/cachedContents``); the
    provider's root already ends in its version, so a leading version segment is dropped."""
    head, _, tail = rest.lstrip("/").partition("/")
    if _VERSION.fullmatch(head):
        rest = tail
    if any(part in ("..", ".") for part in rest.split("/")):
        raise InvalidRequestError(f"path: '{rest}' may not contain '.' or '..' segments", param="path")
    return "/" + rest.lstrip("/")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _model_of(body: bytes, headers: Mapping[str, str], spec: ForwardSpec) -> str | None:
    if spec.model == "form":
        return multipart.read_field(body, headers.get("content-type", ""), "model")
    try:
        payload = _json.loads(body) if body else None
    except ValueError:
        raise InvalidRequestError("request body is not valid JSON") from None
    value = payload.get("model") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


def _with_model(body: bytes, content_type: str, source: str, model: str) -> bytes:
    if source == "form":
        return multipart.replace_field(body, content_type, "model", model)
    payload = _json.loads(body)
    if payload.get("model") == model:
        return body
    payload["model"] = model
    return _json.dumps(payload)


def _local_links(body: bytes) -> bytes:
    """Anthropic's ``results_url`` names the vendor's host, which the SDK would then call directly
    (bypassing the gateway, without a valid key): make it relative, so the SDK resolves it against
    the gateway base URL it was given."""
    try:
        answer = _json.loads(body)
    except ValueError:
        return body
    data = answer.get("data") if isinstance(answer, dict) else None
    items: list[Any] = data if isinstance(data, list) else [answer]
    changed = False
    for item in items:
        url = item.get("results_url") if isinstance(item, dict) else None
        if isinstance(url, str) and "/v1/" in url:
            item["results_url"] = url[url.index("/v1/") :]
            changed = True
    return _json.dumps(answer) if changed else body


def _answer_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in headers.items() if k in _ANSWER_HEADERS or k.startswith("x-ratelimit-")}
    kept.setdefault("content-type", "application/json")
    return kept
