"""The README's JavaScript client code run with Node against the demo gateway: the guide's
Anthropic snippet as written (only its ``baseURL`` host pointed at the test's gateway), and the
OpenAI JavaScript one-line fix from the SDK table. The SDKs are installed from npm into a
temporary folder by the test (a few seconds); without ``node``/``npm`` on PATH the test fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bifrost_asgi import bifrost_app
from bifrost_asgi.config.loading import demo_settings
from tests.support import ServerHandle, run_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_URL = "http://localhost:8080"
PACKAGES = ("@anthropic-ai/sdk@^1", "openai@^6")


def javascript_blocks() -> list[str]:
    return re.findall(r"```javascript\n(.*?)```", README, flags=re.S)


def openai_js_constructor() -> str:
    (row,) = [line for line in README.splitlines() if line.startswith("| OpenAI JavaScript |")]
    (code,) = re.findall(r"`(new OpenAI\(.*?\))`", row)
    return code


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to run the README's JavaScript"
    folder = tmp_path_factory.mktemp("node")
    (folder / "package.json").write_text(json.dumps({"name": "readme-js", "private": True, "type": "module"}))
    install = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return folder


@pytest.fixture(scope="module")
def demo_gateway() -> Iterator[ServerHandle]:
    with run_server(bifrost_app(demo_settings())) as server:
        yield server


def run_node(folder: Path, name: str, code: str, env: dict[str, str]) -> str:
    script = folder / name
    script.write_text(code, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    done = subprocess.run(["node", str(script)], cwd=folder, env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_readme_anthropic_javascript_snippet(node_project: Path, demo_gateway: ServerHandle) -> None:
    (snippet,) = [b for b in javascript_blocks() if "@anthropic-ai/sdk" in b]
    assert README_URL in snippet
    code = snippet.replace(README_URL, demo_gateway.url) + "\nconsole.log(JSON.stringify(message));\n"
    message = json.loads(run_node(node_project, "anthropic.mjs", code, {"ANTHROPIC_API_KEY": "anything"}))
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["text"] == "Echo: test"
    assert message["usage"]["output_tokens"] > 0


def test_the_readme_openai_javascript_fix(node_project: Path, demo_gateway: ServerHandle) -> None:
    constructor = openai_js_constructor().replace(README_URL, demo_gateway.url)
    code = (
        'import OpenAI from "openai";\n'
        f"const client = {constructor};\n"
        'const answer = await client.chat.completions.create({model: "gpt-4o-mini", '
        'messages: [{role: "user", content: "hello"}]});\n'
        "console.log(JSON.stringify(answer));\n"
    )
    answer = json.loads(run_node(node_project, "openai.mjs", code, {}))  # no OPENAI_API_KEY: the fix is apiKey
    assert answer["choices"][0]["message"]["content"] == "Echo: hello"
