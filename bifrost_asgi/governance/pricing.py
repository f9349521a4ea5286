"""Model prices: the table shipped with the package (``prices.json``: source and date inside), a
LiteLLM-format price file, and ``governance.pricing_overrides``, merged in that order.

Cost = uncached prompt tokens x input rate + cached-read tokens x cache-read rate + cache-write tokens
x cache-write rate + completion tokens x output rate. A model with no price is ``None`` here, never
$0: under a budget the admission refuses it with a message that says how to price it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import _json
from ..errors import ConfigError, InvalidRequestError
from ..neutral import Usage
from .config import PricingOverride

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-\d{3,4})$")
#: Providers that serve another vendor's models under the same names.
_SAME_MODELS_AS = {"azure": "openai", "openrouter": "openai"}
_UNKNOWN: Any = object()  # a (provider, model) not looked up yet (None is a looked-up "no price")


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per token
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    max_output_tokens: int | None = None
    # Whether the cost of a usage without cache tokens is its first and last terms exactly: 0 tokens at
    # the cache rates add 0.0 (or -0.0) to a first term that is not -0.0 (an input rate >= +0.0) when the
    # input and cache rates are finite (0 x inf would be NaN).
    _two_terms: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        finite = all(math.isfinite(r) for r in (self.input, self.cache_read, self.cache_write) if r is not None)
        positive = math.copysign(1.0, self.input) > 0  # >= 0.0, not -0.0 (nor NaN with its sign bit set)
        object.__setattr__(self, "_two_terms", finite and positive and self.input >= 0)

    def cost(self, usage: Usage) -> float:
        cached = usage.cached_input_tokens
        written = usage.cache_creation_tokens
        if not cached and not written and usage.input_tokens >= 0 and self._two_terms:
            return usage.input_tokens * self.input + usage.output_tokens * self.output  # the cache terms add 0.0
        plain = max(0, usage.input_tokens - cached - written)
        return (
            plain * self.input
            + cached * (self.cache_read if self.cache_read is not None else self.input)
            + written * (self.cache_write if self.cache_write is not None else self.input)
            + usage.output_tokens * self.output
        )


def _price(entry: Mapping[str, Any], where: str) -> Price:
    try:
        max_out = entry.get("max_output_tokens")
        return Price(
            input=float(entry.get("input_cost_per_token", 0.0)),
            output=float(entry.get("output_cost_per_token", 0.0)),
            cache_read=_opt(entry.get("cache_read_input_token_cost")),
            cache_write=_opt(entry.get("cache_creation_input_token_cost")),
            max_output_tokens=int(max_out) if isinstance(max_out, int | float) and max_out > 0 else None,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: prices must be numbers of USD per token ({exc})") from None


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


class PriceTable:
    """Prices by ``provider/model`` (and ``provider/*``). Lookups are cached."""

    def __init__(self, entries: Mapping[str, Price]) -> None:
        self._entries = dict(entries)
        self._cache: dict[tuple[str, str], Price | None] = {}

    @classmethod
    def load(cls, *, pricing_file: str | None = None, overrides: Iterable[PricingOverride] = ()) -> PriceTable:
        text = resources.files("bifrost_asgi").joinpath("governance", "prices.json").read_text(encoding="utf-8")
        entries = {k: _price(v, f"prices.json {k}") for k, v in _json.loads(text).items() if not k.startswith("_")}
        if pricing_file:
            entries.update(_litellm_file(pricing_file))
        for index, override in enumerate(overrides):
            entries.update(_override(override, index, entries))
        return cls(entries)

    def lookup(self, provider: str, model: str) -> Price | None:
        key = (provider, model)
        price: Price | None = self._cache.get(key, _UNKNOWN)
        if price is _UNKNOWN:
            if len(self._cache) > 4096:
                self._cache.clear()
            price = self._cache[key] = self._find(provider, model)
        return price

    def _find(self, provider: str, model: str) -> Price | None:
        model = model.removeprefix("models/")
        for vendor in (provider, _SAME_MODELS_AS.get(provider)):
            if vendor is None:
                continue
            name = model
            while True:
                price = self._entries.get(f"{vendor}/{name}")
                if price is not None:
                    return price
                shorter = _DATE_SUFFIX.sub("", name)
                if shorter == name:
                    break
                name = shorter
            wild = [k for k in self._entries if k.endswith("*") and f"{vendor}/{model}".startswith(k[:-1])]
            if wild:
                return self._entries[max(wild, key=len)]
        return self._entries.get(model)  # a LiteLLM file may list bare model names

    def cost(self, provider: str, model: str, usage: Usage) -> float | None:
        price = self.lookup(provider, model)
        return None if price is None else price.cost(usage)


def _litellm_file(path: str) -> dict[str, Price]:
    file = Path(path).expanduser()
    try:
        data = _json.loads(file.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"governance.pricing_file: {file} not found\n  fix: point it at a LiteLLM-format "
            "model_prices_and_context_window.json"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"governance.pricing_file: cannot read {file}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"governance.pricing_file: {file} must hold a JSON object of models")
    out: dict[str, Price] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or "input_cost_per_token" not in entry:
            continue
        price = _price(entry, f"governance.pricing_file {name}")
        provider = entry.get("litellm_provider")
        bare = name.split("/", 1)[1] if "/" in name and provider and name.startswith(f"{provider}/") else name
        out[name] = price
        if isinstance(provider, str) and provider:
            out[f"{'gemini' if provider == 'gemini' else provider}/{bare}"] = price
    return out


def _override(override: PricingOverride, index: int, entries: Mapping[str, Price]) -> dict[str, Price]:
    where = f"governance.pricing_overrides[{index}]"
    patch = override.pricing_patch
    if isinstance(patch, str):
        try:
            patch = _json.loads(patch)
        except ValueError as exc:
            raise ConfigError(f"{where}.pricing_patch: not valid JSON ({exc})") from None
    if not isinstance(patch, dict):
        raise ConfigError(
            f"{where}.pricing_patch: expected an object such as "
            '{"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}'
        )
    pattern = (
        override.pattern
        if "/" in override.pattern or override.provider_id is None
        else (f"{override.provider_id}/{override.pattern}")
    )
    if override.match_type == "wildcard" and not pattern.endswith("*"):
        pattern += "*"
    base = entries.get(pattern)
    merged = (
        {}
        if base is None
        else {
            "input_cost_per_token": base.input,
            "output_cost_per_token": base.output,
            "cache_read_input_token_cost": base.cache_read,
            "cache_creation_input_token_cost": base.cache_write,
            "max_output_tokens": base.max_output_tokens,
        }
    )
    merged.update(patch)
    return {pattern.removesuffix("*") + "*" if pattern.endswith("*") else pattern: _price(merged, where)}


def unpriced_error(provider: str, model: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"model '{provider}/{model}' has no price, and a budget applies to this request: it cannot be "
        "admitted unpriced. Price it with governance.pricing_overrides, e.g. "
        f'{{"pattern": "{provider}/{model}", "pricing_patch": '
        '{"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}, or governance.pricing_file',
        param="model",
        code="model_not_priced",
        provider=provider,
        model=model,
    )
