"""/metrics over real sockets: exact request/latency/token/upstream counts after a mix of plain,
streamed and failing requests from the official SDKs, stream usage handling, bounded label sets,
custom labels, retry/fallback counters and the in-flight/queue gauges."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FakeProvider,
    RecordedRequest,
    ServerHandle,
    Status,
    run_gateway,
)

pytestmark = pytest.mark.e2e

OPENAI_KEY = "sk-obs-openai-Q7xv93kd0PLm"
ANTHROPIC_KEY = "ant-obs-key-Zr41wq8Hn2"
GEMINI_KEY = "gem-obs-key-Tb55ue0Ys1"
KEY_VALUES = (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY)
GENAI_TEMPLATE = "/genai/v1beta/models/{model:path}"
USER_TEXT = "count me"


# --------------------------------------------------------------------------- helpers


class Scrape:
    """One parsed /metrics body."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[Sample] = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def sum(self, name: str, **labels: str) -> float:
        return sum(
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def samples_of(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name]

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples_of(name) if label in s.labels}

    def label_sets(self) -> dict[str, set[frozenset[tuple[str, str]]]]:
        sets: dict[str, set[frozenset[tuple[str, str]]]] = {}
        for s in self.samples:
            sets.setdefault(s.name, set()).add(frozenset(s.labels.items()))
        return sets


def scrape(url: str, *, settle: float = 5.0) -> Scrape:
    """Scrape once no request is in flight: a stream's client can finish reading before the
    gateway records it, and in-flight drops to 0 in the same step as the request is counted."""
    deadline = time.monotonic() + settle
    while True:
        got = Scrape(httpx2.get(url + "/metrics", timeout=5.0).text)
        if got.sum("bifrost_in_flight_requests") == 0 or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def delta(after: Scrape, before: Scrape, name: str, **labels: str) -> float:
    return after.sum(name, **labels) - before.sum(name, **labels)


def gateway_config(fake: FakeProvider, **client: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "keys": [{"value": OPENAI_KEY, "models": ["*"], "name": "oa-main"}],
                "network_config": {"base_url": fake.url},
            },
            "anthropic": {
                "keys": [{"value": ANTHROPIC_KEY, "models": ["*"], "name": "an-main"}],
                "network_config": {"base_url": fake.url},
            },
            "gemini": {
                "keys": [{"value": GEMINI_KEY, "models": ["*"], "name": "ge-main"}],
                "network_config": {"base_url": fake.url + "/v1beta"},
            },
        },
        "routing": {"cooldown_failures": 1000},
        "client": {"prometheus_labels": ["team"], **client},
    }


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:
    return fake_provider


@pytest.fixture
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(gateway_config(fake)) as handle:
        yield handle


def oai(gw: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key="client-key", base_url=gw.url + "/openai/v1", max_retries=0)


def ant(gw: ServerHandle) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="client-key", base_url=gw.url + "/anthropic", max_retries=0)


def gem(gw: ServerHandle) -> genai.Client:
    return genai.Client(api_key="client-key", http_options={"base_url": gw.url + "/genai", "api_version": "v1beta"})


MESSAGES: Any = [{"role": "user", "content": USER_TEXT}]


def sse_data(body: bytes) -> list[str]:
    return [line[len("data: ") :] for line in body.decode().splitlines() if line.startswith("data: ")]


def last_chat(fake: FakeProvider, vendor: str) -> RecordedRequest:
    return fake.last(vendor=vendor)


# --------------------------------------------------------------------------- counts


