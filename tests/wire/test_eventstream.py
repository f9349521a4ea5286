"""AWS event-stream framing: our encoder against botocore's decoder, our decoder against corruption."""

from __future__ import annotations

import struct
import uuid

import pytest
from botocore.eventstream import EventStreamBuffer

from bifrost_asgi.wire.converse import (
    converse_path,
    encode_event,
    encode_exception,
    normalize_error_type,
    read_frame,
    status_for,
)
from bifrost_asgi.wire.eventstream import EventMessage, EventStreamDecoder, EventStreamError, encode_message
from tests.support.garbage import collected, gateway_part


def test_frames_decode_with_botocore() -> None:
    data = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hé"}}) + encode_exception(
        "throttlingException", "slow down"
    )
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    first, second = list(buffer)
    assert first.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json",
                             ":message-type": "event"}  # fmt: skip
    assert first.payload == '{"contentBlockIndex":0,"delta":{"text":"hé"}}'.encode()
    assert second.headers[":exception-type"] == "throttlingException"


def test_every_header_type_round_trips_and_split_anywhere() -> None:
    ident = uuid.UUID(int=7)
    headers = {"t": True, "f": False, "i": -5, "l": 2**40, "b": b"\x00\x01", "s": "text", "u": ident}
    data = encode_message(headers, b"payload") * 2
    decoder = EventStreamDecoder()
    messages: list[EventMessage] = []
    for i in range(len(data)):
        messages += decoder.feed(data[i : i + 1])
    assert decoder.close() == []
    assert [m.headers for m in messages] == [headers, headers]
    assert messages[0].payload == b"payload"
    assert messages[0].header("s") == "text" and messages[0].header("i") is None


@pytest.mark.parametrize(
    ("offset", "error"),
    [(9, "prelude checksum"), (-6, "message checksum"), (-1, "message checksum")],
)
def test_corruption_is_detected(offset: int, error: str) -> None:
    frame = bytearray(encode_event("messageStop", {"stopReason": "end_turn"}))
    frame[offset] ^= 0x40
    with pytest.raises(EventStreamError, match=error):
        EventStreamDecoder().feed(bytes(frame))


def test_good_messages_before_a_bad_one_are_returned_first() -> None:
    good = encode_event("messageStart", {"role": "assistant"})
    bad = bytearray(good)
    bad[-2] ^= 1
    decoder = EventStreamDecoder()
    assert len(decoder.feed(good + bytes(bad))) == 1
    with pytest.raises(EventStreamError):
        decoder.feed(b"")
    with pytest.raises(EventStreamError):
        decoder.close()


def test_a_kept_error_makes_no_cycle() -> None:
    """The error kept for the next call does not hold the frame that holds the decoder."""
    good = encode_event("messageStart", {"role": "assistant"})
    bad = bytearray(good)
    bad[-2] ^= 1
    with collected() as garbage:
        decoder = EventStreamDecoder()
        assert len(decoder.feed(good + bytes(bad))) == 1
        del decoder
    assert not gateway_part(garbage)


def test_truncated_stream_and_bounds() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(encode_event("metadata", {})[:-3]) == []
    with pytest.raises(EventStreamError, match="ended inside a message"):
        decoder.close()
    huge = struct.pack("!II", 17 * 1024 * 1024, 0)
    with pytest.raises(EventStreamError, match="out of bounds"):
        EventStreamDecoder().feed(huge + struct.pack("!I", __import__("binascii").crc32(huge)))


def test_converse_vocabulary() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert converse_path(arn, stream=True) == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
        "us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    )
    assert normalize_error_type("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/") == (
        "throttlingException"
    )
    assert status_for("ThrottlingException") == 429 and status_for("validationException") == 400
    assert status_for("serviceUnavailableException") == 503 and status_for("weird") == 500
    frame = read_frame(EventStreamDecoder().feed(encode_event("messageStart", {"role": "assistant", "p": "xx"}))[0])
    assert (frame.kind, frame.type, dict(frame.payload)) == ("event", "messageStart", {"role": "assistant"})
