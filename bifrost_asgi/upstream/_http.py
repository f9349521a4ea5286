"""The only module that imports the HTTP client library (httpx2, else httpx: same API)."""

from __future__ import annotations

try:  # pragma: no cover - which one is installed decides
    import httpx2 as httpx
except ModuleNotFoundError:  # pragma: no cover
    import httpx  # type: ignore[no-redef, import-not-found, unused-ignore]

__all__ = ["httpx"]
