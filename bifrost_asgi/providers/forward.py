"""Forwarded calls (files, batches, images, audio, raw passthrough): a vendor path sent to the
provider's own API root with the gateway's key. Pure: the request is built, never sent.

A provider that can take forwarded calls has ``forward_target(key, model)``: its versioned API
root (OpenAI ``https://api.openai.com/v1``, Anthropic ``https://api.anthropic.com/v1``, Gemini
``.../v1beta``, Azure ``{endpoint}/openai`` with its ``api-version`` and deployment) and the
headers that authenticate there. Others (Bedrock, Vertex, Cohere) refuse with a 400 naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..config.settings import KeyConfig
from ..errors import UnsupportedFeatureError
from .base import UpstreamRequest

# Client headers never forwarded: credentials (the gateway's key replaces them), hop-by-hop and
# framing headers (the body is re-sent whole), and the gateway's own.
_DROPPED = frozenset(
    {
        "authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "host", "content-length",
        "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "proxy-authorization",
        "accept-encoding", "expect",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ForwardCall:
    method: str
    path: str  # relative to the vendor's versioned API root, e.g. "/files/file-abc/content"
    query: str = ""  # raw query string, without "?"
    headers: Mapping[str, str] = field(default_factory=dict)  # the client's, lower-case
    body: bytes | None = None
    model: str | None = None  # the upstream model a media call names (Azure: its deployment)
    upload: bool = False  # Gemini media uploads live under /upload/{version}/...


@dataclass(frozen=True, slots=True)
class ForwardTarget:
    root: str
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)  # added unless the client sent them


@runtime_checkable
class Forwardable(Protocol):
    def forward_target(self, key: KeyConfig | None, call: ForwardCall) -> ForwardTarget: ...


def client_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _DROPPED and not k.startswith("x-bf-")}


def build_forward(provider: object, name: str, call: ForwardCall, key: KeyConfig | None) -> UpstreamRequest:
    if not isinstance(provider, Forwardable):
        raise UnsupportedFeatureError(
            f"provider '{name}' does not take forwarded calls (files, batches, images, audio, passthrough): "
            "use an OpenAI, Azure, Anthropic or Gemini provider",
            provider=name,
        )
    target = provider.forward_target(key, call)
    headers = client_headers(call.headers)
    headers.update(target.headers)
    query = call.query
    extra = "&".join(f"{k}={v}" for k, v in target.query.items() if f"{k}=" not in query)
    if extra:
        query = f"{query}&{extra}" if query else extra
    url = target.root + call.path + (f"?{query}" if query else "")
    return UpstreamRequest(call.method, url, headers, call.body or None, stream=True)
