"""Prometheus metrics, bound to a ``CollectorRegistry`` passed in (never the global ``REGISTRY``).

Every metric below lives on the registry given to ``Metrics(registry, custom_labels=...)``; nothing is
created at import time, so one process can build many apps (tests do). ``custom_labels`` come from
``client.prometheus_labels``; their values come from the ``x-bf-prom-<label>`` request headers ("" when
absent) and are appended, in config order, to the metrics marked ``+ custom``.

=============================================== ========= ==================================================
name                                            type      labels
=============================================== ========= ==================================================
``bifrost_requests_total``                      counter   route, dialect, provider, model, status, stream
                                                          + custom
``bifrost_request_duration_seconds``            histogram route, dialect, provider, model, status_class
                                                          + custom  [REQUEST_BUCKETS]
``bifrost_upstream_requests_total``             counter   provider, model, method + custom
``bifrost_upstream_latency_seconds``            histogram provider, model, method, is_success
                                                          [UPSTREAM_BUCKETS, as Bifrost]
``bifrost_success_requests_total``              counter   provider, model, method
``bifrost_error_requests_total``                counter   provider, model, method, status_code ("unknown")
``bifrost_input_tokens_total``                  counter   provider, model
``bifrost_output_tokens_total``                 counter   provider, model
``bifrost_stream_first_token_latency_seconds``  histogram provider, model  [prometheus default buckets]
``bifrost_stream_inter_token_latency_seconds``  histogram provider, model  [INTER_TOKEN_BUCKETS]
``http_requests_total``                         counter   path (route template), method, status
``http_request_duration_seconds``               histogram path, method  [prometheus default buckets]
``bifrost_in_flight_requests``                  gauge     dialect                (multiprocess: livesum)
``bifrost_queue_depth``                         gauge     provider               (multiprocess: livesum)
``bifrost_retries_total``                       counter   provider, reason
``bifrost_fallbacks_total``                     counter   from_provider, to_provider
``bifrost_cooldown_active``                     gauge     provider, key          (multiprocess: livemax)
``bifrost_key_selections_total``                counter   provider, key
=============================================== ========= ==================================================

Values: ``route``/``path`` is the route TEMPLATE (``/openai/v1/chat/completions``,
``/genai/{version}/models/{model_action}``), never a raw path; ``status`` is the HTTP code as a string,
``status_class`` is ``"2xx"``..``"5xx"``; ``stream``/``is_success`` are ``"true"``/``"false"``; ``key`` is
the key's configured name/id (or ``key-<index>``), never its value. The in-flight and queue gauges are
summed over live workers; the cooldown gauge takes the max over live workers (1 = some worker currently
cools this key down; each worker keeps its own cooldown state, and a sum would count workers).

Cardinality is bounded whatever clients send: an empty provider/model becomes ``"unknown"``; a model
gets its own label only once its provider could serve it (named in the config, ``register_models``, or
answered by the upstream once) when ``served_models_only`` is set (the gateway sets it), else
``"other"``; at most ``MAX_PROVIDERS`` providers,
``MAX_MODELS_PER_PROVIDER`` models per provider, ``MAX_CUSTOM_VALUES`` values per custom label,
``MAX_KEYS_PER_PROVIDER`` key names per provider and ``MAX_SMALL_SET`` routes/dialects/methods/reasons are
kept; anything past a cap is reported as ``"other"``. Free-text values are cut to 128 characters (custom
label values to 64). Unknown HTTP methods become ``"other"``.

Multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) is chosen by prometheus_client when it is first imported:
set the variable before starting the server. Metric objects on the app registry then write to the mmap
files, and ``render_metrics`` aggregates the files of all workers with a fresh ``MultiProcessCollector``
per scrape. Use one ``Metrics`` per process in that mode (two objects writing the same series in one
process overwrite each other's files).
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Final, Generic, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector

from ..errors import ConfigError
from .mmap_cells import ForkCount, MmapCell

__all__ = [
    "INTER_TOKEN_BUCKETS",
    "REQUEST_BUCKETS",
    "UPSTREAM_BUCKETS",
    "Metrics",
    "bound_counter",
    "bound_gauge",
    "fork_count",
    "multiprocess_enabled",
    "render_metrics",
]

UPSTREAM_BUCKETS: Final = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90)  # fmt: skip
REQUEST_BUCKETS: Final = (*UPSTREAM_BUCKETS, 120)
# Finer at the low end than the default buckets: gaps between stream chunks are mostly 1-50 ms.
INTER_TOKEN_BUCKETS: Final = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)  # fmt: skip

MAX_PROVIDERS: Final = 64
MAX_MODELS_PER_PROVIDER: Final = 200
MAX_CUSTOM_VALUES: Final = 100
MAX_KEYS_PER_PROVIDER: Final = 100
MAX_SMALL_SET: Final = 256
CHILD_CACHE_LIMIT: Final = 10_000

UNKNOWN: Final = "unknown"
OTHER: Final = "other"
_MAX_VALUE_LEN: Final = 128
_MAX_CUSTOM_LEN: Final = 64
_HTTP_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_HEADER_PREFIX: Final = "x-bf-prom-"
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Every built-in label name (custom labels may not reuse one), plus names prometheus reserves.
_RESERVED_LABELS: Final = frozenset(
    {"route", "dialect", "provider", "model", "status", "stream", "status_class", "method", "is_success"}
    | {"status_code", "path", "reason", "from_provider", "to_provider", "key", "le", "quantile"}
)

M = TypeVar("M", bound=MetricWrapperBase)
# Raw arguments of observe_request / observe_upstream, custom label values last: keys of the
# resolved-children caches (the label guards are monotonic, so a resolution never changes).
_RequestKey = tuple[str, str, str, str | None, str | None, int, bool, tuple[str, ...]]
_UpstreamKey = tuple[str | None, str | None, str, int | None, bool, tuple[str, ...]]


class _Guard:
    """Admits at most ``limit`` distinct values; later newcomers map to ``"other"``."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def admit(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


