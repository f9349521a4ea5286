"""Inline GenAI batch requests' own ``model``: resolved, rewritten, refused with the index."""

from __future__ import annotations

import json

import pytest

from bifrost_asgi.errors import InvalidRequestError
from bifrost_asgi.forwarding.genai_batch import inline_models
from bifrost_asgi.routing.plan import Target

TARGET = Target("gemini", "gemini-2.5-flash")


def _resolve(name: str) -> Target:
    provider, _, model = name.rpartition("/")
    return Target(provider or "gemini", model)


def _body(*models: object) -> bytes:
    items = [{"request": {"contents": [], **({} if m is None else {"model": m})}} for m in models]
    return json.dumps({"batch": {"inputConfig": {"requests": {"requests": items}}}}).encode()


def _models(body: bytes) -> list[object]:
    items = json.loads(body)["batch"]["inputConfig"]["requests"]["requests"]
    return [item["request"].get("model") for item in items]


def test_models_are_rewritten_and_a_body_without_any_is_kept_as_is() -> None:
    rewritten = inline_models(_body("models/gemini/gemini-2.0-flash", None, "gemini-2.5-pro"), TARGET, _resolve)
    assert _models(rewritten) == ["models/gemini-2.0-flash", None, "models/gemini-2.5-pro"]
    plain = _body(None, None)
    assert inline_models(plain, TARGET, _resolve) is plain
    untouched = _body("models/gemini-2.5-flash")
    assert inline_models(untouched, TARGET, _resolve) is untouched


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("models/openai/gpt-4o", "requests[1].request.model: 'openai/gpt-4o' routes to provider 'openai'"),
        (7, "requests[1].request.model: a model name string is required"),
        ("models/gemini/../x", "requests[1].request.model: a model name may not contain '.' or '..'"),
    ],
)
def test_models_that_cannot_go_with_the_batch_name_their_index(model: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        inline_models(_body(None, model), TARGET, _resolve)
