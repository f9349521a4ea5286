"""The ``bifrost-asgi`` command: --check, config errors before uvicorn, flags vs env, worker hand-off."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bifrost_asgi import cli
from bifrost_asgi.config.settings import BifrostSettings
from bifrost_asgi.serving import guarded_protocol

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "config"
SECRET = "sk-cli-secret-value-123"
WORKER_ENV = (
    "BIFROST_CONFIG",
    "BIFROST_DEMO",
    "BIFROST_ASGI_CONFIG_CHECKED",
    "BIFROST_ASGI_TUNE_GC",
    "PROMETHEUS_MULTIPROC_DIR",
)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bifrost_asgi`` in a clean environment (no vendor keys, no BIFROST_* variables)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "-m", "bifrost_asgi", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_prints_providers_and_key_counts_never_values() -> None:
    env = {"TEST_OPENAI_KEY": SECRET, "TEST_AZURE_KEY": SECRET, "TEST_MCP_TOKEN": SECRET}
    result = run_cli("--check", "--config", str(FIXTURES / "bifrost_full.json"), env=env)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert f"config: {FIXTURES / 'bifrost_full.json'}" in out
    assert "providers: 4" in out
    assert "openai: 2 keys (1 usable);" in out
    assert "azure: 1 key (1 usable);" in out and "local-llm: keyless;" in out
    assert "https://api.openai.com, timeout 45s, max_retries 3" in out
    assert "mcp: 1 client" in out and "  search: http (https://mcp.example.com), could not connect: " in out
    assert SECRET not in out + result.stderr
    assert "environment variable TEST_OPENAI_BACKUP is not set" in out  # listed as a warning, by name
    assert out.rstrip().splitlines()[-1].startswith("configuration OK with ")
    assert result.stderr == ""


def test_bad_config_exits_2_with_a_clean_message() -> None:
    path = FIXTURES / "bad_typo.json"
    result = run_cli("--config", str(path), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(f"bifrost-asgi: invalid configuration in {path}:")
    assert "providers.openai.keys[0].wieght: unknown field 'wieght'" in result.stderr
    assert "fix: did you mean 'weight'?" in result.stderr
    assert "Traceback" not in result.stderr and "sk-do-not-print-me" not in result.stderr
    assert "Uvicorn running" not in result.stderr  # failed before the server started


def test_check_on_bad_config_exits_1() -> None:
    result = run_cli("--check", "--config", str(FIXTURES / "bad_json.json"))
    assert result.returncode == 1
    assert "bad_json.json:4:" in result.stdout and "invalid JSON" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == "configuration NOT OK: 1 problem"


def test_check_without_any_provider_exits_1_with_a_hint() -> None:
    result = run_cli("--check")
    assert result.returncode == 1
    assert "providers: 0" in result.stdout and "--demo" in result.stdout
    assert "configuration OK" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == "configuration NOT OK: 1 problem"


def test_check_detects_providers_from_vendor_keys() -> None:
    result = run_cli("--check", env={"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET})
    assert result.returncode == 0
    assert "openai: 1 key (1 usable)" in result.stdout and "anthropic: 1 key (1 usable)" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == "configuration OK"
    assert SECRET not in result.stdout + result.stderr


def test_bad_env_twin_is_a_config_error() -> None:
    result = run_cli("--check", "--demo", env={"BIFROST_LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert "log_level" in result.stdout and "(from BIFROST_LOG_LEVEL)" in result.stdout


def test_demo_and_config_conflict() -> None:
    result = run_cli("--demo", "--config", str(FIXTURES / "guide_step2_config.json"))
    assert result.returncode == 2 and "cannot be used together" in result.stderr


def test_bad_port_flag_is_rejected_by_argparse() -> None:
    result = run_cli("--port", "70000")
    assert result.returncode == 2 and "not a port number" in result.stderr


# --- in-process: what reaches uvicorn and the workers ----------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Record ``run_uvicorn`` calls (with the worker-visible environment at that moment)."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        exists = multiproc is not None and Path(multiproc).is_dir()
        env = {k: os.environ.get(k) for k in WORKER_ENV}
        calls.append({"app": app, **kwargs, "env": env, "multiproc_exists": exists})

    monkeypatch.setattr(cli, "run_uvicorn", fake_run)
    for name in (*WORKER_ENV, "BIFROST_HOST", "BIFROST_PORT", "BIFROST_WORKERS", "BIFROST_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)  # restored (removed) after the test
    logger = logging.getLogger("bifrost_asgi")
    level, handlers = logger.level, list(logger.handlers)
    yield calls
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_serve_runs_the_factory_with_flags_beating_env(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIFROST_PORT", "9000")
    monkeypatch.setenv("BIFROST_HOST", "0.0.0.0")
    config = FIXTURES / "guide_step2_config.json"
    assert cli.main(["--config", str(config), "--port", "9100", "--log-level", "WARNING"]) == 0
    (call,) = uvicorn_calls
    assert call["app"] == "bifrost_asgi.cli:create_app_from_env" and call["factory"] is True
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 9100, 1)
    assert call["log_level"] == "warning" and call["access_log"] is False
    assert call["loop"] == "auto" and call["http"] is guarded_protocol()
    assert (call["timeout_keep_alive"], call["limit_concurrency"], call["header_read_timeout"]) == (5.0, 2048, 10.0)
    assert call["log_config"]["loggers"]["bifrost_asgi"]["level"] == logging.WARNING
    assert call["env"]["BIFROST_CONFIG"] == str(config.resolve())
    assert call["env"]["BIFROST_DEMO"] is None and call["env"]["BIFROST_ASGI_CONFIG_CHECKED"] == "1"
    assert call["env"]["BIFROST_ASGI_TUNE_GC"] == "1"
    assert call["env"]["PROMETHEUS_MULTIPROC_DIR"] is None


def test_several_workers_share_a_temporary_metrics_dir(uvicorn_calls: list[dict[str, Any]]) -> None:
    assert cli.main(["--demo", "--workers", "3"]) == 0
    (call,) = uvicorn_calls
    assert call["workers"] == 3 and call["env"]["BIFROST_DEMO"] == "1"
    assert call["multiproc_exists"] is True
    directory = call["env"]["PROMETHEUS_MULTIPROC_DIR"]
    assert not Path(directory).exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_a_user_metrics_dir_is_kept(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("BIFROST_WORKERS", "2")
    assert cli.main(["--demo"]) == 0
    assert uvicorn_calls[0]["env"]["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path) and tmp_path.is_dir()
    assert uvicorn_calls[0]["workers"] == 2


def test_only_a_server_started_by_the_command_tunes_the_gc(monkeypatch: pytest.MonkeyPatch) -> None:
    import bifrost_asgi.asgi.app

    tuned: list[tuple[str, Any]] = []
    monkeypatch.setattr(bifrost_asgi.asgi.app, "bifrost_app", lambda settings: object())
    monkeypatch.setattr(cli.gc, "freeze", lambda: tuned.append(("freeze", None)))
    monkeypatch.setattr(cli.gc, "set_threshold", lambda *t: tuned.append(("threshold", t)))
    monkeypatch.setenv("BIFROST_DEMO", "1")
    monkeypatch.delenv("BIFROST_ASGI_TUNE_GC", raising=False)
    cli.create_app_from_env()
    assert tuned == []  # an application embedding the factory keeps its own GC settings

    monkeypatch.setenv("BIFROST_ASGI_TUNE_GC", "1")
    cli.create_app_from_env()
    assert [name for name, _ in tuned] == ["freeze", "threshold"]
    assert tuned[1][1][0] == cli.GC_GEN0_THRESHOLD


def test_bad_config_never_reaches_uvicorn(
    uvicorn_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(FIXTURES / "bad_weight.json")]) == 2
    assert uvicorn_calls == []
    assert "providers.openai.keys[0].weight" in capsys.readouterr().err


def test_factory_builds_the_app_from_worker_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bifrost_asgi.asgi.app

    built: list[BifrostSettings] = []
    sentinel = object()

    def fake_app(settings: BifrostSettings) -> object:
        built.append(settings)
        return sentinel

    monkeypatch.setattr(bifrost_asgi.asgi.app, "bifrost_app", fake_app)
    monkeypatch.setenv("BIFROST_DEMO", "1")
    assert cli.create_app_from_env() is sentinel
    assert list(built[0].providers) == ["mock"]

    monkeypatch.delenv("BIFROST_DEMO")
    monkeypatch.setenv("BIFROST_CONFIG", str(FIXTURES / "guide_step2_config.json"))
    monkeypatch.setenv("BIFROST_ASGI_CONFIG_CHECKED", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with caplog.at_level(logging.INFO, logger="bifrost_asgi.config"):
        cli.create_app_from_env()
    assert sorted(built[1].providers) == ["anthropic", "openai"]
    assert "OPENAI_API_KEY" not in caplog.text  # the parent already warned; workers stay quiet
    assert logging.getLogger("bifrost_asgi.config").level == logging.NOTSET


def test_workers_share_a_socket_with_nagle_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn binds worker sockets without IPPROTO_TCP, so asyncio never sets TCP_NODELAY and each
    small response would wait ~40 ms on a delayed ACK: ``run_uvicorn`` binds it with the option."""
    import socket

    from uvicorn.supervisors import multiprocess

    seen: list[int] = []

    class FakeSupervisor:
        def __init__(self, config: Any, sockets: list[socket.socket], **kwargs: Any) -> None:
            seen.extend(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
            for sock in sockets:
                sock.close()

        def run(self) -> None:
            pass

    monkeypatch.setattr(multiprocess, "Multiprocess", FakeSupervisor)
    cli.run_uvicorn("bifrost_asgi.cli:create_app_from_env", factory=True, host="127.0.0.1", port=0, workers=2)
    assert seen and all(value != 0 for value in seen)


# --- Bifrost's Go command line: -config, -port, -host, -log-level, -app-dir ------------------------


def test_go_style_single_dash_flags_work(uvicorn_calls: list[dict[str, Any]]) -> None:
    config = FIXTURES / "guide_step2_config.json"
    assert cli.main(["-config", str(config), "-port", "8090", "-host", "0.0.0.0", "-log-level", "warn"]) == 0
    (call,) = uvicorn_calls
    assert (call["host"], call["port"], call["log_level"]) == ("0.0.0.0", 8090, "warning")
    assert call["env"]["BIFROST_CONFIG"] == str(config.resolve())


def test_go_style_flags_with_equals(uvicorn_calls: list[dict[str, Any]]) -> None:
    config = FIXTURES / "guide_step2_config.json"
    assert cli.main([f"-config={config}", "-port=8091"]) == 0
    assert uvicorn_calls[0]["port"] == 8091 and uvicorn_calls[0]["env"]["BIFROST_CONFIG"] == str(config.resolve())


def test_app_dir_reads_its_config_json(uvicorn_calls: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text((FIXTURES / "guide_step2_config.json").read_text())
    assert cli.main(["-app-dir", str(tmp_path)]) == 0
    assert uvicorn_calls[0]["env"]["BIFROST_CONFIG"] == str((tmp_path / "config.json").resolve())


def test_app_dir_without_config_json_configures_from_the_environment(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert cli.main(["--app-dir", str(tmp_path)]) == 0
    assert uvicorn_calls[0]["env"]["BIFROST_CONFIG"] is None


def test_app_dir_that_does_not_exist_and_config_conflict(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["-app-dir", str(tmp_path / "nope")]) == 2
    assert "app directory not found" in capsys.readouterr().err
    assert cli.main(["-app-dir", str(tmp_path), "-config", "x.json"]) == 2
    assert "cannot be used together" in capsys.readouterr().err


def test_go_style_command_from_the_guide_checks(tmp_path: Path) -> None:
    """``bifrost-http -config config.json -port 8080`` with our command name, as a subprocess."""
    result = run_cli("-config", str(FIXTURES / "guide_step2_config.json"), "-port", "8080", "--check",
                     env={"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET})  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "server: http://127.0.0.1:8080" in result.stdout


def test_factory_honours_bifrost_app_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bifrost_asgi.asgi.app

    built: list[BifrostSettings] = []
    monkeypatch.setattr(bifrost_asgi.asgi.app, "bifrost_app", lambda settings: built.append(settings))
    (tmp_path / "config.json").write_text('{"providers": {"mock": {"keys": []}}}')
    for name in ("BIFROST_DEMO", "BIFROST_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIFROST_APP_DIR", str(tmp_path))
    cli.create_app_from_env()
    assert list(built[0].providers) == ["mock"]


def test_the_uvicorn_log_config_writes_the_gateways_lines_in_uvicorns_format() -> None:
    import logging.config

    from uvicorn.logging import DefaultFormatter

    from bifrost_asgi.observability.log_output import LEVEL_PREFIX_FORMAT, LevelPrefixFormatter

    config = cli.uvicorn_log_config("info")
    assert config["loggers"]["uvicorn"]["handlers"] == ["default"]  # uvicorn's own lines as uvicorn sets them
    gateway = config["loggers"]["bifrost_asgi"]
    assert gateway["level"] == logging.INFO and gateway["propagate"] is False
    config["loggers"] = {"tests.cli.gateway": gateway}  # applied to a logger of the test's own
    logging.config.dictConfig(config)
    logger = logging.getLogger("tests.cli.gateway")
    try:
        [handler] = logger.handlers
        assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
        assert isinstance(handler.formatter, LevelPrefixFormatter)
        record = logging.LogRecord("bifrost_asgi.requests", logging.INFO, __file__, 1, "request_id=1", (), None)
        assert handler.format(record) == DefaultFormatter(LEVEL_PREFIX_FORMAT).format(record)
    finally:
        logger.handlers = []
