"""GenAI files through the google-genai SDK (``client.files.upload``, the resumable protocol;
``files.get``, ``list``, ``delete``; a ``fileData.fileUri`` in generateContent), forwarded to the
gemini provider with the gateway's keys. The fake validates the protocol like the real API (offsets,
exact chunk lengths, finalize) and answers 403 for a file asked for with another key, so every later
call shows it reached the key that uploaded the file."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_genai_files import FakeGenAIFiles
from tests.support.fake_provider import Status

pytestmark = pytest.mark.e2e

KEYS = ["gm-key-one", "gm-key-two", "gm-key-three"]
CLIENT_KEY = "client-key-never-upstream"
CONTENT = bytes(range(256)) * 1000  # 256 000 bytes


@pytest.fixture
def files(fake_provider: FakeProvider) -> FakeGenAIFiles:
    return FakeGenAIFiles().install(fake_provider)


def _config(fake_provider: FakeProvider, upstream_client: str = "auto") -> dict[str, Any]:
    gemini = {"keys": [{"name": f"k{i}", "value": v} for i, v in enumerate(KEYS)],
              "network_config": {"base_url": fake_provider.url + "/v1beta"}}  # fmt: skip
    openai = {"keys": [{"name": "o", "value": "sk-openai"}], "network_config": {"base_url": fake_provider.url + "/v1"}}
    return {"providers": {"gemini": gemini, "openai": openai}, "client": {"upstream_client": upstream_client}}


@pytest.fixture
def gateway(fake_provider: FakeProvider, files: FakeGenAIFiles) -> Iterator[ServerHandle]:
    with run_gateway(_config(fake_provider)) as handle:
        yield handle


def _client(gateway: ServerHandle, prefix: str = "/genai") -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url + prefix, api_version="v1beta")
    return genai.Client(api_key=CLIENT_KEY, http_options=options)


def _owner(files: FakeGenAIFiles, name: str) -> str:
    return str(files.files[name.split("/", 1)[1]]["_key"])


def test_upload_get_list_delete_stay_with_the_uploading_key(
    fake_provider: FakeProvider, gateway: ServerHandle, files: FakeGenAIFiles
) -> None:
    client = _client(gateway)
    uploaded = client.files.upload(file=io.BytesIO(CONTENT), config={"mime_type": "image/png", "display_name": "p"})
    assert uploaded.name and uploaded.name.startswith("files/") and uploaded.state == types.FileState.ACTIVE
    assert uploaded.size_bytes == len(CONTENT) and uploaded.mime_type == "image/png" and uploaded.display_name == "p"
    assert files.files[uploaded.name.split("/")[1]]["_content"] == CONTENT  # every byte, once
    owner = _owner(files, uploaded.name)
    chunks = [r for r in fake_provider.requests if "upload_id" in r.query]
    assert chunks and all(r.headers["x-goog-api-key"] == owner for r in chunks)
    for _ in range(6):  # three keys: each read must reach the uploading key (the fake 403s the others)
        assert client.files.get(name=uploaded.name).name == uploaded.name
    assert fake_provider.last("/v1beta/files/").headers["x-goog-api-key"] == owner
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as gone:
        client.files.get(name=uploaded.name)
    assert gone.value.code == 404
    assert list(client.files.list(config={"page_size": 10})) == []
    assert fake_provider.last("/v1beta/files").method == "GET"
    assert not any(CLIENT_KEY in v for r in fake_provider.requests for v in [*r.headers.values(), *r.query.values()])


def test_the_upload_url_points_at_the_gateway_and_carries_no_key(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    start = httpx.post(
        gateway.url + "/genai/upload/v1beta/files",
        params={"key": CLIENT_KEY},
        headers={"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
                 "x-goog-upload-header-content-length": "5", "x-goog-upload-header-content-type": "text/plain"},
        json={"file": {"displayName": "five"}},
    )  # fmt: skip
    assert start.status_code == 200, start.text
    url = start.headers["x-goog-upload-url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == gateway.url and parts.path == "/genai/upload/v1beta/files"
    upstream = fake_provider.last("/upload/v1beta/files")
    assert fake_provider.url.split("//")[1] not in url and "fakesession" not in url
    assert not any(key in url for key in KEYS) and CLIENT_KEY not in url
    assert "x-goog-upload-control-url" not in start.headers and start.headers["x-goog-upload-status"] == "active"
    assert "key" not in upstream.query and upstream.headers["x-goog-api-key"] in KEYS
    done = httpx.post(url, headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
                      content=b"hello")  # fmt: skip
    assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
    assert done.json()["file"]["sizeBytes"] == "5"


@pytest.mark.parametrize("upstream_client", ["aiohttp", "httpx"])
def test_a_chunk_is_streamed_upstream_before_the_client_has_sent_all_of_it(
    fake_provider: FakeProvider, files: FakeGenAIFiles, upstream_client: str
) -> None:
    with run_gateway(_config(fake_provider, upstream_client)) as gateway:
        _stream_one_chunk(fake_provider, gateway)


def _stream_one_chunk(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    size = 4 * 1024 * 1024
    start = httpx.post(
        gateway.url + "/genai/upload/v1beta/files",
        headers={"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
                 "x-goog-upload-header-content-length": str(size)},
        json={"file": {}},
    )  # fmt: skip
    target = urlsplit(start.headers["x-goog-upload-url"])
    head = (f"POST {target.path}?{target.query} HTTP/1.1\r\nhost: {target.netloc}\r\ncontent-length: {size}\r\n"
            "x-goog-upload-command: upload, finalize\r\nx-goog-upload-offset: 0\r\nconnection: close\r\n\r\n")
    half = size // 2
    before = fake_provider.bytes_received
    with socket.create_connection((gateway.host, gateway.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"a" * half)
        # Buffered whole, nothing would reach the upstream until the rest is sent: it must already flow.
        fake_provider.wait_for(lambda: fake_provider.bytes_received >= before + half, timeout=30)
        sock.sendall(b"b" * (size - half))
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"x-goog-upload-status: final" in answer.lower()


def _read_response(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_file_uri_in_generate_content_reaches_the_uploading_key(
    fake_provider: FakeProvider, gateway: ServerHandle, files: FakeGenAIFiles
) -> None:
    client = _client(gateway)
    uploaded = client.files.upload(file=io.BytesIO(b"%PDF-1.4 fake"), config={"mime_type": "application/pdf"})
    assert uploaded.uri and uploaded.mime_type
    owner = _owner(files, str(uploaded.name))
    part = types.Part.from_uri(file_uri=uploaded.uri, mime_type=uploaded.mime_type)
    for _ in range(6):  # the fake 403s a fileUri of another key's file
        answer = client.models.generate_content(model="gemini-2.5-flash", contents=[part, "Summarise it."])
        assert answer.text
        assert fake_provider.last(":generateContent").headers["x-goog-api-key"] == owner
    streamed = client.models.generate_content_stream(model="gemini-2.5-flash", contents=[part, "Again."])
    assert "".join(chunk.text or "" for chunk in streamed)
    assert fake_provider.last(":streamGenerateContent").headers["x-goog-api-key"] == owner


def test_upload_errors_in_genai_shape_before_any_upstream_call(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    unknown = httpx.post(gateway.url + "/genai/upload/v1beta/files", params={"upload_id": "never-started"},
                         headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
                         content=b"x")  # fmt: skip
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND" and "upload_id" in unknown.json()["error"]["message"]
    multipart = httpx.post(gateway.url + "/genai/upload/v1beta/files", json={"file": {}},
                           headers={"x-goog-upload-protocol": "multipart"})  # fmt: skip
    assert multipart.status_code == 400 and "X-Goog-Upload-Protocol" in multipart.json()["error"]["message"]
    wrong = httpx.post(gateway.url + "/genai/upload/v1beta/files", params={"provider": "openai"}, json={"file": {}},
                       headers={"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start"})
    assert wrong.status_code == 400 and "openai" in wrong.json()["error"]["message"]
    assert not fake_provider.requests


def test_a_file_of_several_chunks_arrives_whole(gateway: ServerHandle, files: FakeGenAIFiles) -> None:
    content = b"\x01\x02\x03" * (3 * 1024 * 1024)  # 9 MiB: the SDK sends an 8 MiB chunk, then the rest
    client = _client(gateway)
    uploaded = client.files.upload(file=io.BytesIO(content), config={"mime_type": "video/mp4"})
    assert files.files[str(uploaded.name).split("/")[1]]["_content"] == content


def test_a_failed_chunk_is_not_replayed(fake_provider: FakeProvider, files: FakeGenAIFiles) -> None:
    gemini = {"keys": [{"name": "k", "value": KEYS[0]}], "network_config": {
        "base_url": fake_provider.url + "/v1beta", "max_retries": 2, "retry_backoff_initial_ms": 1}}
    with run_gateway({"providers": {"gemini": gemini}}) as gateway:
        start = httpx.post(
            gateway.url + "/genai/upload/v1beta/files", json={"file": {}},
            headers={"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
                     "x-goog-upload-header-content-length": "3"},
        )  # fmt: skip
        fake_provider.script("/upload/", [Status(503)])
        failed = httpx.post(start.headers["x-goog-upload-url"], content=b"abc",
                            headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"})
    assert failed.status_code == 502 and "cannot be replayed" in failed.json()["error"]["message"]
    assert len([r for r in fake_provider.requests if "upload_id" in r.query]) == 1


@pytest.mark.parametrize("prefix", ["/langchain", "/litellm", "/pydanticai"])
def test_uploads_under_the_integration_prefixes(gateway: ServerHandle, files: FakeGenAIFiles, prefix: str) -> None:
    client = _client(gateway, prefix)
    uploaded = client.files.upload(file=io.BytesIO(b"abc"), config={"mime_type": "text/plain"})
    assert files.files[str(uploaded.name).split("/")[1]]["_content"] == b"abc"
    assert client.files.get(name=str(uploaded.name)).size_bytes == 3
