"""Admission plans: what admitting an attempt at (virtual key, provider, model) needs that neither the
clock nor the request changes, worked out once per governance document instead of on every attempt:
whether the key may use that provider and model, the limits that apply (in evaluation order) with
their window rules, and the model's price. ``Plans`` owns them (bounded) and is rebuilt with the
index; ``RequestGuard`` reads them. The access rules, limits and prices themselves stay in
``Index`` and ``PriceTable``: a plan only remembers their answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .counters import NANO, Lane, Limit
from .index import Index, LimitSpec
from .metrics import GovernanceMetrics, KeyCells
from .pricing import Price, PriceTable
from .windows import Window, WindowRule

MAX_PLANS = 10_000  # (key, provider, model) triples kept; past it the cache starts over


class Rule:
    """One limit of a plan: its spec, the rule of its window (``limit(now_ms)`` is the ``Limit``
    admission reserves on, as ``Limit(..., window(duration, calendar, now_ms), ...)``), and
    ``show(total)``, which sets its usage gauge after a settlement (bound at the first one)."""

    __slots__ = ("_metrics", "_windows", "kind", "show", "spec", "unit_index")

    def __init__(self, spec: LimitSpec, metrics: GovernanceMetrics) -> None:
        self.spec = spec
        self.kind: Literal["budget", "rate_limit"] = "budget" if spec.unit == "dollars" else "rate_limit"
        self._windows = WindowRule(spec.duration, spec.calendar)
        self._metrics = metrics
        self.unit_index = _UNIT_INDEX[spec.unit]  # which amount of a ``Lane`` menu this limit takes
        self.show: Callable[[int], None] = self._first_show

    @property
    def rolling_ms(self) -> int:
        """The length of a rolling window (ms), 0 for a calendar-aligned one."""
        return self._windows.length

    def limit(self, now_ms: int) -> Limit:
        s = self.spec
        length = self._windows.length  # a rolling window written out: WindowRule.at without the call
        w = Window(now_ms - length, now_ms, now_ms + length) if length else self._windows.at(now_ms)
        return Limit(s.key, s.maximum, w, s.unit, s.owner, s.limit_id, s.duration, self.kind)

    def _first_show(self, total: int) -> None:
        cell = self._metrics.usage_cell(self.kind, self.spec.limit_id, self.spec.unit)
        if self.spec.unit == "dollars":
            self.show = lambda used: cell(used / NANO)
        else:
            self.show = lambda used: cell(float(used))
        self.show(total)


_UNIT_INDEX = {"requests": 0, "tokens": 1, "dollars": 2}


@dataclass(slots=True, eq=False)
class Plan:
    allowed: bool  # False: the key may not use this provider or model (admission says why)
    rules: tuple[Rule, ...]
    price: Price | None  # None: unpriced, or no limit applies (not looked up)
    unpriced: bool  # a dollar budget applies and the model has no price
    rolling: bool = False  # every window rolling: in-process counters may serve it through a ``Lane``
    lane: Lane | None = None  # bound by admission at the first attempt (in-process counters only)
    # The key's metric cells (``GovernanceMetrics.key_cells`` of its name, which always answers the
    # same cells for a name): bound by admission at the first attempt with a key.
    cells: KeyCells | None = None

    def lane_rules(self) -> list[tuple[str, int, int, int]]:
        """What ``MemoryCounters.lane`` binds: (counter key, maximum, window length, unit index) per rule."""
        return [(r.spec.key, r.spec.maximum, r.rolling_ms, r.unit_index) for r in self.rules]


class Plans:
    """Plans by (authenticated key id or None, provider, model), for one index (bounded)."""

    def __init__(self, index: Index, prices: PriceTable, metrics: GovernanceMetrics) -> None:
        self._index = index
        self._prices = prices
        self._metrics = metrics
        self._plans: dict[tuple[str | None, str, str], Plan] = {}
        self._filters: dict[tuple[str, str], frozenset[str] | None] = {}

    def get(self, key_id: str | None, provider: str, model: str) -> Plan:
        cache_key = (key_id, provider, model)
        plan = self._plans.get(cache_key)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            plan = self._plans[cache_key] = self._build(key_id, provider, model)
        return plan

    def _build(self, key_id: str | None, provider: str, model: str) -> Plan:
        index = self._index
        vk = index.vks.get(key_id) if key_id is not None else None
        allowed = vk is None or (
            index.provider_allowed(vk, provider) and index.model_allowed(index.provider_config(vk, provider), model)
        )
        specs = index.limits(vk, provider, model)
        if not specs:
            return Plan(allowed, (), None, False)
        price = self._prices.lookup(provider, model) if model else None
        unpriced = price is None and any(s.unit == "dollars" for s in specs)
        rules = tuple(Rule(spec, self._metrics) for spec in specs)
        return Plan(allowed, rules, price, unpriced, all(rule.rolling_ms for rule in rules))

    def key_filter(self, key_id: str, provider: str) -> frozenset[str] | None:
        """``key_ids`` of the key's provider config: None for ``["*"]`` (or empty in version 1)."""
        cache_key = (key_id, provider)
        if cache_key in self._filters:
            return self._filters[cache_key]
        index = self._index
        vk = index.vks.get(key_id)
        pc = index.provider_config(vk, provider) if vk is not None else None
        if pc is None or "*" in pc.key_ids or (not pc.key_ids and not index.empty_denies):
            found = None
        else:
            found = frozenset(pc.key_ids)
        if len(self._filters) >= MAX_PLANS:
            self._filters.clear()
        self._filters[cache_key] = found
        return found
