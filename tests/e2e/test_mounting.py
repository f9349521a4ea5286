"""The gateway inside other ASGI apps, each proven with the OpenAI SDK over a real socket.

FastAPI ``app.mount``, Starlette ``Mount``, ``BifrostMiddleware`` around Starlette and around Django
(the example project ``examples/django_project`` itself), lifespan composition, and the example
modules under ``examples/`` served as they are (offline demo settings). Every case streams too, and
the host's own routes keep working next to the gateway.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from bifrost_asgi import BifrostMiddleware, bifrost_app
from tests.support import FakeProvider, fake_text, run_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DJANGO_PROJECT = EXAMPLES / "django_project"
SECRET = "sk-test-secret-123"
HELLO: Any = [{"role": "user", "content": "hello"}]


def gateway_config(fake: FakeProvider) -> dict[str, Any]:
    # Two providers, so a bare "gpt-4o-mini" must be resolved (to openai), not just defaulted.
    return {
        "providers": {
            "openai": {"keys": [{"value": SECRET}], "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": [{"value": "sk-ant-mount-key"}], "network_config": {"base_url": fake.url}},
        }
    }


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-client-side", max_retries=0)


def assert_sdk_works(base_url: str, model: str, fake: FakeProvider | None) -> None:
    """Plain and streamed chat and the model list through ``base_url``; with a fake, check upstream."""
    client = sdk(base_url)
    completion = client.chat.completions.create(model=model, messages=HELLO)
    stream = client.chat.completions.create(
        model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    models = [m.id for m in client.models.list()]

    assert len(content_chunks) > 1
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []
    assert models
    if fake is None:
        assert completion.choices[0].message.content
        assert streamed == completion.choices[0].message.content
        return
    assert completion.choices[0].message.content == fake_text("openai", "hello")
    assert streamed == fake_text("openai", "hello")
    chats = fake.matching("/chat/completions")
    assert len(chats) == 2
    for upstream in chats:
        assert upstream.path == "/v1/chat/completions"
        assert upstream.json["model"] == model.removeprefix("openai/")
        assert upstream.headers["authorization"] == f"Bearer {SECRET}"


# --------------------------------------------------------------------------- FastAPI / Starlette


def test_fastapi_mount(fake_provider: FakeProvider) -> None:
    host = FastAPI()
    host.mount("/openai", bifrost_app(config=gateway_config(fake_provider)))

    @host.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "host"}

    with run_server(host) as server:
        assert_sdk_works(server.url + "/openai/v1", "gpt-4o-mini", fake_provider)
        assert httpx2.get(server.url + "/hello").json() == {"hello": "host"}
        # FastAPI's own 404 for the host, the gateway's JSON 404 under its mount.
        assert httpx2.get(server.url + "/elsewhere").status_code == 404
        missing = httpx2.get(server.url + "/openai/v1/nope")
        assert missing.status_code == 404
        assert "route not found" in missing.json()["error"]["message"]


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("host home")


def test_starlette_mount(fake_provider: FakeProvider) -> None:
    gateway = bifrost_app(config=gateway_config(fake_provider))
    host = Starlette(routes=[Route("/", home), Mount("/llm", app=gateway)])

    with run_server(host) as server:
        assert_sdk_works(server.url + "/llm/openai/v1", "gpt-4o-mini", fake_provider)
        fake_provider.reset()
        assert_sdk_works(server.url + "/llm/v1", "openai/gpt-4o-mini", fake_provider)
        assert httpx2.get(server.url + "/").text == "host home"
        assert httpx2.get(server.url + "/llm/health").json() == {"status": "ok"}


def test_middleware_around_starlette(fake_provider: FakeProvider) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def inner_lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def status(request: Request) -> JSONResponse:
        return JSONResponse({"service": "mine", "path": request.url.path})

    inner = Starlette(routes=[Route("/status", status), Route("/llmish", status)], lifespan=inner_lifespan)
    app = BifrostMiddleware(inner, prefix="/llm", config=gateway_config(fake_provider))

    with run_server(app) as server:
        assert events == ["startup"]
        assert_sdk_works(server.url + "/llm/openai/v1", "gpt-4o-mini", fake_provider)
        assert httpx2.get(server.url + "/status").json() == {"service": "mine", "path": "/status"}
        # Only /llm and /llm/... belong to the gateway; a lookalike prefix is the host's.
        assert httpx2.get(server.url + "/llmish").json()["service"] == "mine"
        assert httpx2.get(server.url + "/llm/metrics").text.count("bifrost_requests_total") > 0
        assert not app.gateway.closing
    assert events == ["startup", "shutdown"]
    assert app.gateway.closing  # the wrapped app's lifespan ran, and the gateway shut down with it
    fake_provider.wait_for(lambda: fake_provider.open_connections == 0, 2.0)


# --------------------------------------------------------------------------- lifespan


def test_lifespan_composition_starts_and_shuts_down_cleanly(fake_provider: FakeProvider) -> None:
    gateway = bifrost_app(config=gateway_config(fake_provider))
    state = gateway.state.gateway
    phases: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        phases.append("host startup")
        async with state.lifespan(app):
            yield
        phases.append(f"host shutdown, gateway closing={state.closing}")

    host = FastAPI(lifespan=lifespan)
    host.mount("/openai", gateway)
    with run_server(host) as server:
        assert phases == ["host startup"]
        assert_sdk_works(server.url + "/openai/v1", "gpt-4o-mini", fake_provider)
        assert fake_provider.open_connections >= 1  # keep-alive to the upstream
        assert not state.closing
    assert phases == ["host startup", "host shutdown, gateway closing=True"]
    assert state.in_flight == 0
    # Shutdown closed the upstream client: its keep-alive connections are gone.
    fake_provider.wait_for(lambda: fake_provider.open_connections == 0, 2.0)


def test_mounted_without_lifespan_still_works(fake_provider: FakeProvider) -> None:
    gateway = bifrost_app(config=gateway_config(fake_provider))
    host = FastAPI()  # no lifespan: the mounted gateway never gets a startup event
    host.mount("/openai", gateway)
    with run_server(host) as server:
        assert_sdk_works(server.url + "/openai/v1", "gpt-4o-mini", fake_provider)
        fake_provider.reset()
        assert_sdk_works(server.url + "/openai/v1", "openai/gpt-4o-mini", fake_provider)
    assert not gateway.state.gateway.closing


# --------------------------------------------------------------------------- Django


@pytest.fixture
def django_project(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``examples/django_project`` importable and selected, for this test only."""
    pytest.importorskip("django")
    monkeypatch.syspath_prepend(str(DJANGO_PROJECT))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings")
    monkeypatch.delenv("BIFROST_CONFIG", raising=False)
    sys.modules.pop("mysite.asgi", None)
    yield
    sys.modules.pop("mysite.asgi", None)  # the next import builds a fresh gateway


