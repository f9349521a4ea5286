from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bifrost_asgi.errors import ConfigError
from bifrost_asgi.observability import metrics as metrics_module
from bifrost_asgi.observability.metrics import (
    MAX_CUSTOM_VALUES,
    MAX_MODELS_PER_PROVIDER,
    REQUEST_BUCKETS,
    UPSTREAM_BUCKETS,
    Metrics,
    multiprocess_enabled,
    render_metrics,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    assert got is not None, f"no sample {name}{labels}"
    return got


def label_values(registry: CollectorRegistry, metric: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in registry.collect()
        if family.name == metric
        for sample in family.samples
        if label in sample.labels
    }


def chat(m: Metrics, *, status: int = 200, duration: float = 0.3, model: str | None = "gpt-4o", **kw: object) -> None:
    args: dict[str, object] = {
        "route": "/openai/v1/chat/completions",
        "method": "POST",
        "dialect": "openai",
        "provider": "openai",
        "model": model,
        "status": status,
        "stream": False,
        "duration": duration,
        "custom": {},
    }
    args.update(kw)
    m.observe_request(**args)  # type: ignore[arg-type]


REQ = {"route": "/openai/v1/chat/completions", "dialect": "openai", "provider": "openai", "model": "gpt-4o"}


def test_request_counts_and_histograms_are_exact(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    for _ in range(7):
        chat(m, duration=0.3)
    for _ in range(3):
        chat(m, status=502, duration=2.0, stream=True)

    assert value(registry, "bifrost_requests_total", **REQ, status="200", stream="false") == 7
    assert value(registry, "bifrost_requests_total", **REQ, status="502", stream="true") == 3
    ok = {**REQ, "status_class": "2xx"}
    assert value(registry, "bifrost_request_duration_seconds_count", **ok) == 7
    assert value(registry, "bifrost_request_duration_seconds_sum", **ok) == pytest.approx(2.1)
    assert value(registry, "bifrost_request_duration_seconds_bucket", **ok, le="0.25") == 0
    assert value(registry, "bifrost_request_duration_seconds_bucket", **ok, le="0.5") == 7
    assert value(registry, "bifrost_request_duration_seconds_bucket", **ok, le="120.0") == 7
    bad = {**REQ, "status_class": "5xx"}
    assert value(registry, "bifrost_request_duration_seconds_bucket", **bad, le="1.0") == 0
    assert value(registry, "bifrost_request_duration_seconds_bucket", **bad, le="2.5") == 3

    path = {"path": "/openai/v1/chat/completions", "method": "POST"}
    assert value(registry, "http_requests_total", **path, status="200") == 7
    assert value(registry, "http_requests_total", **path, status="502") == 3
    assert value(registry, "http_request_duration_seconds_count", **path) == 10
    # prometheus default buckets end at 10 s
    assert value(registry, "http_request_duration_seconds_bucket", **path, le="10.0") == 10


def test_bound_cells_write_what_prometheus_client_would(registry: CollectorRegistry) -> None:
    """The hot path writes through the children's value cells; every sample must equal what
    prometheus_client's own inc/observe/set produce, bucket edges and +Inf included."""
    from prometheus_client import Counter, Gauge, Histogram

    m = Metrics(registry)
    ref = CollectorRegistry()
    hist = Histogram("ref_seconds", "", ("route",), registry=ref, buckets=REQUEST_BUCKETS).labels("r")
    count = Counter("ref", "", ("route",), registry=ref).labels("r")
    gauge = Gauge("ref_level", "", ("route",), registry=ref).labels("r")
    amounts = [0.0, 0.005, 0.0050001, 0.01, 1, 2.5, 119.99, 120, 120.5, 1e9]
    for amount in amounts:
        chat(m, duration=amount)
        hist.observe(amount)
        count.inc()
    for n in (3, 0, 7):
        m.set_queue_depth("openai", n)
        gauge.set(n)
    ok = {**REQ, "status_class": "2xx"}
    for bound in (*REQUEST_BUCKETS, float("inf")):
        le = "+Inf" if bound == float("inf") else str(float(bound))
        expected = ref.get_sample_value("ref_seconds_bucket", {"route": "r", "le": le})
        assert value(registry, "bifrost_request_duration_seconds_bucket", **ok, le=le) == expected, le
    assert value(registry, "bifrost_request_duration_seconds_sum", **ok) == ref.get_sample_value(
        "ref_seconds_sum", {"route": "r"}
    )
    assert value(registry, "bifrost_requests_total", **REQ, status="200", stream="false") == len(amounts)
    path = {"path": REQ["route"], "method": "POST"}
    for bound in (*Histogram.DEFAULT_BUCKETS[:-1], float("inf")):
        le = "+Inf" if bound == float("inf") else str(float(bound))
        expected = sum(1.0 for amount in amounts if amount <= bound)
        assert value(registry, "http_request_duration_seconds_bucket", **path, le=le) == expected, le
    assert value(registry, "http_request_duration_seconds_sum", **path) == ref.get_sample_value(
        "ref_seconds_sum", {"route": "r"}
    )
    assert value(registry, "http_requests_total", **path, status="200") == len(amounts)
    assert value(registry, "bifrost_queue_depth", provider="openai") == ref.get_sample_value(
        "ref_level", {"route": "r"}
    )
    with m.track_in_flight("openai"):
        assert value(registry, "bifrost_in_flight_requests", dialect="openai") == 1
    assert value(registry, "bifrost_in_flight_requests", dialect="openai") == 0


def test_bucket_layouts() -> None:
    assert REQUEST_BUCKETS[-1] == 120 and REQUEST_BUCKETS[:-1] == UPSTREAM_BUCKETS
    bifrost = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90)  # fmt: skip
    assert bifrost == UPSTREAM_BUCKETS
    registry = CollectorRegistry()
    m = Metrics(registry)
    m.observe_upstream(
        provider="openai",
        model="m",
        method="chat_completion",
        status=200,
        latency=95,
        success=True,
        custom={},
    )
    labels = {"provider": "openai", "model": "m", "method": "chat_completion", "is_success": "true"}
    assert value(registry, "bifrost_upstream_latency_seconds_bucket", **labels, le="90.0") == 0
    assert value(registry, "bifrost_upstream_latency_seconds_bucket", **labels, le="+Inf") == 1


def test_empty_provider_and_model_are_unknown_and_methods_bounded(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    chat(m, provider="", model=None, method="brew")
    labels = {"route": REQ["route"], "dialect": "openai", "provider": "unknown", "model": "unknown"}
    assert value(registry, "bifrost_requests_total", **labels, status="200", stream="false") == 1
    assert value(registry, "http_requests_total", path=REQ["route"], method="other", status="200") == 1


@pytest.mark.parametrize("n", [50, 1_000])
def test_label_sets_stay_bounded_as_n_grows(registry: CollectorRegistry, n: int) -> None:
    m = Metrics(registry, custom_labels=["team"])
    for i in range(n):
        chat(m, model=f"model-{i}", custom={"team": f"team-{i}"})
        m.observe_upstream(
            provider=f"p{i}", model=f"x{i}", method="chat_completion", status=500, latency=0.1, success=False,
            custom={},
        )  # fmt: skip
    models = label_values(registry, "bifrost_requests", "model")
    teams = label_values(registry, "bifrost_requests", "team")
    providers = label_values(registry, "bifrost_upstream_requests", "provider")
    assert len(models) == min(n, MAX_MODELS_PER_PROVIDER + 1)
    assert len(teams) == min(n, MAX_CUSTOM_VALUES + 1)
    assert len(providers) <= metrics_module.MAX_PROVIDERS + 1
    assert ("other" in providers) == (n >= metrics_module.MAX_PROVIDERS)
    if n > MAX_MODELS_PER_PROVIDER:
        assert "other" in models and "model-0" in models and f"model-{n - 1}" not in models
        overflow = {**REQ, "model": "other", "status": "200", "stream": "false", "team": "other"}
        assert value(registry, "bifrost_requests_total", **overflow) == n - MAX_MODELS_PER_PROVIDER
    # every request still counted exactly once
    total = sum(
        s.value
        for f in registry.collect()
        if f.name == "bifrost_requests"
        for s in f.samples
        if s.name == "bifrost_requests_total"
    )
    assert total == n


def test_model_cap_is_per_provider_and_config_models_go_first(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    m.register_models("openai", ["gpt-configured"])
    for i in range(MAX_MODELS_PER_PROVIDER + 5):
        chat(m, model=f"junk-{i}")
    chat(m, model="gpt-configured")
    chat(m, provider="anthropic", model="claude-x")
    assert value(registry, "bifrost_requests_total", **{**REQ, "model": "gpt-configured"}, status="200",
                 stream="false") == 1  # fmt: skip
    anthropic = {**REQ, "provider": "anthropic", "model": "claude-x"}
    assert value(registry, "bifrost_requests_total", **anthropic, status="200", stream="false") == 1


def test_long_values_are_truncated(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    chat(m, model="m" * 5000)
    assert label_values(registry, "bifrost_requests", "model") == {"m" * 128}


def test_custom_labels_from_headers(registry: CollectorRegistry) -> None:
    m = Metrics(registry, custom_labels=["team", "env_name"])
    headers = {"x-bf-prom-team": " search ", "x-bf-prom-env-name": "p" * 100, "x-other": "ignored"}
    custom = m.custom_label_values(headers)
    assert custom == {"team": "search", "env_name": "p" * 64}
    assert m.custom_label_values({}) == {"team": "", "env_name": ""}

    chat(m, custom=custom)
    chat(m, custom={"team": "search"})
    m.observe_upstream(
        provider="openai", model="gpt-4o", method="chat_completion", status=None, latency=1, success=False,
        custom=custom,
    )  # fmt: skip
    labels = {**REQ, "status": "200", "stream": "false", "team": "search"}
    assert value(registry, "bifrost_requests_total", **labels, env_name="p" * 64) == 1
    assert value(registry, "bifrost_requests_total", **labels, env_name="") == 1
    upstream = {"provider": "openai", "model": "gpt-4o", "method": "chat_completion"}
    assert value(registry, "bifrost_upstream_requests_total", **upstream, team="search", env_name="p" * 64) == 1
    assert value(registry, "bifrost_error_requests_total", **upstream, status_code="unknown") == 1


def test_custom_labels_with_starlette_headers(registry: CollectorRegistry) -> None:
    from starlette.datastructures import Headers

    m = Metrics(registry, custom_labels=["team"])
    assert m.custom_label_values(Headers({"X-BF-Prom-Team": "ads"})) == {"team": "ads"}


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        (["provider"], "collides with a built-in"),
        (["status_class"], "collides with a built-in"),
        (["le"], "collides with a built-in"),
        (["team", "team"], "listed twice"),
        (["bad-name"], "not a valid Prometheus label name"),
        (["__x"], "not a valid Prometheus label name"),
        (["9lives"], "not a valid Prometheus label name"),
    ],
)
def test_bad_custom_labels_are_config_errors(labels: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=r"client\.prometheus_labels") as info:
        Metrics(CollectorRegistry(), custom_labels=labels)
    assert needle in str(info.value)


def test_upstream_success_and_errors(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    base = {"provider": "anthropic", "model": "claude", "method": "chat_completion"}
    for _ in range(4):
        m.observe_upstream(**base, status=200, latency=0.2, success=True, custom={})
    m.observe_upstream(**base, status=529, latency=0.1, success=False, custom={})
    m.observe_upstream(**base, status=None, latency=30, success=False, custom={})
    assert value(registry, "bifrost_upstream_requests_total", **base) == 6
    assert value(registry, "bifrost_success_requests_total", **base) == 4
    assert value(registry, "bifrost_error_requests_total", **base, status_code="529") == 1
    assert value(registry, "bifrost_error_requests_total", **base, status_code="unknown") == 1
    assert value(registry, "bifrost_upstream_latency_seconds_count", **base, is_success="true") == 4
    assert value(registry, "bifrost_upstream_latency_seconds_sum", **base, is_success="false") == pytest.approx(30.1)


def test_tokens_and_stream_latencies(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    m.add_tokens(provider="openai", model="gpt-4o", input_tokens=100, output_tokens=20)
    m.add_tokens(provider="openai", model="gpt-4o", input_tokens=None, output_tokens=0)
    m.add_tokens(provider="openai", model="gpt-4o", input_tokens=5, output_tokens=-3)
    pm = {"provider": "openai", "model": "gpt-4o"}
    assert value(registry, "bifrost_input_tokens_total", **pm) == 105
    assert value(registry, "bifrost_output_tokens_total", **pm) == 20
    m.observe_first_token("openai", "gpt-4o", 0.4)
    for _ in range(10):
        m.observe_inter_token("openai", "gpt-4o", 0.002)
    assert value(registry, "bifrost_stream_first_token_latency_seconds_count", **pm) == 1
    assert value(registry, "bifrost_stream_first_token_latency_seconds_bucket", **pm, le="0.5") == 1
    assert value(registry, "bifrost_stream_inter_token_latency_seconds_bucket", **pm, le="0.001") == 0
    assert value(registry, "bifrost_stream_inter_token_latency_seconds_bucket", **pm, le="0.0025") == 10
    observe_gap = m.inter_token_observer("openai", "gpt-4o")  # what a stream binds once
    for _ in range(5):
        observe_gap(0.02)
    assert value(registry, "bifrost_stream_inter_token_latency_seconds_count", **pm) == 15
    assert value(registry, "bifrost_stream_inter_token_latency_seconds_bucket", **pm, le="0.025") == 15


def test_in_flight_gauge(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    with m.track_in_flight("openai"), m.track_in_flight("openai"):
        assert value(registry, "bifrost_in_flight_requests", dialect="openai") == 2
    assert value(registry, "bifrost_in_flight_requests", dialect="openai") == 0
    with pytest.raises(RuntimeError), m.track_in_flight("genai"):
        raise RuntimeError("boom")
    assert value(registry, "bifrost_in_flight_requests", dialect="genai") == 0
    m.inc_in_flight("anthropic")
    assert value(registry, "bifrost_in_flight_requests", dialect="anthropic") == 1
    m.dec_in_flight("anthropic")
    assert value(registry, "bifrost_in_flight_requests", dialect="anthropic") == 0


def test_routing_metrics(registry: CollectorRegistry) -> None:
    m = Metrics(registry)
    m.set_queue_depth("openai", 7)
    m.set_queue_depth("openai", 3)
    m.count_retry("openai", "rate_limit")
    m.count_retry("openai", "rate_limit")
    m.count_fallback("openai", "anthropic")
    m.set_cooldown("openai", "primary", True)
    m.set_cooldown("openai", "backup", True)
    m.set_cooldown("openai", "backup", False)
    m.count_key_selection("openai", "primary")
    assert value(registry, "bifrost_queue_depth", provider="openai") == 3
    assert value(registry, "bifrost_retries_total", provider="openai", reason="rate_limit") == 2
    assert value(registry, "bifrost_fallbacks_total", from_provider="openai", to_provider="anthropic") == 1
    assert value(registry, "bifrost_cooldown_active", provider="openai", key="primary") == 1
    assert value(registry, "bifrost_cooldown_active", provider="openai", key="backup") == 0
    assert value(registry, "bifrost_key_selections_total", provider="openai", key="primary") == 1


def test_counts_stay_exact_past_the_child_cache_limit(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "CHILD_CACHE_LIMIT", 3)
    m = Metrics(registry)
    for _ in range(2):
        for i in range(10):
            chat(m, model=f"m{i}")
    assert len(m._requests._cache) == 3
    for i in range(10):
        assert value(registry, "bifrost_requests_total", **{**REQ, "model": f"m{i}"}, status="200",
                     stream="false") == 2  # fmt: skip


def test_own_registry_per_app_and_no_global_metrics() -> None:
    a, b = CollectorRegistry(), CollectorRegistry()
    chat(Metrics(a))
    Metrics(b)
    assert REGISTRY.get_sample_value("bifrost_requests_total", {**REQ, "status": "200", "stream": "false"}) is None
    assert value(a, "bifrost_requests_total", **REQ, status="200", stream="false") == 1
    assert b.get_sample_value("bifrost_requests_total", {**REQ, "status": "200", "stream": "false"}) is None


def test_render_metrics_single_process(registry: CollectorRegistry) -> None:
    assert not multiprocess_enabled()
    m = Metrics(registry)
    chat(m)
    body, content_type = render_metrics(registry)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b'bifrost_requests_total{dialect="openai"' in body
    assert b"# TYPE bifrost_request_duration_seconds histogram" in body
    body, content_type = render_metrics(registry, accept="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


WRITER = """
import sys
from prometheus_client import CollectorRegistry
from bifrost_asgi.observability.metrics import Metrics, multiprocess_enabled
assert multiprocess_enabled(), "prometheus_client did not pick multiprocess values"
n = int(sys.argv[1])
m = Metrics(CollectorRegistry(), custom_labels=["team"])
for _ in range(n):
    m.observe_request(route="/v1/chat/completions", method="POST", dialect="openai", provider="openai",
                      model="gpt-4o", status=200, stream=False, duration=0.25, custom={"team": "a"})
m.add_tokens(provider="openai", model="gpt-4o", input_tokens=10 * n, output_tokens=n)
m.set_queue_depth("openai", n)
m.set_cooldown("openai", "k1", n == 3)
"""

READER = """
import sys
from prometheus_client import CollectorRegistry
from bifrost_asgi.observability.metrics import Metrics, render_metrics
registry = CollectorRegistry()
m = Metrics(registry, custom_labels=["team"])
m.observe_request(route="/v1/chat/completions", method="POST", dialect="openai", provider="openai",
                  model="gpt-4o", status=200, stream=False, duration=0.25, custom={"team": "a"})
body, content_type = render_metrics(registry)
sys.stdout.write(content_type + "\\n" + body.decode())
"""


def run_child(code: str, *args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=dict(env), cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_multiprocess_aggregation_across_two_processes(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    writers = [run_child(WRITER, str(n), env=env) for n in (3, 5)]
    for proc in writers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    reader = run_child(READER, env=env)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    content_type, _, body = out.partition("\n")
    assert content_type.startswith("text/plain")

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicated series {key}"  # app registry not read twice
            samples[key] = s.value

    def get(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    req = {**REQ, "route": "/v1/chat/completions", "team": "a"}
    assert get("bifrost_requests_total", **req, status="200", stream="false") == 9  # 3 + 5 + reader's 1
    hist = {**req, "status_class": "2xx"}
    assert get("bifrost_request_duration_seconds_count", **hist) == 9
    assert get("bifrost_request_duration_seconds_sum", **hist) == pytest.approx(2.25)
    assert get("bifrost_request_duration_seconds_bucket", **hist, le="0.25") == 9
    assert get("http_requests_total", path="/v1/chat/completions", method="POST", status="200") == 9
    pm = {"provider": "openai", "model": "gpt-4o"}
    assert get("bifrost_input_tokens_total", **pm) == 80
    assert get("bifrost_output_tokens_total", **pm) == 8
    assert get("bifrost_queue_depth", provider="openai") == 8  # livesum
    assert get("bifrost_cooldown_active", provider="openai", key="k1") == 1  # livemax


def exercised_registry() -> CollectorRegistry:
    """A registry in which every metric has at least one series."""
    registry = CollectorRegistry()
    m = Metrics(registry, custom_labels=["team"])
    chat(m)
    m.observe_upstream(
        provider="openai", model="gpt-4o", method="chat_completion", status=200, latency=1, success=True,
        custom={},
    )  # fmt: skip
    m.observe_upstream(
        provider="openai", model="gpt-4o", method="chat_completion", status=500, latency=1, success=False,
        custom={},
    )  # fmt: skip
    m.add_tokens(provider="openai", model="gpt-4o", input_tokens=1, output_tokens=1)
    m.observe_first_token("openai", "gpt-4o", 0.1)
    m.observe_inter_token("openai", "gpt-4o", 0.1)
    m.inc_in_flight("openai")
    m.set_queue_depth("openai", 1)
    m.count_retry("openai", "rate_limit")
    m.count_fallback("openai", "anthropic")
    m.set_cooldown("openai", "primary", True)
    m.count_key_selection("openai", "primary")
    return registry


def test_grafana_dashboard_queries_use_real_metrics_and_labels() -> None:
    import json

    dashboard = json.loads((ROOT / "examples/monitoring/grafana-dashboard.json").read_text())
    series: dict[str, set[str]] = {}
    for family in exercised_registry().collect():
        for s in family.samples:
            series.setdefault(s.name, set()).update(s.labels)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    assert len(exprs) >= 15
    for needle in ("latency", "token", "fallback", "retr", "queue", "in flight", "cooldown", "error"):
        assert needle in titles
    for expr in exprs:
        names = re.findall(r"\b((?:bifrost|http)_[a-z_]+)\b", expr)
        assert names, expr
        labels: set[str] = set()
        for name in names:
            assert name in series, f"{name} (in {expr!r}) is not a metric we export"
            labels |= series[name]
        used = set(re.findall(r"(\w+)\s*(?:=~|!=|=)\s*\"", expr))
        for group in re.findall(r"by \(([^)]*)\)", expr):
            used |= {label.strip() for label in group.split(",")}
        assert used <= labels | {"le"}, f"{expr!r} uses labels {used - labels}"
    assert "histogram_quantile(0.99, sum by (le) (rate(bifrost_request_duration_seconds_bucket" in " ".join(exprs)


def test_prometheus_example_scrapes_the_gateway() -> None:
    text = (ROOT / "examples/monitoring/prometheus.yml").read_text()
    assert "metrics_path: /metrics" in text
    assert '["bifrost:8080"]' in text


def test_served_models_only_labels_unserved_names_other(registry: CollectorRegistry) -> None:
    """Hostile model strings in failed requests cannot fill the label budget; a name gets its own
    label once configured or answered by the upstream."""
    m = Metrics(registry, served_models_only=True)
    m.register_models("openai", ["gpt-configured"])
    for i in range(MAX_MODELS_PER_PROVIDER + 5):
        chat(m, model=f"hostile-{i}", status=404)
    chat(m, model="gpt-configured")
    chat(m, model="gpt-new", status=500)  # not served yet: other
    m.observe_upstream(provider="openai", model="gpt-new", method="chat_completion", status=200, latency=0.1,
                       success=True, custom={})  # fmt: skip
    chat(m, model="gpt-new")
    assert label_values(registry, "bifrost_requests", "model") == {"other", "gpt-configured", "gpt-new"}
    assert value(registry, "bifrost_requests_total", **{**REQ, "model": "other"}, status="404", stream="false") == (
        MAX_MODELS_PER_PROVIDER + 5
    )


def test_zero_gaps_at_once_are_the_same_as_one_at_a_time() -> None:
    """``inter_token_zeros(n)`` (a read's events after its first) leaves every inter-token sample
    as ``n`` observations of 0.0 do, for the in-place cells, the locked values and a plain child."""
    from prometheus_client import Histogram

    from bifrost_asgi.observability.metrics import _Observe

    def samples(registry: CollectorRegistry) -> list[Any]:
        return [(s.name, s.labels, s.value) for m in registry.collect() for s in m.samples if "_created" not in s.name]

    at_once, one_by_one = CollectorRegistry(), CollectorRegistry()
    for registry, zeros in ((at_once, True), (one_by_one, False)):
        m = Metrics(registry)
        observe_gap = m.inter_token_observer("openai", "gpt-4o")
        observe_gap(0.03)
        for n in (0, 1, 219, 3):
            if zeros:
                m.inter_token_zeros("openai", "gpt-4o")(n)
            else:
                for _ in range(n):
                    observe_gap(0.0)
    assert samples(at_once) == samples(one_by_one)
    assert value(at_once, "bifrost_stream_inter_token_latency_seconds_count", provider="openai", model="gpt-4o") == 224

    class Locked:  # what a multiprocess value looks like to _Observe: inc only
        def __init__(self) -> None:
            self.total = 0.0

        def inc(self, amount: float) -> None:
            self.total += amount

    child = Histogram("gap_seconds", "gaps", registry=CollectorRegistry())
    child._sum = Locked()  # type: ignore[assignment]
    child._buckets = [Locked() for _ in child._buckets]  # type: ignore[misc]
    locked = _Observe(child)
    locked.zeros(5)
    locked.observe(0.0)
    assert [b.total for b in child._buckets][:1] == [6.0] and child._sum.total == 0.0  # type: ignore[attr-defined]

    class Plain:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, amount: float) -> None:
            self.seen.append(amount)

    plain = Plain()
    _Observe(plain).zeros(4)  # type: ignore[arg-type]
    assert plain.seen == [0.0] * 4
