"""``ensure_log_output``: the gateway's own handler only when no handler would get its records;
INFO for the request line unless the host chose a level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bifrost_asgi.observability.log_output import HANDLER_NAME, ensure_log_output, has_handler


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