def test_plain_streamed_and_failing_requests_are_counted_exactly(gateway: ServerHandle, fake: FakeProvider) -> None:
    before = scrape(gateway.url)
    client, claude, gemini = oai(gateway), ant(gateway), gem(gateway)

    # N = 4 plain requests (one translated OpenAI -> Anthropic), one with a custom label.
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-bf-prom-team": "red"}
    )
    assert plain.usage is not None and plain.usage.prompt_tokens == FAKE_PROMPT_TOKENS
    assert claude.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES).usage.output_tokens == 7
    assert gemini.models.generate_content(model="gemini-2.5-flash", contents=USER_TEXT).text == "gemini says: count me"
    translated = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=MESSAGES)
    assert translated.choices[0].message.content == "anthropic says: count me"
    n_plain = 4

    # M = 6 streams.
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert (with_usage[-1].usage.prompt_tokens, with_usage[-1].usage.completion_tokens) == (11, 7)

    without_usage = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert without_usage and all(c.usage is None and c.choices for c in without_usage[:-1])
    assert without_usage[-1].choices and without_usage[-1].usage is not None  # on the finish chunk
    assert last_chat(fake, "openai").json["stream_options"] == {"include_usage": True}

    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
        with http.stream("POST", "/openai/v1/chat/completions", json=body) as reply:
            assert reply.status_code == 200
            raw = reply.read()
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks and all(c["choices"] for c in chunks), "no choices-[] usage chunk when the client did not ask"
    assert not any(c.get("usage") for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] and chunks[-1]["usage"]["completion_tokens"] == 7
    assert last_chat(fake, "openai").json["stream_options"] == {"include_usage": True}

    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)

    gem_chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents=USER_TEXT))
    usage_meta = gem_chunks[-1].usage_metadata
    assert usage_meta is not None and usage_meta.prompt_token_count == 11

    with claude.messages.stream(model="openai/gpt-4o-mini", max_tokens=16, messages=MESSAGES) as stream:
        assert stream.get_final_message().usage.output_tokens == FAKE_COMPLETION_TOKENS
    assert last_chat(fake, "openai").json["stream_options"] == {"include_usage": True}
    n_stream = 6

    # K = 3 failures (one of them a stream that fails before its first byte).
    fake.script("openai", [Status(500)])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    fake.script("anthropic", [Status(500)])
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES)
    fake.script("openai", [Status(500)])
    with pytest.raises(openai.InternalServerError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    n_fail = 3

    ok, total = n_plain + n_stream, n_plain + n_stream + n_fail
    after = scrape(gateway.url)

    def d(name: str, **labels: str) -> float:
        return delta(after, before, name, **labels)

    assert d("bifrost_requests_total") == total
    assert d("bifrost_requests_total", status="200") == ok
    assert d("bifrost_requests_total", status="500") == n_fail
    assert d("bifrost_requests_total", stream="true") == n_stream + 1
    assert d("bifrost_request_duration_seconds_count") == total
    assert d("bifrost_request_duration_seconds_count", status_class="2xx") == ok
    assert d("bifrost_request_duration_seconds_count", status_class="5xx") == n_fail
    assert d("bifrost_request_duration_seconds_bucket", le="+Inf") == total
    assert d("bifrost_request_duration_seconds_sum") > 0
    assert d("http_requests_total") == total
    assert d("http_request_duration_seconds_count") == total
    # Failures are labelled with the provider that failed, not "unknown".
    failed = {(s.labels["provider"], s.labels["model"]) for s in after.samples_of("bifrost_requests_total")
              if s.labels["status"] == "500"}  # fmt: skip
    assert failed == {("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")}

    # Upstream: one attempt per request (no retries configured).
    assert d("bifrost_upstream_requests_total") == total
    assert d("bifrost_upstream_latency_seconds_count") == total
    assert d("bifrost_upstream_latency_seconds_count", is_success="false") == n_fail
    assert d("bifrost_success_requests_total") == ok
    assert d("bifrost_error_requests_total") == n_fail
    assert d("bifrost_error_requests_total", status_code="500") == n_fail
    assert d("bifrost_error_requests_total", provider="openai") == 2

    # Tokens: the fake's usage for every success, streams without include_usage included.
    assert d("bifrost_input_tokens_total") == FAKE_PROMPT_TOKENS * ok
    assert d("bifrost_output_tokens_total") == FAKE_COMPLETION_TOKENS * ok
    per_provider = {"openai": 5, "anthropic": 3, "gemini": 2}
    for provider, count in per_provider.items():
        assert d("bifrost_input_tokens_total", provider=provider) == FAKE_PROMPT_TOKENS * count, provider
        assert d("bifrost_output_tokens_total", provider=provider) == FAKE_COMPLETION_TOKENS * count, provider

    # Time to first token once per stream; gaps between chunks observed too.
    assert d("bifrost_stream_first_token_latency_seconds_count") == n_stream
    assert d("bifrost_stream_first_token_latency_seconds_count", provider="openai") == 4
    assert d("bifrost_stream_inter_token_latency_seconds_count") >= n_stream

    # Custom label from x-bf-prom-team; absent header -> "".
    assert after.sum("bifrost_requests_total", team="red") == 1
    assert after.sum("bifrost_upstream_requests_total", team="red") == 1
    assert after.label_values("bifrost_requests_total", "team") == {"red", ""}

    # Route labels are templates.
    assert after.label_values("bifrost_requests_total", "route") == {
        "/openai/v1/chat/completions",
        "/anthropic/v1/messages",
        GENAI_TEMPLATE + ":generateContent",
        GENAI_TEMPLATE + ":streamGenerateContent",
    }
    assert after.label_values("http_requests_total", "path") == after.label_values("bifrost_requests_total", "route")

    # Gauges exist and are back at 0; no key value anywhere.
    assert after.label_values("bifrost_in_flight_requests", "dialect") == {"openai", "anthropic", "gemini"}
    assert after.sum("bifrost_in_flight_requests") == 0
    assert after.label_values("bifrost_queue_depth", "provider") == {"openai", "anthropic", "gemini"}
    assert after.sum("bifrost_queue_depth") == 0
    for secret in KEY_VALUES:
        assert secret not in after.text


# --------------------------------------------------------------------------- cardinality


def _mix(gw: ServerHandle, fake: FakeProvider, rounds: range) -> int:
    """Five requests per round, every one with a new request id and user id; one fails."""
    client, claude, gemini = oai(gw), ant(gw), gem(gw)
    sent = 0
    for i in rounds:
        team = "red" if i % 2 else "blue"
        headers = {"x-request-id": f"rid-{i}-a", "x-bf-prom-team": team}
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user=f"user-{i}", extra_headers=headers)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, user=f"user-{i}",
            extra_headers={"x-request-id": f"rid-{i}-b"},
        )  # fmt: skip
        assert list(stream)
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES, metadata={"user_id": f"user-{i}"},
            extra_headers={"x-request-id": f"rid-{i}-c"},
        )  # fmt: skip
        gemini.models.generate_content(model="gemini-2.5-flash", contents=f"{USER_TEXT} {i}")
        fake.script("openai", [Status(500)])
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-request-id": f"rid-{i}-e"}
            )
        sent += 5
    return sent