# Bound children are written through their value cells (prometheus_client's ``_value``, ``_sum``,
# ``_buckets``: a MutexValue in one process, an MmapedValue in multiprocess mode). ``Counter.inc`` and
# ``Histogram.observe`` check observability, the sign and exemplars on every call and walk the buckets
# in Python; here the child is bound once with all its labels, amounts are never negative, there are
# no exemplars, and the bucket is found by bisection: the same values, a fraction of the calls.
# In one process the float inside a MutexValue is added to directly, without taking its lock (a
# lock round trip cost five times the addition, on ~16 writes per request): the gateway writes its
# metrics from its event loop's thread, and a scrape from any thread reads a whole float. (Writers
# on several threads at once could lose an increment; none of the gateway's do.) Multiprocess
# values (mmap files) are written to their slot by ``MmapCell`` (see mmap_cells.py) when a
# ``ForkCount`` is given, else by their own ``inc``. A prometheus_client without those attributes
# gets the public methods.


def _unlocked(value: object) -> bool:
    """``value`` is a single-process MutexValue whose float can be written in place."""
    return type(value) is values.MutexValue and isinstance(getattr(value, "_value", None), float)


class _Unlocked:
    """``inc``/``set`` on a MutexValue's float, in place."""

    __slots__ = ("_cell",)

    def __init__(self, cell: values.MutexValue) -> None:
        self._cell = cell

    def inc(self, amount: float) -> None:
        self._cell._value += amount

    def set(self, value: float) -> None:
        self._cell._value = value


def _cell(value: values.MutexValue, forks: ForkCount | None) -> _Unlocked | MmapCell | values.MutexValue:
    """What writes a value cell (``inc``, ``set``): in place in one process, to its mmap slot in
    multiprocess mode (given ``forks``), else the value's own methods."""
    if _unlocked(value):
        return _Unlocked(value)
    if forks is not None and MmapCell.fits(value):
        return MmapCell(value, forks)
    return value


def fork_count() -> ForkCount | None:
    """What the bound children of one owner (``Metrics``, governance's metrics) share when values
    live in mmap files (prometheus_client imported in multiprocess mode); None otherwise."""
    return ForkCount() if getattr(values.ValueClass, "_multiprocess", False) else None


