"""The lines the gateway writes to its ``bifrost_asgi.requests`` logger, captured for e2e tests
(the gateway served from a thread of the test process)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any


class RequestLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def records(self, count: int, *, timeout: float) -> list[dict[str, Any]]:
        """The lines parsed as JSON, once ``count`` are in or after ``timeout`` seconds (a streamed
        answer is logged just after its last byte)."""
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return [json.loads(line) for line in self.lines]


@contextlib.contextmanager
def capture_request_log() -> Iterator[RequestLines]:
    """The request log's lines (INFO and up) while the block runs."""
    logger = logging.getLogger("bifrost_asgi.requests")
    handler, level = RequestLines(), logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
