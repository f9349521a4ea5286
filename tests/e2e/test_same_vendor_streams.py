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


# --------------------------------------------------------------------------- OpenAI -> OpenAI

OPENAI_KNOWN = {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                "temperature", "tools", "tool_choice", "n", "user"}  # fmt: skip
UP_USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}  # fmt: skip


def openai_chunks() -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-up9", "object": "chat.completion.chunk", "created": 1753051200,
            "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "system_fingerprint": "fp_up"}  # fmt: skip

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return {**base, "choices": choices, "usage": None, **extra}

    return [chunk({"role": "assistant", "content": "", "refusal": None}, obfuscation="q1"),
            chunk({"content": "Par"}, obfuscation="q2"), chunk({"content": "is."}, obfuscation="q3"),
            chunk({}, "stop", obfuscation="q4"), chunk(None, usage=UP_USAGE, obfuscation="q5")]  # fmt: skip


@pytest.fixture
def openai_gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    def hook(request: RecordedRequest) -> Any:
        extra = sorted(set(request.json) - OPENAI_KNOWN)
        if extra:  # like the API: gateway fields (fallbacks) must not reach it
            return Reply(status=400, json={"error": {"message": f"Unrecognized request argument: {extra[0]}",
                                                     "type": "invalid_request_error", "code": None}})  # fmt: skip
        return Reply(sse=[sse(c) for c in openai_chunks()] + [b"data: [DONE]\n\n"])

    fake_provider.respond("/v1/chat/completions", hook)
    provider = {"keys": [{"value": "sk-openai-upstream"}], "network_config": {"base_url": fake_provider.url}}
    with run_gateway({"providers": {"openai": provider}}) as handle:
        yield handle


def test_openai_to_openai_stream_relays_the_upstreams_chunks(
    fake_provider: FakeProvider, openai_gateway: ServerHandle
) -> None:
    import openai

    client = openai.OpenAI(base_url=openai_gateway.url + "/openai/v1", api_key="client-key", max_retries=0)
    asked = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "capital?"}], stream=True,
        stream_options={"include_usage": True}, extra_body={"fallbacks": ["openai/gpt-4o"]},
    ))  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in asked if c.choices) == "Paris."
    assert all(c.system_fingerprint == "fp_up" and c.service_tier == "default" for c in asked)
    assert [c.to_dict().get("obfuscation") for c in asked] == ["q1", "q2", "q3", "q4", "q5"]
    assert all(c.model == "gpt-4o-mini" for c in asked)  # only the model rewritten: the name asked for
    assert asked[-1].choices == [] and asked[-1].usage is not None
    details = asked[-1].usage.prompt_tokens_details
    assert details is not None and details.cached_tokens == 4  # the upstream's own usage object
    assert fake_provider.last("/v1/chat/completions").json["stream_options"] == {"include_usage": True}

    unasked = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "capital?"}], stream=True))  # fmt: skip
    assert all(c.choices for c in unasked) and len(unasked) == 4  # no usage-only chunk
    assert unasked[-1].choices[0].finish_reason == "stop"
    assert unasked[-1].usage is not None and unasked[-1].usage.total_tokens == 15  # on the finish chunk
    assert fake_provider.last("/v1/chat/completions").json["stream_options"] == {"include_usage": True}


def test_openai_relayed_bytes_are_the_upstreams_with_only_the_model_rewritten(openai_gateway: ServerHandle) -> None:
    import httpx2

    body = {"model": "openai/gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "capital?"}]}  # fmt: skip
    with httpx2.Client(base_url=openai_gateway.url, timeout=10.0) as http:
        raw = http.post("/v1/chat/completions", json=body).text
    frames = [line[6:] for line in raw.split("\n\n") if line.startswith("data: ")]
    assert frames[-1] == "[DONE]" and frames.count("[DONE]") == 1
    assert [json.loads(f) for f in frames[:-1]] == [{**c, "model": "openai/gpt-4o-mini"} for c in openai_chunks()]


# --------------------------------------------------------------------------- Bedrock -> Bedrock


def test_bedrock_to_bedrock_converse_stream_relays_every_frame(fake_provider: FakeProvider) -> None:
    import boto3
    from botocore.config import Config

    from bifrost_asgi.wire.converse import CONTENT_TYPE_STREAM, encode_event
    from tests.e2e.test_cloud_providers import bedrock_config

    metadata = {"usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11}, "metrics": {"latencyMs": 321},
                "trace": {"guardrail": {"modelOutput": ["checked"]}}}  # fmt: skip
    frames = [encode_event("messageStart", {"role": "assistant", "p": "abcd"}),
              encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}, "p": "ab"}),
              encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " there"}}),
              encode_event("contentBlockStop", {"contentBlockIndex": 0}),
              encode_event("messageStop", {"stopReason": "end_turn", "additionalModelResponseFields": {"x": 1}}),
              encode_event("metadata", metadata)]  # fmt: skip
    headers = {"content-type": CONTENT_TYPE_STREAM}
    fake_provider.respond("/converse-stream", lambda _: Reply(sse=frames, headers=headers))
    with run_gateway({"providers": {"bedrock": bedrock_config(fake_provider)}}) as gateway:
        runtime = boto3.client(
            "bedrock-runtime", endpoint_url=gateway.url + "/bedrock", region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="client-secret",
            config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip
        events = list(runtime.converse_stream(modelId="bedrock/claude-sonnet", messages=HELLO_BEDROCK)["stream"])
    assert [next(iter(e)) for e in events] == ["messageStart", "contentBlockDelta", "contentBlockDelta",
                                               "contentBlockStop", "messageStop", "metadata"]  # fmt: skip
    assert events[4]["messageStop"]["additionalModelResponseFields"] == {"x": 1}
    assert events[5]["metadata"]["metrics"]["latencyMs"] == 321  # the upstream's, not re-rendered
    assert events[5]["metadata"]["trace"] == {"guardrail": {"modelOutput": ["checked"]}}
    assert events[5]["metadata"]["usage"]["totalTokens"] == 11


HELLO_BEDROCK: Any = [{"role": "user", "content": [{"text": "hello"}]}]
