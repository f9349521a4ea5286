"""The ``governance`` section of config.json, in Bifrost's current (v1.5+) shape, accepted as-is.

Budgets and rate limits are top-level arrays with ids; owners point at them (``rate_limit_id``,
``budget_id``) or are pointed at from the budget (``virtual_key_id``, ``team_id``...). Cross-field
rules (a missing owner, ``"*"`` mixed with names, ``team_id`` together with ``customer_id``) are
reported by ``governance_problems`` at start, each naming the field and the fix.

This module imports nothing of the gateway at import time: ``config/settings.py`` embeds
``GovernanceConfig`` in the settings model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

#: The prefix of generated virtual-key values; values without it work only in ``x-bf-vk``.
VK_PREFIX = "sk-bf-"

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|M|Q|Y)$")


def check_reset_duration(value: str) -> str:
    if not isinstance(value, str) or not _DURATION.match(value.strip()):
        raise ValueError(
            f"{value!r} is not a reset duration: use a number and a unit, e.g. '30s', '5m', '1h', '1d', "
            "'1w', '1M' (month), '1Q' (quarter) or '1Y'"
        )
    return value.strip()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _secret(value: Any, info: ValidationInfo) -> Any:
    # Imported here: config.settings imports this module while it is being initialised.
    from ..config.values import _secret_input

    return _secret_input(value, info)[0]


class BudgetConfig(_Model):
    id: str
    max_limit: float = Field(ge=0)
    reset_duration: str
    current_usage: float = Field(default=0.0, ge=0)
    last_reset: str | None = None
    virtual_key_id: str | None = None
    provider_config_id: int | None = None
    model_config_id: str | None = None
    customer_id: str | None = None
    team_id: str | None = None
    calendar_aligned: bool | None = None  # deprecated here: set it on the owner
    description: str | None = None

    @field_validator("reset_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_reset_duration(value)

    def owners(self) -> list[tuple[str, str]]:
        fields = ("virtual_key_id", "provider_config_id", "model_config_id", "customer_id", "team_id")
        return [(f, str(getattr(self, f))) for f in fields if getattr(self, f) is not None]


class RateLimitConfig(_Model):
    id: str
    token_max_limit: int | None = Field(default=None, ge=0)
    token_reset_duration: str | None = None
    token_current_usage: int = Field(default=0, ge=0)
    token_last_reset: str | None = None
    request_max_limit: int | None = Field(default=None, ge=0)
    request_reset_duration: str | None = None
    request_current_usage: int = Field(default=0, ge=0)
    request_last_reset: str | None = None
    calendar_aligned: bool | None = None  # deprecated here: set it on the owner
    description: str | None = None

    @field_validator("token_reset_duration", "request_reset_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else check_reset_duration(value)

    @model_validator(mode="after")
    def _pairs(self) -> RateLimitConfig:
        for unit in ("token", "request"):
            if getattr(self, f"{unit}_max_limit") is not None and getattr(self, f"{unit}_reset_duration") is None:
                raise ValueError(f"{unit}_max_limit needs {unit}_reset_duration (e.g. '1m')")
        return self


class BudgetLine(_Model):
    """An inline budget (customers' ``budgets`` and the management API)."""

    id: str
    max_limit: float = Field(ge=0)
    reset_duration: str
    calendar_aligned: bool | None = None
    current_usage: float = Field(default=0.0, ge=0)

    @field_validator("reset_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_reset_duration(value)


class CustomerConfig(_Model):
    id: str
    name: str
    description: str | None = None
    budgets: list[BudgetLine] = Field(default_factory=list)
    budget_id: str | None = None  # deprecated; forbidden alongside budgets
    rate_limit_id: str | None = None
    calendar_aligned: bool = False


class TeamConfig(_Model):
    id: str
    name: str
    description: str | None = None
    source_id: str | None = None
    customer_id: str | None = None
    budget_id: str | None = None
    rate_limit_id: str | None = None
    business_unit_id: str | None = None
    profile: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    calendar_aligned: bool = False


class VirtualKeyProviderConfig(_Model):
    id: int | None = None
    virtual_key_id: str | None = None
    provider: str
    weight: float | None = Field(default=1.0, ge=0)
    allowed_models: list[str] = Field(default_factory=list)
    blacklisted_models: list[str] = Field(default_factory=list)
    rate_limit_id: str | None = None
    key_ids: list[str] = Field(default_factory=lambda: ["*"])
    budgets: list[BudgetLine] = Field(default_factory=list)


class VirtualKeyMCPConfig(_Model):
    """Which tools of one MCP client a key may use (``tools_to_execute``: ``["*"]`` all, ``[]`` none
    in version 2). ``mcp_client_name`` is the config-file form of ``mcp_client_id``."""

    id: int | None = None
    virtual_key_id: str | None = None
    mcp_client_id: int | str | None = None
    mcp_client_name: str | None = None
    tools_to_execute: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named(self) -> VirtualKeyMCPConfig:
        if self.mcp_client_id is None and not self.mcp_client_name:
            raise ValueError("an MCP config needs mcp_client_name (or mcp_client_id)")
        return self


class VirtualKeyConfig(_Model):
    id: str
    name: str
    description: str | None = None
    value: SecretStr = SecretStr("")
    is_active: bool = True
    expires_at: datetime | None = None
    calendar_aligned: bool = False
    team_id: str | None = None
    customer_id: str | None = None
    access_profile_id: str | None = None
    rate_limit_id: str | None = None
    provider_configs: list[VirtualKeyProviderConfig] = Field(default_factory=list)
    mcp_configs: list[VirtualKeyMCPConfig] = Field(default_factory=list)
    allow_all_providers: bool = False
    disable_content_logging: bool | None = None
    # v1.4.x fields, ignored by Bifrost v1.5 (accepted so old files load; a warning names them).
    budget_id: str | None = None
    budget: dict[str, Any] | None = None
    # Set by validation: the variable ``value`` came from (never the value itself).
    env_var: str | None = None
    # In the shared store's document, which holds no values: the SHA-256 of the value (hex) and
    # whether it has the sk-bf- prefix.
    value_sha256: str | None = None
    value_prefixed: bool = True

    @model_validator(mode="before")
    @classmethod
    def _resolve_env(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), str | dict) and data.get("env_var") is None:
            raw = data["value"]
            if isinstance(raw, str) and raw.startswith("env."):
                data = {**data, "env_var": raw[4:]}
            data = {**data, "value": _secret(raw, info)}
        return data

    @field_validator("expires_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if isinstance(value, str) and value.endswith("Z"):
            return value[:-1] + "+00:00"
        return value


class ModelConfig(_Model):
    id: str
    model_name: str
    provider: str | None = None
    scope: Literal["global", "virtual_key"] = "global"
    scope_id: str | None = None
    budget_ids: list[str] = Field(default_factory=list)
    budget_id: str | None = None  # deprecated
    rate_limit_id: str | None = None
    calendar_aligned: bool = False


class GovernanceProvider(BaseModel):
    """Global limits for one provider (``governance.providers[]``); network overrides are accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    budget_id: str | None = None
    rate_limit_id: str | None = None
    calendar_aligned: bool = False


class PricingOverride(_Model):
    id: str | None = None
    name: str | None = None
    scope_kind: str = "global"
    virtual_key_id: str | None = None
    provider_id: str | None = None
    provider_key_name: str | None = None
    match_type: Literal["exact", "wildcard"] = "exact"
    pattern: str
    request_types: list[str] = Field(default_factory=list)
    pricing_patch: str | dict[str, Any]


class StoreConfig(_Model):
    """Where governance counters live. ``type`` "memory" (one process) or "redis" (all replicas on one
    Redis share one cap); ``url`` overrides ``redis_url`` for governance. ``on_unavailable``: refuse
    with 503 (``fail_closed``) or count locally with a warning and a metric (``fail_open``)."""

    type: Literal["memory", "redis", "auto"] = "auto"
    url: SecretStr | None = None
    on_unavailable: Literal["fail_closed", "fail_open"] = "fail_closed"
    reservation_ttl_seconds: float = Field(default=600.0, gt=0)
    sync_interval_seconds: float = Field(default=1.0, ge=0)

    @field_validator("url", mode="before")
    @classmethod
    def _env(cls, value: Any, info: ValidationInfo) -> Any:
        return _secret(value, info)


class GovernanceConfig(_Model):
    budgets: list[BudgetConfig] = Field(default_factory=list)
    rate_limits: list[RateLimitConfig] = Field(default_factory=list)
    customers: list[CustomerConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    virtual_keys: list[VirtualKeyConfig] = Field(default_factory=list)
    model_configs: list[ModelConfig] = Field(default_factory=list)
    providers: list[GovernanceProvider] = Field(default_factory=list)
    pricing_overrides: list[PricingOverride] = Field(default_factory=list)
    # Accepted from Bifrost configs; not enforced by this gateway.
    business_units: list[dict[str, Any]] = Field(default_factory=list)
    roles: list[dict[str, Any]] = Field(default_factory=list)
    routing_rules: list[dict[str, Any]] = Field(default_factory=list)
    auth_config: dict[str, Any] | None = None
    complexity_analyzer_config: dict[str, Any] | None = None
    # This gateway's own settings.
    store: StoreConfig = Field(default_factory=StoreConfig)
    #: A LiteLLM-format price file (``model_prices_and_context_window.json`` shape) merged over the table.
    pricing_file: str | None = None
    #: Output tokens reserved for a request without ``max_tokens`` (capped by the model's own maximum).
    default_output_tokens: int = Field(default=4096, ge=1)

    @field_validator("store", mode="before")
    @classmethod
    def _store_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": "memory"} if value == "memory" else {"type": "redis", "url": value}
        return value

    @property
    def configured(self) -> bool:
        """Anything to enforce: keys, or global limits that apply without a key."""
        return bool(self.virtual_keys or self.providers or self.model_configs)


Problem = tuple[str, str, str]  # (path, message, fix)


def governance_problems(gov: GovernanceConfig, providers: Iterable[str]) -> list[Problem]:
    """Cross-field rules of the section: every reference resolves, owners are unambiguous, lists are valid."""
    problems: list[Problem] = []
    providers = set(providers)
    ids = _Ids(gov)
    problems += ids.duplicates()
    for rl_owner_path, rl_id in _rate_limit_refs(gov):
        if rl_id not in ids.rate_limits:
            problems.append(_missing(rl_owner_path, "rate_limit_id", rl_id, "rate_limits"))
    for i, budget in enumerate(gov.budgets):
        path = f"governance.budgets[{i}]"
        owners = budget.owners()
        referenced = budget.id in ids.referenced_budgets
        if len(owners) > 1:
            names = ", ".join(f for f, _ in owners)
            problems.append(
                (path, f"budget {budget.id!r} names several owners ({names})", "keep exactly one owner field")
            )
        if not owners and not referenced:
            problems.append(
                (
                    path,
                    f"budget {budget.id!r} has no owner",
                    "set virtual_key_id, team_id, customer_id, "
                    "model_config_id or provider_config_id, or reference it with budget_id",
                )
            )
        for field, owner in owners:
            table = {
                "virtual_key_id": ids.vks,
                "team_id": ids.teams,
                "customer_id": ids.customers,
                "model_config_id": ids.model_configs,
                "provider_config_id": ids.provider_configs,
            }[field]
            if owner not in table:
                problems.append(_missing(path, field, owner, field.replace("_id", "s")))
    for path, budget_id in _budget_refs(gov):
        if budget_id not in ids.budgets:
            problems.append(
                (
                    path,
                    f"budget {budget_id!r} does not exist",
                    f'add {{"id": "{budget_id}", ...}} to governance.budgets or fix the reference',
                )
            )
    for i, team in enumerate(gov.teams):
        if team.customer_id is not None and team.customer_id not in ids.customers:
            problems.append(_missing(f"governance.teams[{i}]", "customer_id", team.customer_id, "customers"))
    for i, customer in enumerate(gov.customers):
        if customer.budgets and customer.budget_id:
            problems.append(
                (
                    f"governance.customers[{i}].budget_id",
                    "budget_id is deprecated and may not be combined with budgets",
                    "move the budget into budgets",
                )
            )
    for i, vk in enumerate(gov.virtual_keys):
        problems += _vk_problems(vk, i, ids, providers)
    for i, mc in enumerate(gov.model_configs):
        path = f"governance.model_configs[{i}]"
        if mc.scope == "virtual_key" and mc.scope_id not in ids.vks:
            problems.append(
                (
                    f"{path}.scope_id",
                    f"scope virtual_key needs scope_id naming a virtual key, got {mc.scope_id!r}",
                    "set scope_id to a virtual_keys[].id",
                )
            )
        if mc.provider is not None and mc.provider not in providers:
            problems.append(_unknown_provider(f"{path}.provider", mc.provider, providers))
    for i, gp in enumerate(gov.providers):
        if gp.name not in providers:
            problems.append(_unknown_provider(f"governance.providers[{i}].name", gp.name, providers))
    return problems + list(_list_problems(gov))


def _vk_problems(vk: VirtualKeyConfig, i: int, ids: _Ids, providers: set[str]) -> list[Problem]:
    path = f"governance.virtual_keys[{i}]"
    problems: list[Problem] = []
    if not vk.value.get_secret_value() and not vk.value_sha256 and not vk.env_var:
        # An unset env. variable is only warned about (the key cannot be used until it is set).
        fix = f'set "value": "env.BIFROST_VK_{vk.id.upper().replace("-", "_")}" (a value starting with {VK_PREFIX})'
        problems.append((f"{path}.value", f"virtual key {vk.id!r} has no value", fix))
    if vk.team_id is not None and vk.customer_id is not None:
        problems.append(
            (path, "team_id and customer_id are exclusive", "keep one; a team already belongs to its customer")
        )
    if vk.team_id is not None and vk.team_id not in ids.teams:
        problems.append(_missing(path, "team_id", vk.team_id, "teams"))
    if vk.customer_id is not None and vk.customer_id not in ids.customers:
        problems.append(_missing(path, "customer_id", vk.customer_id, "customers"))
    seen: set[str] = set()
    for j, pc in enumerate(vk.provider_configs):
        here = f"{path}.provider_configs[{j}]"
        if pc.provider not in providers:
            problems.append(_unknown_provider(f"{here}.provider", pc.provider, providers))
        if pc.provider in seen:
            problems.append((f"{here}.provider", f"provider {pc.provider!r} is configured twice", "merge the entries"))
        seen.add(pc.provider)
    return problems


def _list_problems(gov: GovernanceConfig) -> Iterator[Problem]:
    for i, vk in enumerate(gov.virtual_keys):
        for j, pc in enumerate(vk.provider_configs):
            for field in ("allowed_models", "blacklisted_models", "key_ids"):
                message = allow_list_problem(getattr(pc, field))
                if message:
                    yield (
                        f"governance.virtual_keys[{i}].provider_configs[{j}].{field}",
                        message,
                        'use ["*"] alone for everything, or list each name once',
                    )
        for j, mcp in enumerate(vk.mcp_configs):
            message = allow_list_problem(mcp.tools_to_execute)
            if message:
                yield (
                    f"governance.virtual_keys[{i}].mcp_configs[{j}].tools_to_execute",
                    message,
                    'use ["*"] alone for every tool, or list each tool once',
                )


def allow_list_problem(values: Sequence[str]) -> str | None:
    if "*" in values and len(values) > 1:
        return '"*" may not be mixed with other entries'
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        return f"duplicate entries: {', '.join(dupes)}"
    for value in values:
        if value.startswith("regex:"):
            try:
                re.compile(value[6:])
            except re.error as exc:
                return f"{value!r} is not a valid regular expression ({exc})"
    return None


class _Ids:
    def __init__(self, gov: GovernanceConfig) -> None:
        self.gov = gov
        self.vks = {vk.id for vk in gov.virtual_keys}
        self.teams = {t.id for t in gov.teams}
        self.customers = {c.id for c in gov.customers}
        self.model_configs = {m.id for m in gov.model_configs}
        self.rate_limits = {r.id for r in gov.rate_limits}
        self.budgets = {b.id for b in gov.budgets}
        self.provider_configs = {
            str(pc.id) for vk in gov.virtual_keys for pc in vk.provider_configs if pc.id is not None
        }
        self.referenced_budgets = {budget_id for _, budget_id in _budget_refs(gov)}

    def duplicates(self) -> list[Problem]:
        out: list[Problem] = []
        g = self.gov
        tables: list[tuple[str, list[str]]] = [
            ("virtual_keys", [v.id for v in g.virtual_keys]),
            ("teams", [t.id for t in g.teams]),
            ("customers", [c.id for c in g.customers]),
            ("budgets", [b.id for b in g.budgets]),
            ("rate_limits", [r.id for r in g.rate_limits]),
            ("model_configs", [m.id for m in g.model_configs]),
        ]
        for name, values in tables:
            for dupe in sorted({v for v in values if values.count(v) > 1}):
                out.append((f"governance.{name}", f"id {dupe!r} is used twice", "give every entry its own id"))
        values = [v.value.get_secret_value() for v in g.virtual_keys if v.value.get_secret_value()]
        if len(values) != len(set(values)):
            out.append(
                ("governance.virtual_keys", "two virtual keys have the same value", "give each key its own value")
            )
        return out


def _rate_limit_refs(gov: GovernanceConfig) -> Iterator[tuple[str, str]]:
    tables: list[tuple[str, Sequence[BaseModel]]] = [
        ("virtual_keys", gov.virtual_keys),
        ("teams", gov.teams),
        ("customers", gov.customers),
        ("model_configs", gov.model_configs),
        ("providers", gov.providers),
    ]
    for name, items in tables:
        for i, item in enumerate(items):
            rl_id = getattr(item, "rate_limit_id", None)
            if rl_id is not None:
                yield f"governance.{name}[{i}]", rl_id
    for i, vk in enumerate(gov.virtual_keys):
        for j, pc in enumerate(vk.provider_configs):
            if pc.rate_limit_id is not None:
                yield f"governance.virtual_keys[{i}].provider_configs[{j}]", pc.rate_limit_id


def _budget_refs(gov: GovernanceConfig) -> Iterator[tuple[str, str]]:
    for name, items in (
        ("teams", gov.teams),
        ("customers", gov.customers),
        ("providers", gov.providers),
        ("model_configs", gov.model_configs),
    ):
        for i, item in enumerate(items):
            budget_id = getattr(item, "budget_id", None)
            if budget_id is not None:
                yield f"governance.{name}[{i}].budget_id", budget_id
    for i, mc in enumerate(gov.model_configs):
        for budget_id in mc.budget_ids:
            yield f"governance.model_configs[{i}].budget_ids", budget_id


def _missing(path: str, field: str, value: str, table: str) -> Problem:
    return (
        f"{path}.{field}",
        f"{field} {value!r} does not exist",
        f'add an entry with "id": "{value}" to governance.{table}, or fix the reference',
    )


def _unknown_provider(path: str, name: str, providers: set[str]) -> Problem:
    configured = ", ".join(sorted(providers)) or "none"
    return (
        path,
        f"provider {name!r} is not configured (configured: {configured})",
        f'add "{name}" under "providers" or name a configured provider',
    )
