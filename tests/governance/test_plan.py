"""Admission plans, window rules and the key lookup remember answers of the general code; here they
are compared with it: the same access decision, limits, windows, price and key filter for every
(key, provider, model) of a config that has each kind of rule, and the same window as ``window()``
for any duration, alignment and sequence of clock readings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bifrost_asgi.governance.config import GovernanceConfig
from bifrost_asgi.governance.counters import Limit
from bifrost_asgi.governance.index import Index, LimitSpec, digest
from bifrost_asgi.governance.metrics import GovernanceMetrics
from bifrost_asgi.governance.plan import Plans
from bifrost_asgi.governance.pricing import PriceTable
from bifrost_asgi.governance.windows import WindowRule, window

T0 = 1_800_000_000_000  # ms
YEAR_MS = 366 * 86_400_000

CONFIG = {
    "rate_limits": [
        {"id": "rl-key", "request_max_limit": 10, "request_reset_duration": "1m",
         "token_max_limit": 1000, "token_reset_duration": "1h"},
        {"id": "rl-pc", "request_max_limit": 5, "request_reset_duration": "30s"},
        {"id": "rl-team", "token_max_limit": 99, "token_reset_duration": "1d", "calendar_aligned": True},
        {"id": "rl-provider", "request_max_limit": 100, "request_reset_duration": "1h"},
        {"id": "rl-model", "request_max_limit": 7, "request_reset_duration": "1w"},
    ],
    "budgets": [
        {"id": "b-key", "max_limit": 10, "reset_duration": "1M", "virtual_key_id": "vk-a"},
        {"id": "b-team", "max_limit": 50, "reset_duration": "1Q", "team_id": "team"},
        {"id": "b-customer", "max_limit": 80, "reset_duration": "1Y", "customer_id": "cust"},
        {"id": "b-provider", "max_limit": 500, "reset_duration": "2d"},
    ],
    "customers": [{"id": "cust", "name": "Cust", "calendar_aligned": True}],
    "teams": [{"id": "team", "name": "Team", "customer_id": "cust", "rate_limit_id": "rl-team"}],
    "providers": [{"name": "anthropic", "rate_limit_id": "rl-provider", "budget_id": "b-provider"}],
    "model_configs": [{"id": "mc", "model_name": "gpt-4o", "rate_limit_id": "rl-model"}],
    "virtual_keys": [
        {"id": "vk-a", "name": "a", "value": "sk-bf-plan-a", "rate_limit_id": "rl-key", "team_id": "team",
         "provider_configs": [
             {"provider": "openai", "allowed_models": ["gpt-4o-mini", "regex:gpt-4o.*"],
              "blacklisted_models": ["gpt-4o-audio"], "rate_limit_id": "rl-pc", "key_ids": ["k1"]},
             {"provider": "anthropic", "allowed_models": ["*"], "key_ids": ["*"]},
         ]},
        {"id": "vk-b", "name": "b", "value": "sk-bf-plan-b", "allow_all_providers": True},
        {"id": "vk-c", "name": "c", "value": "legacy-plan-c",
         "provider_configs": [{"provider": "openai", "allowed_models": []}]},
        {"id": "vk-d", "name": "d", "value": "sk-bf-plan-d"},
    ],
}  # fmt: skip
PROVIDERS = ("openai", "anthropic", "gemini")
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4o-audio", "claude-3-5-haiku-latest", "unpriced-model", "")


def reference_limit(spec: LimitSpec, now_ms: int) -> Limit:
    """A limit as admission built it before plans: every field from the spec, the window from the clock."""
    kind = "budget" if spec.unit == "dollars" else "rate_limit"
    return Limit(
        spec.key, spec.maximum, window(spec.duration, spec.calendar, now_ms), spec.unit, spec.owner,
        spec.limit_id, spec.duration, kind,
    )  # fmt: skip


def test_plans_give_what_the_index_and_prices_give() -> None:
    prices = PriceTable.load()
    for version in (1, 2):
        index = Index(GovernanceConfig.model_validate(CONFIG), version=version)
        plans = Plans(index, prices, GovernanceMetrics(CollectorRegistry()))
        for key_id in (None, "vk-a", "vk-b", "vk-c", "vk-d", "vk-deleted"):
            vk = index.vks.get(key_id) if key_id is not None else None
            for provider in PROVIDERS:
                for model in MODELS:
                    plan = plans.get(key_id, provider, model)
                    assert plans.get(key_id, provider, model) is plan  # remembered
                    allowed = vk is None or (
                        index.provider_allowed(vk, provider)
                        and index.model_allowed(index.provider_config(vk, provider), model)
                    )
                    assert plan.allowed == allowed, (key_id, provider, model)
                    specs = index.limits(vk, provider, model)
                    assert tuple(rule.spec for rule in plan.rules) == specs
                    price = prices.lookup(provider, model) if specs and model else None
                    assert plan.price == price
                    assert plan.unpriced == (price is None and any(s.unit == "dollars" for s in specs))
                    for now in (T0, T0 + 1, T0 + 86_400_000 * 40, T0 - YEAR_MS):
                        assert [rule.limit(now) for rule in plan.rules] == [reference_limit(s, now) for s in specs]
                if key_id is not None:
                    pc = index.provider_config(vk, provider) if vk is not None else None
                    if pc is None or "*" in pc.key_ids or (not pc.key_ids and not index.empty_denies):
                        assert plans.key_filter(key_id, provider) is None
                    else:
                        assert plans.key_filter(key_id, provider) == frozenset(pc.key_ids)


def test_plans_cover_each_kind_of_rule() -> None:
    """The config above exercises what the comparison is for: refusals, several limits, budgets, no price."""
    index = Index(GovernanceConfig.model_validate(CONFIG), version=2)
    plans = Plans(index, PriceTable.load(), GovernanceMetrics(CollectorRegistry()))
    assert not plans.get("vk-a", "openai", "gpt-4o-audio").allowed  # blacklisted
    assert not plans.get("vk-a", "gemini", "gpt-4o-mini").allowed  # provider not configured
    assert plans.get("vk-a", "openai", "gpt-4o").allowed  # by regex
    assert len(plans.get("vk-a", "openai", "gpt-4o").rules) >= 6
    assert plans.get("vk-a", "openai", "unpriced-model").unpriced
    assert plans.key_filter("vk-a", "openai") == frozenset({"k1"})


def test_find_is_the_digest_lookup() -> None:
    index = Index(GovernanceConfig.model_validate(CONFIG), version=2)
    for value in ("sk-bf-plan-a", "sk-bf-plan-b", "legacy-plan-c", "sk-bf-plan-d"):
        entry = index.keys[digest(value)]
        assert index.find(value) is entry
        assert index.find(value) is entry  # the second time from the value
        assert entry.key.id == entry.config.id and entry.legacy == (not value.startswith("sk-bf-"))
    for value in ("sk-bf-unknown", "", "sk-bf-plan-a ", "SK-BF-PLAN-A"):
        assert index.find(value) is None
        assert index.find(value) is None


durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 40), st.sampled_from("smhdwMQY"))
# Clock readings: a start anywhere from 1970 to 2100, then steps forward (inside and across periods)
# and now and then back (a wall clock set back).
steps = st.lists(st.one_of(st.integers(0, 3_600_000), st.integers(0, 40 * 86_400_000), st.integers(-86_400_000, 0)),
                 min_size=1, max_size=25)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(durations, st.booleans(), st.integers(0, 4_102_444_800_000), steps)
def test_window_rule_is_window(duration: str, calendar: bool, start: int, moves: list[int]) -> None:
    rule = WindowRule(duration, calendar)
    now = start
    for move in moves:
        now = max(0, now + move)
        assert rule.at(now) == window(duration, calendar, now)
