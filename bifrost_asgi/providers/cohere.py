"""Cohere's v2 API as an upstream, natively (pure: builds requests, parses answers).

``POST {base}/v2/chat`` (SSE when streamed), ``POST {base}/v2/embed``, ``GET {base}/v1/models``;
``Authorization: Bearer <key>``. Translation in ``cohere_build.py``, stream events in
``cohere_stream.py``. Counts are estimated (Cohere's tokenizer endpoint counts text, not a chat).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from .base import RequestAuth, UpstreamRequest, UpstreamResponse, json_object, retry_after_seconds
from .cohere_build import build_body
from .cohere_stream import CohereStreamParser
from .cohere_wire import error_from_body, finish_reason, input_type, message_parts, parse_usage

DEFAULT_BASE_URL = "https://api.cohere.com"


class CohereProvider:
    format: Format = "cohere"
    keyless = False
    auth: RequestAuth | None = None

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        network = config.network_config
        self._base = (network.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._extra_headers = {k.lower(): v for k, v in network.extra_headers.items()}

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def _headers(self, key: KeyConfig | None, *, stream: bool = False) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
        secret = key.value.get_secret_value() if key is not None else ""
        if secret:
            headers["authorization"] = f"Bearer {secret}"
        headers.update(self._extra_headers)
        return headers

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        if request.source_format == self.format and request.raw is not None:
            body: dict[str, Any] = {**request.raw, "model": model}
        else:
            body = build_body(request, model)
        return UpstreamRequest(
            "POST", f"{self._base}/v2/chat", self._headers(key, stream=request.stream), _json.dumps(body),
            stream=request.stream,
        )  # fmt: skip

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        texts = []
        for i, text in enumerate(request.inputs):
            if not isinstance(text, str):
                raise UnsupportedFeatureError(
                    f"input[{i}]: Cohere embeds text, not token ids", param=f"input[{i}]", provider=self.name
                )
            texts.append(text)
        body: dict[str, Any] = {"model": model, "texts": texts, "input_type": input_type(request.task_type),
                                "embedding_types": ["float"]}  # fmt: skip
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        return UpstreamRequest("POST", f"{self._base}/v2/embed", self._headers(key), _json.dumps(body))

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> None:
        return None

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest:
        headers = self._headers(key)
        del headers["content-type"]
        return UpstreamRequest("GET", f"{self._base}/v1/models?endpoint=chat&page_size=1000", headers)

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        body = json_object(response.body, self.name, "chat")
        choice = Choice(
            index=0,
            message=Message("assistant", message_parts(body.get("message"))),
            finish_reason=finish_reason(body.get("finish_reason")),
        )
        return ChatResponse(
            id=str(body.get("id", "")), model=model, choices=(choice,), usage=parse_usage(body.get("usage")),
            raw=response.body, raw_format="cohere",
        )  # fmt: skip

    def stream_parser(self, request: ChatRequest, model: str) -> CohereStreamParser:
        return CohereStreamParser(self.name, model)

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        body = json_object(response.body, self.name, "embed")
        embeddings = body.get("embeddings")
        floats = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
        if not isinstance(floats, list):
            raise UpstreamProtocolError(f"{self.name} returned no float embeddings", provider=self.name)
        vectors = []
        for values in floats:
            if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
                raise UpstreamProtocolError(f"{self.name} returned an embedding without values", provider=self.name)
            vectors.append(tuple(float(v) for v in values))
        billed = body.get("meta", {}).get("billed_units") if isinstance(body.get("meta"), dict) else None
        tokens = billed.get("input_tokens") if isinstance(billed, dict) else None
        usage = Usage(input_tokens=tokens) if isinstance(tokens, int) else None
        return EmbeddingResponse(model=model, vectors=tuple(vectors), usage=usage)

    def parse_count_tokens(self, response: UpstreamResponse) -> int:  # pragma: no cover - never built
        raise UpstreamError(f"{self.name}: no token counting endpoint", status=501, provider=self.name)

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        entries = json_object(response.body, self.name, "models").get("models")
        return [
            ModelInfo(id=item["name"], provider=self.name)
            for item in (entries if isinstance(entries, list) else ())
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = {"message": response.body[:200].decode("utf-8", errors="replace").strip()}
        return error_from_body(
            body, response.status, raw_body=response.body, retry_after=retry_after_seconds(response.headers),
            provider=self.name,
        )  # fmt: skip