def load_django_application() -> Any:
    """``mysite.asgi.application``: ``BifrostMiddleware(get_asgi_application(), prefix="/llm")``."""
    module = importlib.import_module("mysite.asgi")
    assert isinstance(module.application, BifrostMiddleware)
    return module.application


@pytest.mark.usefixtures("django_project")
def test_django_example_with_config(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(gateway_config(fake_provider)), encoding="utf-8")
    monkeypatch.setenv("BIFROST_CONFIG", str(config_file))
    application = load_django_application()

    with run_server(application) as server:
        assert httpx2.get(server.url + "/ping/").json() == {"django": "pong"}
        assert_sdk_works(server.url + "/llm/openai/v1", "gpt-4o-mini", fake_provider)
        fake_provider.reset()
        assert_sdk_works(server.url + "/llm/v1", "openai/gpt-4o-mini", fake_provider)
        assert httpx2.get(server.url + "/ping/").json() == {"django": "pong"}
        assert httpx2.get(server.url + "/nothing-here/").status_code == 404  # Django's own 404
    # Django refuses lifespan; the middleware answered it, so shutdown still closed the gateway.
    assert application.gateway.closing


@pytest.mark.usefixtures("django_project")
def test_django_example_offline_demo() -> None:
    application = load_django_application()
    with run_server(application) as server:
        assert_sdk_works(server.url + "/llm/openai/v1", "gpt-4o-mini", None)
        assert httpx2.get(server.url + "/ping/").json() == {"django": "pong"}


# --------------------------------------------------------------------------- the other examples


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import ``examples/<name>.py`` afresh with no configuration in the environment (demo mode)."""
    for name in ("BIFROST_CONFIG", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    loaded: list[str] = []

    def load(name: str) -> types.ModuleType:
        module_name = f"_e2e_example_{name}"
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        loaded.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


EXAMPLE_CASES = [
    pytest.param(
        "fastapi_mount", "/openai/v1", "/hello", {"hello": "the host's own routes keep working"}, id="fastapi"
    ),
    pytest.param("starlette_mount", "/llm/openai/v1", "/", "host app", id="starlette"),
    pytest.param("middleware_wrap", "/llm/openai/v1", "/status", {"service": "mine"}, id="middleware"),
]


@pytest.mark.parametrize(("name", "base", "host_path", "host_answer"), EXAMPLE_CASES)
def test_example_module_serves_offline(
    load_example: Any, name: str, base: str, host_path: str, host_answer: Any
) -> None:
    module = load_example(name)
    with run_server(module.app) as server:
        assert_sdk_works(server.url + base, "gpt-4o-mini", None)
        embedding = sdk(server.url + base).embeddings.create(model="text-embedding-3-small", input="hi")
        assert len(embedding.data[0].embedding) > 0
        response = httpx2.get(server.url + host_path)
        assert response.status_code == 200
        assert (response.json() if isinstance(host_answer, dict) else response.text) == host_answer
    # Each example composes the gateway's shutdown into its server's lifespan.
    gateway = module.gateway.state.gateway if hasattr(module, "gateway") else module.app.gateway
    assert gateway.closing
