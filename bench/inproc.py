"""The gateway's own cost per request, in process: no sockets, no event-loop I/O, no load generator.

The app built by ``bifrost_app`` is called as an ASGI app N times in a row, with the upstream seam
replaced by a static one that returns the bench's fixed answers at once. What is left is exactly
the gateway's per-request work: body reading, parsing, routing, request building, response parsing
and rendering, metrics, headers, the request log. Three ways to look at it:

    .venv/bin/python bench/inproc.py                     # CPU µs per request for every pair
    .venv/bin/python bench/inproc.py openai --profile    # + cProfile top functions (deterministic)
    .venv/bin/python bench/inproc.py openai anthropic --callgrind   # instructions per request (valgrind)

The event loop is uvloop's when it is installed (as uvicorn picks it), else asyncio's.

Pairs: openai (OpenAI -> OpenAI provider), openai-path (/openai/v1 drop-in path), anthropic
(Anthropic -> OpenAI provider), to-anthropic (OpenAI -> Anthropic provider), genai (GenAI -> OpenAI),
stream (OpenAI -> OpenAI, streamed, 24 events), anthropic-stream (Anthropic stream from the OpenAI one),
stream-long and anthropic-stream-long (the same with 220 content events: the difference / 200 is the
cost of one more streamed event; the upstream hands over one event per read, as a model does),
stream-burst and stream-burst-long (the same two streams handed over in one read, as nginx sends
them in the socket bench and as a buffering proxy or a fast model's short answer does),
responses (Responses -> OpenAI's Responses endpoint), responses-anthropic (Responses -> Anthropic),
vk (openai with a virtual key and its rate limit, counters in process), vk-redis (the same with the
counters on a ``redis-server`` this script starts; under ``--callgrind`` only the gateway's process is
counted, not the server's), mcp (openai with the three tools of bench/mcp_tools.py injected, none
called; its stdio server is another process, not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ANTHROPIC_HEADERS,
    LONG_STREAM_PIECES,
    OPENAI_HEADERS,
    anthropic_message_body,
    anthropic_request,
    chat_completion_body,
    genai_request,
    openai_request,
    redis_server,
    responses_body,
    responses_request,
    sse_chunks,
)
from mcp_tools import client_config as mcp_client_config
from run import BENCH_VK, GOVERNANCE

from bifrost_asgi.asgi.app import bifrost_app
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.upstream.base import Timeouts


class _Stream:
    status = 200
    headers: Mapping[str, str] = {"content-type": "text/event-stream"}

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def chunks(self) -> Any:
        for chunk in self._chunks:
            yield chunk

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        return None


class StaticUpstream:
    """Answers every call after one turn of the event loop (as a socket read would: the request's
    task yields once, so whatever it scheduled meanwhile runs): the OpenAI body for OpenAI URLs,
    the Anthropic one for Anthropic's."""

    def __init__(self, pieces: int = 20, burst: bool = False) -> None:
        self.openai = UpstreamResponse(200, {"content-type": "application/json"}, chat_completion_body())
        self.anthropic = UpstreamResponse(200, {"content-type": "application/json"}, anthropic_message_body())
        self.responses = UpstreamResponse(200, {"content-type": "application/json"}, responses_body())
        self.sse = sse_chunks(pieces)
        if burst:
            self.sse = [b"".join(self.sse)]

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        await asyncio.sleep(0)
        if request.url.endswith("/responses"):
            return self.responses
        return self.anthropic if "/messages" in request.url else self.openai

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> _Stream:
        await asyncio.sleep(0)
        return _Stream(self.sse)

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class Pair:
    path: str
    body: bytes
    headers: Mapping[str, str]
    expect: bytes  # a byte string the 200 answer must contain
    governance: bool = False  # the bench's virtual key with a rate limit (counters in process)
    redis: bool = False  # with governance: the counters on a redis-server started for the run
    pieces: int = 20  # content events of a streamed answer
    burst: bool = False  # the whole stream in one upstream read (else one event per read)
    mcp: bool = False  # bench/mcp_tools.py's tools injected (measured once they are listed)


