from __future__ import annotations

import inspect
import itertools
import logging
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi import _json
from bifrost_asgi.observability import request_log as request_log_module
from bifrost_asgi.observability.request_log import (
    RequestLogger,
    RequestRecord,
    SecretRedactingFilter,
    _text,
    install_secret_filter,
    new_request_id,
    redact,
    request_id_from,
)
from tests.support.garbage import collected, gateway_part

SECRET = "k3y-0f-the-0penai-acc0unt-7f2c"
PROMPT = "my private prompt about the merger"
_ids = itertools.count()


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> tuple[logging.Logger, ListHandler]:
    logger = logging.getLogger(f"bifrost_asgi.test_request_log.{next(_ids)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = ListHandler()
    logger.addHandler(handler)
    return logger, handler


def record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "dialect": "openai",
        "route": "/openai/v1/chat/completions",
        "method": "POST",
        "provider": "anthropic",
        "model": "claude-3-5-haiku",
        "status": 200,
        "attempts": 2,
        "fallbacks_used": 1,
        "latency_ms": 123.45678,
        "overhead_ms": 0.41234,
        "input_tokens": 12,
        "output_tokens": 34,
        "stream": True,
        "client_ip": "10.0.0.7",
        "key": "primary",
        "request_content": PROMPT,
        "response_content": "the completion text",
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def test_json_line_parses_and_has_no_prompt(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    RequestLogger(logger, json=True).log(record())
    assert len(handler.records) == 1 and handler.records[0].levelno == logging.INFO
    line = handler.records[0].getMessage()
    assert "\n" not in line
    data = _json.loads(line)
    assert data == {
        "request_id": "req-1",
        "dialect": "openai",
        "route": "/openai/v1/chat/completions",
        "method": "POST",
        "provider": "anthropic",
        "model": "claude-3-5-haiku",
        "status": 200,
        "stream": True,
        "attempts": 2,
        "fallbacks_used": 1,
        "latency_ms": 123.457,
        "overhead_ms": 0.412,
        "input_tokens": 12,
        "output_tokens": 34,
        "key": "primary",
        "virtual_key": None,
        "client_ip": "10.0.0.7",
        "error": None,
    }
    assert PROMPT not in handler.lines[0] and "completion text" not in handler.lines[0]


def test_content_only_when_enabled(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    RequestLogger(logger, json=True, log_content=True).log(record())
    data = _json.loads(handler.records[0].getMessage())
    assert data["request_content"] == PROMPT
    assert data["response_content"] == "the completion text"


def test_text_mode_key_values(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    RequestLogger(logger, json=False).log(
        record(status=502, error='upstream said "no"\nsecond line', provider=None, stream=False)
    )
    rec = handler.records[0]
    assert rec.levelno == logging.WARNING
    line = rec.getMessage()
    assert "\n" not in line
    assert line.startswith("request_id=req-1 dialect=openai route=/openai/v1/chat/completions method=POST ")
    assert " model=claude-3-5-haiku status=502 stream=false attempts=2 fallbacks_used=1 " in line
    assert " latency_ms=123.457 overhead_ms=0.412 input_tokens=12 output_tokens=34 " in line
    assert line.endswith(r'error="upstream said \"no\"\nsecond line"')
    assert "provider=" not in line  # None fields are skipped
    assert PROMPT not in line
    pairs = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    assert pairs["client_ip"] == "10.0.0.7" and pairs["key"] == "primary"


def test_nothing_built_when_level_disabled(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    logger.setLevel(logging.WARNING)
    req_logger = RequestLogger(logger, json=True)
    req_logger.log(record(status=200))
    req_logger.log(record(status=503))
    assert [r.levelno for r in handler.records] == [logging.WARNING]
    # the gateway asks first, so it does not even build the record of a request nobody will see
    assert not req_logger.wants(200) and not req_logger.wants(404)
    assert req_logger.wants(500) and req_logger.wants(503)
    logger.setLevel(logging.INFO)
    assert req_logger.wants(200)


def test_long_error_is_cut(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    RequestLogger(logger, json=True).log(record(error="x" * 5000))
    error = _json.loads(handler.records[0].getMessage())["error"]
    assert len(error) < 1100 and error.endswith("...(truncated)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"using key {SECRET} now", "using key *** now"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        ("header bearer eyJhbGciOi.xyz", "header bearer ***"),
        ("{'x-api-key': 'ant-live-123456', 'other': 1}", "{'x-api-key': '***', 'other': 1}"),
        ('"x-goog-api-key": "zzzz"', '"x-goog-api-key": "***"'),
        ("api_key=hunter2&x=1", "api_key=***&x=1"),
        ("GET /v1beta/models?key=AIzaSomething123&alt=sse", "GET /v1beta/models?key=***&alt=sse"),
        ("token sk-proj-AbCdEf0123456789 leaked", "token *** leaked"),
        ("groq gsk_0123456789abcdef", "groq ***"),
        ("gemini AIzaSyA-1234567890abcdefghijklmno", "gemini ***"),
        ("nothing to hide: model=gpt-4o status=200", "nothing to hide: model=gpt-4o status=200"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, [SECRET]) == expected


def test_redact_prefers_longest_secret_and_ignores_tiny_ones() -> None:
    assert redact("abcdef-long and abcdef", ["abcdef", "abcdef-long", "ab", ""]) == "*** and ***"
    assert redact("a cab", ["ab"]) == "a cab"


def test_filter_masks_messages_and_args_at_debug(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    logger.addFilter(SecretRedactingFilter([SECRET]))
    logger.debug("sending with key %s to %s", SECRET, "openai")
    logger.debug("headers %r", {"Authorization": f"Bearer {SECRET}", "x-api-key": "plain-value"})
    logger.debug("mapping %(key)s", {"key": SECRET})
    logger.info(f"inline {SECRET}")
    logger.debug("bad format %d", SECRET)  # would raise in formatting; must not leak via handleError
    assert len(handler.lines) == 5
    for line in handler.lines:
        assert SECRET not in line
        assert "plain-value" not in line
    assert handler.lines[0] == "DEBUG sending with key *** to openai"
    assert handler.lines[1] == "DEBUG headers {'Authorization': 'Bearer ***', 'x-api-key': '***'}"
    assert handler.lines[2] == "DEBUG mapping ***"
    assert all(r.args == () for r in handler.records)


def test_filter_masks_tracebacks_and_stacks(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    logger.addFilter(SecretRedactingFilter([SECRET]))
    try:
        raise RuntimeError(f"upstream rejected key {SECRET}")
    except RuntimeError:
        logger.exception("call failed")
    logger.debug("where am I", stack_info=True)
    assert "RuntimeError: upstream rejected key ***" in handler.lines[0]
    assert SECRET not in handler.lines[0]
    assert handler.records[1].stack_info is not None


def test_install_secret_filter_covers_existing_children() -> None:
    parent = logging.getLogger(f"bifrost_asgi.test_install.{next(_ids)}")
    child = logging.getLogger(parent.name + ".upstream")
    handler = ListHandler()
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    install_secret_filter(parent, [SECRET])
    parent.debug("p %s", SECRET)
    # a logger filter does not see propagated records: it must be on the child too
    child.debug("c %s", SECRET)
    assert handler.lines == ["DEBUG p ***", "DEBUG c ***"]


def test_new_request_id() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("req_01HZX.9:trace-1", True),
        ("trace.01:HZX-9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("new\nline", False),
        ("<script>", False),
    ],
)
def test_request_id_from(given: str, kept: bool) -> None:
    got = request_id_from({"x-request-id": given})
    if kept:
        assert got == given
    else:
        assert got != given and re.fullmatch(r"[0-9a-f]{32}", got)


def test_request_id_from_starlette_headers_and_missing() -> None:
    from starlette.datastructures import Headers

    assert request_id_from(Headers({"X-Request-ID": "abc"})) == "abc"
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_from({}))


# The text line is written out field by field (RequestLogger._text_line); _key_values over fields()
# is the general form it must equal, for every record.
_BARE_TEXT = request_log_module._BARE_TEXT


def _key_values(fields: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value if _BARE_TEXT.fullmatch(value) else _json.dumps_str(value)
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return " ".join(parts)


_texts = st.one_of(
    st.sampled_from(["openai", "POST", "/v1/chat/completions", "gpt-4o-mini", "a b", "", "sk-x", "ünï", "x\ny"]),
    st.text(max_size=30),
)
_optional_texts = st.none() | _texts
_numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 10**6)
_records = st.builds(
    RequestRecord,
    request_id=_texts,
    dialect=_texts,
    route=_texts,
    method=_texts,
    status=st.integers(100, 599),
    provider=_optional_texts,
    model=_optional_texts,
    attempts=st.integers(0, 5),
    fallbacks_used=st.integers(0, 5),
    latency_ms=_numbers,
    overhead_ms=st.none() | _numbers,
    input_tokens=st.none() | st.integers(0, 10**6),
    output_tokens=st.none() | st.integers(0, 10**6),
    stream=st.booleans(),
    error=st.none() | _texts | st.text(min_size=1001, max_size=1100),
    client_ip=_optional_texts,
    key=_optional_texts,
    virtual_key=_optional_texts,
    tool_rounds=st.none() | st.integers(0, 5),
    request_content=_optional_texts,
    response_content=_optional_texts,
)


@given(_records, st.booleans())
def test_text_line_is_the_general_key_values(rec: RequestRecord, content: bool) -> None:
    req_logger = RequestLogger(logging.getLogger("bifrost_asgi.test_request_log.text"), json=False, log_content=content)
    assert req_logger._text_line(rec) == _key_values(req_logger.fields(rec))
    assert req_logger._text_line(rec) == _key_values(req_logger.fields(rec))  # again, from the remembered values


@given(st.floats(allow_nan=False) | st.integers(0, 10**6).map(lambda n: n / 1000) | st.floats(0, 1e16))
def test_milliseconds_are_written_as_str_of_round(value: float) -> None:
    assert request_log_module._ms_text(value) == str(round(value, 3))


@given(_texts)
def test_text_is_plain_exactly_when_the_bare_pattern_matches(value: str) -> None:
    """``_text``'s ``isalnum`` shortcut takes nothing the pattern would quote."""
    assert _text(value) == (value if _BARE_TEXT.fullmatch(value) else _json.dumps_str(value))


def test_record_names_the_call_site_as_logger_log_would(captured: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = captured
    RequestLogger(logger, json=False).log(record())
    rec = handler.records[0]
    assert (rec.name, rec.levelno, rec.funcName, rec.module) == (logger.name, logging.INFO, "log", "request_log")
    assert rec.pathname == request_log_module.__file__
    source = inspect.getsource(RequestLogger.log).splitlines()
    first = RequestLogger.log.__code__.co_firstlineno
    assert "makeRecord" in source[rec.lineno - first] or "logger.handle(" in source[rec.lineno - first]


def test_compiled_without_a_code_object_it_goes_through_logger_log(
    captured: tuple[logging.Logger, ListHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled (mypyc: ``bench/mypyc_probe.py``), ``log`` has no ``__code__`` to name the call site
    with: the line goes out through ``logger.log`` (which finds its caller itself)."""
    logger, handler = captured
    monkeypatch.setattr(request_log_module, "_LOG_CODE", None)
    RequestLogger(logger, json=False).log(record())
    assert handler.records[0].getMessage().startswith("request_id=req-1 ")


def test_a_logged_line_leaves_no_garbage_cycle(captured: tuple[logging.Logger, ListHandler]) -> None:
    """A line must be freed when it is written: a cycle per request (the frame of ``log`` held in
    one of its own locals kept the frame, the line and the record alive) is collected only when
    the collector's threshold is reached, all at once, in the middle of some request."""
    logger, handler = captured
    request_logger = RequestLogger(logger, json=False)

    with collected() as garbage:
        for _ in range(3):
            request_logger.log(record())
    assert len(handler.records) == 3
    assert not gateway_part(garbage)


def test_a_logger_class_of_the_host_gets_logger_log(captured: tuple[logging.Logger, ListHandler]) -> None:
    """A host's Logger subclass that finds its caller its own way is called through ``log`` as before."""

    class HostLogger(logging.Logger):
        def findCaller(self, stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, str | None]:
            return ("host.py", 7, "host_function", None)

    logger = HostLogger(f"host.{next(_ids)}")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    RequestLogger(logger, json=False).log(record())
    rec = handler.records[0]
    assert (rec.pathname, rec.lineno, rec.funcName) == ("host.py", 7, "host_function")
    assert rec.getMessage().startswith("request_id=req-1 ")


_PATTERN_PIECES = st.sampled_from(
    [
        "key=", "?key=", "&KEY=", "api_key=", "Api-Key:", "apikey", "x-api-key\": \"", "x-goog-api-key=",
        "access_token=", "?access_token=", "&api-key=", "authorization=", "Authorization: Bearer ", "basic ",
        "bearer ", "BEARER\t",
        "sk-", "sk_", "gsk_", "xai-", "xai_", "AIza", "abcdefghijklmnopqrstuvwxyz0123", "ABCDEF", "0123456789",
        "-", "_", " ", "'", "\"", "=", ":", "?", "&", "/", ".", "virtual_key=", "request_id=", "status=200",
    ]
)  # fmt: skip


@given(st.lists(_PATTERN_PIECES, max_size=12).map("".join))
def test_the_credential_hint_test_never_misses_a_credential_shape(text: str) -> None:
    """The hint test is what lets a line skip the credential patterns: it must hold whenever one of them matches."""
    matched = any(pattern.search(text) for pattern, _ in request_log_module._PATTERNS)
    if matched:
        assert request_log_module._may_hold_credentials(text), text


@given(st.lists(_PATTERN_PIECES | st.text(max_size=3), max_size=12).map("".join))
def test_the_hint_test_is_any_hint_in_the_lowered_text(text: str) -> None:
    expected = any(hint in text.lower() for hint in request_log_module._CREDENTIAL_HINTS)
    assert request_log_module._may_hold_credentials(text) is expected


def test_a_request_line_with_its_key_fields_skips_the_credential_patterns() -> None:
    """The line's own ``key=`` and ``virtual_key=`` fields name a key (never its value) and match no
    credential pattern, so they are no reason to run the patterns on every line."""
    rec = RequestRecord(
        request_id="r1", dialect="openai", route="/v1/chat/completions", method="POST", status=200,
        key="openai-primary", virtual_key="vk-team-a",
    )  # fmt: skip
    line = RequestLogger(logging.getLogger("t"), json=False)._text_line(rec)
    assert " key=openai-primary" in line and " virtual_key=vk-team-a" in line
    assert not request_log_module._may_hold_credentials(line)
    assert redact(line, [SECRET]) == line
