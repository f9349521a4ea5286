"""``ensure_log_output``: the gateway's own handler only when no handler would get its records;
INFO for the request line unless the host chose a level. ``LevelPrefixFormatter``: uvicorn's line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from uvicorn.logging import DefaultFormatter

from bifrost_asgi.observability.log_output import (
    HANDLER_NAME,
    LEVEL_PREFIX_FORMAT,
    LevelPrefixFormatter,
    ensure_log_output,
    has_handler,
    level_prefix_formatter,
)


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    gateway, requests = logging.getLogger("bifrost_asgi"), logging.getLogger("bifrost_asgi.requests")
    saved = [(lg, lg.level, lg.propagate, lg.handlers[:]) for lg in (gateway, requests)]
    for lg in (gateway, requests):
        lg.setLevel(logging.NOTSET)
        lg.handlers = []
    yield gateway, requests
    for lg, level, propagate, handlers in saved:
        lg.setLevel(level)
        lg.propagate = propagate
        lg.handlers = handlers


def test_unconfigured_logging_gets_the_gateways_own_handler(loggers: tuple[logging.Logger, logging.Logger]) -> None:
    gateway, requests = loggers
    gateway.propagate = False  # as if the root logger had no handler (pytest's are on it)
    assert not has_handler(requests)
    assert ensure_log_output() is True
    assert [h.get_name() for h in gateway.handlers] == [HANDLER_NAME]
    assert requests.getEffectiveLevel() == logging.INFO
    assert ensure_log_output() is False  # idempotent: the handler is there now
    assert len(gateway.handlers) == 1


def test_configured_logging_keeps_the_hosts_handlers(loggers: tuple[logging.Logger, logging.Logger]) -> None:
    gateway, requests = loggers
    assert has_handler(requests)  # pytest's handlers on the root logger
    assert ensure_log_output() is False
    assert gateway.handlers == [] and requests.level == logging.INFO


def test_a_level_the_host_set_is_respected(loggers: tuple[logging.Logger, logging.Logger]) -> None:
    gateway, requests = loggers
    gateway.setLevel(logging.WARNING)
    ensure_log_output()
    assert requests.level == logging.NOTSET and not requests.isEnabledFor(logging.INFO)


def test_json_lines_are_bare(loggers: tuple[logging.Logger, logging.Logger]) -> None:
    gateway, _ = loggers
    gateway.propagate = False
    ensure_log_output(json=True)
    record = logging.LogRecord("bifrost_asgi.requests", logging.INFO, __file__, 1, '{"a": 1}', (), None)
    assert gateway.handlers[0].format(record) == '{"a": 1}'


def _records() -> list[logging.LogRecord]:
    def record(level: int, msg: str, args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
        made = logging.LogRecord("bifrost_asgi.requests", level, __file__, 1, msg, args, None)
        made.__dict__.update(extra)
        return made

    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(logging.ERROR, "failed %s", ("here",))
        failed.exc_info = sys.exc_info()
    stacked = record(logging.WARNING, "stack")
    stacked.stack_info = "Stack (most recent call last):\n  here"
    return [
        record(logging.INFO, "request_id=1 route=/v1/chat/completions status=200"),
        record(logging.WARNING, "status=%d provider=%s", (502, "openai")),
        record(logging.DEBUG, "debug"),
        record(logging.CRITICAL, "critical"),
        record(5, "trace level"),
        record(logging.INFO, "plain", color_message="\x1b[1mbold\x1b[0m"),
        failed,
        stacked,
    ]


@pytest.mark.parametrize("use_colors", [True, False])
def test_the_formatter_writes_uvicorns_line(use_colors: bool) -> None:
    ours, uvicorns = LevelPrefixFormatter(use_colors), DefaultFormatter(LEVEL_PREFIX_FORMAT, use_colors=use_colors)
    for record in _records():
        expected = uvicorns.format(record)
        record.exc_text = None  # formatted again from exc_info, as by a second handler
        assert ours.format(record) == expected
        assert ours.format(record) == expected  # the per-level prefix, remembered, is the same


def test_the_dict_config_factory_takes_uvicorns_formatter_options() -> None:
    formatter = level_prefix_formatter(fmt=LEVEL_PREFIX_FORMAT, use_colors=True)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", (), None)
    assert formatter.format(record) == DefaultFormatter(LEVEL_PREFIX_FORMAT, use_colors=True).format(record)
