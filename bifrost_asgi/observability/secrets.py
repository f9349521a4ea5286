"""Masking configured secret values in text and bytes, in any of the encodings an upstream or a
log line may use, and including any prefix long enough to be useful to an attacker.

``SecretMask(secrets)`` replaces every occurrence of a secret value, and every run of
``PREFIX_LEN`` or more characters that starts a secret (what is left of a key after someone cut
the text), with ``***``. ``mask_text`` also looks through JSON string escapes (``sk\\u002d...``,
``\\/``) and percent-encoding; ``mask_bytes`` does the same for a body, re-encoding a JSON body
after masking its decoded strings so the client's parser cannot rebuild the value.

Mask before cutting: a cut can leave at most ``PREFIX_LEN - 1`` characters of a secret, and those
are masked too wherever they are followed by more of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import unquote

from .. import _json

MASK: Final = "***"
MIN_SECRET_LEN: Final = 4  # shorter "secrets" would mask ordinary words; they are not real keys
PREFIX_LEN: Final = 6  # a run this long that starts a secret is masked wherever it appears

_JSON_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE_ESCAPES: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_json(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if code[0] == "u" else _SIMPLE_ESCAPES[code]

    return _JSON_ESCAPE.sub(one, text)


def _decodings(text: str) -> list[str]:
    """Other readings of ``text`` a client might decode (JSON escapes, percent-encoding)."""
    variants: list[str] = []
    if "\\" in text:
        variants.append(_unescape_json(text))
    if "%" in text:
        variants.extend(unquote(v) for v in [text, *variants])
    return variants


class SecretMask:
    """Precompiled masking for a fixed set of secret values."""

    __slots__ = ("_anchor", "_anchors", "_by_anchor")

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self._by_anchor: dict[str, list[str]] = {}
        for value in values:
            self._by_anchor.setdefault(value[:PREFIX_LEN], []).append(value)
        anchors = sorted(self._by_anchor, key=len, reverse=True)
        self._anchors = tuple(anchors)
        self._anchor = re.compile("|".join(map(re.escape, anchors))) if anchors else None

    @property
    def has_secrets(self) -> bool:
        return self._anchor is not None

    def _mask_plain(self, text: str) -> str:
        anchor = self._anchor
        if anchor is None:
            return text
        # Most text holds no secret: one substring test per anchor says so in a fraction of what
        # the alternation's search takes (per position, it tries every anchor).
        for prefix in self._anchors:
            if prefix in text:
                break
        else:
            return text
        match = anchor.search(text)
        if match is None:
            return text
        parts: list[str] = []
        position = 0
        while match is not None:
            start = match.start()
            end = max(start + _common_prefix(text, start, value) for value in self._by_anchor[match.group()])
            parts.append(text[position:start])
            parts.append(MASK)
            position = end
            match = anchor.search(text, end)
        parts.append(text[position:])
        return "".join(parts)

    def mask_text(self, text: str) -> str:
        """``text`` with every secret (and secret prefix) masked; if one hides behind an escape,
        the decoded text is returned, masked."""
        if self._anchor is None:
            return text
        masked = self._mask_plain(text)
        for variant in _decodings(masked):
            decoded_masked = self._mask_plain(variant)
            if decoded_masked != variant:
                return decoded_masked
        return masked

    def mask_bytes(self, body: bytes) -> bytes:
        """``body`` with every secret masked; a JSON body stays JSON (its strings are masked as decoded)."""
        if self._anchor is None or not body:
            return body
        text = body.decode("utf-8", "replace")
        if self.mask_text(text) == text:
            return body
        try:
            return _json.dumps(self._mask_value(_json.loads(body)))
        except (ValueError, TypeError, RecursionError):  # not JSON (or nested past our stack): text
            return self.mask_text(text).encode()

    def _mask_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {self.mask_text(k): self._mask_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask_value(v) for v in value]
        return value


def _common_prefix(text: str, start: int, value: str) -> int:
    """How many characters of ``value`` ``text`` repeats from ``start``."""
    limit = min(len(value), len(text) - start)
    length = 0
    while length < limit and text[start + length] == value[length]:
        length += 1
    return length
