"""``BifrostMiddleware``: serve the gateway under a path prefix of any ASGI app (Django, Starlette,
FastAPI...) and pass everything else through.

Lifespan goes to the wrapped app; the gateway drains and closes its clients when the server sends
``lifespan.shutdown``. If the wrapped app does not speak lifespan (Django raises), the middleware
answers the protocol itself so the server still gets a clean start and stop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config.settings import BifrostSettings
from ..gateway import Gateway
from .app import bifrost_app

if TYPE_CHECKING:
    from ..upstream._http import httpx


class BifrostMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = "/llm",
        settings: BifrostSettings | None = None,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if not prefix.startswith("/") or prefix == "/":
            raise ValueError(f"prefix must start with '/' and not be '/' alone, got {prefix!r}")
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.gateway_app = bifrost_app(settings, config=config, transport=transport, registry=registry)
        self.gateway: Gateway = self.gateway_app.state.gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            path: str = scope["path"]
            route_path = path[len(root) :] if root and path.startswith(root) else path
            if route_path == self.prefix or route_path.startswith(self.prefix + "/"):
                inner = dict(scope)
                inner["root_path"] = root + self.prefix
                if not path.startswith(root):  # servers that strip root_path from path
                    inner["path"] = root + path
                await self.gateway_app(inner, receive, send)
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"received_startup": False, "started": False}

        async def tracking_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["received_startup"] = True
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.shutdown()
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except Exception:
            if state["started"]:
                raise
        else:
            return
        # The wrapped app does not do lifespan: answer it ourselves.
        if not state["received_startup"]:
            await receive()
        await send({"type": "lifespan.startup.complete"})
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await self.gateway.shutdown()
        await send({"type": "lifespan.shutdown.complete"})
