"""One multipart field read and replaced, every other byte (the uploaded file) left as it was."""

from __future__ import annotations

from bifrost_asgi.forwarding.multipart import read_field, replace_field

CT = 'multipart/form-data; boundary="b0und"'
FILE = b"\x00\x01binary\r\n--not-a-boundary\r\n\xff"
BODY = (
    b'--b0und\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n'
    b"content-type: audio/wav\r\n\r\n" + FILE + b"\r\n"
    b'--b0und\r\ncontent-disposition: form-data; name="model"\r\n\r\nopenai/whisper-1\r\n--b0und--\r\n'
)


def test_read_and_replace_the_model_field_only() -> None:
    assert read_field(BODY, CT, "model") == "openai/whisper-1"
    rewritten = replace_field(BODY, CT, "model", "whisper-1")
    assert read_field(rewritten, CT, "model") == "whisper-1"
    assert FILE in rewritten and rewritten.replace(b"\r\n\r\nwhisper-1", b"\r\n\r\nopenai/whisper-1") == BODY


def test_missing_field_or_boundary_leaves_the_body_alone() -> None:
    assert read_field(BODY, CT, "prompt") is None
    assert replace_field(BODY, "multipart/form-data", "model", "x") == BODY


def test_the_leading_field_is_read_only_before_the_first_file_part() -> None:
    from bifrost_asgi.forwarding.multipart import leading_field

    assert leading_field(BODY, CT, "model") is None  # after the file: the upload is not scanned
    first = (
        b'--b0und\r\ncontent-disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--b0und\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        + FILE
        + b"\r\n--b0und--\r\n"
    )
    assert leading_field(first, CT, "model") == "whisper-1"
    assert leading_field(first, "multipart/form-data", "model") is None
