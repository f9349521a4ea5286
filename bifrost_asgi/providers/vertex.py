"""Google Vertex AI: Gemini and Anthropic models (pure: builds requests, parses answers;
``VertexAuth`` adds the OAuth bearer token just before sending).

Base: ``https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}``
(``https://aiplatform.googleapis.com/...`` for ``region: global``; ``network_config.base_url``
replaces the host part). Models named ``claude-*`` go to ``publishers/anthropic/models/{m}
:rawPredict`` (``:streamRawPredict``; counting ``models/count-tokens:rawPredict``) with the
Messages body minus ``model`` plus ``anthropic_version: vertex-2023-10-16``; every other model to
``publishers/google/models/{m}:generateContent`` (``:streamGenerateContent?alt=sse``,
``:countTokens``) with the Gemini body; embeddings to ``publishers/google/models/{m}:predict``.
Translation, passthrough (a GenAI client's body to Gemini,
an Anthropic client's body to Claude) and answers are the Gemini and Anthropic providers'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .. import _json
from ..config.settings import KeyConfig, ProviderConfig
from ..errors import ConfigError, GatewayError, UnsupportedFeatureError, UpstreamError, UpstreamProtocolError
from ..neutral import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Format, ModelInfo, Usage
from ..streaming import SSEDecoder
from .anthropic import _NOT_COUNTED, AnthropicProvider
from .anthropic_build import build_body as anthropic_body
from .anthropic_wire import error_from_body as anthropic_error
from .base import RequestAuth, StreamParser, UpstreamRequest, UpstreamResponse, json_object, retry_after_seconds
from .gemini import GeminiProvider
from .vertex_auth import TokenSource, VertexAuth, token_sources

ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_REGION = "us-central1"
_PLACEHOLDER = "https://vertex.placeholder"


def is_claude(model: str) -> bool:
    return model.startswith("claude")


class VertexProvider:
    format: Format = "gemini"
    keyless = False

    def __init__(self, name: str, config: ProviderConfig, *, sources: Mapping[str, TokenSource] | None = None) -> None:
        self.name = name
        network = config.network_config
        self._host = network.base_url.rstrip("/") if network.base_url else None
        delegate = config.model_copy(update={"network_config": network.model_copy(update={"base_url": _PLACEHOLDER})})
        self._gemini = GeminiProvider(name, delegate)
        self._anthropic = AnthropicProvider(name, delegate)
        self._extra_headers = {k.lower(): v for k, v in network.extra_headers.items()}
        for key in config.keys:
            _project(key, name)
        self.auth: RequestAuth | None = VertexAuth(name, sources or token_sources(name, list(config.keys)))

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    # --- requests -----------------------------------------------------------------------------

    def _base(self, key: KeyConfig | None, publisher: str) -> str:
        project, region = _project(key, self.name)
        host = self._host or (
            "https://aiplatform.googleapis.com" if region == "global" else f"https://{region}-aiplatform.googleapis.com"
        )
        return f"{host}/v1/projects/{quote(project, safe='')}/locations/{quote(region, safe='')}/publishers/{publisher}"

    def _google(self, built: UpstreamRequest, key: KeyConfig | None) -> UpstreamRequest:
        return replace(built, url=self._base(key, "google") + built.url.removeprefix(_PLACEHOLDER))

    def _claude(self, request: ChatRequest, body: dict[str, Any], path: str, key: KeyConfig | None) -> UpstreamRequest:
        body["anthropic_version"] = ANTHROPIC_VERSION
        headers = {"content-type": "application/json", **self._extra_headers}
        if request.source_format == "anthropic" and "anthropic-beta" in request.passthrough_headers:
            headers["anthropic-beta"] = request.passthrough_headers["anthropic-beta"]
        url = f"{self._base(key, 'anthropic')}/models/{path}"
        return UpstreamRequest("POST", url, headers, _json.dumps(body), stream=request.stream)

    def _raw(self, request: ChatRequest) -> Mapping[str, Any] | None:
        return request.raw if request.source_format == "anthropic" and request.raw is not None else None

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        if not is_claude(model):
            return self._google(self._gemini.build_chat(request, model, None), key)
        raw = self._raw(request)
        body = {k: v for k, v in raw.items() if k != "model"} if raw is not None else anthropic_body(request, model)
        body.pop("model", None)
        method = "streamRawPredict" if request.stream else "rawPredict"
        return self._claude(request, body, f"{quote(model, safe='@-._~')}:{method}", key)

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        if not is_claude(model):
            return self._google(self._gemini.build_count_tokens(request, model, None), key)
        raw = self._raw(request)
        if raw is not None:
            body = {k: v for k, v in raw.items() if k not in _NOT_COUNTED}
        else:
            body = anthropic_body(request, model, counting=True)
        body["model"] = model
        return replace(self._claude(request, body, "count-tokens:rawPredict", key), stream=False)

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        """Vertex's text-embedding models (``gemini-embedding-001``, ``text-embedding-005``...)
        through ``:predict``, one instance per input."""
        if is_claude(model):
            raise UnsupportedFeatureError(f"{self.name}: Claude has no embeddings", param="model", provider=self.name)
        instances = []
        for i, text in enumerate(request.inputs):
            if not isinstance(text, str):
                raise UnsupportedFeatureError(
                    f"input[{i}]: Vertex embeds text, not token ids", param=f"input[{i}]", provider=self.name
                )
            instance: dict[str, Any] = {"content": text}
            if request.task_type:
                instance["task_type"] = request.task_type
            instances.append(instance)
        body: dict[str, Any] = {"instances": instances}
        if request.dimensions is not None:
            body["parameters"] = {"outputDimensionality": request.dimensions}
        url = f"{self._base(key, 'google')}/models/{quote(model, safe='@-._~')}:predict"
        return UpstreamRequest(
            "POST", url, {"content-type": "application/json", **self._extra_headers}, _json.dumps(body)
        )

    def build_list_models(self, key: KeyConfig | None) -> None:
        return None  # the Model Garden listing is not a data-plane call: configured models are used

    # --- answers ------------------------------------------------------------------------------

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        if is_claude(model):
            return self._anthropic.parse_chat(response, request, model)
        return self._gemini.parse_chat(response, request, model)

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        if is_claude(model):  # an Anthropic client gets the upstream frames relayed, as from Anthropic
            return self._anthropic.stream_parser(request, model)
        return self._gemini.stream_parser(request, model)

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        predictions = json_object(response.body, self.name, "predict").get("predictions")
        if not isinstance(predictions, list):
            raise UpstreamProtocolError(f"{self.name} returned no predictions", provider=self.name)
        vectors: list[tuple[float, ...]] = []
        tokens = 0
        for item in predictions:
            embedding = item.get("embeddings") if isinstance(item, dict) else None
            values = embedding.get("values") if isinstance(embedding, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
                raise UpstreamProtocolError(f"{self.name} returned an embedding without values", provider=self.name)
            vectors.append(tuple(float(v) for v in values))
            statistics = embedding.get("statistics") if isinstance(embedding, dict) else None
            count = statistics.get("token_count") if isinstance(statistics, dict) else None
            tokens += int(count) if isinstance(count, int | float) else 0
        return EmbeddingResponse(
            model=model, vectors=tuple(vectors), usage=Usage(input_tokens=tokens) if tokens else None
        )

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = None
        if isinstance(body, dict) and "input_tokens" in body:
            return self._anthropic.parse_count_tokens(response)
        return self._gemini.parse_count_tokens(response)

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        return ()

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        """Vertex answers Google-shaped errors; Claude's own errors come in Anthropic's shape."""
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("type") == "error":
            error = anthropic_error(
                body, fallback_status=response.status, raw_body=response.body,
                retry_after=retry_after_seconds(response.headers), provider=self.name,
            )  # fmt: skip
            if error is not None:
                return error
        return self._gemini.parse_error(response)


def _project(key: KeyConfig | None, provider: str) -> tuple[str, str]:
    config = (key.vertex_key_config if key is not None else None) or {}
    project = config.get("project_id")
    region = config.get("region") or DEFAULT_REGION
    if not isinstance(project, str) or not project.strip():
        label = key.label if key is not None else "..."
        where = f"providers.{provider}.keys[{label}].vertex_key_config.project_id"
        if key is None:
            raise GatewayError(f"{where} is not set", status=500, provider=provider)
        raise ConfigError(
            f'{where} is not set (or its env. variable is empty): e.g. "vertex_key_config": {{"project_id": '
            '"my-project", "region": "us-central1", "auth_credentials": "env.VERTEX_CREDENTIALS"}'
        )
    return project.strip(), str(region).strip()
