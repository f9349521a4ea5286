"""What compiling hot-path modules with mypyc would save, in process: an experiment, not a build.

The package is copied to a temporary directory, the given modules are compiled there by mypyc (it
comes with mypy, a dev dependency; it needs a C compiler and Python's headers), and
``bench/inproc.py --callgrind`` runs each pair against the copy and against the source tree, one
after the other. Every compiled module is checked to load as an extension module in the copy, so a
failed build cannot pass for a measurement.

    .venv/bin/python bench/mypyc_probe.py                    # the default modules, pairs openai anthropic
    .venv/bin/python bench/mypyc_probe.py openai -m bifrost_asgi/observability/metrics.py

What mypyc (2.4) cannot compile today: a module with an async generator ("async generators are
unimplemented": gateway.py, routing/router.py, routing/queues.py, asgi/app.py), and
``providers/base.py`` compiles but its ``@runtime_checkable`` protocols then fail at import.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = ROOT / ".venv" / "bin"

#: Leaf modules of the OpenAI -> OpenAI and Anthropic -> OpenAI paths that mypyc compiles as they are.
DEFAULT_MODULES = (
    "bifrost_asgi/asgi/disconnect.py",
    "bifrost_asgi/asgi/headers.py",
    "bifrost_asgi/dialects/openai.py",
    "bifrost_asgi/dialects/openai_parse.py",
    "bifrost_asgi/dialects/openai_passthrough.py",
    "bifrost_asgi/dialects/validate.py",
    "bifrost_asgi/observability/metrics.py",
    "bifrost_asgi/observability/request_log.py",
    "bifrost_asgi/observability/secrets.py",
    "bifrost_asgi/providers/openai.py",
    "bifrost_asgi/providers/openai_build.py",
    "bifrost_asgi/providers/openai_parse.py",
    "bifrost_asgi/replies.py",
    "bifrost_asgi/routing/plan.py",
)


def compile_copy(workdir: Path, modules: list[str]) -> None:
    """The package copied into ``workdir`` with ``modules`` compiled in place."""
    shutil.copytree(ROOT / "bifrost_asgi", workdir / "bifrost_asgi", ignore=shutil.ignore_patterns("__pycache__"))
    (workdir / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    done = subprocess.run([str(VENV / "mypyc"), *modules], cwd=workdir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if ": error:" in line]
        raise SystemExit("mypyc failed:\n" + "\n".join(errors or [done.stdout[-3000:], done.stderr[-3000:]]))
    for module in modules:
        name = module.removesuffix(".py").replace("/", ".")
        check = f"import {name} as m, sys; sys.exit(0 if m.__file__.endswith('.so') else 1)"
        env = {**os.environ, "PYTHONPATH": str(workdir)}
        if subprocess.run([sys.executable, "-c", check], cwd=workdir, env=env, check=False).returncode != 0:
            raise SystemExit(f"{name} did not load compiled from {workdir}")


def instructions(pair: str, n: int, pythonpath: str | None) -> float:
    env = {**os.environ}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    else:
        env.pop("PYTHONPATH", None)
    argv = [sys.executable, str(BENCH / "inproc.py"), pair, "--callgrind", "-n", str(n)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600, check=True)
    for line in done.stdout.splitlines():
        if line.lstrip().startswith(pair) and "instructions" in line:
            return float(line.split()[1].replace(",", ""))
    raise RuntimeError(f"no instruction count in inproc.py's output:\n{done.stdout[-2000:]}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="*", default=["openai", "anthropic"], help="bench/inproc.py pairs")
    p.add_argument("-m", "--module", action="append", help="a module to compile (repeatable; default: the list above)")
    p.add_argument("-n", type=int, default=200, help="requests per callgrind run (default 200)")
    a = p.parse_args()
    if importlib.util.find_spec("mypy") is None or not (VENV / "mypyc").exists():
        p.error("mypyc is not installed in .venv (pip install -e '.[dev]')")
    modules = a.module or list(DEFAULT_MODULES)
    with tempfile.TemporaryDirectory(prefix="mypyc-probe-") as tmp:
        compile_copy(Path(tmp), modules)
        print(f"compiled {len(modules)} modules; instructions per request in process (callgrind, -n {a.n})")
        for pair in a.pairs:
            pure = instructions(pair, a.n, None)
            compiled = instructions(pair, a.n, tmp)
            change = compiled / pure - 1
            print(f"{pair:<14} {pure:10,.0f} pure Python  {compiled:10,.0f} compiled  {change:+.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
