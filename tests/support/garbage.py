"""What the cycle collector finds: the objects a block of code left in reference cycles, and the
gateway's part of them (another thread of the test process, such as a server another test left
running, may leave garbage of its own meanwhile)."""

from __future__ import annotations

import contextlib
import gc
import types
from collections import Counter
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def collected() -> Iterator[list[object]]:
    """Collect, then run the block with automatic collection off; at its end the list holds every
    object a collection found unreachable (kept by ``DEBUG_SAVEALL``)."""
    found: list[object] = []
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def gateway_part(garbage: Iterable[object]) -> Counter[str]:
    """Frames of the gateway's code and objects of its classes (every cycle it made holds some)."""
    found: Counter[str] = Counter()
    for o in garbage:
        if isinstance(o, types.FrameType):
            if "bifrost_asgi" in o.f_code.co_filename:
                found["frame " + o.f_code.co_name] += 1
        elif type(o).__module__.startswith("bifrost_asgi"):
            found[type(o).__name__] += 1
    return found
