"""``EventTemplate``: learnt from one plain chunk, it covers exactly the events that are that chunk
with other slot texts, each parsing to the learnt chunk's structure."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi.providers.openai_relay import OpenAIRelayParser, plain_delta
from bifrost_asgi.providers.openai_stream import OpenAIStreamParser
from bifrost_asgi.providers.openai_template import EventTemplate
from bifrost_asgi.streaming import SSEDecoder

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18"}


def chunk(content: str, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None}
    return {**BASE, "choices": [choice], "usage": None, **extra}


def text(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def event(payload: Any) -> bytes:
    return b"data: " + text(payload).encode() + b"\n\n"


def learnt(payload: Any) -> EventTemplate:
    data = text(payload)
    assert plain_delta(data)
    template = EventTemplate.learn(data)
    assert template is not None
    return template


def test_a_template_covers_the_chunks_that_differ_only_in_their_text() -> None:
    template = learnt(chunk("Hel"))
    read = b"".join(event(chunk(t)) for t in ("lo", " wor", "", "ld!", "caf\u00e9 \u2615", "a\\nb"))
    assert template.events(read) == (6, len(read))


def test_openai_obfuscation_padding_is_a_slot_too() -> None:
    template = learnt(chunk("Hel", obfuscation="k3J"))
    assert len(template.literals) == 3
    read = b"".join(event(chunk(t, obfuscation="x" * i)) for i, t in enumerate(("lo", " wor", "ld")))
    assert template.events(read) == (3, len(read))


def test_the_walk_stops_at_the_first_event_that_is_not_of_the_template() -> None:
    template = learnt(chunk("a"))
    plain = event(chunk("b"))
    for other in (
        event(chunk('say "hi"')),  # a quote in the text: not told from the end of the string
        event(chunk("a\\")),  # ends in an escaped backslash: not told from an escaped quote
        event({**chunk("b"), "id": "chatcmpl-2"}),
        event({**BASE, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}),
        event({**BASE, "choices": [], "usage": {"prompt_tokens": 1}}),
        b"data: [DONE]\n\n",
        event(chunk("b"))[:-1],  # no blank line yet
        event(chunk("b")).replace(b'"content":"b"', b'"content":"b\nc"'),  # a raw line end in the text
    ):
        assert template.events(plain + plain + other + plain) == (2, 2 * len(plain))


def test_what_cannot_be_a_template() -> None:
    assert EventTemplate.learn(text({**BASE, "choices": [{"delta": {"role": "assistant"}}]})) is None  # no text
    assert EventTemplate.learn(text({**chunk("a"), "extra": {"content": "b"}})) is None  # the key twice
    assert EventTemplate.learn('{"content":"a"') is None  # not JSON
    assert EventTemplate.learn('["content":"a"]') is None


_TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@given(learn_from=_TEXTS, texts=st.lists(_TEXTS, max_size=6), escape=st.booleans())
@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_event_a_template_covers_parses_to_the_learnt_structure(
    learn_from: str, texts: list[str], escape: bool
) -> None:
    if not plain_delta(text(chunk(learn_from))):
        return
    template = learnt(chunk(learn_from))
    for content in texts:
        data = json.dumps(chunk(content), separators=(",", ":"), ensure_ascii=escape)
        raw = b"data: " + data.encode() + b"\n\n"
        count, end = template.events(raw)
        if count:
            assert end == len(raw)
            assert json.loads(raw[6:-2]) == chunk(content)
            assert '"' not in content and "\n" not in data  # what the walk stops at


def test_the_relay_learns_a_template_from_its_first_plain_content_and_takes_reads_with_it() -> None:
    parser = OpenAIRelayParser(OpenAIStreamParser("openai", "gpt-4o-mini"))
    decoder = SSEDecoder()
    role = {**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for payload in (role, chunk("Hel")):
        for sse in decoder.feed(event(payload)):
            list(parser.feed(sse))
    read = b"".join(event(chunk(t)) for t in ("lo", " wor", "ld"))
    [run] = parser.feed_read(read, decoder) or []
    assert run.count == 3 and run.data == read and run.literals  # type: ignore[union-attr]
    tail = event({**BASE, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
    assert parser.feed_read(read + tail, decoder) is None
    head = parser.feed_head(read + tail, decoder)
    assert head is not None and head[0].count == 3 and head[1] == tail  # type: ignore[union-attr]
