"""One structured log line per request, secret redaction for log records, and request ids.

``RequestLogger.log(record)`` writes one line at INFO (WARNING for a 5xx status) through the logger it
was given (straight to its handlers' streams when ``direct_lines`` knows the chain): a JSON object
(``json=True``; give the handler the ``"%(message)s"`` format) or ``key=value`` pairs. Prompt and
completion text are never logged unless ``log_content=True``.

``SecretRedactingFilter`` rewrites a record's message, arguments, traceback and stack text, replacing
every configured secret value and anything shaped like a credential (``Bearer ...``, ``sk-...``,
``x-api-key: ...``, ``?key=...``) with ``***``. A filter on a logger only sees records logged through
that very logger, so ``install_secret_filter`` also adds it to the logger's existing descendants; to
cover everything, add the same filter to the handler as well.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any, Final

from .. import _json
from .direct_lines import DirectLines
from .secrets import MASK, SecretMask

__all__ = [
    "MASK",
    "Redactor",
    "RequestLogger",
    "RequestRecord",
    "SecretRedactingFilter",
    "install_secret_filter",
    "new_request_id",
    "redact",
    "request_id_from",
]

_MAX_ERROR_LEN: Final = 1000
_MAX_CONTENT_LEN: Final = 10_000

# Credential shapes, masked even when the value is not a configured secret. The value part stops at
# whitespace, quotes and separators so the surrounding text (and JSON/dict reprs) stays readable.
_VALUE: Final = r"[^\s\"',;&}\]]+"
_PATTERNS: Final = (
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)" + _VALUE), r"\1" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + MASK),
    (re.compile(r"(?i)((?:x-goog-|x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)" + _VALUE), r"\1" + MASK),
    (re.compile(r"(?i)([?&](?:key|api_key|api-key|access_token)=)[^&\s\"']+"), r"\1" + MASK),
    (re.compile(r"\b(?:sk|gsk|xai)[-_][A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),
)
# Substrings (lower-case) without which none of the patterns above can match. Most text (a request
# log line) has none of them, and then the six regex substitutions are skipped: substring tests
# cost about a microsecond, the six substitutions about 100 (on a request line). A bare ``key=`` is
# not a hint: the query pattern wants ``?`` or ``&`` before it, and the request line's own
# ``key=`` and ``virtual_key=`` fields (a key's name, never its value) would otherwise send every
# line through the patterns.
_CREDENTIAL_HINTS: Final = (
    "authorization", "bearer", "apikey", "api-key", "api_key", "?key=", "&key=", "access_token=",
    "sk-", "sk_", "xai-", "xai_", "aiza",
)  # fmt: skip
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BARE_TEXT: Final = re.compile(r"[\w.:/@+\-\[\]{},]+")


class Redactor:
    """Precompiled redaction for a fixed set of secret values (and their prefixes, in any
    encoding: see ``SecretMask``).

    ``patterns=False`` masks only the configured values, not credential shapes: for text that goes
    back to clients (an upstream error body), where a shape match could be an ordinary word.
    """

    __slots__ = ("_patterns", "mask")

    def __init__(self, secrets: Iterable[str] = (), *, patterns: bool = True) -> None:
        self.mask = SecretMask(secrets)
        self._patterns = _PATTERNS if patterns else ()

    @property
    def has_secrets(self) -> bool:
        return self.mask.has_secrets

    def __call__(self, text: str) -> str:
        text = self.mask.mask_text(text)
        if self._patterns and _may_hold_credentials(text):
            for pattern, replacement in self._patterns:
                text = pattern.sub(replacement, text)
        return text


def _may_hold_credentials(text: str) -> bool:
    """Whether ``text`` holds one of ``_CREDENTIAL_HINTS`` in any case (the tests written out: a
    generator over the tuple cost half as much again, on every line logged). The five hints that
    hold ``key`` and the two that hold ``xai`` are looked for only where that is found: 8 searches
    instead of 13 over a line that has neither, the same answer for every text."""
    lowered = text.lower()
    return (
        "authorization" in lowered or "bearer" in lowered or "access_token=" in lowered
        or "sk-" in lowered or "sk_" in lowered or "aiza" in lowered
        or ("key" in lowered and (
            "apikey" in lowered or "api-key" in lowered or "api_key" in lowered
            or "?key=" in lowered or "&key=" in lowered
        ))
        or ("xai" in lowered and ("xai-" in lowered or "xai_" in lowered))
    )  # fmt: skip


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value and credential-shaped token replaced by ``***``."""
    return Redactor(secrets)(text)


class SecretRedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, traceback and stack (all levels, DEBUG too).

    The message is formatted here (``msg % args``) and stored back with empty ``args``, so no handler
    or formatter can see the raw arguments afterwards.
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self._redact = Redactor(secrets)

    def redact(self, text: str) -> str:
        """``text`` masked as this filter masks a record's message."""
        return self._redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep both parts, masked, instead of a traceback
            message = f"{record.msg} {record.args!r}"
        record.msg = self._redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def install_secret_filter(logger: logging.Logger, secrets: Iterable[str]) -> SecretRedactingFilter:
    """Add one ``SecretRedactingFilter`` to ``logger`` and to each of its existing child loggers."""
    flt = SecretRedactingFilter(secrets)
    logger.addFilter(flt)
    prefix = logger.name + "."
    for name, child in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefix) and isinstance(child, logging.Logger):
            child.addFilter(flt)
    return flt


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(headers: Mapping[str, str], make: Callable[[], str] = new_request_id) -> str:
    """The client's ``x-request-id`` when it is a sane token (<= 128 of ``[A-Za-z0-9._:-]``), else new.

    ``headers`` must be case-insensitive (Starlette ``Headers``) or have lower-case keys.
    """
    given = headers.get("x-request-id")
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return make()


@dataclass(slots=True, kw_only=True)
class RequestRecord:
    """What one request did. ``latency_ms`` is wall time; ``overhead_ms`` the part not spent upstream."""

    request_id: str
    dialect: str
    route: str  # the route template, as in the metrics
    method: str
    status: int
    provider: str | None = None
    model: str | None = None
    attempts: int = 0
    fallbacks_used: int = 0
    latency_ms: float = 0.0
    overhead_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stream: bool = False
    error: str | None = None
    client_ip: str | None = None
    key: str | None = None  # the key's name/id, never its value
    virtual_key: str | None = None  # the governance virtual key's id, never its value
    tool_rounds: int | None = None  # MCP agent-mode tool rounds (None: not an agent-mode request)
    # Logged only when the logger was built with ``log_content=True``.
    request_content: str | None = None
    response_content: str | None = None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms_text(value: float) -> str:
    """``str(round(value, 3))`` at half the cost: the ``.3f`` format rounds the same way (correctly, from the
    exact binary value), and below 1e9 (12 significant digits, far from the 15 a double holds) the
    shortest form of the rounded number is those digits without trailing zeros. An int stays one."""
    if type(value) is not float or not 0.0 <= value < 1e9:
        return str(round(value, 3))
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text[-1] == "." else text


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "...(truncated)"


# Plain text that repeats from line to line (routes, model names) is checked against _BARE_TEXT
# once per logger, up to this many distinct values.
_BARE_CACHE_SIZE: Final = 256


