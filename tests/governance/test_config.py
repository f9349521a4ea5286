"""The governance section: Bifrost's shape accepted as-is, inconsistencies refused at start naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi.config.loading import load_settings
from bifrost_asgi.errors import ConfigError

PROVIDERS = {"openai": {"keys": [{"value": "sk-x"}]}, "anthropic": {"keys": [{"value": "sk-y"}]}}


def load(governance: dict[str, Any], **extra: Any) -> Any:
    return load_settings({"providers": PROVIDERS, "governance": governance, **extra}, environ={"VK_A": "sk-bf-aaa"})


def refused(governance: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load(governance)
    message = str(exc.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def vk(**fields: Any) -> dict[str, Any]:
    return {"id": "vk-1", "name": "one", "value": "sk-bf-1", **fields}


def test_full_section_loads_with_env_value_and_mcp_configs() -> None:
    settings = load(
        {
            "budgets": [{"id": "b1", "max_limit": 10, "reset_duration": "1M", "virtual_key_id": "vk-1"},
                        {"id": "bt", "max_limit": 100, "reset_duration": "1d", "team_id": "t1"}],
            "rate_limits": [{"id": "rl", "request_max_limit": 5, "request_reset_duration": "1m",
                             "token_max_limit": 1000, "token_reset_duration": "1h"}],
            "customers": [{"id": "c1", "name": "acme",
                           "budgets": [{"id": "cb", "max_limit": 1, "reset_duration": "1w"}]}],
            "teams": [{"id": "t1", "name": "ml", "customer_id": "c1", "rate_limit_id": "rl"}],
            "virtual_keys": [vk(value="env.VK_A", team_id="t1", rate_limit_id="rl", expires_at="2099-01-01T00:00:00Z",
                                provider_configs=[{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}],
                                mcp_configs=[{"mcp_client_name": "filesystem", "tools_to_execute": ["read_file"]}])],
            "model_configs": [{"id": "m1", "model_name": "gpt-4o", "budget_ids": ["b1"]}],
            "pricing_overrides": [{"pattern": "openai/custom", "pricing_patch": '{"input_cost_per_token": 1e-6}'}],
        },
        version=2,
    )  # fmt: skip
    key = settings.governance.virtual_keys[0]
    assert key.value.get_secret_value() == "sk-bf-aaa" and key.env_var == "VK_A"
    assert key.mcp_configs[0].mcp_client_name == "filesystem" and key.mcp_configs[0].tools_to_execute == ["read_file"]
    assert "sk-bf-aaa" not in repr(settings)


@pytest.mark.parametrize(
    ("governance", "fragments"),
    [
        ({"budgets": [{"id": "b", "max_limit": 1, "reset_duration": "1d", "virtual_key_id": "nope"}]},
         ("governance.budgets[0].virtual_key_id", "'nope' does not exist")),
        ({"budgets": [{"id": "b", "max_limit": 1, "reset_duration": "1d"}]}, ("has no owner",)),
        ({"budgets": [{"id": "b", "max_limit": 1, "reset_duration": "3 days", "team_id": "t"}]},
         ("reset_duration", "not a reset duration")),
        ({"virtual_keys": [vk(team_id="t", customer_id="c")], "teams": [{"id": "t", "name": "t"}],
          "customers": [{"id": "c", "name": "c"}]}, ("team_id and customer_id are exclusive",)),
        ({"virtual_keys": [vk(provider_configs=[{"provider": "openai", "allowed_models": ["*", "gpt-4o"]}])]},
         ("provider_configs[0].allowed_models", '"*" may not be mixed')),
        ({"virtual_keys": [vk(provider_configs=[{"provider": "mistral"}])]}, ("'mistral' is not configured",)),
        ({"virtual_keys": [vk(rate_limit_id="missing")]}, ("rate_limit_id 'missing' does not exist",)),
        ({"virtual_keys": [vk(value="")]}, ("virtual key 'vk-1' has no value",)),
        ({"virtual_keys": [vk(), vk(name="two", value="sk-bf-2")]}, ("id 'vk-1' is used twice",)),
        ({"virtual_keys": [vk(surprise=True)]}, ("surprise",)),
        ({"store": {"type": "redis"}, "virtual_keys": [vk()]}, ('type "redis" needs a URL',)),
    ],
)  # fmt: skip
def test_inconsistent_sections_fail_at_start_naming_the_field(
    governance: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    if governance.get("store"):
        from bifrost_asgi.governance.setup import counters_for
        from bifrost_asgi.store import MemoryStore

        with pytest.raises(ConfigError, match=fragments[0]):
            counters_for(load(governance), MemoryStore())
        return
    refused(governance, *fragments)


def test_deprecated_enforce_aliases_and_admin_token_env() -> None:
    settings = load_settings(
        {"providers": PROVIDERS, "client": {"enforce_governance_header": True, "admin_token": "env.ADMIN"}},
        environ={"ADMIN": "tok-123"},
    )
    assert settings.client.enforce_auth_on_inference is True
    assert settings.client.admin_token is not None and settings.client.admin_token.get_secret_value() == "tok-123"


def test_governance_from_environment_variables() -> None:
    environ = {"BIFROST_GOVERNANCE__VIRTUAL_KEYS": '[{"id": "e", "name": "env", "value": "sk-bf-env"}]',
               "BIFROST_CLIENT__ENFORCE_AUTH_ON_INFERENCE": "true"}  # fmt: skip
    settings = load_settings({"providers": PROVIDERS}, environ=environ)
    assert settings.governance.virtual_keys[0].id == "e" and settings.client.enforce_auth_on_inference
