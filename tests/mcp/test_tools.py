"""Exposed tool names and the per-request filters (Bifrost's header semantics)."""

from __future__ import annotations

import pytest

from bifrost_asgi.mcp.tools import RemoteTool, ToolFilter, offered, request_filter, split_name

TOOLS = [RemoteTool("fs", "read"), RemoteTool("fs", "write"), RemoteTool("web", "search")]


def names(headers: dict[str, str], *, auto_inject: bool = True) -> list[str] | None:
    selected = request_filter(headers, auto_inject=auto_inject)
    return None if selected is None else list(offered(TOOLS, (selected,)))


def test_names_split_at_the_first_hyphen() -> None:
    assert RemoteTool("fs", "read-all").exposed == "fs-read-all"
    assert split_name("fs-read-all") == ("fs", "read-all")
    assert split_name("plain") is None and split_name("-x") is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ["fs-read", "fs-write", "web-search"]),
        ({"x-bf-mcp-include-clients": "web"}, ["web-search"]),
        ({"x-bf-mcp-include-clients": "*"}, ["fs-read", "fs-write", "web-search"]),
        ({"x-bf-mcp-include-clients": " fs , web "}, ["fs-read", "fs-write", "web-search"]),
        ({"x-bf-mcp-include-tools": "fs-write,web-*"}, ["fs-write", "web-search"]),
        ({"x-bf-mcp-include-clients": "fs", "x-bf-mcp-include-tools": "web-search,fs-read"}, ["fs-read"]),
        ({"x-bf-mcp-include-clients": ""}, None),
        ({"x-bf-mcp-include-tools": " "}, None),
    ],
)
def test_headers_filter_and_empty_means_none(headers: dict[str, str], expected: list[str] | None) -> None:
    assert names(headers) == expected


def test_without_auto_inject_only_named_tools_are_offered() -> None:
    assert names({}, auto_inject=False) is None
    assert names({"x-bf-mcp-include-tools": "fs-read"}, auto_inject=False) == ["fs-read"]


def test_every_filter_must_allow() -> None:
    key = ToolFilter(tools=frozenset({"fs-*"}))
    assert list(offered(TOOLS, (ToolFilter(), key))) == ["fs-read", "fs-write"]


def test_virtual_key_filter_from_mcp_configs() -> None:
    from bifrost_asgi.governance.config import VirtualKeyMCPConfig
    from bifrost_asgi.mcp.tools import key_filter

    tools = [*TOOLS, RemoteTool("open", "x")]
    configs = [
        VirtualKeyMCPConfig(mcp_client_name="fs", tools_to_execute=["read"]),
        VirtualKeyMCPConfig(mcp_client_id="id-web", tools_to_execute=["*"]),
    ]
    allowed = key_filter(configs, {"id-web": "web"}, ["open"])
    assert list(offered(tools, (allowed,))) == ["fs-read", "web-search", "open-x"]
    assert list(offered(tools, (key_filter([], {}, ["open"]),))) == ["open-x"]  # no configs: open clients only
    none = [VirtualKeyMCPConfig(mcp_client_name="fs", tools_to_execute=[])]
    assert list(offered(tools, (key_filter(none, {}, []),))) == []
    assert list(offered(tools, (key_filter(none, {}, [], version=1),))) == ["fs-read", "fs-write"]
