"""The settings models: field rules, ``env.`` secrets, Bifrost compatibility, cross-field rules."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr, ValidationError

from bifrost_asgi.config.settings import (
    BifrostSettings,
    ClientConfig,
    ConcurrencyConfig,
    CustomProviderConfig,
    KeyConfig,
    NetworkConfig,
    ProviderConfig,
    RoutingConfig,
    SettingsModel,
    is_keyless,
    parse_duration_ms,
    provider_type,
)

ENV = {"OPENAI_API_KEY": "sk-env-openai", "HEADER_TOKEN": "tok-123", "AZ_SECRET": "az-secret"}


def validate(data: dict[str, object], environ: dict[str, str] | None = None) -> SettingsModel:
    context = {"environ": ENV if environ is None else environ, "missing_env": set(), "problems": []}
    return SettingsModel.model_validate(data, context=context)


@pytest.mark.parametrize(
    ("raw", "ms"),
    [(500, 500.0), (2.5, 2.5), ("500ms", 500.0), ("5s", 5000.0), ("1.5s", 1500.0), ("2m", 120_000.0),
     (" 250 ms ", 250.0), ("750", 750.0)],
)  # fmt: skip
def test_durations_in_ms_or_go_strings(raw: object, ms: float) -> None:
    assert parse_duration_ms(raw) == ms


@pytest.mark.parametrize("raw", [-1, True, "fast", "5 parsecs", None, [500]])
def test_bad_durations_are_rejected(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(raw)


def test_both_backoff_spellings_and_duration_strings() -> None:
    go = NetworkConfig.model_validate({"retry_backoff_initial": "250ms", "retry_backoff_max": "2s"})
    documented = NetworkConfig.model_validate({"retry_backoff_initial_ms": 100, "retry_backoff_max_ms": 900})
    assert (go.retry_backoff_initial_ms, go.retry_backoff_max_ms) == (250.0, 2000.0)
    assert (documented.retry_backoff_initial_ms, documented.retry_backoff_max_ms) == (100.0, 900.0)
    both = NetworkConfig.model_validate({"retry_backoff_initial": 1, "retry_backoff_initial_ms": 300})
    assert both.retry_backoff_initial_ms == 300.0  # the documented spelling wins


def test_backoff_initial_above_max_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        NetworkConfig(retry_backoff_initial_ms=6000, retry_backoff_max_ms=5000)


def test_base_url_is_trimmed_and_must_be_http() -> None:
    assert NetworkConfig(base_url="https://api.openai.com/").base_url == "https://api.openai.com"
    for bad in ("api.openai.com", "ftp://x", "https://"):
        with pytest.raises(ValidationError, match="http"):
            NetworkConfig(base_url=bad)


def test_network_accepts_bifrost_fields_but_not_typos() -> None:
    config = NetworkConfig.model_validate(
        {"insecure_skip_verify": True, "ca_cert_pem": "PEM", "enforce_http2": True, "max_conns_per_host": 10,
         "beta_header_overrides": {"redact-thinking-": False}, "keep_alive_timeout_in_seconds": 5}
    )  # fmt: skip
    assert config.max_conns_per_host == 10 and config.beta_header_overrides == {"redact-thinking-": False}
    with pytest.raises(ValidationError, match="max_retires"):
        NetworkConfig.model_validate({"max_retires": 3})


def test_key_env_reference_resolves_from_context_environ() -> None:
    model = validate({"providers": {"openai": {"keys": [{"value": "env.OPENAI_API_KEY"}]}}})
    key = model.providers["openai"].keys[0]
    assert key.value.get_secret_value() == "sk-env-openai"
    assert key.env_var == "OPENAI_API_KEY" and key.label == "env.OPENAI_API_KEY"
    assert "sk-env-openai" not in repr(key) and "sk-env-openai" not in str(model)


def test_missing_key_variable_gives_empty_value_and_is_recorded() -> None:
    context: dict[str, object] = {"environ": {}, "missing_env": set(), "problems": []}
    model = SettingsModel.model_validate(
        {"providers": {"openai": {"keys": [{"value": "env.NOPE_KEY"}]}}}, context=context
    )
    key = model.providers["openai"].keys[0]
    assert key.value.get_secret_value() == "" and key.env_var == "NOPE_KEY"
    assert context["missing_env"] == {"NOPE_KEY"}


def test_missing_variable_without_loader_logs_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("BIFROST_TEST_UNSET", raising=False)
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi.config"):
        key = KeyConfig.model_validate({"value": "env.BIFROST_TEST_UNSET"})
    assert key.value.get_secret_value() == ""
    assert "BIFROST_TEST_UNSET" in caplog.text


def test_exported_envvar_object_form_is_accepted() -> None:
    exported = {"value": "", "env_var": "env.OPENAI_API_KEY", "from_env": True}
    model = validate({"providers": {"openai": {"keys": [{"value": exported}]}}})
    assert model.providers["openai"].keys[0].value.get_secret_value() == "sk-env-openai"


def test_provider_meta_resolves_env_strings_and_keeps_objects() -> None:
    meta = {"region": "env.HEADER_TOKEN", "deployments": {}, "batch_s3_config": {"buckets": []}}
    model = validate({"providers": {"openai": {"keys": [{"value": "k", "bedrock_key_config": meta}]}}})
    resolved = model.providers["openai"].keys[0].bedrock_key_config
    assert resolved == {"region": "tok-123", "deployments": {}, "batch_s3_config": {"buckets": []}}


def test_env_references_in_headers_and_azure_secret() -> None:
    model = validate(
        {
            "providers": {
                "azure": {
                    "keys": [{"value": "k", "azure_key_config": {"endpoint": "https://r.openai.azure.com",
                                                                  "client_secret": "env.AZ_SECRET"}}],
                    "network_config": {"extra_headers": {"x-token": "env.HEADER_TOKEN", "x-team": "ml"}},
                }
            },
            "mcp": {"client_configs": [{"name": "s", "connection_type": "http", "connection_string": "http://h/mcp",
                                        "headers": {"Authorization": "env.HEADER_TOKEN"}}]},
        }
    )  # fmt: skip
    azure = model.providers["azure"]
    assert azure.network_config.extra_headers == {"x-token": "tok-123", "x-team": "ml"}
    secret = azure.keys[0].azure_key_config.client_secret  # type: ignore[union-attr]
    assert isinstance(secret, SecretStr) and secret.get_secret_value() == "az-secret"
    assert model.mcp.client_configs[0].headers["Authorization"].get_secret_value() == "tok-123"


def test_key_allows_models() -> None:
    key = KeyConfig(models=["gpt-4o", "gpt-4o-mini"], blacklisted_models=["gpt-4o"])
    assert key.allows("gpt-4o-mini") and not key.allows("gpt-4o") and not key.allows("o3")
    assert KeyConfig().allows("anything") and KeyConfig(models=["*"]).allows("anything")
    assert not KeyConfig(enabled=False).allows("anything")


def test_key_accepts_documented_bifrost_fields_and_rejects_typos() -> None:
    key = KeyConfig.model_validate(
        {"id": "k1", "name": "main", "value": "sk", "weight": 2, "description": "d", "use_for_batch_api": True,
         "vllm_key_config": {"url": "http://h", "model_name": "m"}, "config_hash": "abc"}
    )  # fmt: skip
    assert key.label == "main" and key.weight == 2.0
    with pytest.raises(ValidationError, match="wieght"):
        KeyConfig.model_validate({"value": "sk", "wieght": 1})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        KeyConfig(weight=-0.5)


def test_provider_concurrency_and_client_field_rules() -> None:
    with pytest.raises(ValidationError, match="concurency"):
        ConcurrencyConfig.model_validate({"concurency": 3})
    with pytest.raises(ValidationError, match="network_confg"):
        ProviderConfig.model_validate({"network_confg": {}})
    provider = ProviderConfig.model_validate({"proxy_config": {"type": "http", "url": "http://proxy:3128"},
                                              "send_back_raw_response": True})  # fmt: skip
    assert provider.proxy_config is not None and provider.proxy_config.url == "http://proxy:3128"
    bifrost_client = {"initial_pool_size": 300, "allowed_origins": ["*"], "drop_excess_requests": True}
    client = ClientConfig.model_validate(bifrost_client)
    assert client.drop_excess_requests is True
    with pytest.raises(ValidationError, match="drop_excess_request"):
        ClientConfig.model_validate({"drop_excess_request": True})


def test_routing_shorthands_and_target_form() -> None:
    routing = RoutingConfig.model_validate(
        {"aliases": {"a": "openai/gpt-4o", "b": ["openai/x", "anthropic/y"], "c": {"target": "groq/z", "weight": 2}},
         "fallbacks": {"gpt-4o": "anthropic/claude"}}
    )  # fmt: skip
    assert [t.target for t in routing.aliases["b"]] == ["openai/x", "anthropic/y"]
    assert routing.aliases["c"][0].weight == 2.0 and routing.fallbacks == {"gpt-4o": ["anthropic/claude"]}
    with pytest.raises(ValidationError, match="provider/model"):
        RoutingConfig.model_validate({"fallbacks": {"gpt-4o": ["claude"]}})


def test_direct_construction_enforces_provider_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIFROST_PROVIDERS", raising=False)
    with pytest.raises(ValidationError, match=r"providers\.openai\.keys: provider 'openai' has no keys"):
        BifrostSettings(providers={"openai": ProviderConfig()})
    with pytest.raises(ValidationError, match=r"network_config\.base_url"):
        BifrostSettings(
            providers={"box": ProviderConfig(custom_provider_config=CustomProviderConfig(base_provider_type="openai"))}
        )
    with pytest.raises(ValidationError, match="not configured"):
        BifrostSettings(providers={"mock": ProviderConfig()}, routing=RoutingConfig(aliases={"x": "openai/gpt-4o"}))  # type: ignore[dict-item]
    routing = RoutingConfig.model_validate({"aliases": {"x": "mock/gpt-4o"}})
    settings = BifrostSettings(providers={"mock": ProviderConfig()}, routing=routing)
    assert settings.routing.aliases["x"][0].target == "mock/gpt-4o"


def test_keyless_and_provider_type() -> None:
    custom = ProviderConfig(
        custom_provider_config=CustomProviderConfig(base_provider_type="anthropic", is_key_less=True),
        network_config=NetworkConfig(base_url="http://127.0.0.1:9000"),
    )
    assert is_keyless("ollama", ProviderConfig()) and is_keyless("box", custom)
    assert not is_keyless("openai", ProviderConfig())
    assert provider_type("box", custom) == "anthropic" and provider_type("groq", ProviderConfig()) == "groq"
    with pytest.raises(ValidationError, match="base_provider_type"):
        CustomProviderConfig.model_validate({"base_provider_type": "cohere"})


def test_pydantic_settings_env_source_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_PROVIDERS__OPENAI__KEYS", '[{"value": "sk-from-env"}]')
    monkeypatch.setenv("BIFROST_PROVIDERS__OPENAI__NETWORK_CONFIG__MAX_RETRIES", "4")
    monkeypatch.setenv("BIFROST_LOG_LEVEL", "DEBUG")
    settings = BifrostSettings()
    assert settings.providers["openai"].network_config.max_retries == 4
    assert settings.providers["openai"].keys[0].value.get_secret_value() == "sk-from-env"
    assert settings.log_level == "debug"


def test_known_vendor_without_keys_field_uses_its_usual_variable() -> None:
    model = validate({"providers": {"openai": {"network_config": {"max_retries": 3}}}}, {"OPENAI_KEY": "sk-alt"})
    key = model.providers["openai"].keys[0]
    assert key.env_var == "OPENAI_KEY" and key.value.get_secret_value() == "sk-alt"
    model = validate({"providers": {"anthropic": {}}}, {})
    assert model.providers["anthropic"].keys[0].env_var == "ANTHROPIC_API_KEY"


def test_log_level_is_checked() -> None:
    assert validate({"log_level": "WARNING"}).log_level == "warning"
    with pytest.raises(ValidationError, match="log_level"):
        validate({"log_level": "loud"})


def test_cloud_key_secrets_are_listed_for_masking() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    private_key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    credentials = json.dumps({"type": "service_account", "private_key": private_key, "client_email": "a@b"})
    key = KeyConfig.model_validate(
        {
            "bedrock_key_config": {"access_key": "AKIA1", "secret_key": "env.AWS_SECRET", "session_token": "tok-123"},
            "vertex_key_config": {"project_id": "p", "auth_credentials": credentials},
        },
        context={"environ": {"AWS_SECRET": "aws-secret-value"}},
    )
    secrets = key.secret_values()
    assert {"aws-secret-value", "tok-123", credentials, private_key} <= set(secrets)
    assert json.dumps(private_key)[1:-1] in secrets  # as it appears inside JSON text
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" in secrets
    assert key.has_credentials and not KeyConfig().has_credentials
