"""Hostile bodies through every dialect's parser, the up-front checks and every provider's
request builder (pure, no I/O, so thousands of cases run in seconds): each one either builds an
upstream request or raises a 4xx ``GatewayError``; no other exception, never a 5xx."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.dialects.anthropic import AnthropicDialect
from bifrost_asgi.dialects.base import Call, Dialect
from bifrost_asgi.dialects.genai import GenAIDialect
from bifrost_asgi.dialects.openai import OpenAIDialect
from bifrost_asgi.dialects.validate import check_depth, check_model_names
from bifrost_asgi.errors import GatewayError
from bifrost_asgi.providers.registry import create_provider
from tests.support.hostile import ANTHROPIC_MESSAGES, GENAI_GENERATE, GENAI_PATH_MODELS, OPENAI_CHAT, OPENAI_EMBEDDINGS

FUZZ = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
KEY = KeyConfig(value="sk-fuzz-key-0123456789")  # type: ignore[arg-type]
PROVIDERS = {
    name: create_provider(name, ProviderConfig.model_validate({"keys": [{"value": "sk-fuzz-key-0123456789"}]}))
    for name in ("openai", "anthropic", "gemini")
}
OUTCOMES: Counter[str] = Counter()


def _through_the_flow(dialect: Dialect, payload: Any, call: Call, parse: Callable[[Any, Call], Any]) -> None:
    """What ``Gateway._dispatch`` does before routing, then every provider's builder."""
    body = _encoded(payload)
    if body is None:
        return
    try:
        parsed = _json.loads(body)
        check_depth(body, parsed)
        request = parse(parsed, call)
        check_model_names(request.model, request.fallbacks)
        for provider in PROVIDERS.values():
            if hasattr(request, "messages"):
                provider.build_chat(request, "some-model", KEY)
            else:
                provider.build_embeddings(request, "some-model", KEY)
    except GatewayError as exc:
        assert 400 <= exc.status < 500, f"{exc.status} {exc.message}"
        OUTCOMES[f"{dialect.name}:{exc.status}"] += 1
    else:
        OUTCOMES[f"{dialect.name}:ok"] += 1


def _encoded(payload: Any) -> bytes | None:
    """``payload`` as a client would send it (deeper than orjson writes: the stdlib's encoder)."""
    try:
        return _json.dumps(payload)
    except TypeError:
        try:
            return json.dumps(payload).encode()
        except RecursionError:
            return None


@FUZZ
@given(OPENAI_CHAT)
def test_openai_chat_bodies(payload: Any) -> None:
    dialect = OpenAIDialect()
    _through_the_flow(dialect, payload, Call(), dialect.parse_chat)


@FUZZ
@given(OPENAI_EMBEDDINGS)
def test_openai_embedding_bodies(payload: Any) -> None:
    dialect = OpenAIDialect()
    _through_the_flow(dialect, payload, Call(), dialect.parse_embeddings)


@FUZZ
@given(ANTHROPIC_MESSAGES)
def test_anthropic_message_bodies(payload: Any) -> None:
    dialect = AnthropicDialect()
    _through_the_flow(dialect, payload, Call(default_provider="anthropic"), dialect.parse_chat)


@FUZZ
@given(GENAI_GENERATE, GENAI_PATH_MODELS, st.booleans())
def test_genai_generate_bodies(payload: Any, model: str, stream: bool) -> None:
    dialect = GenAIDialect()
    call = Call(path_params={"model": model}, options={"stream": stream}, default_provider="gemini")
    _through_the_flow(dialect, payload, call, dialect.parse_chat)
