"""The relay's whole-read path (``OpenAIRelayParser.feed_read`` -> ``ContentRun``) against the
event-by-event path it skips: the same upstream bytes, cut into reads in every way, give the
client the same bytes and the metrics the same inter-token observations, through the whole
gateway (router, relay parser, renderer, the gateway's relay loop). The event-by-event path is
the one every other relay test checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi import _json
from bifrost_asgi.config.settings import BifrostSettings
from bifrost_asgi.dialects.base import Call
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.gateway import Gateway
from bifrost_asgi.neutral import ContentRun
from bifrost_asgi.providers.base import UpstreamRequest
from bifrost_asgi.providers.openai_relay import OBJECT_EVENTS, OpenAIRelayParser, plain_run
from bifrost_asgi.providers.openai_stream import OpenAIStreamParser
from bifrost_asgi.replies import StreamReply
from bifrost_asgi.streaming import SSEDecoder
from bifrost_asgi.upstream.base import Timeouts

UPSTREAM_MODEL = "gpt-4o-mini-2024-07-18"
BASE = {
    "id": "chatcmpl-up1",
    "object": "chat.completion.chunk",
    "created": 1753051200,
    "model": UPSTREAM_MODEL,
    "system_fingerprint": "fp_34a54ae93c",
}
USAGE = {"prompt_tokens": 42, "completion_tokens": 3, "total_tokens": 45}


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {**BASE, "choices": choices, "usage": None, **extra}


def frames(*items: dict[str, Any] | str | bytes, done: bool = True) -> list[bytes]:
    """One ``data:`` event per item (a dict as compact JSON, a str or bytes as given)."""
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append(b"data: " + json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n")
        else:
            out.append(item.encode() if isinstance(item, str) else item)
    return out + ([b"data: [DONE]\n\n"] if done else [])


TEXT = [chunk({"content": word}) for word in ("Hel", "lo", " wor", "ld", "!")]
STREAMS: dict[str, list[bytes]] = {
    "text": frames(chunk({"role": "assistant", "content": ""}), *TEXT, chunk({}, "stop"), chunk(None, usage=USAGE)),
    "non-ascii": frames(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "café ☕"}),
        chunk({"content": "日本"}),
        chunk({}, "stop"),
        chunk(None, usage=USAGE),
    ),
    "bad utf-8": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT[:2],
        b'data: {"id":"x","model":"'
        + UPSTREAM_MODEL.encode()
        + b'","choices":[{"index":0,"delta":{"content":"\xff\xfe"},"finish_reason":null}],"usage":null}\n\n',
        *TEXT[2:],
        chunk({}, "stop"),
    ),
    "reasoning": frames(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "hm"}),
        chunk({"reasoning_content": "m"}),
        *TEXT,
        chunk({}, "stop"),
    ),
    "tool call": frames(
        chunk({"role": "assistant", "content": "Let me"}),
        chunk({"content": " look"}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
        chunk({}, "tool_calls"),
        chunk(None, usage=USAGE),
    ),
    "usage on finish": frames(chunk({"role": "assistant", "content": ""}), *TEXT, chunk({}, "stop", usage=USAGE)),
    "no usage key": frames(
        *[
            {k: v for k, v in c.items() if k != "usage"}
            for c in [chunk({"role": "assistant", "content": ""}), *TEXT, chunk({}, "stop")]
        ]
    ),
    "error after content": frames(
        chunk({"role": "assistant", "content": "a"}),
        *TEXT,
        {"error": {"message": "overloaded", "type": "server_error"}},
        done=False,
    ),
    "cut before finish": frames(chunk({"role": "assistant", "content": "a"}), *TEXT, done=False),
    "no finish": frames(chunk({"role": "assistant", "content": "a"}), *TEXT),
    "two choices": frames(
        chunk({"role": "assistant", "content": ""}),
        {
            **BASE,
            "choices": [
                {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
            ],
            "usage": None,
        },
        {
            **BASE,
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "stop"},
                {"index": 1, "delta": {"content": "c"}, "finish_reason": None},
            ],
            "usage": None,
        },
        *TEXT,
        chunk({}, "stop"),
    ),
    "model missing or twice": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT[:2],
        {k: v for k, v in TEXT[2].items() if k != "model"},
        {**TEXT[3], "extra": {"model": UPSTREAM_MODEL}},
        {**TEXT[4], "model": "other-model"},
        *TEXT,
        chunk({}, "stop"),
    ),
    "model twice in every chunk": frames(
        chunk({"role": "assistant", "content": ""}), *[{**c, "extra": {"model": UPSTREAM_MODEL}} for c in TEXT]
    ),
    "comments, names, crlf, pretty": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT[:2],
        ": keep-alive\n\n",
        "event: chunk\ndata: " + json.dumps(TEXT[2], separators=(",", ":")) + "\n\n",
        "data: " + json.dumps(TEXT[3], separators=(",", ":")) + "\r\n\r\n",
        "data: " + json.dumps(TEXT[4], indent=1).replace("\n", "\ndata: ") + "\n\n",
        "data:" + json.dumps(TEXT[0], separators=(",", ":")) + "\n\n",
        *TEXT,
        "data: not json\n\n",
        chunk({}, "stop"),
    ),
    "escapes in the text": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT[:2],
        *[chunk({"content": t}) for t in ('say "hi"', "a\\", "\\", "line\nbreak", "tab\t", "\u00e9 caf\u00e9", "")],
        *TEXT[2:],
        chunk({}, "stop"),
        chunk(None, usage=USAGE),
    ),
    "obfuscation padding": frames(
        chunk({"role": "assistant", "content": ""}, obfuscation="a"),
        *[{**c, "obfuscation": "x" * i} for i, c in enumerate(TEXT * 2)],
        chunk({}, "stop", obfuscation=""),
        chunk(None, usage=USAGE, obfuscation="zz"),
    ),
    "raw line ends in the text": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT[:3],
        b'data: {"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1753051200,"model":"'
        + UPSTREAM_MODEL.encode()
        + b'","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":"a\nb"},'
        + b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
        *TEXT[3:],
        chunk({}, "stop"),
    ),
    "another id mid-stream": frames(
        chunk({"role": "assistant", "content": ""}),
        *TEXT,
        *[{**c, "id": "chatcmpl-up2"} for c in TEXT],
        chunk({}, "stop"),
    ),
    "finish held then content": frames(
        chunk({"role": "assistant", "content": ""}), *TEXT[:2], chunk({}, "stop"), *TEXT[2:], chunk(None, usage=USAGE)
    ),
}


class _Stream:
    status = 200
    headers: Mapping[str, str] = {"content-type": "text/event-stream"}

    def __init__(self, reads: Sequence[bytes]) -> None:
        self._reads = reads

    async def chunks(self) -> AsyncIterator[bytes]:
        for read in self._reads:
            yield read

    async def read(self) -> bytes:
        return b"".join(self._reads)

    async def aclose(self) -> None:
        return None


class _Upstream:
    def __init__(self, reads: Sequence[bytes]) -> None:
        self.reads = reads

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> Any:
        raise AssertionError("streams only")

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> _Stream:
        return _Stream(self.reads)

    async def aclose(self) -> None:
        return None


class _Clock:
    """A clock that moves 1 ms per reading: inter-token gaps are whole milliseconds, exactly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


