"""A request line written straight to the streams ``logging`` would write it to, with the same bytes.

``logger.log(level, line)`` builds a ``LogRecord`` (about twenty attributes, the time, the thread
and process names), runs the logger's filters, walks the logger chain for handlers, takes each
handler's lock, formats the record and writes it: a third of the ~110,000 instructions a request
line cost under the command's logging setup. When the chain is one this module knows in
full, ``DirectLines.write`` does what those steps amount to and nothing else:

- the logger is a plain ``logging.Logger``, not disabled, records are plain ``LogRecord``\\ s (no
  record factory of the host's), and the logger's filters (if any) are
  ``SecretRedactingFilter``\\ s;
- the handlers the chain reaches (walking up while loggers propagate, as ``callHandlers`` does)
  are all plain ``logging.StreamHandler``\\ s whose filters are ``SecretRedactingFilter``\\ s, and
  whose formatter is ``LevelPrefixFormatter`` (the command's) or a plain ``logging.Formatter``
  with a ``%``-style format of ``message``, ``levelname``, ``levelno`` and ``name`` only (what
  ``ensure_log_output`` installs, and a common host format).

The line goes through the same redactions in the same order (the logger's filters, then each
handler's, each seeing what the previous one left, as they do on a shared record), is formatted
the same way, and is written with the handler's terminator under the handler's lock, then
flushed. A handler whose level is above the line's is skipped, as ``callHandlers`` skips it.

Anything else (a host's handler, filter, formatter or logger class, no handler at all) gets the
record: ``write`` returns False and the caller logs as usual. The chain is looked at on every
call (its loggers, their filters and handlers, each handler's level, filters, formatter, stream
and terminator), so a change made at run time (``addHandler``, ``setStream``, ``propagate``, a
formatter swapped, pytest's ``caplog``) takes effect with the next line. What is not looked at is
the inside of a formatter already in use (its private ``_style``), which no API changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from .log_output import LevelPrefixFormatter

if TYPE_CHECKING:
    from .request_log import SecretRedactingFilter

__all__ = ["DirectLines"]

# The record fields a plain ``%``-style format may use here, besides none at all.
_FIELDS: Final = frozenset({"message", "levelname", "levelno", "name"})
_FIELD: Final = re.compile(r"%\((\w+)\)")
_SEPARATOR: Final = object()  # ends a list of filters in a chain's state

Render = Callable[[int, str, str], str]  # (levelno, levelname, message) -> the formatted text


class _Target:
    """One handler the line goes to, with what it needs to write it as the handler would."""

    __slots__ = ("handler", "level", "redactors", "render", "stream", "terminator")

    def __init__(self, handler: logging.StreamHandler[Any], redactors: list[SecretRedactingFilter], render: Render):
        self.handler = handler
        self.level = handler.level
        self.redactors = redactors
        self.render = render
        self.stream = handler.stream
        self.terminator = handler.terminator


class _Plan:
    """How lines go out for one state of the chain; ``targets`` is None when it is left to logging."""

    __slots__ = ("redactors", "state", "targets")

    def __init__(
        self, state: tuple[object, ...], redactors: list[SecretRedactingFilter], targets: list[_Target] | None
    ):
        self.state = state
        self.redactors = redactors
        self.targets = targets


class DirectLines:
    """Writes lines logged on ``logger`` to its handlers' streams directly when the chain allows."""

    __slots__ = ("_logger", "_plan")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._plan = _Plan((), [], None)  # replaced whole (one store), so a thread sees one plan or the next

    def write(self, level: int, line: str) -> bool:
        """Write ``line`` at ``level`` as ``logger.log(level, line)`` would; False (nothing written)
        when the chain is not one this class knows. The caller has checked ``isEnabledFor``."""
        state = _chain_state(self._logger)
        plan = self._plan
        if state != plan.state:
            self._plan = plan = _plan(self._logger, state)
        targets = plan.targets
        if targets is None:
            return False
        for redactor in plan.redactors:
            line = redactor.redact(line)
        levelname = logging.getLevelName(level)
        for target in targets:
            if level < target.level:
                continue
            for redactor in target.redactors:
                line = redactor.redact(line)
            handler = target.handler
            with handler.lock:  # type: ignore[union-attr]  # Handler.__init__ always makes one
                try:
                    stream = target.stream
                    stream.write(target.render(level, levelname, line) + target.terminator)
                    if hasattr(stream, "flush"):
                        stream.flush()
                except RecursionError:
                    raise
                except Exception:
                    handler.handleError(self._record(level, line))
        return True

    def _record(self, level: int, line: str) -> logging.LogRecord:
        """A record of the line, for ``handleError`` (which reports a failed write with it)."""
        logger = self._logger
        return logger.makeRecord(logger.name, level, __file__, 0, line, (), None)


def _plan(logger: logging.Logger, state: tuple[object, ...]) -> _Plan:
    left = _Plan(state, [], None)
    plain = type(logger) is logging.Logger and logging.getLogRecordFactory() is logging.LogRecord
    if logger.disabled or not plain:
        return left  # a host's logger class or record factory may make of a record what it likes
    redactors = _redactors(logger.filters)
    if redactors is None:
        return left
    targets: list[_Target] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            target = _target(handler, logger.name)
            if target is None:
                return left
            targets.append(target)
        current = current.parent if current.propagate else None
    # No handler at all: logging's last-resort handler, left to logging.
    return _Plan(state, redactors, targets) if targets else left


def _chain_state(logger: logging.Logger) -> tuple[object, ...]:
    """What the way ``logger`` writes a line depends on, compared from one line to the next."""
    state: list[object] = [logging.getLogRecordFactory(), logger.disabled, *logger.filters, _SEPARATOR]
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            state += (handler, handler.level, handler.formatter, getattr(handler, "stream", None))
            state += (getattr(handler, "terminator", None), *handler.filters, _SEPARATOR)
        state.append(current.propagate)
        current = current.parent if current.propagate else None
    return tuple(state)


def _redactors(filters: Sequence[object]) -> list[SecretRedactingFilter] | None:
    """The filters when every one is a ``SecretRedactingFilter``, else None."""
    from .request_log import SecretRedactingFilter  # request_log writes through this module

    redactors = [f for f in filters if type(f) is SecretRedactingFilter]
    return redactors if len(redactors) == len(filters) else None


def _target(handler: logging.Handler, name: str) -> _Target | None:
    if type(handler) is not logging.StreamHandler:
        return None
    redactors = _redactors(handler.filters)
    render = _render(handler.formatter, name)
    if redactors is None or render is None:
        return None
    return _Target(handler, redactors, render)


def _render(formatter: logging.Formatter | None, name: str) -> Render | None:
    """How ``formatter`` turns a plain record of logger ``name`` (no exception, no stack) into
    text, when it is one of the formatters this module knows."""
    if type(formatter) is LevelPrefixFormatter:
        return formatter.line
    if type(formatter) is not logging.Formatter:
        return None  # none: logging's default formatter, left to logging too
    style = formatter._style
    if type(style) is not logging.PercentStyle:
        return None
    fmt: str = style._fmt
    if not set(_FIELD.findall(fmt)) <= _FIELDS:
        return None
    defaults: dict[str, Any] = style._defaults or {}  # type: ignore[attr-defined]

    def render(levelno: int, levelname: str, message: str) -> str:
        # PercentStyle's ``fmt % (defaults | record.__dict__)``, with the fields the format uses
        return fmt % {**defaults, "message": message, "levelname": levelname, "levelno": levelno, "name": name}

    return render
