"""``bifrost-asgi --check``: load the configuration as a start would, then report what it configures,
what will not work and what nothing uses, ending with one verdict line that matches the exit code.

The report is built by a list of *reporters*, one per concern (providers, routing, MCP, unused
sections, server); each adds its own summary lines and findings to a ``CheckReport``. A capability
that adds a config section adds a reporter for it (``run_check(..., reporters=(*REPORTERS, mine))``
or an entry in ``REPORTERS``), so the check stays one pass over independent parts: every problem
found is listed, not only the first.

Findings are *problems* (the gateway cannot serve as configured: exit 1) or *warnings* (it can,
but something is off: exit 0). Secrets never appear: keys are counted, variables named.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .config.loading import DEMO_LABEL, IGNORED_SECTIONS, demo_settings, read_config_file, settings_from_environment
from .config.settings import BifrostSettings, NetworkConfig, ProviderConfig, is_keyless
from .errors import ConfigError

#: Top-level sections that are metadata, not features: present or not, nothing is lost.
_METADATA_SECTIONS = frozenset({"$schema", "version"})


@dataclass(slots=True)
class Finding:
    text: str
    fix: str | None = None

    def lines(self) -> list[str]:
        out = [f"  - {self.text}"]
        if self.fix:
            out.append(f"    fix: {self.fix}")
        return out


@dataclass(slots=True)
class CheckReport:
    """What reporters write to: summary lines, warnings, problems."""

    summary: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)

    def line(self, text: str) -> None:
        self.summary.append(text)

    def warn(self, text: str, fix: str | None = None) -> None:
        self.warnings.append(Finding(text, fix))

    def problem(self, text: str, fix: str | None = None) -> None:
        self.problems.append(Finding(text, fix))

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def verdict(self) -> str:
        warned = _count(len(self.warnings), "warning")
        if self.problems:
            text = f"configuration NOT OK: {_count(len(self.problems), 'problem')}"
            return text + (f", {warned}" if self.warnings else "")
        return "configuration OK" + (f" with {warned}" if self.warnings else "")

    def render(self) -> str:
        out = list(self.summary)
        if self.warnings:
            out.append("warnings:")
            out.extend(line for finding in self.warnings for line in finding.lines())
        if self.problems:
            out.append("problems:")
            out.extend(line for finding in self.problems for line in finding.lines())
        out.append(self.verdict())
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What every reporter sees: the loaded settings and the file's top-level section names."""

    settings: BifrostSettings
    source: str
    sections: frozenset[str]


Reporter = Callable[[CheckContext, CheckReport], None]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------------------- reporters


def report_source(ctx: CheckContext, report: CheckReport) -> None:
    report.line(f"config: {ctx.source}")


def usable_keys(name: str, provider: ProviderConfig) -> int:
    """Keys a request could use now: enabled and with a value or cloud credentials (or any enabled key when keyless)."""
    keyless = is_keyless(name, provider)
    return sum(1 for key in provider.keys if key.enabled and (keyless or key.has_credentials))


def provider_usable(name: str, provider: ProviderConfig) -> bool:
    return usable_keys(name, provider) > 0 or (not provider.keys and is_keyless(name, provider))


def report_providers(ctx: CheckContext, report: CheckReport) -> None:
    providers = ctx.settings.providers
    report.line(f"providers: {len(providers)}")
    for name, provider in providers.items():
        report.line(f"  {name}: {_keys_summary(name, provider)}; {_network_summary(provider.network_config)}")
        if provider_usable(name, provider):
            continue
        unset = _unset_vars(provider)
        if unset:
            fix = f"set {', '.join(unset)} in the gateway's environment"
        elif provider.keys:
            fix = 'enable a key ("enabled": true) or add one'
        else:
            fix = 'add a key, e.g. "keys": [{"value": "env.NAME"}], and set NAME'
        report.warn(f"providers.{name}: no usable key, so every request to it fails", fix)
    if not providers:
        report.problem(
            "no providers are configured: every request would fail",
            "pass --config PATH, set OPENAI_API_KEY (or another vendor key), or use --demo",
        )
    elif not any(provider_usable(n, p) for n, p in providers.items()):
        report.problem("no provider has a usable key: every request would fail", "set the variables named above")


def _keys_summary(name: str, provider: ProviderConfig) -> str:
    keys = provider.keys
    if not keys and is_keyless(name, provider):
        return "keyless"
    text = f"{_count(len(keys), 'key')} ({usable_keys(name, provider)} usable)"
    unset = _unset_vars(provider)
    if unset:
        text += f", env not set: {', '.join(unset)}"
    return text


def _unset_vars(provider: ProviderConfig) -> list[str]:
    return sorted({k.env_var for k in provider.keys if k.env_var and k.enabled and not k.value.get_secret_value()})


def _network_summary(network: NetworkConfig) -> str:
    base = network.base_url or "default base_url"
    return f"{base}, timeout {network.default_request_timeout_in_seconds:g}s, max_retries {network.max_retries}"


