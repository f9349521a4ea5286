"""The real CLI with ``--workers 2``: Prometheus multiprocess mode makes every /metrics scrape,
whichever worker answers it, show the totals of both workers; the metrics directory the CLI made
is removed on shutdown (one given in PROMETHEUS_MULTIPROC_DIR is left alone)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.support import FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, FakeProvider

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-workers-key-Hq27vbN0xc"
PLAIN, STREAMED = 180, 20
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_cli(config: Path, env: Mapping[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m bifrost_asgi --workers 2`` until /health answers; SIGTERM and wait on exit."""
    port = _free_port()
    argv = [sys.executable, "-m", "bifrost_asgi", "--config", str(config), "--port", str(port), "--workers", "2",
            "--log-level", "warning"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the CLI exited with {proc.returncode} before serving:\n{log.read_text()}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(url + "/health", timeout=2.0).json() == {"status": "ok"}:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"2 workers did not start within {START_TIMEOUT:g}s:\n{log.read_text()}")
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


def _sum(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _has(text: str, name: str, **labels: str) -> bool:
    return any(
        s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


def _requests_per_worker(directory: Path) -> dict[str, float]:
    """bifrost_requests_total per worker pid, read from the multiprocess counter files."""
    out: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        out[path.stem] = sum(v for key, v, *_ in values if json.loads(key)[1] == "bifrost_requests_total")
    return out


def _drive(url: str, metrics_dir: Path) -> int:
    """PLAIN + STREAMED chat requests from 8 threads, each on a new connection (no keep-alive),
    so the kernel spreads them over both workers; then more plain ones, in bursts, until both
    workers have served some (with the other core busy, one worker can win every accept for a
    while). Returns the number of plain requests sent."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "spread"}]}
    with httpx2.Client(base_url=url, timeout=30.0, limits=httpx2.Limits(max_keepalive_connections=0)) as http:

        def plain(_: int) -> None:
            reply = http.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200, reply.text

        def streamed(_: int) -> None:
            with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as reply:
                assert reply.status_code == 200
                assert reply.read().rstrip().endswith(b"data: [DONE]")

        sent = PLAIN
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(plain, range(PLAIN)))
            list(pool.map(streamed, range(STREAMED)))
            while _workers_served(metrics_dir) < 2 and sent < 50 * PLAIN:  # the bound only stops a hang
                list(pool.map(plain, range(40)))
                sent += 40
    return sent


def _workers_served(directory: Path) -> int:
    return sum(1 for n in _requests_per_worker(directory).values() if n > 0)


def _scrape_settled(url: str) -> str:
    """A scrape once no request is in flight (a stream is counted just after its last byte)."""
    deadline = time.monotonic() + 5.0
    while True:
        text = httpx2.get(url + "/metrics", headers={"connection": "close"}, timeout=5.0).text
        if _sum(text, "bifrost_in_flight_requests") == 0 or time.monotonic() > deadline:
            return text
        time.sleep(0.02)


def _check_totals(url: str, fake: FakeProvider, plain: int) -> None:
    total = plain + STREAMED
    assert fake.count("/chat/completions") == total
    _scrape_settled(url)

    def scrape(_: int) -> str:
        return httpx2.get(url + "/metrics", headers={"connection": "close"}, timeout=5.0).text

    with ThreadPoolExecutor(4) as pool:  # new connections, concurrently: both workers answer some
        scrapes = list(pool.map(scrape, range(8)))
    for text in scrapes:
        assert _sum(text, "bifrost_requests_total") == total
        assert _sum(text, "bifrost_requests_total", status="200", stream="true") == STREAMED
        assert _sum(text, "bifrost_request_duration_seconds_count") == total
        assert _sum(text, "http_requests_total", path="/v1/chat/completions", method="POST") == total
        assert _sum(text, "bifrost_upstream_requests_total") == total
        assert _sum(text, "bifrost_success_requests_total") == total
        assert _sum(text, "bifrost_input_tokens_total") == FAKE_PROMPT_TOKENS * total
        assert _sum(text, "bifrost_output_tokens_total") == FAKE_COMPLETION_TOKENS * total
        assert _sum(text, "bifrost_stream_first_token_latency_seconds_count") == STREAMED
        assert _sum(text, "bifrost_in_flight_requests") == 0 and _has(text, "bifrost_in_flight_requests")
        assert _sum(text, "bifrost_queue_depth") == 0 and _has(text, "bifrost_queue_depth", provider="openai")
        assert KEY not in text


def _write_config(tmp_path: Path, fake: FakeProvider) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "providers": {"openai": {"keys": [{"value": KEY, "models": ["*"]}], "network_config": {"base_url": fake.url}}},
        "client": {"enable_logging": False},
    }))  # fmt: skip
    return config


def _base_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR" and not k.startswith("BIFROST_")}
    tmpdir.mkdir()
    env["TMPDIR"] = str(tmpdir)  # where the CLI's mkdtemp puts its metrics directory
    return env


def test_two_workers_share_exact_totals_and_the_cli_dir_is_removed(tmp_path: Path, fake_provider: FakeProvider) -> None:
    tmpdir = tmp_path / "tmp"
    env = _base_env(tmpdir)
    with serve_cli(_write_config(tmp_path, fake_provider), env, tmp_path / "cli.log") as (url, proc):
        made = list(tmpdir.glob("bifrost-asgi-metrics-*"))
        assert len(made) == 1 and made[0].is_dir(), "the CLI makes one PROMETHEUS_MULTIPROC_DIR for its workers"
        plain = _drive(url, made[0])
        _check_totals(url, fake_provider, plain)
        per_worker = _requests_per_worker(made[0])
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
        assert sum(per_worker.values()) == plain + STREAMED
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "cli.log").read_text()
    assert not made[0].exists(), "the temporary metrics directory must be removed on shutdown"
    assert list(tmpdir.iterdir()) == []


def test_two_workers_use_a_given_multiproc_dir_and_leave_it(tmp_path: Path, fake_provider: FakeProvider) -> None:
    env = _base_env(tmp_path / "tmp")
    given = tmp_path / "prom"
    given.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    with serve_cli(_write_config(tmp_path, fake_provider), env, tmp_path / "cli.log") as (url, proc):
        _check_totals(url, fake_provider, _drive(url, given))
        per_worker = _requests_per_worker(given)
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
        assert list((tmp_path / "tmp").glob("bifrost-asgi-metrics-*")) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "cli.log").read_text()
    assert given.is_dir() and list(given.glob("counter_*.db")), "a user-given directory is left in place"
