"""Reliability done-when criteria over real sockets with the OpenAI SDK (its retries off): a failing
provider is cooled down and bypassed for a thousand requests, queues admit or refuse at once,
queue waits count against the timeout, fallbacks (request and config), weighted aliases, the
primary's error when everything fails, key rotation independent of ``max_retries``, and client
errors that never fall back.

Provider ``openai`` lives on fake server A, ``backup`` (an OpenAI-compatible custom provider) on
fake server B, so ``fake.count()`` on each tells exactly which provider was asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2
import openai
import pytest

from tests.support import (
    FakeProvider,
    Hang,
    RecordedRequest,
    Status,
    fake_text,
    openai_error_body,
    run_gateway,
    running_fake,
)
from tests.support.servers import ServerHandle

pytestmark = pytest.mark.e2e

HI: Any = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
FALLBACK = "backup/gpt-4o-mini"
TEXT = fake_text("openai", "hi")  # both servers speak OpenAI: providers are told apart by counts/headers


@pytest.fixture
def fake_b() -> Iterator[FakeProvider]:
    with running_fake() as fake:
        yield fake
        errors = fake.errors
    assert not errors, f"fake provider B raised: {errors!r}"


def config(
    a: FakeProvider,
    b: FakeProvider,
    *,
    network: Mapping[str, Any] | None = None,
    keys: list[dict[str, Any]] | None = None,
    queue: Mapping[str, int] | None = None,
    routing: Mapping[str, Any] | None = None,
    client: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``network``, ``keys`` and ``queue`` apply to ``openai`` (on A)."""
    net = {"retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 40, **(network or {})}
    openai_cfg: dict[str, Any] = {
        "keys": keys or [{"value": "sk-a", "name": "a1"}],
        "network_config": {"base_url": a.url, **net},
    }
    if queue is not None:
        openai_cfg["concurrency_and_buffer_size"] = dict(queue)
    return {
        "providers": {
            "openai": openai_cfg,
            "backup": {
                "keys": [{"value": "sk-b", "name": "b1"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": b.url},
            },
        },
        "routing": dict(routing or {}),
        "client": {"enable_logging": False, **(client or {})},
    }


@contextlib.contextmanager
def openai_client(gw: ServerHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="client-key", max_retries=0, timeout=15) as client:
        yield client


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    return client.chat.completions.with_raw_response.create(messages=HI, **kwargs)


def failed(client: openai.OpenAI, **kwargs: Any) -> openai.APIStatusError:
    kwargs.setdefault("model", MODEL)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(messages=HI, **kwargs)
    return caught.value


def trail(headers: Any) -> list[str]:
    value = headers.get("x-bifrost-attempt-trail") or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def ready(gw: ServerHandle) -> dict[str, Any]:
    response = httpx2.get(f"{gw.url}/health/ready", timeout=5)
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- cooldown at volume


def test_a_thousand_requests_all_succeed_via_the_fallback_while_the_primary_cools_down(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("openai", Status(500))
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        providers: dict[str, int] = {}
        for _ in range(1000):
            raw = chat(client, extra_body={"fallbacks": [FALLBACK]})
            assert raw.status_code == 200
            assert raw.parse().choices[0].message.content == TEXT
            name = raw.headers["x-bifrost-provider"]
            providers[name] = providers.get(name, 0) + 1
        health = ready(gw)
        last_trail = trail(raw.headers)
    assert providers == {"backup": 1000}
    # cooldown_failures (3) failures, then A is skipped for cooldown_seconds (30): far fewer than 1000.
    assert fake_provider.count(vendor="openai") <= 50
    assert fake_b.count() == 1000
    assert last_trail == ["openai/gpt-4o-mini=cooldown", "backup/gpt-4o-mini=200"]
    cooling = health["providers"]["openai"]["cooling_keys"]
    assert set(cooling) == {"a1"}
    assert 0 < cooling["a1"] <= 30
    assert health["providers"]["openai"]["ready"] is False
    assert health["providers"]["backup"]["ready"] is True
    assert health["status"] == "ready"


# --------------------------------------------------------------------------- queues


async def _timed_chat(client: openai.AsyncOpenAI) -> tuple[int, float, Mapping[str, str]]:
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    except openai.APIStatusError as exc:
        return exc.status_code, time.monotonic() - started, exc.response.headers
    return raw.status_code, time.monotonic() - started, raw.headers


async def _burst(gw: ServerHandle, count: int) -> list[tuple[int, float, Mapping[str, str]]]:
    async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0, timeout=15) as client:
        return list(await asyncio.gather(*(_timed_chat(client) for _ in range(count))))


async def _refusals_while_upstream_holds(
    gw: ServerHandle, fake: FakeProvider, count: int, refusals: int
) -> tuple[list[tuple[int, float, Mapping[str, str]]], int, int]:
    """Send ``count`` requests at once against an upstream that holds every request for 30 s; return the
    first ``refusals`` answers and, once they are in, the upstream's active and received counts. An
    answer that waited for a slot could not come before the 30 s hang ends, so no clock is needed."""
    async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0, timeout=60) as client:
        tasks = [asyncio.create_task(_timed_chat(client)) for _ in range(count)]
        first: list[tuple[int, float, Mapping[str, str]]] = []
        with contextlib.suppress(TimeoutError):  # fewer than ``refusals`` answers: the assertions say so
            for answer in asyncio.as_completed(tasks, timeout=20):
                first.append(await answer)
                if len(first) == refusals:
                    break
        await asyncio.to_thread(fake.wait_for, lambda: fake.active_requests == 2)
        await asyncio.sleep(0.3)  # a third request let through would reach the upstream by now
        active, received = fake.active_requests, fake.count(vendor="openai")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return first, active, received


def test_drop_excess_requests_refuses_beyond_concurrency_and_buffer_at_once(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("openai", Hang(30))
    cfg = config(
        fake_provider, fake_b, queue={"concurrency": 2, "buffer_size": 2}, client={"drop_excess_requests": True}
    )
    with run_gateway(cfg) as gw:
        refused, active, received = asyncio.run(_refusals_while_upstream_holds(gw, fake_provider, 10, 6))
    # Six answered while the two running requests were still held upstream: refused at once, not queued.
    assert [status for status, _, _ in refused] == [429] * 6
    for _, _, headers in refused:
        assert float(headers["retry-after"]) >= 1
        assert trail(headers) == ["openai/gpt-4o-mini=queue full"]
    # Two ran at once; the other two admitted waited in the buffer, never sent upstream meanwhile.
    assert (active, received) == (2, 2)
    assert fake_b.count() == 0


def test_without_drop_excess_every_request_waits_its_turn(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Hang(0.25))
    cfg = config(fake_provider, fake_b, queue={"concurrency": 2, "buffer_size": 2})
    with run_gateway(cfg) as gw:
        results = asyncio.run(_burst(gw, 10))
    assert [r[0] for r in results] == [200] * 10
    assert fake_provider.count(vendor="openai") == 10
    assert max(r[1] for r in results) >= 1.2  # five waves of two


def _in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_queue_wait_counts_against_the_request_timeout(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Hang(2.0))
    cfg = config(fake_provider, fake_b, queue={"concurrency": 1, "buffer_size": 10})
    with run_gateway(cfg) as gw, openai_client(gw) as first_client, openai_client(gw) as second_client:
        first, first_out = _in_background(lambda: chat(first_client).status_code)
        fake_provider.wait_for(lambda: fake_provider.active_requests == 1)
        started = time.monotonic()
        error = failed(second_client, extra_headers={"x-bf-request-timeout": "1"})
        elapsed = time.monotonic() - started
        first.join(10)
    # A 504 naming the queue, and nothing sent upstream, show the deadline ran out while it waited (the slot
    # frees only at 2 s, when the first answer comes).
    assert error.status_code == 504
    assert elapsed >= 0.9
    assert "queue" in error.message
    assert first_out == [200]
    assert fake_provider.count(vendor="openai") == 1  # the second request never reached upstream


def test_time_spent_queued_is_taken_from_the_first_attempt(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    # The slot frees after 0.6 s; the queued request (timeout 1 s) then has 0.4 s left, not 1 s more.
    fake_provider.script("openai", [Hang(0.6), Hang(0.8)])
    cfg = config(fake_provider, fake_b, queue={"concurrency": 1, "buffer_size": 10})
    with run_gateway(cfg) as gw, openai_client(gw) as first_client, openai_client(gw) as second_client:
        first, first_out = _in_background(lambda: chat(first_client).status_code)
        fake_provider.wait_for(lambda: fake_provider.active_requests == 1)
        started = time.monotonic()
        error = failed(second_client, extra_headers={"x-bf-request-timeout": "1"})
        elapsed = time.monotonic() - started
        first.join(10)
    assert first_out == [200]
    # Had the 0.6 s queued not been taken from it, the attempt would have had a whole second and its 0.8 s
    # answer would have been a 200: the 504 is what shows the wait was counted.
    assert error.status_code == 504, "the queue wait was not counted against the request timeout"
    assert elapsed >= 0.9
    assert fake_provider.count(vendor="openai") == 2


# --------------------------------------------------------------------------- fallbacks and aliases


@pytest.mark.parametrize(
    ("fallbacks", "named"),
    [(["nope/x"], "fallbacks[0]"), ([FALLBACK, 7], "fallbacks[1]"), ("backup/gpt-4o-mini", "fallbacks")],
)
def test_a_bad_fallbacks_entry_is_a_400_naming_it(
    fake_provider: FakeProvider, fake_b: FakeProvider, fallbacks: Any, named: str
) -> None:
    with run_gateway(config(fake_provider, fake_b)) as gw, openai_client(gw) as client:
        error = failed(client, extra_body={"fallbacks": fallbacks})
    assert error.status_code == 400
    assert named in error.message
    assert fake_provider.count() == fake_b.count() == 0


def test_configured_fallbacks_serve_requests_that_name_none(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Status(503))
    routing = {"fallbacks": {"gpt-4o-mini": [FALLBACK]}, "cooldown_failures": 100}
    with run_gateway(config(fake_provider, fake_b, routing=routing)) as gw, openai_client(gw) as client:
        bare = chat(client, model="gpt-4o-mini")
        prefixed = chat(client, model=MODEL)  # the same model spelled provider/model
        other = failed(client, model="gpt-4o")  # no configured fallbacks for this one
    for raw in (bare, prefixed):
        assert raw.status_code == 200
        assert raw.headers["x-bifrost-provider"] == "backup"
        assert trail(raw.headers) == ["openai/gpt-4o-mini=503", "backup/gpt-4o-mini=200"]
    assert other.status_code == 503
    assert fake_b.count() == 2


def test_request_fallbacks_come_before_configured_ones(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    fake_provider.always("openai", Status(503))
    routing = {"fallbacks": {"gpt-4o-mini": ["backup/gpt-4o"]}}
    with run_gateway(config(fake_provider, fake_b, routing=routing)) as gw, openai_client(gw) as client:
        raw = chat(client, model="gpt-4o-mini", extra_body={"fallbacks": [FALLBACK]})
    assert raw.status_code == 200
    assert [r.model for r in fake_b.requests] == ["gpt-4o-mini"]


def test_weighted_alias_splits_traffic_and_fails_over(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    routing = {
        "aliases": {"smart": [{"target": MODEL, "weight": 0.8}, {"target": FALLBACK, "weight": 0.2}]},
        "cooldown_failures": 1000,  # keep A in rotation so every pick shows in the counts
    }
    with run_gateway(config(fake_provider, fake_b, routing=routing)) as gw, openai_client(gw) as client:
        for _ in range(500):
            assert chat(client, model="smart").status_code == 200
        split = fake_provider.count(vendor="openai"), fake_b.count()
        fake_provider.reset()
        fake_b.reset()
        fake_provider.always("openai", Status(500))
        answered: dict[str, int] = {}
        for _ in range(100):
            raw = chat(client, model="smart")
            assert raw.status_code == 200
            answered[raw.headers["x-bifrost-provider"]] = answered.get(raw.headers["x-bifrost-provider"], 0) + 1
    assert sum(split) == 500
    assert 340 <= split[0] <= 460, f"expected ~80/20 over 500 requests, got {split}"
    assert answered == {"backup": 100}
    assert fake_provider.count(vendor="openai") >= 50  # A picked ~80 times and failed over each time


def test_when_all_fail_the_client_gets_the_primarys_error_and_the_full_trail(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_provider.always("openai", Status(503, body=openai_error_body(503, "primary is overloaded")))
    fake_b.always("openai", Status(500, body=openai_error_body(500, "backup broke")))
    cfg = config(fake_provider, fake_b, network={"max_retries": 1})
    with run_gateway(cfg) as gw, openai_client(gw) as client:
        error = failed(client, extra_body={"fallbacks": [FALLBACK, "backup/gpt-4o"]})
    assert error.status_code == 503
    assert error.body == {"message": "primary is overloaded", "type": "server_error", "param": None, "code": None}
    assert trail(error.response.headers) == [
        "openai/gpt-4o-mini=503",
        "openai/gpt-4o-mini=503",
        "backup/gpt-4o-mini=500",
        "backup/gpt-4o=500",
    ]
    assert error.response.headers["x-bifrost-attempts"] == "4"


def test_a_revoked_key_rotates_to_a_healthy_one_even_with_max_retries_zero(
    fake_provider: FakeProvider, fake_b: FakeProvider
) -> None:
    def revoked(request: RecordedRequest) -> Any:
        return Status(401) if request.headers.get("authorization") == "Bearer sk-revoked" else None

    fake_provider.respond("/chat/completions", revoked)
    # Weight 0 on the healthy key: the revoked one is always tried first.
    keys = [{"value": "sk-revoked", "name": "old", "weight": 1.0}, {"value": "sk-good", "name": "new", "weight": 0}]
    cfg = config(fake_provider, fake_b, keys=keys, network={"max_retries": 0})
    with run_gateway(cfg) as gw, openai_client(gw) as client:
        raw = chat(client)
    assert raw.status_code == 200
    assert raw.headers["x-bifrost-attempts"] == "2"
    assert trail(raw.headers) == ["openai/gpt-4o-mini=401", "openai/gpt-4o-mini=200"]
    assert [r.headers["authorization"] for r in fake_provider.requests] == ["Bearer sk-revoked", "Bearer sk-good"]
    assert fake_b.count() == 0


def test_a_client_error_from_upstream_never_falls_back(fake_provider: FakeProvider, fake_b: FakeProvider) -> None:
    body = openai_error_body(400, "messages: bad role")
    fake_provider.always("openai", Status(400, body=body))
    with run_gateway(config(fake_provider, fake_b, network={"max_retries": 3})) as gw, openai_client(gw) as client:
        error = failed(client, extra_body={"fallbacks": [FALLBACK]})
    assert error.status_code == 400
    assert error.body == body["error"]  # the upstream's error, verbatim
    assert fake_provider.count(vendor="openai") == 1
    assert fake_b.count() == 0
