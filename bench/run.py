"""The benchmark: direct nginx vs the floor proxy vs bifrost-asgi vs LiteLLM and Portkey, one invocation.

Launched by bench/run.sh (which installs what is missing); run directly with the project venv's python:
    .venv/bin/python bench/run.py [--requests 20000] [--only direct,floor-aiohttp] [--skip-litellm]
Servers under test are pinned to core 0; nginx, wrk and the probes to core 1 (see README.md).
The figure that decides is CPU per request: user + system time of the server's process tree, read from
/proc, over a fixed number of requests. It holds still when other jobs make req/s move.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ANTHROPIC_HEADERS,
    BENCH,
    CLIENT_CPUS,
    CLIENT_KEY,
    LONG_STREAM_PIECES,
    OPENAI_HEADERS,
    ROOT,
    SERVER_CPUS,
    VENV_PY,
    BenchError,
    CpuMeter,
    KeepAliveClient,
    Procs,
    WrkResult,
    anthropic_request,
    eprint,
    free_port,
    gateway_argv,
    gateway_runnable,
    genai_request,
    make_workdir,
    openai_request,
    pin_self,
    responses_request,
    rss_mb,
    run_wrk,
    start_nginx,
    tree_cpu_s,
    wait_port,
)
from mcp_tools import client_config as mcp_client_config

LITELLM_BIN = BENCH / ".litellm-venv" / "bin" / "litellm"
PORTKEY_JS = BENCH / ".portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
GW_MODEL = "openai/gpt-4o-mini"
# The gateway CLI runs uvicorn with its defaults (loop="auto", http="auto": uvloop/httptools only when
# installed). The floor gets exactly the same uvicorn options so the comparison is fair.
UVICORN_OPTS = ["--log-level", "warning", "--no-access-log"]


# --------------------------------------------------------------------------------------------- model

R = TypeVar("R", "Row", "StreamRow")


@dataclass
class Row:
    label: str
    note: str = ""
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    rss: float | None = None
    cpu_us: float | None = None  # server CPU (user + system, whole process tree) per request, µs
    errors: int = 0
    noise: float = 0.0  # CPU used by other jobs on the machine meanwhile, % of one core
    problem: str = ""  # non-empty: the row is flagged


@dataclass
class StreamRow:
    label: str
    ttfb_p50: float | None = None
    ttfb_p90: float | None = None
    total_p50: float | None = None
    total_p90: float | None = None
    cpu_us: float | None = None  # server CPU per streamed request (24 events), µs
    chunk_us: float | None = None  # server CPU per extra event, from the long stream, µs
    noise: float = 0.0
    problem: str = ""


@dataclass
class Job:
    """One measurement against a started server."""

    label: str
    path: str
    body: bytes
    headers: dict[str, str]
    check: Callable[[bytes], bool]
    stream: bool = False
    note: str = ""
    wrk_cpus: str | None = CLIENT_CPUS
    wrk_threads: int = 1
    # streams: the same request with an upstream stream of LONG_STREAM_PIECES content chunks
    long_path: str = ""
    long_body: bytes = b""
    long_headers: dict[str, str] | None = None


@dataclass
class Server:
    name: str
    start: Callable[[Procs, int], None] | None  # None: nginx itself (the direct rows)
    jobs: list[Job] = field(default_factory=list)
    startup_timeout: float = 30.0
    requests_scale: float = 1.0  # a slow peer measures fewer requests (still bounded by --max-seconds)


@dataclass
class Ctx:
    args: argparse.Namespace
    procs: Procs
    workdir: Path
    nginx_port: int
    rows: list[Row] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)


def is_openai_chat(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc.get("choices")) and "usage" in doc


def is_anthropic_message(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("type") == "message" and bool(doc.get("content"))


def is_genai_answer(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc.get("candidates"))


def is_responses_answer(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("object") == "response" and bool(doc.get("output"))


def is_openai_stream(body: bytes) -> bool:
    return b"chat.completion.chunk" in body and body.rstrip().endswith(b"data: [DONE]")


def is_anthropic_stream(body: bytes) -> bool:
    return b"event: message_start" in body and b"event: message_stop" in body


# --------------------------------------------------------------------------------------------- servers


def gateway_config(ctx: Ctx, base_path: str) -> dict[str, object]:
    """OpenAI at nginx (``base_path`` prefix), Anthropic at nginx, and ``long``: an OpenAI-type provider
    whose streams have LONG_STREAM_PIECES content chunks (the per-chunk cost)."""
    up = f"http://127.0.0.1:{ctx.nginx_port}"

    def provider(base_url: str, **extra: object) -> dict[str, object]:
        keys = [{"value": "sk-bench", "models": [], "weight": 1.0}]
        return {"keys": keys, "network_config": {"base_url": base_url}, **extra}

    return {
        "providers": {
            "openai": provider(up + base_path),
            "anthropic": provider(up),
            "long": provider(up + "/streamlong", custom_provider_config={"base_provider_type": "openai"}),
        }
    }


# The governance rows: one virtual key with a rate limit (requests and tokens counted per request,
# limits far above what the bench sends), checked on every request.
BENCH_VK = "sk-bf-bench-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
GOVERNANCE = {
    "rate_limits": [
        {
            "id": "rl-bench",
            "request_max_limit": 1_000_000_000,
            "request_reset_duration": "1h",
            "token_max_limit": 1_000_000_000_000,
            "token_reset_duration": "1h",
        }
    ],
    "virtual_keys": [
        {
            "id": "vk-bench",
            "name": "bench",
            "value": BENCH_VK,
            "rate_limit_id": "rl-bench",
            "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"]}],
        }
    ],
}
VK_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {BENCH_VK}"}


def gateway_starter(
    ctx: Ctx,
    base_path: str,
    *,
    workers: int = 1,
    pinned: bool = True,
    log_level: str = "warning",
    extra: Callable[[], dict[str, object]] | None = None,
) -> Callable[[Procs, int], None]:
    def start(procs: Procs, port: int) -> None:
        path = ctx.workdir / f"gateway-{port}.json"
        config = gateway_config(ctx, base_path)
        config.update(extra() if extra else {})
        path.write_text(json.dumps(config, indent=2))
        argv = [*gateway_argv(), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--log-level", log_level]
        if workers > 1:
            argv += ["--workers", str(workers)]
        procs.start(f"gateway-{port}", argv, cpus=SERVER_CPUS if pinned else None)

    return start


def floor_starter(ctx: Ctx, client: str) -> Callable[[Procs, int], None]:
    def start(procs: Procs, port: int) -> None:
        argv = [str(VENV_PY), "-m", "uvicorn", "floor_proxy:app", "--app-dir", str(BENCH)]
        argv += ["--host", "127.0.0.1", "--port", str(port), *UVICORN_OPTS]
        env = {"FLOOR_UPSTREAM": f"http://127.0.0.1:{ctx.nginx_port}", "FLOOR_CLIENT": client}
        procs.start(f"floor-{client}-{port}", argv, cpus=SERVER_CPUS, env=env)

    return start


def litellm_starter(ctx: Ctx) -> Callable[[Procs, int], None]:
    def start(procs: Procs, port: int) -> None:
        base = f"http://127.0.0.1:{ctx.nginx_port}"

        def model(name: str, api_base: str) -> dict[str, object]:
            params = {"model": "openai/gpt-4o-mini", "api_base": api_base, "api_key": "sk-bench"}
            return {"model_name": name, "litellm_params": params}

        config = {  # JSON is YAML
            "model_list": [
                model("gpt-4o-mini", base + "/v1"),
                model("gpt-4o-mini-stream", base + "/stream/v1"),
                model("gpt-4o-mini-long", base + "/streamlong/v1"),
            ],
            "litellm_settings": {
                "telemetry": False,
                "set_verbose": False,
                "json_logs": False,
                "turn_off_message_logging": True,
                "drop_params": True,
                "callbacks": [],
            },
            "general_settings": {
                "master_key": CLIENT_KEY,
                "disable_spend_logs": True,
                "disable_error_logs": True,
                "store_model_in_db": False,
            },
        }
        path = ctx.workdir / "litellm.yaml"
        path.write_text(json.dumps(config, indent=2))
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch of the price list at start
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_ADMIN_UI": "True",
            "NO_DOCS": "True",
            "PYTHONWARNINGS": "ignore",
        }
        argv = [str(LITELLM_BIN), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--num_workers", "1"]
        procs.start(f"litellm-{port}", argv, cpus=SERVER_CPUS, env=env, cwd=ctx.workdir)

    return start


def portkey_starter(ctx: Ctx) -> Callable[[Procs, int], None]:
    """Portkey's open-source gateway (Node). It takes the upstream from each request's headers."""

    def start(procs: Procs, port: int) -> None:
        argv = ["node", str(PORTKEY_JS), f"--port={port}", "--headless"]
        env = {"NODE_ENV": "production", "ENVIRONMENT": "production"}
        procs.start(f"portkey-{port}", argv, cpus=SERVER_CPUS, env=env, cwd=ctx.workdir)

    return start


def portkey_headers(ctx: Ctx, prefix: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-bench",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{ctx.nginx_port}{prefix}/v1",
    }


# --------------------------------------------------------------------------------------------- plan

CHAT = "/v1/chat/completions"
GENAI_PATH = "/genai/v1beta/models/openai/gpt-4o-mini:generateContent"


def plain_job(
    label: str, path: str, body: bytes, headers: dict[str, str], check: Callable[[bytes], bool], **kw: object
) -> Job:
    return Job(label, path, body, headers, check, **kw)  # type: ignore[arg-type]


def stream_job(
    label: str,
    path: str,
    body: bytes,
    long_body: bytes,
    headers: dict[str, str],
    check: Callable[[bytes], bool],
    long_path: str | None = None,
    long_headers: dict[str, str] | None = None,
) -> Job:
    return Job(
        label,
        path,
        body,
        headers,
        check,
        stream=True,
        long_path=long_path or path,
        long_body=long_body,
        long_headers=long_headers,
    )


def reference_servers(ctx: Ctx) -> list[Server]:
    """direct (nginx) and the two floors."""
    oa_plain = openai_request("gpt-4o-mini")
    oa_stream = openai_request("gpt-4o-mini", stream=True)
    servers = [
        Server(
            "direct",
            None,
            [
                plain_job("direct (nginx)", CHAT, oa_plain, OPENAI_HEADERS, is_openai_chat),
                stream_job(
                    "direct (nginx)",
                    "/stream" + CHAT,
                    oa_stream,
                    oa_stream,
                    OPENAI_HEADERS,
                    is_openai_stream,
                    "/streamlong" + CHAT,
                ),
            ],
        )
    ]
    for client in ("aiohttp", "httpx2"):
        label = f"floor ({client})"
        servers.append(
            Server(
                f"floor-{client}",
                floor_starter(ctx, client),
                [
                    plain_job(label, CHAT, oa_plain, OPENAI_HEADERS, is_openai_chat),
                    stream_job(
                        label,
                        "/stream" + CHAT,
                        oa_stream,
                        oa_stream,
                        OPENAI_HEADERS,
                        is_openai_stream,
                        "/streamlong" + CHAT,
                    ),
                ],
            )
        )
    return servers


GW = "bifrost-asgi "


def gateway_servers(ctx: Ctx) -> list[Server]:
    gw_plain = openai_request(GW_MODEL)
    info_note = "the CLI default: one log line per request"
    main = Server(
        "bifrost-asgi",
        gateway_starter(ctx, ""),
        [
            plain_job(GW + "openai->openai", CHAT, gw_plain, OPENAI_HEADERS, is_openai_chat),
            plain_job(
                GW + "/openai base path",
                "/openai" + CHAT,
                openai_request("gpt-4o-mini"),
                OPENAI_HEADERS,
                is_openai_chat,
            ),
            plain_job(
                GW + "anthropic->openai",
                "/anthropic/v1/messages",
                anthropic_request(GW_MODEL),
                ANTHROPIC_HEADERS,
                is_anthropic_message,
            ),
            plain_job(
                GW + "openai->anthropic",
                CHAT,
                openai_request("anthropic/claude-3-5-haiku-latest"),
                OPENAI_HEADERS,
                is_openai_chat,
            ),
            plain_job(GW + "genai->openai", GENAI_PATH, genai_request(), OPENAI_HEADERS, is_genai_answer),
            plain_job(
                GW + "responses->openai",
                "/v1/responses",
                responses_request(GW_MODEL),
                OPENAI_HEADERS,
                is_responses_answer,
                note="OpenAI's own Responses endpoint upstream; the answer is stored",
            ),
            plain_job(
                GW + "responses->anthropic",
                "/v1/responses",
                responses_request("anthropic/claude-3-5-haiku-latest"),
                OPENAI_HEADERS,
                is_responses_answer,
                note="translated to Anthropic Messages and back; the answer is stored",
            ),
        ],
    )
    info = Server(
        "bifrost-asgi-info",
        gateway_starter(ctx, "", log_level="info"),
        [
            plain_job(
                GW + "openai->openai, log level info", CHAT, gw_plain, OPENAI_HEADERS, is_openai_chat, note=info_note
            )
        ],
    )
    stream = Server(
        "bifrost-asgi-stream",
        gateway_starter(ctx, "/stream"),
        [
            stream_job(
                GW + "openai->openai",
                CHAT,
                openai_request(GW_MODEL, stream=True),
                openai_request("long/gpt-4o-mini", stream=True),
                OPENAI_HEADERS,
                is_openai_stream,
            ),
            stream_job(
                GW + "anthropic->openai",
                "/anthropic/v1/messages",
                anthropic_request(GW_MODEL, stream=True),
                anthropic_request("long/gpt-4o-mini", stream=True),
                ANTHROPIC_HEADERS,
                is_anthropic_stream,
            ),
        ],
    )
    vk_note = "virtual key with a rate limit checked and counted per request"
    governance = [
        Server(
            "bifrost-asgi-governance",
            gateway_starter(ctx, "", extra=lambda: {"governance": GOVERNANCE}),
            [plain_job(GW + "openai->openai, virtual key", CHAT, gw_plain, VK_HEADERS, is_openai_chat, note=vk_note)],
        )
    ]
    if shutil.which("redis-server"):

        def on_redis() -> dict[str, object]:
            return {"governance": GOVERNANCE, "redis_url": f"redis://127.0.0.1:{start_redis(ctx)}/0"}

        governance.append(
            Server(
                "bifrost-asgi-governance-redis",
                gateway_starter(ctx, "", extra=on_redis),
                [
                    plain_job(GW + "openai->openai, virtual key on Redis", CHAT, gw_plain, VK_HEADERS,
                              is_openai_chat, note=vk_note + "; counters in redis-server (core 1)")
                ],
            )
        )  # fmt: skip
    mcp = Server(
        "bifrost-asgi-mcp",
        gateway_starter(ctx, "", extra=lambda: {"mcp": {"client_configs": [mcp_client_config(str(VENV_PY))]}}),
        [
            plain_job(
                GW + "openai->openai, MCP tools injected",
                CHAT,
                gw_plain,
                OPENAI_HEADERS,
                is_openai_chat,
                note="3 tools of a stdio MCP server (bench/mcp_tools.py) added to each request; none called",
            )
        ],
    )
    return [main, info, *governance, mcp, stream]


def start_redis(ctx: Ctx) -> int:
    """A redis-server on core 1 (with nginx and the load generator), no persistence."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    ctx.procs.start("redis", argv, cpus=CLIENT_CPUS, cwd=ctx.workdir)
    wait_port(ctx.procs, "redis", port, 15)
    return port


