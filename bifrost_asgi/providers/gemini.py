"""The Gemini API (generativelanguage.googleapis.com) as an upstream (pure: builds requests,
parses answers).

The base URL includes the API version, as in Bifrost: ``https://generativelanguage.googleapis.com/v1beta``.
``POST {base}/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``,
``:countTokens``, ``:batchEmbedContents`` for every embedding request), ``GET {base}/models``;
the key goes in ``x-goog-api-key``. A request from a Gemini client is sent as the client wrote it
(the model is in the URL; for Gemini 3, a model turn whose function calls carry no signature gets
Google's placeholder, see ``gemini_build.passthrough_body``); anything else is translated by
``gemini_build.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .. import _json
from ..config.settings import KeyConfig, ProviderConfig
from ..errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    Message,
    ModelInfo,
    Usage,
)
from ..streaming import SSEDecoder
from .base import RequestAuth, StreamParser, UpstreamRequest, UpstreamResponse, json_object, retry_after_seconds
from .forward import ForwardCall, ForwardTarget
from .gemini_build import build_body, passthrough_body
from .gemini_stream import GeminiStreamParser
from .gemini_wire import candidate_parts, error_from_body, finish_reason, parse_usage, response_id
from .relay import relay_format, relaying

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


def model_path(model: str) -> str:
    """``models/<id>`` (``tunedModels/<id>`` stays as it is), the id percent-encoded whole (a ``/``
    too) so that no model name can change the path it is sent to."""
    collection, name = "models", model
    if model.startswith(("models/", "tunedModels/")):
        collection, _, name = model.partition("/")
    return f"{collection}/{quote(name, safe='-._~')}"


def _check_shape(body: dict[str, Any], provider: str) -> None:
    """``candidates`` (a list of objects whose ``content.parts`` is a list of objects), or a blocked
    prompt's ``promptFeedback``; anything else is a 502 (and falls back)."""
    candidates = body.get("candidates")
    if candidates is None and isinstance(body.get("promptFeedback"), dict):
        return
    if not isinstance(candidates, list):
        raise UpstreamProtocolError(f"{provider} answered without a 'candidates' list", provider=provider)
    for index, candidate in enumerate(candidates):
        content = candidate.get("content") if isinstance(candidate, dict) else None
        if not isinstance(candidate, dict) or (content is not None and not isinstance(content, dict)):
            raise UpstreamProtocolError(f"{provider} answered an unreadable candidates[{index}]", provider=provider)
        parts = content.get("parts") if content else None
        if parts is not None and not (isinstance(parts, list) and all(isinstance(p, dict) for p in parts)):
            raise UpstreamProtocolError(
                f"{provider} answered candidates[{index}].content.parts that is not a list of parts", provider=provider
            )