PAIRS: dict[str, Pair] = {
    "openai": Pair("/v1/chat/completions", openai_request("openai/gpt-4o-mini"), OPENAI_HEADERS, b'"choices"'),
    "openai-path": Pair("/openai/v1/chat/completions", openai_request("gpt-4o-mini"), OPENAI_HEADERS, b'"choices"'),
    "anthropic": Pair(
        "/anthropic/v1/messages", anthropic_request("openai/gpt-4o-mini"), ANTHROPIC_HEADERS, b'"type":"message"'
    ),
    "to-anthropic": Pair(
        "/v1/chat/completions", openai_request("anthropic/claude-3-5-haiku-latest"), OPENAI_HEADERS, b'"choices"'
    ),
    "genai": Pair(
        "/genai/v1beta/models/openai/gpt-4o-mini:generateContent", genai_request(), OPENAI_HEADERS, b'"candidates"'
    ),
    "stream": Pair(
        "/v1/chat/completions", openai_request("openai/gpt-4o-mini", stream=True), OPENAI_HEADERS, b"[DONE]"
    ),
    "responses": Pair("/v1/responses", responses_request("openai/gpt-4o-mini"), OPENAI_HEADERS, b'"output"'),
    "responses-anthropic": Pair(
        "/v1/responses", responses_request("anthropic/claude-3-5-haiku-latest"), OPENAI_HEADERS, b'"output"'
    ),
    "vk": Pair(
        "/v1/chat/completions",
        openai_request("openai/gpt-4o-mini"),
        {"Content-Type": "application/json", "Authorization": f"Bearer {BENCH_VK}"},
        b'"choices"',
        governance=True,
    ),
    "anthropic-stream": Pair(
        "/anthropic/v1/messages",
        anthropic_request("openai/gpt-4o-mini", stream=True),
        ANTHROPIC_HEADERS,
        b"message_stop",
    ),
}
PAIRS["vk-redis"] = replace(PAIRS["vk"], redis=True)
PAIRS["mcp"] = replace(PAIRS["openai"], mcp=True)
PAIRS["stream-long"] = replace(PAIRS["stream"], pieces=LONG_STREAM_PIECES)
PAIRS["anthropic-stream-long"] = replace(PAIRS["anthropic-stream"], pieces=LONG_STREAM_PIECES)
PAIRS["stream-burst"] = replace(PAIRS["stream"], burst=True)
PAIRS["stream-burst-long"] = replace(PAIRS["stream-long"], burst=True)

DEFAULT_N = 5000
CONFIG = {
    "providers": {
        "openai": {"keys": [{"value": "sk-bench", "models": [], "weight": 1.0}]},
        "anthropic": {"keys": [{"value": "sk-ant-bench", "models": [], "weight": 1.0}]},
    }
}


def build_app(pair: Pair | None = None, redis_url: str | None = None) -> Any:
    config: dict[str, Any] = dict(CONFIG)
    if pair is not None and pair.governance:
        config["governance"] = GOVERNANCE
    if redis_url is not None:
        config["redis_url"] = redis_url
    if pair is not None and pair.mcp:
        # No health check within the run: under callgrind (50x slower) its pings would count per request.
        config["mcp"] = {"client_configs": [mcp_client_config(sys.executable)], "health_check_interval": 3600}
    app = bifrost_app(config=config)
    gateway = app.state.gateway
    gateway.upstream = gateway.router.upstream = StaticUpstream(
        pair.pieces if pair is not None else 20, pair.burst if pair is not None else False
    )
    return app


class Driver:
    """Calls the ASGI app the way uvicorn does: one scope, one body message, collect what it sends."""

    def __init__(self, app: Any, pair: Pair) -> None:
        self.app = app
        self.pair = pair
        path, _, query = pair.path.partition("?")
        self.raw_headers = [(k.lower().encode(), v.encode()) for k, v in pair.headers.items()]
        self.raw_headers.append((b"content-length", str(len(pair.body)).encode()))
        self.path = path
        self.query = query.encode()

    async def one(self) -> bytes:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": self.query,
            "headers": self.raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False
        body = self.pair.body
        parts: list[bytes] = []
        status = 0
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        out = b"".join(parts)
        if status != 200 or self.pair.expect not in out:
            raise RuntimeError(f"{self.pair.path}: HTTP {status}: {out[:300]!r}")
        return out


