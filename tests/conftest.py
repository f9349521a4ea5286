"""Shared fixtures: a fresh fake vendor server per test, and anyio on asyncio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_provider import FakeProvider


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
