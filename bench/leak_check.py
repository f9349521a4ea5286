"""Leak check: does bifrost-asgi keep memory, sockets or file descriptors after hard traffic? (a script)

One gateway process (pinned to core 0) against the static nginx upstream (core 1), with four providers:
  openai      -> nginx, 200 chat.completion          (plain requests, keep-alive clients)
  benchslow   -> nginx /slow, an SSE stream trickled at 1 KB/s (clients hang up after the first chunk)
  benchdead   -> a port nobody listens on (connection refused)
  bench500    -> nginx /err500, 500 with an OpenAI error body
A warm-up, then the same round of traffic twice. After each round (and a settle pause) it reads the
gateway's RSS, open file descriptors, and ESTABLISHED TCP sockets (all, and those to the upstream) from /proc.
A leak shows as growth from round 1 to round 2: more than --threshold percent (counts also need to grow by
more than 2) is flagged, as is any client request that timed out or failed at the socket.

    bash bench/run.sh leak            # or: .venv/bin/python bench/leak_check.py [--plain 20000 ...]
Exit code: 0 clean, 1 flagged, 2 could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    CLIENT_CPUS,
    OPENAI_HEADERS,
    SERVER_CPUS,
    BenchError,
    KeepAliveClient,
    Procs,
    eprint,
    established,
    fd_count,
    free_port,
    gateway_argv,
    gateway_runnable,
    make_workdir,
    openai_request,
    pin_self,
    rss_mb,
    run_many,
    start_nginx,
    wait_port,
)

CHAT = "/v1/chat/completions"


@dataclass
class Snapshot:
    rss_mb: float
    fds: int
    sockets: int
    upstream: int

    def row(self, label: str) -> str:
        return f"{label:<28} {self.rss_mb:>8.1f} {self.fds:>6} {self.sockets:>8} {self.upstream:>9}"


def gateway_config(nginx_port: int, dead_port: int) -> dict[str, object]:
    def provider(base_url: str, custom: bool) -> dict[str, object]:
        cfg: dict[str, object] = {
            "keys": [{"value": "sk-bench", "models": [], "weight": 1.0}],
            "network_config": {"base_url": base_url, "max_retries": 0, "default_request_timeout_in_seconds": 30},
        }
        if custom:
            cfg["custom_provider_config"] = {"base_provider_type": "openai"}
        return cfg

    up = f"http://127.0.0.1:{nginx_port}"
    return {
        "providers": {
            "openai": provider(up, custom=False),
            "benchslow": provider(up + "/slow", custom=True),
            "benchdead": provider(f"http://127.0.0.1:{dead_port}", custom=True),
            "bench500": provider(up + "/err500", custom=True),
        }
    }


def snapshot(pid: int, nginx_port: int) -> Snapshot:
    return Snapshot(rss_mb(pid), fd_count(pid), established(pid), established(pid, nginx_port))


def phases(args: argparse.Namespace) -> list[tuple[str, str, bytes, int, int, bool]]:
    """(name, model, body, count, concurrency, cancel_after_first_chunk)."""
    return [
        ("plain 200", "openai/gpt-4o-mini", openai_request("openai/gpt-4o-mini"), args.plain, args.concurrency, False),
        (
            "stream, client hangs up",
            "benchslow/gpt-4o-mini",
            openai_request("benchslow/gpt-4o-mini", stream=True),
            args.stream_cancel,
            16,
            True,
        ),
        (
            "connection refused",
            "benchdead/gpt-4o-mini",
            openai_request("benchdead/gpt-4o-mini"),
            args.refused,
            16,
            False,
        ),
        ("upstream 500", "bench500/gpt-4o-mini", openai_request("bench500/gpt-4o-mini"), args.err500, 16, False),
    ]


def run_round(port: int, args: argparse.Namespace, pid: int, nginx_port: int) -> list[str]:
    """Runs every phase once; returns problems (socket failures, timeouts, unexpected statuses, upstream
    streams left open after their client hung up)."""
    problems = []
    for name, _model, body, count, conc, cancel in phases(args):
        t0 = time.monotonic()
        hist = asyncio.run(
            run_many(port, CHAT, body, OPENAI_HEADERS, count=count, concurrency=conc, cancel_after_first_chunk=cancel)
        )
        took = time.monotonic() - t0
        eprint(f"   {name:<26} {count:>6} requests in {took:5.1f}s  statuses {dict(sorted(hist.items()))}")
        failures = {k: v for k, v in hist.items() if not k.isdigit()}
        if failures:
            problems.append(f"{name}: client-side failures {failures} (timeouts mean the gateway hung)")
        if name == "plain 200" and hist.get("200", 0) != count:
            problems.append(f"{name}: not every request returned 200: {hist}")
        if name != "plain 200" and any(k.isdigit() and k.startswith("2") for k in hist) and not cancel:
            problems.append(f"{name}: a failing upstream produced 2xx answers: {hist}")
        if cancel:
            # The upstream trickles each stream for ~7 s: if the gateway kept reading after its client left,
            # those sockets are still open now, on top of the idle keep-alive pool.
            time.sleep(0.5)
            open_up = established(pid, nginx_port)
            limit = args.concurrency + conc + 4
            eprint(f"   {'':<26} upstream sockets 0.5 s after the hang-ups: {open_up} (pool + streams <= {limit})")
            if open_up > limit:
                problems.append(
                    f"{name}: {open_up} upstream sockets open 0.5 s after the clients hung up (expected <= "
                    f"{limit}): cancelled streams keep reading from the provider"
                )
    return problems


def growth(before: float, after: float) -> float:
    return 0.0 if before <= 0 else (after - before) / before * 100


@dataclass
class Started:
    """The leak check's gateway, started and listening."""

    procs: Procs
    workdir: Path
    port: int
    nginx_port: int
    pid: int


