"""Configuration: ``BifrostSettings`` (pydantic-settings, ``BIFROST_`` prefix, ``__`` nesting) in the
shape of Bifrost's config.json, which is accepted as-is.

Sources, strongest first: keyword arguments, ``BIFROST_*`` environment variables, the config file
(``config=`` argument or ``BIFROST_CONFIG``), then providers detected from vendor API-key variables
(``OPENAI_API_KEY``...) when no file gives any. Loading, comment stripping, ``env.`` secrets and
readable error messages live in ``config_file.py``; this module only declares the shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|us|µs|ns)?\s*$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "us": 0.001, "µs": 0.001, "ns": 1e-6}


def parse_duration_ms(value: Any) -> float:
    """Milliseconds from an int/float (already ms) or a Go-style duration string ("500ms", "5s", "1.5s")."""
    if isinstance(value, bool):
        raise ValueError("expected milliseconds as a number or a duration like '500ms' or '5s'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]
    raise ValueError(f"{value!r} is not a duration: use milliseconds (500) or a string like '500ms' or '5s'")


def resolve_env_reference(value: str, environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """``"env.NAME"`` -> (value of $NAME or "", "NAME"); anything else -> (value, None)."""
    if value.startswith("env."):
        name = value[4:]
        return (environ if environ is not None else os.environ).get(name, ""), name
    return value, None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AzureKeyConfig(_Model):
    endpoint: str
    deployments: dict[str, str] = Field(default_factory=dict)
    api_version: str = "2024-10-21"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    tenant_id: str | None = None
    scopes: list[str] | None = None


class KeyConfig(_Model):
    """One API key. ``value`` may be ``"env.NAME"``; the secret is never rendered anywhere."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    value: SecretStr = SecretStr("")
    models: list[str] = Field(default_factory=list)
    blacklisted_models: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, ge=0)
    enabled: bool = True
    name: str | None = None
    id: str | None = None
    azure_key_config: AzureKeyConfig | None = None
    bedrock_key_config: dict[str, Any] | None = None
    vertex_key_config: dict[str, Any] | None = None
    # Set by validation: the variable ``value`` came from, for messages ("env.OPENAI_API_KEY is not set").
    env_var: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            resolved, env_var = resolve_env_reference(data["value"])
            if env_var is not None:
                data = {**data, "value": resolved, "env_var": env_var}
        return data

    @property
    def label(self) -> str:
        """A printable, secret-free name for this key."""
        return self.name or self.id or (f"env.{self.env_var}" if self.env_var else "key")

    def allows(self, model: str) -> bool:
        if not self.enabled or model in self.blacklisted_models:
            return False
        return not self.models or model in self.models


class NetworkConfig(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    base_url: str | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)
    default_request_timeout_in_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_in_seconds: float = Field(default=10.0, gt=0)
    first_byte_timeout_in_seconds: float | None = Field(default=None, gt=0)
    stream_idle_timeout_in_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=0, ge=0, le=20)
    retry_backoff_initial_ms: float = 500.0
    retry_backoff_max_ms: float = 5000.0
    max_retry_after_in_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _backoff_spellings(cls, data: Any) -> Any:
        """Accept Bifrost's Go spelling (``retry_backoff_initial``) and the documented ``_ms`` one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for bare in ("retry_backoff_initial", "retry_backoff_max"):
            if bare in data:
                value = data.pop(bare)
                data.setdefault(bare + "_ms", value)
        return data

    @field_validator("retry_backoff_initial_ms", "retry_backoff_max_ms", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration_ms(value)

    @field_validator("base_url")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL (e.g. 'https://api.openai.com')")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> NetworkConfig:
        if self.retry_backoff_initial_ms > self.retry_backoff_max_ms:
            raise ValueError(
                "retry_backoff_initial_ms must not exceed retry_backoff_max_ms "
                f"({self.retry_backoff_initial_ms:g} > {self.retry_backoff_max_ms:g})"
            )
        return self


class ConcurrencyConfig(_Model):
    concurrency: int = Field(default=1000, ge=1)
    buffer_size: int = Field(default=5000, ge=0)


class CustomProviderConfig(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    base_provider_type: Literal["openai", "anthropic", "gemini"] = "openai"
    is_key_less: bool = False


class MockConfig(_Model):
    """The built-in ``mock`` provider: deterministic echo answers, no network."""

    latency_ms: float = Field(default=0.0, ge=0)
    chunk_delay_ms: float = Field(default=0.0, ge=0)


class ProviderConfig(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    keys: list[KeyConfig] = Field(default_factory=list)
    network_config: NetworkConfig = Field(default_factory=NetworkConfig)
    concurrency_and_buffer_size: ConcurrencyConfig = Field(default_factory=ConcurrencyConfig)
    custom_provider_config: CustomProviderConfig | None = None
    mock_config: MockConfig = Field(default_factory=MockConfig)


class RouteTarget(_Model):
    target: str  # "provider/model"
    weight: float = Field(default=1.0, ge=0)


class RoutingConfig(_Model):
    """Model aliases with weighted targets (canary, cost split) and default fallbacks per model."""

    aliases: dict[str, list[RouteTarget]] = Field(default_factory=dict)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    cooldown_seconds: float = Field(default=30.0, ge=0)
    cooldown_failures: int = Field(default=3, ge=1)


class ClientConfig(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    drop_excess_requests: bool = False
    prometheus_labels: list[str] = Field(default_factory=list)
    max_request_body_size_mb: float = Field(default=100.0, gt=0)
    enable_logging: bool = True
    log_json: bool = False
    log_content: bool = False
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)


class BifrostSettings(BaseSettings):
    """All gateway settings. Construct directly, or via ``load_settings(config=...)`` to read a file."""

    model_config = SettingsConfigDict(
        env_prefix="BIFROST_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    client: ClientConfig = Field(default_factory=ClientConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    mcp: dict[str, Any] = Field(default_factory=dict)
    config: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings
