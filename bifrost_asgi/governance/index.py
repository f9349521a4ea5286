"""Lookups built once per governance document: virtual keys by hashed value, and for each
(key, provider, model) the ordered list of limits that apply, in Bifrost's evaluation order:

global provider rate limit, provider budget, global model-config rate limit and budgets; then for a
key: its provider config's rate limit, the key's rate limit, the provider config's budgets, the key's,
its team's and its customer's budgets, the key-scoped model configs, the team's and the customer's
rate limits. The first limit that does not fit is the one reported.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

from .config import (
    VK_PREFIX,
    BudgetConfig,
    BudgetLine,
    GovernanceConfig,
    ModelConfig,
    RateLimitConfig,
    VirtualKeyConfig,
    VirtualKeyProviderConfig,
)
from .counters import NANO, Unit
from .identity import AuthenticatedKey


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """A limit without its window (computed at admission from the clock)."""

    key: str
    maximum: int
    duration: str
    calendar: bool
    unit: Unit
    owner: str
    limit_id: str

    @property
    def kind(self) -> str:
        return "budget" if self.unit == "dollars" else "rate_limit"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    config: VirtualKeyConfig
    digest: bytes
    legacy: bool  # value without the sk-bf- prefix: accepted only from x-bf-vk
    key: AuthenticatedKey  # what a request authenticated with it carries
    expires_at: float | None  # vk.expires_at as a Unix timestamp


def _entry(vk: VirtualKeyConfig, d: bytes, legacy: bool) -> KeyEntry:
    moment = vk.expires_at
    expires = None if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return KeyEntry(vk, d, legacy, AuthenticatedKey.of(vk), expires)


class Index:
    def __init__(self, gov: GovernanceConfig, *, version: int) -> None:
        self.gov = gov
        self.empty_denies = version >= 2
        self.keys: dict[bytes, KeyEntry] = {}
        for vk in gov.virtual_keys:
            value = vk.value.get_secret_value()
            if value:
                d = digest(value)
                self.keys[d] = _entry(vk, d, not value.startswith(VK_PREFIX))
            elif vk.value_sha256:
                d = bytes.fromhex(vk.value_sha256)
                self.keys[d] = _entry(vk, d, not vk.value_prefixed)
        # Keys found, by the value presented: each is hashed once. At most one value per key (its
        # digest's preimage), so bounded by ``keys``; never in a log, a metric, an error or a repr.
        self._found: dict[str, KeyEntry] = {}
        self.vks = {vk.id: vk for vk in gov.virtual_keys}
        self.rate_limits = {r.id: r for r in gov.rate_limits}
        self.budgets = {b.id: b for b in gov.budgets}
        self.teams = {t.id: t for t in gov.teams}
        self.customers = {c.id: c for c in gov.customers}
        self.providers = {p.name: p for p in gov.providers}
        self._owned: dict[tuple[str, str], list[BudgetConfig]] = {}
        for budget in gov.budgets:
            for field, owner in budget.owners():
                self._owned.setdefault((field, owner), []).append(budget)
        self._limits: dict[tuple[str | None, str, str], tuple[LimitSpec, ...]] = {}

    def find(self, value: str) -> KeyEntry | None:
        """The key whose value is ``value`` (compared by SHA-256 digest, in constant time), or None."""
        entry = self._found.get(value)
        if entry is None:
            d = digest(value)
            entry = self.keys.get(d)
            if entry is None or not hmac.compare_digest(entry.digest, d):
                return None
            self._found[value] = entry
        return entry

    # ------------------------------------------------------------------ access rules

    def provider_config(self, vk: VirtualKeyConfig, provider: str) -> VirtualKeyProviderConfig | None:
        for pc in vk.provider_configs:
            if pc.provider == provider:
                return pc
        return None

    def provider_allowed(self, vk: VirtualKeyConfig, provider: str) -> bool:
        if vk.allow_all_providers or self.provider_config(vk, provider) is not None:
            return True
        return not vk.provider_configs and not self.empty_denies

    def model_allowed(self, pc: VirtualKeyProviderConfig | None, model: str) -> bool:
        if pc is None:
            return True
        if _matches(pc.blacklisted_models, model):
            return False
        if not pc.allowed_models:
            return not self.empty_denies
        return "*" in pc.allowed_models or _matches(pc.allowed_models, model)

    # ------------------------------------------------------------------ limits

    def limits(self, vk: VirtualKeyConfig | None, provider: str, model: str) -> tuple[LimitSpec, ...]:
        cache_key = (vk.id if vk else None, provider, model)
        found = self._limits.get(cache_key)
        if found is None:
            if len(self._limits) > 10_000:
                self._limits.clear()
            unique: dict[str, LimitSpec] = {}
            for spec in self._collect(vk, provider, model):
                unique.setdefault(spec.key, spec)  # a budget reached two ways counts once
            found = self._limits[cache_key] = tuple(unique.values())
        return found

    def _collect(self, vk: VirtualKeyConfig | None, provider: str, model: str) -> Iterator[LimitSpec]:
        gp = self.providers.get(provider)
        if gp is not None:
            yield from self._rate_limit(gp.rate_limit_id, f"provider '{provider}'", gp.calendar_aligned)
            yield from self._budget_ids([gp.budget_id], f"provider '{provider}'", gp.calendar_aligned)
        for mc in self.gov.model_configs:
            if mc.scope == "global" and _model_config_applies(mc, provider, model):
                yield from self._model_config(mc)
        if vk is None:
            return
        owner = f"virtual key '{vk.name}'"
        pc = self.provider_config(vk, provider)
        if pc is not None:
            yield from self._rate_limit(pc.rate_limit_id, f"{owner} provider '{provider}'", vk.calendar_aligned)
        yield from self._rate_limit(vk.rate_limit_id, owner, vk.calendar_aligned)
        if pc is not None:
            yield from self._lines(pc.budgets, f"{owner} provider '{provider}'", vk.calendar_aligned)
            if pc.id is not None:
                yield from self._owned_budgets(
                    "provider_config_id", str(pc.id), f"{owner} provider '{provider}'", vk.calendar_aligned
                )
        yield from self._owned_budgets("virtual_key_id", vk.id, owner, vk.calendar_aligned)
        team = self.teams.get(vk.team_id) if vk.team_id else None
        customer_id = vk.customer_id or (team.customer_id if team else None)
        customer = self.customers.get(customer_id) if customer_id else None
        if team is not None:
            label = f"team '{team.name}'"
            yield from self._budget_ids([team.budget_id], label, team.calendar_aligned)
            yield from self._owned_budgets("team_id", team.id, label, team.calendar_aligned)
        if customer is not None:
            label = f"customer '{customer.name}'"
            yield from self._lines(customer.budgets, label, customer.calendar_aligned)
            yield from self._budget_ids([customer.budget_id], label, customer.calendar_aligned)
            yield from self._owned_budgets("customer_id", customer.id, label, customer.calendar_aligned)
        for mc in self.gov.model_configs:
            if mc.scope == "virtual_key" and mc.scope_id == vk.id and _model_config_applies(mc, provider, model):
                yield from self._model_config(mc)
        if team is not None:
            yield from self._rate_limit(team.rate_limit_id, f"team '{team.name}'", team.calendar_aligned)
        if customer is not None:
            yield from self._rate_limit(
                customer.rate_limit_id, f"customer '{customer.name}'", customer.calendar_aligned
            )

    def _model_config(self, mc: ModelConfig) -> Iterator[LimitSpec]:
        label = f"model '{mc.model_name}'"
        yield from self._rate_limit(mc.rate_limit_id, label, mc.calendar_aligned)
        yield from self._budget_ids([*mc.budget_ids, mc.budget_id], label, mc.calendar_aligned)
        yield from self._owned_budgets("model_config_id", mc.id, label, mc.calendar_aligned)

    def _rate_limit(self, rl_id: str | None, owner: str, calendar: bool) -> Iterator[LimitSpec]:
        rl: RateLimitConfig | None = self.rate_limits.get(rl_id) if rl_id else None
        if rl is None:
            return
        aligned = calendar or bool(rl.calendar_aligned)
        if rl.request_max_limit is not None and rl.request_reset_duration:
            yield LimitSpec(
                f"{{rl:{rl.id}}}:req",
                rl.request_max_limit,
                rl.request_reset_duration,
                aligned,
                "requests",
                owner,
                rl.id,
            )
        if rl.token_max_limit is not None and rl.token_reset_duration:
            yield LimitSpec(
                f"{{rl:{rl.id}}}:tok", rl.token_max_limit, rl.token_reset_duration, aligned, "tokens", owner, rl.id
            )

    def _budget_ids(self, ids: list[str | None], owner: str, calendar: bool) -> Iterator[LimitSpec]:
        for budget_id in ids:
            budget = self.budgets.get(budget_id) if budget_id else None
            if budget is not None:
                yield _budget_spec(
                    budget.id, budget.max_limit, budget.reset_duration, calendar or bool(budget.calendar_aligned), owner
                )

    def _owned_budgets(self, field: str, owner_id: str, owner: str, calendar: bool) -> Iterator[LimitSpec]:
        for budget in self._owned.get((field, owner_id), ()):
            yield _budget_spec(
                budget.id, budget.max_limit, budget.reset_duration, calendar or bool(budget.calendar_aligned), owner
            )

    def _lines(self, lines: list[BudgetLine], owner: str, calendar: bool) -> Iterator[LimitSpec]:
        for line in lines:
            yield _budget_spec(
                line.id, line.max_limit, line.reset_duration, calendar or bool(line.calendar_aligned), owner
            )


def _budget_spec(budget_id: str, max_limit: float, duration: str, calendar: bool, owner: str) -> LimitSpec:
    return LimitSpec(
        f"{{budget:{budget_id}}}", round(max_limit * NANO), duration, calendar, "dollars", owner, budget_id
    )


def _model_config_applies(mc: ModelConfig, provider: str, model: str) -> bool:
    if mc.provider is not None and mc.provider != provider:
        return False
    return mc.model_name in (model, f"{provider}/{model}")


def _matches(patterns: list[str], model: str) -> bool:
    for pattern in patterns:
        if pattern.startswith("regex:"):
            if re.fullmatch(pattern[6:], model):
                return True
        elif pattern == model or pattern == "*":
            return True
    return False
