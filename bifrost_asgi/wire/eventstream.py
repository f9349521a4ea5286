"""AWS event-stream framing (``application/vnd.amazon.eventstream``): encode and decode.

A message is ``[total length u32][headers length u32][prelude CRC-32][headers][payload][message
CRC-32]``, big-endian; the prelude CRC covers the first 8 bytes and the message CRC everything
before it. A header is ``[name length u8][name][type u8][value]``; types 0-9 are true, false,
byte, short, int, long, bytes, string, timestamp (ms since the epoch) and uuid. Limits as
botocore's: 128 KiB of headers, 16 MiB of payload.

``EventStreamDecoder`` is incremental: feed bytes split anywhere, get complete messages; a bad
CRC, a length out of bounds or a truncated header raises ``EventStreamError``.
"""

from __future__ import annotations

import binascii
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024
_PRELUDE = 12
_MINIMUM = _PRELUDE + 4

HeaderValue = bool | int | bytes | str | uuid.UUID


class EventStreamError(ValueError):
    """The bytes are not a valid event-stream message (bad checksum, length or header)."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


# --- encoding ---------------------------------------------------------------------------------


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode()
    if len(raw_name) > 255:
        raise EventStreamError(f"header name {name[:40]!r}... is longer than 255 bytes")
    head = struct.pack("!B", len(raw_name)) + raw_name
    if value is True:
        return head + b"\x00"
    if value is False:
        return head + b"\x01"
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return head + b"\x04" + struct.pack("!i", value)
        return head + b"\x05" + struct.pack("!q", value)
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    if isinstance(value, bytes):
        return head + b"\x06" + struct.pack("!H", len(value)) + value
    raw = value.encode()
    return head + b"\x07" + struct.pack("!H", len(raw)) + raw


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One complete message with both checksums."""
    encoded = b"".join(_encode_header(name, value) for name, value in headers.items())
    if len(encoded) > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers of {len(encoded)} bytes exceed {MAX_HEADERS_LENGTH}")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LENGTH}")
    total = _MINIMUM + len(encoded) + len(payload)
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", binascii.crc32(body))


# --- decoding ---------------------------------------------------------------------------------

_FIXED = {2: "!b", 3: "!h", 4: "!i", 5: "!q", 8: "!q"}


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at, end = 0, len(data)
    try:
        while at < end:
            name_length = data[at]
            name = data[at + 1 : at + 1 + name_length].decode()
            at += 1 + name_length
            kind = data[at]
            at += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fmt = _FIXED[kind]
                size = struct.calcsize(fmt)
                (value,) = struct.unpack(fmt, data[at : at + size])
                at += size
            elif kind in (6, 7):
                (length,) = struct.unpack("!H", data[at : at + 2])
                raw = data[at + 2 : at + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("a header value is cut short")
                value = raw if kind == 6 else raw.decode()
                at += 2 + length
            elif kind == 9:
                raw = data[at : at + 16]
                if len(raw) != 16:
                    raise EventStreamError("a uuid header is cut short")
                value = uuid.UUID(bytes=raw)
                at += 16
            else:
                raise EventStreamError(f"unknown header type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed headers: {exc}") from None
    if at != end:
        raise EventStreamError("malformed headers: a header runs past its block")
    return headers


class EventStreamDecoder:
    """Feed raw bytes as they arrive; get back complete, checksum-verified messages."""

    __slots__ = ("_buffer", "_error", "_max_payload")

    def __init__(self, *, max_payload: int = MAX_PAYLOAD_LENGTH) -> None:
        self._max_payload = min(max_payload, MAX_PAYLOAD_LENGTH)
        self._buffer = b""
        self._error: EventStreamError | None = None

    def feed(self, chunk: bytes) -> list[EventMessage]:
        """The complete messages so far. A bad message raises, after the good ones before it in
        the same chunk have been returned (the error is raised by the next call)."""
        if self._error is not None:
            raise self._error
        messages: list[EventMessage] = []
        try:
            self._decode(self._buffer + chunk if self._buffer else chunk, messages)
        except EventStreamError as exc:
            if not messages:
                raise
            # Kept without its traceback, whose frame (``feed``'s) holds this decoder: no cycle.
            self._error = exc.with_traceback(None)
        return messages

    def _decode(self, buffer: bytes, messages: list[EventMessage]) -> None:
        at = 0
        self._buffer = b""
        while len(buffer) - at >= _PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from("!III", buffer, at)
            if binascii.crc32(buffer[at : at + 8]) != prelude_crc:
                raise EventStreamError("prelude checksum mismatch")
            if headers_length > MAX_HEADERS_LENGTH:
                raise EventStreamError(f"headers of {headers_length} bytes exceed {MAX_HEADERS_LENGTH}")
            payload_length = total - _MINIMUM - headers_length
            if payload_length < 0 or payload_length > self._max_payload:
                raise EventStreamError(f"message length {total} is out of bounds")
            if len(buffer) - at < total:
                break
            (message_crc,) = struct.unpack_from("!I", buffer, at + total - 4)
            if binascii.crc32(buffer[at : at + total - 4]) != message_crc:
                raise EventStreamError("message checksum mismatch")
            start = at + _PRELUDE
            headers = _decode_headers(buffer[start : start + headers_length])
            messages.append(EventMessage(headers, buffer[start + headers_length : at + total - 4]))
            at += total
        self._buffer = buffer[at:]

    def close(self) -> list[EventMessage]:
        """End of stream: leftover bytes are a truncated message."""
        if self._error is not None:
            raise self._error
        if self._buffer:
            left, self._buffer = len(self._buffer), b""
            raise EventStreamError(f"the stream ended inside a message ({left} bytes left over)")
        return []
