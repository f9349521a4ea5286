"""Connection-level limits (bifrost_asgi.serving) on real sockets, both uvicorn protocols: a head
that does not arrive in time is a 408, a head too large a 431, connections past the maximum get
503, kept-alive connections go idle-closed; the CLI lifts RLIMIT_NOFILE and applies all of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bifrost_asgi.serving import GuardedH11Protocol, guarded_protocol
from tests.e2e.test_shutdown import _listening_socket
from tests.support.servers import LoopThread

BOUND = 30.0  # seconds: only bounds a hang
PROTOCOLS = [GuardedH11Protocol, guarded_protocol()]
GET = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
SLOW = 1.2  # seconds /slow takes: longer than the head deadline of the tests that use it


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":  # served for longer than the tests' head deadline
        await asyncio.sleep(SLOW)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def serving(protocol: type[asyncio.Protocol], *, head_timeout: float, **options: Any) -> Iterator[tuple[str, int]]:
    config = uvicorn.Config(_app, http=protocol, log_level="warning", log_config=None, lifespan="off", **options)
    config.bifrost_header_read_timeout = head_timeout  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    loop = LoopThread(name="serving-test")
    sock = _listening_socket()
    serving_future = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop.loop)
    deadline = time.monotonic() + BOUND
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        serving_future.result(BOUND)
        loop.stop()
        sock.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=BOUND)


def _response(sock: socket.socket) -> bytes:
    """One whole response (head and content-length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_heads_that_never_finish_are_a_408(protocol: type[asyncio.Protocol]) -> None:
    with serving(protocol, head_timeout=0.5) as address:
        idle, dribbling = _connect(address), _connect(address)
        dribbling.sendall(b"GET /health HTTP/1.1\r\n")
        for _ in range(3):
            with contextlib.suppress(OSError):
                dribbling.sendall(b"x")  # a header byte now and then never extends the deadline
            time.sleep(0.3)
        for sock in (idle, dribbling):
            assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
            sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_a_head_too_large_is_a_431(protocol: type[asyncio.Protocol]) -> None:
    with serving(protocol, head_timeout=BOUND, h11_max_incomplete_event_size=8192) as address:
        sock = _connect(address)
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20_000 + b"\r\n\r\n")
        answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["message"]
        ok = _connect(address)
        ok.sendall(GET)
        assert _response(ok).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_keep_alive_requests_rearm_the_deadline_and_idle_connections_close(protocol: type[asyncio.Protocol]) -> None:
    with serving(protocol, head_timeout=BOUND, timeout_keep_alive=0.5) as address:
        sock = _connect(address)
        for _ in range(3):
            sock.sendall(GET)
            assert _response(sock).startswith(b"HTTP/1.1 200 ")
        assert _read_all(sock) == b""  # closed by the keep-alive idle timeout


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_each_request_gets_a_whole_head_deadline_on_a_kept_alive_connection(protocol: type[asyncio.Protocol]) -> None:
    """The deadline is the head's own, counted from the end of the previous response: requests
    that each come well within it keep the connection past several deadlines in all, and a
    request served for longer than the deadline (its head complete) is not cut; a connection that
    then stays silent is still closed by it."""
    with serving(protocol, head_timeout=0.8) as address:
        sock = _connect(address)
        for _ in range(5):  # 5 x 0.3 s: twice the deadline in all
            time.sleep(0.3)
            sock.sendall(GET)
            assert _response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(GET)
        assert _response(sock).startswith(b"HTTP/1.1 200 ")
        assert _read_all(sock) == b""  # idle after a served request: closed, without a 408


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_connections_past_the_maximum_get_503(protocol: type[asyncio.Protocol]) -> None:
    with serving(protocol, head_timeout=BOUND, limit_concurrency=10) as address:
        held = [_connect(address) for _ in range(10)]
        time.sleep(0.2)  # let the server accept them (only ordering, not a threshold)
        late = _connect(address)
        late.sendall(GET)
        assert _response(late).startswith(b"HTTP/1.1 503 ")
        for sock in held:
            sock.close()
        deadline = time.monotonic() + BOUND
        while True:
            retry = _connect(address)
            retry.sendall(GET)
            if _response(retry).startswith(b"HTTP/1.1 200 ") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        retry.sendall(GET)
        assert _response(retry).startswith(b"HTTP/1.1 200 ")


def test_the_soft_open_file_limit_is_raised_to_the_hard_limit() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from bifrost_asgi.serving import raise_open_file_limit\n"
        "raise_open_file_limit()\n"
        "want = hard if hard != resource.RLIM_INFINITY else 1 << 20\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == want)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=BOUND, check=True)
    assert out.stdout.strip() == "True", out.stderr


def test_the_cli_applies_the_limits(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"providers": {"mock": {}}, "client": {"header_read_timeout_seconds": 0.5,
                                                                        "max_header_size_kb": 4}}))  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    # Port 0: uvicorn binds a free port itself and names it (no race with other processes for one).
    argv = [sys.executable, "-m", "bifrost_asgi", "--config", str(config), "--port", "0", "--log-level", "info"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}  # other tests' settings stay out
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:  # ends if the CLI exits
            seen.append(line)
            found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        else:
            pytest.fail(f"the CLI did not start: {''.join(seen)}")
        sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
        big = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        big.sendall(b"GET /health HTTP/1.1\r\nx-big: " + b"a" * 8000 + b"\r\n\r\n")
        assert _read_all(big).startswith(b"HTTP/1.1 431 ")
    finally:
        proc.terminate()
        proc.wait(BOUND)
