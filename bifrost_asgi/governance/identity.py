"""The authenticated virtual key, as other packages see it (no secrets: the value is never kept)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import VirtualKeyConfig, VirtualKeyMCPConfig, VirtualKeyProviderConfig


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """The virtual key a request presented. ``id`` identifies the owner of stored state (a stored
    response is visible only to the key that made it); ``mcp_configs`` say which MCP tools it may use
    (``tools_to_execute``: ``["*"]`` all, ``[]`` none in config version 2)."""

    id: str
    name: str
    team_id: str | None
    customer_id: str | None
    provider_configs: tuple[VirtualKeyProviderConfig, ...]
    mcp_configs: tuple[VirtualKeyMCPConfig, ...]

    @classmethod
    def of(cls, vk: VirtualKeyConfig) -> AuthenticatedKey:
        return cls(vk.id, vk.name, vk.team_id, vk.customer_id, tuple(vk.provider_configs), tuple(vk.mcp_configs))
