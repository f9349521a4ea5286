"""The management API over real sockets: guarded by the admin token; keys created, used through the
OpenAI SDK, listed without their value, deactivated, deleted; usage per entity; with Redis, a key
created on one replica works on another."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
TOKEN = "admin-token-5b1e9c"
ADMIN = {"authorization": f"Bearer {TOKEN}"}
HELLO: Any = [{"role": "user", "content": "hi"}]


def config(fake: FakeProvider, **governance: Any) -> dict[str, Any]:
    return {
        "providers": {"openai": {"keys": [{"value": "sk-upstream"}], "network_config": {"base_url": fake.url}}},
        "client": {"enforce_auth_on_inference": True, "admin_token": TOKEN},
        "governance": governance,
    }


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(config(fake_provider)) as handle:
        yield handle


def chat(gateway: ServerHandle, key: str) -> Any:
    client = openai.OpenAI(api_key=key, base_url=gateway.url + "/v1", max_retries=0)
    return client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, max_tokens=8)


def test_admin_token_is_required(gateway: ServerHandle) -> None:
    assert httpx2.get(gateway.url + "/api/governance/virtual-keys").status_code == 401
    wrong = httpx2.get(gateway.url + "/api/governance/virtual-keys", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text


def test_api_is_absent_without_a_token(fake_provider: FakeProvider) -> None:
    plain = config(fake_provider)
    del plain["client"]["admin_token"]
    with run_gateway(plain) as handle:
        assert httpx2.get(handle.url + "/api/governance/virtual-keys", headers=ADMIN).status_code == 404


def test_key_lifecycle(fake_provider: FakeProvider, gateway: ServerHandle) -> None:
    api = gateway.url + "/api/governance"
    budget = {"id": "b-api", "max_limit": 5.0, "reset_duration": "1M", "virtual_key_id": "vk-api"}
    created = httpx2.post(api + "/virtual-keys", headers=ADMIN, json={
        "id": "vk-api", "name": "api-made", "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}],
    })  # fmt: skip
    assert created.status_code == 201, created.text
    value = created.json()["value"]
    assert value.startswith("sk-bf-")
    assert httpx2.post(api + "/budgets", headers=ADMIN, json=budget).status_code == 201
    assert chat(gateway, value).choices
    listed = httpx2.get(api + "/virtual-keys", headers=ADMIN)
    assert [k["id"] for k in listed.json()["virtual-keys"]] == ["vk-api"] and value not in listed.text
    one = httpx2.get(api + "/virtual-keys/vk-api", headers=ADMIN).json()
    assert "value" not in one and value not in str(one)
    spent = next(u for u in one["usage"] if u["id"] == "b-api")
    assert spent["unit"] == "dollars" and 0 < spent["used"] < 0.01 and spent["limit"] == 5.0
    usage = httpx2.get(api + "/usage", headers=ADMIN).json()["usage"]
    assert any(u["id"] == "b-api" for u in usage)
    bad = httpx2.post(api + "/budgets", headers=ADMIN, json={**budget, "id": "b2", "virtual_key_id": "ghost"})
    assert bad.status_code == 400 and "ghost" in bad.text
    assert httpx2.put(api + "/virtual-keys/vk-api", headers=ADMIN, json={"is_active": False}).status_code == 200
    with pytest.raises(openai.PermissionDeniedError):
        chat(gateway, value)
    assert httpx2.put(api + "/virtual-keys/vk-api", headers=ADMIN, json={"is_active": True}).status_code == 200
    assert chat(gateway, value).choices  # the value survives updates
    assert httpx2.delete(api + "/budgets/b-api", headers=ADMIN).status_code == 200
    assert httpx2.delete(api + "/virtual-keys/vk-api", headers=ADMIN).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, value)
    assert httpx2.get(api + "/virtual-keys/vk-api", headers=ADMIN).status_code == 404


def test_changes_reach_every_replica_on_redis(fake_provider: FakeProvider, redis_server: RedisServer) -> None:
    shared = config(fake_provider, store={"url": redis_server.url, "sync_interval_seconds": 0.1},
                    virtual_keys=[{"id": "seed", "name": "seed", "value": "sk-bf-seeded-1",
                                   "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}])  # fmt: skip
    with run_gateway(shared) as a, run_gateway(shared) as b:
        assert chat(b, "sk-bf-seeded-1").choices
        created = httpx2.post(a.url + "/api/governance/virtual-keys", headers=ADMIN, json={
            "name": "made-on-a", "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}],
        })  # fmt: skip
        value = created.json()["value"]
        deadline = time.monotonic() + 20
        while True:
            try:
                assert chat(b, value).choices
                break
            except openai.AuthenticationError:
                assert time.monotonic() < deadline, "replica b never saw the key made on a"
                time.sleep(0.1)
        listed = httpx2.get(b.url + "/api/governance/virtual-keys", headers=ADMIN).json()["virtual-keys"]
        assert {k["name"] for k in listed} == {"seed", "made-on-a"}
    import redis

    raw = redis.Redis.from_url(redis_server.url).get("bifrost:gov:doc") or b""
    assert value.encode() not in raw and b"sk-bf-seeded-1" not in raw  # only digests are stored