class _Count:
    """A bound counter: ``inc(amount)``; ``cell``, its single-process value cell (else None)."""

    __slots__ = ("cell", "inc")

    def __init__(self, child: Counter, forks: ForkCount | None = None) -> None:
        value = getattr(child, "_value", None)
        self.cell: values.MutexValue | None = value if value is not None and _unlocked(value) else None
        if value is None:
            self.inc: Callable[[float], None] = child.inc
        else:
            self.inc = _cell(value, forks).inc


def bound_counter(child: Counter, forks: ForkCount | None = None) -> Callable[[float], None]:
    """``child.inc`` for a counter child bound once (its labels set), written as the gateway's own
    counters are: through its value cell (in place in one process, to its slot in multiprocess mode
    given the owner's ``fork_count()``)."""
    return _Count(child, forks).inc


class _Observe:
    """A bound histogram: ``observe(amount)`` adds to the sum and to the first bucket bound >= amount;
    ``zeros(n)`` is ``observe(0.0)`` n times, at once (the gaps between the events of one read)."""

    __slots__ = ("_bounds", "_buckets", "_cells", "_child", "_sum", "_sum_cell", "_zero", "observe", "zeros")

    def __init__(self, child: Histogram, forks: ForkCount | None = None) -> None:
        total = getattr(child, "_sum", None)
        buckets = getattr(child, "_buckets", None)
        bounds = getattr(child, "_upper_bounds", None)
        if total is None or buckets is None or bounds is None or len(buckets) != len(bounds):
            self.observe: Callable[[float], None] = child.observe
            self._child = child
            self.zeros: Callable[[int], None] = self._zeros_each
            return
        self._bounds = list(bounds)  # ends with +Inf, so every amount has a bucket
        self._zero = bisect_left(self._bounds, 0.0)
        if _unlocked(total) and all(_unlocked(bucket) for bucket in buckets):
            self._sum_cell = total
            self._cells = list(buckets)
            self.observe = self._observe_unlocked
            self.zeros = self._zeros_unlocked
            return
        self._sum = _cell(total, forks).inc
        self._buckets = [_cell(bucket, forks).inc for bucket in buckets]
        self.observe = self._observe
        self.zeros = self._zeros

    def _zeros_each(self, count: int) -> None:
        for _ in range(count):
            self._child.observe(0.0)

    def _zeros(self, count: int) -> None:
        if count > 0:
            self._sum(0.0)
            self._buckets[self._zero](count)

    def _zeros_unlocked(self, count: int) -> None:
        if count > 0:  # the sum gains 0.0 (no change), the zero bucket ``count``
            self._cells[self._zero]._value += float(count)

    def _observe(self, amount: float) -> None:
        self._sum(amount)
        self._buckets[bisect_left(self._bounds, amount)](1)

    def _observe_unlocked(self, amount: float) -> None:
        self._sum_cell._value += amount
        self._cells[bisect_left(self._bounds, amount)]._value += 1.0

    @property
    def unlocked(self) -> bool:
        return self.observe == self._observe_unlocked


class _RequestCells:
    """A finished request's four series (requests and HTTP requests counted, its duration observed
    in both histograms) written by one call, ``observe(duration)``: in place when every cell is a
    single-process float (the writes ``_Count.inc`` and ``_Observe.observe`` make, without four
    calls), else through each one's own writer."""

    __slots__ = ("_bounds", "_cells", "_count", "_http_bounds", "_http_cells", "_http_count", "_http_sum", "_parts",
                 "_sum", "observe")  # fmt: skip

    def __init__(self, requests: _Count, duration: _Observe, http_requests: _Count, http_duration: _Observe) -> None:
        self._parts = (requests, duration, http_requests, http_duration)
        if requests.cell is None or http_requests.cell is None or not duration.unlocked or not http_duration.unlocked:
            self.observe: Callable[[float], None] = self._observe_each
            return
        self._count, self._http_count = requests.cell, http_requests.cell
        self._sum, self._cells, self._bounds = duration._sum_cell, duration._cells, duration._bounds
        self._http_sum, self._http_cells = http_duration._sum_cell, http_duration._cells
        self._http_bounds = http_duration._bounds
        self.observe = self._observe_unlocked

    def _observe_each(self, duration: float) -> None:
        requests, duration_hist, http_requests, http_duration = self._parts
        requests.inc(1)
        duration_hist.observe(duration)
        http_requests.inc(1)
        http_duration.observe(duration)

    def _observe_unlocked(self, duration: float) -> None:
        self._count._value += 1.0
        self._sum._value += duration
        self._cells[bisect_left(self._bounds, duration)]._value += 1.0
        self._http_count._value += 1.0
        self._http_sum._value += duration
        self._http_cells[bisect_left(self._http_bounds, duration)]._value += 1.0


