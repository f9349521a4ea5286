"""Where each dialect is served: the SDK drop-in prefixes, the integration prefixes that serve all
three dialects at once, and which dialect an error on a path is answered in.

Pure data and functions (no Starlette): ``app.py`` builds the routes from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..dialects.base import RouteSpec
from ..forwarding.routes import (
    ANTHROPIC_ROUTES,
    AZURE_MEDIA,
    GENAI_ROUTES,
    OPENAI_ROUTES,
    ForwardSpec,
    passthrough_routes,
)

AZURE_DEFAULT = "azure|openai"  # a mount's default provider: "azure" when one is configured, else "openai"


@dataclass(frozen=True, slots=True)
class Mount:
    """One dialect served under ``prefix``: its own routes (chat, messages, models, ...) when
    ``own`` is set, and the forwarded calls in ``forwarded``; ``default`` is the provider a
    request without one goes to."""

    prefix: str
    dialect: str
    default: str | None
    own: bool = True
    forwarded: tuple[RouteSpec, ...] = ()


def _forwarded(specs: tuple[ForwardSpec, ...]) -> tuple[RouteSpec, ...]:
    return tuple(_forward_route(spec) for spec in specs)


def _forward_route(spec: ForwardSpec) -> RouteSpec:
    """A forwarded route; an upload's body goes upstream as it arrives (``stream_body``)."""
    options = {"forward": spec, "stream_body": True} if spec.kind == "upload" else {"forward": spec}
    return RouteSpec(spec.method, spec.path, "forward", options)


# Azure OpenAI deployment paths, served by the OpenAI dialect (model = the deployment).
AZURE_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("POST", "/deployments/{deployment}/chat/completions", "chat"),
    RouteSpec("POST", "/deployments/{deployment}/completions", "chat", {"text": True}),
    RouteSpec("POST", "/deployments/{deployment}/embeddings", "embeddings"),
    *_forwarded(AZURE_MEDIA),
)
_OPENAI_FORWARDED = _forwarded(OPENAI_ROUTES)


def _sdk_surface(base: str, default: str | None) -> tuple[Mount, ...]:
    """What one base URL serves for the OpenAI (+ Responses, + AzureOpenAI), Anthropic, GenAI and
    Bedrock SDKs when every dialect shares it (an integration prefix): the same routes as each
    dialect's own prefix, with that SDK's default provider."""
    return (
        Mount(base, "openai", default or "openai", forwarded=_OPENAI_FORWARDED),
        Mount(base, "responses", default or "openai"),
        Mount(base + "/openai", "openai", AZURE_DEFAULT, own=False, forwarded=AZURE_ROUTES),
        Mount(base, "anthropic", default or "anthropic", forwarded=_forwarded(ANTHROPIC_ROUTES)),
        Mount(base, "gemini", default or "gemini", forwarded=_forwarded(GENAI_ROUTES)),
        Mount(base, "bedrock", default or "bedrock"),
    )


# Bifrost's integration prefixes: no protocol of their own, they serve every SDK's routes again
# (``base_url=http://gw/langchain`` works for ChatOpenAI, ChatAnthropic and ChatGoogleGenerativeAI
# alike, and for files, batches, images, audio, Azure deployments), each with its SDK's provider.
INTEGRATION_PREFIXES: tuple[str, ...] = ("/langchain", "/litellm", "/pydanticai")

# Every place a dialect is served, in routing order: the root (OpenAI with no default provider:
# the model names it), the per-SDK drop-in prefixes, then the integration prefixes. The AzureOpenAI
# SDK given ``azure_endpoint=".../openai"`` builds ``/openai/openai/...``.
MOUNTS: tuple[Mount, ...] = (
    Mount("", "openai", None, forwarded=_OPENAI_FORWARDED),
    Mount("", "responses", None),
    Mount("/openai", "openai", "openai", forwarded=_OPENAI_FORWARDED),
    Mount("/openai", "responses", "openai"),
    Mount("/openai", "openai", AZURE_DEFAULT, own=False, forwarded=AZURE_ROUTES),
    Mount("/openai/openai", "openai", "openai", own=False, forwarded=_OPENAI_FORWARDED),
    Mount("/openai/openai", "openai", AZURE_DEFAULT, own=False, forwarded=AZURE_ROUTES),
    Mount("/anthropic", "anthropic", "anthropic", forwarded=_forwarded(ANTHROPIC_ROUTES)),
    Mount("/genai", "gemini", "gemini", forwarded=_forwarded(GENAI_ROUTES)),
    Mount("/bedrock", "bedrock", "bedrock"),
    *(mount for prefix in INTEGRATION_PREFIXES for mount in _sdk_surface(prefix, None)),
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
    if prefix in INTEGRATION_PREFIXES:
        return _integration_dialect("/" + rest)
    if prefix in PASSTHROUGH_PREFIXES:
        return PASSTHROUGH_PREFIXES[prefix]
    for mount in MOUNTS:
        if mount.prefix == prefix and mount.dialect != "responses":
            return mount.dialect
    return "openai"


def _integration_dialect(sub: str) -> str:
    if sub.startswith("/v1/messages"):
        return "anthropic"
    if sub.startswith("/model/"):
        return "bedrock"
    if sub.startswith(_GENAI_VERSIONS) or (sub.startswith("/v1/models/") and ":" in sub.rsplit("/", 1)[-1]):
        return "gemini"
    return "openai"


def passthrough_mounts() -> Iterator[tuple[str, str, RouteSpec]]:
    """(prefix, vendor, route) for the raw passthrough prefixes."""
    for prefix, vendor in PASSTHROUGH_PREFIXES.items():
        for spec in _forwarded(passthrough_routes(vendor)):
            yield prefix, vendor, spec
