from __future__ import annotations

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
