"""Where the gateway's own log lines go when the host did not say.

The request log (``bifrost_asgi.requests``, one INFO line per request) and the gateway's warnings
must be visible wherever the gateway serves: under the command, ``uvicorn --factory``, gunicorn,
or mounted in FastAPI, Starlette or Django. ``ensure_log_output`` runs once, at the first request
(after the host has set up its logging):

- no handler would receive the gateway's records (logging unconfigured; Python would print only
  warnings, through its last-resort handler): a stderr handler of the gateway's own is added to
  ``bifrost_asgi``;
- otherwise the host's handlers get them, as configured.

Either way, when neither ``bifrost_asgi`` nor ``bifrost_asgi.requests`` has a level of its own,
``bifrost_asgi.requests`` is set to INFO, so the line is not dropped by the root logger's default
WARNING. A level the host set on either logger is respected.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

HANDLER_NAME = "bifrost-asgi-default"
#: uvicorn's default log format, which the command's own log lines keep (``LevelPrefixFormatter``).
LEVEL_PREFIX_FORMAT = "%(levelprefix)s %(message)s"
GATEWAY_LOGGER = "bifrost_asgi"
REQUEST_LOGGER = "bifrost_asgi.requests"


def has_handler(logger: logging.Logger) -> bool:
    """A record logged on ``logger`` would reach some handler (walking up while it propagates)."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def ensure_log_output(*, json: bool = False) -> bool:
    """Make the request line visible (see the module docstring); True when a handler was added."""
    gateway = logging.getLogger(GATEWAY_LOGGER)
    requests = logging.getLogger(REQUEST_LOGGER)
    if gateway.level == logging.NOTSET and requests.level == logging.NOTSET:
        requests.setLevel(logging.INFO)
    if has_handler(requests):
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(message)s" if json else "%(levelname)s:  %(name)s  %(message)s"))
    gateway.addHandler(handler)
    return True


class LevelPrefixFormatter(logging.Formatter):
    """uvicorn's ``DefaultFormatter`` with its format, ``%(levelprefix)s %(message)s`` (the level
    name, coloured when ``use_colors`` or, when that is None, when stdout is a terminal, as
    uvicorn decides), written for a line per request: the prefix is made once per level, and the
    record is not copied. A record that holds what only the full formatter handles (an exception,
    a stack, uvicorn's ``color_message``) is formatted by uvicorn's, so every line is the one
    uvicorn's formatter would write."""

    def __init__(self, use_colors: bool | None = None) -> None:
        from uvicorn.logging import DefaultFormatter

        super().__init__(LEVEL_PREFIX_FORMAT)
        self._full = DefaultFormatter(LEVEL_PREFIX_FORMAT, use_colors=use_colors)
        self._prefixes: dict[tuple[int, str], str] = {}

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info or "color_message" in record.__dict__:
            return self._full.format(record)
        record.message = message = record.getMessage()
        return self.line(record.levelno, record.levelname, message)

    def line(self, levelno: int, levelname: str, message: str) -> str:
        """The formatted text of a plain record with this level and message."""
        key = (levelno, levelname)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = self._prefix(*key)
        return prefix + message

    def _prefix(self, levelno: int, levelname: str) -> str:
        name = self._full.color_level_name(levelname, levelno) if self._full.use_colors else levelname
        return name + ":" + " " * (8 - len(levelname)) + " "


def level_prefix_formatter(**options: Any) -> LevelPrefixFormatter:
    """``LevelPrefixFormatter`` for ``logging.config.dictConfig``'s ``"()"`` (uvicorn's formatter
    options: ``fmt``, ``use_colors``; the format is fixed)."""
    return LevelPrefixFormatter(options.get("use_colors"))
