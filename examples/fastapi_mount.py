"""Mount the gateway inside an existing FastAPI service.

Run:  uvicorn examples.fastapi_mount:app --port 8000
Then: OpenAI(base_url="http://127.0.0.1:8000/openai/v1", api_key="unused").chat.completions.create(
          model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

With no BIFROST_CONFIG and no vendor API keys in the environment this uses the offline demo
configuration, so it answers without network access.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bifrost_asgi import bifrost_app
from bifrost_asgi.config.loading import demo_settings

has_config = os.environ.get("BIFROST_CONFIG") or os.environ.get("OPENAI_API_KEY")
gateway = bifrost_app() if has_config else bifrost_app(demo_settings())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Mounted apps get no lifespan of their own (Starlette #649): compose the gateway's so that
    # shutdown drains in-flight requests and closes upstream connections.
    async with gateway.state.gateway.lifespan(app):
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/openai", gateway)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "the host's own routes keep working"}
