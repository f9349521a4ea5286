"""The ``bifrost-asgi`` command (also ``python -m bifrost_asgi``): validate the configuration, then
serve it with uvicorn.

The configuration is loaded and checked in this process before uvicorn starts, so a bad config
exits with status 2 and a readable message instead of a traceback per worker. Workers build the
app with ``create_app_from_env`` (uvicorn ``factory=True``); the choices made here reach them
through the environment: ``BIFROST_CONFIG`` (absolute path) or ``BIFROST_DEMO=1``, and
``PROMETHEUS_MULTIPROC_DIR`` when several workers share metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from .asgi.browser import is_loopback_host
from .check import run_check
from .config.loading import config_in_app_dir, demo_settings, settings_from_environment, wants_demo
from .config.settings import BifrostSettings
from .errors import ConfigError
from .observability.log_output import LevelPrefixFormatter

if TYPE_CHECKING:
    from starlette.applications import Starlette

#: The uvicorn app factory (import string) the workers call.
FACTORY = "bifrost_asgi.cli:create_app_from_env"
LOG_LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}
# Set for the workers: the parent already reported configuration warnings, so they stay quiet.
_CHECKED_ENV = "BIFROST_ASGI_CONFIG_CHECKED"
# Set for the workers: this process is a server started by the command, so it may tune the GC.
_TUNE_GC_ENV = "BIFROST_ASGI_TUNE_GC"
# Set for the workers: the address the command bound (a loopback bind refuses other Host names).
_BOUND_HOST_ENV = "BIFROST_ASGI_BOUND_HOST"
# Young-generation threshold for the server (CPython's default is 700; see ``_tune_gc``).
GC_GEN0_THRESHOLD = 50_000
_HANDLER_NAME = "bifrost-asgi-cli"
FORMATTER_FACTORY = "bifrost_asgi.observability.log_output.level_prefix_formatter"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bifrost-asgi",
        description="LLM gateway: OpenAI, Anthropic and Gemini APIs in, any configured provider out.",
        epilog="Each option also reads an environment variable (shown in brackets); a flag wins over it. "
        "Bifrost's single-dash forms work too: -config, -app-dir, -host, -port, -log-level.",
    )
    parser.add_argument("--config", "-config", metavar="PATH", help="Bifrost config.json to load [BIFROST_CONFIG]")
    parser.add_argument(
        "--app-dir",
        "-app-dir",
        metavar="DIR",
        help="directory holding config.json, as Bifrost's -app-dir; without one there, providers come from "
        "the environment [BIFROST_APP_DIR]",
    )
    parser.add_argument("--host", "-host", help="interface to bind (default 127.0.0.1) [BIFROST_HOST]")
    parser.add_argument("--port", "-port", type=_port, help="port to listen on (default 8080) [BIFROST_PORT]")
    parser.add_argument("--workers", type=_positive, metavar="N", help="worker processes (default 1) [BIFROST_WORKERS]")
    parser.add_argument(
        "--log-level",
        "-log-level",
        choices=list(LOG_LEVELS),
        type=_log_level,
        help="log level (default info; 'warn' means warning) [BIFROST_LOG_LEVEL]",
    )
    parser.add_argument(
        "--demo", action="store_true", help="serve a keyless mock provider, no keys or network needed [BIFROST_DEMO=1]"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the configuration, report providers, usable keys and unused sections; exit 0 (OK) or 1",
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    return parser


def _log_level(text: str) -> str:
    level = text.strip().lower()
    return "warning" if level == "warn" else level


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2: bad configuration, 1: --check found problems)."""
    args = build_parser().parse_args(argv)
    environ = os.environ
    demo = args.demo or wants_demo(environ)
    if args.config and args.app_dir:
        return _fail("--config and --app-dir cannot be used together (--app-dir DIR reads DIR/config.json)", 2)
    if demo and (args.config or args.app_dir):
        return _fail("--demo and --config/--app-dir cannot be used together", 2)
    flags = {k: v for k in ("host", "port", "workers", "log_level") if (v := getattr(args, k)) is not None}
    if not args.check:
        configure_logging(flags.get("log_level") or environ.get("BIFROST_LOG_LEVEL", "info"))
    try:
        config = args.config or (config_in_app_dir(args.app_dir) if args.app_dir else None)
    except ConfigError as exc:
        return _fail(str(exc), 1 if args.check else 2)
    if args.check:
        report = run_check(config, demo=demo, overrides=flags)
        print(report.render())
        return report.exit_code
    try:
        settings = demo_settings(environ=environ, **flags) if demo else settings_from_environment(config, **flags)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    configure_logging(settings.log_level)
    if not settings.providers:
        logging.getLogger("bifrost_asgi").warning(
            "no providers configured: every request will fail. Pass --config PATH, set OPENAI_API_KEY "
            "(or another vendor key), or try --demo"
        )
    return serve(settings, demo=demo)


def _fail(message: str, status: int) -> int:
    print(f"bifrost-asgi: {message}", file=sys.stderr)
    return status


