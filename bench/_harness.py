"""Shared plumbing for the benchmark and the leak check (stdlib only).

Process management (every started process is killed on exit), free ports, port polling, the static fake
OpenAI upstream served by nginx, wrk runs, /proc readings (RSS, sockets) and small HTTP/1.1 clients.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
GATEWAY_BIN = ROOT / ".venv" / "bin" / "bifrost-asgi"
SERVER_CPUS = "0"  # every server under test
CLIENT_CPUS = "1"  # wrk, nginx, the probes and this orchestrator


class BenchError(RuntimeError):
    """A setup failure with a message meant for the person running the bench."""


# --------------------------------------------------------------------------------------------- processes


class Procs:
    """Starts processes in their own session and kills every one of them on exit or signal."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        atexit.register(self.stop_all)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_all()
        raise SystemExit(128 + signum)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        cpus: str | None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        if name in self.running:
            self.stop(name)
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        full = (["taskset", "-c", cpus] if cpus else []) + argv
        merged = dict(os.environ)
        merged.update(env or {})
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                full,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=merged,
                cwd=str(cwd or ROOT),
                start_new_session=True,
            )
        self.running[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 40) -> str:
        log = self.logs.get(name)
        if log is None or not log.exists():
            return "(no output)"
        text = log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        _kill_group(proc)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(procs: Procs, name: str, port: int, timeout: float) -> None:
    """Polls until 127.0.0.1:port accepts, failing with the process's output if it dies or times out."""
    proc = procs.running[name]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{name} exited with code {proc.returncode} before listening on port {port}. Its output:\n"
                + procs.log_tail(name)
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise BenchError(
        f"{name} did not listen on port {port} within {timeout:.0f}s. Its output:\n" + procs.log_tail(name)
    )


