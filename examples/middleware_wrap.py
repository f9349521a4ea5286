"""Wrap any ASGI app with ``BifrostMiddleware``: the gateway answers under ``/llm``, everything else
goes to the wrapped app (lifespan included).

Run: uvicorn examples.middleware_wrap:app --port 8000
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bifrost_asgi import BifrostMiddleware
from bifrost_asgi.config.loading import demo_settings


async def status(request: Request) -> JSONResponse:
    return JSONResponse({"service": "mine"})


inner = Starlette(routes=[Route("/status", status)])
app = BifrostMiddleware(inner, prefix="/llm", settings=demo_settings())
