"""Admission per attempt: reserve the request and an estimate of its cost on every limit that
applies, admit only when all fit; settle to the real usage afterwards (or release).

``RequestGuard`` is the per-request object the router calls before each attempt (primary, retry,
fallback); ``Ticket`` is one admitted attempt. Reservation ids are ``<request id>:<attempt>``, so a
settlement is idempotent per request and attempt, and a reservation left by a crashed replica
expires after ``reservation_ttl_seconds``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import BudgetExceededError, GatewayError, PermissionDeniedError, RateLimitedError
from ..neutral import Usage
from ..store import StoreUnavailableError
from .counters import NANO, Counters, Denial, Limit
from .identity import AuthenticatedKey
from .index import LimitSpec
from .pricing import Price, unpriced_error
from .windows import duration_seconds, window

if TYPE_CHECKING:
    from .engine import Governance

logger = logging.getLogger("bifrost_asgi.governance")

Outcome = Literal["ok", "failed", "abandoned"]
_MARKER_TTL_MS = 15 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a request may use: estimated prompt tokens and the output it may produce (``max_tokens``
    or the model's cap; ``None``: the model's cap or ``default_output_tokens``)."""

    input_tokens: int
    output_tokens: int | None = None


# Forwarded calls admitted without a model: their models are inside an uploaded file or a raw body.
_NO_MODEL = "batches and passthrough calls carry theirs inside a file or a raw body"


class RequestGuard:
    def __init__(
        self, governance: Governance, key: AuthenticatedKey | None, request_id: str, estimate: Estimate
    ) -> None:
        self._gov = governance
        self.key = key
        self._request_id = request_id
        self._estimate = estimate
        self._attempts = 0

    async def admit(self, provider: str, model: str) -> Ticket:
        """Admit one attempt at ``provider``/``model`` or raise the governance error (403/429/402/400/503)."""
        gov = self._gov
        index = gov.index
        vk = index.vks.get(self.key.id) if self.key is not None else None
        name = self.key.name if self.key is not None else None
        if vk is not None:
            self._check_access(vk.id, provider, model)
        specs = index.limits(vk, provider, model)
        self._attempts += 1
        if not specs:
            ticket = Ticket(
                gov, self.key, (), f"{self._request_id}:{self._attempts}", provider, model, None, self._estimate
            )
            if name is not None:
                gov.metrics.admitted(name)
            return ticket
        price = gov.prices.lookup(provider, model) if model else None
        if price is None and any(s.unit == "dollars" for s in specs):
            if not model:
                gov.metrics.rejected(name, "budget_unpriceable")
                raise PermissionDeniedError(
                    f"a dollar budget applies to this request, and it names no model ({_NO_MODEL}): its cost "
                    "cannot be known before it runs, so it is refused; send it with a virtual key that has no "
                    "dollar budget",
                    code="budget_unpriceable",
                    provider=provider,
                )
            gov.metrics.rejected(name, "model_not_priced")
            raise unpriced_error(provider, model)
        now_ms = gov.now_ms()
        limits = tuple(_limit(spec, now_ms) for spec in specs)
        output = self._output_tokens(price)
        amounts = [_amount(spec, self._estimate.input_tokens, output, price) for spec in specs]
        res_id = f"{self._request_id}:{self._attempts}"
        counters, denial = await gov.reserve(limits, amounts, res_id, now_ms)
        if denial is not None:
            error = _denial_error(limits[denial.index], denial, amounts[denial.index], now_ms)
            gov.metrics.rejected(name, error.code or "limited")
            raise error
        if name is not None:
            gov.metrics.admitted(name)
        return Ticket(gov, self.key, limits, res_id, provider, model, price, self._estimate, counters)

    def key_filter(self, provider: str) -> frozenset[str] | None:
        """``key_ids`` of the key's provider config: None for ``["*"]`` (or empty in version 1)."""
        if self.key is None:
            return None
        index = self._gov.index
        vk = index.vks.get(self.key.id)
        pc = index.provider_config(vk, provider) if vk is not None else None
        if pc is None or "*" in pc.key_ids or (not pc.key_ids and not index.empty_denies):
            return None
        return frozenset(pc.key_ids)

    def _check_access(self, vk_id: str, provider: str, model: str) -> None:
        index = self._gov.index
        vk = index.vks[vk_id]
        name = vk.name
        if not index.provider_allowed(vk, provider):
            self._gov.metrics.rejected(name, "provider_blocked")
            raise PermissionDeniedError(
                f"virtual key '{name}' may not use provider '{provider}' (allowed: "
                f"{', '.join(pc.provider for pc in vk.provider_configs) or 'none'})",
                code="provider_blocked",
                provider=provider,
                model=model,
            )
        if not index.model_allowed(index.provider_config(vk, provider), model):
            self._gov.metrics.rejected(name, "model_blocked")
            wanted = f"model '{model}'" if model else f"any model (this call names none: {_NO_MODEL})"
            raise PermissionDeniedError(
                f"virtual key '{name}' may use only some models of provider '{provider}', not {wanted}",
                code="model_blocked",
                param="model",
                provider=provider,
                model=model,
            )

    def _output_tokens(self, price: Price | None) -> int:
        cap = price.max_output_tokens if price is not None else None
        wanted = self._estimate.output_tokens
        if wanted is None:
            wanted = self._gov.default_output_tokens
        return min(wanted, cap) if cap else wanted


