"""The upstream I/O seam (``Upstream``) and its implementations: httpx-style transports, aiohttp,
and the in-process ``mock://`` server. The only package that imports an HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import SchemeUpstream, Timeouts, Upstream, UpstreamStream

if TYPE_CHECKING:
    from ._httpx import HttpxUpstream

__all__ = ["HttpxUpstream", "SchemeUpstream", "Timeouts", "Upstream", "UpstreamStream"]


def __getattr__(name: str) -> Any:
    """``HttpxUpstream`` on first use (it imports httpx2, which an aiohttp gateway never needs)."""
    if name == "HttpxUpstream":
        from ._httpx import HttpxUpstream

        return HttpxUpstream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
