"""The deployment files, checked as far as this machine can (no Docker engine, no base images).

- ``Dockerfile``: multi-stage, a non-root user, a HEALTHCHECK on /health, the config at
  /app/config/config.json, 0.0.0.0:8080; its install command (``pip install .`` of the checkout) and
  its start command (ENTRYPOINT + CMD with its ENV) run here in a fresh virtual environment, with
  the image's config directory, answer the OpenAI SDK, pass the HEALTHCHECK command, and stop
  gracefully on SIGTERM with a stream in flight.
- The compose files and Kubernetes manifests parse, mount the config where the image reads it, and
  every path they probe or scrape is a route the gateway answers.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import venv
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import yaml

from bifrost_asgi import bifrost_app
from bifrost_asgi.config.loading import parse_config_text
from tests.support import run_server
from tests.support.processes import clean_env, free_port, serve_command

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE_CONFIG_DIR = "/app/config"


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list)
    return [str(v) for v in value]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    stages = [i for i, (word, _) in enumerate(dockerfile()) if word == "FROM"]
    for word, args in dockerfile()[stages[-1] :]:  # the final stage's ENV
        if word == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_dockerfile_shape() -> None:
    froms = instructions("FROM")
    assert len(froms) >= 2 and " AS " in froms[0].upper(), "multi-stage build"
    assert any(args.startswith("--from=") for args in instructions("COPY"))
    (user,) = instructions("USER")
    assert user not in ("root", "0")
    (health,) = instructions("HEALTHCHECK")
    assert "/health" in health and "CMD" in health
    assert instructions("EXPOSE") == ["8080"]
    env = image_env()
    assert env["BIFROST_APP_DIR"] == IMAGE_CONFIG_DIR
    assert (env["BIFROST_HOST"], env["BIFROST_PORT"]) == ("0.0.0.0", "8080")
    assert instructions("STOPSIGNAL") == ["SIGTERM"]
    assert any("pip install ." in args for args in instructions("RUN"))
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the checkout installed by the Dockerfile's own command,
    ``pip install .`` (which builds a wheel of the checkout, in an isolated build environment, and
    installs it), plus ``--no-deps``: the dependencies are made visible from this environment
    through a .pth file instead of being installed again. The package, its data files and the
    console script come from the built wheel, not from the editable install."""
    target = tmp_path_factory.mktemp("image") / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    (command,) = [args for args in instructions("RUN") if "pip install ." in args]
    argv = [str(python), "-m", "pip", "install", "--no-deps", "-q", str(ROOT)]
    assert command.split()[-2:] == ["install", "."]
    install = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=clean_env(), cwd=ROOT)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (target / "bin" / "bifrost-asgi").exists()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "_deps.pth").write_text("\n".join(deps) + "\n")
    return target


def image_command(image_venv: Path) -> list[str]:
    (entry,) = instructions("ENTRYPOINT")
    (cmd,) = instructions("CMD")
    argv = exec_form(entry) + exec_form(cmd)
    argv[0] = str(image_venv / "bin" / argv[0])
    return argv


def test_image_start_command_serves_the_mounted_config(
    image_venv: Path, tmp_path: Path, fake_provider: Any
) -> None:
    config_dir = tmp_path / "app-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"providers": {
        "openai": {"keys": [{"value": "env.OPENAI_API_KEY", "models": ["gpt-4o-mini"]}],
                   "network_config": {"base_url": fake_provider.url}},
        "mock": {"keys": [], "mock_config": {"chunk_delay_ms": 150}},
    }}))  # fmt: skip
    port = free_port()
    env = {**image_env(), "BIFROST_APP_DIR": str(config_dir), "BIFROST_PORT": str(port), "OPENAI_API_KEY": "sk-img"}
    env["BIFROST_HOST"] = "127.0.0.1"  # the image binds 0.0.0.0; loopback is enough here
    env["PATH"] = f"{image_venv / 'bin'}:{clean_env()['PATH']}"
    with serve_command(image_command(image_venv), port, env=env) as served:
        client = openai.OpenAI(base_url=served.url + "/openai", api_key="unused", max_retries=0)
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "openai says: hi"
        assert fake_provider.last("/chat/completions").headers["authorization"] == "Bearer sk-img"
        health = _run_healthcheck(env)
        assert health.returncode == 0, health.stderr
        streamed = _stream_then_sigterm(served.url, served.process)
        # Its own exit, before serve_command's: a second SIGTERM while the interpreter tears down
        # (uvicorn has put the default handlers back by then) would kill it (-15) after a clean drain.
        served.process.wait(timeout=30)
    # drained, the lifespan shutdown ran, and the exit status is 0 (not 143: killed by SIGTERM)
    assert served.process.returncode == 0, served.output
    assert streamed == "Echo: please finish this answer"  # the stream in flight finished after SIGTERM
    assert "Application shutdown complete" in served.output


