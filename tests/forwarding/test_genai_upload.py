"""The pure parts of GenAI uploads: which upstream upload URLs are used, which answers name a file."""

from __future__ import annotations

import pytest

from bifrost_asgi.errors import UpstreamProtocolError
from bifrost_asgi.forwarding.genai_upload import _file_name, _session_query

SENT = "https://generativelanguage.googleapis.com/upload/v1beta/files"


def test_the_upstream_session_is_its_query_on_the_providers_own_upload_endpoint() -> None:
    url = SENT + "?upload_id=ABC-123&upload_protocol=resumable"
    assert _session_query(url, SENT, "gemini") == "upload_id=ABC-123&upload_protocol=resumable"


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/upload/v1beta/files?upload_id=x",  # another host would get the key
        "http://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=x",  # downgraded
        "https://generativelanguage.googleapis.com/v1beta/models?upload_id=x",  # another path
    ],
)
def test_an_upload_url_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(UpstreamProtocolError, match="outside its own upload endpoint"):
        _session_query(url, SENT, "gemini")


def test_only_a_finalized_file_answer_names_a_file() -> None:
    assert _file_name(b'{"file": {"name": "files/abc-1"}}') == "abc-1"
    assert _file_name(b'{"file": {"name": "batches/abc"}}') is None
    assert _file_name(b"not json") is None
    assert _file_name(b"[]") is None
