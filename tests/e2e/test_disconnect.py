"""A streaming client that leaves early closes the upstream request.

The fake vendor streams slowly (``SlowStream``: a long answer, one frame per ~0.25 s, so it would run
for several seconds). The client takes the first chunk and disconnects, three ways: an httpx2 stream
closed early, a raw socket closed, and the OpenAI SDK's ``Stream.close()``. The upstream request must
end within a couple of seconds (the fake sees its client go), and the gateway's in-flight count must
return to 0.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from starlette.applications import Starlette

from bifrost_asgi import bifrost_app
from tests.support import FakeProvider, Hang, ServerHandle, SlowStream, run_gateway, run_server

pytestmark = pytest.mark.e2e

DELAY = 0.25
WORDS = " ".join(f"word{i}" for i in range(40))  # ~45 frames: >10 s if nobody stops it
BODY: dict[str, Any] = {
    "model": "openai/gpt-4o-mini",
    "messages": [{"role": "user", "content": WORDS}],
    "stream": True,
}


@pytest.fixture
def served(fake_provider: FakeProvider) -> Iterator[tuple[Starlette, ServerHandle]]:
    config = {
        "providers": {
            "openai": {"keys": [{"value": "sk-test-secret-123"}], "network_config": {"base_url": fake_provider.url}}
        }
    }
    app = bifrost_app(config=config)
    with run_server(app) as handle:
        yield app, handle


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.01)


def leave_with_httpx(url: str) -> bytes:
    with httpx2.Client() as client, client.stream("POST", url + "/v1/chat/completions", json=BODY) as response:
        assert response.status_code == 200
        # leaving the block closes the half-read response: httpx2 drops the connection
        return next(response.iter_raw())


def leave_with_socket(url: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    body = httpx2.Request("POST", url, json=BODY).read()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        received = b""
        while b"data:" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the first event: {received!r}"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return received


def leave_with_sdk(url: str) -> bytes:
    client = openai.OpenAI(base_url=url + "/openai/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": WORDS}], stream=True
    )
    first = next(iter(stream))
    stream.close()
    client.close()
    return first.model_dump_json().encode()


@pytest.mark.parametrize("leave", [leave_with_httpx, leave_with_socket, leave_with_sdk])
def test_client_disconnect_closes_upstream(
    fake_provider: FakeProvider, served: tuple[Starlette, ServerHandle], leave: Callable[[str], bytes]
) -> None:
    app, handle = served
    gateway = app.state.gateway
    fake_provider.always("openai", SlowStream(delay_per_chunk=DELAY))

    first = leave(handle.url)

    assert first
    assert fake_provider.count("/chat/completions") == 1
    # The upstream stream had many frames to go; it ends because the gateway hung up on it.
    wait_until(lambda: fake_provider.active_requests == 0, 2.0, "upstream request still open")
    wait_until(lambda: gateway.in_flight == 0, 2.0, "gateway still counts the request in flight")
    assert fake_provider.count("/chat/completions") == 1  # no retry after the client left


def test_gateway_still_serves_after_disconnects(
    fake_provider: FakeProvider, served: tuple[Starlette, ServerHandle]
) -> None:
    app, handle = served
    fake_provider.script("openai", [SlowStream(delay_per_chunk=DELAY), SlowStream(delay_per_chunk=DELAY)])
    leave_with_httpx(handle.url)
    leave_with_socket(handle.url)
    wait_until(lambda: fake_provider.active_requests == 0, 2.0, "upstream requests still open")

    with httpx2.Client(base_url=handle.url) as client:
        response = client.post("/v1/chat/completions", json={**BODY, "stream": False})
        ready = client.get("/health/ready").json()
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].endswith("word39")
    assert app.state.gateway.in_flight == 0
    assert ready["in_flight"] == 0
    assert ready["providers"]["openai"]["queue"]["in_flight"] == 0


# --------------------------------------------------------------------------- before the first byte

SETTLE = 20.0  # seconds: only bounds a hang (the upstream below would hold for 60)


def _open_request(url: str, body: dict[str, Any]) -> socket.socket:
    """A request sent on a raw socket, its answer not read."""
    host, port = url.removeprefix("http://").split(":")
    payload = httpx2.Request("POST", url, json=body).read()
    sock = socket.create_connection((host, int(port)), timeout=SETTLE)
    sock.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def test_clients_that_leave_before_the_first_byte_cost_nothing(fake_provider: FakeProvider) -> None:
    """One request holds the only slot (its upstream hangs); five more queue behind it and leave.
    They leave the queue at once and never reach the upstream; the holder leaving cancels its
    upstream call; a live client afterwards is served at once."""
    config = {
        "providers": {
            "openai": {
                "keys": [{"value": "sk-test-secret-123"}],
                "network_config": {"base_url": fake_provider.url, "default_request_timeout_in_seconds": 120},
                "concurrency_and_buffer_size": {"concurrency": 1, "buffer_size": 100},
            }
        }
    }
    plain = {**BODY, "stream": False}
    fake_provider.script("openai", [Hang(60)])
    with run_gateway(config) as gw, httpx2.Client(base_url=gw.url, timeout=SETTLE) as http:

        def queue() -> dict[str, int]:
            return http.get("/health/ready").json()["providers"]["openai"]["queue"]  # type: ignore[no-any-return]

        holder = _open_request(gw.url, plain)
        wait_until(lambda: fake_provider.active_requests == 1, SETTLE, "the holder never reached the upstream")
        leavers = [_open_request(gw.url, {**plain, "stream": stream}) for stream in (False, True, False, True, False)]
        wait_until(lambda: queue()["waiting"] == 5, SETTLE, "the five never queued")
        for sock in leavers:
            sock.close()
        wait_until(lambda: queue()["waiting"] == 0, SETTLE, "departed clients kept their places in the queue")
        holder.close()
        wait_until(lambda: fake_provider.active_requests == 0, SETTLE, "the holder's upstream call was not cancelled")
        wait_until(lambda: queue()["in_flight"] == 0, SETTLE, "the holder's slot was not released")
        live = http.post("/v1/chat/completions", json=plain)
        assert live.status_code == 200
    assert fake_provider.count("/chat/completions") == 2  # the holder and the live one: no leaver billed
