"""Shared fixtures: a fresh fake vendor server per test, and anyio on asyncio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.fake_provider import FakeProvider
from tests.support.redis_server import RedisServer, running_redis

# Tests assert behaviour, never time: no per-example deadline (a loaded CI machine took 323 ms
# for an example the default 200 ms deadline refused).
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started :class:`FakeProvider` on a free loopback port; fails the test if the fake itself broke."""
    with FakeProvider() as fake:
        yield fake
        errors = fake.errors
    assert not errors, f"the fake provider raised: {errors!r}"


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One real ``redis-server`` for the whole run (see :mod:`tests.support.redis_server`)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_server(redis_session: RedisServer) -> Iterator[RedisServer]:
    """The session's ``redis-server``, emptied before each test."""
    if redis_session.process is None:
        redis_session.start()
    redis_session.flush()
    yield redis_session
