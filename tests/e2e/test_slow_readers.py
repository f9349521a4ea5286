"""Clients that never read: a stream whose client stops reading must not hold its provider slot
forever. With ``client.stream_write_timeout_seconds`` the stream ends once no byte could be
written for that long, and the slot goes to the next request."""

from __future__ import annotations

import socket
from typing import Any

import httpx2
import pytest

from tests.support import RecordedRequest, Reply, run_gateway, running_fake, sse

pytestmark = pytest.mark.e2e

SETTLE = 30.0  # seconds: only bounds a hang


def _big_stream(request: RecordedRequest) -> Reply:
    """~10 MB of content: far more than the socket buffers between the gateway and a client."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})  # fmt: skip

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": "x" * 65536}) for _ in range(150)]
    return Reply(sse=[*frames, chunk({}, "stop"), b"data: [DONE]\n\n"])


def _stalled_stream(url: str, body: bytes) -> socket.socket:
    """A streamed request on a socket with a tiny receive buffer that is then never read."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(SETTLE)
    sock.connect((host, int(port)))
    sock.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def test_clients_that_stop_reading_free_their_slots() -> None:
    with running_fake() as fake:
        fake.respond("/chat/completions", _big_stream)
        config = {
            "providers": {
                "openai": {
                    "keys": [{"value": "sk-slow-reader-key"}],
                    "network_config": {"base_url": fake.url, "default_request_timeout_in_seconds": 20},
                    "concurrency_and_buffer_size": {"concurrency": 2, "buffer_size": 10},
                }
            },
            "client": {"stream_write_timeout_seconds": 1},
        }
        body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        raw = httpx2.Request("POST", "http://x", json=body).read()
        with run_gateway(config) as gw, httpx2.Client(base_url=gw.url, timeout=SETTLE) as http:
            stalled = [_stalled_stream(gw.url, raw) for _ in range(2)]
            try:
                fake.wait_for(lambda: fake.count("/chat/completions") == 2, SETTLE)
                # Both slots are taken by clients that read nothing; a third client still gets served.
                with http.stream("POST", "/v1/chat/completions", json=body) as live:
                    assert live.status_code == 200
                    received = sum(len(chunk) for chunk in live.iter_bytes())
                assert received > 150 * 65536
                queue = http.get("/health/ready").json()["providers"]["openai"]["queue"]
                assert queue["waiting"] == 0
            finally:
                for sock in stalled:
                    sock.close()
            fake.wait_for(lambda: fake.active_requests == 0, SETTLE)