def serve(settings: BifrostSettings, *, demo: bool, environ: MutableMapping[str, str] | None = None) -> int:
    """Start uvicorn with the app factory; the workers re-load the configuration chosen here."""
    env = os.environ if environ is None else environ
    if demo:
        env["BIFROST_DEMO"] = "1"
    else:
        env.pop("BIFROST_DEMO", None)
        if settings.config:
            env["BIFROST_CONFIG"] = settings.config
    env[_CHECKED_ENV] = "1"
    env[_TUNE_GC_ENV] = "1"
    env[_BOUND_HOST_ENV] = settings.host
    _warn_without_auth(settings)
    from .serving import raise_open_file_limit, server_options  # imports uvicorn

    raise_open_file_limit()
    with _metrics_dir(settings.workers, env), _sigterm_exits_0():
        run_uvicorn(
            FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=uvicorn_log_config(settings.log_level),
            access_log=False,
            loop="auto",
            timeout_graceful_shutdown=math.ceil(settings.client.shutdown_grace_seconds),
            **server_options(settings),
        )
    return 0


def run_uvicorn(app: str, **options: Any) -> None:
    """``uvicorn.run``, except that several workers share a socket bound here with TCP_NODELAY:
    the socket uvicorn binds itself for workers is created without IPPROTO_TCP, so asyncio never
    disables Nagle on its connections and every small response waits ~40 ms for a delayed ACK.
    Linux passes the option on from the listening socket to accepted ones."""
    import socket

    import uvicorn
    from uvicorn import Server
    from uvicorn.supervisors.multiprocess import Multiprocess

    header_timeout = options.pop("header_read_timeout", None)
    config = uvicorn.Config(app, **options)
    if header_timeout is not None:
        config.bifrost_header_read_timeout = header_timeout  # type: ignore[attr-defined]  # read by serving.py
    if config.workers <= 1:
        server = Server(config)
        server.run()
        if not server.started:
            sys.exit(3)  # as uvicorn.run does
        return
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        supervisor = Multiprocess(config, sockets=[sock])
    except TypeError:  # older uvicorn releases take the worker target explicitly
        supervisor = Multiprocess(config, target=Server(config=config).run, sockets=[sock])  # type: ignore[call-arg]
    supervisor.run()


@contextlib.contextmanager
def _sigterm_exits_0() -> Iterator[None]:
    """SIGTERM is how a container is asked to stop, so the command then exits 0. uvicorn drains on
    SIGTERM, then restores the handler it found and raises the signal again: with the default
    handler that kills the process (status 143 in Docker, a failure to an orchestrator). The
    handler found there is this one, which ends the process with status 0 (also when SIGTERM comes
    before uvicorn listens for it). The worker supervisor (``--workers`` > 1) installs its own."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _metrics_dir(workers: int, env: MutableMapping[str, str]) -> Iterator[None]:
    """Several workers share Prometheus metrics through files in ``PROMETHEUS_MULTIPROC_DIR``; it
    must be set before prometheus_client is imported in the workers. A temporary one is created
    (and removed afterwards) unless the user set one."""
    if workers <= 1 or env.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="bifrost-asgi-metrics-")
    env["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup plus the ``bifrost_asgi`` logger at ``level`` (applied in each worker)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    # uvicorn's default handler and format, with a formatter that writes the same line at a third of the cost.
    config["formatters"]["bifrost_asgi"] = {**config["formatters"]["default"], "()": FORMATTER_FACTORY}
    config["handlers"]["bifrost_asgi"] = {**config["handlers"]["default"], "formatter": "bifrost_asgi"}
    config["loggers"]["bifrost_asgi"] = {"handlers": ["bifrost_asgi"], "level": LOG_LEVELS[level], "propagate": False}
    return config


def configure_logging(level: str) -> None:
    """Before uvicorn takes over: ``bifrost_asgi`` messages (config warnings) to stderr at ``level``."""
    logger = logging.getLogger("bifrost_asgi")
    logger.setLevel(LOG_LEVELS.get(level.strip().lower(), logging.INFO))
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(LevelPrefixFormatter())
    logger.addHandler(handler)


def _warn_without_auth(settings: BifrostSettings) -> None:
    if is_loopback_host(settings.host) or settings.client.enforce_auth_on_inference:
        return
    logging.getLogger("bifrost_asgi").warning(
        "listening on %s without authentication: anyone who can reach this address spends the provider "
        "keys. Turn it on with \"client\": {\"enforce_auth_on_inference\": true} and "
        "governance.virtual_keys (clients then send a virtual key as their API key), or bind 127.0.0.1",
        settings.host,
    )


def create_app_from_env() -> Starlette:
    """uvicorn app factory for the workers: ``BIFROST_DEMO=1`` -> the demo, else ``BIFROST_CONFIG``
    (or ``BIFROST_APP_DIR/config.json``), ``BIFROST_*`` variables, detected providers."""
    from .asgi.app import bifrost_app, refuse_non_loopback_hosts

    environ: Mapping[str, str] = os.environ
    with _quiet_config_log(environ.get(_CHECKED_ENV) == "1"):
        settings = settings_from_environment(environ=environ)
    app = bifrost_app(settings)
    bound = environ.get(_BOUND_HOST_ENV)
    if bound is not None and is_loopback_host(bound):
        refuse_non_loopback_hosts(app)
    if environ.get(_TUNE_GC_ENV) == "1":
        _tune_gc()
    return app


def _tune_gc() -> None:
    """Garbage-collector settings for a server process (only a process the command started: an
    application that mounts the gateway keeps its own).

    Under load most collections find nothing: the objects they walk are the imported modules and
    the configuration (frozen here, so no collection visits them again) and the requests in
    flight (alive, so a young collection every 700 allocations just promotes them). Measured on
    one core at 64 connections, collections took ~15% of the CPU with CPython's defaults.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


@contextlib.contextmanager
def _quiet_config_log(quiet: bool) -> Iterator[None]:
    logger = logging.getLogger("bifrost_asgi.config")
    previous = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