def report_routing(ctx: CheckContext, report: CheckReport) -> None:
    settings = ctx.settings
    routing = settings.routing
    report.line(f"routing: {len(routing.aliases)} alias(es), {len(routing.fallbacks)} fallback chain(s)")
    targets = [(f"routing.aliases.{a}", t.target) for a, ts in routing.aliases.items() for t in ts]
    targets += [(f"routing.fallbacks.{m}", t) for m, chain in routing.fallbacks.items() for t in chain]
    for path, target in targets:
        provider = target.split("/", 1)[0]
        config = settings.providers.get(provider)
        if config is not None and not provider_usable(provider, config):
            report.warn(f"{path}: target {target!r} names provider {provider!r}, which has no usable key")


def report_mcp(ctx: CheckContext, report: CheckReport) -> None:
    """Each MCP client, tried once: connected (with its tool count) or why not (a warning: the
    gateway serves without it and keeps retrying)."""
    config = ctx.settings.mcp
    report.line(f"mcp: {_count(len(config.client_configs), 'client')}")
    if not config.client_configs:
        return
    from .mcp.check import check_clients  # imports the MCP SDK only when clients are configured

    for result in check_clients(config, version=ctx.settings.version):
        report.line(result.line)
        if result.failed:
            report.warn(
                f"mcp.{result.name}: could not connect ({result.detail}); its tools are offered once it does",
                "start the server, or fix its connection_string / stdio_config; the gateway keeps retrying",
            )


def report_governance(ctx: CheckContext, report: CheckReport) -> None:
    settings = ctx.settings
    gov = settings.governance
    store = gov.store
    shared = store.type == "redis" or (store.type == "auto" and (store.url or settings.redis_url))
    auth = "required" if settings.client.enforce_auth_on_inference else ("optional" if gov.virtual_keys else "off")
    unset = sorted(vk.env_var for vk in gov.virtual_keys if vk.env_var and not vk.value.get_secret_value())
    report.line(
        f"governance: auth {auth}, {_count(len(gov.virtual_keys), 'virtual key')}, "
        f"{_count(len(gov.budgets), 'budget')}, {_count(len(gov.rate_limits), 'rate limit')}, "
        f"counters {'on Redis (shared by all replicas)' if shared else 'in process'}"
        + (f", env not set: {', '.join(unset)}" if unset else "")
    )
    if (
        settings.client.enforce_auth_on_inference
        and not gov.virtual_keys
        and not (settings.client.admin_token or settings.admin_token)
    ):
        report.warn(
            "client.enforce_auth_on_inference is on but no virtual key is configured: every inference request gets 401",
            "add governance.virtual_keys, or set client.admin_token to create keys through /api/governance/",
        )


def report_unused_sections(ctx: CheckContext, report: CheckReport) -> None:
    unused = sorted((ctx.sections & IGNORED_SECTIONS) - _METADATA_SECTIONS)
    if unused:
        report.warn(
            f"section(s) accepted but not used by bifrost-asgi: {', '.join(unused)}",
            "nothing to do if the same file also serves Bifrost; otherwise remove them",
        )


def report_server(ctx: CheckContext, report: CheckReport) -> None:
    settings = ctx.settings
    report.line(f"server: http://{settings.host}:{settings.port} with {settings.workers} worker(s)")


REPORTERS: tuple[Reporter, ...] = (
    report_source,
    report_providers,
    report_routing,
    report_mcp,
    report_governance,
    report_unused_sections,
    report_server,
)


# ---------------------------------------------------------------------------------------- running


def run_check(
    config: str | None,
    *,
    demo: bool = False,
    overrides: Mapping[str, Any] | None = None,
    reporters: Sequence[Reporter] = REPORTERS,
) -> CheckReport:
    """Load the configuration as ``bifrost-asgi`` would and report on it. Warnings the loader logs
    (an unset ``env.`` variable, a disabled key...) become warnings of the report."""
    report = CheckReport()
    with _captured_warnings(report):
        try:
            extra = dict(overrides or {})
            if demo:
                settings = demo_settings(environ=os.environ, **extra)
            else:
                settings = settings_from_environment(config, **extra)
        except ConfigError as exc:
            report.problem(str(exc).replace("\n", "\n    "))
            return report
    source = f"{DEMO_LABEL} (--demo)" if demo else settings.config or "environment (no config file)"
    context = CheckContext(settings, source, _sections(settings.config))
    for reporter in reporters:
        reporter(context, report)
    return report


def _sections(path: str | None) -> frozenset[str]:
    if not path:
        return frozenset()
    try:
        return frozenset(read_config_file(path))
    except ConfigError:  # it loaded a moment ago; a file that changed since is not this check's business
        return frozenset()


class _Collector(logging.Handler):
    def __init__(self, report: CheckReport) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report.warn(record.getMessage())


@contextmanager
def _captured_warnings(report: CheckReport) -> Iterator[None]:
    """The loader's warnings go into the report instead of the log (printed once, in order)."""
    logger = logging.getLogger("bifrost_asgi")
    collector = _Collector(report)
    previous = logger.propagate, logger.handlers[:], logger.level
    logger.handlers = [collector]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.propagate, logger.handlers, _ = previous
        logger.setLevel(previous[2])
