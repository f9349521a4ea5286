"""The cost of governance on the hot path, in process: CPU per request of the same OpenAI -> OpenAI
request without governance, with a virtual key checked against a rate limit and a budget whose
counters live in the process, and with the same counters on Redis (a real ``redis-server``).

Same method as ``bench/inproc.py`` (ASGI calls in a loop, a static upstream, process CPU time), so
the difference between rows is what governance adds: reading and hashing the key, the admission
(one Lua script round trip on Redis), the settlement (another), metrics. For the Redis row the
``redis-server``'s own CPU per request is reported separately (it runs in another process).

    .venv/bin/python bench/governance.py                 # all rows, 5000 requests each, 64 in flight
    .venv/bin/python bench/governance.py --concurrency 1 # one request at a time (no batching)
    .venv/bin/python bench/governance.py -n 2000 --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import OPENAI_HEADERS, openai_request, redis_server
from inproc import CONFIG, Driver, Pair, StaticUpstream, run

from bifrost_asgi.asgi.app import bifrost_app

VK = "sk-bf-bench-0f6c1d2e-3a4b-5c6d-7e8f-9a0b1c2d3e4f"
PAIR = Pair("/v1/chat/completions", openai_request("openai/gpt-4o-mini"), OPENAI_HEADERS, b'"choices"')
VK_PAIR = Pair(PAIR.path, PAIR.body, {**OPENAI_HEADERS, "Authorization": f"Bearer {VK}"}, PAIR.expect)


def governed(store: dict[str, Any] | None) -> dict[str, Any]:
    governance: dict[str, Any] = {
        "rate_limits": [{"id": "rl-bench", "request_max_limit": 10**9, "request_reset_duration": "1h",
                         "token_max_limit": 10**12, "token_reset_duration": "1h"}],
        "budgets": [{"id": "b-bench", "max_limit": 10**6, "reset_duration": "1M", "virtual_key_id": "vk-bench"}],
        "virtual_keys": [{"id": "vk-bench", "name": "bench", "value": VK, "rate_limit_id": "rl-bench",
                          "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    }  # fmt: skip
    if store is not None:
        governance["store"] = store
    return {**CONFIG, "client": {"enforce_auth_on_inference": True}, "governance": governance}


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def concurrently(driver: Driver, n: int, concurrency: int) -> None:
    """``n`` requests from ``concurrency`` callers at once (as 64 connections would send them)."""
    await asyncio.gather(*(run(driver, n // concurrency) for _ in range(concurrency)))


def measure(
    config: dict[str, Any], pair: Pair, n: int, warmup: int, redis_pid: int | None, concurrency: int = 1
) -> tuple[float, float | None]:
    app = bifrost_app(config=config)
    gateway = app.state.gateway
    gateway.upstream = gateway.router.upstream = StaticUpstream()
    driver = Driver(app, pair)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run(driver, warmup))
        gc.collect()
        redis_before = proc_cpu_s(redis_pid) if redis_pid else 0.0
        t0 = time.process_time()
        loop.run_until_complete(concurrently(driver, n, concurrency))
        own = (time.process_time() - t0) / n * 1e6
        redis = (proc_cpu_s(redis_pid) - redis_before) / n * 1e6 if redis_pid else None
        loop.run_until_complete(gateway.aclose())
        return own, redis
    finally:
        loop.close()


def profile(n: int) -> int:
    import cProfile
    import pstats

    app = bifrost_app(config=governed(None))
    gateway = app.state.gateway
    gateway.upstream = gateway.router.upstream = StaticUpstream()
    driver = Driver(app, VK_PAIR)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(driver, 500))
    prof = cProfile.Profile()
    prof.enable()
    loop.run_until_complete(run(driver, n))
    prof.disable()
    loop.close()
    pstats.Stats(prof).sort_stats("tottime").print_stats(35)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=5000, help="measured requests per row (default 5000)")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3, help="best of this many runs per row (default 3)")
    p.add_argument("--redis-url", help="use this Redis instead of starting a redis-server (its CPU is not read)")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at once (default 64)")
    p.add_argument("--profile", action="store_true", help="cProfile the in-process governance row instead")
    args = p.parse_args()
    logging.disable(logging.INFO)  # the request log line costs the same in every row
    if args.profile:
        return profile(args.n)

    def best(config: dict[str, Any], pair: Pair, pid: int | None) -> tuple[float, float | None]:
        runs = [measure(config, pair, args.n, args.warmup, pid, args.concurrency) for _ in range(args.rounds)]
        return min(runs, key=lambda r: r[0])

    rows: list[tuple[str, float, float | None]] = []
    base, _ = best(dict(CONFIG), PAIR, None)
    rows.append(("no governance", base, None))
    local, _ = best(governed(None), VK_PAIR, None)
    rows.append(("virtual key + rate limit + budget, in-process counters", local, None))
    with contextlib.ExitStack() as stack:
        if args.redis_url:
            url, pid = args.redis_url, None
        else:
            url, pid = stack.enter_context(redis_server())
        remote, redis_cpu = best(governed({"type": "redis", "url": url}), VK_PAIR, pid)
    rows.append(("virtual key + rate limit + budget, counters on Redis", remote, redis_cpu))
    print(f"governance on the hot path, in process, OpenAI -> OpenAI, {args.n} requests, "
          f"{args.concurrency} in flight, best of {args.rounds}")
    print("| configuration | gateway CPU µs/request | added by governance | redis-server CPU µs/request |")
    print("| --- | ---: | ---: | ---: |")
    for label, cpu, redis in rows:
        added = "" if label == "no governance" else f"+{cpu - base:.1f}"
        print(f"| {label} | {cpu:.1f} | {added} | {'' if redis is None else f'{redis:.1f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