SETTINGS = BifrostSettings.model_validate(
    {
        "providers": {
            "openai": {
                "keys": [{"value": "sk-test-0123456789", "models": []}],
                "network_config": {"base_url": "http://upstream.invalid"},
            }
        }
    }
)


async def _client_bytes(reads: Sequence[bytes], include_usage: bool) -> tuple[bytes, list[Any]]:
    """What the client gets for ``reads``, and the token-timing histograms' samples."""
    gw = Gateway(SETTINGS, upstream=_Upstream(reads), clock=_Clock())
    body: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    reply = await gw.handle(
        OpenAIDialect(), "chat", Call(), _json.dumps(body), route="/v1/chat/completions", method="POST"
    )
    out = b""
    if isinstance(reply, StreamReply):
        out = b"".join([piece async for piece in reply.chunks])
        await reply.chunks.aclose()
    else:
        out = reply.body
    samples = [
        (sample.name, sample.labels.get("le"), sample.value)
        for metric in gw.registry.collect()
        if "token" in metric.name and "seconds" in metric.name
        for sample in metric.samples
        if not sample.name.endswith("_created")
    ]
    await gw.aclose()
    return out, samples


def _run(reads: Sequence[bytes], include_usage: bool, whole_reads: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    counted: list[int] = []
    original = OpenAIRelayParser.feed_read
    original_head = OpenAIRelayParser.feed_head

    def feed_read(self: OpenAIRelayParser, chunk: bytes, decoder: Any) -> Any:
        if not whole_reads:
            return None
        found = original(self, chunk, decoder)
        if found is not None:
            counted.extend(event.count for event in found if isinstance(event, ContentRun))
        return found

    def feed_head(self: OpenAIRelayParser, chunk: bytes, decoder: Any) -> Any:
        if not whole_reads:
            return None  # event by event, the first content's read too (its rest is decoded)
        found = original_head(self, chunk, decoder)
        if found is not None:
            counted.append(-found[0].count)  # a leading run (negative: told apart from whole reads)
        return found

    with monkeypatch.context() as patch:
        patch.setattr(OpenAIRelayParser, "feed_read", feed_read)
        patch.setattr(OpenAIRelayParser, "feed_head", feed_head)
        if not whole_reads:  # and the first content's read keeps its other events decoded (no ``rest``)
            patch.setattr(SSEDecoder, "cuts_at_blank_lines", lambda self, chunk: False)
        out, samples = asyncio.run(_client_bytes(reads, include_usage))
    return out, samples, counted


def _cut(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges) if b > a]


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("reads", ["one event per read", "all at once", "two events per read"])
def test_whole_reads_give_the_client_what_event_by_event_relaying_gives(
    name: str, include_usage: bool, reads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = STREAMS[name]
    if reads == "one event per read":
        cut = list(events)
    elif reads == "all at once":
        cut = [b"".join(events)]
    else:
        cut = [b"".join(events[i : i + 2]) for i in range(0, len(events), 2)]
    expected = _run(cut, include_usage, False, monkeypatch)
    got = _run(cut, include_usage, True, monkeypatch)
    assert got[0] == expected[0]
    assert got[1] == expected[1]  # the same first-token and inter-token observations
    if name == "text" and reads != "all at once":  # (one read: the first content's, parsed whole)
        assert max(got[2]) == (1 if reads == "one event per read" else 2), "the whole-read path was not taken"
    if name == "obfuscation padding" and reads == "all at once":  # one read: its plain deltas go on as one run
        assert min(got[2]) <= -8, "the leading run of the read was not taken"


@given(
    name=st.sampled_from(sorted(STREAMS)),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    include_usage=st.booleans(),
)
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_whole_reads_match_event_by_event_for_any_cut_of_the_stream(
    name: str, cuts: list[int], include_usage: bool
) -> None:
    data = b"".join(STREAMS[name])
    reads = _cut(data, cuts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = _run(reads, include_usage, False, monkeypatch)
        got = _run(reads, include_usage, True, monkeypatch)
    assert got[:2] == expected[:2]


def test_the_decoder_counts_only_reads_of_whole_single_line_data_events() -> None:
    one, two = b'data: {"a":1}\n\n', b'data: {"b":"caf\xc3\xa9"}\n\n'
    assert SSEDecoder().whole_events(one) == 1
    assert SSEDecoder().whole_events(one + two) == 2
    for read in (
        one[:-1],  # no blank line yet
        b'data: {"a":1}\r\n\r\n',
        b'event: x\ndata: {"a":1}\n\n',
        b'data: {"a":1}\ndata: {"b":2}\n\n',  # two data lines: one event "{...}\n{...}"
        b": comment\n\n" + one,
        one + b": comment\n\n",
        b'data:{"a":1}\n\n',
        b'data: {"a":"\xff"}\n\n',  # not UTF-8: feed() would replace it
        one + b"\n",
    ):
        assert SSEDecoder().whole_events(read) == 0, read
    assert SSEDecoder(max_event_bytes=10).whole_events(one) == 0
    mid = SSEDecoder()
    mid.feed(b"data: {")  # an event in progress
    assert mid.whole_events(one) == 0


_LINES = st.sampled_from(
    ['data: {"a":1}', "data: [DONE]", 'data: {"b":"\u00e9"}', "data: {", "data:{}", ": c", "event: x", ""]
)
_ENDS = st.sampled_from(["\n\n", "\n\n", "\n", "\r\n\r\n", ""])
_READS = st.lists(st.tuples(_LINES, _ENDS), min_size=1, max_size=6).map(
    lambda lines: "".join(line + end for line, end in lines).encode()
)


@given(_READS)
@settings(max_examples=300, deadline=None)
def test_the_decoder_counts_object_events_as_feed_reads_them(read: bytes) -> None:
    """``whole_events(read, OBJECT_EVENTS)`` is n only when ``feed`` gives n events that are the
    read itself, each a JSON-object-looking line; and it is n whenever ``whole_events`` is and each
    event's data begins with ``{``."""
    count = SSEDecoder().whole_events(read, OBJECT_EVENTS)
    events = SSEDecoder().feed(read)
    if count:
        assert len(events) == count == SSEDecoder().whole_events(read)
        assert all(e.event is None and e.data[:1] == "{" for e in events)
        assert "".join(f"data: {e.data}\n\n" for e in events).encode() == read
    elif SSEDecoder().whole_events(read):
        assert not all(e.data[:1] == "{" for e in events)


def test_plain_run_is_never_looser_than_plain_delta_per_event() -> None:
    from bifrost_asgi.providers.openai_relay import plain_delta

    events = [json.dumps(c, separators=(",", ":")) for c in (*TEXT, chunk({}, "stop"), chunk(None, usage=USAGE))]
    events += ['{"usage":null,"x":"\\"usage\\""}', '{"finish_reason":null,"b":"finish_reason"}', "[DONE]", ""]
    for first in events:
        for second in events:
            read = f"data: {first}\n\ndata: {second}\n\n".encode()
            if SSEDecoder().whole_events(read, OBJECT_EVENTS) == 2 and plain_run(read, 2):  # as the relay asks
                assert plain_delta(first) and plain_delta(second), read
        read = f"data: {first}\n\n".encode()
        if plain_run(read, 1):  # one event, on the bytes
            assert plain_delta(first), read
    text_only = f"data: {json.dumps(TEXT[0], separators=(',', ':'))}\n\n".encode()
    assert plain_run(text_only, 1) and plain_run(text_only * 2, 2)  # what the whole-read path is for


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_stream_in_one_read_goes_on_as_a_run_after_its_first_content(
    include_usage: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a fast upstream does (the whole stream in one read, as the bench's nginx): after the
    first content, its plain deltas are one run and the finish, usage and ``[DONE]`` are fed event
    by event, with the same client bytes and timing observations as feeding every event."""
    for name in ("text", "finish held then content", "tool call", "two choices", "non-ascii"):
        read = [b"".join(STREAMS[name])]
        expected = _run(read, include_usage, False, monkeypatch)
        got = _run(read, include_usage, True, monkeypatch)
        assert got[:2] == expected[:2], name
        if name == "text":
            assert min(got[2]) <= -3, "the leading run was not taken"


def test_the_head_cut_is_before_the_first_event_that_is_not_a_plain_delta() -> None:
    parser = OpenAIRelayParser(OpenAIStreamParser("openai", "m"))
    parser._content = True  # after the first content
    plain = frames(*TEXT, done=False)
    finish = frames(chunk({}, "stop"), chunk(None, usage=USAGE))
    found = parser.feed_head(b"".join(plain + finish), SSEDecoder())
    assert found is not None
    run, rest = found
    assert (run.data, run.count, rest) == (b"".join(plain), len(plain), b"".join(finish))
    assert parser.feed_head(b"".join(finish), SSEDecoder()) is None  # nothing plain before the finish
    assert parser.feed_head(b"".join(plain), SSEDecoder()) is None  # all plain: feed_read's
    mid = SSEDecoder()
    mid.feed(b"data: {")
    assert parser.feed_head(b"".join(plain + finish), mid) is None  # not between events


def test_the_head_cut_walks_back_over_a_long_unplain_tail_and_past_an_unplain_event_inside() -> None:
    """The cut looked for from the end of the read (its last few events) and, when that walk finds
    no plain event or the read ends plain, from the start: the same run either way."""
    parser = OpenAIRelayParser(OpenAIStreamParser("openai", "m"))
    parser._content = True
    plain = frames(*TEXT, done=False)
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    fragments = [chunk({"tool_calls": [{"index": 0, "function": {"arguments": str(i)}}]}) for i in range(12)]
    calls = frames(chunk({"tool_calls": [call]}), *fragments, chunk({}, "tool_calls"))  # more than _TAIL_EVENTS
    inside = frames(chunk({"tool_calls": [call]}), *TEXT, done=False)  # unplain, then plain to the end
    for tail in (calls, inside):
        read = b"".join(plain + tail)
        assert parser.feed_read(read, SSEDecoder()) is None
        found = parser.feed_head(read, SSEDecoder())
        assert found is not None
        run, rest = found
        assert (run.data, run.count, rest) == (b"".join(plain), len(plain), b"".join(tail))