async def run(driver: Driver, n: int) -> None:
    if driver.pair.mcp:
        await mcp_listed(driver.app)
    one = driver.one
    for _ in range(n):
        await one()


async def mcp_listed(app: Any, timeout: float = 120.0) -> None:
    """Start the gateway's MCP connections and wait until their tools are listed."""
    runtime = app.state.gateway.mcp
    runtime.start()
    deadline = time.monotonic() + timeout
    while not runtime.tools():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the MCP tools were not listed within {timeout:g}s: {runtime.health()}")
        await asyncio.sleep(0.05)


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed, as uvicorn's ``--loop auto`` picks, else asyncio's."""
    try:
        import uvloop
    except ModuleNotFoundError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@contextlib.contextmanager
def redis_for(pair: Pair) -> Iterator[str | None]:
    """A redis-server's URL for a pair whose counters are on Redis (killed afterwards), else None."""
    if not pair.redis:
        yield None
        return
    with redis_server() as (url, _):
        yield url


def measure(name: str, n: int, warmup: int) -> float:
    """CPU µs per request (process time) over ``n`` requests after ``warmup``."""
    with redis_for(PAIRS[name]) as redis_url:
        app = build_app(PAIRS[name], redis_url)
        driver = Driver(app, PAIRS[name])
        loop = new_loop()
        try:
            loop.run_until_complete(run(driver, warmup))
            gc.collect()
            t0 = time.process_time()
            loop.run_until_complete(run(driver, n))
            return (time.process_time() - t0) / n * 1e6
        finally:
            loop.close()


def profile(name: str, n: int, warmup: int, top: int) -> str:
    with redis_for(PAIRS[name]) as redis_url:
        app = build_app(PAIRS[name], redis_url)
        driver = Driver(app, PAIRS[name])
        loop = new_loop()
        loop.run_until_complete(run(driver, warmup))
        prof = cProfile.Profile()
        prof.enable()
        loop.run_until_complete(run(driver, n))
        prof.disable()
        loop.close()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def instructions(name: str, n: int, warmup: int, log_level: str = "warning", gc_mode: str = "tuned") -> float:
    """Instructions per request: two runs under callgrind (n and 2n requests after the same warm-up,
    the same log level and GC settings), the difference divided by n, so start-up, imports and the
    warm-up cancel out."""
    args = [__file__, name, "--warmup", str(warmup), "--log-level", log_level, "--gc", gc_mode]
    return callgrind_per_request(args, n)


def callgrind_per_request(script_args: list[str], n: int) -> float:
    """``python *script_args -n N`` under callgrind for N = n and 2n: the difference divided by n."""
    counts = []
    for count in (n, 2 * n):
        with tempfile.TemporaryDirectory() as tmp:
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable]
            argv += [*script_args, "-n", str(count)]
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800, check=False)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr[-2000:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="*", default=list(PAIRS), help=f"which pairs (default all: {', '.join(PAIRS)})")
    p.add_argument("-n", type=int, default=DEFAULT_N, help=f"measured requests per pair (default {DEFAULT_N})")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--log-level", default="warning", help="root log level (info: one log line per request)")
    p.add_argument("--profile", action="store_true", help="print cProfile's top functions by own time")
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--callgrind", action="store_true", help="instructions per request under valgrind (-n defaults to 300)"
    )
    p.add_argument("--gc", choices=["tuned", "default"], default="tuned", help="the CLI's GC settings or CPython's")
    a = p.parse_args()
    # like the CLI's --log-level: a level on the gateway's logger (info: the request line is written)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bifrost_asgi").setLevel(getattr(logging, a.log_level.upper()))
    if a.gc == "tuned":
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, *gc.get_threshold()[1:])
    for name in a.pairs:
        if name not in PAIRS:
            p.error(f"unknown pair {name!r}; choose from {', '.join(PAIRS)}")
        if a.callgrind:
            n = a.n if a.n != DEFAULT_N else 300
            count = instructions(name, n, min(a.warmup, 100), a.log_level, a.gc)
            print(f"{name:<18} {count:12,.0f} instructions per request", flush=True)
        elif a.profile:
            print(f"== {name}\n{profile(name, a.n, a.warmup, a.top)}")
        else:
            print(f"{name:<18} {measure(name, a.n, a.warmup):8.1f} µs CPU per request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
