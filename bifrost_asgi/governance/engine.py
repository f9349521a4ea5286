"""``Governance``: the composition of governance (index, prices, counters, metrics) and the two
calls the flow makes: ``authenticate`` (401/403 before anything else) and ``guard`` (admission per
attempt, see ``admission.py``).

Virtual keys are read from ``x-bf-vk``, ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key``,
``api-key`` and the GenAI ``?key=`` query, so each official SDK works with its usual API-key setting.
Only values with the ``sk-bf-`` prefix are taken from the SDK headers (a provider key passed through
is not a virtual key); legacy values without it work in ``x-bf-vk`` only. Values are looked up by
their SHA-256 digests, compared in constant time; the index remembers each key found by the value
presented (at most one per key, never logged or shown), so a key is hashed once, not per request.

With a shared store the governance document (keys, teams, budgets...) lives in the store too:
config.json seeds it at start (entries of the file replace those with the same id), the management
API changes it, and every replica re-reads it when its version moves (checked at most every
``sync_interval_seconds``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import ValidationError

from .. import _json
from ..errors import AuthenticationError, PermissionDeniedError
from ..neutral import Usage
from ..store import StoreUnavailableError
from .admission import Estimate, RequestGuard
from .config import VK_PREFIX, GovernanceConfig
from .counters import NANO, Counters, Denial, Limit, MemoryCounters
from .identity import AuthenticatedKey
from .index import Index, digest
from .metrics import GovernanceMetrics
from .plan import Plans
from .pricing import PriceTable
from .windows import window

logger = logging.getLogger("bifrost_asgi.governance")

_SDK_HEADERS = ("x-api-key", "x-goog-api-key", "api-key")


_BEARER_VK = "Bearer " + VK_PREFIX


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, bool]:
    """(the virtual-key value the request carries or None, whether it came from ``x-bf-vk``). The
    SDKs' ``Authorization: Bearer sk-bf-...`` (no ``x-bf-vk``; nothing to strip at its end) is taken
    at once, without the case folding, slicing and stripping of ``general_presented_key``, which
    decides every other header."""
    value = headers.get("x-bf-vk")
    if value:
        return value.strip(), True
    auth = headers.get("authorization")
    if auth is not None and auth.startswith(_BEARER_VK) and not auth[-1].isspace():
        return auth[7:], False
    return _after_x_bf_vk(headers, query)


def general_presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, bool]:
    """``presented_key`` without its Bearer fast path: the reference its tests compare it with."""
    value = headers.get("x-bf-vk")
    if value:
        return value.strip(), True
    return _after_x_bf_vk(headers, query)


def _after_x_bf_vk(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, bool]:
    """The sources after ``x-bf-vk``, in order: ``Authorization: Bearer``, the SDK headers, ``?key=``."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        token = auth[7:].strip()
        if token.startswith(VK_PREFIX):
            return token, False
    for name in _SDK_HEADERS:
        value = headers.get(name)
        if value and value.strip().startswith(VK_PREFIX):
            return value.strip(), False
    value = query.get("key")
    if value and value.startswith(VK_PREFIX):
        return value, False
    return None, False


