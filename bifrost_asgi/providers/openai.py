"""OpenAI (and every OpenAI-compatible server) as an upstream.

URLs follow Bifrost: ``network_config.base_url`` excludes the version (``https://api.openai.com``)
and the provider appends ``path_prefix`` (``/v1``) plus the endpoint. Compatible presets
(``compat.py``) and Azure (``azure.py``) reuse this class's body building and parsing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from .. import _json
from ..config.settings import KeyConfig, ProviderConfig
from ..errors import UpstreamError, UpstreamProtocolError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
    Usage,
)
from ..streaming import SSEDecoder
from .base import RequestAuth, StreamParser, UpstreamRequest, UpstreamResponse
from .forward import ForwardCall, ForwardTarget
from .openai_build import (
    Compat,
    build_chat_body,
    build_completion_body,
    build_embeddings_body,
    passthrough_body,
)
from .openai_parse import (
    answer_usage,
    parse_chat_body,
    parse_embeddings_body,
    parse_error_response,
    parse_models_body,
)
from .openai_relay import OpenAIRelayParser
from .openai_responses import RESPONSES_FORMAT, ResponsesStreamParser, parse_responses_body, responses_body
from .openai_stream import OpenAIStreamParser
from .relay import relay_format

Endpoint = Literal["chat", "completions", "embeddings", "models", "responses"]

_PATHS: Mapping[Endpoint, str] = {
    "chat": "/chat/completions",
    "responses": "/responses",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "models": "/models",
}


class OpenAIProvider:
    """An OpenAI Chat Completions upstream.

    ``compat`` is ``None`` for OpenAI itself (``max_completion_tokens``: o-series models reject
    ``max_tokens``) and a ``Compat`` describing the differences for a compatible server.
    ``responses_api``: the upstream serves ``/responses`` too, so a Responses client's request
    goes there untranslated (OpenAI itself); otherwise it is translated to Chat Completions.
    """

    format: Format = "openai"

    auth: RequestAuth | None = None

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        *,
        default_base_url: str = "https://api.openai.com",
        keyless: bool = False,
        path_prefix: str = "/v1",
        compat: Compat | None = None,
        responses_api: bool = False,
    ) -> None:
        self.name = name
        self.responses_api = responses_api
        custom = config.custom_provider_config
        self.keyless = keyless or (custom is not None and custom.is_key_less)
        self.compat = compat
        self.base_url = (config.network_config.base_url or default_base_url).rstrip("/")
        # Tolerate a base URL that already ends with the version ("http://localhost:11434/v1").
        root = self.base_url if path_prefix and self.base_url.endswith(path_prefix) else self.base_url + path_prefix
        self.root = root
        self._urls: dict[Endpoint, str] = {endpoint: root + path for endpoint, path in _PATHS.items()}
        self._headers: dict[str, str] = {"content-type": "application/json"}
        self._headers.update((k.lower(), v) for k, v in config.network_config.extra_headers.items())

    # ------------------------------------------------------------------ shared with Azure

    def url(self, endpoint: Endpoint) -> str:
        return self._urls[endpoint]

    def headers(self, request: ChatRequest | None = None) -> dict[str, str]:
        """Content type, configured extra headers, and the client's vendor headers when it spoke OpenAI."""
        headers = dict(self._headers)
        if request is not None and request.source_format == "openai" and request.passthrough_headers:
            headers.update(request.passthrough_headers)
        return headers

    def native_responses(self, request: ChatRequest) -> bool:
        """A Responses client's request this upstream takes as it is."""
        return self.responses_api and request.source_format == RESPONSES_FORMAT and request.raw is not None

    def chat_payload(self, request: ChatRequest, model: str) -> tuple[Endpoint, bytes]:
        """The endpoint (``chat``, legacy ``completions`` or ``responses``) and the JSON body for ``request``."""
        if request.raw is not None and self.native_responses(request):
            return "responses", responses_body(request.raw, model)
        endpoint: Endpoint = "completions" if request.text_completion else "chat"
        if request.source_format == "openai" and request.raw is not None:
            body = passthrough_body(request.raw, model, stream=request.stream, compat=self.compat)
        elif request.text_completion:
            body = build_completion_body(request, model, compat=self.compat)
        else:
            body = build_chat_body(request, model, compat=self.compat)
        return endpoint, _json.dumps(body)

    def passthrough_payload(self, request: Passthrough, model: str) -> bytes:
        """``chat_payload``'s body for the same client body as ``ChatRequest.raw``."""
        return _json.dumps(passthrough_body(request.body, model, stream=request.stream, compat=self.compat))

    def embeddings_payload(self, request: EmbeddingRequest, model: str) -> bytes:
        return _json.dumps(build_embeddings_body(request, model, compat=self.compat))

    # ------------------------------------------------------------------ Provider protocol

    def _auth(self, headers: dict[str, str], key: KeyConfig | None) -> dict[str, str]:
        if key is not None:
            secret = key.value.get_secret_value()
            if secret:
                headers["authorization"] = "Bearer " + secret
        return headers

    def forward_target(self, key: KeyConfig | None, call: ForwardCall) -> ForwardTarget:
        extra = {k: v for k, v in self._headers.items() if k != "content-type"}
        return ForwardTarget(self.root, self._auth(extra, key))

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        endpoint, body = self.chat_payload(request, model)
        headers = self._auth(self.headers(request), key)
        return UpstreamRequest("POST", self._urls[endpoint], headers, body, stream=request.stream)

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        if self.native_responses(request):
            return parse_responses_body(response.body, model, self.name)
        # An OpenAI-dialect client gets the upstream body verbatim: skip converting its choices.
        return parse_chat_body(response.body, model, self.name, raw_only=request.source_format == "openai")

    def build_passthrough(self, request: Passthrough, model: str, key: KeyConfig | None) -> UpstreamRequest:
        body = self.passthrough_payload(request, model)
        return UpstreamRequest("POST", self._urls["chat"], self._auth(self.headers(), key), body, stream=request.stream)

    def parse_passthrough(self, response: UpstreamResponse, model: str) -> tuple[bytes, Usage | None]:
        return response.body, answer_usage(response.body, self.name)

    def passthrough_stream_parser(self, model: str) -> StreamParser:
        """``stream_parser`` of a streamed chat from an OpenAI client (``relay_format`` "openai")."""
        return OpenAIRelayParser(OpenAIStreamParser(self.name, model))

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        if self.native_responses(request):
            return ResponsesStreamParser(self.name, model)
        parser = OpenAIStreamParser(self.name, model)
        return OpenAIRelayParser(parser) if relay_format(request) == "openai" else parser

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        headers = self._auth(self.headers(), key)
        return UpstreamRequest("POST", self._urls["embeddings"], headers, self.embeddings_payload(request, model))

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        return parse_embeddings_body(response.body, model, self.name)

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest | None:
        return None  # no counting endpoint: the gateway estimates

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        raise UpstreamProtocolError(f"{self.name} has no token counting endpoint", provider=self.name)

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest | None:
        return UpstreamRequest("GET", self._urls["models"], self._auth(self.headers(), key))

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        return parse_models_body(response.body, self.name)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return parse_error_response(response, self.name)
