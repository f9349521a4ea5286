"""A server command run as its own process on a free loopback port, for tests that need a real
start: its log output (stderr) is collected, and it is stopped with SIGTERM like a container."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a fresh shell: no vendor keys, no BIFROST_* variables."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **(extra or {})}


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    output: str = ""  # stderr + stdout, after the process ended


def _wait_listening(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.communicate()[0]
            raise RuntimeError(f"server exited with {process.returncode} before listening:\n{out}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT:.0f}s")


@contextlib.contextmanager
def serve_command(
    argv: Sequence[str], port: int, *, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> Iterator[Served]:
    """Run ``argv`` (``{python}`` is replaced by this interpreter), wait until ``port`` accepts,
    yield; then SIGTERM, wait, and keep its output in ``Served.output``."""
    args = [sys.executable if a == "{python}" else a for a in argv]
    process = subprocess.Popen(
        args, cwd=cwd, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        _wait_listening(process, port)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            served.output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            served.output = process.communicate()[0]
