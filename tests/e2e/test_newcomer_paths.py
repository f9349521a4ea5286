"""The first hour of a new user: the README's mounting snippet with no configuration, the request
log line under every server, the OpenAI SDK at both base URLs when mounted at /openai, models a
client can call are models it can list, and GenAI paths without a version (litellm's ``gemini/``)."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from bifrost_asgi import bifrost_app
from tests.support import FakeProvider, fake_text, run_server
from tests.support.processes import free_port, serve_command

pytestmark = pytest.mark.e2e

HELLO: Any = [{"role": "user", "content": "hello"}]
FASTAPI_APP = """
from fastapi import FastAPI
from bifrost_asgi import bifrost_app

gateway = bifrost_app()
app = FastAPI()
app.mount("/openai", gateway)
"""


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-client-side", max_retries=0)


def request_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "request_id=" in line and "status=" in line]


# --------------------------------------------------------------------------- 4: mounted with no configuration


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("BIFROST_CONFIG", "BIFROST_DEMO", "BIFROST_APP_DIR", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    yield


def test_mounted_with_no_configuration_says_so_with_the_fix(
    no_config: None, caplog: pytest.LogCaptureFixture
) -> None:
    host = FastAPI()
    host.mount("/openai", bifrost_app())
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi"), run_server(host) as server:
        client = sdk(server.url + "/openai/v1")
        for _ in range(2):
            with pytest.raises(openai.InternalServerError) as raised:
                client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert raised.value.status_code == 503
            message = str(raised.value)
            assert "no providers are configured" in message and "cannot tell" not in message
            assert "BIFROST_DEMO=1" in message and "OPENAI_API_KEY" in message
    warnings = [r for r in caplog.records if r.name == "bifrost_asgi" and "no providers are" in r.getMessage()]
    assert len(warnings) == 1  # once, at first use


def test_bifrost_app_honours_bifrost_demo(no_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_DEMO", "1")
    host = FastAPI()
    host.mount("/openai", bifrost_app())
    with run_server(host) as server:
        answer = sdk(server.url + "/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content == "Echo: hello"


# --------------------------------------------------------------------------- 5: the request log line


def test_request_line_under_uvicorn_factory() -> None:
    port = free_port()
    argv = ["{python}", "-m", "uvicorn", "--factory", "bifrost_asgi.cli:create_app_from_env", "--port", str(port)]
    with serve_command(argv, port, env={"BIFROST_DEMO": "1"}) as served:
        sdk(served.url + "/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert "route=/v1/chat/completions" in line and "status=200" in line and "provider=mock" in line


def test_request_line_under_gunicorn() -> None:
    port = free_port()
    argv = ["{python}", "-m", "gunicorn", "-w", "1", "-k", "uvicorn_worker.UvicornWorker",
            "-b", f"127.0.0.1:{port}", "bifrost_asgi.cli:create_app_from_env()"]  # fmt: skip
    with serve_command(argv, port, env={"BIFROST_DEMO": "1"}) as served:
        sdk(served.url + "/openai").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert "route=/openai/chat/completions" in line and "status=200" in line


def test_request_line_from_the_readme_fastapi_snippet(tmp_path: Path) -> None:
    """The README's snippet in a fresh app, under plain ``uvicorn module:app``: logging unconfigured
    by the host, so the gateway's own handler writes the line."""
    (tmp_path / "hostapp.py").write_text(textwrap.dedent(FASTAPI_APP))
    port = free_port()
    argv = ["{python}", "-m", "uvicorn", "hostapp:app", "--app-dir", str(tmp_path), "--port", str(port)]
    with serve_command(argv, port, env={"BIFROST_DEMO": "1"}) as served:
        sdk(served.url + "/openai").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert "route=/openai/chat/completions" in line or "route=/chat/completions" in line


ROOT = Path(__file__).resolve().parents[2]
DJANGO_PROJECT = ROOT / "examples" / "django_project"
DJANGO_LOGGING_SETTINGS = """
from mysite.settings import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"host": {"format": "HOST-HANDLER %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "host"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
"""