def worker_servers(ctx: Ctx) -> list[Server]:
    out = []
    for workers in (1, 2):
        label = f"{GW}{workers} worker{'s' if workers > 1 else ''}, unpinned"
        job = plain_job(
            label,
            CHAT,
            openai_request(GW_MODEL),
            OPENAI_HEADERS,
            is_openai_chat,
            note="unpinned; wrk -t2 unpinned",
            wrk_cpus=None,
            wrk_threads=2,
        )
        out.append(Server(f"bifrost-asgi-{workers}w", gateway_starter(ctx, "", workers=workers, pinned=False), [job]))
    return out


def peer_servers(ctx: Ctx, skipped: list[Row]) -> list[Server]:
    a = ctx.args
    out: list[Server] = []
    oa_plain = openai_request("gpt-4o-mini")
    if a.skip_litellm or not LITELLM_BIN.exists():
        why = "skipped (--skip-litellm)" if a.skip_litellm else f"not installed ({LITELLM_BIN} missing)"
        skipped.append(Row("LiteLLM proxy", problem=why))
        ctx.streams.append(StreamRow("LiteLLM proxy", problem=why))
    else:
        out.append(
            Server(
                "litellm",
                litellm_starter(ctx),
                [
                    plain_job("LiteLLM proxy", CHAT, oa_plain, OPENAI_HEADERS, is_openai_chat),
                    stream_job(
                        "LiteLLM proxy",
                        CHAT,
                        openai_request("gpt-4o-mini-stream", stream=True),
                        openai_request("gpt-4o-mini-long", stream=True),
                        OPENAI_HEADERS,
                        is_openai_stream,
                    ),
                ],
                startup_timeout=180,
                requests_scale=0.1,
            )
        )
    if a.skip_portkey or not PORTKEY_JS.exists() or not shutil.which("node"):
        why = "skipped (--skip-portkey)" if a.skip_portkey else f"not installed ({PORTKEY_JS} or node missing)"
        skipped.append(Row("Portkey gateway", problem=why))
        ctx.streams.append(StreamRow("Portkey gateway", problem=why))
    else:
        out.append(
            Server(
                "portkey",
                portkey_starter(ctx),
                [
                    plain_job("Portkey gateway", CHAT, oa_plain, portkey_headers(ctx, ""), is_openai_chat),
                    stream_job(
                        "Portkey gateway",
                        CHAT,
                        openai_request("gpt-4o-mini", stream=True),
                        openai_request("gpt-4o-mini", stream=True),
                        portkey_headers(ctx, "/stream"),
                        is_openai_stream,
                        long_headers=portkey_headers(ctx, "/streamlong"),
                    ),
                ],
                startup_timeout=60,
                requests_scale=0.25,
            )
        )
    return out


