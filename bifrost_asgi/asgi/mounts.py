"""Where each dialect is served: the SDK drop-in prefixes, the integration prefixes that serve all
three dialects at once, and which dialect an error on a path is answered in.

Pure data and functions (no Starlette): ``app.py`` builds the routes from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..dialects.base import RouteSpec
from ..forwarding.routes import (
    ANTHROPIC_ROUTES,
    AZURE_MEDIA,
    GENAI_ROUTES,
    OPENAI_ROUTES,
    ForwardSpec,
    passthrough_routes,
)

# (prefix, dialect, default provider): the root and the per-SDK drop-in prefixes.
MOUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("", "openai", None),
    ("", "responses", None),
    ("/openai", "openai", "openai"),
    ("/openai", "responses", "openai"),
    ("/anthropic", "anthropic", "anthropic"),
    ("/genai", "gemini", "gemini"),
    ("/bedrock", "bedrock", "bedrock"),
)

# Bifrost's integration prefixes: no protocol of their own, they serve the OpenAI, Anthropic and
# GenAI routes again (``base_url=http://gw/langchain`` works for ChatOpenAI, ChatAnthropic and
# ChatGoogleGenerativeAI alike), each dialect with its SDK's default provider.
INTEGRATION_PREFIXES: tuple[str, ...] = ("/langchain", "/litellm", "/pydanticai")
INTEGRATION_DIALECTS: tuple[tuple[str, str], ...] = (
    ("openai", "openai"),
    ("responses", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "gemini"),
)

# Raw passthrough to one vendor's API (any path), answered in that vendor's dialect.
PASSTHROUGH_PREFIXES: Mapping[str, str] = {
    "/openai_passthrough": "openai",
    "/anthropic_passthrough": "anthropic",
    "/genai_passthrough": "gemini",
}

_GENAI_VERSIONS = ("/v1beta/", "/v1alpha/")


def sniff_dialect(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """For a path two dialects share under an integration prefix (``GET /langchain/v1/models``):
    the Anthropic SDK always sends ``anthropic-version``; google-genai sends ``x-goog-api-key``."""
    if "anthropic-version" in headers:
        return "anthropic"
    if "x-goog-api-key" in headers or "key" in query:
        return "gemini"
    return "openai"


def dialect_for_path(path: str) -> str:
    """The dialect an error on ``path`` (relative to the app) is answered in, from the route's
    prefix, never from a substring further in (``/genai/.../models/anthropic/x`` is GenAI)."""
    head, _, rest = path.lstrip("/").partition("/")
    prefix = "/" + head
    for mount, dialect, _default in MOUNTS:
        if mount and mount == prefix:
            return dialect
    if prefix in PASSTHROUGH_PREFIXES:
        return PASSTHROUGH_PREFIXES[prefix]
    if prefix in INTEGRATION_PREFIXES:
        return _integration_dialect("/" + rest)
    return "openai"


def _integration_dialect(sub: str) -> str:
    if sub.startswith("/v1/messages"):
        return "anthropic"
    if sub.startswith(_GENAI_VERSIONS) or (sub.startswith("/v1/models/") and ":" in sub.rsplit("/", 1)[-1]):
        return "gemini"
    return "openai"


# Forwarded calls (files, batches, images, audio) where each SDK sends them (GenAI's batches under
# /genai); the AzureOpenAI SDK given ``azure_endpoint=".../openai"`` builds ``/openai/openai/...``.
_FORWARD_MOUNTS: tuple[tuple[str, str, str | None, tuple[ForwardSpec, ...]], ...] = (
    ("", "openai", None, OPENAI_ROUTES),
    ("/openai", "openai", "openai", OPENAI_ROUTES),
    ("/openai/openai", "openai", "openai", OPENAI_ROUTES),
    ("/anthropic", "anthropic", "anthropic", ANTHROPIC_ROUTES),
    ("/genai", "gemini", "gemini", GENAI_ROUTES),
)
AZURE_PREFIXES = ("/openai", "/openai/openai")
# Azure deployment paths served by the OpenAI dialect's own operations (model = the deployment).
AZURE_OPERATIONS: tuple[RouteSpec, ...] = (
    RouteSpec("POST", "/deployments/{deployment}/chat/completions", "chat"),
    RouteSpec("POST", "/deployments/{deployment}/completions", "chat", {"text": True}),
    RouteSpec("POST", "/deployments/{deployment}/embeddings", "embeddings"),
)


def forward_routes(azure_default: str) -> Iterator[tuple[str, str, str | None, RouteSpec]]:
    """(path, dialect, default provider, route) for every forwarded route and Azure path."""
    for prefix, dialect, default, specs in _FORWARD_MOUNTS:
        for spec in specs:
            route = RouteSpec(spec.method, spec.path, "forward", {"forward": spec})
            yield prefix + spec.path, dialect, default, route
            if dialect == "openai" and spec.path.startswith("/v1/"):
                yield prefix + spec.path[3:], dialect, default, route
    for prefix in AZURE_PREFIXES:
        for route in AZURE_OPERATIONS:
            yield prefix + route.path, "openai", azure_default, route
        for spec in AZURE_MEDIA:
            yield prefix + spec.path, "openai", azure_default, RouteSpec(spec.method, spec.path, "forward",
                                                                          {"forward": spec})
    for prefix, vendor in PASSTHROUGH_PREFIXES.items():
        for spec in passthrough_routes(vendor):
            yield prefix + spec.path, vendor, vendor, RouteSpec(spec.method, spec.path, "forward", {"forward": spec})
