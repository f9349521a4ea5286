"""``bifrost-asgi`` stopped by SIGTERM (``docker stop``, a Kubernetes rollout): the request in flight
finishes, then the command exits 0 (uvicorn re-raises the signal it caught, which used to end the
process as killed by SIGTERM: 143 in Docker, a failed container to an orchestrator)."""

from __future__ import annotations

import concurrent.futures
import json
import signal
from pathlib import Path

import openai
import pytest

from tests.support import FakeProvider, Hang
from tests.support.processes import free_port, serve_command

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_the_request_in_flight_then_exits_0(
    fake_provider: FakeProvider, tmp_path: Path, workers: int
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"providers": {"openai": {
        "keys": [{"value": "sk-test", "models": ["gpt-4o-mini"]}],
        "network_config": {"base_url": fake_provider.url},
    }}}))  # fmt: skip
    fake_provider.script("/chat/completions", [Hang(seconds=1.0)])
    port = free_port()
    argv = ["{python}", "-m", "bifrost_asgi", "-config", str(config), "-port", str(port), "--workers", str(workers)]
    with serve_command(argv, port) as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0, timeout=30)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                client.chat.completions.create, model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            fake_provider.wait_for(lambda: fake_provider.active_requests == 1, timeout=30)
            served.process.send_signal(signal.SIGTERM)
            assert answer.result(timeout=30).choices[0].message.content == "openai says: hi"
        served.process.wait(timeout=30)
    assert served.process.returncode == 0, served.output
    assert "Application shutdown complete" in served.output