def _run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (health,) = instructions("HEALTHCHECK")
    argv = exec_form(health[health.index("CMD") + 3 :].strip())
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


def _stream_then_sigterm(url: str, process: subprocess.Popen[str]) -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="mock/slow", messages=[{"role": "user", "content": "please finish this answer"}], stream=True
    )
    parts: list[str] = []
    sent = threading.Event()
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
            if not sent.is_set():  # the first content token: stop the server mid-stream
                process.send_signal(signal.SIGTERM)
                sent.set()
    return "".join(parts)


# --------------------------------------------------------------------------- compose and Kubernetes


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def gateway_paths() -> dict[str, int]:
    """Status of each path the deployment files name, on a real gateway (demo settings)."""
    paths = ("/health", "/health/ready", "/metrics")
    from bifrost_asgi.config.loading import demo_settings

    with run_server(bifrost_app(demo_settings())) as server:
        return {p: httpx2.get(server.url + p).status_code for p in paths}


def compose_files() -> list[Path]:
    return [DEPLOY / "ha" / "docker-compose.yml", ROOT / "examples" / "monitoring" / "docker-compose.yml"]


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_compose_file_builds_the_image_and_mounts_the_config(path: Path, gateway_paths: dict[str, int]) -> None:
    (doc,) = load_yaml_documents(path)
    gateways = {name: svc for name, svc in doc["services"].items() if "build" in svc}
    assert gateways
    for name, service in gateways.items():
        context = (path.parent / service["build"]["context"]).resolve()
        assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        mounts = [v.split(":") for v in service["volumes"]]
        wanted = f"{IMAGE_CONFIG_DIR}/config.json"
        assert any(dst == wanted and (path.parent / src).is_file() for src, dst, *_ in mounts)
        for src, dst, *_ in mounts:
            if dst.endswith("config.json"):
                parse_config_text((path.parent / src).read_text(), src)
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        for probe in re.findall(r"127\.0\.0\.1:8080(/[\w/]+)", test):
            assert gateway_paths[probe] == 200, probe


def test_ha_setup_two_replicas_behind_nginx() -> None:
    (doc,) = load_yaml_documents(DEPLOY / "ha" / "docker-compose.yml")
    services = doc["services"]
    replicas = sorted(name for name, svc in services.items() if "build" in svc)
    assert replicas == ["bifrost-1", "bifrost-2"]
    nginx = services["nginx"]
    assert "8080:80" in nginx["ports"]
    conf = (DEPLOY / "ha" / "nginx.conf").read_text()
    assert sorted(re.findall(r"server\s+([\w-]+):8080", conf)) == replicas
    assert re.search(r"events\s*\{", conf) and "proxy_buffering off" in conf  # a whole nginx.conf; SSE unbuffered
    assert any(v.endswith(":/etc/nginx/nginx.conf:ro") for v in nginx["volumes"])
    for name in replicas:
        assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} <= set(services[name]["environment"])


def test_monitoring_setup_scrapes_the_gateway(gateway_paths: dict[str, int]) -> None:
    monitoring = ROOT / "examples" / "monitoring"
    (doc,) = load_yaml_documents(monitoring / "docker-compose.yml")
    assert {"prometheus", "grafana"} <= set(doc["services"])
    (scrape,) = load_yaml_documents(monitoring / "prometheus.yml")
    job = scrape["scrape_configs"][0]
    assert gateway_paths[job["metrics_path"]] == 200
    (target,) = job["static_configs"][0]["targets"]
    service, port = target.split(":")
    assert service in doc["services"] and "build" in doc["services"][service] and port == "8080"


def test_kubernetes_manifest_matches_the_guide(gateway_paths: dict[str, int]) -> None:
    docs = load_yaml_documents(DEPLOY / "kubernetes" / "bifrost.yaml")
    by_kind = {d["kind"]: d for d in docs}
    deployment, service, config_map = by_kind["Deployment"], by_kind["Service"], by_kind["ConfigMap"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"containerPort": 8080}]
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == IMAGE_CONFIG_DIR
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    parse_config_text(config_map["data"]["config.json"], "configmap")
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    for probe in ("readinessProbe", "livenessProbe"):
        assert gateway_paths[container[probe]["httpGet"]["path"]] == 200
    assert service["spec"]["ports"] == [{"port": 8080, "targetPort": 8080}]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    secret_keys = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert secret_keys == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
    assert pod["terminationGracePeriodSeconds"] > 30
