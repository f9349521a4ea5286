"""Where an in-process request's cost goes, phase by phase (the same app and static upstream as
``bench/inproc.py``): each phase of one request is run on its own in a loop, so its CPU time, or
under ``--callgrind`` its instructions, can be read apart from the others.

    .venv/bin/python bench/phases.py                  # CPU µs per phase, openai pair
    .venv/bin/python bench/phases.py anthropic        # another pair (see bench/inproc.py)
    .venv/bin/python bench/phases.py --callgrind      # instructions per phase (valgrind, N and 2N runs)

Phases of a non-streamed chat request, on the path the gateway takes for it. A same-format chat
(``openai``, ``openai-path``: ``Dialect.passthrough_chat`` vouches for the body and ``Router.relays``
holds for its plan) is relayed without a neutral request; the translated pairs are parsed and
rendered:
  asgi       the endpoint without the gateway: headers decoded, body read, Call built, the
             disconnect watch, reply sent (``Gateway.respond`` replaced by one returning a fixed reply)
  parse      body JSON, depth check, the passthrough walk (``passthrough_chat``) and the
             model-name check, then (unless relayed) the dialect's parse into the neutral request
  plan       the targets (``Router.plan``) and, for a passthrough, ``Router.relays``
  route      ``Router.passthrough`` or ``Router.chat``: queue slot, key pick, request built,
             upstream seam, answer read (usage), upstream metrics
  render     the neutral answer rendered in the client's dialect (nothing for a passthrough)
  finish     reply headers, request metrics, tokens, cost, the request log's decision
  whole      the whole request through the app, as ``bench/inproc.py`` measures it
The phases do not add up to ``whole`` exactly: ``whole`` also has the coroutine layers between
them (``respond``, ``_dispatch``), the request context and the exchange.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inproc import PAIRS, Driver, Pair, build_app, callgrind_per_request, new_loop

from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.validate import check_depth, check_model_names
from bifrost_asgi.gateway import _Exchange, _parse_json
from bifrost_asgi.replies import JsonReply
from bifrost_asgi.routing.router import RequestContext

#: The non-streamed chat pairs of bench/inproc.py on a fixed path.
CHAT_PAIRS = ("openai", "openai-path", "anthropic", "to-anthropic")
PHASES = ("asgi", "parse", "plan", "route", "render", "finish", "whole")
Step = Callable[[], Awaitable[Any]]


def _endpoint(app: Any, pair: Pair) -> Any:
    return app.fast_routes[("POST", pair.path)]


async def steps(pair: Pair) -> dict[str, Step]:
    """One awaitable step per phase, each prepared once (its inputs built by a real request)."""
    app = build_app(pair)
    gateway = app.state.gateway
    endpoint = _endpoint(app, pair)
    dialect = endpoint.dialect
    call = Call(headers={k.lower(): v for k, v in pair.headers.items()}, options=endpoint.spec.options)
    payload = _parse_json(pair.body)
    default = endpoint.default_provider
    router = gateway.router
    passthrough = dialect.passthrough_chat(payload, call) if gateway.mcp is None else None
    request = dialect.parse_chat(payload, call)
    targets = router.plan(request.model, request.fallbacks, default)
    relayed = passthrough is not None and router.relays(targets, passthrough.format)
    loop_ctx = RequestContext(request_id="r")
    whole = Driver(app, pair)

    async def asgi() -> None:
        await stub_driver.one()

    async def parse() -> None:
        parsed = _parse_json(pair.body)
        check_depth(pair.body, parsed)
        if passthrough is not None:  # the walk runs first; a plan that does not relay parses after it
            found = dialect.passthrough_chat(parsed, call)
            assert found is not None
            check_model_names(found.model, found.fallbacks)
            if relayed:
                return
        chat = dialect.parse_chat(parsed, call)
        check_model_names(chat.model, chat.fallbacks)

    async def plan() -> None:
        if relayed:
            assert passthrough is not None
            router.relays(router.plan(passthrough.model, passthrough.fallbacks, default), passthrough.format)
        else:
            router.plan(request.model, request.fallbacks, default)

    async def route() -> None:
        ctx = RequestContext(request_id="r")
        if relayed:
            assert passthrough is not None
            await router.passthrough(passthrough, targets, ctx)
        else:
            await router.chat(request, ctx, default, targets=targets)

    async def render() -> None:
        if not relayed:
            dialect.render_chat(response, request)

    async def finish() -> None:
        exchange = _Exchange(endpoint.route, "POST", dialect.name, gateway.clock(), done_ctx)
        gateway._headers(exchange)
        gateway._enter()
        gateway.metrics.inc_in_flight(exchange.dialect)
        gateway._finish(exchange)

    async def everything() -> None:
        await whole.one()

    response = await router.chat(request, loop_ctx, default, targets=targets)
    if relayed:
        assert passthrough is not None
        loop_ctx = RequestContext(request_id="r")
        raw = await router.passthrough(passthrough, targets, loop_ctx)
    else:
        raw = response.raw or b"{}"
    done_ctx = loop_ctx
    fixed = JsonReply(200, raw, {"x-request-id": "r"})

    class _Stub:
        """The gateway seen by the endpoint: ``respond`` answers at once with a fixed reply."""

        def __init__(self) -> None:
            self.max_body_bytes = gateway.max_body_bytes
            self.settings = gateway.settings

        async def respond(self, *args: Any, **kwargs: Any) -> tuple[JsonReply, None]:
            return fixed, None  # nothing left to finish

    stub_endpoint = type(endpoint)(_Stub(), dialect, endpoint.spec, endpoint.route, endpoint.default_provider)  # type: ignore[arg-type]
    stub_app = _Routed(stub_endpoint)
    stub_driver = Driver(stub_app, Pair(pair.path, pair.body, pair.headers, b""))
    return {
        "asgi": asgi, "parse": parse, "plan": plan, "route": route, "render": render, "finish": finish,
        "whole": everything,
    }  # fmt: skip


class _Routed:
    """An ASGI app that is only one endpoint."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.endpoint(scope, receive, send)


