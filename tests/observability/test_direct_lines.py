"""``DirectLines``: the bytes ``logger.log`` would write, without a record, for the chains it knows;
nothing (the caller logs) for the rest, and a change to the chain at run time followed at once.

Each case builds the same chain twice, on two logger trees whose handlers write to two buffers: one
written through ``DirectLines``, the other through ``logger.log``. The buffers must be equal."""

from __future__ import annotations

import io
import itertools
import logging
import logging.config
from collections.abc import Callable, Iterator

import pytest

from bifrost_asgi.cli import uvicorn_log_config
from bifrost_asgi.observability.direct_lines import DirectLines
from bifrost_asgi.observability.log_output import LevelPrefixFormatter
from bifrost_asgi.observability.request_log import RequestLogger, RequestRecord, SecretRedactingFilter
from tests.support.garbage import collected, gateway_part

SECRET = "sk-live-0123456789abcdef"
LINES = [
    (logging.INFO, "request_id=r1 dialect=openai status=200 virtual_key=vk-a"),
    (logging.WARNING, f'request_id=r2 status=502 error="upstream said: bad key {SECRET}"'),
    (logging.INFO, 'error="GET /v1beta/models?key=AIzaSyA-1234567890abcdefghijklmno" percent 100% %(name)s'),
    (logging.INFO, f"prefix cut {SECRET[:9]} and Authorization: Bearer abc.def"),
]
_trees = itertools.count()

Setup = Callable[[str, io.StringIO], None]  # (root logger name of the tree, the buffer to write to)


@pytest.fixture(autouse=True)
def _forget_trees() -> Iterator[None]:
    yield
    for name in [n for n in logging.Logger.manager.loggerDict if n.startswith("direct_lines_test")]:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.filters.clear()


def stream_handler(buffer: io.StringIO, formatter: logging.Formatter, level: int = logging.NOTSET) -> logging.Handler:
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    handler.setLevel(level)
    return handler


def both(setup: Setup) -> tuple[logging.Logger, io.StringIO, logging.Logger, io.StringIO]:
    """Two trees built by ``setup``: (direct logger, its buffer, logged logger, its buffer). The
    line's logger is ``<tree>.requests``, under the tree's top logger ``<tree>``."""
    made = []
    for _ in range(2):
        tree = f"direct_lines_test{next(_trees)}"
        buffer = io.StringIO()
        logging.getLogger(tree).propagate = False  # the tree stands alone (pytest's handlers are on the root)
        setup(tree, buffer)
        logger = logging.getLogger(tree + ".requests")
        logger.setLevel(logging.INFO)
        made += [logger, buffer]
    return made[0], made[1], made[2], made[3]  # type: ignore[return-value]


def text(buffer: io.StringIO, logger: logging.Logger) -> str:
    """What was written, the tree's name (which differs between the two) made the same."""
    return buffer.getvalue().replace(logger.name.split(".")[0] + ".", "tree.")


def written_both_ways(setup: Setup) -> tuple[str, str]:
    direct_logger, direct, logged_logger, logged = both(setup)
    lines = DirectLines(direct_logger)
    for level, line in LINES:
        assert lines.write(level, line) is True
        logged_logger.log(level, line)
    return text(direct, direct_logger), text(logged, logged_logger)


def the_command(tree: str, buffer: io.StringIO) -> None:
    """What the CLI configures (uvicorn's dictConfig with the gateway's logger) plus the gateway's filter."""
    config = uvicorn_log_config("info")
    config["loggers"] = {tree: {**config["loggers"]["bifrost_asgi"]}}
    config["handlers"]["bifrost_asgi"]["stream"] = buffer
    config["disable_existing_loggers"] = False
    logging.config.dictConfig(config)
    flt = SecretRedactingFilter([SECRET])
    logging.getLogger(tree).addFilter(flt)
    logging.getLogger(tree + ".requests").addFilter(flt)


def ensure_output_default(json: bool) -> Setup:
    """What ``ensure_log_output`` adds when nothing would print the line (its handler, on stderr)."""

    def setup(tree: str, buffer: io.StringIO) -> None:
        top = logging.getLogger(tree)
        top.propagate = False  # so that this case is about the gateway's handler alone
        top.addHandler(
            stream_handler(
                buffer, logging.Formatter("%(message)s" if json else "%(levelname)s:  %(name)s  %(message)s")
            )
        )
        top.addFilter(SecretRedactingFilter([SECRET]))  # on the top logger: not applied to child records
        logging.getLogger(tree + ".requests").addFilter(SecretRedactingFilter([SECRET]))

    return setup


