"""``bifrost-asgi --check``: one verdict line that matches the exit code, warnings listed, unused
sections named, every independent problem reported in one pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bifrost_asgi import cli
from bifrost_asgi.check import REPORTERS, CheckContext, CheckReport, run_check

SECRET = "sk-check-secret-value-123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BIFROST_CONFIG", "BIFROST_DEMO", "BIFROST_APP_DIR", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY", "CHECK_KEY_A", "CHECK_KEY_B"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return str(path)


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    status = cli.main(["--check", *argv])
    out = capsys.readouterr().out
    return status, out.rstrip().splitlines()


def test_no_providers_is_not_ok_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = check(capsys)
    assert status == 1
    assert lines[-1] == "configuration NOT OK: 1 problem"
    assert not any(line.startswith("configuration OK") for line in lines)
    assert any("no providers are configured" in line for line in lines)


def test_every_key_variable_unset_is_not_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"providers": {
        "openai": {"keys": [{"value": "env.CHECK_KEY_A"}]},
        "anthropic": {"keys": [{"value": "env.CHECK_KEY_B"}]},
    }})  # fmt: skip
    status, lines = check(capsys, "--config", path)
    text = "\n".join(lines)
    assert status == 1, text
    assert "openai: 1 key (0 usable), env not set: CHECK_KEY_A" in text
    assert "providers.anthropic: no usable key" in text and "fix: set CHECK_KEY_B" in text
    assert "no provider has a usable key" in text
    assert lines[-1].startswith("configuration NOT OK: 1 problem, ")


def test_one_unusable_provider_is_a_warning_with_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECK_KEY_A", SECRET)
    path = write(tmp_path, {
        "providers": {"openai": {"keys": [{"value": "env.CHECK_KEY_A"}]},
                      "anthropic": {"keys": [{"value": "env.CHECK_KEY_B"}]}},
        "routing": {"fallbacks": {"gpt-4o": ["anthropic/claude-3-5-haiku-latest"]}},
    })  # fmt: skip
    status, lines = check(capsys, "--config", path)
    text = "\n".join(lines)
    assert status == 0, text
    assert "routing.fallbacks.gpt-4o: target 'anthropic/claude-3-5-haiku-latest'" in text
    assert "environment variable CHECK_KEY_B is not set" in text
    assert lines[-1] == "configuration OK with 3 warnings"
    assert SECRET not in text


def test_unreachable_mcp_clients_and_ignored_sections_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECK_KEY_A", SECRET)
    path = write(tmp_path, {
        "$schema": "https://www.getbifrost.ai/schema",
        "providers": {"openai": {"keys": [{"value": "env.CHECK_KEY_A"}]}},
        "mcp": {"client_configs": [{"name": "fs", "connection_type": "stdio",
                                    "stdio_config": {"command": str(tmp_path / "no-such-server")}}]},
        "plugins": [], "config_store": {"enabled": False},
    })  # fmt: skip
    status, lines = check(capsys, "--config", path)
    text = "\n".join(lines)
    assert status == 0
    assert "mcp: 1 client" in lines and f"  fs: stdio ({tmp_path / 'no-such-server'}), could not connect: " in text
    assert "mcp.fs: could not connect (" in text
    assert "section(s) accepted but not used by bifrost-asgi: config_store, plugins" in text
    assert "$schema" not in text
    assert lines[-1] == "configuration OK with 2 warnings"


def test_independent_problems_are_reported_in_one_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {
        "providres": {},
        "providers": {"openai": {"keys": [{"value": "sk-x", "wieght": 1}]}},
        "client": {"drop_excess_request": True},
    })  # fmt: skip
    status, lines = check(capsys, "--config", path)
    text = "\n".join(lines)
    assert status == 1
    assert "providres: unknown top-level section" in text
    assert "providers.openai.keys[0].wieght" in text and "client.drop_excess_request" in text
    assert text.count("invalid configuration in") == 1


def test_demo_check_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = check(capsys, "--demo")
    assert status == 0 and lines[-1] == "configuration OK"
    assert "  mock: keyless; default base_url, timeout 30s, max_retries 0" in lines


def test_a_section_can_add_its_own_reporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    def extra(ctx: CheckContext, report: CheckReport) -> None:
        report.line(f"extra: {len(ctx.settings.providers)} provider(s) seen")
        report.problem("extra found a problem", "fix it")

    report = run_check(None, reporters=(*REPORTERS, extra))
    text = report.render()
    assert "extra: 1 provider(s) seen" in text and "fix: fix it" in text
    assert report.exit_code == 1 and text.endswith("configuration NOT OK: 1 problem")
