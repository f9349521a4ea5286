"""Loading config.json (as Bifrost writes it), env overrides, provider detection and error messages."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bifrost_asgi.config.loading import (
    demo_settings,
    detect_providers,
    env_overrides,
    load_settings,
    parse_config_text,
    strip_json_comments,
)
from bifrost_asgi.config.settings import ClientConfig
from bifrost_asgi.errors import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
GUIDE = Path("/work/shared/seeds/bifrost-migration-guide.md")
SECRET = "sk-do-not-print-me"
FULL_ENV = {
    "TEST_OPENAI_KEY": "sk-test-openai-1",
    "TEST_AZURE_KEY": "az-key",
    "TEST_AZURE_SECRET": "az-secret-value",
    "TEST_UPSTREAM_TOKEN": "upstream-token",
    "TEST_MCP_TOKEN": "Bearer mcp-token",
}


def fixture(name: str) -> Path:
    return FIXTURES / name


# --- comments and JSON syntax ---------------------------------------------------------------------


def test_comments_are_stripped_outside_strings_only() -> None:
    text = '{\n  "url": "http://x//y", // a comment\n  "s": "a /* not */ b", /* block\n spans */ "n": 1,\n}'
    data = parse_config_text(text)
    assert data == {"url": "http://x//y", "s": "a /* not */ b", "n": 1}


def test_stripping_keeps_line_and_column_positions() -> None:
    text = '{"a": 1, /* x\ny */ "b": [1, 2,  // c\n ], }'
    clean = strip_json_comments(text)
    assert len(clean) == len(text) and clean.count("\n") == text.count("\n")
    assert clean.index('"b"') == text.index('"b"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": [1, // x]\n 2]}', {"a": [1, 2]}),
        ('{"a": "http://x", // see [docs] or {this}\n "b": 1}', {"a": "http://x", "b": 1}),
        ('{"a": [1, /* a */ 2 /* b */]}', {"a": [1, 2]}),
        ('{"a": [1, /* ] */ 2]}', {"a": [1, 2]}),
        ('{"a": [1, // trailing\n /* and */ ]}', {"a": [1]}),
    ],
)
def test_a_comma_before_a_comment_holding_a_bracket_is_kept(text: str, expected: dict[str, Any]) -> None:
    # A comma is trailing only when the next thing after whole comments is a closing bracket, not when a
    # bracket appears inside a comment.
    assert parse_config_text(text) == expected


def test_escaped_quotes_do_not_end_strings() -> None:
    assert parse_config_text(r'{"a": "say \"//hi\"", "b": 2}') == {"a": 'say "//hi"', "b": 2}


def test_unclosed_block_comment_names_the_position() -> None:
    with pytest.raises(ConfigError, match=r"cfg:3:3: a /\* comment is never closed"):
        parse_config_text('{\n "a": 1\n  /* oops\n}', "cfg")


def test_invalid_json_gives_file_line_and_column() -> None:
    path = fixture("bad_json.json")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert re.search(re.escape(str(path.resolve())) + r":4:\d+: invalid JSON", message), message
    assert "fix:" in message


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_config_text("[1, 2]", "cfg")


def test_missing_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.json\n  fix: pass an existing file"):
        load_settings(tmp_path / "nope.json", environ={})


# --- Bifrost configs load as-is ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [*sorted(p.name for p in FIXTURES.glob("guide_*.json")), "design_contract.json"])
def test_every_guide_snippet_loads(name: str) -> None:
    settings = load_settings(fixture(name), environ={})
    assert "openai" in settings.providers
    assert settings.config == str(fixture(name).resolve())


def test_guide_fixtures_cover_every_json_block_of_the_guide() -> None:
    if not GUIDE.exists():
        pytest.skip("migration guide not available here")
    blocks = re.findall(r"```json[^\n]*\n(.*?)```", GUIDE.read_text(), re.S)
    fixtures = {p.read_text() for p in FIXTURES.glob("guide_*.json")}
    assert blocks and all(block in fixtures for block in blocks)
    for block in blocks:
        load_settings(parse_config_text(block, "guide"), environ={})


def test_guide_performance_tuning_values() -> None:
    settings = load_settings(fixture("guide_performance_tuning.json"), environ={"OPENAI_API_KEY": "sk-1"})
    openai = settings.providers["openai"]
    network = openai.network_config
    assert network.default_request_timeout_in_seconds == 45 and network.max_retries == 3
    assert (network.retry_backoff_initial_ms, network.retry_backoff_max_ms) == (500, 5000)
    assert (openai.concurrency_and_buffer_size.concurrency, openai.concurrency_and_buffer_size.buffer_size) == (15, 100)
    assert openai.keys[0].env_var == "OPENAI_API_KEY" and openai.keys[0].value.get_secret_value() == "sk-1"


def test_guide_commented_snippet_values() -> None:
    queue = load_settings(fixture("guide_increased_latency.json"), environ={}).providers["openai"]
    assert (queue.concurrency_and_buffer_size.concurrency, queue.concurrency_and_buffer_size.buffer_size) == (10, 50)


def test_guide_step2_two_providers_with_models() -> None:
    settings = load_settings(fixture("guide_step2_config.json"), environ={"ANTHROPIC_API_KEY": "sk-ant"})
    assert settings.providers["anthropic"].keys[0].models == ["claude-3-sonnet-20240229"]
    assert settings.providers["anthropic"].keys[0].value.get_secret_value() == "sk-ant"
    assert settings.providers["openai"].keys[0].value.get_secret_value() == ""


def test_full_bifrost_config(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bifrost_asgi.config"):
        settings = load_settings(fixture("bifrost_full.json"), environ=FULL_ENV)
    ignored = [r for r in caplog.records if "ignoring Bifrost config sections" in r.getMessage()]
    assert len(ignored) == 1
    assert "governance" not in ignored[0].getMessage() and "plugins" in ignored[0].getMessage()
    openai = settings.providers["openai"]
    assert openai.network_config.base_url == "https://api.openai.com"
    assert openai.network_config.extra_headers == {"x-team": "ml", "x-upstream-token": "upstream-token"}
    assert (openai.network_config.retry_backoff_initial_ms, openai.network_config.retry_backoff_max_ms) == (250, 2000)
    assert [k.name for k in openai.keys] == ["primary", "backup"] and not openai.keys[1].enabled
    azure_key = settings.providers["azure"].keys[0].azure_key_config
    assert azure_key is not None and azure_key.client_secret is not None
    assert azure_key.client_secret.get_secret_value() == "az-secret-value"
    assert settings.mcp.client_configs[0].headers["Authorization"].get_secret_value() == "Bearer mcp-token"
    assert settings.client.drop_excess_requests and settings.client.max_request_body_size_mb == 10
    assert settings.providers["local-llm"].keys == [] and "ollama" in settings.providers
    assert all(v not in caplog.text for v in FULL_ENV.values())


# --- bad configs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "expected"),
    [
        ("bad_type.json", "providers.openai.network_config.max_retries", "valid integer"),
        ("bad_typo.json", "providers.openai.keys[0].wieght", "did you mean 'weight'?"),
        ("bad_weight.json", "providers.openai.keys[0].weight", "greater than or equal to 0 (got -1)"),
        ("bad_unknown_provider.json", "providers.my-llm", "custom_provider_config.base_provider_type"),
        ("bad_base_url.json", "providers.openai.network_config.base_url", "not an http(s) URL"),
        ("bad_backoff_order.json", "providers.openai.network_config", "must not exceed retry_backoff_max_ms"),
        ("bad_missing_keys.json", "providers.anthropic.keys", "has no keys"),
        ("bad_secret_as_key.json", "providers.openai.keys[0]", "value not shown"),
    ],
)
def test_bad_config_message_names_file_field_and_fix(name: str, field: str, expected: str) -> None:
    path = fixture(name)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={"OPENAI_API_KEY": SECRET})
    message = str(info.value)
    assert str(path.resolve()) in message
    assert f"  - {field}: " in message
    assert expected in message
    assert "\n    fix: " in message
    assert SECRET not in message
    # no chained pydantic error (its text would show inputs) in a traceback
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__)


def test_fix_hints_are_specific() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(fixture("bad_missing_keys.json"), environ={})
    assert '"keys": [{"value": "env.ANTHROPIC_API_KEY", "weight": 1.0}]' in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(fixture("bad_unknown_provider.json"), environ={})
    assert '"base_provider_type": "openai"' in str(info.value) and '"base_url"' in str(info.value)


def test_unknown_top_level_section_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"provider": {}}, environ={})
    assert "  - provider: unknown top-level section\n    fix: did you mean 'providers'?" in str(info.value)


def test_unsupported_bifrost_provider_and_wrong_case() -> None:
    with pytest.raises(ConfigError, match="'replicate' is a Bifrost provider that bifrost-asgi does not implement"):
        load_settings({"providers": {"replicate": {"keys": [{"value": "x"}]}}}, environ={})
    with pytest.raises(ConfigError) as info:
        load_settings({"providers": {"OpenAI": {"keys": [{"value": "x"}]}}}, environ={})
    assert "(did you mean 'openai'?)\n    fix: rename it to \"openai\"" in str(info.value)


def test_several_errors_are_reported_together() -> None:
    bad = {"providers": {"openai": {"keys": [{"value": "x", "weight": -1, "enabled": "maybe"}]}}}
    with pytest.raises(ConfigError) as info:
        load_settings(bad, environ={})
    assert "keys[0].weight" in str(info.value) and "keys[0].enabled" in str(info.value)


def test_secret_values_are_never_shown() -> None:
    cases: list[dict[str, Any]] = [
        {"providers": {"openai": {"keys": [{"value": 12345}]}}},
        {"providers": {"openai": {"keys": [{"value": SECRET, "api_key": SECRET}]}}},
        {"providers": {"openai": SECRET}},
        {"providers": {"openai": {"keys": [{"value": "x"}], "network_config": {"extra_headers": {"a": [SECRET]}}}}},
    ]
    for case in cases:
        with pytest.raises(ConfigError) as info:
            load_settings(case, environ={})
        assert SECRET not in str(info.value) and "12345" not in str(info.value)


# --- environment -----------------------------------------------------------------------------------


def test_env_overrides_file_and_keywords_override_env(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"providers": {"openai": {"keys": [{"value": "sk-file"}], "network_config": {"max_retries": 1}}}}')
    environ = {
        "BIFROST_PROVIDERS__OPENAI__NETWORK_CONFIG__MAX_RETRIES": "3",
        "BIFROST_CLIENT__DROP_EXCESS_REQUESTS": "true",
    }
    settings = load_settings(path, environ=environ)
    assert settings.providers["openai"].network_config.max_retries == 3
    assert settings.client.drop_excess_requests is True
    assert settings.providers["openai"].keys[0].value.get_secret_value() == "sk-file"  # deep-merged
    settings = load_settings(path, environ=environ, client=ClientConfig(drop_excess_requests=False),
                             providers={"openai": {"network_config": {"max_retries": 7}}})  # fmt: skip
    assert settings.providers["openai"].network_config.max_retries == 7
    assert settings.client.drop_excess_requests is False


def test_env_keys_json_replaces_file_keys() -> None:
    environ = {"BIFROST_PROVIDERS__OPENAI__KEYS": '[{"value": "env.X_KEY", "weight": 2}]', "X_KEY": "sk-x"}
    settings = load_settings(fixture("guide_model_not_found.json"), environ=environ)
    keys = settings.providers["openai"].keys
    assert len(keys) == 1 and keys[0].env_var == "X_KEY" and keys[0].value.get_secret_value() == "sk-x"


def test_nested_variable_beats_json_blob_above_it() -> None:
    tree, origins = env_overrides(
        {
            "BIFROST_PROVIDERS__OPENAI": '{"keys": [{"value": "a"}], "network_config": {"max_retries": 1}}',
            "BIFROST_PROVIDERS__OPENAI__NETWORK_CONFIG__MAX_RETRIES": "2",
            "BIFROST_UNRELATED": "x",
            "OTHER": "y",
        }
    )
    assert tree == {"providers": {"openai": {"keys": [{"value": "a"}], "network_config": {"max_retries": "2"}}}}
    assert origins[("providers", "openai")] == "BIFROST_PROVIDERS__OPENAI"


def test_env_provider_names_match_file_names_case_insensitively() -> None:
    data = {"providers": {"MyBox": {"keys": [], "custom_provider_config": {"base_provider_type": "openai",
            "is_key_less": True}, "network_config": {"base_url": "http://box:1"}}}}  # fmt: skip
    settings = load_settings(data, environ={"BIFROST_PROVIDERS__MYBOX__NETWORK_CONFIG__MAX_RETRIES": "2"})
    assert list(settings.providers) == ["MyBox"] and settings.providers["MyBox"].network_config.max_retries == 2


def test_env_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        environ = {"BIFROST_PROVIDERS__OPENAI__NETWORK_CONFIG__MAX_RETRIES": "lots"}
        load_settings(fixture("guide_step2_config.json"), environ=environ)
    assert "providers.openai.network_config.max_retries" in str(info.value)
    assert "(from BIFROST_PROVIDERS__OPENAI__NETWORK_CONFIG__MAX_RETRIES)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"BIFROST_PROVIDERS__OPENAI__KEYS": "[{value: " + SECRET + "}]"})
    assert "BIFROST_PROVIDERS__OPENAI__KEYS: invalid JSON" in str(info.value) and SECRET not in str(info.value)


def test_config_path_from_bifrost_config_variable() -> None:
    path = fixture("guide_cost_optimization.json")
    settings = load_settings(environ={"BIFROST_CONFIG": str(path)})
    assert settings.config == str(path.resolve())
    assert settings.providers["anthropic"].keys[0].weight == 0.2


def test_providers_detected_from_vendor_variables() -> None:
    environ = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_KEY": "sk-a", "GOOGLE_API_KEY": "g", "GROQ_API_KEY": ""}
    settings = load_settings(environ=environ)
    assert sorted(settings.providers) == ["anthropic", "gemini", "openai"]
    assert settings.providers["anthropic"].keys[0].env_var == "ANTHROPIC_KEY"
    assert settings.providers["gemini"].keys[0].value.get_secret_value() == "g"
    assert detect_providers({"GEMINI_API_KEY": "a", "GOOGLE_API_KEY": "b"}) == {
        "gemini": {"keys": [{"value": "env.GEMINI_API_KEY"}]}
    }


def test_no_detection_when_file_or_env_configures_providers() -> None:
    settings = load_settings(fixture("guide_model_not_found.json"), environ={"ANTHROPIC_API_KEY": "sk-a"})
    assert list(settings.providers) == ["openai"]
    settings = load_settings(environ={"BIFROST_PROVIDERS__GROQ__KEYS": '[{"value": "g"}]', "OPENAI_API_KEY": "o"})
    assert list(settings.providers) == ["groq"]


def test_no_providers_at_all_is_valid_but_empty() -> None:
    assert load_settings(environ={}).providers == {}


def test_missing_env_variable_warns_by_name_without_values(caplog: pytest.LogCaptureFixture) -> None:
    data = {"providers": {"openai": {"keys": [{"value": "env.PRESENT_KEY"}, {"value": "env.ABSENT_KEY"}]}}}
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi.config"):
        settings = load_settings(data, environ={"PRESENT_KEY": SECRET})
    keys = settings.providers["openai"].keys
    assert keys[1].value.get_secret_value() == "" and keys[1].env_var == "ABSENT_KEY"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ABSENT_KEY" in warnings[0]
    assert SECRET not in caplog.text


def test_concurrency_above_buffer_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    queue = {"concurrency": 20, "buffer_size": 5}
    data = {"providers": {"openai": {"keys": [{"value": "k"}], "concurrency_and_buffer_size": queue}}}
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi.config"):
        settings = load_settings(data, environ={})
    assert settings.providers["openai"].concurrency_and_buffer_size.concurrency == 20
    assert "concurrency 20 exceeds buffer_size 5" in caplog.text


def test_unknown_keyword_override_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={}, provider={})


# --- demo ------------------------------------------------------------------------------------------


def test_demo_settings_serve_guide_models_from_the_mock() -> None:
    settings = demo_settings()
    assert list(settings.providers) == ["mock"] and settings.providers["mock"].keys == []
    for model in ("gpt-4o-mini", "claude-3-sonnet-20240229", "gemini-2.0-flash"):
        assert settings.routing.aliases[model][0].target == f"mock/{model}"


def test_demo_ignores_environment_except_server_settings() -> None:
    environ = {"BIFROST_PROVIDERS__OPENAI__KEYS": '[{"value": "x"}]', "OPENAI_API_KEY": "x", "BIFROST_PORT": "9001"}
    settings = demo_settings(environ=environ, host="0.0.0.0")
    assert list(settings.providers) == ["mock"] and settings.port == 9001 and settings.host == "0.0.0.0"


def test_keyword_overrides_accept_model_instances() -> None:
    from pydantic import SecretStr

    from bifrost_asgi.config.settings import KeyConfig, ProviderConfig

    provider = ProviderConfig(keys=[KeyConfig(value=SecretStr("sk-1"), weight=2)])
    settings = load_settings(environ={"ANTHROPIC_API_KEY": "a"}, providers={"openai": provider})
    key = settings.providers["openai"].keys[0]
    assert list(settings.providers) == ["openai"]  # configured by keyword: no detection
    assert key.value.get_secret_value() == "sk-1" and key.weight == 2.0 and key.env_var is None


def test_the_example_demo_config_is_the_packaged_one() -> None:
    from pathlib import Path

    from bifrost_asgi.config.loading import demo_settings, load_settings

    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "config.demo.json"
    packaged = root / "bifrost_asgi" / "demo" / "config.json"
    assert example.read_text() == packaged.read_text()
    loaded = load_settings(str(example), environ={})
    assert loaded.providers.keys() == demo_settings(environ={}).providers.keys() == {"mock"}
    assert loaded.routing == demo_settings(environ={}).routing
