"""Access control and spending control: virtual keys, budgets, rate limits.

One seam into the flow: the gateway authenticates the request (``Governance.authenticate``), puts
the key on the request context (``RequestContext.virtual_key``: an ``AuthenticatedKey`` with ``id``,
``name``, ``team_id``, ``customer_id``, ``mcp_configs``; ``None`` without a key), and gives the router
a per-request guard (``RequestContext.guard``) that admits each attempt (primary, retries and
fallbacks) before its upstream call and settles it after the reply.

Any other route that spends provider money uses the same two calls::

    key = await governance.authenticate(headers, query)      # 401/403 in the caller's dialect
    guard = governance.guard(key, request_id, Estimate(input_tokens=..., output_tokens=...))
    ticket = await guard.admit(provider, model)              # 403/429/402/400/503
    ...                                                      # the upstream call
    await ticket.settle(usage, "ok")                         # or "failed" / "abandoned"

Nothing is imported here, so ``config/settings.py`` can embed ``governance.config`` models.
"""