def build_plan(ctx: Ctx) -> tuple[list[Server], list[Row]]:
    """Servers to start (in order) with their jobs, plus rows that are known failures up front."""
    a = ctx.args
    skipped: list[Row] = []
    servers = reference_servers(ctx)
    reason = "skipped (--no-gateway)" if a.no_gateway else gateway_runnable()
    gateway = gateway_servers(ctx) + worker_servers(ctx)
    if reason:
        eprint(f"!! bifrost-asgi rows not run: {reason}")
        for server in gateway:
            for job in server.jobs:
                if job.stream:
                    ctx.streams.append(StreamRow(job.label, problem=reason))
                else:
                    skipped.append(Row(job.label, problem=reason))
    else:
        servers += gateway[:-2]
    servers += peer_servers(ctx, skipped)
    if not reason:
        servers += gateway[-2:]
    if a.only:
        wanted = {w.strip() for w in a.only.split(",")}
        servers = [s for s in servers if s.name in wanted]
    return servers, skipped


# --------------------------------------------------------------------------------------------- measuring


def validate(port: int, job: Job) -> str:
    """'' when one request through the server returns 200 with the expected body, else what went wrong."""
    client = KeepAliveClient(port, timeout=30)
    try:
        reply = client.post(job.path, job.body, job.headers)
    except Exception as exc:
        return f"request failed: {type(exc).__name__}: {exc}"
    finally:
        client.close()
    if reply.status != 200 or not job.check(reply.body):
        return f"HTTP {reply.status}, unexpected body: {reply.body[:400]!r}"
    return ""


