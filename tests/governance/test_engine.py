"""Governance without sockets: key extraction rules, and what an unreachable store does —
fail_closed refuses with 503 naming the store, fail_open counts locally with a warning and a metric
(never a silent switch)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bifrost_asgi.errors import RateLimitedError
from bifrost_asgi.governance.admission import Estimate
from bifrost_asgi.governance.config import GovernanceConfig
from bifrost_asgi.governance.counters import MemoryCounters
from bifrost_asgi.governance.engine import Governance, general_presented_key, presented_key
from bifrost_asgi.governance.metrics import GovernanceMetrics
from bifrost_asgi.governance.pricing import PriceTable
from bifrost_asgi.store import StoreUnavailableError

pytestmark = pytest.mark.anyio
VK = "sk-bf-engine-1"


class Unreachable(MemoryCounters):
    name = "redis://127.0.0.1:1/0"

    async def reserve(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailableError(self.name, "ConnectionError")


def governance(on_unavailable: str) -> tuple[Governance, CollectorRegistry]:
    config = GovernanceConfig.model_validate({
        "store": {"on_unavailable": on_unavailable},
        "rate_limits": [{"id": "rl", "request_max_limit": 1, "request_reset_duration": "1h"}],
        "virtual_keys": [{"id": "vk", "name": "eng", "value": VK, "rate_limit_id": "rl",
                          "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}],
    })  # fmt: skip
    registry = CollectorRegistry()
    gov = Governance(config, version=2, enforce=True, counters=Unreachable(), metrics=GovernanceMetrics(registry),
                     prices=PriceTable.load(), shared=False)  # fmt: skip
    return gov, registry


def test_presented_key_sources() -> None:
    assert presented_key({"x-bf-vk": "legacy-value"}, {}) == ("legacy-value", True)
    assert presented_key({"authorization": f"Bearer {VK}"}, {}) == (VK, False)
    assert presented_key({"authorization": "Bearer sk-openai-real"}, {}) == (None, False)
    assert presented_key({"x-goog-api-key": VK}, {}) == (VK, False)
    assert presented_key({"api-key": VK}, {}) == (VK, False)
    assert presented_key({}, {"key": VK}) == (VK, False)


# Header values built from the pieces that decide: scheme spellings, the prefix, whitespace (ASCII
# and not) at either end, other text.
_PIECES = st.sampled_from(
    ["Bearer ", "bearer ", "BEARER ", "Basic ", "Bearer", "sk-bf-", "sk-", "bf", "x", " ", "\t", "\u00a0", "\u2003", ""]
)
_VALUES = st.lists(_PIECES, max_size=5).map("".join)
_SOURCES = st.sampled_from(["x-bf-vk", "authorization", "x-api-key", "x-goog-api-key", "api-key", "content-type"])


@given(st.dictionaries(_SOURCES, _VALUES), st.dictionaries(st.sampled_from(["key", "alt"]), _VALUES))
@example({"authorization": f"Bearer {VK}"}, {})  # the fast path itself
@example({"authorization": f"Bearer {VK} "}, {})  # a trailing space: stripped
@example({"authorization": f"Bearer {VK}\u00a0"}, {})  # trailing non-ASCII whitespace: stripped too
@example({"authorization": f"Bearer  {VK}"}, {})  # two spaces: stripped
@example({"authorization": f"bearer {VK}"}, {})  # the scheme in any case
@example({"x-bf-vk": "legacy", "authorization": f"Bearer {VK}"}, {})  # x-bf-vk first
@example({"x-bf-vk": "", "authorization": f"Bearer {VK}"}, {})  # an empty x-bf-vk does not count
@example({"authorization": "Bearer sk-openai", "x-api-key": VK}, {})  # a provider key: the next source
def test_presented_key_fast_path_is_the_general_path(headers: dict[str, str], query: dict[str, str]) -> None:
    """The Bearer fast path answers exactly as the general path, for any mix of sources."""
    assert presented_key(headers, query) == general_presented_key(headers, query)


async def test_fail_closed_refuses_with_503_naming_the_store() -> None:
    gov, registry = governance("fail_closed")
    key = await gov.authenticate({"x-api-key": VK}, {})
    guard = gov.guard(key, "req-1", Estimate(10, 10))
    assert guard is not None
    with pytest.raises(StoreUnavailableError) as info:
        await guard.admit("openai", "gpt-4o-mini")
    assert info.value.status == 503 and info.value.retry_after and "127.0.0.1:1" in info.value.message
    assert registry.get_sample_value("bifrost_governance_store_errors_total", {"mode": "fail_closed"}) == 1


async def test_fail_open_counts_locally_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    gov, registry = governance("fail_open")
    key = await gov.authenticate({"x-api-key": VK}, {})
    with caplog.at_level(logging.WARNING, logger="bifrost_asgi.governance"):
        guard = gov.guard(key, "req-1", Estimate(10, 10))
        assert guard is not None
        ticket = await guard.admit("openai", "gpt-4o-mini")
        await ticket.settle(None, "ok")
        with pytest.raises(RateLimitedError):  # the local counter still enforces the cap
            await gov.guard(key, "req-2", Estimate(10, 10)).admit("openai", "gpt-4o-mini")  # type: ignore[union-attr]
    assert any("fail_open" in r.getMessage() and "per replica" in r.getMessage() for r in caplog.records)
    assert registry.get_sample_value("bifrost_governance_store_errors_total", {"mode": "fail_open"}) == 2
