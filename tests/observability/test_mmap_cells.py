"""MmapCell against prometheus_client's own multiprocess writes: the same files, fork-safe.

Each test runs a script in a fresh interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus_client
picks its value class when first imported) and reads what every process wrote with a
``MultiProcessCollector``, as a scrape does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from bifrost_asgi.observability.metrics import fork_count
from bifrost_asgi.observability.mmap_cells import MmapCell

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import os, sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from bifrost_asgi.observability.metrics import _Observe, bound_counter, bound_gauge, fork_count
from bifrost_asgi.observability.mmap_cells import MmapCell

def scrape():
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in registry.collect() for s in f.samples}

def fast(inc):
    assert isinstance(getattr(inc, "__self__", None), MmapCell), inc  # the fast path, not a fallback
    return inc

forks = fork_count()
assert forks is not None
registry = CollectorRegistry()
"""


def run(script: str, tmp_path: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_fast_writes_read_back_as_prometheus_clients_own(tmp_path: Path) -> None:
    out = run(
        """
counter = Counter("c", "c", ["way"], registry=registry)
gauge = Gauge("g", "g", ["way"], registry=registry, multiprocess_mode="livesum")
hist = Histogram("h", "h", ["way"], registry=registry, buckets=(0.1, 1.0))
inc = fast(bound_counter(counter.labels("fast"), forks))
level = fast(bound_gauge(gauge.labels("fast"), forks))
observe = _Observe(hist.labels("fast"), forks)
fast(observe._sum)
for amount in (1, 2.5, 0.25):
    inc(amount)
    counter.labels("own").inc(amount)
    observe.observe(amount)
    hist.labels("own").observe(amount)
level(7.0)
gauge.labels("own").set(7.0)
observe.zeros(3)
for _ in range(3):
    hist.labels("own").observe(0.0)
samples = scrape()
mine = {(n, l): v for (n, l), v in samples.items() if ("way", "fast") in l}
theirs = {(n, tuple(p if p != ("way", "own") else ("way", "fast") for p in l)): v
          for (n, l), v in samples.items() if ("way", "own") in l}
assert mine == theirs, (mine, theirs)
assert mine[("c_total", (("way", "fast"),))] == 3.75
print(len(mine))
""",
        tmp_path,
    )
    assert int(out) == 7  # the counter, the gauge, the histogram's 3 buckets, count and sum


def test_a_forked_process_writes_its_own_file_not_its_parents(tmp_path: Path) -> None:
    """A worker forked after its parent wrote (``gunicorn --preload``) counts from zero in a file of
    its own; without the fork check it would overwrite the parent's slot and the sum would be 4."""
    out = run(
        """
counter = Counter("c", "c", [], registry=registry)
gauge = Gauge("g", "g", [], registry=registry, multiprocess_mode="livesum")
inc = fast(bound_counter(counter, forks))
level = fast(bound_gauge(gauge, forks))
inc(3)
level(2.0)
pid = os.fork()
if pid == 0:
    try:
        inc(5)
        level(10.0)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
inc(1)
samples = scrape()
files = [p for p in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if p.startswith("counter_")]
print(samples[("c_total", ())], samples[("g", ())], len(files))
""",
        tmp_path,
    )
    total, level, files = out.split()
    assert float(total) == 9.0  # 3 + 1 in the parent's file, 5 in the child's
    assert float(level) == 12.0  # livesum over both files: 2 + 10
    assert files == "2"


def test_writes_after_the_file_grew_land_in_it(tmp_path: Path) -> None:
    """A new series past the file's capacity maps it anew; a cell bound before still writes to it."""
    out = run(
        """
counter = Counter("c", "c", ["n"], registry=registry)
inc = fast(bound_counter(counter.labels("first"), forks))
inc(1)
mapped = counter.labels("first")._value._file._m
for i in range(12000):  # ~200 bytes a series: past the first 1 MiB
    counter.labels(f"series-{i:06d}-" + "x" * 100).inc()
assert counter.labels("first")._value._file._m is not mapped, "the file did not grow"
inc(41)
print(scrape()[("c_total", (("n", "first"),))])
""",
        tmp_path,
    )
    assert float(out) == 42.0


def test_in_one_process_nothing_is_mapped() -> None:
    """Without ``PROMETHEUS_MULTIPROC_DIR`` at import, values are in-memory floats: no fork count,
    and ``MmapCell`` refuses them."""
    assert fork_count() is None
    child = Counter("one_process", "d", registry=CollectorRegistry())
    assert not MmapCell.fits(child._value)