class GeminiProvider:
    format: Format = "gemini"
    keyless = False

    auth: RequestAuth | None = None

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        network = config.network_config
        self._base = network.base_url or DEFAULT_BASE_URL
        self._extra_headers = {k.lower(): v for k, v in network.extra_headers.items()}

    # --- requests -----------------------------------------------------------------------------

    def forward_target(self, key: KeyConfig | None, call: ForwardCall) -> ForwardTarget:
        """The versioned base (``.../v1beta``); media uploads go to ``{host}/upload/{version}``."""
        root = self._base.rstrip("/")
        if call.upload:
            host, _, version = root.rpartition("/")
            root = f"{host}/upload/{version}"
        return ForwardTarget(root, self._headers(key, json_body=False))

    def _headers(self, key: KeyConfig | None, *, json_body: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json"} if json_body else {}
        secret = key.value.get_secret_value() if key is not None else ""
        if secret:
            headers["x-goog-api-key"] = secret
        headers.update(self._extra_headers)
        return headers

    def _url(self, model: str, method: str) -> str:
        return f"{self._base}/{model_path(model)}:{method}"

    def _passthrough(self, request: ChatRequest | EmbeddingRequest) -> bool:
        return request.source_format == self.format and request.raw is not None

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        raw = request.raw if self._passthrough(request) else None
        body = passthrough_body(raw, model) if raw else build_body(request, model)
        headers = self._headers(key)
        if request.source_format == self.format:
            headers.update(request.passthrough_headers)
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return UpstreamRequest(
            method="POST", url=self._url(model, method), headers=headers, body=_json.dumps(body), stream=request.stream
        )

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        """A Gemini client's countTokens body goes as sent (model rewritten inside
        ``generateContentRequest``); otherwise the whole translated request is counted, so the
        system instruction and tools count too."""
        raw = request.raw if self._passthrough(request) else None
        if raw is not None and isinstance(raw.get("generateContentRequest"), Mapping):
            inner = {**raw["generateContentRequest"], "model": model_path(model)}
            body: dict[str, Any] = {**raw, "generateContentRequest": inner}
        elif raw is not None and set(raw) <= {"contents"}:
            body = dict(raw)
        else:
            generate = dict(raw) if raw is not None else build_body(request, model)
            generate.pop("generationConfig", None)  # sampling settings do not change the count
            body = {"generateContentRequest": {"model": model_path(model), **generate}}
        return UpstreamRequest(
            method="POST", url=self._url(model, "countTokens"), headers=self._headers(key), body=_json.dumps(body)
        )

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        name = model_path(model)
        raw = request.raw if self._passthrough(request) else None
        if raw is not None and isinstance(raw.get("requests"), list):
            requests = [{**item, "model": name} for item in raw["requests"] if isinstance(item, Mapping)]
        elif raw is not None:
            requests = [{**raw, "model": name}]
        else:
            requests = [self._embed_request(text, request, name, i) for i, text in enumerate(request.inputs)]
        return UpstreamRequest(
            method="POST",
            url=self._url(model, "batchEmbedContents"),
            headers=self._headers(key),
            body=_json.dumps({"requests": requests}),
        )

    def _embed_request(
        self, text: str | tuple[int, ...], request: EmbeddingRequest, name: str, i: int
    ) -> dict[str, Any]:
        if not isinstance(text, str):
            raise UnsupportedFeatureError(
                f"input[{i}]: Gemini embeds text only, not token ids", param=f"input[{i}]", provider=self.name
            )
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if request.task_type:
            item["taskType"] = request.task_type
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        return item

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest:
        return UpstreamRequest(
            method="GET", url=f"{self._base}/models?pageSize=1000", headers=self._headers(key, json_body=False)
        )

    # --- answers ------------------------------------------------------------------------------

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        body = json_object(response.body, self.name, "generateContent")
        _check_shape(body, self.name)
        seed = response_id(body, response.body)
        choices: list[Choice] = []
        candidates = body.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index")
            choice = index if isinstance(index, int) and not isinstance(index, bool) else position
            content = candidate.get("content")
            parts = candidate_parts(content.get("parts") if isinstance(content, dict) else None, seed, choice)
            message = Message("assistant", parts)
            reason = finish_reason(candidate.get("finishReason"), bool(message.tool_calls))
            choices.append(Choice(index=choice, message=message, finish_reason=reason))
        feedback = body.get("promptFeedback")
        if not choices and isinstance(feedback, dict) and feedback.get("blockReason"):
            choices.append(Choice(index=0, message=Message("assistant"), finish_reason="content_filter"))
        version = body.get("modelVersion")
        return ChatResponse(
            id=seed,
            model=version if isinstance(version, str) and version else model,
            choices=tuple(choices),
            usage=parse_usage(body.get("usageMetadata")),
            raw=response.body,
            raw_format="gemini",
        )

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        return relaying(GeminiStreamParser(self.name, model), "gemini", relay_format(request))

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        answer = json_object(response.body, self.name, "batchEmbedContents")
        embeddings = answer.get("embeddings")
        vectors: list[tuple[float, ...]] = []
        for item in embeddings if isinstance(embeddings, list) else ():
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
                raise UpstreamProtocolError(f"{self.name} returned an embedding without values", provider=self.name)
            vectors.append(tuple(float(v) for v in values))
        if not isinstance(embeddings, list):
            raise UpstreamProtocolError(f"{self.name} returned no embeddings", provider=self.name)
        return EmbeddingResponse(model=model, vectors=tuple(vectors), usage=_embedding_usage(answer, embeddings))

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        tokens = json_object(response.body, self.name, "countTokens").get("totalTokens", 0)  # omitted when 0
        if not isinstance(tokens, int) or isinstance(tokens, bool):
            raise UpstreamProtocolError(f"{self.name} returned no totalTokens count", provider=self.name)
        return tokens

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        entries = json_object(response.body, self.name, "models").get("models")
        models: list[ModelInfo] = []
        for item in entries if isinstance(entries, list) else ():
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                continue
            display_name = item.get("displayName")
            models.append(
                ModelInfo(
                    id=name.removeprefix("models/"),
                    provider=self.name,
                    display_name=display_name if isinstance(display_name, str) else None,
                )
            )
        return models

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = None
        retry_after = retry_after_seconds(response.headers)
        error = error_from_body(
            body, status=response.status, raw_body=response.body, provider=self.name, retry_after=retry_after
        )
        if error is not None:
            return error
        text = response.body[:200].decode("utf-8", errors="replace").strip()
        message = f"{self.name} returned HTTP {response.status}" + (f": {text}" if text else "")
        return UpstreamError(message, status=response.status, retry_after=retry_after, provider=self.name)


def _embedding_usage(answer: dict[str, Any], embeddings: list[Any]) -> Usage | None:
    """Gemini's token statistics for an embedding call: ``usageMetadata`` when the answer has it,
    else the per-embedding ``statistics.tokenCount`` (Vertex's shape) summed; ``None`` (usage not
    claimed) when neither is there — never a made-up 0."""
    metadata = answer.get("usageMetadata")
    if isinstance(metadata, dict):
        tokens = metadata.get("promptTokenCount", metadata.get("totalTokenCount"))
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            return Usage(input_tokens=tokens)
    counts = [
        item["statistics"].get("tokenCount")
        for item in embeddings
        if isinstance(item, dict) and isinstance(item.get("statistics"), dict)
    ]
    if counts and all(isinstance(c, int | float) and not isinstance(c, bool) for c in counts):
        return Usage(input_tokens=int(sum(counts)))
    return None
