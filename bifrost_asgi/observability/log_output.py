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

HANDLER_NAME = "bifrost-asgi-default"
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
