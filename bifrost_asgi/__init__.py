"""bifrost-asgi: an LLM gateway for Python services.

It speaks the OpenAI, Anthropic and Google GenAI APIs to clients and sends each request to any
configured provider, translating between formats, with weighted keys, retries, fallbacks,
per-provider queues and Prometheus metrics. Run it standalone (``bifrost-asgi``) or mount it::

    app.mount("/openai", bifrost_app())
"""

from __future__ import annotations

from .app import bifrost_app, create_app
from .config_file import load_settings
from .errors import ConfigError, GatewayError
from .gateway import Gateway
from .middleware import BifrostMiddleware
from .settings import BifrostSettings

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
