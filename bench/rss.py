"""RSS over a long run: is the gateway's memory flat over a million requests? (a script)

One gateway process pinned to core 0, set up as the leak check sets it up (bench/leak_check.py: four
providers on the static nginx, core 1), read from /proc:
  - RSS right after start (before any request) and after a warm-up;
  - then blocks of --sample-every plain requests (wrk, 64 connections, on core 1) until --requests are done,
    each block followed by a tenth of a leak-check round's failure traffic (streams whose client hangs up,
    refused connections, upstream 500s), and RSS, open fds and sockets read after each block.
It reports start / min / max / end and the drift: the spread of the block readings (max - min) and the
end against the first block, as percentages of the first block. Flagged: a spread above --flat percent
(the issue asks for ±5 %), RSS after start above --start-limit MB (64), any non-2xx plain answer or
socket error, a timed-out or failed failure-traffic request.

    .venv/bin/python bench/rss.py                      # 1,000,000 requests, a reading every 100,000
    .venv/bin/python bench/rss.py --requests 200000 --sample-every 20000
It takes about one core for (requests / the gateway's req/s) plus ~5 s a block. Exit code: 0 clean,
1 flagged, 2 could not start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    OPENAI_HEADERS,
    eprint,
    openai_request,
    run_wrk,
)
from leak_check import Snapshot, answers, run_round, snapshot, start_gateway, verdict

CHAT = "/v1/chat/completions"


def _failure_traffic(connections: int) -> argparse.Namespace:
    """A tenth of a leak-check round, without its plain requests (wrk sends those)."""
    return argparse.Namespace(plain=0, stream_cancel=50, refused=200, err500=200, concurrency=connections)


def _percent(x: float, base: float) -> float:
    return 0.0 if base <= 0 else x / base * 100


def summary(start: float, warm: float, blocks: list[tuple[int, Snapshot]]) -> dict[str, float]:
    rss = [s.rss_mb for _n, s in blocks]
    first = rss[0]
    return {
        "after_start_mb": start,
        "after_warmup_mb": warm,
        "first_block_mb": first,
        "min_mb": min(rss),
        "max_mb": max(rss),
        "end_mb": rss[-1],
        "spread_pct": _percent(max(rss) - min(rss), first),
        "end_vs_first_pct": _percent(rss[-1] - first, first),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1_000_000, help="plain requests in all")
    p.add_argument("--sample-every", type=int, default=100_000, help="plain requests between readings")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--flat", type=float, default=5.0, help="flag a spread of the readings above this percent")
    p.add_argument("--start-limit", type=float, default=64.0, help="flag RSS after start above this many MB")
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each reading")
    p.add_argument("--json", type=Path, help="also write the readings and the summary to this file")
    args = p.parse_args()
    if args.requests < args.sample_every or args.sample_every <= 0:
        p.error("--requests must be at least --sample-every, which must be positive")

    started = start_gateway("bifrost-rss-")
    if started is None:
        return 2
    procs, workdir, port, nginx_port, pid = (
        started.procs, started.workdir, started.port, started.nginx_port, started.pid
    )  # fmt: skip
    time.sleep(args.settle)
    at_start = snapshot(pid, nginx_port)  # before any request
    if not answers(started):
        return 2

    url = f"http://127.0.0.1:{port}{CHAT}"
    body = openai_request("openai/gpt-4o-mini")
    problems: list[str] = []
    eprint("== warm-up: 10,000 plain requests and one block's failure traffic")
    warm = run_wrk(workdir, url, body, OPENAI_HEADERS, conns=args.connections, duration=600, max_requests=10_000)
    if warm.errors:
        problems.append(f"warm-up: {warm.errors} errors ({warm.first_bad[:200]})")
    failures = _failure_traffic(args.connections)
    problems += [f"warm-up: {p}" for p in run_round(port, failures, pid, nginx_port)]
    time.sleep(args.settle)
    after_warm = snapshot(pid, nginx_port)
    blocks: list[tuple[int, Snapshot]] = []
    done = 0
    t0 = time.monotonic()
    while done < args.requests:
        # wrk's one thread stops at this many answers (a few more may arrive while it stops).
        want = min(args.sample_every, args.requests - done)
        result = run_wrk(workdir, url, body, OPENAI_HEADERS, conns=args.connections, duration=3600, max_requests=want)
        done += result.requests
        if result.errors:
            problems.append(f"after {done:,} requests: {result.errors} errors ({result.first_bad[:200]})")
        problems += [f"after {done:,} requests: {p}" for p in run_round(port, failures, pid, nginx_port)]
        time.sleep(args.settle)
        snap = snapshot(pid, nginx_port)
        blocks.append((done, snap))
        eprint(f"   {done:>9,} requests  {result.rps:7.0f} req/s  RSS {snap.rss_mb:6.1f} MB  "
               f"fds {snap.fds}  sockets {snap.sockets}  ({time.monotonic() - t0:.0f} s)")  # fmt: skip
        if procs.running["gateway"].poll() is not None:
            problems.append(f"the gateway died after {done:,} requests:\n{procs.log_tail('gateway')}")
            break

    print()
    print(f"{'reading':<28} {'RSS MB':>8} {'fds':>6} {'sockets':>8} {'upstream':>9}")
    print(at_start.row("after start"))
    print(after_warm.row("after warm-up"))
    for n, snap in blocks:
        print(snap.row(f"after {n:,} requests"))
    figures = summary(at_start.rss_mb, after_warm.rss_mb, blocks)
    print(
        f"\nRSS MB: after start {figures['after_start_mb']:.1f}, after warm-up {figures['after_warmup_mb']:.1f}; "
        f"over the run: first {figures['first_block_mb']:.1f}, min {figures['min_mb']:.1f}, "
        f"max {figures['max_mb']:.1f}, end {figures['end_mb']:.1f}; spread {figures['spread_pct']:.1f} %, "
        f"end vs first {figures['end_vs_first_pct']:+.1f} %"
    )
    if figures["spread_pct"] > args.flat:
        problems.append(f"RSS spread {figures['spread_pct']:.1f} % over the run (flat means <= {args.flat:g} %)")
    if figures["after_start_mb"] > args.start_limit:
        problems.append(f"RSS after start {figures['after_start_mb']:.1f} MB (limit {args.start_limit:g} MB)")
    if args.json is not None:
        readings = [{"requests": n, "rss_mb": s.rss_mb, "fds": s.fds, "sockets": s.sockets} for n, s in blocks]
        args.json.write_text(json.dumps({"summary": figures, "readings": readings}, indent=2) + "\n")
    return verdict(started, problems, "rss", "flat")


if __name__ == "__main__":
    sys.exit(main())
