"""Shared state behind one small interface: in-process by default, Redis when a URL is configured.

Governance counters, stored Responses and later caches use it, so N gateway replicas pointed at one
Redis share one state. ``open_store`` picks the implementation; nothing here imports the gateway.
"""

from __future__ import annotations

from .base import KeyValueStore, StoreUnavailableError
from .memory import MemoryStore
from .open import open_store, redacted_url

__all__ = ["KeyValueStore", "MemoryStore", "StoreUnavailableError", "open_store", "redacted_url"]