def two_handlers(tree: str, buffer: io.StringIO) -> None:
    """A handler per logger, each with its own filter and format; WARNING only on the upper one,
    which also pads the level name and has a default for nothing the format uses."""
    requests = logging.getLogger(tree + ".requests")
    requests.addHandler(stream_handler(buffer, LevelPrefixFormatter(use_colors=True)))
    upper = stream_handler(
        buffer,
        logging.Formatter("[%(levelname)-8s|%(levelno)d] %(name)s: %(message)s %%", defaults={"x": 1}),
        logging.WARNING,
    )
    upper.addFilter(SecretRedactingFilter(["upstream said"]))
    top = logging.getLogger(tree)
    top.addHandler(upper)
    top.propagate = False
    requests.addFilter(SecretRedactingFilter([SECRET]))


@pytest.mark.parametrize(
    "setup", [the_command, ensure_output_default(False), ensure_output_default(True), two_handlers],
    ids=["command", "ensure-text", "ensure-json", "two-handlers"],
)  # fmt: skip
def test_the_bytes_are_those_logging_writes(setup: Setup) -> None:
    direct, logged = written_both_ways(setup)
    assert direct == logged
    assert SECRET not in direct and "AIzaSy" not in direct and "abc.def" not in direct
    assert direct.count("\n") >= 4


def test_the_command_line_is_uvicorns() -> None:
    direct, _ = written_both_ways(the_command)
    assert direct.splitlines()[0] == "INFO:     request_id=r1 dialect=openai status=200 virtual_key=vk-a"
    assert direct.splitlines()[1].startswith('WARNING:  request_id=r2 status=502 error="upstream said: bad key ***')


def host_handler(tree: str, buffer: io.StringIO) -> None:
    class Mine(logging.StreamHandler):  # type: ignore[type-arg]
        pass

    handler = Mine(buffer)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger(tree).addHandler(handler)


def with_time(tree: str, buffer: io.StringIO) -> None:
    logging.getLogger(tree).addHandler(stream_handler(buffer, logging.Formatter("%(asctime)s %(message)s")))


def brace_style(tree: str, buffer: io.StringIO) -> None:
    logging.getLogger(tree).addHandler(stream_handler(buffer, logging.Formatter("{message}", style="{")))


def no_formatter(tree: str, buffer: io.StringIO) -> None:
    logging.getLogger(tree).addHandler(logging.StreamHandler(buffer))


def other_filter(tree: str, buffer: io.StringIO) -> None:
    logging.getLogger(tree).addHandler(stream_handler(buffer, logging.Formatter("%(message)s")))
    logging.getLogger(tree + ".requests").addFilter(lambda record: True)


def handler_filter(tree: str, buffer: io.StringIO) -> None:
    handler = stream_handler(buffer, logging.Formatter("%(message)s"))
    handler.addFilter(logging.Filter(tree))
    logging.getLogger(tree).addHandler(handler)


def file_handler(tree: str, buffer: io.StringIO) -> None:
    handler = logging.FileHandler("/dev/null", delay=True)
    logging.getLogger(tree).addHandler(handler)


def nothing(tree: str, buffer: io.StringIO) -> None:
    logging.getLogger(tree).propagate = False  # no handler anywhere: logging's last resort


@pytest.mark.parametrize(
    "setup",
    [host_handler, with_time, brace_style, no_formatter, other_filter, handler_filter, file_handler, nothing],
)
def test_a_chain_it_does_not_know_is_left_to_logging(setup: Setup) -> None:
    logger, buffer, _, _ = both(setup)
    assert DirectLines(logger).write(logging.INFO, "hello") is False
    assert buffer.getvalue() == ""


def test_a_host_logger_class_or_record_factory_is_left_to_logging() -> None:
    class HostLogger(logging.Logger):
        pass

    buffer = io.StringIO()
    host = HostLogger("direct_lines_test_host")
    host.addHandler(stream_handler(buffer, logging.Formatter("%(message)s")))
    assert DirectLines(host).write(logging.INFO, "hello") is False

    plain = logging.getLogger("direct_lines_test_factory")
    plain.propagate = False
    plain.addHandler(stream_handler(buffer, logging.Formatter("%(message)s")))
    lines = DirectLines(plain)
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: factory(*args, **kwargs))
    try:
        assert lines.write(logging.INFO, "hello") is False
    finally:
        logging.setLogRecordFactory(factory)
    assert lines.write(logging.INFO, "hello") is True
    assert buffer.getvalue() == "hello\n"


