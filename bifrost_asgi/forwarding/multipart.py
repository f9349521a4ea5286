"""Reading and replacing one text field of a ``multipart/form-data`` body, leaving every other byte
as it was (files are forwarded intact)."""

from __future__ import annotations

import re

_NAME = re.compile(rb'name="([^"]*)"')


def boundary(content_type: str) -> bytes | None:
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return None


def _field_span(body: bytes, mark: bytes, field: str, *, before_files: bool = False) -> tuple[int, int] | None:
    """Start and end offsets of ``field``'s value in ``body``; with ``before_files``, only among
    the parts before the first file part (that part and the rest are not scanned)."""
    delimiter = b"--" + mark
    position = body.find(delimiter)
    while position != -1:
        head_start = position + len(delimiter) + 2  # CRLF after the delimiter
        head_end = body.find(b"\r\n\r\n", head_start)
        if head_end == -1:
            return None
        if before_files and body.find(b"filename=", head_start, head_end) != -1:
            return None
        following = body.find(b"\r\n" + delimiter, head_end)
        if following == -1:
            return None
        name = _NAME.search(body, head_start, head_end)
        if name is not None and name.group(1).decode("latin-1") == field:
            return head_end + 4, following
        position = following + 2
    return None


def read_field(body: bytes, content_type: str, field: str) -> str | None:
    mark = boundary(content_type)
    span = _field_span(body, mark, field) if mark else None
    return body[span[0] : span[1]].decode("utf-8", "replace") if span else None


def leading_field(body: bytes, content_type: str, field: str) -> str | None:
    """``field``'s value when it comes before any file part (as SDKs send it), else None: the
    upload itself is never searched."""
    mark = boundary(content_type)
    span = _field_span(body, mark, field, before_files=True) if mark else None
    return body[span[0] : span[1]].decode("utf-8", "replace") if span else None


def replace_field(body: bytes, content_type: str, field: str, value: str) -> bytes:
    mark = boundary(content_type)
    span = _field_span(body, mark, field) if mark else None
    if span is None:
        return body
    return body[: span[0]] + value.encode() + body[span[1] :]