def wait_quiet(ctx: Ctx, roots: list[int], label: str) -> None:
    """Waits (up to --quiet-wait seconds) until other jobs on the machine use at most --max-noise percent
    of a core for two seconds in a row, so they do not share the cores with the measurement."""
    deadline = time.monotonic() + ctx.args.quiet_wait
    quiet, said = 0, False
    while time.monotonic() < deadline:
        meter = CpuMeter(roots)
        time.sleep(1)
        load = meter.foreign_pct()
        quiet = quiet + 1 if load <= ctx.args.max_noise else 0
        if quiet >= 2:
            return
        if not said and load > ctx.args.max_noise:
            eprint(f"   {label}: waiting for other jobs to calm down ({load:.0f}% of a core busy)")
            said = True
    eprint(f"   {label}: still busy after {ctx.args.quiet_wait:g}s; measuring anyway")


def measured(ctx: Ctx, pid: int | None, label: str, once: Callable[[], R]) -> R:
    """Runs a measurement, again (up to --retries times, after a pause) while other jobs on the machine
    used more than --max-noise percent of a core; keeps the quietest attempt."""
    roots = [p for p in (pid, ctx.procs.running["nginx"].pid) if p is not None]
    best: R | None = None
    for attempt in range(ctx.args.retries + 1):
        wait_quiet(ctx, roots, label)
        meter = CpuMeter(roots)
        result = once()
        result.noise = meter.foreign_pct()
        if best is None or result.problem or result.noise < best.noise:
            best = result
        if result.problem or result.noise <= ctx.args.max_noise:
            break
        if attempt < ctx.args.retries:
            eprint(f"   {label}: other jobs used {result.noise:.0f}% of a core meanwhile; measuring again")
    assert best is not None
    return best