def test_request_line_from_the_starlette_example() -> None:
    """``examples/starlette_mount.py`` run as its docstring says (``uvicorn examples.starlette_mount:app``)."""
    port = free_port()
    argv = ["{python}", "-m", "uvicorn", "examples.starlette_mount:app", "--port", str(port)]
    with serve_command(argv, port, cwd=ROOT) as served:
        sdk(served.url + "/llm/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert "bifrost_asgi.requests" in line and "status=200" in line and "provider=mock" in line
    assert "route=/llm/openai/v1/chat/completions" in line or "route=/openai/v1/chat/completions" in line


def test_request_line_from_the_django_example() -> None:
    """``examples/django_project`` run as its docstring says: Django configures its own loggers,
    none of which receives the gateway's records, so the gateway's handler writes the line."""
    port = free_port()
    argv = ["{python}", "-m", "uvicorn", "mysite.asgi:application", "--port", str(port)]
    with serve_command(argv, port, cwd=DJANGO_PROJECT) as served:
        assert httpx2.get(served.url + "/ping/").json() == {"django": "pong"}
        sdk(served.url + "/llm/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert "bifrost_asgi.requests" in line and "status=200" in line and "provider=mock" in line


def test_request_line_goes_to_the_django_projects_logging(tmp_path: Path) -> None:
    """A Django project whose LOGGING gives the root logger a handler: the line goes through it
    (its format), at INFO although the root level is WARNING, and only once (no handler of ours)."""
    (tmp_path / "logged_settings.py").write_text(textwrap.dedent(DJANGO_LOGGING_SETTINGS))
    port = free_port()
    env = {"DJANGO_SETTINGS_MODULE": "logged_settings", "PYTHONPATH": f"{tmp_path}:{DJANGO_PROJECT}"}
    argv = ["{python}", "-m", "uvicorn", "mysite.asgi:application", "--port", str(port)]
    with serve_command(argv, port, env=env, cwd=DJANGO_PROJECT) as served:
        sdk(served.url + "/llm/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    (line,) = request_lines(served.output)
    assert line.startswith("HOST-HANDLER bifrost_asgi.requests request_id="), line


def test_request_line_reaches_the_hosts_handlers(fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    """A host with logging configured (pytest's handlers on the root logger): the line goes there,
    at INFO, although the root logger stays at WARNING."""
    config = {"providers": {"openai": {"keys": [{"value": "sk-x"}], "network_config": {"base_url": fake_provider.url}}}}
    host = FastAPI()
    host.mount("/llm", bifrost_app(config=config))
    with run_server(host) as server:
        sdk(server.url + "/llm/v1").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    lines = [r for r in caplog.records if r.name == "bifrost_asgi.requests"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    own = [h for h in logging.getLogger("bifrost_asgi").handlers if h.get_name() == "bifrost-asgi-default"]
    assert own == []


# --------------------------------------------------------------------------- 7: mounted at /openai


def test_mounted_at_openai_serves_both_sdk_base_urls(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "sk-x"}], "network_config": {"base_url": fake_provider.url}}}}
    host = FastAPI()
    host.mount("/openai", bifrost_app(config=config))
    with run_server(host) as server:
        for base in ("/openai/v1", "/openai"):
            client = sdk(server.url + base)
            answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert answer.choices[0].message.content == fake_text("openai", "hello")
            streamed = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == answer.choices[
                0
            ].message.content
            assert client.embeddings.create(model="text-embedding-3-small", input="hi").data
            assert [m.id for m in client.models.list()]


def test_standalone_root_paths_without_v1(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "sk-x"}], "network_config": {"base_url": fake_provider.url}}}}
    with run_server(bifrost_app(config=config)) as server:
        for base in ("", "/v1", "/openai", "/openai/v1"):
            answer = sdk(server.url + base).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert answer.choices[0].message.content == fake_text("openai", "hello")


# --------------------------------------------------------------------------- 8: models a client can call


def test_demo_lists_and_retrieves_every_name_a_client_can_send(
    no_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIFROST_DEMO", "1")
    with run_server(bifrost_app()) as server:
        for base in ("/openai", "/v1"):
            client = sdk(server.url + base)
            listed = {m.id for m in client.models.list()}
            assert {"gpt-4o-mini", "claude-3-sonnet-20240229", "gemini-2.0-flash"} <= listed
            for name in ("gpt-4o-mini", "claude-3-sonnet-20240229"):
                assert client.models.retrieve(name).id == name
                client.chat.completions.create(model=name, messages=HELLO)
        anthropic_list = httpx2.get(server.url + "/anthropic/v1/models").json()
        assert "claude-3-sonnet-20240229" in {m["id"] for m in anthropic_list["data"]}
        genai_list = httpx2.get(server.url + "/genai/v1beta/models").json()
        assert "models/gemini-2.0-flash" in {m["name"] for m in genai_list["models"]}
        missing = httpx2.get(server.url + "/v1/models/no-such-model")
        assert missing.status_code == 404


def test_key_models_are_listed_and_retrievable(fake_provider: FakeProvider) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "sk-x", "models": ["my-finetune"]}],
                                       "network_config": {"base_url": fake_provider.url}}},
              "routing": {"aliases": {"smart": [{"target": "openai/gpt-4o-mini"}]}}}  # fmt: skip
    with run_server(bifrost_app(config=config)) as server:
        client = sdk(server.url + "/v1")
        listed = {m.id for m in client.models.list()}
        assert {"smart", "openai/my-finetune"} <= listed
        assert client.models.retrieve("smart").owned_by == "openai"
        assert client.models.retrieve("my-finetune").id == "openai/my-finetune"
        assert client.models.retrieve("openai/my-finetune").id == "openai/my-finetune"


