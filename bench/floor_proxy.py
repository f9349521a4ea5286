"""The floor: the least a Python ASGI gateway can do — forward the body, return the upstream bytes.

One Starlette route, no parsing, no validation. The upstream client is created lazily and reused (keep-alive).
Environment:
  FLOOR_UPSTREAM  base URL, e.g. http://127.0.0.1:8081; the request path is appended as is
  FLOOR_CLIENT    aiohttp (default, the fastest measured) or httpx2

Run: uvicorn floor_proxy:app --app-dir bench --port 9000
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:8081").rstrip("/")
CLIENT = os.environ.get("FLOOR_CLIENT", "aiohttp")
UPSTREAM_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
POOL = 512


class _State:
    client: Any = None


state = _State()


def _client() -> Any:
    if state.client is None:
        if CLIENT == "httpx2":
            import httpx2

            limits = httpx2.Limits(max_connections=POOL, max_keepalive_connections=POOL)
            state.client = httpx2.AsyncClient(limits=limits, timeout=30.0)
        else:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=POOL, keepalive_timeout=60)
            state.client = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=30), auto_decompress=False
            )
    return state.client


async def forward(request: Request) -> Response:
    body = await request.body()
    url = UPSTREAM + request.url.path
    if CLIENT == "httpx2":
        return await _forward_httpx(url, body)
    return await _forward_aiohttp(url, body)


async def _forward_aiohttp(url: str, body: bytes) -> Response:
    resp = await _client().post(url, data=body, headers=UPSTREAM_HEADERS)
    ctype = resp.headers.get("Content-Type", "application/json")
    if ctype.startswith("text/event-stream"):

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.release()

        return StreamingResponse(relay(), status_code=resp.status, media_type=ctype)
    data = await resp.read()
    return Response(data, status_code=resp.status, media_type=ctype)


async def _forward_httpx(url: str, body: bytes) -> Response:
    client = _client()
    req = client.build_request("POST", url, content=body, headers=UPSTREAM_HEADERS)
    resp = await client.send(req, stream=True)
    ctype = resp.headers.get("content-type", "application/json")
    if ctype.startswith("text/event-stream"):

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            finally:
                await resp.aclose()

        return StreamingResponse(relay(), status_code=resp.status_code, media_type=ctype)
    data = await resp.aread()
    await resp.aclose()
    return Response(data, status_code=resp.status_code, media_type=ctype)


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
    if state.client is not None:
        close = getattr(state.client, "aclose", None) or state.client.close
        await close()


app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)

if os.environ.get("FLOOR_TUNE_GC", "1") == "1":
    # The same collector settings the gateway's CLI applies to its server processes, so the
    # floor is not handicapped by CPython's defaults (see bifrost_asgi.cli._tune_gc).
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