class _Level:
    """A bound gauge: ``inc(amount)`` (negative to decrease) and ``set(value)``."""

    __slots__ = ("inc", "set")

    def __init__(self, child: Gauge, forks: ForkCount | None = None) -> None:
        value = getattr(child, "_value", None)
        if value is None or getattr(child, "_is_most_recent", False):
            self.inc: Callable[[float], None] = child.inc
            self.set: Callable[[float], None] = child.set
        else:
            cell = _cell(value, forks)
            self.inc, self.set = cell.inc, cell.set


def bound_gauge(child: Gauge, forks: ForkCount | None = None) -> Callable[[float], None]:
    """``child.set`` for a gauge child bound once (its labels set), written as ``bound_counter``."""
    return _Level(child, forks).set


C = TypeVar("C", _Count, _Observe, _Level)


class _Children(Generic[M, C]):
    """``metric.labels(*key)`` children, bound to cells and cached by label tuple; stops caching at
    ``CHILD_CACHE_LIMIT``."""

    __slots__ = ("_bind", "_cache", "_metric")

    def __init__(self, metric: M, bind: Callable[[M], C]) -> None:
        self._metric = metric
        self._bind: Callable[[M], C] = bind
        self._cache: dict[tuple[str, ...], C] = {}

    def get(self, key: tuple[str, ...]) -> C:
        cell = self._cache.get(key)
        if cell is None:
            cell = self._bind(self._metric.labels(*key))
            if len(self._cache) < CHILD_CACHE_LIMIT:
                self._cache[key] = cell
        return cell


