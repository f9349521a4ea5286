"""The upstream I/O seam (``Upstream``) and its implementations: httpx-style transports, aiohttp,
and the in-process ``mock://`` server. The only package that imports an HTTP client.
"""

from __future__ import annotations

from .base import HttpxUpstream, SchemeUpstream, Timeouts, Upstream, UpstreamStream

__all__ = ["HttpxUpstream", "SchemeUpstream", "Timeouts", "Upstream", "UpstreamStream"]