def test_label_sets_stay_the_same_size_as_traffic_grows(gateway: ServerHandle, fake: FakeProvider) -> None:
    sent = _mix(gateway, fake, range(4))
    first = scrape(gateway.url)
    assert sent == 20 and first.sum("bifrost_requests_total") == 20
    sent += _mix(gateway, fake, range(4, 40))
    second = scrape(gateway.url)
    assert sent == 200 and second.sum("bifrost_requests_total") == 200
    assert second.sum("bifrost_requests_total", status="500") == 40
    assert second.sum("bifrost_input_tokens_total") == FAKE_PROMPT_TOKENS * 160

    sizes_first = {name: len(sets) for name, sets in first.label_sets().items()}
    sizes_second = {name: len(sets) for name, sets in second.label_sets().items()}
    assert sizes_second == sizes_first
    assert second.label_sets() == first.label_sets()
    # Request ids, user ids and the per-request prompt never become label values.
    for i in (0, 3, 39):
        for text in (f"rid-{i}-", f'user-{i}"', f"{USER_TEXT} {i}"):
            assert text not in second.text
    routes = second.label_values("bifrost_requests_total", "route")
    assert GENAI_TEMPLATE + ":generateContent" in routes
    assert not any("gemini-2.5-flash" in r for r in routes | second.label_values("http_requests_total", "path"))


# --------------------------------------------------------------------------- retries and fallbacks


