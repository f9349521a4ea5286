"""``python -m bifrost_asgi`` as a real process on a free loopback port, for tests that need the CLI
itself (its bind-address checks) or several independent gateway processes (replicas)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_cli(config: Path, log: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The CLI with ``--config config`` plus ``args``, output in ``log``, until ``/health`` answers 200;
    SIGTERM (then SIGKILL) on exit. ``BIFROST_*`` variables of the test run are not passed on."""
    port = free_port()
    argv = [sys.executable, "-m", "bifrost_asgi", "--config", str(config), "--port", str(port), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the CLI exited with {proc.returncode}:\n{log.read_text()}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(url + "/health", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the CLI did not start within {START_TIMEOUT:g}s:\n{log.read_text()}")
            time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