# --------------------------------------------------------------------------- 9: GenAI without a version


def test_genai_paths_without_a_version_are_v1beta(fake_provider: FakeProvider) -> None:
    config = {"providers": {"gemini": {"keys": [{"value": "gm-key"}], "network_config": {
        "base_url": fake_provider.url + "/v1beta"}}}}  # fmt: skip
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    with run_server(bifrost_app(config=config)) as server:
        plain = httpx2.post(server.url + "/genai/models/gemini-2.5-flash:generateContent", json=body)
        assert plain.status_code == 200, plain.text
        assert plain.json()["candidates"][0]["content"]["parts"][0]["text"] == fake_text("gemini", "hello")
        streamed = httpx2.post(server.url + "/genai/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body)
        assert streamed.status_code == 200 and streamed.text.startswith("data: ")
        counted = httpx2.post(server.url + "/genai/models/gemini-2.5-flash:countTokens", json=body)
        assert counted.status_code == 200 and "totalTokens" in counted.json()
        assert httpx2.get(server.url + "/genai/models").status_code == 200
    assert "/v1beta/models/gemini-2.5-flash:generateContent" in fake_provider.matching(":generateContent")[0].path


# --------------------------------------------------------------------------- the guide, against the demo


GUIDE_COMPATIBILITY_SCRIPT = """
import openai
import anthropic
import requests

openai_key = anthropic_key = "unused"  # the guide leaves these to the reader

def test_compatibility():
    \"\"\"Test Bifrost compatibility with existing SDKs\"\"\"

    # Test OpenAI compatibility
    openai_client = openai.OpenAI(
        base_url="http://localhost:8080/openai",
        api_key=openai_key
    )

    try:
        response = openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "test"}]
        )
        print("✅ OpenAI compatibility verified")
    except Exception as e:
        print(f"❌ OpenAI compatibility failed: {e}")

    # Test Anthropic compatibility
    anthropic_client = anthropic.Anthropic(
        base_url="http://localhost:8080/anthropic",
        api_key=anthropic_key
    )

    try:
        response = anthropic_client.messages.create(
            model="claude-3-sonnet-20240229",
            max_tokens=100,
            messages=[{"role": "user", "content": "test"}]
        )
        print("✅ Anthropic compatibility verified")
    except Exception as e:
        print(f"❌ Anthropic compatibility failed: {e}")

test_compatibility()
"""


def test_guide_curls_and_compatibility_script_against_the_demo_command(tmp_path: Path) -> None:
    """``bifrost-asgi --demo`` (what scripts/demo.sh runs), the migration guide's two curls, then its
    compatibility script as written (keys set to any value, host and port adjusted), in a fresh
    process."""
    import subprocess
    import sys

    port = free_port()
    with serve_command(["{python}", "-m", "bifrost_asgi", "--demo", "--port", str(port)], port) as served:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "test"}]}
        chat = httpx2.post(served.url + "/openai/v1/chat/completions", json=body)
        assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"] == "Echo: test"
        body = {"model": "claude-3-sonnet-20240229", "max_tokens": 100, "messages": body["messages"]}
        messages = httpx2.post(served.url + "/anthropic/v1/messages", json=body)
        assert messages.status_code == 200 and messages.json()["content"][0]["text"] == "Echo: test"
        path = tmp_path / "compat.py"
        path.write_text(GUIDE_COMPATIBILITY_SCRIPT.replace("http://localhost:8080", served.url))
        result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "✅ OpenAI compatibility verified" in result.stdout
    assert "✅ Anthropic compatibility verified" in result.stdout
