"""Mount the gateway in a Starlette app with ``Mount``, next to the host's own routes.

Run: uvicorn examples.starlette_mount:app --port 8000   (offline demo config unless BIFROST_CONFIG is set)
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from bifrost_asgi import bifrost_app
from bifrost_asgi.config.loading import demo_settings


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("host app")


gateway = bifrost_app() if os.environ.get("BIFROST_CONFIG") else bifrost_app(demo_settings())
app = Starlette(routes=[Route("/", home), Mount("/llm", app=gateway)], lifespan=gateway.state.gateway.lifespan)