def server_roots(ctx: Ctx, pid: int | None) -> list[int]:
    """The processes whose CPU a row counts: the server's tree, or nginx itself for the direct rows."""
    return [pid if pid is not None else ctx.procs.running["nginx"].pid]


def cpu_per_request_us(roots: list[int], before: float, requests: int) -> float | None:
    time.sleep(0.3)  # let requests still in flight when wrk stopped finish, so their CPU is counted
    return (tree_cpu_s(roots) - before) / requests * 1e6 if requests else None


def measure_plain(ctx: Ctx, server: Server, port: int, pid: int | None, job: Job) -> Row:
    a = ctx.args
    problem = validate(port, job)
    if problem:
        return Row(job.label, note=job.note, problem=problem)
    url = f"http://127.0.0.1:{port}{job.path}"
    roots = server_roots(ctx, pid)
    count = max(200, round(a.requests * server.requests_scale))

    def wrk(conns: int, duration: float, max_requests: int = 0) -> WrkResult:
        return run_wrk(
            ctx.workdir,
            url,
            job.body,
            job.headers,
            conns=conns,
            duration=duration,
            threads=job.wrk_threads,
            cpus=job.wrk_cpus,
            max_requests=max_requests,
            timeout_s=30 if server.requests_scale < 1 else 10,
        )

    def once() -> Row:
        row = Row(job.label, note=job.note)
        wrk(a.conns, a.warmup)
        before = tree_cpu_s(roots)
        # a fixed number of requests (each wrk thread stops after its share), bounded by --max-seconds
        high = wrk(a.conns, a.max_seconds, max_requests=max(1, count // job.wrk_threads))
        row.cpu_us = cpu_per_request_us(roots, before, high.requests)
        low = wrk(1, a.duration)
        row.rps, row.p50, row.p99 = high.rps, low.p50_ms, low.p99_ms
        row.errors = high.errors + low.errors
        if row.errors:
            row.problem = f"{row.errors} errors (non-2xx or socket); first: {high.first_bad or low.first_bad}"
        return row

    row = measured(ctx, pid, job.label, once)
    row.rss = rss_mb(roots[0]) if pid is not None else None
    eprint(
        f"   {job.label}: {fmt(row.cpu_us, 1)} µs CPU/request, {fmt(row.rps, 0)} req/s @{a.conns}, "
        f"p50 {fmt(row.p50)} ms, p99 {fmt(row.p99)} ms @1, errors {row.errors}, "
        f"other jobs {row.noise:.0f}% of a core" + (f", RSS {row.rss:.0f} MB" if row.rss else "")
    )
    return row


def _probe(
    port: int, path: str, body: bytes, headers: dict[str, str], check: Callable[[bytes], bool], n: int
) -> tuple[list[float], list[float], str]:
    """n sequential requests on one keep-alive connection: first-byte and total times (ms), or a problem."""
    client = KeepAliveClient(port, timeout=30)
    ttfb, total = [], []
    try:
        for i in range(n):
            reply = client.post(path, body, headers)
            if reply.status != 200 or not check(reply.body):
                return ttfb, total, f"request {i}: HTTP {reply.status} {reply.body[:200]!r}"
            ttfb.append(reply.first_body_s * 1000)
            total.append(reply.total_s * 1000)
    finally:
        client.close()
    return ttfb, total, ""


def measure_stream(ctx: Ctx, server: Server, port: int, pid: int | None, job: Job) -> StreamRow:
    a = ctx.args
    problem = validate(port, job)
    if problem:
        return StreamRow(job.label, problem=problem)
    roots = server_roots(ctx, pid)
    n = max(50, round(a.probe_n * server.requests_scale))
    long_headers = job.long_headers or job.headers

    def once() -> StreamRow:
        row = StreamRow(job.label)
        _probe(port, job.path, job.body, job.headers, job.check, a.probe_warmup)
        before = tree_cpu_s(roots)
        ttfb, total, row.problem = _probe(port, job.path, job.body, job.headers, job.check, n)
        if row.problem:
            return row
        row.cpu_us = cpu_per_request_us(roots, before, n)
        row.ttfb_p50, row.total_p50 = statistics.median(ttfb), statistics.median(total)
        row.ttfb_p90 = statistics.quantiles(ttfb, n=10)[-1]
        row.total_p90 = statistics.quantiles(total, n=10)[-1]
        if job.long_path:
            before = tree_cpu_s(roots)
            _, _, row.problem = _probe(port, job.long_path, job.long_body, long_headers, job.check, n)
            long_us = cpu_per_request_us(roots, before, n)
            if long_us is not None and row.cpu_us is not None:
                row.chunk_us = (long_us - row.cpu_us) / (LONG_STREAM_PIECES - 20)
        return row

    row = measured(ctx, pid, job.label + " (stream)", once)
    if not row.problem:
        eprint(
            f"   {job.label} stream: first byte {row.ttfb_p50:.3f} ms, total {row.total_p50:.3f} ms (p50), "
            f"{fmt(row.cpu_us, 1)} µs CPU/stream, {fmt(row.chunk_us, 2)} µs CPU/extra chunk, "
            f"other jobs {row.noise:.0f}% of a core"
        )
    return row


def run_server(ctx: Ctx, server: Server) -> None:
    eprint(f"== {server.name}")
    pid: int | None = None
    if server.start is None:
        port = ctx.nginx_port
    else:
        port = free_port()
        server.start(ctx.procs, port)
        name = list(ctx.procs.running)[-1]
        try:
            wait_port(ctx.procs, name, port, server.startup_timeout)
        except BenchError as exc:
            eprint(f"!! {exc}")
            lines = str(exc).splitlines()
            first = lines[0].replace(" Its output:", "") + " — " + lines[-1].strip()
            for job in server.jobs:
                if job.stream:
                    ctx.streams.append(StreamRow(job.label, problem=first))
                else:
                    ctx.rows.append(Row(job.label, problem=first))
            ctx.procs.stop(name)
            return
        pid = ctx.procs.running[name].pid
    failed = False
    try:
        for job in server.jobs:
            result: Row | StreamRow
            try:
                measure = measure_stream if job.stream else measure_plain
                result = measure(ctx, server, port, pid, job)
            except BenchError as exc:
                result = StreamRow(job.label) if job.stream else Row(job.label)
                result.problem = str(exc).replace("\n", " ")[:300]
            if isinstance(result, StreamRow):
                ctx.streams.append(result)
            else:
                ctx.rows.append(result)
            if result.problem:
                failed = True
                eprint(f"!! {job.label}{' (stream)' if job.stream else ''}: {result.problem}")
    finally:
        if server.start is not None:
            if failed:
                eprint(f"   server output (tail):\n{ctx.procs.log_tail(name, 20)}")
            ctx.procs.stop(name)


# --------------------------------------------------------------------------------------------- report


def all_rows(ctx: Ctx) -> list[Row | StreamRow]:
    return [*ctx.rows, *ctx.streams]


def fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def delta(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:+.3f}"


def main_table(ctx: Ctx) -> list[list[str]]:
    floor = next((r for r in ctx.rows if r.label == "floor (aiohttp)" and r.rps), None)
    one_w = next((r for r in ctx.rows if r.label.endswith("1 worker, unpinned") and r.rps), None)
    head = [
        "contender",
        "CPU µs/request",
        "CPU vs floor",
        f"req/s @{ctx.args.conns}",
        "req/s vs floor",
        "p50 @1 (ms)",
        "p50 vs floor (ms)",
        "p99 @1 (ms)",
        "RSS MB",
        "errors",
        "other jobs (% core)",
    ]
    out = [head]
    for r in ctx.rows:
        label = r.label + ("  [!]" if r.problem else "")
        if r.label.endswith("2 workers, unpinned") and one_w and one_w.rps and r.rps:
            label += f" ({r.rps / one_w.rps:.2f}x 1 worker)"
        base = r is not floor and floor is not None and not r.label.startswith("direct")
        out.append(
            [
                label,
                fmt(r.cpu_us, 1),
                ratio(r.cpu_us, floor.cpu_us) if base and floor else "-",
                fmt(r.rps, 0),
                ratio(r.rps, floor.rps) if base and floor else "-",
                fmt(r.p50),
                delta(r.p50, floor.p50) if base and floor else "-",
                fmt(r.p99),
                fmt(r.rss, 0),
                str(r.errors) if r.rps is not None else "-",
                fmt(r.noise, 0) if r.rps is not None else "-",
            ]
        )
    return out


def stream_table(ctx: Ctx) -> list[list[str]]:
    floor = next((r for r in ctx.streams if r.label == "floor (aiohttp)" and r.ttfb_p50), None)
    head = [
        "contender",
        "first byte p50 (ms)",
        "first byte p90 (ms)",
        "total p50 (ms)",
        "first byte vs floor (ms)",
        "CPU µs/stream",
        "CPU vs floor",
        "CPU µs/extra chunk",
        "other jobs (% core)",
    ]
    out = [head]
    for r in ctx.streams:
        base = r is not floor and floor is not None and not r.label.startswith("direct")
        out.append(
            [
                r.label + ("  [!]" if r.problem else ""),
                fmt(r.ttfb_p50),
                fmt(r.ttfb_p90),
                fmt(r.total_p50),
                delta(r.ttfb_p50, floor.ttfb_p50) if base and floor else "-",
                fmt(r.cpu_us, 1),
                ratio(r.cpu_us, floor.cpu_us) if base and floor else "-",
                fmt(r.chunk_us, 2),
                fmt(r.noise, 0) if r.ttfb_p50 is not None else "-",
            ]
        )
    return out


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        lines.append(" | ".join(cells))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def render_md(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in %r:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    names = ["bifrost-asgi", "starlette", "uvicorn", "uvloop", "httptools", "aiohttp", "httpx2", "httpx", "orjson"]
    out: dict[str, str] = {}
    for py, pkgs, prefix in (
        (VENV_PY, names, ""),
        (BENCH / ".litellm-venv" / "bin" / "python", ["litellm", "uvicorn", "uvloop", "httptools"], "litellm venv: "),
    ):
        if not py.exists():
            continue
        try:
            done = subprocess.run([str(py), "-c", code % pkgs], capture_output=True, timeout=60, check=True)
            out.update({prefix + k: v for k, v in json.loads(done.stdout).items()})
        except (subprocess.SubprocessError, ValueError):
            pass
    modules = BENCH / ".portkey" / "node_modules"
    for name in ("@portkey-ai/gateway", "@hono/node-server"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            out["portkey: " + name] = json.loads((modules / name / "package.json").read_text())["version"]
    for tool, argv in (("nginx", ["nginx", "-v"]), ("node", ["node", "--version"]), ("wrk", ["wrk", "-v"])):
        try:
            done = subprocess.run(argv, capture_output=True, timeout=10)
            words = (done.stdout + done.stderr).decode(errors="replace").split()
            # "nginx version: nginx/1.22.1" / "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." / "v20.20.2"
            if tool == "node":
                out[tool] = words[0].removeprefix("v") if words else "?"
            else:
                out[tool] = next((w.split("/", 1)[1] for w in words if "/" in w), "?")
        except (OSError, subprocess.SubprocessError):
            out[tool] = "not found"
    return out


def source_revision() -> str:
    """The project's git commit, '+ local changes' when the work tree differs from it (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "bifrost_asgi"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" + local changes in bifrost_asgi/" if dirty else "")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def write_markdown(ctx: Ctx, path: Path) -> None:
    a = ctx.args
    py = subprocess.run([str(VENV_PY), "-V"], capture_output=True, text=True).stdout.strip()
    vers = versions()
    text = [
        "# bifrost-asgi benchmark — latest run",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}",
        f"- command: `bash bench/run.sh{(' ' + ' '.join(sys.argv[1:])) if sys.argv[1:] else ''}`",
        f"- nproc: {os.cpu_count()}; CPU: {cpu_model()}; kernel {platform.release()}",
        f"- Python: {py}; bifrost-asgi source: {source_revision()}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"- pinning: servers under test on core {SERVER_CPUS}, nginx + wrk + probes on core {CLIENT_CPUS} "
        "(except the two 'unpinned' rows)",
        f"- load: after a {a.warmup:g}s warm-up, {a.requests} requests over {a.conns} connections (wrk -t1, "
        f"at most {a.max_seconds:g}s; LiteLLM a tenth of that) give req/s and CPU per request; then "
        f"wrk -t1 -c1 -d{a.duration:g}s (latency); upstream: static nginx, ~1.3 KB chat.completion",
        "- CPU µs/request: user + system time of the server's whole process tree (from /proc) over the "
        "measured requests, divided by their number; ratios are to the floor (aiohttp)",
        f"- streaming: {a.probe_n} sequential requests on one keep-alive connection after {a.probe_warmup} "
        "warm-up; first byte = first body byte; upstream sends a 24-event SSE body at once; per extra chunk: "
        f"the same with {LONG_STREAM_PIECES - 20} more content chunks, CPU difference / {LONG_STREAM_PIECES - 20}",
        "",
        "## Non-streaming",
        "",
        render_md(main_table(ctx)),
        "",
        "## Streaming (1 connection)",
        "",
        render_md(stream_table(ctx)),
        "",
    ]
    problems = [f"- {r.label}: {r.problem}" for r in all_rows(ctx) if r.problem]
    if problems:
        text += ["## Flagged", "", *problems, ""]
    text += [
        "Rows marked [!] had errors or did not run. RSS is summed over the server's process tree after its runs.",
        "'other jobs' is the CPU that processes outside the bench used during the row, in % of one core (the",
        f"bench waits for quiet and re-measures rows above {a.max_noise:g}%, keeping the quietest attempt).",
        "See bench/README.md for what each row means and the caveats.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))


# --------------------------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000, help="requests of the measured @conns run (default 20000)")
    p.add_argument(
        "--max-seconds", type=float, default=40, help="upper bound on the @conns run when a contender is slow"
    )
    p.add_argument("--duration", type=float, default=6, help="seconds of the 1-connection latency run (default 6)")
    p.add_argument("--warmup", type=float, default=3, help="warm-up seconds before the @conns run (default 3)")
    p.add_argument("--conns", type=int, default=64, help="connections for the throughput run (default 64)")
    p.add_argument("--probe-n", type=int, default=400, help="streaming probe requests per contender")
    p.add_argument("--probe-warmup", type=int, default=20, help="streaming probe warm-up requests")
    p.add_argument(
        "--max-noise", type=float, default=10, help="re-measure a row when other jobs used more than this %% of a core"
    )
    p.add_argument("--retries", type=int, default=1, help="re-measurements per noisy row (default 1)")
    p.add_argument(
        "--quiet-wait", type=float, default=20, help="seconds to wait for other jobs to go quiet before each row"
    )
    p.add_argument("--only", default="", help="comma-separated server names (direct, floor-aiohttp, ...)")
    p.add_argument("--skip-litellm", action="store_true")
    p.add_argument("--skip-portkey", action="store_true")
    p.add_argument("--no-gateway", action="store_true", help="only direct/floor/LiteLLM (harness check)")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "latest.md", help="markdown report path")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    pin_self(CLIENT_CPUS)
    workdir = make_workdir("bifrost-bench-")
    procs = Procs(workdir)
    eprint(f"work dir (configs, server logs): {workdir}")
    started = time.monotonic()
    try:
        nginx_port = start_nginx(procs, workdir)
    except BenchError as exc:
        eprint(f"!! {exc}")
        return 2
    ctx = Ctx(args, procs, workdir, nginx_port)
    servers, skipped = build_plan(ctx)
    order = [job.label for server in servers for job in server.jobs]
    not_run: list[Row | StreamRow] = [*skipped, *ctx.streams]
    order += [r.label for r in not_run if r.label not in order]
    for server in servers:
        run_server(ctx, server)
    ctx.rows += skipped
    procs.stop_all()
    ctx.rows.sort(key=lambda r: order.index(r.label) if r.label in order else len(order))
    ctx.streams.sort(key=lambda r: order.index(r.label) if r.label in order else len(order))
    print()
    print(render_text(main_table(ctx)))
    print()
    print("Streaming, 1 connection (ms):")
    print(render_text(stream_table(ctx)))
    flagged = [r for r in all_rows(ctx) if r.problem]
    for r in flagged:
        print(f"[!] {r.label}: {r.problem}")
    write_markdown(ctx, args.out)
    print(f"\nwritten: {args.out}  ({time.monotonic() - started:.0f}s)")
    if flagged:
        print(f"server logs and configs kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
