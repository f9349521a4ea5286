"""The ``mcp`` section: Bifrost's shapes, defaults, deprecated aliases, and errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_asgi.config.loading import load_settings
from bifrost_asgi.errors import ConfigError
from bifrost_asgi.mcp.config import MCPClientConfig

STDIO: dict[str, Any] = {"name": "fs", "connection_type": "stdio", "stdio_config": {"command": "npx", "args": ["x"]}}


def load(mcp: Any, **top: Any) -> Any:
    return load_settings({"mcp": mcp, **top}, environ={"MCP_URL": "http://h:1/mcp", "MCP_TOKEN": "tok-secret"})


def test_defaults_match_bifrost() -> None:
    mcp = load({}).mcp
    manager = mcp.tool_manager_config
    assert (manager.max_agent_depth, manager.tool_execution_timeout, manager.disable_auto_tool_inject) == (
        10,
        30,
        False,
    )
    assert mcp.tool_sync_interval == 600 and mcp.client_configs == []


def test_full_client_config_with_env_references() -> None:
    mcp = load(
        {
            "client_configs": [
                STDIO,
                {"name": "web_search", "connection_type": "http", "connection_string": "env.MCP_URL",
                 "auth_type": "headers", "headers": {"Authorization": "env.MCP_TOKEN"},
                 "tools_to_execute": ["*"], "tools_to_auto_execute": ["search"], "is_ping_available": False,
                 "tool_sync_interval": "30s", "tool_execution_timeout": 5},
            ],
            "tool_manager_config": {"tool_execution_timeout": "10s", "max_agent_depth": 3},
            "tool_sync_interval": 60_000_000_000,  # legacy integer nanoseconds
        }
    ).mcp  # fmt: skip
    web = mcp.client_configs[1]
    assert web.url == "http://h:1/mcp" and web.headers["Authorization"].get_secret_value() == "tok-secret"
    assert (web.tool_sync_interval, web.tool_execution_timeout, web.is_ping_available) == (30, 5, False)
    assert mcp.tool_manager_config.tool_execution_timeout == 10 and mcp.tool_sync_interval == 60
    assert "tok-secret" not in repr(web)


def test_deprecated_client_fields_move_under_mcp() -> None:
    settings = load({"tool_sync_interval": "2m"}, client={"mcp_agent_depth": 4, "mcp_tool_sync_interval": "5m"})
    assert settings.mcp.tool_manager_config.max_agent_depth == 4
    assert settings.mcp.tool_sync_interval == 120  # the mcp section wins over the deprecated alias


@pytest.mark.parametrize(
    ("mcp", "field", "words"),
    [
        pytest.param({"client_configs": [{**STDIO, "tools_to_exeute": ["*"]}]}, "tools_to_exeute", "tools_to_execute",
                     id="typo"),
        pytest.param({"tool_manager_config": {"max_agent_dept": 2}}, "max_agent_dept", "max_agent_depth", id="typo2"),
        pytest.param({"client_configs": [{**STDIO, "name": "my-fs"}]}, "name", "no hyphens", id="hyphen"),
        pytest.param({"client_configs": [{**STDIO, "name": "1fs"}]}, "name", "not starting with a digit", id="digit"),
        pytest.param({"client_configs": [{"name": "w", "connection_type": "http"}]}, "client_configs[0]",
                     "connection_string", id="no-url"),
        pytest.param({"client_configs": [{"name": "w", "connection_type": "stdio"}]}, "client_configs[0]",
                     "stdio_config", id="no-stdio"),
        pytest.param({"client_configs": [{"name": "w", "connection_type": "websocket"}]}, "connection_type",
                     "stdio", id="transport"),
        pytest.param({"client_configs": [{**STDIO, "tools_to_execute": ["*", "read"]}]}, "tools_to_execute",
                     "alone", id="star-mixed"),
        pytest.param({"client_configs": [STDIO, STDIO]}, "client_configs", "unique", id="duplicate-name"),
        pytest.param({"client_configs": [{**STDIO, "auth_type": "oauth"}]}, "auth_type", "headers", id="oauth"),
        pytest.param({"tool_manager_config": {"max_agent_depth": 0}}, "max_agent_depth", "1", id="depth"),
    ],
)  # fmt: skip
def test_bad_config_fails_at_start_naming_the_field(mcp: Any, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(mcp)
    assert field in str(info.value) and words in str(info.value)


def test_version_decides_what_an_empty_allow_list_means() -> None:
    client = MCPClientConfig.model_validate(STDIO)
    assert not client.executes("read") and client.executes("read", version=1)
    star = MCPClientConfig.model_validate({**STDIO, "tools_to_execute": ["*"], "tools_to_auto_execute": ["read"]})
    assert star.executes("write") and star.auto_executes("read") and not star.auto_executes("write")
    only = MCPClientConfig.model_validate({**STDIO, "tools_to_execute": ["a"], "tools_to_auto_execute": ["*"]})
    assert only.auto_executes("a") and not only.auto_executes("b")  # auto needs tools_to_execute too
    assert load({}, version=1).version == 1


def test_env_vars_configure_mcp() -> None:
    clients = '[{"name": "fs", "connection_type": "stdio", "stdio_config": {"command": "x"}}]'
    environ = {"BIFROST_MCP__TOOL_MANAGER_CONFIG__MAX_AGENT_DEPTH": "3", "BIFROST_MCP__CLIENT_CONFIGS": clients}
    settings = load_settings({}, environ=environ)
    assert settings.mcp.tool_manager_config.max_agent_depth == 3 and settings.mcp.client_configs[0].name == "fs"
