"""The Anthropic Messages API as an upstream (pure: builds requests, parses answers).

``POST {base}/v1/messages`` (and ``/v1/messages/count_tokens``), ``GET {base}/v1/models``;
``x-api-key`` + ``anthropic-version: 2023-06-01``. A request from an Anthropic client is sent
as the client wrote it (only ``model`` rewritten) with its ``anthropic-beta`` and
``anthropic-version`` headers; anything else is translated by ``anthropic_build.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
)
from ..streaming import SSEDecoder
from .anthropic_build import build_body
from .anthropic_stream import AnthropicStreamParser
from .anthropic_wire import error_from_body, finish_reason, parse_usage
from .base import RequestAuth, StreamParser, UpstreamRequest, UpstreamResponse, json_object, retry_after_seconds
from .forward import ForwardCall, ForwardTarget
from .relay import relay_format, relaying

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# Messages fields that count_tokens rejects.
_NOT_COUNTED = frozenset(
    {"max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata", "service_tier"}
)


def _content_parts(content: Any) -> tuple[Part, ...]:
    parts: list[Part] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
        elif kind == "tool_use":
            tool_input = block.get("input")
            parts.append(
                ToolCall(
                    id=str(block.get("id", "")),
                    name=str(block.get("name", "")),
                    arguments=_json.dumps_str(tool_input if tool_input is not None else {}),
                )
            )
        elif kind == "thinking":
            signature = block.get("signature")
            parts.append(
                ReasoningPart(
                    text=str(block.get("thinking", "")),
                    signature=signature if isinstance(signature, str) else None,
                )
            )
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            parts.append(ReasoningPart(redacted=block["data"]))
    return tuple(parts)


def _check_shape(body: dict[str, Any], provider: str) -> None:
    """A Messages answer is ``content``: a list of typed blocks; anything else is a 502 (and falls back)."""
    content = body.get("content")
    if not isinstance(content, list):
        raise UpstreamProtocolError(
            f"{provider} answered without a 'content' list (got {type(content).__name__})", provider=provider
        )
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise UpstreamProtocolError(f"{provider} answered an untyped content[{index}] block", provider=provider)
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise UpstreamProtocolError(f"{provider} answered content[{index}] without its text", provider=provider)


def _epoch(created_at: Any) -> int:
    if not isinstance(created_at, str):
        return 0
    try:
        return int(datetime.fromisoformat(created_at).timestamp())
    except ValueError:
        return 0


class AnthropicProvider:
    format: Format = "anthropic"

    auth: RequestAuth | None = None

    def stream_decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.keyless = bool(config.custom_provider_config and config.custom_provider_config.is_key_less)
        network = config.network_config
        self._base = network.base_url or DEFAULT_BASE_URL
        self._extra_headers = {k.lower(): v for k, v in network.extra_headers.items()}

    # --- requests -----------------------------------------------------------------------------

    def forward_target(self, key: KeyConfig | None, call: ForwardCall) -> ForwardTarget:
        """``{base}/v1``; the client's ``anthropic-version``/``anthropic-beta`` are kept (beta
        features such as the Files API need them), the default version when it sent none."""
        headers = {"anthropic-version": call.headers.get("anthropic-version", API_VERSION), **self._extra_headers}
        secret = key.value.get_secret_value() if key is not None else ""
        if secret:
            headers["x-api-key"] = secret
        return ForwardTarget(self._base.rstrip("/") + "/v1", headers)

    def _headers(self, key: KeyConfig | None, request: ChatRequest | None, *, passthrough: bool) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        secret = key.value.get_secret_value() if key is not None else ""
        if secret:
            headers["x-api-key"] = secret
        headers.update(self._extra_headers)
        if request is not None and request.source_format == "anthropic":
            for name, value in request.passthrough_headers.items():
                if name == "anthropic-beta" or (name == "anthropic-version" and passthrough):
                    headers[name] = value
        return headers

    def _passthrough(self, request: ChatRequest) -> bool:
        return request.source_format == self.format and request.raw is not None

    def build_chat(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        passthrough = self._passthrough(request)
        body = {**request.raw, "model": model} if passthrough and request.raw else build_body(request, model)
        return UpstreamRequest(
            method="POST",
            url=f"{self._base}/v1/messages",
            headers=self._headers(key, request, passthrough=passthrough),
            body=_json.dumps(body),
            stream=request.stream,
        )

    def build_count_tokens(self, request: ChatRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        passthrough = self._passthrough(request)
        if passthrough and request.raw:
            body = {k: v for k, v in request.raw.items() if k not in _NOT_COUNTED}
            body["model"] = model
        else:
            body = build_body(request, model, counting=True)
        return UpstreamRequest(
            method="POST",
            url=f"{self._base}/v1/messages/count_tokens",
            headers=self._headers(key, request, passthrough=passthrough),
            body=_json.dumps(body),
        )

    def build_list_models(self, key: KeyConfig | None) -> UpstreamRequest:
        headers = self._headers(key, None, passthrough=False)
        del headers["content-type"]
        return UpstreamRequest(method="GET", url=f"{self._base}/v1/models?limit=1000", headers=headers)

    def build_embeddings(self, request: EmbeddingRequest, model: str, key: KeyConfig | None) -> UpstreamRequest:
        raise UnsupportedFeatureError(f"{self.name}: anthropic has no embeddings API", provider=self.name)

    # --- answers ------------------------------------------------------------------------------

    def parse_chat(self, response: UpstreamResponse, request: ChatRequest, model: str) -> ChatResponse:
        body = json_object(response.body, self.name, "messages")
        _check_shape(body, self.name)
        stop_sequence = body.get("stop_sequence")
        choice = Choice(
            index=0,
            message=Message("assistant", _content_parts(body.get("content"))),
            finish_reason=finish_reason(body.get("stop_reason")),
            stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        )
        response_model = body.get("model")
        return ChatResponse(
            id=str(body.get("id", "")),
            model=response_model if isinstance(response_model, str) else model,
            choices=(choice,),
            usage=parse_usage(body.get("usage")),
            raw=response.body,
            raw_format="anthropic",
        )

    def stream_parser(self, request: ChatRequest, model: str) -> StreamParser:
        return relaying(AnthropicStreamParser(self.name, model), "anthropic", relay_format(request))

    def parse_embeddings(self, response: UpstreamResponse, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        raise UnsupportedFeatureError(f"{self.name}: anthropic has no embeddings API", provider=self.name)

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        tokens = json_object(response.body, self.name, "count_tokens").get("input_tokens")
        if not isinstance(tokens, int) or isinstance(tokens, bool):
            raise UpstreamProtocolError(f"{self.name} returned no input_tokens count", provider=self.name)
        return tokens

    def parse_list_models(self, response: UpstreamResponse) -> Sequence[ModelInfo]:
        data = json_object(response.body, self.name, "models").get("data")
        models: list[ModelInfo] = []
        for item in data if isinstance(data, list) else ():
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            display_name = item.get("display_name")
            models.append(
                ModelInfo(
                    id=item["id"],
                    provider=self.name,
                    created=_epoch(item.get("created_at")),
                    display_name=display_name if isinstance(display_name, str) else None,
                )
            )
        return models

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        try:
            body = _json.loads(response.body)
        except ValueError:
            body = None
        common: dict[str, Any] = {
            "raw_body": response.body,
            "retry_after": retry_after_seconds(response.headers),
            "provider": self.name,
        }
        error = error_from_body(body, fallback_status=response.status, **common)
        if error is not None:
            return error
        text = response.body[:200].decode("utf-8", errors="replace").strip()
        message = f"{self.name} returned HTTP {response.status}" + (f": {text}" if text else "")
        common["raw_body"] = None  # not an Anthropic error: the client gets it in its own shape
        return UpstreamError(message, status=response.status, **common)