def start_gateway(workdir_prefix: str) -> Started | None:
    """nginx on core 1 and the gateway with the four providers above on core 0, listening; None
    (with the reason on stderr) when it could not start. No request has been sent to it yet."""
    reason = gateway_runnable()
    if reason:
        eprint(f"!! the gateway cannot start: {reason}")
        return None
    pin_self(CLIENT_CPUS)
    workdir = make_workdir(workdir_prefix)
    procs = Procs(workdir)
    eprint(f"work dir (configs, server logs): {workdir}")
    try:
        nginx_port = start_nginx(procs, workdir)
        dead_port = free_port()
        port = free_port()
        config = workdir / "gateway.json"
        config.write_text(json.dumps(gateway_config(nginx_port, dead_port), indent=2))
        argv = [*gateway_argv(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        procs.start("gateway", [*argv, "--log-level", "warning"], cpus=SERVER_CPUS)
        wait_port(procs, "gateway", port, 30)
    except BenchError as exc:
        eprint(f"!! {exc}")
        return None
    return Started(procs, workdir, port, nginx_port, procs.running["gateway"].pid)


def answers(started: Started) -> bool:
    """One plain request answered 200 (else the reason and the gateway's log on stderr)."""
    client = KeepAliveClient(started.port)
    reply = client.post(CHAT, openai_request("openai/gpt-4o-mini"), OPENAI_HEADERS)
    client.close()
    if reply.status != 200:
        log = started.procs.log_tail("gateway")
        eprint(f"!! sanity request failed: HTTP {reply.status} {reply.body[:300]!r}\n{log}")
        return False
    return True


def verdict(started: Started, problems: list[str], name: str, good: str) -> int:
    """The problems and the verdict printed, every process stopped; the logs kept when flagged.
    The exit code: 0 ``good``, 1 flagged."""
    print()
    for prob in problems:
        print(f"[!] {prob}")
    print(f"{name}: " + ("FLAGGED" if problems else good))
    started.procs.stop_all()
    if problems:
        print(f"server logs kept in {started.workdir}")
        return 1
    shutil.rmtree(started.workdir, ignore_errors=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plain", type=int, default=20000)
    p.add_argument("--stream-cancel", type=int, default=500)
    p.add_argument("--refused", type=int, default=2000)
    p.add_argument("--err500", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32, help="client connections for plain requests")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each reading")
    p.add_argument("--threshold", type=float, default=10.0, help="flag growth above this percent")
    args = p.parse_args()

    started = start_gateway("bifrost-leak-")
    if started is None or not answers(started):
        return 2
    procs, port, nginx_port, pid = started.procs, started.port, started.nginx_port, started.pid

    eprint("== warm-up (a tenth of a round)")
    warm = argparse.Namespace(**vars(args))
    warm.plain, warm.stream_cancel = max(1, args.plain // 10), max(1, args.stream_cancel // 10)
    warm.refused, warm.err500 = max(1, args.refused // 10), max(1, args.err500 // 10)
    problems = run_round(port, warm, pid, nginx_port)
    time.sleep(args.settle)
    snaps = [("baseline (after warm-up)", snapshot(pid, nginx_port))]
    for r in range(1, args.rounds + 1):
        eprint(f"== round {r}")
        problems += [f"round {r}: {p}" for p in run_round(port, args, pid, nginx_port)]
        busy = snapshot(pid, nginx_port)
        time.sleep(args.settle)
        snaps.append((f"round {r} (right after)", busy))
        snaps.append((f"round {r} (after {args.settle:g}s)", snapshot(pid, nginx_port)))
        if procs.running["gateway"].poll() is not None:
            problems.append(f"the gateway died during round {r}:\n{procs.log_tail('gateway')}")
            break

    print()
    print(f"{'reading':<28} {'RSS MB':>8} {'fds':>6} {'sockets':>8} {'upstream':>9}")
    for label, snap in snaps:
        print(snap.row(label))
    settled = [s for label, s in snaps if label.startswith("round") and "after " in label]
    if len(settled) >= 2:
        a, b = settled[-2], settled[-1]
        print(f"\ngrowth between the last two rounds (threshold {args.threshold:g}%):")
        for name, x, y, slack in (
            ("RSS", a.rss_mb, b.rss_mb, 0.0),
            ("open fds", a.fds, b.fds, 2),
            ("ESTABLISHED sockets", a.sockets, b.sockets, 2),
            ("upstream sockets", a.upstream, b.upstream, 2),
        ):
            g = growth(x, y)
            bad = g > args.threshold and (y - x) > slack
            print(f"  {name:<20} {x:>9.1f} -> {y:>9.1f}  {g:+6.1f}%" + ("  [!] FLAGGED" if bad else ""))
            if bad:
                problems.append(f"{name} grew {g:+.1f}% between the last two rounds ({x:g} -> {y:g})")
    last = snaps[-1][1]
    if last.upstream > args.concurrency + 20:
        problems.append(
            f"{last.upstream} upstream sockets still open after settling (more than the {args.concurrency} "
            "plain clients could need)"
        )
    return verdict(started, problems, "leak check", "clean")


if __name__ == "__main__":
    sys.exit(main())
