"""Azure OpenAI: OpenAI's wire format behind per-resource endpoints and deployments.

``{azure_key_config.endpoint}/openai/deployments/{deployment}/{chat/completions|completions|embeddings}
?api-version={api_version}``, where ``deployment = deployments.get(model, model)``, authenticated
with an ``api-key`` header. Bodies and answers are OpenAI's, so this class composes an
``OpenAIProvider`` and only decides URLs and auth. Entra ID (client secret) auth is not supported:
configure the resource's API key as the key ``value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from ..config.settings import AzureKeyConfig, KeyConfig, ProviderConfig
from ..errors import GatewayError, UpstreamError
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
from .openai import OpenAIProvider

_PATHS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}


class AzureProvider:
    format: Format = "openai"
    keyless = False
    responses_api = True  # serves the Responses API natively (see build_chat)

    auth: RequestAuth | None = None

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        # Azure accepts ``max_completion_tokens`` from api-version 2024-09-01-preview on (o-series need it).
        self._openai = OpenAIProvider(name, config, default_base_url="", path_prefix="", responses_api=True)

    def _key_config(self, key: KeyConfig | None) -> tuple[AzureKeyConfig, str]:
        """The key's Azure settings and its secret (``""`` when none)."""
        config = key.azure_key_config if key is not None else None
        if key is None or config is None or not config.endpoint:
            label = key.label if key is not None else "..."
            raise GatewayError(
                f"providers.{self.name}.keys[{label}].azure_key_config.endpoint is not set: Azure OpenAI needs "
                'the resource endpoint, e.g. "azure_key_config": {"endpoint": "https://NAME.openai.azure.com", '
                '"deployments": {"gpt-4o": "my-gpt-4o"}, "api_version": "2024-10-21"}',
                status=500,
                provider=self.name,
            )
        return config, key.value.get_secret_value()

    def _request(
        self, endpoint: str, model: str, key: KeyConfig | None, headers: dict[str, str], body: bytes, stream: bool
    ) -> UpstreamRequest:
        config, secret = self._key_config(key)
        deployment = quote(config.deployments.get(model, model), safe="")
        if endpoint == "responses":  # the v1 API: the deployment is the body's ``model``
            url = f"{config.endpoint.rstrip('/')}/openai/v1/responses"
        else:
            url = (
                f"{config.endpoint.rstrip('/')}/openai/deployments/{deployment}/{_PATHS[endpoint]}"
                f"?api-version={quote(config.api_version, safe='')}"
            )
        if secret:
            headers["api-key"] = secret
        return UpstreamRequest("POST", url, headers, body, stream=stream)

    def forward_target(self, key: KeyConfig | None, call: ForwardCall) -> ForwardTarget:
        """``{endpoint}/openai`` (+ ``/deployments/{deployment}`` for a call that names a model)."""
        config, secret = self._key_config(key)
        root = config.endpoint.rstrip("/") + "/openai"
        if call.model:
            root += "/deployments/" + quote(config.deployments.get(call.model, call.model), safe="")
        headers = {"api-key": secret} if secret else {}
        return ForwardTarget(root, headers, {"api-version": quote(config.api_version, safe="")})

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        if self._openai.native_responses(request):
            config, _ = self._key_config(key)
            model = config.deployments.get(model, model)
        endpoint, body = self._openai.chat_payload(request, model)
        return self._request(endpoint, model, key, self._openai.headers(request), body, request.stream)

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        return self._openai.parse_chat(response, request, model)

    def build_passthrough(self, request: Passthrough, model: str, key: KeyConfig | None) -> UpstreamRequest:
        body = self._openai.passthrough_payload(request, model)
        return self._request("chat", model, key, self._openai.headers(), body, request.stream)

    def parse_passthrough(self, response: UpstreamResponse, model: str) -> tuple[bytes, Usage | None]:
        return self._openai.parse_passthrough(response, model)

    def passthrough_stream_parser(self, model: str) -> StreamParser:
        return self._openai.passthrough_stream_parser(model)

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        return self._openai.stream_parser(request, model)

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        body = self._openai.embeddings_payload(request, model)
        return self._request("embeddings", model, key, self._openai.headers(), body, False)

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        return self._openai.parse_embeddings(response, request, model)

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest | None:
        return None

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        return self._openai.parse_count_tokens(response)

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest | None:
        return None  # deployments are configuration, not discoverable with a data-plane key

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        return self._openai.parse_list_models(response)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return self._openai.parse_error(response)