def test_retry_key_rotation_and_fallback_counters(fake: FakeProvider) -> None:
    config = gateway_config(fake)
    config["providers"]["openai"]["keys"].append({"value": OPENAI_KEY + "-2", "models": ["*"], "name": "oa-second"})
    config["providers"]["openai"]["network_config"].update(
        {"max_retries": 1, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 2}
    )
    with run_gateway(config) as gw:
        client = oai(gw)
        before = scrape(gw.url)

        fake.script("openai", [Status(500)])  # one retry, then success
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        mid = scrape(gw.url)
        assert delta(mid, before, "bifrost_retries_total", provider="openai", reason="500") == 1
        assert delta(mid, before, "bifrost_upstream_requests_total") == 2
        assert delta(mid, before, "bifrost_error_requests_total", status_code="500") == 1
        assert delta(mid, before, "bifrost_success_requests_total") == 1
        assert delta(mid, before, "bifrost_requests_total") == 1
        assert delta(mid, before, "bifrost_fallbacks_total") == 0

        fake.script("openai", [Status(401)])  # the other key is tried without spending a retry
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        rotated = scrape(gw.url)
        assert delta(rotated, mid, "bifrost_retries_total", provider="openai", reason="key_rotation") == 1
        assert delta(rotated, mid, "bifrost_error_requests_total", status_code="401") == 1

        fake.script("openai", [Status(500), Status(500)])  # retry fails too -> fall back to anthropic
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_body={"fallbacks": ["anthropic/claude-haiku-4-5"]}
        )
        assert reply.choices[0].message.content == "anthropic says: count me"
        after = scrape(gw.url)
        assert delta(after, rotated, "bifrost_fallbacks_total", from_provider="openai", to_provider="anthropic") == 1
        assert delta(after, rotated, "bifrost_retries_total", reason="500") == 1
        assert delta(after, rotated, "bifrost_upstream_requests_total") == 3
        assert delta(after, rotated, "bifrost_requests_total", provider="anthropic", status="200") == 1
        assert delta(after, rotated, "bifrost_input_tokens_total", provider="anthropic") == FAKE_PROMPT_TOKENS
        assert delta(after, rotated, "bifrost_input_tokens_total", provider="openai") == 0
        assert after.sum("bifrost_requests_total") == 3
        for secret in (OPENAI_KEY, OPENAI_KEY + "-2"):
            assert secret not in after.text
        assert after.label_values("bifrost_cooldown_active", "key") <= {"oa-main", "oa-second"}


# --------------------------------------------------------------------------- gauges


def test_in_flight_and_queue_depth_gauges_move_and_return_to_zero(fake: FakeProvider) -> None:
    config = gateway_config(fake)
    config["providers"]["openai"]["concurrency_and_buffer_size"] = {"concurrency": 1, "buffer_size": 10}
    release = threading.Event()

    async def hold(request: RecordedRequest) -> None:
        while not release.is_set():
            await asyncio.sleep(0.005)

    fake.respond("/chat/completions", hold)
    with run_gateway(config) as gw, ThreadPoolExecutor(2) as pool:
        client = oai(gw)

        def call() -> str | None:
            return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content

        try:
            first = pool.submit(call)
            fake.wait_for(lambda: fake.active_requests == 1)
            second = pool.submit(call)  # waits for the single slot
            busy = _poll(gw.url, lambda s: s.sum("bifrost_queue_depth", provider="openai") == 1)
            assert busy.sum("bifrost_in_flight_requests", dialect="openai") == 2
            assert busy.sum("bifrost_queue_depth", provider="anthropic") == 0
        finally:
            release.set()
        assert first.result(timeout=10) == second.result(timeout=10) == "openai says: count me"
        idle = scrape(gw.url)
        assert idle.sum("bifrost_in_flight_requests", dialect="openai") == 0
        assert idle.sum("bifrost_queue_depth", provider="openai") == 0
        assert idle.sum("bifrost_requests_total", status="200") == 2


def _poll(url: str, ready: Callable[[Scrape], bool], timeout: float = 5.0) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        got = Scrape(httpx2.get(url + "/metrics", timeout=5.0).text)
        if ready(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError("metrics never reached the expected state:\n" + got.text)
        time.sleep(0.005)
