"""AWS Bedrock through the Converse API (pure: builds requests, parses answers; ``BedrockAuth``
signs them just before they are sent).

``POST {base}/model/{modelId}/converse`` (``/converse-stream`` for streams, AWS event-stream
framed) where ``base`` is ``https://bedrock-runtime.{region}.amazonaws.com`` (or
``network_config.base_url``) and ``modelId`` the key's deployment for the model (or the model
itself), prefixed by the key's ``arn`` when set, percent-encoded. Embeddings go through
``/model/{modelId}/invoke`` with Titan's or Cohere's body. Converse has no counting or listing
endpoint for a data-plane key: counts are estimated, models are the configured ones.
A request from a Bedrock client (source format ``bedrock``) is sent as written, and its stream's
frames are relayed to it as they came (``relay.py``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from typing import Any

from .. import _json
from ..config.settings import KeyConfig, ProviderConfig
from ..errors import UpstreamError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    Message,
    ModelInfo,
)
from ..wire.converse import CONTENT_TYPE_STREAM, converse_path
from .base import RequestAuth, StreamParser, UpstreamRequest, UpstreamResponse, json_object, retry_after_seconds
from .bedrock_auth import BedrockAuth, BedrockKey, CredentialSource, bedrock_key
from .bedrock_build import build_body
from .bedrock_embed import build_embedding_body, embedding_path, parse_embedding_body
from .bedrock_parse import content_parts, error_from, finish_reason, parse_usage
from .bedrock_stream import BedrockStreamDecoder, BedrockStreamParser
from .relay import relay_format, relaying


class BedrockProvider:
    format: Format = "bedrock"
    keyless = False

    def __init__(self, name: str, config: ProviderConfig, *, chain: CredentialSource | None = None) -> None:
        self.name = name
        network = config.network_config
        self._base = network.base_url.rstrip("/") if network.base_url else None
        self._extra_headers = {k.lower(): v for k, v in network.extra_headers.items()}
        self._default_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.auth: RequestAuth | None = BedrockAuth(name, self._default_region, chain)

    def stream_decoder(self, max_event_bytes: int) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(self.name, max_event_bytes)

    # --- requests -----------------------------------------------------------------------------

    def _key(self, key: KeyConfig | None) -> BedrockKey:
        return bedrock_key(key, self._default_region, self.name)

    def _url(self, config: BedrockKey, path: str) -> str:
        base = self._base or f"https://bedrock-runtime.{config.region}.amazonaws.com"
        return base + path

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": CONTENT_TYPE_STREAM if stream else "application/json"}
        headers.update(self._extra_headers)
        return headers

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        config = self._key(key)
        model_id = config.model_id(model)
        if request.source_format == self.format and request.raw is not None:
            body: dict[str, Any] = {k: v for k, v in request.raw.items() if k != "modelId"}
        else:
            body = build_body(request, model_id)
        return UpstreamRequest(
            method="POST",
            url=self._url(config, converse_path(model_id, stream=request.stream)),
            headers=self._headers(stream=request.stream),
            body=_json.dumps(body),
            stream=request.stream,
        )

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        config = self._key(key)
        model_id = config.model_id(model)
        body = build_embedding_body(request, model_id, self.name)
        return UpstreamRequest("POST", self._url(config, embedding_path(model_id)), self._headers(), _json.dumps(body))

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> None:
        return None

    def build_list_models(self, key: KeyConfig | None) -> None:
        return None  # the model list is a control-plane call (bedrock, not bedrock-runtime)

    # --- answers ------------------------------------------------------------------------------

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        body = json_object(response.body, self.name, "converse")
        output = body.get("output")
        message = output.get("message") if isinstance(output, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        choice = Choice(
            index=0,
            message=Message("assistant", content_parts(content)),
            finish_reason=finish_reason(body.get("stopReason")),
        )
        return ChatResponse(
            id=response.headers.get("x-amzn-requestid") or self.new_id(),
            model=model,
            choices=(choice,),
            usage=parse_usage(body.get("usage")),
            raw=response.body,
            raw_format="bedrock",
        )

    @staticmethod
    def new_id() -> str:
        return "bedrock-" + secrets.token_hex(12)

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        return relaying(BedrockStreamParser(self.name, model, self.new_id()), "bedrock", relay_format(request))

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        return parse_embedding_body(json_object(response.body, self.name, "invoke"), request, model, self.name)

    def parse_count_tokens(self, response: UpstreamResponse) -> int:  # pragma: no cover - never built
        raise UpstreamError(f"{self.name}: Bedrock has no token counting endpoint", status=501, provider=self.name)

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        return ()

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = None
        message = None
        if isinstance(body, dict):
            message = body.get("message") or body.get("Message")
        if message is None:
            text = response.body[:200].decode("utf-8", errors="replace").strip()
            message = f"HTTP {response.status}" + (f": {text}" if text else "")
        error_type = response.headers.get("x-amzn-errortype") or (
            body.get("__type") if isinstance(body, dict) else None
        )
        return error_from(
            error_type if isinstance(error_type, str) else None,
            message,
            status=response.status,
            raw_body=response.body,
            provider=self.name,
            retry_after=retry_after_seconds(response.headers),
        )
