"""Build ``Governance`` from settings: the counters' store (memory, or Redis when ``governance.store``
or ``redis_url`` says so), the price table and the metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from ..config.settings import BifrostSettings
from ..errors import ConfigError
from ..store import KeyValueStore, open_store
from .counters import Counters, MemoryCounters
from .engine import Governance
from .metrics import GovernanceMetrics
from .pricing import PriceTable

logger = logging.getLogger("bifrost_asgi.governance")


def counters_for(settings: BifrostSettings, gateway_store: KeyValueStore) -> tuple[Counters, KeyValueStore | None]:
    """The counters, and a store opened for them alone (to close on shutdown) when it is not the gateway's."""
    store_cfg = settings.governance.store
    url = store_cfg.url.get_secret_value() if store_cfg.url else None
    if store_cfg.type == "memory":
        return MemoryCounters(), None
    if url is None and settings.redis_url is None:
        if store_cfg.type == "redis":
            raise ConfigError(
                'governance.store: type "redis" needs a URL\n  fix: set governance.store.url, redis_url or '
                "BIFROST_REDIS_URL (redis://host:6379/0)"
            )
        return MemoryCounters(), None
    from ..store.redis import RedisStore
    from .redis_counters import RedisCounters

    own = open_store(url) if url else None
    store = own or gateway_store
    if not isinstance(store, RedisStore):  # pragma: no cover - a URL always opens a RedisStore
        raise ConfigError("governance.store: the configured store is not Redis")
    return RedisCounters(store), own


def build_governance(
    settings: BifrostSettings,
    gateway_store: KeyValueStore,
    registry: CollectorRegistry,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> tuple[Governance, KeyValueStore | None]:
    gov = settings.governance
    for vk in gov.virtual_keys:
        if vk.budget_id is not None or vk.budget is not None:
            logger.warning(
                "governance.virtual_keys[%s]: budget/budget_id are v1.4 fields that Bifrost v1.5 ignores, and so "
                "does this gateway; own the budget from the budget side: budgets[].virtual_key_id = %r",
                vk.id, vk.id,
            )  # fmt: skip
    counters, own_store = counters_for(settings, gateway_store)
    prices = PriceTable.load(pricing_file=gov.pricing_file, overrides=gov.pricing_overrides)
    admin = settings.client.admin_token or settings.admin_token
    governance = Governance(
        gov,
        version=settings.version,
        enforce=settings.client.enforce_auth_on_inference,
        counters=counters,
        metrics=GovernanceMetrics(registry),
        prices=prices,
        shared=not isinstance(counters, MemoryCounters) and (gov.configured or admin is not None),
        clock=clock,
        wall_clock=wall_clock,
    )
    return governance, own_store
