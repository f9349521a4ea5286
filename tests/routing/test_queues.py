from __future__ import annotations

import asyncio

import pytest

from bifrost_asgi.errors import QueueFullError
from bifrost_asgi.routing.queues import ProviderQueue

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_drop_excess_serves_concurrency_plus_buffer_and_refuses_the_rest() -> None:
    queue = ProviderQueue("p", concurrency=2, buffer_size=2, drop_excess=True)
    release = asyncio.Event()
    served = 0

    async def request() -> str:
        nonlocal served
        try:
            async with queue.slot():
                served += 1
                await release.wait()
                return "ok"
        except QueueFullError as exc:
            assert exc.status == 429 and exc.retry_after == 1.0
            return "429"

    tasks = [asyncio.create_task(request()) for _ in range(10)]
    await asyncio.sleep(0.01)
    assert queue.in_flight == 2 and queue.waiting == 2
    release.set()
    results = await asyncio.gather(*tasks)
    assert results.count("ok") == 4 and results.count("429") == 6
    assert served == 4 and queue.in_flight == 0 and queue.waiting == 0


async def test_without_drop_everyone_waits_their_turn_in_order() -> None:
    queue = ProviderQueue("p", concurrency=1, buffer_size=1, drop_excess=False)
    order: list[int] = []

    async def request(i: int) -> None:
        async with queue.slot():
            order.append(i)
            await asyncio.sleep(0)

    await asyncio.gather(*(request(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert queue.in_flight == 0


async def test_cancelled_waiter_frees_its_place() -> None:
    depths: list[int] = []
    queue = ProviderQueue("p", concurrency=1, buffer_size=5, drop_excess=True, on_depth=lambda _, n: depths.append(n))
    hold = asyncio.Event()

    async def holder() -> None:
        async with queue.slot():
            await hold.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    assert queue.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.waiting == 0
    hold.set()
    await first
    assert queue.in_flight == 0
    assert depths[-1] == 0
