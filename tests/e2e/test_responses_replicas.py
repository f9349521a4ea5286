"""A Responses conversation continues on another replica: one gateway in this process, a second
one a separate ``python -m bifrost_asgi`` process, both on one real ``redis-server``."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.e2e.test_responses_sdk import MODELS, TOOLS, gateway_config
from tests.support import FakeProvider, fake_text, fake_tool_result_text, run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gateway_process(config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    port = _free_port()
    log = tmp_path / "gateway.log"
    argv = [sys.executable, "-m", "bifrost_asgi", "--config", str(path), "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the gateway exited with {proc.returncode}:\n{log.read_text()}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(url + "/health", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not start within {START_TIMEOUT:g}s:\n{log.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def replicas(redis_session: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(in-process gateway URL, separate-process gateway URL), one fake vendor, one Redis."""
    if redis_session.process is None:
        redis_session.start()
    with FakeProvider() as fake:
        config = {**gateway_config(fake), "redis_url": redis_session.url}
        with run_gateway(config) as one, gateway_process(config, tmp_path_factory.mktemp("replica")) as two:
            yield one.url, two


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
def test_tool_conversation_continues_on_a_second_process(vendor: str, replicas: tuple[str, str]) -> None:
    model = MODELS[vendor]
    first_client = openai.OpenAI(base_url=replicas[0] + "/v1", api_key="x", max_retries=0)
    second_client = openai.OpenAI(base_url=replicas[1] + "/v1", api_key="x", max_retries=0)
    with first_client.responses.stream(model=model, input="Weather in Paris?", tools=TOOLS) as stream:
        first = stream.get_final_response()
    call = next(item for item in first.output if item.type == "function_call")
    second = second_client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=TOOLS,
    )
    assert second.output_text == fake_tool_result_text(vendor, "sunny")
    third = first_client.responses.create(model=model, previous_response_id=second.id, input="thanks")
    assert third.output_text == fake_text(vendor, "thanks")
    assert [i.type for i in first_client.responses.input_items.list(third.id, order="asc").data] == [
        "message", "function_call", "function_call_output", "message", "message",
    ]  # fmt: skip
    second_client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        first_client.responses.retrieve(first.id)