def test_a_handler_above_the_line_level_gets_nothing() -> None:
    def setup(tree: str, buffer: io.StringIO) -> None:
        logging.getLogger(tree).addHandler(stream_handler(buffer, logging.Formatter("%(message)s"), logging.ERROR))

    logger, buffer, logged_logger, logged = both(setup)
    assert DirectLines(logger).write(logging.WARNING, "not this") is True  # the chain is known: nothing to write
    logged_logger.warning("not this")
    assert buffer.getvalue() == logged.getvalue() == ""


Change = Callable[[logging.Logger, io.StringIO], None]


def _add_caplog_like(logger: logging.Logger, buffer: io.StringIO) -> None:
    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            buffer.write("captured " + record.getMessage() + "\n")

    logger.parent.addHandler(Capture())  # type: ignore[union-attr]


def _new_stream(logger: logging.Logger, buffer: io.StringIO) -> None:
    handler = logger.parent.handlers[0]  # type: ignore[union-attr]
    handler.setStream(io.StringIO())  # type: ignore[union-attr]


def _new_format(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.parent.handlers[0].setFormatter(logging.Formatter("%(name)s %(message)s"))  # type: ignore[union-attr]


def _no_propagation(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.propagate = False


def _unfiltered(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.filters.clear()


def _disabled(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.disabled = True


def _handler_level(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.parent.handlers[0].setLevel(logging.WARNING)  # type: ignore[union-attr]


def _terminator(logger: logging.Logger, buffer: io.StringIO) -> None:
    logger.parent.handlers[0].terminator = "\r\n"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "change",
    [_add_caplog_like, _new_stream, _new_format, _no_propagation, _unfiltered, _disabled, _handler_level, _terminator],
)
def test_a_change_at_run_time_takes_effect_with_the_next_line(change: Change) -> None:
    direct_logger, direct, logged_logger, logged = both(the_command)
    lines = DirectLines(direct_logger)
    for logger, buffer in ((direct_logger, direct), (logged_logger, logged)):
        if logger is direct_logger:
            assert lines.write(logging.INFO, "before") is True
        else:
            logger.info("before")
        change(logger, buffer)
    for level, line in LINES:
        if not lines.write(level, line) and direct_logger.isEnabledFor(level):
            direct_logger.log(level, line)
        logged_logger.log(level, line)
    assert text(direct, direct_logger) == text(logged, logged_logger)


def test_a_failed_write_is_reported_as_logging_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    def setup(tree: str, buffer: io.StringIO) -> None:
        logging.getLogger(tree).addHandler(stream_handler(Broken(), logging.Formatter("%(message)s")))

    direct_logger, _, logged_logger, _ = both(setup)
    assert DirectLines(direct_logger).write(logging.INFO, "lost line") is True  # no exception out of it
    direct_report = capsys.readouterr().err
    logged_logger.info("lost line")
    logged_report = capsys.readouterr().err
    for report in (direct_report, logged_report):
        assert "--- Logging error ---" in report and "OSError: disk full" in report and "lost line" in report


def test_the_request_logger_writes_through_it_without_a_record() -> None:
    """Under the command's chain no ``LogRecord`` is made for a request line; with a host's
    handler added, the record is back (and the line the same)."""
    direct_logger, direct, _, _ = both(the_command)
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    rec = RequestRecord(request_id="r1", dialect="openai", route="/v1/chat/completions", method="POST", status=200)
    request_logger = RequestLogger(direct_logger, json=False)
    request_logger.log(rec)
    assert made == [] and direct.getvalue().startswith("INFO:     request_id=r1 ")
    logging.setLogRecordFactory(counting)
    try:
        request_logger.log(rec)
    finally:
        logging.setLogRecordFactory(factory)
    first, second = direct.getvalue().splitlines()
    assert len(made) == 1 and first == second


def test_a_direct_line_leaves_no_garbage_cycle() -> None:
    direct_logger, direct, _, _ = both(the_command)
    request_logger = RequestLogger(direct_logger, json=False)
    rec = RequestRecord(request_id="r1", dialect="openai", route="/v1/chat/completions", method="POST", status=200)
    with collected() as garbage:
        for _ in range(3):
            request_logger.log(rec)
    assert direct.getvalue().count("\n") == 3
    assert not gateway_part(garbage)
