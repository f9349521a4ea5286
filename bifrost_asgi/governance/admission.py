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
from typing import TYPE_CHECKING, Literal, NamedTuple

from ..errors import BudgetExceededError, GatewayError, PermissionDeniedError, RateLimitedError
from ..neutral import Usage
from ..store import StoreUnavailableError
from .counters import NANO, Counters, Denial, Lane, Limit
from .identity import AuthenticatedKey
from .index import LimitSpec
from .metrics import KeyCells
from .plan import Rule
from .pricing import Price, unpriced_error
from .windows import duration_seconds, window

if TYPE_CHECKING:
    from .engine import Governance

logger = logging.getLogger("bifrost_asgi.governance")

Outcome = Literal["ok", "failed", "abandoned"]
_MARKER_TTL_MS = 15 * 60 * 1000


class Estimate(NamedTuple):
    """What a request may use: estimated prompt tokens and the output it may produce (``max_tokens``
    or the model's cap; ``None``: the model's cap or ``default_output_tokens``)."""

    input_tokens: int
    output_tokens: int | None = None


# Forwarded calls admitted without a model: their models are inside an uploaded file or a raw body.
_NO_MODEL = "batches and passthrough calls carry theirs inside a file or a raw body"


class RequestGuard:
    __slots__ = ("_attempts", "_estimate", "_gov", "_request_id", "key")

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
        key = self.key
        name = key.name if key is not None else None
        plan = gov.plans.get(key.id if key is not None else None, provider, model)
        if not plan.allowed and key is not None:
            self._check_access(key.id, provider, model)  # raises the refusal, saying why
        self._attempts += 1
        res_id = f"{self._request_id}:{self._attempts}"
        cells = plan.cells
        if cells is None and name is not None:
            cells = plan.cells = gov.metrics.key_cells(name)
        rules = plan.rules
        if not rules:
            if cells is not None:
                cells.admitted(1.0)
            return Ticket(gov, cells, (), (), res_id, provider, model, None, self._estimate)
        price = plan.price
        if plan.unpriced:
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
        now_ms = int(gov.wall_clock() * 1000)  # gov.now_ms() without the call
        input_tokens, output = self._estimate
        if output is None:
            output = gov.default_output_tokens
        cap = price.max_output_tokens if price is not None else None
        if cap:  # as _output_tokens
            output = min(output, cap)
        tokens = input_tokens + output
        nano = math.ceil((input_tokens * price.input + output * price.output) * NANO) if price is not None else 0
        lane = plan.lane
        if lane is None and plan.rolling and gov.memory is not None:
            lane = plan.lane = gov.memory.lane(plan.lane_rules(), now_ms)
        if lane is not None and lane.reserve((1, tokens, nano), res_id, now_ms, gov.ttl_ms):
            if cells is not None:
                cells.admitted(1.0)
            return Ticket(gov, cells, rules, (), res_id, provider, model, price, self._estimate, None, lane, now_ms)
        # The general path: every limit with this attempt's windows, reserved through ``gov.reserve``
        # (shared counters, their outage, calendar windows; and a lane's refusal, to say why).
        limits: list[Limit] = []
        amounts: list[int] = []
        for rule in rules:
            limit = rule.limit(now_ms)
            limits.append(limit)
            amounts.append(1 if limit.unit == "requests" else tokens if limit.unit == "tokens" else nano)
        counters, denial = await gov.reserve(limits, amounts, res_id, now_ms)
        if denial is not None:
            # Raised from an expression: kept in a local, the error would hold this frame (its
            # traceback's), a cycle per refused request for the collector.
            raise _counted(gov, name, _denial_error(limits[denial.index], denial, amounts[denial.index], now_ms))
        if cells is not None:
            cells.admitted(1.0)
        return Ticket(gov, cells, rules, limits, res_id, provider, model, price, self._estimate, counters)

    def key_filter(self, provider: str) -> frozenset[str] | None:
        """``key_ids`` of the key's provider config: None for ``["*"]`` (or empty in version 1)."""
        if self.key is None:
            return None
        return self._gov.plans.key_filter(self.key.id, provider)

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

    __slots__ = (
        "_admitted_ms", "_cells", "_counters", "_done", "_estimate", "_gov", "_lane", "_limits", "_price", "_rules",
        "model", "provider", "res_id",
    )  # fmt: skip

    def __init__(
        self,
        governance: Governance,
        cells: KeyCells | None,
        rules: Sequence[Rule],
        limits: Sequence[Limit],
        res_id: str,
        provider: str,
        model: str,
        price: Price | None,
        estimate: Estimate,
        counters: Counters | None = None,
        lane: Lane | None = None,
        admitted_ms: int = 0,
    ) -> None:
        self._gov = governance
        self._cells = cells  # the virtual key's counters (None: no key)
        self._rules = rules
        self._limits = limits  # one per rule, with this attempt's windows
        self.res_id = res_id
        self.provider = provider
        self.model = model
        self._price = price
        self._estimate = estimate
        self._counters = counters
        self._lane = lane  # admitted through the plan's in-process lane (then no limits, no counters)
        self._admitted_ms = admitted_ms  # the lane's windows: the admission's, as in ``limits``
        self._done = False

    async def settle(self, usage: Usage | None, outcome: Outcome) -> None:
        """Charge the attempt: its real usage when known; with none, nothing for a failure, the
        estimated input for an abandoned attempt (the client left), the estimate for an answer."""
        if self._done:
            return
        self._done = True
        if usage is None:
            usage = self._fallback_usage(outcome)  # None only for a failure
        price = self._price
        cost = price.cost(usage) if (price is not None and usage is not None) else 0.0
        cells = self._cells
        if cells is not None and usage is not None:
            if usage.input_tokens > 0:
                cells.input(usage.input_tokens)
            if usage.output_tokens > 0:
                cells.output(usage.output_tokens)
            if cost > 0:
                cells.cost(cost)
        lane = self._lane
        if lane is not None:
            menu = (  # a failed attempt without usage: nothing counts, not even the request
                (0, 0, 0) if usage is None
                else (0 if outcome == "failed" else 1, usage.input_tokens + usage.output_tokens, round(cost * NANO))
            )  # fmt: skip
            gov = self._gov
            if usage is not None and price is not None:
                gov.priced = (usage, self.provider, self.model, cost)  # record_cost reads it, not the table
            totals = lane.settle(menu, self.res_id, int(gov.wall_clock() * 1000), _MARKER_TTL_MS, self._admitted_ms)
            if totals is not None:
                for rule, total in zip(self._rules, totals, strict=True):
                    rule.show(total)
            return
        limits, counters = self._limits, self._counters
        if not limits or counters is None:
            return
        if usage is None:  # a failed attempt without usage: nothing counts, not even the request
            amounts = [0] * len(limits)
        else:
            request = 0 if outcome == "failed" else 1
            tokens = usage.input_tokens + usage.output_tokens
            nano = round(cost * NANO)
            amounts = [
                request if lim.unit == "requests" else tokens if lim.unit == "tokens" else nano for lim in limits
            ]
        # Not awaited: the answer goes out while the settlement travels (see ``settle_behind``). Its
        # reservation, the estimate, counts on every replica until the settlement lands.
        counters.settle_behind(limits, amounts, self.res_id, self._gov.now_ms(), _MARKER_TTL_MS, self._settled)

    def _settled(self, totals: list[int] | None, error: BaseException | None) -> None:
        if error is not None:
            # The reservation expires after its TTL; the charge of this attempt is lost (logged).
            if isinstance(error, StoreUnavailableError):
                logger.warning("governance: could not settle %s on %s: %s", self.res_id, error.store, error.message)
            else:
                logger.error("governance: settling %s failed: %s", self.res_id, type(error).__name__)
            self._gov.metrics.store_error("settle")
            return
        if totals is not None:
            for rule, total in zip(self._rules, totals, strict=True):
                rule.show(total)

    def _fallback_usage(self, outcome: Outcome) -> Usage | None:
        if outcome == "failed":
            return None
        if outcome == "abandoned":
            return Usage(input_tokens=self._estimate.input_tokens)
        return Usage(input_tokens=self._estimate.input_tokens, output_tokens=self._estimate.output_tokens or 0)


def _limit(spec: LimitSpec, now_ms: int) -> Limit:
    kind: Literal["budget", "rate_limit"] = "budget" if spec.unit == "dollars" else "rate_limit"
    return Limit(
        spec.key, spec.maximum, window(spec.duration, spec.calendar, now_ms), spec.unit, spec.owner,
        spec.limit_id, spec.duration, kind,
    )  # fmt: skip


def _counted(gov: Governance, name: str | None, error: GatewayError) -> GatewayError:
    """``error``, counted as a refusal of the key ``name``."""
    gov.metrics.rejected(name, error.code or "limited")
    return error


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
