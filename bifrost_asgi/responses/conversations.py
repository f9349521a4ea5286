"""Stored responses on the shared ``KeyValueStore`` (memory by default, Redis across replicas).

One JSON record per response id, written once, with a time to live: the owner (the virtual key
that made it, when there is one), the model and provider, whether the upstream that made it keeps
it too (a Responses-native upstream called with ``store`` on), the full expanded input items
(every earlier turn included, so a follow-up needs one read, not a walk up the chain), the output
items (with vendor state the client never sees), and the response object as the client got it.
A record is visible only to its owner: another key's lookup is the same ``None`` as a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _json
from ..neutral._build import fast_new
from ..store import KeyValueStore

_VERSION = 1


@fast_new
@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    owner: str | None
    provider: str | None
    model: str
    upstream_holds: bool
    input: Sequence[Mapping[str, Any]]
    output: Sequence[Mapping[str, Any]]
    response: Mapping[str, Any]

    def history(self) -> list[Mapping[str, Any]]:
        """What a follow-up's ``previous_response_id`` stands for: every input item, then the output."""
        return [*self.input, *self.output]

    def encode(self) -> bytes:
        return _json.dumps(
            {
                "v": _VERSION,
                "id": self.id,
                "owner": self.owner,
                "provider": self.provider,
                "model": self.model,
                "upstream_holds": self.upstream_holds,
                "input": list(self.input),
                "output": list(self.output),
                "response": dict(self.response),
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> StoredResponse | None:
        """The record, or None for anything unreadable (another version, a foreign key)."""
        try:
            data = _json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return None
        try:
            return cls(
                id=str(data["id"]),
                owner=data.get("owner"),
                provider=data.get("provider"),
                model=str(data.get("model") or ""),
                upstream_holds=bool(data.get("upstream_holds")),
                input=list(data.get("input") or ()),
                output=list(data.get("output") or ()),
                response=dict(data.get("response") or {}),
            )
        except (KeyError, TypeError, ValueError):
            return None


class Conversations:
    """Load, save and delete stored responses; every method may raise ``StoreUnavailableError``."""

    def __init__(self, store: KeyValueStore, *, ttl_seconds: float, prefix: str = "responses:") -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def load(self, response_id: str, owner: str | None) -> StoredResponse | None:
        raw = await self._store.get(self._prefix + response_id)
        record = StoredResponse.decode(raw) if raw is not None else None
        if record is None or record.owner != owner:
            return None
        return record

    async def save(self, record: StoredResponse) -> None:
        await self._store.set(self._prefix + record.id, record.encode(), ttl_seconds=self._ttl)

    async def delete(self, response_id: str, owner: str | None) -> bool:
        if await self.load(response_id, owner) is None:
            return False
        return await self._store.delete(self._prefix + response_id)