class RequestLogger:
    """Writes one line per ``RequestRecord`` through ``logger``."""

    __slots__ = ("_bare", "_direct", "_json", "_lines", "_log_content", "_logger")

    def __init__(self, logger: logging.Logger, *, json: bool, log_content: bool = False) -> None:
        self._logger = logger
        self._json = json
        self._log_content = log_content
        self._bare: dict[str, str] = {}  # text value -> its text-mode form, for values that repeat
        kind = type(logger)
        # A logger class of the host's that finds its caller or makes its records its own way
        # gets ``logger.log``; the standard one gets what that does, less the stack walk (``log``).
        # Compiled (mypyc), ``log`` has no code object and no frame of its own: ``logger.log`` then.
        self._direct = _LOG_CODE is not None and (kind.log, kind._log, kind.findCaller) == (
            logging.Logger.log, logging.Logger._log, logging.Logger.findCaller
        )  # fmt: skip
        # With a chain of handlers it knows, the line is written without a record (see direct_lines).
        self._lines = DirectLines(logger)

    def wants(self, status: int) -> bool:
        """Whether a request that ended with ``status`` would be logged (so its record is worth building)."""
        return self._logger.isEnabledFor(logging.WARNING if status >= 500 else logging.INFO)

    def log(self, record: RequestRecord) -> None:
        level = logging.WARNING if record.status >= 500 else logging.INFO
        logger = self._logger
        if not logger.isEnabledFor(level):
            return
        line = _json.dumps_str(self.fields(record)) if self._json else self._text_line(record)
        if self._lines.write(level, line):
            return
        if not self._direct or logging._srcfile is None:
            logger.log(level, line)
            return
        # What ``logger.log(level, line)`` does, without walking the stack for the caller: the
        # caller it would find is this frame (the same pathname, line number and function name).
        # The frame is not kept in a local, which it would hold itself: a cycle per line.
        code = _LOG_CODE
        assert code is not None  # (``_direct``)
        file, func = code.co_filename, code.co_name
        logger.handle(logger.makeRecord(logger.name, level, file, sys._getframe().f_lineno, line, (), None, func))

    def fields(self, record: RequestRecord) -> dict[str, Any]:
        """The logged fields, in a stable order (``None`` values are kept; text mode skips them)."""
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            "dialect": record.dialect,
            "route": record.route,
            "method": record.method,
            "provider": record.provider,
            "model": record.model,
            "status": record.status,
            "stream": record.stream,
            "attempts": record.attempts,
            "fallbacks_used": record.fallbacks_used,
            "latency_ms": _ms(record.latency_ms),
            "overhead_ms": _ms(record.overhead_ms),
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "key": record.key,
            "virtual_key": record.virtual_key,
            "client_ip": record.client_ip,
            "error": _cut(record.error, _MAX_ERROR_LEN),
        }
        if record.tool_rounds is not None:
            fields["tool_rounds"] = record.tool_rounds
        if self._log_content:
            fields["request_content"] = _cut(record.request_content, _MAX_CONTENT_LEN)
            fields["response_content"] = _cut(record.response_content, _MAX_CONTENT_LEN)
        return fields

    def _text_line(self, record: RequestRecord) -> str:
        """The text-mode line: ``key=value`` pairs in the order of ``fields(record)``, ``None``
        values skipped, booleans as ``true``/``false``, text through ``_text``. The fields every
        line has are one f-string: a list of pieces and its join cost a third more."""
        known = self._known
        provider = "" if record.provider is None else " provider=" + known(record.provider)
        model = "" if record.model is None else " model=" + known(record.model)
        line = (
            f"request_id={_text(record.request_id)} dialect={known(record.dialect)} route={known(record.route)} "
            f"method={known(record.method)}{provider}{model} status={record.status} "
            f"stream={'true' if record.stream else 'false'} attempts={record.attempts} "
            f"fallbacks_used={record.fallbacks_used} latency_ms={_ms_text(record.latency_ms)}"
        )
        if record.overhead_ms is not None:
            line += " overhead_ms=" + _ms_text(record.overhead_ms)
        if record.input_tokens is not None:
            line += f" input_tokens={record.input_tokens}"
        if record.output_tokens is not None:
            line += f" output_tokens={record.output_tokens}"
        if record.key is not None:
            line += " key=" + _text(record.key)
        if record.virtual_key is not None:
            line += " virtual_key=" + _text(record.virtual_key)
        if record.client_ip is not None:
            line += " client_ip=" + _text(record.client_ip)
        if record.error is not None:
            line += " error=" + _text(_cut(record.error, _MAX_ERROR_LEN) or "")
        if record.tool_rounds is not None:
            line += f" tool_rounds={record.tool_rounds}"
        if self._log_content:
            for name, text in (
                ("request_content", record.request_content),
                ("response_content", record.response_content),
            ):
                if text is not None:
                    line += " " + name + "=" + _text(_cut(text, _MAX_CONTENT_LEN) or "")
        return line

    def _known(self, value: str) -> str:
        """``_text(value)`` for a value that repeats (a route, a provider, a model), remembered."""
        text = self._bare.get(value)
        if text is None:
            text = _text(value)
            if len(self._bare) < _BARE_CACHE_SIZE:
                self._bare[value] = text
        return text


#: The call site a record of ``log`` names (None when this module is compiled: no code object).
_LOG_CODE: Final[CodeType | None] = getattr(RequestLogger.log, "__code__", None)


def _text(value: str) -> str:
    """A text value as the text mode writes it: as it is when plain, else JSON-quoted (escaped: no
    raw newline, so one request stays one line)."""
    if value.isalnum() or _BARE_TEXT.fullmatch(value):  # isalnum: letters and digits, which \w takes
        return value
    return _json.dumps_str(value)
