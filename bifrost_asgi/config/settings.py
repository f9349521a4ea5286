"""Configuration: ``BifrostSettings`` (pydantic-settings, ``BIFROST_`` prefix, ``__`` nesting) in the
shape of Bifrost's config.json, which is accepted as-is.

Sources, strongest first: keyword arguments, ``BIFROST_*`` environment variables, the config file
(``config=`` argument or ``BIFROST_CONFIG``), then providers detected from vendor API-key variables
(``OPENAI_API_KEY``...) when no file gives any. Loading, comment stripping and readable error
messages live in ``config_file.py``; this module declares the shape and its rules.

Secrets given as ``"env.NAME"`` are read from the environment during validation. A validation
context (``{"environ": Mapping, "missing_env": set, "problems": list}``) lets the loader pass its
own environment and collect unset variables and rule violations; without one, ``os.environ`` is
used and a violation raises at once.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..governance.config import GovernanceConfig, governance_problems
from ..mcp.config import MCPConfig, move_deprecated_client_fields
from .values import (
    _context,
    _environ,
    _Model,
    _resolve_strings,
    _secret_input,
    parse_duration_ms,
)

logger = logging.getLogger("bifrost_asgi.config")

#: Providers implemented natively, plus the OpenAI-compatible presets.
STANDARD_PROVIDERS = frozenset(
    {
        "openai", "anthropic", "gemini", "azure", "bedrock", "vertex", "cohere", "mock",
        "groq", "mistral", "ollama", "openrouter", "cerebras", "xai", "deepseek", "together",
        "fireworks", "perplexity", "vllm", "sgl", "nebius", "parasail",
    }
)  # fmt: skip
#: Providers that need no key (self-hosted servers and the built-in mock).
KEYLESS_PROVIDERS = frozenset({"ollama", "vllm", "sgl", "mock"})
#: Bifrost providers this project does not implement (named in the error for a clearer fix).
UNSUPPORTED_BIFROST_PROVIDERS = frozenset(
    {
        "bedrock_mantle", "replicate", "elevenlabs", "huggingface",
        "deepgram", "runway", "runware", "sarvam", "sapaicore", "opencode-go", "opencode-zen",
    }
)  # fmt: skip
#: The vendor's usual API-key variables, first preferred: used to detect providers when nothing is
#: configured, and as the key of a configured provider that lists no ``keys`` at all.
PROVIDER_KEY_ENV: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "mistral": ("MISTRAL_API_KEY", "MISTRAL_KEY"),
    "groq": ("GROQ_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "perplexity": ("PERPLEXITY_API_KEY",),
    "cohere": ("COHERE_API_KEY", "CO_API_KEY"),
}


class AzureKeyConfig(_Model):
    endpoint: str
    deployments: dict[str, str] = Field(default_factory=dict)
    api_version: str = "2024-10-21"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    tenant_id: str | None = None
    scopes: list[str] | None = None

    @field_validator("endpoint", "api_version", "client_id", "client_secret", "tenant_id", mode="before")
    @classmethod
    def _env(cls, value: Any, info: ValidationInfo) -> Any:
        return _secret_input(value, info)[0]


class KeyConfig(_Model):
    """One API key. ``value`` may be ``"env.NAME"``; the secret is never rendered anywhere."""

    value: SecretStr = SecretStr("")
    models: list[str] = Field(default_factory=list)
    blacklisted_models: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, ge=0)
    enabled: bool = True
    name: str | None = None
    id: str | None = None
    description: str | None = None
    azure_key_config: AzureKeyConfig | None = None
    bedrock_key_config: dict[str, Any] | None = None
    vertex_key_config: dict[str, Any] | None = None
    # Accepted from Bifrost configs; not used by this gateway.
    use_for_batch_api: bool = False
    aliases: dict[str, Any] | None = None
    vllm_key_config: dict[str, Any] | None = None
    ollama_key_config: dict[str, Any] | None = None
    sgl_key_config: dict[str, Any] | None = None
    huggingface_key_config: dict[str, Any] | None = None
    replicate_key_config: dict[str, Any] | None = None
    sapaicore_key_config: dict[str, Any] | None = None
    config_hash: str | None = None
    status: str | None = None
    # Set by validation: the variable ``value`` came from, for messages ("env.OPENAI_API_KEY is not set").
    env_var: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_env(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and data.get("env_var") is None and "value" in data:
            resolved, env_var = _secret_input(data["value"], info)
            data = {**data, "value": resolved}
            if env_var is not None:
                data["env_var"] = env_var
        return data

    @field_validator(
        "bedrock_key_config", "vertex_key_config", "vllm_key_config", "ollama_key_config",
        "sgl_key_config", "sapaicore_key_config", mode="before",
    )  # fmt: skip
    @classmethod
    def _meta_env(cls, value: Any, info: ValidationInfo) -> Any:
        return _resolve_strings(value, info)

    @property
    def has_credentials(self) -> bool:
        """A value, or cloud credentials (``bedrock_key_config``/``vertex_key_config``, which may
        also mean the platform's default credential chain)."""
        return (
            bool(self.value.get_secret_value())
            or self.bedrock_key_config is not None
            or (self.vertex_key_config is not None)
        )

    def secret_values(self) -> list[str]:
        """Every secret this key holds, for masking: the value, AWS secret and session keys, and a
        service account's JSON and private key (also as JSON-escaped text)."""
        values = [self.value.get_secret_value()]
        bedrock = self.bedrock_key_config or {}
        values += [str(bedrock[name]) for name in ("secret_key", "session_token", "api_key") if bedrock.get(name)]
        credentials = (self.vertex_key_config or {}).get("auth_credentials")
        if isinstance(credentials, str) and credentials.strip():
            values.append(credentials)
            try:
                info = json.loads(credentials)
            except ValueError:
                info = None
            private_key = info.get("private_key") if isinstance(info, dict) else None
            if isinstance(private_key, str) and private_key:
                values += [private_key, json.dumps(private_key)[1:-1]]
                values += [line for line in private_key.splitlines() if len(line) >= 16]
        return [v for v in values if v]

    @property
    def label(self) -> str:
        """A printable, secret-free name for this key."""
        return self.name or self.id or (f"env.{self.env_var}" if self.env_var else "key")

    def allows(self, model: str) -> bool:
        if not self.enabled or model in self.blacklisted_models:
            return False
        return not self.models or "*" in self.models or model in self.models


class NetworkConfig(_Model):
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
    # Accepted from Bifrost configs (TLS/pool tuning); the upstream client may honour them.
    insecure_skip_verify: bool = False
    ca_cert_pem: str | None = None
    enforce_http2: bool = False
    max_conns_per_host: int = Field(default=5000, ge=1, le=10_000)
    keep_alive_timeout_in_seconds: float = Field(default=30.0, gt=0)
    beta_header_overrides: dict[str, bool] = Field(default_factory=dict)
    allow_private_network: bool = False

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

    @field_validator("extra_headers", mode="before")
    @classmethod
    def _header_env(cls, value: Any, info: ValidationInfo) -> Any:
        return _resolve_strings(value, info)

    @field_validator("ca_cert_pem", mode="before")
    @classmethod
    def _pem_env(cls, value: Any, info: ValidationInfo) -> Any:
        return _secret_input(value, info)[0]

    @field_validator("base_url")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
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
    """A provider under a name of your choice that speaks one of the implemented wire formats."""

    base_provider_type: Literal["openai", "anthropic", "gemini"]
    is_key_less: bool = False
    allowed_requests: dict[str, bool] | None = None
    request_path_overrides: dict[str, str] | None = None


class ProxyConfig(_Model):
    type: Literal["none", "http", "socks5", "environment"] = "none"
    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_cert_pem: str | None = None

    @field_validator("url", "username", "password", "ca_cert_pem", mode="before")
    @classmethod
    def _env(cls, value: Any, info: ValidationInfo) -> Any:
        return _secret_input(value, info)[0]


class MockConfig(_Model):
    """The built-in ``mock`` provider: deterministic echo answers, no network."""

    latency_ms: float = Field(default=0.0, ge=0)
    chunk_delay_ms: float = Field(default=0.0, ge=0)


class ProviderConfig(_Model):
    keys: list[KeyConfig] = Field(default_factory=list)
    network_config: NetworkConfig = Field(default_factory=NetworkConfig)
    concurrency_and_buffer_size: ConcurrencyConfig = Field(default_factory=ConcurrencyConfig)
    custom_provider_config: CustomProviderConfig | None = None
    mock_config: MockConfig = Field(default_factory=MockConfig)
    proxy_config: ProxyConfig | None = None
    # Accepted from Bifrost configs; not used by this gateway.
    send_back_raw_request: bool = False
    send_back_raw_response: bool = False
    store_raw_request_response: bool = False
    openai_config: dict[str, Any] | None = None
    pricing_overrides: list[dict[str, Any]] | None = None


def provider_type(name: str, config: ProviderConfig) -> str:
    """The implementation serving provider ``name``: itself when standard, else its base type."""
    if name in STANDARD_PROVIDERS or config.custom_provider_config is None:
        return name
    return config.custom_provider_config.base_provider_type


def is_keyless(name: str, config: ProviderConfig) -> bool:
    """Requests to this provider may go without a key."""
    custom = config.custom_provider_config
    return name in KEYLESS_PROVIDERS or (custom is not None and custom.is_key_less)


def _provider_model(value: str) -> str:
    provider, _, model = value.partition("/")
    if not provider or not model:
        raise ValueError(f"{value!r} is not in 'provider/model' form (e.g. 'openai/gpt-4o-mini')")
    return value


#: A ``"provider/model"`` string.
ProviderModel = Annotated[str, AfterValidator(_provider_model)]


class RouteTarget(_Model):
    target: ProviderModel
    weight: float = Field(default=1.0, ge=0)


class RoutingConfig(_Model):
    """Model aliases with weighted targets (canary, cost split) and default fallbacks per model.

    Shorthands: an alias may be ``"provider/model"`` or a list of such strings; a fallback list may
    be a single string."""

    aliases: dict[str, list[RouteTarget]] = Field(default_factory=dict)
    fallbacks: dict[str, list[ProviderModel]] = Field(default_factory=dict)
    cooldown_seconds: float = Field(default=30.0, ge=0)
    cooldown_failures: int = Field(default=3, ge=1)

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {alias: _targets(spec) for alias, spec in value.items()}

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _fallback_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {model: [spec] if isinstance(spec, str) else spec for model, spec in value.items()}


def _targets(spec: Any) -> Any:
    if isinstance(spec, str):
        return [{"target": spec}]
    if isinstance(spec, dict):
        return [spec]
    if isinstance(spec, list):
        return [{"target": item} if isinstance(item, str) else item for item in spec]
    return spec


#: Bifrost ``client`` fields accepted for compatibility and ignored here.
IGNORED_CLIENT_FIELDS = frozenset(
    {
        "initial_pool_size", "disable_content_logging",
        "disable_db_pings_in_health", "log_retention_days",
        "allow_direct_keys", "enable_litellm_fallbacks",
        "header_filter_config", "async_job_result_ttl", "logging_headers",
        "hide_deleted_virtual_keys_in_filters", "whitelisted_routes",
        "mcp_code_mode_binding_level", "mcp_enable_temp_token_auth", "mcp_external_client_url",
        "mcp_server_auth_mode", "oauth2_server_config", "routing_chain_max_depth", "compat",
        "allow_per_request_content_storage_override", "allow_per_request_raw_override",
        "dump_errors_in_console_logs", "webhook_config", "dual_credential_conflict_behavior",
        "enable_governance",
    }
)  # fmt: skip


class ClientConfig(_Model):
    drop_excess_requests: bool = False
    prometheus_labels: list[str] = Field(default_factory=list)
    max_request_body_size_mb: float = Field(default=100.0, gt=0)
    enable_logging: bool = True
    log_json: bool = False
    log_content: bool = False
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Upstream HTTP client: "auto" = aiohttp when installed (fastest measured), else httpx.
    # An httpx-style ``transport=`` passed to bifrost_app() always uses httpx.
    upstream_client: Literal["auto", "aiohttp", "httpx"] = "auto"
    # What an upstream may send: a whole (decompressed) non-streamed body or error body, one SSE
    # event of a stream, and how many times larger than on the wire a compressed body may get.
    max_upstream_response_size_mb: float = Field(default=128.0, gt=0)
    max_stream_event_size_mb: float = Field(default=16.0, gt=0)
    max_decompression_ratio: float = Field(default=200.0, gt=1)
    # A streaming client that accepts no bytes for this long is treated as gone (frees its slot).
    stream_write_timeout_seconds: float = Field(default=60.0, gt=0)
    # Connection limits applied by the server the CLI starts (see serving.py; README "Connection limits").
    header_read_timeout_seconds: float = Field(default=10.0, gt=0)
    keep_alive_timeout_seconds: float = Field(default=5.0, gt=0)
    max_header_size_kb: float = Field(default=32.0, gt=0)
    max_connections: int = Field(default=2048, ge=1)
    # Access control (governance/): a virtual key is required on inference routes when true.
    enforce_auth_on_inference: bool = False
    #: Browser origins allowed by CORS (none by default; "*" allows any origin without credentials).
    allowed_origins: list[str] = Field(default_factory=list)
    allowed_headers: list[str] = Field(default_factory=list)
    #: Request headers every inference request must carry (400 ``missing_required_headers``).
    required_headers: list[str] = Field(default_factory=list)
    #: Enables the management API under /api/governance/ and guards it (also ``BIFROST_ADMIN_TOKEN``).
    admin_token: SecretStr | None = None
    # Stored Responses (``store: true``) live this long (OpenAI keeps them 30 days).
    responses_ttl_seconds: float = Field(default=30 * 24 * 3600.0, gt=0)
    # When set ("env.NAME" works), /metrics and /health/ready need "Authorization: Bearer <token>";
    # /health stays open for load-balancer probes.
    operations_token: SecretStr | None = None

    @field_validator("operations_token", mode="before")
    @classmethod
    def _token_env(cls, value: Any, info: ValidationInfo) -> Any:
        resolved = _secret_input(value, info)[0]
        return resolved or None

    @model_validator(mode="before")
    @classmethod
    def _drop_bifrost_only(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k not in IGNORED_CLIENT_FIELDS}
        for alias in ("enforce_governance_header", "enforce_scim_auth"):
            if alias in data:
                value = data.pop(alias)
                logger.warning("client.%s is deprecated: use client.enforce_auth_on_inference", alias)
                if value is True:
                    data.setdefault("enforce_auth_on_inference", True)
        if "admin_token" in data:
            data["admin_token"] = _secret_input(data["admin_token"], info)[0] or None
        return data


class ConfigProblem(NamedTuple):
    """A rule violation found after field validation: where, what, and how to fix it."""

    path: str
    message: str
    fix: str


def settings_problems(settings: SettingsModel) -> list[ConfigProblem]:
    """Cross-field rules: provider names, keys, and that routing targets name configured providers."""
    problems = [p for name, cfg in settings.providers.items() for p in _provider_problems(name, cfg)]
    gov = governance_problems(settings.governance, settings.providers)
    problems += [ConfigProblem(*p) for p in gov]
    routing = settings.routing
    targets = [(f"routing.aliases.{a}", t.target) for a, ts in routing.aliases.items() for t in ts]
    targets += [(f"routing.fallbacks.{m}", t) for m, chain in routing.fallbacks.items() for t in chain]
    for path, target in targets:
        provider = target.split("/", 1)[0]
        if provider not in settings.providers:
            configured = ", ".join(sorted(settings.providers)) or "none"
            problems.append(
                ConfigProblem(
                    path,
                    f"target {target!r} names provider {provider!r}, which is not configured "
                    f"(configured: {configured})",
                    f'add "{provider}" under "providers", or point the target at a configured provider',
                )
            )
    return problems


def _provider_problems(name: str, config: ProviderConfig) -> list[ConfigProblem]:
    path = f"providers.{name}"
    if name not in STANDARD_PROVIDERS:
        missing = [
            field
            for field, value in (
                ("custom_provider_config.base_provider_type", config.custom_provider_config),
                ("network_config.base_url", config.network_config.base_url),
            )
            if value is None
        ]
        if missing:
            return [_unknown_provider(name, path, missing)]
    if not config.keys and not is_keyless(name, config):
        env = PROVIDER_KEY_ENV.get(name, (f"{name.upper().replace('-', '_')}_API_KEY",))[0]
        fix = f'add a key, e.g. "keys": [{{"value": "env.{env}", "weight": 1.0}}], and set {env}'
        if name not in STANDARD_PROVIDERS:
            fix += '; a server without auth can set "is_key_less": true in custom_provider_config'
        return [ConfigProblem(f"{path}.keys", f"provider {name!r} has no keys; it needs at least one", fix)]
    return []


def _unknown_provider(name: str, path: str, missing: list[str]) -> ConfigProblem:
    if name in UNSUPPORTED_BIFROST_PROVIDERS:
        message = f"{name!r} is a Bifrost provider that bifrost-asgi does not implement"
    elif name.lower() in STANDARD_PROVIDERS:
        message = f"unknown provider {name!r}: provider names are lower-case (did you mean {name.lower()!r}?)"
    else:
        message = (
            f"{name!r} is not a standard provider, so it must be a custom provider, "
            f"which needs {' and '.join(missing)} (missing)"
        )
    fix = (
        'for a custom provider add "custom_provider_config": {"base_provider_type": "openai"} (or '
        '"anthropic" / "gemini": the API format the server speaks) and "network_config": {"base_url": '
        f'"https://your-server"}}; standard providers: {", ".join(sorted(STANDARD_PROVIDERS))}'
    )
    if name.lower() in STANDARD_PROVIDERS:
        fix = f'rename it to "{name.lower()}"'
    return ConfigProblem(path, message, fix)


class SettingsModel(_Model):
    """The validated shape of all settings, without environment sources (``BifrostSettings`` adds
    them). ``config_file.load_settings`` validates this with a context, then builds the settings."""

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    client: ClientConfig = Field(default_factory=ClientConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    mcp: MCPConfig = Field(default_factory=MCPConfig)
    #: Virtual keys, budgets, rate limits (Bifrost's section; see governance/).
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    #: Bifrost's config version: 2 (default) = an empty allow-list denies; 1 = an empty list allows.
    version: Literal[1, 2] = 2
    #: The management API token (``BIFROST_ADMIN_TOKEN``); same as ``client.admin_token``.
    admin_token: SecretStr | None = None
    #: Shared state for all replicas (``BIFROST_REDIS_URL``): ``redis://[:password@]host:6379/0``.
    redis_url: SecretStr | None = None
    config: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("providers", mode="before")
    @classmethod
    def _default_keys(cls, value: Any, info: ValidationInfo) -> Any:
        """A known vendor configured without a ``keys`` field uses its usual variable
        (``OPENAI_API_KEY``...), so tuning-only snippets such as ``{"openai": {"network_config": ...}}`` work."""
        if not isinstance(value, dict):
            return value
        environ = _environ(info)
        out = dict(value)
        for name, cfg in value.items():
            if isinstance(cfg, dict) and "keys" not in cfg and name in PROVIDER_KEY_ENV:
                names = PROVIDER_KEY_ENV[name]
                var = next((n for n in names if environ.get(n)), names[0])
                out[name] = {**cfg, "keys": [{"value": f"env.{var}"}]}
        return out

    @model_validator(mode="before")
    @classmethod
    def _deprecated_mcp_fields(cls, data: Any) -> Any:
        return move_deprecated_client_fields(data)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> SettingsModel:
        problems = settings_problems(self)
        ctx = _context(info)
        sink = ctx.get("problems") if ctx else None
        if isinstance(sink, list):
            sink.extend(problems)
        elif problems:
            first = problems[0]
            raise PydanticCustomError(
                "bifrost_config",
                "{path}: {problem} (fix: {fix})",
                {"path": first.path, "problem": first.message, "fix": first.fix},
            )
        return self


class BifrostSettings(BaseSettings, SettingsModel):
    """All gateway settings. Construct directly (keyword arguments, then ``BIFROST_*`` variables), or
    via ``config_file.load_settings(config=...)`` to read a config.json as well."""

    model_config = SettingsConfigDict(
        env_prefix="BIFROST_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        populate_by_name=True,
    )

    @classmethod
    def from_model(cls, model: SettingsModel) -> BifrostSettings:
        """Wrap an already validated ``SettingsModel`` without re-reading the environment."""
        values = {name: getattr(model, name) for name in SettingsModel.model_fields}
        return cls.model_construct(_fields_set=set(model.model_fields_set), **values)

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
