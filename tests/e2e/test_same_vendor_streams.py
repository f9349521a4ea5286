"""Same-vendor streams keep everything: an Anthropic client streaming from an Anthropic upstream
gets the upstream's events as they came (only ``model`` rewritten) — citations, ``citations_delta``,
server tool blocks, server-tool usage and separate text blocks, which re-rendering would lose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_provider import Invalid, RecordedRequest, Reply, sse

pytestmark = pytest.mark.e2e

SECRET = "sk-ant-secret-for-upstream"
KNOWN_FIELDS = {"model", "messages", "max_tokens", "stream", "system", "tools", "tool_choice", "metadata",
                "stop_sequences", "temperature", "top_p", "top_k", "thinking", "service_tier"}  # fmt: skip
CITATION = {
    "type": "web_search_result_location",
    "cited_text": "Paris is the capital of France.",
    "url": "https://example.org/paris",
    "title": "Paris",
    "encrypted_index": "EqgfCioIARgBIiQ3YTAw",
}
USAGE = {"input_tokens": 120, "output_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
         "server_tool_use": {"web_search_requests": 1}}  # fmt: skip


def upstream_events(model: str) -> list[tuple[str, dict[str, Any]]]:
    message = {"id": "msg_up_1", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {**USAGE, "output_tokens": 1}}  # fmt: skip
    server_tool = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
        {"type": "web_search_result", "url": "https://example.org/paris", "title": "Paris",
         "encrypted_content": "abc", "page_age": None}]}  # fmt: skip
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Let me search."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": server_tool}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"query": "capital"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("content_block_start", {"type": "content_block_start", "index": 2, "content_block": result}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        ("content_block_start", {"type": "content_block_start", "index": 3,
                                 "content_block": {"type": "text", "text": "", "citations": []}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 3,
                                 "delta": {"type": "citations_delta", "citation": CITATION}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 3,
                                 "delta": {"type": "text_delta", "text": "Paris."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 3}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": USAGE}),
        ("message_stop", {"type": "message_stop"}),
    ]


def strict_anthropic(request: RecordedRequest) -> Reply:
    """Validates like the Messages API: unknown body fields are a 400 (gateway fields must not leak)."""
    body = request.json
    extra = sorted(set(body) - KNOWN_FIELDS)
    if extra:
        raise Invalid(400, f"{extra[0]}: Extra inputs are not permitted")
    frames = [sse(data, name) for name, data in upstream_events(body["model"])]
    return Reply(sse=[sse({"type": "ping"}, "ping"), *frames])


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    def hook(request: RecordedRequest) -> Any:
        try:
            return strict_anthropic(request)
        except Invalid as exc:
            return Reply(status=exc.status, json={"type": "error", "error": {
                "type": "invalid_request_error", "message": exc.message}})  # fmt: skip

    fake_provider.respond("/v1/messages", hook)
    provider = {"keys": [{"value": SECRET}], "network_config": {"base_url": fake_provider.url}}
    config = {"providers": {"anthropic": provider}}
    with run_gateway(config) as handle:
        yield handle


def test_anthropic_to_anthropic_stream_relays_every_event(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    client = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="client-key", max_retries=0)
    tools: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "capital?"}], tools=tools,
        extra_body={"fallbacks": ["anthropic/claude-haiku-4-5"]},
    ) as stream:  # fmt: skip
        events = [event for event in stream if not event.type.startswith(("text", "citation", "input_json"))]
        final = stream.get_final_message()

    assert [b.type for b in final.content] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    assert final.content[0].text == "Let me search."  # two text blocks, not merged
    last = final.content[3]
    assert last.type == "text" and last.text == "Paris."
    assert last.citations is not None and last.citations[0].cited_text == CITATION["cited_text"]
    assert final.usage.server_tool_use is not None and final.usage.server_tool_use.web_search_requests == 1
    assert final.model == "claude-sonnet-4-5"
    assert [e.type for e in events][:1] == ["message_start"]

    upstream = fake_provider.last("/v1/messages")
    assert "fallbacks" not in upstream.json and upstream.json["tools"] == tools


def test_relayed_frames_are_the_upstreams_with_only_the_model_rewritten(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    import httpx2

    body = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 10, "stream": True,
            "messages": [{"role": "user", "content": "capital?"}]}  # fmt: skip
    with httpx2.Client(base_url=gateway.url, timeout=10.0) as http:
        raw = http.post("/anthropic/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}).text
    got = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    expected = [data for _, data in upstream_events("claude-sonnet-4-5")]
    expected[0]["message"]["model"] = "anthropic/claude-sonnet-4-5"  # what the client asked for
    assert got == [{"type": "ping"}, *expected]