class Governance:
    def __init__(
        self,
        config: GovernanceConfig,
        *,
        version: int,
        enforce: bool,
        counters: Counters,
        metrics: GovernanceMetrics,
        prices: PriceTable,
        shared: bool,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.seed = config
        self.version = version
        self.enforce = enforce
        self.counters = counters
        # In-process counters (this very class: a subclass may count differently): admission plans bind
        # their counters once (``Lane``) instead of going through ``reserve``/``settle``.
        self.memory = counters if type(counters) is MemoryCounters else None
        self.local = MemoryCounters()  # the fail_open side
        self.fail_open = config.store.on_unavailable == "fail_open"
        self.metrics = metrics
        self.prices = prices
        self.shared = shared
        self.clock = clock
        self.wall_clock = wall_clock
        self.ttl_ms = int(config.store.reservation_ttl_seconds * 1000)
        self.sync_interval = config.store.sync_interval_seconds
        self.default_output_tokens = config.default_output_tokens
        # (usage, provider, model, cost) of the last settlement through a lane: the cost of its
        # request's ``record_cost`` when that comes next with the same usage object (it holds the
        # object, so identity means this very usage).
        self.priced: tuple[Usage, str, str, float] | None = None
        self.index = Index(config, version=version)
        self.plans = Plans(self.index, prices, metrics)
        self._active = enforce or config.configured or shared
        self.doc_version = -1
        self._synced_at = float("-inf")
        self._outage = False

    @property
    def config(self) -> GovernanceConfig:
        return self.index.gov

    @property
    def active(self) -> bool:
        """Whether requests need authenticating at all (keys, global limits or enforcement)."""
        return self._active

    def now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    # ------------------------------------------------------------------ authentication

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> AuthenticatedKey | None:
        """The request's virtual key; raises 401 (missing or unknown) or 403 (inactive, expired)."""
        if self.shared:
            now = self.clock()
            if now - self._synced_at >= self.sync_interval:
                await self._sync(now)
        elif self.doc_version < 0:
            await self.start()
        value, explicit = presented_key(headers, query)
        if value is None:
            if self.enforce:
                self.metrics.rejected(None, "virtual_key_required")
                raise AuthenticationError(
                    "virtual key is required. Provide a virtual key via the x-bf-vk header (or as the SDK's API key)",
                    code="virtual_key_required",
                )
            return None
        entry = self.index.find(value)
        if entry is None or (entry.legacy and not explicit):
            self.metrics.rejected(None, "virtual_key_not_found")
            raise AuthenticationError(
                "virtual key not found. The provided virtual key does not exist or has been revoked.",
                code="virtual_key_not_found",
            )
        vk = entry.config
        if not vk.is_active:
            self.metrics.rejected(vk.name, "virtual_key_blocked")
            raise PermissionDeniedError("Virtual key is inactive", code="virtual_key_blocked")
        if entry.expires_at is not None and entry.expires_at <= self.wall_clock():
            self.metrics.rejected(vk.name, "virtual_key_blocked")
            raise PermissionDeniedError("Virtual key has expired", code="virtual_key_blocked")
        return entry.key

    def guard(self, key: AuthenticatedKey | None, request_id: str, estimate: Estimate) -> RequestGuard | None:
        """The per-request admission guard, or None when nothing limits this request."""
        if key is None and not (self.index.providers or self.config.model_configs):
            return None
        return RequestGuard(self, key, request_id, estimate)

    # ------------------------------------------------------------------ counters

    async def reserve(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int
    ) -> tuple[Counters, Denial | None]:
        """Reserve on the shared counters; when they are unreachable, refuse (503) or count locally."""
        try:
            denial = await self.counters.reserve(limits, amounts, res_id, now_ms, self.ttl_ms)
        except StoreUnavailableError as exc:
            mode = "fail_open" if self.fail_open else "fail_closed"
            self.metrics.store_error(mode)
            if not self.fail_open:
                raise
            if not self._outage:
                logger.warning(
                    "governance: %s is unreachable; fail_open: counting in this process only until it is back "
                    "(limits are per replica meanwhile)",
                    exc.store,
                )
            self._outage = True
            return self.local, await self.local.reserve(limits, amounts, res_id, now_ms, self.ttl_ms)
        if self._outage:
            logger.warning("governance: %s is reachable again; shared counting resumed", self.counters.name)
            self._outage = False
        return self.counters, denial

    async def drain(self, timeout: float | None = 5.0) -> None:
        """Wait (at most ``timeout`` seconds) for the settlements still on their way to the counters:
        before the store closes, and before a scrape shows the usage gauges."""
        await self.counters.drain(timeout)

    def record_cost(self, provider: str, model: str, usage: Usage) -> None:
        """The cost of a finished request on ``bifrost_cost_usd_total`` (with or without a key); the
        one its settlement just worked out when that was for this usage, provider and model."""
        priced = self.priced
        if priced is not None and priced[0] is usage and priced[1] == provider and priced[2] == model:
            cost: float | None = priced[3]
        else:
            cost = self.prices.cost(provider, model, usage)
        if cost:
            self.metrics.add_cost(provider, model, cost)

    # ------------------------------------------------------------------ the shared document

    async def start(self) -> None:
        """Seed the store with config.json (same-id entries replaced) and load the merged document."""
        if not self.shared:
            await self._seed_usage()
            self.doc_version = 0
            return
        for _ in range(5):
            version, data = await self.counters.load_doc()
            merged = _merge(self._decode(data), self.seed) if data else self.seed
            saved = await self.counters.save_doc(_encode(merged), version)
            if saved is not None:
                self._apply(merged, saved)
                break
        await self._seed_usage()

    async def sync(self) -> None:
        """Re-read the shared document if its version moved (at most every ``sync_interval``)."""
        now = self.clock()
        if now - self._synced_at >= self.sync_interval:
            await self._sync(now)

    async def _sync(self, now: float) -> None:
        self._synced_at = now
        try:
            if self.doc_version < 0:
                await self.start()
                return
            version = await self.counters.doc_version()
            if version != self.doc_version:
                version, data = await self.counters.load_doc()
                if data:
                    self._apply(self._decode(data), version)
        except StoreUnavailableError as exc:
            if not self.fail_open:
                raise
            logger.debug("governance: document sync skipped (%s)", exc.message)

    async def update(self, change: Callable[[GovernanceConfig], GovernanceConfig]) -> GovernanceConfig:
        """Apply ``change`` to the document (shared: compare-and-set on its version, retried)."""
        for _ in range(10):
            version, data = await self.counters.load_doc()
            current = self._decode(data) if data else self.config
            updated = change(current)
            saved = await self.counters.save_doc(_encode(updated), version)
            if saved is not None:
                self._apply(updated, saved)
                return updated
        raise StoreUnavailableError(self.counters.name, "concurrent governance updates; retry")

    def _apply(self, gov: GovernanceConfig, version: int) -> None:
        self.index = Index(gov, version=self.version)
        self.plans = Plans(self.index, self.prices, self.metrics)
        self._active = self.enforce or gov.configured or self.shared
        self.doc_version = version

    def _decode(self, data: bytes) -> GovernanceConfig:
        try:
            return GovernanceConfig.model_validate(_json.loads(data), context={"stored": True})
        except (ValueError, ValidationError) as exc:
            logger.error(
                "governance: the stored document is unreadable (%s); using the current one", type(exc).__name__
            )
            return self.config

    async def _seed_usage(self) -> None:
        """``current_usage`` of config.json budgets and rate limits, for counters that do not exist yet."""
        now_ms = self.now_ms()
        seeds: list[tuple[Limit, int]] = []
        for b in self.seed.budgets:
            if b.current_usage:
                seeds.append(
                    (
                        _seed_limit(f"{{budget:{b.id}}}", b.reset_duration, b.calendar_aligned, now_ms),
                        round(b.current_usage * NANO),
                    )
                )
        for rl in self.seed.rate_limits:
            if rl.request_current_usage and rl.request_reset_duration:
                seeds.append(
                    (
                        _seed_limit(f"{{rl:{rl.id}}}:req", rl.request_reset_duration, rl.calendar_aligned, now_ms),
                        rl.request_current_usage,
                    )
                )
            if rl.token_current_usage and rl.token_reset_duration:
                seeds.append(
                    (
                        _seed_limit(f"{{rl:{rl.id}}}:tok", rl.token_reset_duration, rl.calendar_aligned, now_ms),
                        rl.token_current_usage,
                    )
                )
        for limit, used in seeds:
            await self.counters.seed(limit, used, now_ms)


def _seed_limit(key: str, duration: str, calendar: bool | None, now_ms: int) -> Limit:
    return Limit(key, 0, window(duration, bool(calendar), now_ms), "requests", "", "", duration)


def _encode(gov: GovernanceConfig) -> bytes:
    """The shared document: key values only as digests (``value_sha256``), never in the store."""
    data = gov.model_dump(mode="json", exclude={"store", "pricing_file", "pricing_overrides"})
    for vk, original in zip(data["virtual_keys"], gov.virtual_keys, strict=True):
        value = original.value.get_secret_value()
        if value:
            vk["value_sha256"] = digest(value).hex()
            vk["value_prefixed"] = value.startswith(VK_PREFIX)
        vk["value"] = ""
        vk.pop("env_var", None)
    return _json.dumps(data)


def _merge(stored: GovernanceConfig, seed: GovernanceConfig) -> GovernanceConfig:
    """``stored`` with every entry of ``seed`` replacing the stored entry of the same id."""
    update: dict[str, object] = {}
    for field in ("budgets", "rate_limits", "customers", "teams", "virtual_keys", "model_configs"):
        mine = {item.id: item for item in getattr(seed, field)}
        kept = [item for item in getattr(stored, field) if item.id not in mine]
        update[field] = kept + list(mine.values())
    names = {p.name for p in seed.providers}
    update["providers"] = [p for p in stored.providers if p.name not in names] + list(seed.providers)
    return seed.model_copy(update=update)