class _InFlight:
    """Context manager: +1 on enter, -1 on exit. Reusable and stateless, so one per dialect."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: _Level) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc(1)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gauge.inc(-1)


def _validate_custom_labels(custom_labels: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    for i, name in enumerate(custom_labels):
        where = f"client.prometheus_labels[{i}]"
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ConfigError(
                f"{where}: {name!r} is not a valid Prometheus label name; use letters, digits and "
                "underscores, not starting with a digit or '__'"
            )
        if name in _RESERVED_LABELS:
            raise ConfigError(
                f"{where}: {name!r} collides with a built-in bifrost metric label; rename it "
                f"(e.g. 'x_{name}') and send it as the x-bf-prom-x_{name} header"
            )
        if name in seen:
            raise ConfigError(f"{where}: {name!r} is listed twice; remove the duplicate")
        seen.add(name)
    return tuple(custom_labels)


def _status_labels(status: int | None) -> tuple[str, str]:
    """``("404", "4xx")``; anything that is not an HTTP status is ``"unknown"``."""
    if status is None or not 100 <= status <= 599:
        return UNKNOWN, UNKNOWN
    return str(status), f"{status // 100}xx"


def _text(value: str | None, default: str = UNKNOWN) -> str:
    if not value:
        return default
    return value if len(value) <= _MAX_VALUE_LEN else value[:_MAX_VALUE_LEN]


class _MetricFactory:
    """Creates metrics on one registry, each wrapped in a child cache."""

    def __init__(self, registry: CollectorRegistry, forks: ForkCount | None) -> None:
        self._registry = registry
        self._forks = forks

    def counter(self, name: str, doc: str, labels: tuple[str, ...]) -> _Children[Counter, _Count]:
        return _Children(Counter(name, doc, labels, registry=self._registry), partial(_Count, forks=self._forks))

    def histogram(
        self, name: str, doc: str, labels: tuple[str, ...], buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS
    ) -> _Children[Histogram, _Observe]:
        metric = Histogram(name, doc, labels, registry=self._registry, buckets=buckets)
        return _Children(metric, partial(_Observe, forks=self._forks))

    def gauge(
        self, name: str, doc: str, labels: tuple[str, ...], mode: Literal["livesum", "livemax"]
    ) -> _Children[Gauge, _Level]:
        metric = Gauge(name, doc, labels, registry=self._registry, multiprocess_mode=mode)
        return _Children(metric, partial(_Level, forks=self._forks))


class Metrics:
    """All gateway metrics on one registry. Methods are cheap; call them on the hot path.

    Safe to call from several threads: the caps may be overshot by a few values under a race, never
    unboundedly.
    """

    def __init__(
        self, registry: CollectorRegistry, *, custom_labels: Sequence[str] = (), served_models_only: bool = False
    ) -> None:
        self.custom_labels: tuple[str, ...] = _validate_custom_labels(custom_labels)
        self.served_models_only = served_models_only
        self._init_label_guards()
        make = _MetricFactory(registry, fork_count())
        self._init_request_metrics(make)
        self._init_upstream_metrics(make)
        self._init_http_metrics(make)
        self._init_reliability_metrics(make)

    def _init_label_guards(self) -> None:
        """Caps on label values, and the caches of bound label children."""
        self._header_names = tuple(
            (_HEADER_PREFIX + n.lower(), _HEADER_PREFIX + n.lower().replace("_", "-")) for n in self.custom_labels
        )
        self._custom_guards = tuple(_Guard(MAX_CUSTOM_VALUES) for _ in self.custom_labels)
        self._providers = _Guard(MAX_PROVIDERS)
        self._models: dict[str, _Guard] = {}
        # Model names a provider could serve (configured, or answered once): only these get their
        # own label, so hostile model strings in failed requests cannot fill the label budget.
        self._servable: dict[str, set[str]] = {}
        self._keys: dict[str, _Guard] = {}
        self._routes = _Guard(MAX_SMALL_SET)
        self._dialects = _Guard(MAX_SMALL_SET)
        self._methods = _Guard(MAX_SMALL_SET)
        self._reasons = _Guard(MAX_SMALL_SET)
        self._in_flight_cms: dict[str, _InFlight] = {}
        self._pm_cache: dict[tuple[str | None, str | None], tuple[str, str]] = {}
        self._request_children: dict[_RequestKey, _RequestCells] = {}
        self._upstream_children: dict[_UpstreamKey, tuple[_Count, _Observe, _Count]] = {}
        self._selection_children: dict[tuple[str, str], _Count] = {}
        self._token_children: dict[tuple[str | None, str | None], tuple[_Count, _Count]] = {}
        self._in_flight_levels: dict[str, _Level] = {}

    def _init_request_metrics(self, make: _MetricFactory) -> None:
        """The migration guide's client-request metrics."""
        custom = self.custom_labels
        self._requests = make.counter(
            "bifrost_requests_total",
            "Client requests answered by the gateway.",
            ("route", "dialect", "provider", "model", "status", "stream", *custom),
        )
        self._duration = make.histogram(
            "bifrost_request_duration_seconds",
            "Time from request received to response complete (streams: to the last byte).",
            ("route", "dialect", "provider", "model", "status_class", *custom),
            REQUEST_BUCKETS,
        )
        self._in_flight = make.gauge(
            "bifrost_in_flight_requests", "Requests being served now.", ("dialect",), "livesum"
        )

    def _init_upstream_metrics(self, make: _MetricFactory) -> None:
        """Bifrost's telemetry-plugin metrics: upstream attempts, tokens, stream latencies."""
        pm = ("provider", "model")
        pmm = ("provider", "model", "method")
        self._upstream = make.counter(
            "bifrost_upstream_requests_total", "Requests sent to upstream providers.", (*pmm, *self.custom_labels)
        )
        self._upstream_latency = make.histogram(
            "bifrost_upstream_latency_seconds",
            "Latency of one upstream attempt.",
            (*pmm, "is_success"),
            UPSTREAM_BUCKETS,
        )
        self._success = make.counter("bifrost_success_requests_total", "Successful upstream attempts.", pmm)
        self._errors = make.counter("bifrost_error_requests_total", "Failed upstream attempts.", (*pmm, "status_code"))
        self._input_tokens = make.counter("bifrost_input_tokens_total", "Prompt tokens reported upstream.", pm)
        self._output_tokens = make.counter("bifrost_output_tokens_total", "Completion tokens reported upstream.", pm)
        self._first_token = make.histogram(
            "bifrost_stream_first_token_latency_seconds", "Time to the first streamed token.", pm
        )
        self._inter_token = make.histogram(
            "bifrost_stream_inter_token_latency_seconds",
            "Gap between streamed chunks.",
            pm,
            INTER_TOKEN_BUCKETS,
        )

    def _init_http_metrics(self, make: _MetricFactory) -> None:
        """Route-template HTTP metrics."""
        self._http_requests = make.counter(
            "http_requests_total", "HTTP requests by route template.", ("path", "method", "status")
        )
        self._http_duration = make.histogram(
            "http_request_duration_seconds", "HTTP request duration by route template.", ("path", "method")
        )

    def _init_reliability_metrics(self, make: _MetricFactory) -> None:
        """Queues, retries, fallbacks, cooldowns and key selection."""
        self._queue_depth = make.gauge(
            "bifrost_queue_depth", "Requests waiting for a provider slot.", ("provider",), "livesum"
        )
        self._retries = make.counter("bifrost_retries_total", "Upstream retries.", ("provider", "reason"))
        self._fallbacks = make.counter(
            "bifrost_fallbacks_total", "Fallbacks to another provider.", ("from_provider", "to_provider")
        )
        self._cooldown = make.gauge(
            "bifrost_cooldown_active", "1 while a key is cooling down.", ("provider", "key"), "livemax"
        )
        self._key_selections = make.counter(
            "bifrost_key_selections_total", "Times a key was picked.", ("provider", "key")
        )

    # -- label values -------------------------------------------------------------------------------

    def register_models(self, provider: str, models: Iterable[str]) -> None:
        """Admit configured model names first, so they keep their own label under the cap."""
        for model in models:
            self.mark_servable(provider, model)
            self._model(self._provider(provider), model)

    def mark_servable(self, provider: str | None, model: str | None) -> None:
        """``model`` is one ``provider`` serves (configured, or it answered): it gets its own label."""
        prov = self._provider(provider)
        name = _text(model)
        served = self._servable.setdefault(prov, set())
        if name in served or len(served) >= MAX_MODELS_PER_PROVIDER:
            return
        served.add(name)
        # Resolutions cached while the name still mapped to "other" are stale now (rare: once per name).
        self._pm_cache.clear()
        self._request_children.clear()
        self._upstream_children.clear()
        self._token_children.clear()

    def custom_label_values(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Custom label values from ``x-bf-prom-<label>`` headers (``-`` for ``_`` also accepted).

        ``headers`` must be case-insensitive (Starlette ``Headers``) or have lower-case keys.
        """
        if not self.custom_labels:
            return {}
        out: dict[str, str] = {}
        for name, (header, alt), guard in zip(self.custom_labels, self._header_names, self._custom_guards, strict=True):
            value = headers.get(header)
            if value is None:
                value = headers.get(alt, "")
            out[name] = self._custom_value(guard, value)
        return out

    def _custom(self, custom: Mapping[str, str]) -> tuple[str, ...]:
        if not self.custom_labels:
            return ()
        return tuple(
            self._custom_value(guard, custom.get(name, ""))
            for name, guard in zip(self.custom_labels, self._custom_guards, strict=True)
        )

    @staticmethod
    def _custom_value(guard: _Guard, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        return guard.admit(value[:_MAX_CUSTOM_LEN])

    def _provider(self, provider: str | None) -> str:
        return self._providers.admit(_text(provider))

    def _model(self, provider: str, model: str | None) -> str:
        name = _text(model)
        if self.served_models_only and name != UNKNOWN and name not in self._servable.get(provider, ()):
            return OTHER
        guard = self._models.get(provider)
        if guard is None:
            guard = self._models[provider] = _Guard(MAX_MODELS_PER_PROVIDER)
        return guard.admit(name)

    def _pm(self, provider: str | None, model: str | None) -> tuple[str, str]:
        raw = (provider, model)
        labels = self._pm_cache.get(raw)
        if labels is None:
            prov = self._provider(provider)
            labels = (prov, self._model(prov, model))
            if len(self._pm_cache) < CHILD_CACHE_LIMIT:
                self._pm_cache[raw] = labels
        return labels

    def _key(self, provider: str, key_label: str) -> str:
        guard = self._keys.get(provider)
        if guard is None:
            guard = self._keys[provider] = _Guard(MAX_KEYS_PER_PROVIDER)
        return guard.admit(_text(key_label)[:_MAX_CUSTOM_LEN])

    # -- recording ----------------------------------------------------------------------------------

    def observe_request(
        self,
        *,
        route: str,
        method: str,
        dialect: str,
        provider: str | None,
        model: str | None,
        status: int,
        stream: bool,
        duration: float,
        custom: Mapping[str, str],
    ) -> None:
        """One finished client request (``duration`` in seconds, ``route`` a template)."""
        raw = (route, method, dialect, provider, model, status, stream, self._raw_custom(custom))
        cells = self._request_children.get(raw)
        if cells is None:
            cells = self._resolve_request(raw)
        cells.observe(duration)

    def _resolve_request(self, raw: _RequestKey) -> _RequestCells:
        route, method, dialect, provider, model, status, stream, custom = raw
        route_l = self._routes.admit(_text(route, "unmatched"))
        dialect_l = self._dialects.admit(_text(dialect))
        prov, mod = self._pm(provider, model)
        status_l, status_class = _status_labels(status)
        extra = self._custom(dict(zip(self.custom_labels, custom, strict=True)))
        http_method = method.upper()
        if http_method not in _HTTP_METHODS:
            http_method = OTHER
        children = _RequestCells(
            self._requests.get((route_l, dialect_l, prov, mod, status_l, "true" if stream else "false", *extra)),
            self._duration.get((route_l, dialect_l, prov, mod, status_class, *extra)),
            self._http_requests.get((route_l, http_method, status_l)),
            self._http_duration.get((route_l, http_method)),
        )
        if len(self._request_children) < CHILD_CACHE_LIMIT:
            self._request_children[raw] = children
        return children

    def observe_upstream(
        self,
        *,
        provider: str | None,
        model: str | None,
        method: str,
        status: int | None,
        latency: float,
        success: bool,
        custom: Mapping[str, str],
    ) -> None:
        """One upstream attempt (each retry and fallback attempt is its own sample)."""
        raw = (provider, model, method, status if not success else None, success, self._raw_custom(custom))
        if success and raw not in self._upstream_children:
            self.mark_servable(provider, model)
        children = self._upstream_children.get(raw)
        if children is None:
            children = self._resolve_upstream(raw)
        upstream, latency_hist, outcome = children
        upstream.inc(1)
        latency_hist.observe(latency)
        outcome.inc(1)

    def _resolve_upstream(self, raw: _UpstreamKey) -> tuple[_Count, _Observe, _Count]:
        provider, model, method, status, success, custom = raw
        prov, mod = self._pm(provider, model)
        meth = self._methods.admit(_text(method))
        extra = self._custom(dict(zip(self.custom_labels, custom, strict=True)))
        if success:
            outcome = self._success.get((prov, mod, meth))
        else:
            code = _status_labels(status)[0] if status is not None else UNKNOWN
            outcome = self._errors.get((prov, mod, meth, code))
        children = (
            self._upstream.get((prov, mod, meth, *extra)),
            self._upstream_latency.get((prov, mod, meth, "true" if success else "false")),
            outcome,
        )
        if len(self._upstream_children) < CHILD_CACHE_LIMIT:
            self._upstream_children[raw] = children
        return children

    def _raw_custom(self, custom: Mapping[str, str]) -> tuple[str, ...]:
        names = self.custom_labels
        if not names:
            return ()
        if len(names) == 1:
            return (custom.get(names[0], ""),)
        return tuple([custom.get(name, "") for name in names])

    def add_tokens(
        self, *, provider: str | None, model: str | None, input_tokens: int | None, output_tokens: int | None
    ) -> None:
        raw = (provider, model)
        cells = self._token_children.get(raw)
        if cells is None:
            key = self._pm(provider, model)
            cells = (self._input_tokens.get(key), self._output_tokens.get(key))
            if len(self._token_children) < CHILD_CACHE_LIMIT:
                self._token_children[raw] = cells
        if input_tokens is not None and input_tokens > 0:
            cells[0].inc(input_tokens)
        if output_tokens is not None and output_tokens > 0:
            cells[1].inc(output_tokens)

    def observe_first_token(self, provider: str | None, model: str | None, seconds: float) -> None:
        self._first_token.get(self._pm(provider, model)).observe(seconds)

    def observe_inter_token(self, provider: str | None, model: str | None, seconds: float) -> None:
        self._inter_token.get(self._pm(provider, model)).observe(seconds)

    def inter_token_observer(self, provider: str | None, model: str | None) -> Callable[[float], None]:
        """``observe_inter_token`` bound to one provider and model: a stream looks its series up once."""
        return self._inter_token.get(self._pm(provider, model)).observe

    def inter_token_zeros(self, provider: str | None, model: str | None) -> Callable[[int], None]:
        """``inter_token_observer``'s ``observe(0.0)``, n times at once: ``zeros(n)``."""
        return self._inter_token.get(self._pm(provider, model)).zeros

    def track_in_flight(self, dialect: str) -> _InFlight:
        """``with metrics.track_in_flight("openai"): ...`` counts the block as one request in flight."""
        cm = self._in_flight_cms.get(dialect)
        if cm is None:
            cm = _InFlight(self._in_flight.get((self._dialects.admit(_text(dialect)),)))
            if len(self._in_flight_cms) < MAX_SMALL_SET:
                self._in_flight_cms[dialect] = cm
        return cm

    def inc_in_flight(self, dialect: str) -> None:
        """For spans a ``with`` block cannot cover (a streamed body); pair with ``dec_in_flight``."""
        self._in_flight_level(dialect).inc(1)

    def dec_in_flight(self, dialect: str) -> None:
        self._in_flight_level(dialect).inc(-1)

    def _in_flight_level(self, dialect: str) -> _Level:
        level = self._in_flight_levels.get(dialect)
        if level is None:
            level = self._in_flight.get((self._dialects.admit(_text(dialect)),))
            if len(self._in_flight_levels) < MAX_SMALL_SET:
                self._in_flight_levels[dialect] = level
        return level

    def set_queue_depth(self, provider: str, n: int) -> None:
        self._queue_depth.get((self._provider(provider),)).set(float(n))

    def count_retry(self, provider: str, reason: str) -> None:
        self._retries.get((self._provider(provider), self._reasons.admit(_text(reason)))).inc(1)

    def count_fallback(self, from_provider: str, to_provider: str) -> None:
        self._fallbacks.get((self._provider(from_provider), self._provider(to_provider))).inc(1)

    def set_cooldown(self, provider: str, key_label: str, active: bool) -> None:
        """``key_label`` is the key's name/id (or ``key-<index>``), never the key value."""
        prov = self._provider(provider)
        self._cooldown.get((prov, self._key(prov, key_label))).set(1.0 if active else 0.0)

    def count_key_selection(self, provider: str, key_label: str) -> None:
        raw = (provider, key_label)
        cell = self._selection_children.get(raw)
        if cell is None:
            prov = self._provider(provider)
            cell = self._key_selections.get((prov, self._key(prov, key_label)))
            if len(self._selection_children) < CHILD_CACHE_LIMIT:
                self._selection_children[raw] = cell
        cell.inc(1)


def multiprocess_enabled() -> bool:
    """True when prometheus_client writes values to ``PROMETHEUS_MULTIPROC_DIR`` mmap files.

    Both must hold: the variable is set now, and it was set when prometheus_client was imported
    (otherwise this process keeps its values in memory and only its own registry can show them).
    """
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")) and bool(getattr(values.ValueClass, "_multiprocess", False))


def render_metrics(registry: CollectorRegistry, *, accept: str | None = None) -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type.

    Multiprocess mode aggregates every worker's files through a fresh registry per scrape (the app
    registry is not read, or each series would appear twice). ``accept`` is the scrape's ``Accept``
    header; OpenMetrics is served when asked for, else the Prometheus text format 0.0.4.
    """
    encoder, content_type = choose_encoder(accept or "")
    if multiprocess_enabled():
        fresh = CollectorRegistry()
        MultiProcessCollector(fresh)  # type: ignore[no-untyped-call]  # registers itself
        return encoder(fresh), content_type
    return encoder(registry), content_type
