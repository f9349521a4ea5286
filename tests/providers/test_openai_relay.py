"""OpenAI -> OpenAI streams are relayed: the client gets the upstream's chunks as they came, only
``model`` rewritten, with the usage rule of issue 17 item 9, a finish the upstream left out, and
in-band errors and early ends still reported. The relay parser (provider side) and the OpenAI
stream renderer (dialect side) are run together, as the gateway runs them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from bifrost_asgi.config.settings import ProviderConfig
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.neutral import CONTENT_EVENTS, ChatRequest, ContentFrame, StreamFailure, UpstreamFrame
from bifrost_asgi.providers.openai import OpenAIProvider
from bifrost_asgi.providers.openai_relay import OpenAIRelayParser, plain_delta
from bifrost_asgi.providers.openai_stream import OpenAIStreamParser
from bifrost_asgi.streaming import SSEDecoder
from tests.dialects.test_openai_stream import sdk_stream_client

DIALECT = OpenAIDialect()
PROVIDER = OpenAIProvider("openai", ProviderConfig())
UPSTREAM_MODEL = "gpt-4o-mini-2024-07-18"
BASE = {"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1753051200, "model": UPSTREAM_MODEL,
        "service_tier": "default", "system_fingerprint": "fp_34a54ae93c"}  # fmt: skip
USAGE = {"prompt_tokens": 42, "completion_tokens": 3, "total_tokens": 45,
         "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}  # fmt: skip


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {**BASE, "choices": choices, "usage": None, **extra}


TEXT_STREAM = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({"content": "!"}),
    chunk({}, "stop"),
    chunk(None, usage=USAGE),
]


def request(include_usage: bool, **fields: Any) -> ChatRequest:
    body: dict[str, Any] = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                            "stream": True, **fields}  # fmt: skip
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return DIALECT.parse_chat(body, Call())


def wire(items: Sequence[dict[str, Any] | str], done: bool = True) -> bytes:
    frames = [item if isinstance(item, str) else json.dumps(item, separators=(",", ":")) for item in items]
    return b"".join(f"data: {f}\n\n".encode() for f in [*frames, *(["[DONE]"] if done else [])])


def relay(req: ChatRequest, body: bytes, *, per_event: bool = False) -> tuple[bytes, list[Any]]:
    """The client's bytes and every event the parser handed on (the gateway's loop, no sockets)."""
    parser = PROVIDER.stream_parser(req, "gpt-4o-mini")
    renderer = DIALECT.stream_renderer(req)
    decoder = SSEDecoder()
    pieces = [body[i : i + 1] for i in range(len(body))] if per_event else [body]
    events: list[Any] = []
    out = b""
    for piece in pieces:
        for sse in decoder.feed(piece):
            for event in parser.feed(sse):
                events.append(event)
                out += renderer.render(event)
                if isinstance(event, StreamFailure):
                    return out, events
    for sse in decoder.close():
        events.extend(parser.feed(sse))
    for event in parser.close():
        events.append(event)
        out += renderer.render(event)
        if isinstance(event, StreamFailure):
            return out, events
    return out + renderer.finish(), events


def payloads(out: bytes) -> list[Any]:
    frames = [f.removeprefix("data: ") for f in out.decode().split("\n\n") if f]
    assert frames[-1] == "[DONE]" and frames.count("[DONE]") == 1
    return [json.loads(f) for f in frames[:-1]]


def renamed(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "model": "openai/gpt-4o-mini"} for item in items]


@pytest.mark.parametrize("per_event", [False, True])
def test_chunks_are_relayed_as_they_came_with_only_the_model_rewritten(per_event: bool) -> None:
    out, events = relay(request(include_usage=True), wire(TEXT_STREAM), per_event=per_event)
    assert payloads(out) == renamed(TEXT_STREAM)  # system_fingerprint, service_tier, refusal, usage details kept
    # Chunks after the first content are handed on unparsed; the finish and usage chunks are parsed.
    frames = [e for e in events if isinstance(e, UpstreamFrame)]
    assert [type(f) is ContentFrame for f in frames] == [False, False, True, True, False, False]
    assert all(isinstance(f, CONTENT_EVENTS) for f in frames if type(f) is ContentFrame)


def test_unasked_usage_goes_on_the_finish_chunk_and_the_usage_chunk_is_not_sent() -> None:
    out, _ = relay(request(include_usage=False), wire(TEXT_STREAM))
    got = payloads(out)
    expected = renamed(TEXT_STREAM[:-1])
    expected[-1]["usage"] = USAGE  # the upstream's own usage object, details included
    assert got == expected


def test_asked_usage_only_in_the_usage_chunk_when_the_upstream_puts_it_on_the_finish_chunk() -> None:
    stream = [*TEXT_STREAM[:4], chunk({}, "stop", usage=USAGE)]  # some compatible servers do this
    out, _ = relay(request(include_usage=True), wire(stream))
    got = payloads(out)
    assert got[:4] == renamed(stream[:4])
    assert got[4]["choices"][0]["finish_reason"] == "stop" and got[4]["usage"] is None
    assert got[5]["choices"] == [] and got[5]["usage"] == USAGE and len(got) == 6


def test_a_finish_the_upstream_left_out_is_rendered() -> None:
    out, _ = relay(request(include_usage=False), wire(TEXT_STREAM[:4]))
    got = payloads(out)
    assert got[:4] == renamed(TEXT_STREAM[:4])
    assert got[4]["choices"][0]["finish_reason"] == "stop" and got[4]["model"] == "openai/gpt-4o-mini"


def test_an_in_band_error_after_content_ends_the_stream_with_an_error_event() -> None:
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    out, _ = relay(request(include_usage=True), wire([*TEXT_STREAM[:3], error, *TEXT_STREAM[3:]]))
    frames = [json.loads(f.removeprefix("data: ")) for f in out.decode().split("\n\n") if f]
    assert frames[:3] == renamed(TEXT_STREAM[:3])
    assert frames[3]["error"]["message"] == "overloaded" and len(frames) == 4


def test_a_stream_cut_before_its_finish_ends_with_an_error_event() -> None:
    out, _ = relay(request(include_usage=True), wire(TEXT_STREAM[:3], done=False))
    last = out.decode().split("\n\n")[-2]
    assert "ended the stream early" in json.loads(last.removeprefix("data: "))["error"]["message"]


def test_pretty_printed_or_mixed_chunks_are_parsed_not_passed_blind() -> None:
    assert plain_delta(json.dumps(chunk({"content": "x"}), separators=(",", ":")))
    assert not plain_delta(json.dumps(chunk({}, "stop")))  # '"finish_reason": "stop"', spaced
    assert not plain_delta(json.dumps(chunk({"content": "x"})))  # spaced nulls: cannot be cleared
    two = {**BASE, "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                               {"index": 1, "delta": {}, "finish_reason": "length"}]}  # fmt: skip
    assert not plain_delta(json.dumps(two, separators=(",", ":")))
    assert not plain_delta(json.dumps(chunk(None, usage=USAGE), separators=(",", ":")))
    assert not plain_delta('{"error":{"message":"x"}}') and not plain_delta("[DONE]")
    # A spaced finish chunk in a relayed stream is still seen as the finish (usage goes on it).
    spaced = [*[json.dumps(c, separators=(",", ":")) for c in TEXT_STREAM[:4]], json.dumps(chunk({}, "stop")),
              json.dumps(chunk(None, usage=USAGE))]  # fmt: skip
    got = payloads(relay(request(include_usage=False), wire(spaced))[0])
    assert got[-1]["choices"][0]["finish_reason"] == "stop" and got[-1]["usage"] == USAGE and len(got) == 5


def test_several_choices_only_the_last_finish_carries_unasked_usage() -> None:
    def two(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**BASE, "choices": [{"index": index, "delta": delta, "finish_reason": finish}], "usage": None}

    stream = [two(0, {"role": "assistant", "content": ""}), two(1, {"role": "assistant", "content": ""}),
              two(0, {"content": "a"}), two(1, {"content": "b"}), two(0, {}, "stop"), two(1, {}, "length"),
              chunk(None, usage=USAGE)]  # fmt: skip
    got = payloads(relay(request(include_usage=False, n=2), wire(stream))[0])
    assert got[:5] == renamed(stream[:5])
    assert got[5]["choices"][0]["finish_reason"] == "length" and got[5]["usage"] == USAGE and len(got) == 6


def test_openai_sdk_accumulates_a_relayed_tool_call_stream() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    stream = [chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
              chunk({}, "tool_calls"), chunk(None, usage=USAGE)]  # fmt: skip
    out, _ = relay(request(include_usage=True), wire(stream))
    with sdk_stream_client(out).chat.completions.stream(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream_options={"include_usage": True}
    ) as sdk:
        for _ in sdk:
            pass
        final = sdk.get_final_completion()
    assert final.system_fingerprint == "fp_34a54ae93c" and final.model == "openai/gpt-4o-mini"
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.arguments == '{"city": "Paris"}'
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 8


def test_text_completion_streams_are_relayed_too() -> None:
    def text(piece: str, finish: str | None = None) -> dict[str, Any]:
        return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": UPSTREAM_MODEL,
                "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}]}  # fmt: skip

    stream = [text("Hel"), text("lo"), text("", "stop")]
    req = replace(request(include_usage=False), text_completion=True)
    got = payloads(relay(req, wire(stream))[0])
    assert got == renamed(stream)


def test_no_relay_for_other_clients_or_under_mcp_agent_mode() -> None:
    assert isinstance(PROVIDER.stream_parser(request(include_usage=True), "m"), OpenAIRelayParser)
    for other in (replace(request(True), source_format="anthropic"), replace(request(True), relay_frames=False)):
        parser = PROVIDER.stream_parser(other, "m")
        assert isinstance(parser, OpenAIStreamParser)
        events = [e for sse in SSEDecoder().feed(wire(TEXT_STREAM)) for e in parser.feed(sse)]
        assert not any(isinstance(e, UpstreamFrame) for e in events)
