"""Governance metrics, on the gateway's registry. Labels are bounded: virtual keys by name (at most
``MAX_KEYS`` distinct, then ``"other"``), budgets and rate limits by id; never a key's value.

==================================================== ======= =========================================
``bifrost_cost_usd_total``                           counter provider, model (every priced request)
``bifrost_virtual_key_requests_total``               counter virtual_key
``bifrost_virtual_key_tokens_total``                 counter virtual_key, direction (input/output)
``bifrost_virtual_key_cost_usd_total``               counter virtual_key
``bifrost_governance_rejections_total``              counter virtual_key ("none" without a key), reason
``bifrost_budget_used_usd``                          gauge   budget (settled usage in the window)
``bifrost_rate_limit_used``                          gauge   rate_limit, unit (requests/tokens)
``bifrost_governance_store_errors_total``            counter mode (fail_closed/fail_open)
==================================================== ======= =========================================

The usage gauges carry the shared store's value after this replica's last settlement (with Redis,
the total over all replicas; scrape any replica, or take the max).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase

from ..observability.metrics import bound_counter, bound_gauge, fork_count

MAX_KEYS = 500
MAX_LIMITS = 2000


class _Bounded:
    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


class KeyCells:
    """One virtual key's counters, as admission and settlement write them: ``admitted(1)``,
    ``input(n)``, ``output(n)``, ``cost(usd)``. Each is bound to its value cell at its first write
    (so a series appears when first counted, as with ``labels(...).inc()``), then written directly."""

    __slots__ = ("_label", "_metrics", "admitted", "cost", "input", "output")

    def __init__(self, metrics: GovernanceMetrics, label: str) -> None:
        self._metrics = metrics
        self._label = label
        self.admitted: Callable[[float], None] = self._binder("admitted", metrics.vk_requests, label)
        self.input: Callable[[float], None] = self._binder("input", metrics.vk_tokens, label, "input")
        self.output: Callable[[float], None] = self._binder("output", metrics.vk_tokens, label, "output")
        self.cost: Callable[[float], None] = self._binder("cost", metrics.vk_cost, label)

    def _binder(self, attr: str, metric: Counter, *labels: str) -> Callable[[float], None]:
        def first(amount: float) -> None:
            cell = bound_counter(self._metrics._child(metric, *labels), self._metrics.forks)
            setattr(self, attr, cell)
            cell(amount)

        return first


class GovernanceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Label children by (metric, label values): ``labels()`` walks and locks on every call. The
        # per-request ones (a key's counters, a limit's gauge) are bound to their value cells once,
        # as the gateway's own metrics are. Bounded: every label value is bounded above.
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}
        self.forks = fork_count()  # the bound cells' fork check in multiprocess mode
        self._key = _Bounded(MAX_KEYS)
        self._limit = _Bounded(MAX_LIMITS)
        self._models = _Bounded(MAX_LIMITS)
        self._cost_incs: dict[tuple[str, str], Callable[[float], None]] = {}
        self._keys: dict[str, KeyCells] = {}  # by key name: at most 2 * MAX_KEYS
        self._keys_by_label: dict[str, KeyCells] = {}  # at most MAX_KEYS + 1
        self._gauges: dict[tuple[str, str, str], Callable[[float], None]] = {}  # at most MAX_LIMITS entries
        self.cost = Counter(
            "bifrost_cost_usd", "Cost of priced requests in USD", ["provider", "model"], registry=registry
        )
        self.vk_requests = Counter(
            "bifrost_virtual_key_requests", "Requests admitted per virtual key", ["virtual_key"], registry=registry
        )
        self.vk_tokens = Counter(
            "bifrost_virtual_key_tokens", "Tokens per virtual key", ["virtual_key", "direction"], registry=registry
        )
        self.vk_cost = Counter(
            "bifrost_virtual_key_cost_usd", "Cost per virtual key in USD", ["virtual_key"], registry=registry
        )
        self.rejections = Counter(
            "bifrost_governance_rejections",
            "Requests refused by governance",
            ["virtual_key", "reason"],
            registry=registry,
        )
        self.budget_used = Gauge(
            "bifrost_budget_used_usd",
            "Settled budget usage in the current window (USD)",
            ["budget"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.rate_used = Gauge(
            "bifrost_rate_limit_used",
            "Settled rate-limit usage in the current window",
            ["rate_limit", "unit"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.store_errors = Counter(
            "bifrost_governance_store_errors", "Governance store unreachable", ["mode"], registry=registry
        )

    def _child(self, metric: MetricWrapperBase, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def add_cost(self, provider: str, model: str, usd: float) -> None:
        if usd > 0:
            inc = self._cost_incs.get((provider, model))
            if inc is None:  # once per (provider, model): the label guard and the child bound
                bounded = self._models(f"{provider}/{model}") != "other"
                inc = bound_counter(self._child(self.cost, provider, model if bounded else "other"), self.forks)
                if len(self._cost_incs) < MAX_LIMITS:
                    self._cost_incs[(provider, model)] = inc
            inc(usd)

    def key_cells(self, key_name: str) -> KeyCells:
        """The counters of the virtual key named ``key_name`` (labelled ``other`` past ``MAX_KEYS``)."""
        cells = self._keys.get(key_name)
        if cells is None:
            label = self._key(key_name)
            cells = self._keys_by_label.get(label)
            if cells is None:
                cells = self._keys_by_label[label] = KeyCells(self, label)
            if len(self._keys) < 2 * MAX_KEYS:
                self._keys[key_name] = cells
        return cells

    def admitted(self, key_name: str) -> None:
        self.key_cells(key_name).admitted(1.0)

    def billed(self, key_name: str, input_tokens: int, output_tokens: int, usd: float) -> None:
        cells = self.key_cells(key_name)
        if input_tokens > 0:
            cells.input(input_tokens)
        if output_tokens > 0:
            cells.output(output_tokens)
        if usd > 0:
            cells.cost(usd)

    def rejected(self, key_name: str | None, reason: str) -> None:
        self._child(self.rejections, self._key(key_name) if key_name else "none", reason).inc()

    def usage(self, kind: str, limit_id: str, unit: str, value: float) -> None:
        self.usage_cell(kind, limit_id, unit)(float(value))

    def usage_cell(self, kind: str, limit_id: str, unit: str) -> Callable[[float], None]:
        """The setter of a limit's usage gauge, bound once (``usage`` through it)."""
        found = self._gauges.get((kind, limit_id, unit))
        if found is None:
            label = self._limit(limit_id)
            if kind == "budget":
                found = bound_gauge(self._child(self.budget_used, label), self.forks)
            else:
                found = bound_gauge(self._child(self.rate_used, label, unit), self.forks)
            if len(self._gauges) < MAX_LIMITS:
                self._gauges[(kind, limit_id, unit)] = found
        return found

    def store_error(self, mode: str) -> None:
        self._child(self.store_errors, mode).inc()
