from __future__ import annotations

import pytest

from bifrost_asgi.errors import UpstreamProtocolError
from bifrost_asgi.streaming import SSEDecoder, SSEEvent, encode_sse

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": keep-alive comment\n\n"
    b'data: {"b":"caf\xc3\xa9"}\r\n\r\n'
    b"data: line1\ndata: line2\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent('{"a":1}', "message_start"),
    SSEEvent('{"b":"café"}'),
    SSEEvent("line1\nline2"),
    SSEEvent("[DONE]"),
]


def test_whole_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) + decoder.close() == EXPECTED


def test_split_at_every_byte_including_mid_utf8_and_crlf() -> None:
    decoder = SSEDecoder()
    events = []
    for i in range(len(STREAM)):
        events.extend(decoder.feed(STREAM[i : i + 1]))
    events.extend(decoder.close())
    assert events == EXPECTED


def test_trailing_event_without_blank_line_counts_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x":1}') == []
    assert decoder.close() == [SSEEvent('{"x":1}')]


def test_encode() -> None:
    assert encode_sse(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_sse(b"{}", "ping") == b"event: ping\ndata: {}\n\n"


def test_an_event_over_the_limit_raises_as_soon_as_it_passes_it() -> None:

    decoder = SSEDecoder(max_event_bytes=1000)
    assert decoder.feed(b"data: " + b"x" * 900 + b"\n\n") == [SSEEvent("x" * 900)]
    piece = b"y" * 300
    with pytest.raises(UpstreamProtocolError, match="larger than 1000 bytes"):
        decoder.feed(b"data: ")
        for _ in range(4):  # the line in progress passes the limit on the fourth piece
            decoder.feed(piece)
    many = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(UpstreamProtocolError):  # data lines of one event add up
        many.feed(b"data: " + b"z" * 600 + b"\ndata: " + b"z" * 600 + b"\n")


def test_line_ends_split_across_chunks_and_long_lines_in_pieces() -> None:
    decoder = SSEDecoder()
    out = decoder.feed(b"data: a\r")
    out += decoder.feed(b"\n\r")
    out += decoder.feed(b"\ndata: b" + b"c" * 5)
    for _ in range(1000):
        out += decoder.feed(b"c")
    out += decoder.feed(b"\r\r")
    assert out == [SSEEvent("a"), SSEEvent("b" + "c" * 1005)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 64, 10_000])
def test_chunks_of_any_size_with_and_without_cr_give_the_same_events(size: int) -> None:
    """Chunks without \\r take a split fast path, the others the general one: a stream cut anywhere,
    through either path or alternating between them, decodes to the same events."""
    lf_only = STREAM.replace(b"\r\n", b"\n") * 3
    for body, expected in ((lf_only, EXPECTED * 3), (STREAM * 3, EXPECTED * 3)):
        decoder = SSEDecoder()
        events = []
        for i in range(0, len(body), size):
            events.extend(decoder.feed(body[i : i + size]))
        events.extend(decoder.close())
        assert events == expected, size


def test_whole_events_are_cut_out_the_same_as_line_by_line() -> None:
    """The event-at-a-time fast path (a chunk starting at an event boundary) gives what feeding
    the same bytes one at a time gives (the line path), for every shape it may meet."""
    body = (
        b'data: {"a":1}\n\n'
        b"data: \n\n"  # empty data
        b"data:nospace\n\n"
        b"event: ping\ndata: {}\n\n"
        b"event: only-a-name\n\n"  # no data: no event
        b"id: 7\ndata: with id\n\n"
        b"\n\n\ndata: after blank lines\n\n"
        b": comment\n\n"
        b"data: two\ndata: lines\n\n"
        b"event: e\ndata: x\ndata: y\n\n"
        b"data: caf\xc3\xa9\n\n"
        b"data: unfinished"
    )
    whole = SSEDecoder()
    fast = whole.feed(body)
    fast += whole.feed(b" still\n\ndata: next\n\n") + whole.close()
    slow_decoder = SSEDecoder()
    slow = [e for i in range(len(body)) for e in slow_decoder.feed(body[i : i + 1])]
    slow += slow_decoder.feed(b" still\n\ndata: next\n\n") + slow_decoder.close()
    assert fast == slow
    assert fast[:4] == [SSEEvent('{"a":1}'), SSEEvent(""), SSEEvent("nospace"), SSEEvent("{}", "ping")]
    assert SSEEvent("unfinished still") in fast and fast[-1] == SSEEvent("next")


def test_the_size_limit_holds_on_the_whole_event_path() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    assert decoder.feed(b"data: " + b"x" * 100 + b"\n\n") == [SSEEvent("x" * 100)]
    with pytest.raises(UpstreamProtocolError, match="larger than 100 bytes"):
        SSEDecoder(max_event_bytes=100).feed(b"data: " + b"x" * 101 + b"\n\n")
    with pytest.raises(UpstreamProtocolError, match="larger than 100 bytes"):
        SSEDecoder(max_event_bytes=100).feed(b"event: e\ndata: " + b"x" * 101 + b"\n\n")


@pytest.mark.parametrize(
    "chunk",
    [b'data: {"a":1}\n\n', b"data: \n\n", b'data: {"b":"caf\xc3\xa9"}\n\n', b"data: x\xff\n\n", b"data: [DONE]\n\n",
     b'data: {"a":1}\n', b"data: a\n\ndata: b\n\n", b"data:x\n\n", b"data: " + b"y" * 2000 + b"\n\n"],
)  # fmt: skip
def test_a_read_of_one_event_gives_what_the_line_parser_gives(chunk: bytes) -> None:
    """``feed``'s shortcut for a read holding exactly one ``data:`` event against the general path."""
    fast, general = SSEDecoder(max_event_bytes=1000), SSEDecoder(max_event_bytes=1000)
    try:
        expected = general._feed_lines(chunk) + general.close()
    except UpstreamProtocolError:
        with pytest.raises(UpstreamProtocolError):
            fast.feed(chunk)
        return
    assert fast.feed(chunk) + fast.close() == expected
