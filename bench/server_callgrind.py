"""Instructions per request of a whole server process (uvicorn, the app, its upstream client), the
floor and the gateway alike, counted by valgrind's callgrind, which does not vary with machine load.

The server runs under ``valgrind --tool=callgrind`` against the bench's nginx; after a warm-up its
counters are dumped (``callgrind_control --dump``), then ``-n`` requests are sent one at a time on a
kept-alive connection and the counters dumped again: the second dump's total divided by ``-n`` is
the cost of one request, everything in the process included (an idle event loop costs next to
nothing between them).

    .venv/bin/python bench/server_callgrind.py                    # floor, gateway openai->openai
    .venv/bin/python bench/server_callgrind.py floor anthropic    # rows by name (see --help)
    .venv/bin/python bench/server_callgrind.py vk vk-redis        # the bench's virtual key, counters in
                                                                  # process / on a redis-server (not counted)
    .venv/bin/python bench/server_callgrind.py mcp info           # MCP tools injected (their server's process
                                                                  # not counted); log level info
    .venv/bin/python bench/server_callgrind.py multiproc          # metrics in PROMETHEUS_MULTIPROC_DIR files,
                                                                  # as each worker of --workers N writes them
    .venv/bin/python bench/server_callgrind.py floor-stream floor-stream-long stream stream-long
                                                                  # streamed OpenAI->OpenAI: 24 and 224 events;
                                                                  # a row with its -long twin also prints the
                                                                  # instructions per extra event
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ANTHROPIC_HEADERS,
    LONG_STREAM_PIECES,
    OPENAI_HEADERS,
    KeepAliveClient,
    Procs,
    anthropic_request,
    free_port,
    gateway_argv,
    genai_request,
    make_workdir,
    openai_request,
    run_many,
    start_nginx,
    wait_port,
)
from mcp_tools import client_config as mcp_client_config
from run import GOVERNANCE, VK_HEADERS

BENCH = Path(__file__).resolve().parent
VENV_PY = BENCH.parent / ".venv" / "bin" / "python"
GW_MODEL = "openai/gpt-4o-mini"
FLOOR_STREAM = openai_request("gpt-4o-mini", stream=True)
SHORT_STREAM_PIECES = 20  # content chunks of nginx's /stream answer (sse_chunks' default)


@dataclass(frozen=True)
class Row:
    server: str  # "floor" or "gateway"
    path: str
    body: bytes
    headers: dict[str, str]
    expect: bytes
    governance: str = ""  # "memory" or "redis": the bench's virtual key and rate limit, counters there
    mcp: bool = False  # bench/mcp_tools.py's three tools injected into each request (none called)
    log_level: str = "warning"
    multiproc: bool = False  # metrics in PROMETHEUS_MULTIPROC_DIR mmap files (each worker of --workers N)


ROWS: dict[str, Row] = {
    "floor": Row("floor", "/v1/chat/completions", openai_request("gpt-4o-mini"), OPENAI_HEADERS, b'"choices"'),
    "openai": Row("gateway", "/v1/chat/completions", openai_request(GW_MODEL), OPENAI_HEADERS, b'"choices"'),
    "openai-path": Row(
        "gateway", "/openai/v1/chat/completions", openai_request("gpt-4o-mini"), OPENAI_HEADERS, b'"choices"'
    ),
    "anthropic": Row(
        "gateway", "/anthropic/v1/messages", anthropic_request(GW_MODEL), ANTHROPIC_HEADERS, b'"type":"message"'
    ),
    "to-anthropic": Row(
        "gateway",
        "/v1/chat/completions",
        openai_request("anthropic/claude-3-5-haiku-latest"),
        OPENAI_HEADERS,
        b'"choices"',
    ),
    "genai": Row(
        "gateway",
        "/genai/v1beta/models/openai/gpt-4o-mini:generateContent",
        genai_request(),
        OPENAI_HEADERS,
        b'"candidates"',
    ),
    "vk": Row("gateway", "/v1/chat/completions", openai_request(GW_MODEL), VK_HEADERS, b'"choices"', "memory"),
    "vk-redis": Row("gateway", "/v1/chat/completions", openai_request(GW_MODEL), VK_HEADERS, b'"choices"', "redis"),
    "mcp": Row("gateway", "/v1/chat/completions", openai_request(GW_MODEL), OPENAI_HEADERS, b'"choices"', mcp=True),
    "multiproc": Row(
        "gateway", "/v1/chat/completions", openai_request(GW_MODEL), OPENAI_HEADERS, b'"choices"', multiproc=True
    ),
    "info": Row(
        "gateway", "/v1/chat/completions", openai_request(GW_MODEL), OPENAI_HEADERS, b'"choices"', log_level="info"
    ),
    # Streams: nginx's /stream and /streamlong answers (20 and LONG_STREAM_PIECES content chunks).
    "floor-stream": Row("floor", "/stream/v1/chat/completions", FLOOR_STREAM, OPENAI_HEADERS, b"[DONE]"),
    "floor-stream-long": Row("floor", "/streamlong/v1/chat/completions", FLOOR_STREAM, OPENAI_HEADERS, b"[DONE]"),
    "stream": Row(
        "gateway", "/v1/chat/completions", openai_request("short/gpt-4o-mini", stream=True), OPENAI_HEADERS, b"[DONE]"
    ),
    "stream-long": Row(
        "gateway", "/v1/chat/completions", openai_request("long/gpt-4o-mini", stream=True), OPENAI_HEADERS, b"[DONE]"
    ),
}


def _server_argv(row: Row, workdir: Path, nginx: int, port: int, redis_url: str | None) -> list[str]:
    if row.server == "floor":
        argv = [str(VENV_PY), "-m", "uvicorn", "floor_proxy:app", "--app-dir", str(BENCH)]
        return [*argv, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    keys = [{"value": "sk-bench", "models": [], "weight": 1.0}]
    upstream = {"keys": keys, "network_config": {"base_url": f"http://127.0.0.1:{nginx}"}}
    config = workdir / "gateway.json"
    providers: dict[str, Any] = {"openai": upstream, "anthropic": upstream}
    for name, prefix in (("short", "/stream"), ("long", "/streamlong")):  # OpenAI-type providers at nginx's streams
        providers[name] = {
            "keys": keys,
            "network_config": {"base_url": f"http://127.0.0.1:{nginx}{prefix}"},
            "custom_provider_config": {"base_provider_type": "openai"},
        }
    settings: dict[str, Any] = {"providers": providers}
    if row.governance:
        settings["governance"] = GOVERNANCE
    if redis_url is not None:
        settings["redis_url"] = redis_url
    if row.mcp:
        # No health check within the run: under callgrind (50x slower) its pings would count per request.
        settings["mcp"] = {"client_configs": [mcp_client_config(str(VENV_PY))], "health_check_interval": 3600}
    config.write_text(json.dumps(settings))
    argv = [*gateway_argv(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return [*argv, "--log-level", row.log_level]


def _dump_total(pid: int, out_prefix: Path, before: set[Path]) -> int:
    """Dump the counters now; the new dump file's ``totals:`` (instructions since the last dump)."""
    subprocess.run(["callgrind_control", "--dump", str(pid)], capture_output=True, timeout=300, check=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = set(out_prefix.parent.glob(out_prefix.name + "*")) - before
        for path in new:
            text = path.read_text(errors="replace")
            found = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
            if found:
                before.add(path)
                return int(found.group(1))
        time.sleep(0.5)
    raise RuntimeError("callgrind dump did not appear")


def instructions(name: str, n: int, warmup: int, conns: int = 1) -> float:
    row = ROWS[name]
    workdir = make_workdir("server-callgrind-")
    procs = Procs(workdir)
    try:
        nginx = start_nginx(procs, workdir)
        port = free_port()
        out = workdir / "cg.out"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no"]
        env = {"FLOOR_UPSTREAM": f"http://127.0.0.1:{nginx}", "PYTHONHASHSEED": "0"}
        if row.multiproc:  # one worker, its metrics written as --workers N writes them
            (workdir / "metrics").mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")
        redis_url = None
        if row.governance == "redis":  # its own process: not counted
            redis = free_port()
            argv = ["redis-server", "--port", str(redis), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            procs.start("redis", argv, cpus=None, cwd=workdir)
            wait_port(procs, "redis", redis, 15)
            redis_url = f"redis://127.0.0.1:{redis}/0"
        argv = valgrind + _server_argv(row, workdir, nginx, port, redis_url)
        proc = procs.start("server", argv, cpus=None, env=env)
        wait_port(procs, "server", port, 600)
        client = KeepAliveClient(port, timeout=300)
        check: Callable[[], None] = lambda: _one(client, row)  # noqa: E731
        for _ in range(warmup):
            check()
        seen: set[Path] = set()
        _dump_total(proc.pid, out, seen)
        if conns == 1:
            for _ in range(n):
                check()
        else:  # n requests over `conns` kept-alive connections at once, as the socket bench's wrk
            statuses = asyncio.run(run_many(port, row.path, row.body, row.headers, count=n, concurrency=conns))
            if statuses != {"200": n}:
                raise RuntimeError(f"{row.path}: answers {statuses}")
        total = _dump_total(proc.pid, out, seen)
        client.close()
        return total / n
    finally:
        procs.stop_all()


def _one(client: KeepAliveClient, row: Row) -> None:
    reply = client.post(row.path, row.body, row.headers)
    if reply.status != 200 or row.expect not in reply.body:
        raise RuntimeError(f"{row.path}: HTTP {reply.status}: {reply.body[:300]!r}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rows", nargs="*", default=["floor", "openai"], help=f"rows: {', '.join(ROWS)}")
    p.add_argument("-n", type=int, default=300, help="measured requests per row (default 300)")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument(
        "--conns", type=int, default=1, help="connections sending the measured requests at once (default 1)"
    )
    a = p.parse_args()
    for name in a.rows:
        if name not in ROWS:
            p.error(f"unknown row {name!r}; choose from {', '.join(ROWS)}")
    counts: dict[str, float] = {}
    for name in a.rows:
        counts[name] = count = instructions(name, a.n, a.warmup, a.conns)
        floor = counts.get(_floor_of(name))
        ratio = f"  {count / floor:.2f}x the floor" if floor and not name.startswith("floor") else ""
        print(f"{name:<18} {count:12,.0f} instructions per request{ratio}", flush=True)
    for name, count in counts.items():
        short = name.removesuffix("-long")
        if name.endswith("-long") and short in counts:
            per_event = (count - counts[short]) / (LONG_STREAM_PIECES - SHORT_STREAM_PIECES)
            print(f"{short:<18} {per_event:12,.0f} instructions per extra event", flush=True)
    return 0


def _floor_of(name: str) -> str:
    """The floor row a row is compared with: its streamed twin for a stream row."""
    if name.startswith("stream"):
        return "floor-" + name
    return "floor"


if __name__ == "__main__":
    sys.exit(main())
