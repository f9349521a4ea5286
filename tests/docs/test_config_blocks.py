"""Every configuration the documentation shows passes ``bifrost-asgi --check``.

Blocks fenced ```` ```json ```` or ```` ```jsonc ```` in README.md and in every Markdown file under
examples/ and deploy/, and every ``config*.json`` file under them, are configurations: each is checked as a
user would, ``bifrost-asgi --check --config FILE``, with the ``env.NAME`` variables it references set
(to placeholders). A JSON example that is not a configuration belongs in a ```` ```text ```` fence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bifrost_asgi import cli

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(json|jsonc)[^\n]*\n(.*?)^```", re.M | re.S)
_ENV_REF = re.compile(r'"env\.([A-Za-z_][A-Za-z0-9_]*)"')


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "examples").rglob("*.md")), *sorted((ROOT / "deploy").rglob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for doc in _documents():
        text = doc.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(2)))
    for file in sorted([*(ROOT / "examples").rglob("config*.json"), *(ROOT / "deploy").rglob("config*.json")]):
        found.append((str(file.relative_to(ROOT)), file.read_text(encoding="utf-8")))
    return found


BLOCKS = _blocks()


def test_the_documentation_has_config_blocks_to_check() -> None:
    names = {name.split(":")[0] for name, _ in BLOCKS}
    assert "README.md" in names
    assert "examples/config.standalone.json" in names and "deploy/ha/config.json" in names


@pytest.mark.parametrize(("name", "text"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_config_block_passes_check(
    name: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in set(_ENV_REF.findall(text)):
        monkeypatch.setenv(variable, f"placeholder-{variable.lower()}")
    for variable in ("BIFROST_CONFIG", "BIFROST_DEMO"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    status = cli.main(["--check", "--config", str(path)])
    out, err = capsys.readouterr()
    assert status == 0, f"{name} fails --check:\n{out}{err}"
