"""The router's view of admission control (implemented by ``governance/``): before each attempt
(primary, retry, fallback) the router asks the request's guard to admit it; the ticket is settled
when the attempt ends, with the usage it reported."""

from __future__ import annotations

from typing import Literal, Protocol

from ..neutral import Usage

Outcome = Literal["ok", "failed", "abandoned"]


class AttemptTicket(Protocol):
    async def settle(self, usage: Usage | None, outcome: Outcome) -> None: ...


class AttemptGuard(Protocol):
    async def admit(self, provider: str, model: str) -> AttemptTicket:
        """Admit one attempt or raise the ``GatewayError`` that refuses it."""
        ...

    def key_filter(self, provider: str) -> frozenset[str] | None:
        """The ids/names of the provider's keys this request may use (None: any)."""
        ...