class Ticket:
    """One admitted attempt; ``settle`` exactly once (later calls do nothing)."""

    def __init__(
        self,
        governance: Governance,
        key: AuthenticatedKey | None,
        limits: Sequence[Limit],
        res_id: str,
        provider: str,
        model: str,
        price: Price | None,
        estimate: Estimate,
        counters: Counters | None = None,
    ) -> None:
        self._gov = governance
        self._key = key
        self._limits = limits
        self.res_id = res_id
        self.provider = provider
        self.model = model
        self._price = price
        self._estimate = estimate
        self._counters = counters
        self._done = False

    async def settle(self, usage: Usage | None, outcome: Outcome) -> None:
        """Charge the attempt: its real usage when known; with none, nothing for a failure, the
        estimated input for an abandoned attempt (the client left), the estimate for an answer."""
        if self._done:
            return
        self._done = True
        if usage is None:
            usage = self._fallback_usage(outcome)
        cost = self._price.cost(usage) if (self._price is not None and usage is not None) else 0.0
        if self._key is not None and usage is not None:
            self._gov.metrics.billed(self._key.name, usage.input_tokens, usage.output_tokens, cost)
        if not self._limits or self._counters is None:
            return
        counted = outcome != "failed" or usage is not None
        amounts = [_actual(limit, usage, cost, counted and outcome != "failed") for limit in self._limits]
        try:
            totals = await self._counters.settle(self._limits, amounts, self.res_id, self._gov.now_ms(), _MARKER_TTL_MS)
        except StoreUnavailableError as exc:
            # The reservation expires after its TTL; the charge of this attempt is lost (logged).
            logger.warning("governance: could not settle %s on %s: %s", self.res_id, exc.store, exc.message)
            self._gov.metrics.store_error("settle")
            return
        if totals is not None:
            for limit, total in zip(self._limits, totals, strict=True):
                value = total / NANO if limit.unit == "dollars" else total
                self._gov.metrics.usage(limit.kind, limit.limit_id, limit.unit, value)

    def _fallback_usage(self, outcome: Outcome) -> Usage | None:
        if outcome == "failed":
            return None
        if outcome == "abandoned":
            return Usage(input_tokens=self._estimate.input_tokens)
        return Usage(input_tokens=self._estimate.input_tokens, output_tokens=self._estimate.output_tokens or 0)


def _limit(spec: LimitSpec, now_ms: int) -> Limit:
    kind: Literal["budget", "rate_limit"] = "budget" if spec.unit == "dollars" else "rate_limit"
    return Limit(
        spec.key,
        spec.maximum,
        window(spec.duration, spec.calendar, now_ms),
        spec.unit,
        spec.owner,
        spec.limit_id,
        spec.duration,
        kind,
    )


def _amount(spec: LimitSpec, input_tokens: int, output_tokens: int, price: Price | None) -> int:
    if spec.unit == "requests":
        return 1
    if spec.unit == "tokens":
        return input_tokens + output_tokens
    assert price is not None  # checked by the caller
    return math.ceil((input_tokens * price.input + output_tokens * price.output) * NANO)


def _actual(limit: Limit, usage: Usage | None, cost: float, count_request: bool) -> int:
    if limit.unit == "requests":
        return 1 if count_request else 0
    if usage is None:
        return 0
    if limit.unit == "tokens":
        return usage.total_tokens
    return round(cost * NANO)


def _denial_error(limit: Limit, denial: Denial, amount: int, now_ms: int) -> GatewayError:
    resets_in = _resets_in(limit, denial, now_ms)
    if limit.unit == "dollars":
        used, held, want, cap = (v / NANO for v in (denial.used, denial.reserved, amount, limit.maximum))
        return BudgetExceededError(
            f"Budget exceeded: {limit.owner} budget '{limit.limit_id}': {used:.4f} used + {held:.4f} reserved "
            f"by requests in flight + {want:.4f} estimated for this request > {cap:.4f} dollars "
            f"(resets every {limit.duration}, in {math.ceil(resets_in)}s)",
            code="budget_exceeded",
        )
    noun = "request" if limit.unit == "requests" else "token"
    headers = {
        f"x-ratelimit-limit-{limit.unit}": str(limit.maximum),
        f"x-ratelimit-remaining-{limit.unit}": str(max(0, limit.maximum - denial.used - denial.reserved)),
        f"x-ratelimit-reset-{limit.unit}": f"{math.ceil(resets_in)}s",
    }
    return RateLimitedError(
        f"rate limit violated for {limit.owner}: [{noun} limit exceeded ({denial.used + denial.reserved + amount}"
        f"/{limit.maximum}, resets every {limit.duration})]",
        code="rate_limited",
        retry_after=max(1.0, resets_in),
        headers=headers,
    )


def _resets_in(limit: Limit, denial: Denial, now_ms: int) -> float:
    if limit.window.start_ms == now_ms:  # rolling: the stored window started at denial.start_ms
        return max(0.0, (denial.start_ms + duration_seconds(limit.duration) * 1000 - now_ms) / 1000)
    return max(0.0, (limit.window.resets_at_ms - now_ms) / 1000)