def gateway_runnable() -> str:
    """'' when the gateway can start, else the reason."""
    try:
        subprocess.run(
            [str(VENV_PY), "-c", "import bifrost_asgi.asgi.app"], cwd=ROOT, check=True, capture_output=True, timeout=60
        )
    except subprocess.CalledProcessError as exc:
        lines = bytes(exc.stderr or b"").decode(errors="replace").strip().splitlines() or ["?"]
        return "import bifrost_asgi.asgi.app failed: " + lines[-1]
    except subprocess.TimeoutExpired:
        return "import bifrost_asgi.asgi.app timed out"
    try:
        probe = subprocess.run([*gateway_argv(), "--help"], cwd=ROOT, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{' '.join(gateway_argv())} --help` failed: {exc}"
    if probe.returncode != 0:
        lines = (probe.stdout + probe.stderr).decode(errors="replace").strip().splitlines() or ["?"]
        return f"`{' '.join(gateway_argv())} --help` exited with {probe.returncode}: {lines[-1]}"
    return ""


def gateway_argv() -> list[str]:
    """The gateway command; BENCH_GATEWAY_CMD overrides it (it gets --config/--host/--port/... appended)."""
    override = os.environ.get("BENCH_GATEWAY_CMD")
    if override:
        return shlex.split(override)
    return [str(GATEWAY_BIN)] if GATEWAY_BIN.exists() else [str(VENV_PY), "-m", "bifrost_asgi"]


def pin_self(cpus: str) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


# --------------------------------------------------------------------------------------------- /proc


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_mb(root: int) -> float:
    """Sum of VmRSS over the process and its descendants (shared pages of forked workers count twice)."""
    total_kb = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


_CLK = os.sysconf("SC_CLK_TCK")


def _system_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all cores), steal included. Interrupt and softirq time is
    left out: loopback TCP work lands there, and it comes from our own traffic, unattributed to a process."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
    return (user + nice + system + steal) / _CLK


def _task_cpu_ns(pid: int) -> int | None:
    """On-CPU time (user + system) of every thread of ``pid`` in nanoseconds, from schedstat; None
    when the kernel does not provide it."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        except (OSError, ValueError, IndexError):
            return None
    return total


def tree_cpu_s(roots: list[int]) -> float:
    """User + system CPU seconds of the given processes and all their descendants (from /proc): the
    schedstat nanosecond counters when the kernel has them, else utime + stime (clock ticks)."""
    total = 0.0
    for root in roots:
        for pid in tree_pids(root):
            ns = _task_cpu_ns(pid)
            if ns is not None:
                total += ns / 1e9
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / _CLK  # utime, stime
    return total


def _self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system  # children: wrk runs once waited


class CpuMeter:
    """CPU used by anything other than the bench's own processes (other jobs on the machine) while
    measuring, in percent of one core. Our own: this process, its waited children (wrk) and the process
    trees given (servers, nginx). Processes that come and go elsewhere are counted as foreign."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.t0 = time.monotonic()
        self.sys0 = _system_busy_s()
        self.ours0 = tree_cpu_s(roots) + _self_cpu_s()

    def foreign_pct(self) -> float:
        elapsed = time.monotonic() - self.t0
        ours = tree_cpu_s(self.roots) + _self_cpu_s() - self.ours0
        foreign = _system_busy_s() - self.sys0 - ours
        return max(0.0, foreign / elapsed * 100) if elapsed > 0 else 0.0


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in names:
        with contextlib.suppress(OSError):
            target = os.readlink(f"{fd_dir}/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def fd_count(root: int) -> int:
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/fd"))
    return total


def established(root: int, remote_port: int | None = None) -> int:
    """ESTABLISHED TCP sockets owned by the process tree, optionally only those to remote_port."""
    inodes: set[str] = set()
    for pid in tree_pids(root):
        inodes |= _socket_inodes(pid)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] != "01" or parts[9] not in inodes:
                continue
            if remote_port is not None and int(parts[2].rsplit(":", 1)[1], 16) != remote_port:
                continue
            count += 1
    return count


# --------------------------------------------------------------------------------------------- payloads

_WORDS = (
    "Sure! Here is a short overview of how a gateway forwards a chat request: it parses the body, picks a"
    " provider and a key, sends the request upstream over a pooled keep-alive connection, and translates the"
    " answer back into the shape the client asked for. Latency added by the gateway should stay well below"
    " a millisecond, so most of the time is spent waiting for the model. Streaming works the same way, one"
    " server-sent event at a time, with usage reported in the final chunk. Retries and fallbacks only kick in"
    " when the provider fails, and keys are chosen by weight. Metrics count requests, tokens and latency per"
    " provider and model, without ever exposing the keys. Let me know if you want more detail."
)


def chat_completion_body() -> bytes:
    """A realistic non-streaming OpenAI chat.completion (~1.3 KB) with usage."""
    doc = {
        "id": "chatcmpl-BvQ3kX9mZp2Lr8sT4uYw6aE1nC0dF",
        "object": "chat.completion",
        "created": 1753051200,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _WORDS, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": 118,
            "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_34a54ae93c",
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sse_chunks(pieces_n: int = 20) -> list[bytes]:
    """A realistic OpenAI stream: role chunk, ``pieces_n`` content chunks, finish chunk, usage chunk, [DONE]."""
    base = {
        "id": "chatcmpl-BvQ3kX9mZp2Lr8sT4uYw6aE1nC0dF",
        "object": "chat.completion.chunk",
        "created": 1753051200,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_34a54ae93c",
    }

    def chunk(delta: dict[str, object], finish: str | None, usage: object = None, choices: bool = True) -> bytes:
        doc = dict(base)
        doc["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        doc["usage"] = usage
        return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"

    words = _WORDS.split(" ")
    if pieces_n <= 20:
        per = max(1, len(words) // 20)
        pieces = [" ".join(words[i * per : (i + 1) * per]) + " " for i in range(19)]
        pieces.append(" ".join(words[19 * per :]))
    else:  # a long answer: one word per chunk, the text repeated
        pieces = [words[i % len(words)] + " " for i in range(pieces_n)]
    out = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    out += [chunk({"content": p}, None) for p in pieces]
    out.append(chunk({}, "stop"))
    usage = {
        "prompt_tokens": 42,
        "completion_tokens": 118,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    out.append(chunk({}, None, usage=usage, choices=False))
    out.append(b"data: [DONE]\n\n")
    return out


LONG_STREAM_PIECES = 220  # content chunks of the long stream (the per-chunk cost comes from the difference)


def anthropic_message_body() -> bytes:
    """A non-streaming Anthropic ``message`` with the same text as ``chat_completion_body``."""
    doc = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": _WORDS}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 118, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def responses_body() -> bytes:
    """A non-streaming OpenAI Responses API ``response`` with the same text and usage."""
    doc = {
        "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "object": "response",
        "created_at": 1753051200,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "gpt-4o-mini-2024-07-18",
        "output": [
            {
                "type": "message",
                "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": _WORDS, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "store": True,
        "temperature": 0.2,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 42,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 118,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 160,
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def responses_request(model: str) -> bytes:
    doc = {"model": model, "instructions": _MESSAGES[0]["content"], "input": _MESSAGES[1]["content"],
           "max_output_tokens": 200, "temperature": 0.2}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


ERROR_500 = (
    b'{"error":{"message":"The server had an error while processing your request. Sorry about that!",'
    b'"type":"server_error","param":null,"code":null}}'
)

_MESSAGES = [
    {"role": "system", "content": "You are a concise assistant that answers in plain English."},
    {"role": "user", "content": "Explain in a few sentences what an LLM gateway does with a chat request."},
]


def openai_request(model: str, stream: bool = False) -> bytes:
    doc: dict[str, object] = {"model": model, "messages": _MESSAGES, "max_tokens": 200, "temperature": 0.2}
    if stream:
        doc["stream"] = True
        doc["stream_options"] = {"include_usage": True}
    return json.dumps(doc, separators=(",", ":")).encode()


def anthropic_request(model: str, stream: bool = False) -> bytes:
    doc: dict[str, object] = {
        "model": model,
        "max_tokens": 100,
        "system": _MESSAGES[0]["content"],
        "messages": [_MESSAGES[1]],
    }
    if stream:
        doc["stream"] = True
    return json.dumps(doc, separators=(",", ":")).encode()


def genai_request() -> bytes:
    """The same question as a Google GenAI ``generateContent`` body."""
    doc = {
        "systemInstruction": {"parts": [{"text": _MESSAGES[0]["content"]}]},
        "contents": [{"role": "user", "parts": [{"text": _MESSAGES[1]["content"]}]}],
        "generationConfig": {"maxOutputTokens": 200, "temperature": 0.2},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


# What clients send. LiteLLM refuses to start without a master key, so it is configured with this one.
CLIENT_KEY = "sk-bench-7f3a9c2e5b8d4f1a6e0c3b9d2a5f8e1c4b7a0d3f6e9c2b5a8d1f4e7a0c3b6d9"
OPENAI_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"}
ANTHROPIC_HEADERS = {
    "Content-Type": "application/json",
    "x-api-key": CLIENT_KEY,
    "anthropic-version": "2023-06-01",
}


# --------------------------------------------------------------------------------------------- nginx


def _nginx_quote(data: bytes) -> str:
    text = data.decode()
    if "$" in text:
        raise BenchError("nginx return bodies cannot contain '$'")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _return_block(status: int, content_type: str, parts: list[bytes], extra: str = "") -> str:
    """`return` takes one <4 KB token, so long bodies are assembled from `set` variables."""
    sets, names = [], []
    for i, part in enumerate(parts):
        sets.append(f"set $p{i} {_nginx_quote(part)};")
        names.append(f"$p{i}")
    return (
        "{ default_type "
        + content_type
        + "; "
        + extra
        + " ".join(sets)
        + f' return {status} "'
        + "".join(names)
        + '"; }'
    )


def write_nginx_conf(directory: Path, port: int) -> Path:
    """A static fake OpenAI upstream.

    /v1/chat/completions          200 chat.completion JSON (~1.3 KB)
    /stream/v1/chat/completions   200 SSE stream (role, 20 content chunks, finish, usage, [DONE])
    /streamlong/v1/chat/completions  the same with LONG_STREAM_PIECES content chunks (per-chunk cost)
    /v1/messages                  200 Anthropic message JSON (the OpenAI->Anthropic row)
    /v1/responses                 200 Responses API response JSON (the Responses->OpenAI row)
    /slow/v1/chat/completions     the same SSE stream trickled at ~1 KB/s after the first 600 bytes
    /err500/v1/chat/completions   500 OpenAI error JSON
    """
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    chunks = sse_chunks()
    long_chunks = sse_chunks(LONG_STREAM_PIECES)
    body = chat_completion_body()
    conf = f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {directory}/client_body;
  proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /v1/chat/completions {_return_block(200, "application/json", [body])}
    location = /stream/v1/chat/completions {_return_block(200, "text/event-stream", chunks)}
    location = /streamlong/v1/chat/completions {_return_block(200, "text/event-stream", long_chunks)}
    location = /v1/messages {_return_block(200, "application/json", [anthropic_message_body()])}
    location = /v1/responses {_return_block(200, "application/json", [responses_body()])}
    location = /slow/v1/chat/completions {
        _return_block(200, "text/event-stream", chunks, "limit_rate_after 600; limit_rate 1k;")
    }
    location = /err500/v1/chat/completions {_return_block(500, "application/json", [ERROR_500])}
    location / {{ return 404; }}
  }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(conf)
    return path


def start_nginx(procs: Procs, workdir: Path) -> int:
    ndir = workdir / "nginx"
    ndir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = write_nginx_conf(ndir, port)
    nginx = _which("nginx", "/usr/sbin/nginx")
    check = subprocess.run([nginx, "-t", "-p", str(ndir), "-c", str(conf)], capture_output=True, timeout=30)
    if check.returncode != 0:
        raise BenchError("nginx rejected the generated config:\n" + check.stderr.decode(errors="replace"))
    procs.start("nginx", [nginx, "-p", str(ndir), "-c", str(conf)], cpus=CLIENT_CPUS)
    wait_port(procs, "nginx", port, 15)
    return port


def _which(name: str, fallback: str) -> str:
    for d in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/bin"]:
        cand = Path(d) / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return fallback


# --------------------------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    first_bad: str

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def run_wrk(
    workdir: Path,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    conns: int,
    duration: float,
    threads: int = 1,
    cpus: str | None = CLIENT_CPUS,
    max_requests: int = 0,
    timeout_s: int = 10,
) -> WrkResult:
    body_file = workdir / "wrk-body.json"
    headers_file = workdir / "wrk-headers.txt"
    body_file.write_bytes(body)
    headers_file.write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
    env = dict(os.environ)
    env.update(WRK_BODY_FILE=str(body_file), WRK_HEADERS_FILE=str(headers_file), WRK_MAX_REQUESTS=str(max_requests))
    argv = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(duration))}s", f"--timeout={timeout_s}s"]
    argv += ["-s", str(BENCH / "post.lua"), url]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    try:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=duration + timeout_s + 30)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from exc
    out = done.stdout.decode(errors="replace")
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:])
            return WrkResult(
                requests=d["requests"],
                rps=d["rps"],
                p50_ms=d["p50_us"] / 1000,
                p90_ms=d["p90_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                non2xx=d["non2xx"],
                socket_errors=d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"],
                first_bad=d["first_bad"],
            )
    raise BenchError(f"wrk printed no result ({done.returncode}):\n{out}\n{done.stderr.decode(errors='replace')}")


# --------------------------------------------------------------------------------------------- HTTP probes


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    first_body_s: float  # time from sending the request to the first body byte
    total_s: float  # time from sending the request to the end of the body


class KeepAliveClient:
    """A tiny blocking HTTP/1.1 client over one keep-alive socket (Content-Length and chunked bodies)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(sep, 1)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            return self._post(path, body, headers)
        except (OSError, ConnectionError):
            self.close()  # a stale keep-alive socket: retry once on a fresh one
            return self._post(path, body, headers)

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        sock = self._connect()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        t0 = time.perf_counter()
        sock.sendall(head.encode() + body)
        status_and_headers = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(status_and_headers[0].split()[1])
        hdrs = {}
        for line in status_and_headers[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        first: float | None = None
        parts = []
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                if first is None:
                    while not self.buf:
                        self._fill()
                    first = time.perf_counter()
                parts.append(self._read_exact(size))
                self._read_exact(2)
        else:
            length = int(hdrs.get("content-length", "0"))
            if length:
                while not self.buf:
                    self._fill()
                first = time.perf_counter()
                parts.append(self._read_exact(length))
        end = time.perf_counter()
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, hdrs, b"".join(parts), (first or end) - t0, end - t0)


async def async_post(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    cancel_after_first_chunk: bool = False,
    timeout: float = 30.0,
) -> int:
    """One request on a fresh connection; returns the status. With cancel_after_first_chunk the client
    closes the socket as soon as the first body bytes arrive (a user hitting stop)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(raw.split(b" ", 2)[1])
        if cancel_after_first_chunk:
            await asyncio.wait_for(reader.read(1), timeout)
        else:
            await asyncio.wait_for(reader.read(), timeout)
        return status
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 5)


class AsyncKeepAlive:
    """One keep-alive HTTP/1.1 connection for load loops (Content-Length and chunked bodies)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 5)
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        return await asyncio.wait_for(self._post(path, body, headers), self.timeout)

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(raw[0].split()[1])
        hdrs = {}
        for line in raw[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip().lower()
        if hdrs.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif "content-length" in hdrs:
            await self.reader.readexactly(int(hdrs["content-length"]))
        else:
            await self.reader.read()
            hdrs["connection"] = "close"
        if hdrs.get("connection") == "close":
            await self.close()
        return status


async def run_many(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    count: int,
    concurrency: int,
    cancel_after_first_chunk: bool = False,
) -> dict[str, int]:
    """count requests, concurrency at a time; returns a histogram of statuses (or exception names).

    Plain requests reuse one keep-alive connection per worker; with cancel_after_first_chunk every request
    opens its own connection and drops it as soon as the first body bytes arrive."""
    hist: dict[str, int] = {}
    todo = iter(range(count))

    async def worker() -> None:
        conn = AsyncKeepAlive(port)
        try:
            for _ in todo:
                try:
                    if cancel_after_first_chunk:
                        status = await async_post(port, path, body, headers, cancel_after_first_chunk=True)
                    else:
                        status = await conn.post(path, body, headers)
                    key = str(status)
                except Exception as exc:  # counted, not raised: the server's behaviour is what we measure
                    key = type(exc).__name__
                    await conn.close()
                hist[key] = hist.get(key, 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return hist


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A throwaway ``redis-server`` on a free port, no persistence: (its URL, its pid); killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: install it (apt-get install redis-server) or pass --redis-url")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0", proc.pid
        finally:
            proc.kill()
            proc.wait(10)


def make_workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)
