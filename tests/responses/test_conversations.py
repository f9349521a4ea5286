"""Stored responses on the in-process store: round trip, owners, expiry, unreadable records."""

from __future__ import annotations

import pytest

from bifrost_asgi.responses.conversations import Conversations, StoredResponse
from bifrost_asgi.store import MemoryStore

pytestmark = pytest.mark.anyio


def record(owner: str | None = None) -> StoredResponse:
    return StoredResponse(
        id="resp_1", owner=owner, provider="anthropic", model="anthropic/claude", upstream_holds=False,
        input=[{"id": "msg_1", "type": "message", "role": "user", "content": "hi"}],
        output=[{"id": "msg_2", "type": "message", "role": "assistant", "content": []}],
        response={"id": "resp_1", "object": "response"},
    )  # fmt: skip


async def test_round_trip_and_history() -> None:
    conversations = Conversations(MemoryStore(), ttl_seconds=60)
    await conversations.save(record())
    loaded = await conversations.load("resp_1", None)
    assert loaded == record()
    assert [i["id"] for i in loaded.history()] == ["msg_1", "msg_2"]


async def test_visible_only_to_its_owner() -> None:
    conversations = Conversations(MemoryStore(), ttl_seconds=60)
    await conversations.save(record(owner="vk-a"))
    assert await conversations.load("resp_1", "vk-b") is None
    assert await conversations.load("resp_1", None) is None
    assert not await conversations.delete("resp_1", "vk-b")
    assert await conversations.delete("resp_1", "vk-a")
    assert await conversations.load("resp_1", "vk-a") is None


async def test_expires_after_the_ttl() -> None:
    now = [0.0]
    conversations = Conversations(MemoryStore(clock=lambda: now[0]), ttl_seconds=60)
    await conversations.save(record())
    now[0] = 59.0
    assert await conversations.load("resp_1", None) is not None
    now[0] = 61.0
    assert await conversations.load("resp_1", None) is None


async def test_unreadable_records_are_missing() -> None:
    store = MemoryStore()
    conversations = Conversations(store, ttl_seconds=60)
    await store.set("responses:resp_x", b"not json")
    await store.set("responses:resp_y", b'{"v": 99, "id": "resp_y"}')
    assert await conversations.load("resp_x", None) is None
    assert await conversations.load("resp_y", None) is None
