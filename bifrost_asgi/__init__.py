"""bifrost-asgi: an LLM gateway for Python services.

It speaks the OpenAI, Anthropic and Google GenAI APIs to clients and sends each request to any
configured provider, translating between formats, with weighted keys, retries, fallbacks,
per-provider queues and Prometheus metrics. Run it standalone (``bifrost-asgi``) or mount it::

    app.mount("/openai", bifrost_app())

Public names are imported lazily, so ``import bifrost_asgi.neutral`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .asgi.app import bifrost_app, create_app
    from .asgi.middleware import BifrostMiddleware
    from .config.loading import load_settings
    from .config.settings import BifrostSettings
    from .errors import ConfigError, GatewayError
    from .gateway import Gateway

__all__ = [
    "BifrostMiddleware",
    "BifrostSettings",
    "ConfigError",
    "Gateway",
    "GatewayError",
    "bifrost_app",
    "create_app",
    "load_settings",
]

__version__ = "0.1.0"

_WHERE = {
    "BifrostMiddleware": ".asgi.middleware",
    "BifrostSettings": ".config.settings",
    "ConfigError": ".errors",
    "Gateway": ".gateway",
    "GatewayError": ".errors",
    "bifrost_app": ".asgi.app",
    "create_app": ".asgi.app",
    "load_settings": ".config.loading",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bifrost_asgi' has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)
