"""Secret masking: every cut position, every escape form a client's parser would undo."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.observability.request_log import Redactor, SecretRedactingFilter
from bifrost_asgi.observability.secrets import MASK, PREFIX_LEN, SecretMask

SECRET = "sk-live-4f9a2b7c1d8e6f3a5b0c9d2e"
OTHER = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
SLASHED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS-style secret keys hold slashes
SECRETS = (SECRET, OTHER, SLASHED)
MASKER = SecretMask(SECRETS)


def leaks(text: str) -> bool:
    """Whether ``text`` holds ``PREFIX_LEN`` or more leading characters of a secret (any decoding)."""
    readings = [text, unquote(text)]
    with contextlib.suppress(ValueError):
        readings.append(json.loads('"' + text + '"'))
    return any(secret[:PREFIX_LEN] in reading for reading in readings for secret in SECRETS)


@pytest.mark.parametrize("cut", range(len(SECRET) + 1))
def test_no_prefix_survives_any_cut_before_or_after_masking(cut: int) -> None:
    text = f"Incorrect API key provided: {SECRET[:cut]}"
    masked = MASKER.mask_text(text)
    assert not leaks(masked), masked
    if cut >= PREFIX_LEN:
        assert masked.endswith(MASK)
    # Masked first, then cut anywhere: still nothing.
    full = MASKER.mask_text(f"key {SECRET} rejected")
    assert all(not leaks(full[:n]) for n in range(len(full) + 1))


def test_short_fragments_and_ordinary_words_are_left_alone() -> None:
    assert MASKER.mask_text("sk-li is not a key, and sk-other-thing neither") == (
        "sk-li is not a key, and sk-other-thing neither"
    )


def _escapes(secret: str) -> list[str]:
    every_char = "".join(f"\\u{ord(c):04x}" for c in secret)
    return [
        every_char,
        secret.replace("-", "\\u002d").replace("/", "\\u002f"),
        secret.replace("-", "\\u002D").replace("/", "\\u002F"),
        secret.replace("/", "\\/"),
        quote(secret, safe=""),
        secret.replace("-", "%2D").replace("/", "%2f"),
        every_char[:42] + secret[7:],  # escaped and plain mixed
    ]


@pytest.mark.parametrize("form", range(7))
def test_escaped_secrets_are_masked_in_text_and_json(form: int) -> None:
    for secret in SECRETS:
        escaped = _escapes(secret)[form]
        text = MASKER.mask_text(f"bad key {escaped}!")
        assert not leaks(text), text
        body = ('{"error": {"message": "bad key ' + escaped + '", "type": "invalid_request_error"}}').encode()
        masked = MASKER.mask_bytes(body)
        decoded = json.loads(masked)
        assert not leaks(decoded["error"]["message"]), masked
        assert decoded["error"]["type"] == "invalid_request_error"


def test_bytes_without_secrets_are_returned_untouched() -> None:
    body = b'{"error": {"message": "model not found \\u00e9"}}'
    assert MASKER.mask_bytes(body) is body
    assert SecretMask([]).mask_bytes(body) is body


def test_non_json_bodies_are_masked_as_text() -> None:
    assert MASKER.mask_bytes(f"<html>{SECRET[:12]}</html>".encode()) == b"<html>***</html>"


def test_deep_json_falls_back_to_text_masking() -> None:
    body = ("[" * 5000 + json.dumps(SECRET) + "]" * 5000).encode()
    assert SECRET[:PREFIX_LEN].encode() not in MASKER.mask_bytes(body)


def test_redactor_and_log_filter_mask_prefixes() -> None:
    assert Redactor([SECRET], patterns=False)(f"x {SECRET[:10]}") == "x ***"
    import logging

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "error: %s", (SECRET[:9] + "\\u0000",), None)
    SecretRedactingFilter([SECRET]).filter(record)
    assert SECRET[:PREFIX_LEN] not in record.getMessage()


_ALPHABET = "abcdefsk-_/0123456789 "
_secret_sets = st.lists(st.text(_ALPHABET, min_size=4, max_size=12), min_size=1, max_size=12)


_pieces = st.lists(st.tuples(st.text(_ALPHABET, max_size=8), st.integers(0, 11), st.integers(0, 12)))


@given(_secret_sets, _pieces)
def test_every_anchor_is_found_with_many_secrets(secrets: list[str], pieces: list[tuple[str, int, int]]) -> None:
    """The per-anchor substring test in front of the search lets nothing through: text built from
    noise and cut-off secrets keeps no secret run of ``PREFIX_LEN`` (or a whole short secret)."""
    text = "".join(noise + secrets[pick % len(secrets)][:cut] for noise, pick, cut in pieces)
    masked = SecretMask(secrets)._mask_plain(text)
    for secret in secrets:
        assert secret[:PREFIX_LEN] not in masked.replace(MASK, "\0")