async def _loop(step: Step, n: int) -> None:
    for _ in range(n):
        await step()


def measure(name: str, phase: str, n: int, warmup: int) -> float:
    loop = new_loop()
    try:
        step = loop.run_until_complete(steps(PAIRS[name]))[phase]
        loop.run_until_complete(_loop(step, warmup))
        gc.collect()
        t0 = time.process_time()
        loop.run_until_complete(_loop(step, n))
        return (time.process_time() - t0) / n * 1e6
    finally:
        loop.close()


def describe(name: str) -> str:
    """Which path the pair's request takes (the phases measured follow it)."""
    loop = new_loop()
    try:
        return loop.run_until_complete(_path_of(PAIRS[name]))
    finally:
        loop.close()


async def _path_of(pair: Pair) -> str:
    app = build_app(pair)
    gateway = app.state.gateway
    endpoint = _endpoint(app, pair)
    call = Call(headers={k.lower(): v for k, v in pair.headers.items()}, options=endpoint.spec.options)
    found = endpoint.dialect.passthrough_chat(_parse_json(pair.body), call) if gateway.mcp is None else None
    if found is None:
        return "parsed into the neutral request, rendered back"
    targets = gateway.router.plan(found.model, found.fallbacks, endpoint.default_provider)
    if gateway.router.relays(targets, found.format):
        return "passthrough: Router.passthrough, the upstream body relayed"
    return "passthrough walk, then parsed and rendered (a target takes another format)"


def instructions(name: str, phase: str, n: int, warmup: int) -> float:
    return callgrind_per_request([__file__, name, "--phase", phase, "--warmup", str(warmup)], n)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pair", nargs="?", default="openai", help=f"one of {', '.join(CHAT_PAIRS)}")
    p.add_argument("--phase", choices=PHASES, action="append", help="only these phases (repeatable)")
    p.add_argument("-n", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--callgrind", action="store_true", help="instructions per phase (-n defaults to 200)")
    a = p.parse_args()
    if a.pair not in CHAT_PAIRS:
        p.error(f"{a.pair!r}: choose one of {', '.join(CHAT_PAIRS)}")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bifrost_asgi").setLevel(logging.WARNING)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    for phase in a.phase or PHASES:
        if a.callgrind:
            n = a.n if a.n != 5000 else 200
            print(f"{phase:<8} {instructions(a.pair, phase, n, min(a.warmup, 100)):10,.0f} instructions", flush=True)
        else:
            print(f"{phase:<8} {measure(a.pair, phase, a.n, a.warmup):8.1f} µs CPU", flush=True)
    if not a.phase:
        print(f"({a.pair}: {describe(a.pair)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
