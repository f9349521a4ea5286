"""Translation specifics over real sockets: the issue's explicit checks and the wire-format traps.

System prompts, full tool round trips, same-vendor passthrough of unknown fields, errors rendered
in the client's dialect for another vendor's upstream error (status, in-band), untranslatable
requests, Anthropic SDK 2.x auth, routing by model name, count_tokens, embeddings and model lists.
One gateway and one fake per module, official SDKs as clients.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tests.e2e.test_translation_matrix import (
    ANTHROPIC_TOOLS,
    ASK,
    CLIENT_KEY,
    GENAI_CONFIG,
    HELLO,
    MODELS,
    OPENAI_TOOLS,
    RESULT,
    TOOL,
    UPSTREAM_KEY,
    gateway_config,
)
from tests.support import (
    FAKE_ANTHROPIC_TOOL_USE_ID,
    FAKE_OPENAI_TOOL_CALL_ID,
    FAKE_PROMPT_TOKENS,
    FAKE_TOOL_ARGS,
    FakeProvider,
    MidStreamError,
    ServerHandle,
    Status,
    fake_embedding,
    fake_text,
    fake_tool_result_text,
    gemini_error_body,
    run_gateway,
)

pytestmark = pytest.mark.e2e

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(gateway_config(fake)) as handle:
        yield handle


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeProvider) -> Iterator[None]:
    fake.reset()
    yield
    errors = fake.errors
    assert not errors, f"the fake provider raised: {errors!r}"


class Sent:
    """What an SDK put on the wire (request hook on its own HTTP client)."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def hook(self, request: httpx2.Request) -> None:
        request.read()
        self.requests.append(request)

    def client(self) -> httpx2.Client:
        return httpx2.Client(event_hooks={"request": [self.hook]})

    @property
    def last_json(self) -> Any:
        return json.loads(self.requests[-1].content)


@pytest.fixture
def oai(gateway: ServerHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=CLIENT_KEY, base_url=f"{gateway.url}/openai/v1", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(gateway: ServerHandle) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=CLIENT_KEY, base_url=f"{gateway.url}/anthropic", max_retries=0) as client:
        yield client


@pytest.fixture
def gem(gateway: ServerHandle) -> Iterator[genai.Client]:
    client = genai.Client(api_key=CLIENT_KEY, http_options={"base_url": f"{gateway.url}/genai"})
    yield client
    client.close()


def only_request(fake: FakeProvider, vendor: str) -> Any:
    requests = fake.requests
    assert [r.vendor for r in requests] == [vendor], [f"{r.vendor} {r.method} {r.path}" for r in requests]
    return requests[0]


# --------------------------------------------------------------------------- system prompt


def test_openai_system_message_becomes_anthropic_top_level_system(oai: openai.OpenAI, fake: FakeProvider) -> None:
    result = oai.chat.completions.create(
        model=MODELS["anthropic"],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": HELLO}],
    )
    assert result.choices[0].message.content == fake_text("anthropic", HELLO)
    body = only_request(fake, "anthropic").json
    system = body["system"]
    assert (system if isinstance(system, str) else "".join(b["text"] for b in system)) == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user"], "no system message may stay in messages"


# --------------------------------------------------------------------------- tool round trips


def test_tool_round_trip_openai_sdk_to_anthropic(oai: openai.OpenAI, fake: FakeProvider) -> None:
    messages: Any = [{"role": "user", "content": ASK}]
    first = oai.chat.completions.create(model=MODELS["anthropic"], messages=messages, tools=OPENAI_TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.id == FAKE_ANTHROPIC_TOOL_USE_ID
    assert call.function.name == TOOL and json.loads(call.function.arguments) == FAKE_TOOL_ARGS

    messages += [choice.message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id,
                                                                 "content": RESULT}]  # fmt: skip
    second = oai.chat.completions.create(model=MODELS["anthropic"], messages=messages, tools=OPENAI_TOOLS)
    assert second.choices[0].message.content == fake_tool_result_text("anthropic", RESULT)
    assert second.choices[0].finish_reason == "stop"

    sent = fake.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    (use,) = sent[1]["content"]
    assert use == {"type": "tool_use", "id": FAKE_ANTHROPIC_TOOL_USE_ID, "name": TOOL, "input": dict(FAKE_TOOL_ARGS)}
    (result,) = sent[2]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == FAKE_ANTHROPIC_TOOL_USE_ID
    assert result["content"] in (RESULT, [{"type": "text", "text": RESULT}])


def test_tool_round_trip_anthropic_sdk_to_openai(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    messages: Any = [{"role": "user", "content": ASK}]
    first = ant.messages.create(model=MODELS["openai"], max_tokens=256, messages=messages, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.id == FAKE_OPENAI_TOOL_CALL_ID and use.name == TOOL and use.input == FAKE_TOOL_ARGS

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]},
    ]
    second = ant.messages.create(model=MODELS["openai"], max_tokens=256, messages=messages, tools=ANTHROPIC_TOOLS)
    assert [b.type for b in second.content] == ["text"]
    assert second.content[0].text == fake_tool_result_text("openai", RESULT)  # type: ignore[union-attr]
    assert second.stop_reason == "end_turn"

    sent = fake.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    (call,) = sent[1]["tool_calls"]
    assert call["id"] == FAKE_OPENAI_TOOL_CALL_ID and call["function"]["name"] == TOOL
    assert json.loads(call["function"]["arguments"]) == FAKE_TOOL_ARGS
    assert sent[2]["tool_call_id"] == FAKE_OPENAI_TOOL_CALL_ID
    assert sent[2]["content"] in (RESULT, [{"type": "text", "text": RESULT}])


# --------------------------------------------------------------------------- same-vendor passthrough


FUTURE = {"future_knob": {"level": 3, "modes": ["a", "b"]}}


def test_openai_passthrough_keeps_unknown_fields(gateway: ServerHandle, fake: FakeProvider) -> None:
    sent = Sent()
    with openai.OpenAI(api_key=CLIENT_KEY, base_url=f"{gateway.url}/openai/v1", max_retries=0,
                       http_client=sent.client()) as client:  # fmt: skip
        result = client.chat.completions.create(
            model=MODELS["openai"], messages=[{"role": "user", "content": HELLO}], temperature=0.3,
            extra_body=FUTURE,
        )  # fmt: skip
    assert result.choices[0].message.content == fake_text("openai", HELLO)
    upstream = only_request(fake, "openai").json
    assert upstream == {**sent.last_json, "model": "gpt-4o-mini"}
    assert upstream["future_knob"] == FUTURE["future_knob"]


def test_openai_passthrough_stream_forces_usage_but_hides_it(oai: openai.OpenAI, fake: FakeProvider) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=MODELS["openai"], messages=[{"role": "user", "content": HELLO}], stream=True, extra_body=FUTURE
        )
    )
    upstream = only_request(fake, "openai").json
    assert upstream["stream_options"] == {"include_usage": True}, "the gateway needs usage to count tokens"
    assert upstream["future_knob"] == FUTURE["future_knob"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake_text("openai", HELLO)
    assert all(c.choices for c in chunks), "the client did not ask for the usage chunk"


def test_anthropic_passthrough_keeps_unknown_fields_and_beta_header(gateway: ServerHandle, fake: FakeProvider) -> None:
    sent = Sent()
    with anthropic.Anthropic(api_key=CLIENT_KEY, base_url=f"{gateway.url}/anthropic", max_retries=0,
                             http_client=sent.client()) as client:  # fmt: skip
        result = client.messages.create(
            model=MODELS["anthropic"], max_tokens=100, messages=[{"role": "user", "content": HELLO}],
            system="Be brief.", extra_body=FUTURE, extra_headers={"anthropic-beta": "future-feature-2030-01-01"},
        )  # fmt: skip
    assert result.content[0].text == fake_text("anthropic", HELLO)  # type: ignore[union-attr]
    upstream = only_request(fake, "anthropic")
    assert upstream.json == {**sent.last_json, "model": "claude-3-5-haiku-latest"}
    assert upstream.json["future_knob"] == FUTURE["future_knob"]
    assert upstream.headers.get("anthropic-beta") == "future-feature-2030-01-01"
    assert upstream.headers.get("x-api-key") == UPSTREAM_KEY


def test_gemini_passthrough_keeps_unknown_fields(gateway: ServerHandle, fake: FakeProvider) -> None:
    sent = Sent()
    client = genai.Client(api_key=CLIENT_KEY, http_options={"base_url": f"{gateway.url}/genai",
                                                           "httpx_client": sent.client()})  # fmt: skip
    try:
        config = gtypes.GenerateContentConfig(
            system_instruction="Be brief.", temperature=0.2,
            http_options=gtypes.HttpOptions(extra_body={"futureKnob": {"level": 3}}),
        )  # fmt: skip
        response = client.models.generate_content(model=MODELS["gemini"], contents=HELLO, config=config)
    finally:
        client.close()
    assert response.text == fake_text("gemini", HELLO)
    upstream = only_request(fake, "gemini")
    assert upstream.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert upstream.json == sent.last_json
    assert upstream.json["futureKnob"] == {"level": 3}


# --------------------------------------------------------------------------- errors across vendors


def test_anthropic_429_reaches_openai_sdk_as_rate_limit(oai: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script("anthropic", [Status(429, headers={"retry-after": "7"})])
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model=MODELS["anthropic"], messages=[{"role": "user", "content": HELLO}])
    assert caught.value.status_code == 429
    assert caught.value.response.headers.get("retry-after") == "7"
    assert isinstance(caught.value.body, dict) and caught.value.body.get("message")
    assert fake.count(vendor="anthropic") == 1


def test_anthropic_overloaded_reaches_openai_sdk_as_503(oai: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script("anthropic", [Status(529)])
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model=MODELS["anthropic"], messages=[{"role": "user", "content": HELLO}])
    assert caught.value.status_code == 503


def test_gemini_bad_key_reaches_anthropic_sdk_as_authentication_error(
    ant: anthropic.Anthropic, fake: FakeProvider
) -> None:
    body = gemini_error_body(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
    fake.script("gemini", [Status(400, body=body)])
    with pytest.raises(anthropic.AuthenticationError) as caught:
        ant.messages.create(model=MODELS["gemini"], max_tokens=64, messages=[{"role": "user", "content": HELLO}])
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "authentication_error"


def test_openai_500_reaches_genai_as_server_error(gem: genai.Client, fake: FakeProvider) -> None:
    fake.script("openai", [Status(500)])
    with pytest.raises(genai_errors.ServerError) as caught:
        gem.models.generate_content(model=MODELS["openai"], contents=HELLO)
    assert caught.value.code == 500
    assert caught.value.status == "INTERNAL"


def test_anthropic_overloaded_reaches_genai_as_unavailable(gem: genai.Client, fake: FakeProvider) -> None:
    fake.script("anthropic", [Status(529)])
    with pytest.raises(genai_errors.ServerError) as caught:
        gem.models.generate_content(model=MODELS["anthropic"], contents=HELLO)
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")


def test_gemini_retry_info_becomes_retry_after_for_openai_sdk(oai: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script("gemini", [Status(429, body=gemini_error_body(429, "Quota exceeded", retry_delay="2s"))])
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model=MODELS["gemini"], messages=[{"role": "user", "content": HELLO}])
    assert caught.value.response.headers.get("retry-after") == "2"


INSUFFICIENT_QUOTA = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                                "param": None, "code": "insufficient_quota"}}  # fmt: skip


@pytest.mark.parametrize("client_name", ["openai", "anthropic"])
def test_openai_insufficient_quota_is_not_retried_by_the_sdk(
    client_name: str, gateway: ServerHandle, fake: FakeProvider
) -> None:
    """Wire-formats E.7.10: a quota 429 carries ``x-should-retry: false`` in every dialect whose SDK
    obeys it, so the SDK (default 2 retries here) gives up at once."""
    fake.always("openai", Status(429, body=INSUFFICIENT_QUOTA))
    hello: Any = [{"role": "user", "content": HELLO}]
    if client_name == "openai":
        oai = openai.OpenAI(api_key=CLIENT_KEY, base_url=f"{gateway.url}/openai/v1", max_retries=2)
        with oai, pytest.raises(openai.RateLimitError) as caught:
            oai.chat.completions.create(model=MODELS["openai"], messages=hello)
        assert caught.value.code == "insufficient_quota"
        headers = caught.value.response.headers
    else:
        ant = anthropic.Anthropic(api_key=CLIENT_KEY, base_url=f"{gateway.url}/anthropic", max_retries=2)
        with ant, pytest.raises(anthropic.RateLimitError) as caught_ant:
            ant.messages.create(model=MODELS["openai"], max_tokens=64, messages=hello)
        headers = caught_ant.value.response.headers
    assert headers.get("x-should-retry") == "false"
    assert fake.count(vendor="openai") == 1, "the SDK retried a quota error"


def _openai_stream_text(client: openai.OpenAI, model: str) -> Iterator[str]:
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": HELLO}], stream=True)
    for chunk in stream:
        for choice in chunk.choices:
            yield choice.delta.content or ""


def _anthropic_stream_text(client: anthropic.Anthropic, model: str) -> Iterator[str]:
    with client.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": HELLO}]) as s:
        yield from s.text_stream


def _genai_stream_text(client: genai.Client, model: str) -> Iterator[str]:
    for chunk in client.models.generate_content_stream(model=model, contents=HELLO):
        yield chunk.text or ""


MID_STREAM: dict[str, tuple[Callable[[Any, str], Iterator[str]], type[BaseException]]] = {
    # client -> (how it streams, what it raises for an in-band error event)
    "openai": (_openai_stream_text, openai.APIError),
    "anthropic": (_anthropic_stream_text, anthropic.APIStatusError),
    "genai": (_genai_stream_text, genai_errors.ServerError),
}


#: Upstream frames before the in-band error so that text already reached the client: OpenAI
#: role + first word, Gemini two words, Anthropic message_start, block start, ping, first word.
CONTENT_AFTER = {"openai": 2, "gemini": 2, "anthropic": 4}
CLIENT_FIXTURE = {"openai": "oai", "anthropic": "ant", "genai": "gem"}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("client_name", ["openai", "anthropic", "genai"])
def test_mid_stream_error_raises_the_sdks_in_band_error(
    client_name: str, provider: str, request: pytest.FixtureRequest, fake: FakeProvider
) -> None:
    client = request.getfixturevalue(CLIENT_FIXTURE[client_name])
    stream_text, error_type = MID_STREAM[client_name]
    fake.script(provider, [MidStreamError(after_chunks=CONTENT_AFTER[provider])])
    received: list[str] = []
    with pytest.raises(error_type) as caught:
        for piece in stream_text(client, MODELS[provider]):
            received.append(piece)
    if client_name == "openai":  # the in-band error, not an HTTP status error
        assert not isinstance(caught.value, openai.APIStatusError)
    if client_name == "anthropic":
        assert caught.value.status_code == 200  # type: ignore[attr-defined]
    answer = fake_text(provider, HELLO)
    assert answer.startswith("".join(received)) and "".join(received) != answer
    assert fake.count(vendor=provider) == 1, "a stream that already started is never retried"


@pytest.mark.parametrize(("client_name", "error_type", "status"), [
    ("openai", openai.InternalServerError, 503),
    ("anthropic", anthropic.OverloadedError, 529),
    ("genai", genai_errors.ServerError, 503),
])  # fmt: skip
def test_stream_error_before_any_content_is_an_http_error(
    client_name: str, error_type: type[Exception], status: int, request: pytest.FixtureRequest, fake: FakeProvider
) -> None:
    """Anthropic's error after message_start + content_block_start (no text yet): the gateway has
    not committed the response, so the client gets its dialect's overloaded status instead."""
    client = request.getfixturevalue(CLIENT_FIXTURE[client_name])
    stream_text, _ = MID_STREAM[client_name]
    fake.script("anthropic", [MidStreamError(after_chunks=2)])
    with pytest.raises(error_type) as caught:
        list(stream_text(client, MODELS["anthropic"]))
    assert getattr(caught.value, "status_code", getattr(caught.value, "code", None)) == status


# --------------------------------------------------------------------------- untranslatable


def test_openai_logprobs_to_anthropic_is_rejected_by_name(oai: openai.OpenAI, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model=MODELS["anthropic"], messages=[{"role": "user", "content": HELLO}], logprobs=True
        )
    assert "logprobs" in caught.value.message
    assert fake.requests == []


def test_anthropic_web_search_tool_to_openai_is_rejected_by_name(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(
            model=MODELS["openai"], max_tokens=64, messages=[{"role": "user", "content": ASK}],
            tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
        )  # fmt: skip
    assert "web_search" in caught.value.message
    assert fake.requests == []


# --------------------------------------------------------------------------- auth, versions, routing


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_anthropic_sdk2_bearer_auth_and_new_version_accepted(
    provider: str, gateway: ServerHandle, fake: FakeProvider
) -> None:
    sent = Sent()
    with anthropic.Anthropic(api_key=CLIENT_KEY, base_url=f"{gateway.url}/anthropic", max_retries=0,
                             http_client=sent.client()) as client:  # fmt: skip
        result = client.messages.create(
            model=MODELS[provider], max_tokens=64, messages=[{"role": "user", "content": HELLO}]
        )
    headers = sent.requests[-1].headers
    assert headers["authorization"] == f"Bearer {CLIENT_KEY}" and "x-api-key" not in headers
    assert headers["anthropic-version"] == "2026-10-21"
    assert result.content[0].text == fake_text(provider, HELLO)  # type: ignore[union-attr]
    upstream = only_request(fake, provider)
    assert CLIENT_KEY not in json.dumps(dict(upstream.headers))


def test_legacy_anthropic_auth_still_accepted(gateway: ServerHandle, fake: FakeProvider) -> None:
    response = httpx2.post(
        f"{gateway.url}/anthropic/v1/messages",
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
        json={"model": MODELS["anthropic"], "max_tokens": 64, "messages": [{"role": "user", "content": HELLO}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == fake_text("anthropic", HELLO)


@pytest.mark.parametrize("api_version", [None, "v1beta"])
def test_genai_with_openai_model_name_routes_to_openai(
    api_version: str | None, gateway: ServerHandle, fake: FakeProvider
) -> None:
    options: dict[str, Any] = {"base_url": f"{gateway.url}/genai"}
    if api_version:
        options["api_version"] = api_version
    client = genai.Client(api_key=CLIENT_KEY, http_options=options)
    try:
        response = client.models.generate_content(model="openai/gpt-4o-mini", contents=HELLO)
    finally:
        client.close()
    assert response.text == fake_text("openai", HELLO)
    upstream = only_request(fake, "openai")
    assert upstream.path == "/v1/chat/completions" and upstream.json["model"] == "gpt-4o-mini"


# --------------------------------------------------------------------------- count_tokens


def test_anthropic_count_tokens_on_anthropic(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    counted = ant.messages.count_tokens(model=MODELS["anthropic"], messages=[{"role": "user", "content": HELLO}])
    assert counted.input_tokens == FAKE_PROMPT_TOKENS
    upstream = only_request(fake, "anthropic")
    assert upstream.path == "/v1/messages/count_tokens"
    assert upstream.json["model"] == "claude-3-5-haiku-latest"
    assert upstream.headers.get("x-api-key") == UPSTREAM_KEY


def test_anthropic_count_tokens_on_openai_is_estimated(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    text = "count these words please, " * 8
    counted = ant.messages.count_tokens(model=MODELS["openai"], messages=[{"role": "user", "content": text}])
    assert 0 < counted.input_tokens <= len(text)
    assert fake.requests == [], "OpenAI has no counting endpoint"


@pytest.mark.parametrize(("provider", "path"), [
    ("gemini", "/v1beta/models/gemini-2.0-flash:countTokens"),
    ("anthropic", "/v1/messages/count_tokens"),
])  # fmt: skip
def test_genai_count_tokens(provider: str, path: str, gem: genai.Client, fake: FakeProvider) -> None:
    counted = gem.models.count_tokens(model=MODELS[provider], contents=HELLO)
    assert counted.total_tokens == FAKE_PROMPT_TOKENS
    assert only_request(fake, provider).path == path


# --------------------------------------------------------------------------- embeddings


def test_genai_embed_content_on_openai(gem: genai.Client, fake: FakeProvider) -> None:
    result = gem.models.embed_content(
        model="openai/text-embedding-3-small", contents=["alpha", "beta"],
        config=gtypes.EmbedContentConfig(output_dimensionality=4),
    )  # fmt: skip
    assert [e.values for e in result.embeddings or []] == [fake_embedding(0, 4), fake_embedding(1, 4)]
    upstream = only_request(fake, "openai")
    assert upstream.path == "/v1/embeddings"
    assert upstream.json["model"] == "text-embedding-3-small"
    assert upstream.json["input"] == ["alpha", "beta"]
    assert upstream.json["dimensions"] == 4


def test_genai_embed_content_on_gemini(gem: genai.Client, fake: FakeProvider) -> None:
    result = gem.models.embed_content(model="gemini/text-embedding-004", contents=["alpha", "beta"])
    assert [e.values for e in result.embeddings or []] == [fake_embedding(0), fake_embedding(1)]
    upstream = only_request(fake, "gemini")
    assert upstream.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    texts = [r["content"]["parts"][0]["text"] for r in upstream.json["requests"]]
    assert texts == ["alpha", "beta"]


# --------------------------------------------------------------------------- model lists

#: One model the fake lists per provider, and the vendor a chat with it must reach.
LISTED = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


def _pick(ids: list[str], provider: str) -> str:
    """The listed id naming the provider's model: bare on the mount's own provider, else prefixed."""
    found = [i for i in ids if i.split("/")[-1] == LISTED[provider]]
    assert len(found) == 1, f"{LISTED[provider]} not listed exactly once: {ids}"
    return found[0]


def test_anthropic_models_list_names_every_provider(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    ids = [m.id for m in ant.models.list()]
    for provider in LISTED:
        model = _pick(ids, provider)
        fake.reset()
        ant.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": HELLO}])
        assert only_request(fake, provider).model == LISTED[provider]


def test_genai_models_list_names_every_provider(gem: genai.Client, fake: FakeProvider) -> None:
    names = [m.name or "" for m in gem.models.list()]
    assert all(n.startswith("models/") for n in names), names
    for provider in LISTED:
        name = _pick(names, provider)
        fake.reset()
        response = gem.models.generate_content(model=name, contents=HELLO)
        assert response.text == fake_text(provider, HELLO)
        assert only_request(fake, provider).model == LISTED[provider]


def test_openai_models_list_names_every_provider(oai: openai.OpenAI, fake: FakeProvider) -> None:
    ids = [m.id for m in oai.models.list()]
    for provider in LISTED:
        model = _pick(ids, provider)
        fake.reset()
        result = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": HELLO}])
        assert result.choices[0].message.content == fake_text(provider, HELLO)
        assert only_request(fake, provider).model == LISTED[provider]


def test_genai_tool_call_from_anthropic_round_trips_by_name(gem: genai.Client, fake: FakeProvider) -> None:
    """Gemini's functionResponse carries only the name: the gateway must find the Anthropic id."""
    first = gem.models.generate_content(model=MODELS["anthropic"], contents=ASK, config=GENAI_CONFIG)
    assert first.candidates and first.candidates[0].content
    call_content = first.candidates[0].content
    (call,) = first.function_calls or []
    assert call.name == TOOL and call.args == FAKE_TOOL_ARGS
    contents = [
        gtypes.Content(role="user", parts=[gtypes.Part(text=ASK)]),
        call_content,
        gtypes.Content(role="user", parts=[gtypes.Part(function_response=gtypes.FunctionResponse(
            id=call.id, name=TOOL, response={"output": RESULT}))]),
    ]  # fmt: skip
    second = gem.models.generate_content(model=MODELS["anthropic"], contents=contents, config=GENAI_CONFIG)
    assert second.text == fake_tool_result_text("anthropic", RESULT)
    sent = fake.requests[-1].json["messages"]
    (use,) = sent[1]["content"]
    (result,) = sent[2]["content"]
    assert use["type"] == "tool_use" and result["type"] == "tool_result"
    assert result["tool_use_id"] == use["id"]


# --------------------------------------------------------------------------- tool-call traps


def test_openai_style_ids_are_sanitised_identically_for_anthropic(oai: openai.OpenAI, fake: FakeProvider) -> None:
    """Third-party ids such as ``functions.get_weather:0`` break Anthropic's id pattern; two parallel
    results go into ONE user turn."""
    calls = [{"id": f"functions.get_weather:{i}", "type": "function",
              "function": {"name": TOOL, "arguments": json.dumps({"city": city})}}
             for i, city in enumerate(["Paris", "Rome"])]  # fmt: skip
    messages: Any = [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": "rainy"},
    ]
    result = oai.chat.completions.create(model=MODELS["anthropic"], messages=messages, tools=OPENAI_TOOLS)
    assert result.choices[0].message.content == fake_tool_result_text("anthropic", "sunny rainy")
    sent = only_request(fake, "anthropic").json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    use_ids = [b["id"] for b in sent[1]["content"]]
    result_ids = [b["tool_use_id"] for b in sent[2]["content"]]
    assert use_ids == result_ids and len(set(use_ids)) == 2
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]+", i) for i in use_ids)


def test_parallel_tool_results_reach_gemini_by_name(ant: anthropic.Anthropic, fake: FakeProvider) -> None:
    messages: Any = [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": TOOL, "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "noon"},
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"}]},
    ]  # fmt: skip
    tools: Any = [*ANTHROPIC_TOOLS, {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]
    result = ant.messages.create(model=MODELS["gemini"], max_tokens=64, messages=messages, tools=tools)
    assert result.content[0].text == fake_tool_result_text("gemini", "noon sunny")  # type: ignore[union-attr]
    contents = only_request(fake, "gemini").json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    responses = [p["functionResponse"] for p in contents[2]["parts"]]
    assert [(r["name"], r["response"]) for r in responses] == [
        ("get_time", {"output": "noon"}),
        (TOOL, {"output": "sunny"}),
    ]


@pytest.mark.parametrize("client_name", ["openai", "anthropic"])
def test_gemini3_tool_turn_carries_a_thought_signature(
    client_name: str, oai: openai.OpenAI, ant: anthropic.Anthropic, fake: FakeProvider
) -> None:
    """Gemini 3 rejects a functionCall sent back without ``thoughtSignature`` (the fake too); OpenAI and
    Anthropic clients cannot carry it, so the gateway must supply one."""
    model = "gemini/gemini-3-pro-preview"
    if client_name == "openai":
        first = oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": ASK}], tools=OPENAI_TOOLS
        )
        message = first.choices[0].message
        (call,) = message.tool_calls or []
        history: Any = [{"role": "user", "content": ASK}, message.model_dump(exclude_none=True),
                        {"role": "tool", "tool_call_id": call.id, "content": RESULT}]  # fmt: skip
        second = oai.chat.completions.create(model=model, messages=history, tools=OPENAI_TOOLS)
        text = second.choices[0].message.content
    else:
        reply = ant.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": ASK}], tools=ANTHROPIC_TOOLS
        )
        (use,) = [b for b in reply.content if b.type == "tool_use"]
        history = [
            {"role": "user", "content": ASK},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]},
        ]
        again = ant.messages.create(model=model, max_tokens=64, messages=history, tools=ANTHROPIC_TOOLS)
        text = again.content[0].text  # type: ignore[union-attr]
    assert text == fake_tool_result_text("gemini", RESULT)
    (part,) = fake.requests[-1].json["contents"][1]["parts"]
    assert part["functionCall"]["name"] == TOOL and part.get("thoughtSignature")


# --------------------------------------------------------------------------- finish reasons (E.4)

#: The same stop condition as each vendor spells it (client-side names: openai / anthropic / genai).
STOPS = {
    "length": {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"},
    "filter": {"openai": "content_filter", "anthropic": "refusal", "gemini": "SAFETY"},
}
ANSWER_PATH = {"openai": "/chat/completions", "anthropic": "/v1/messages", "gemini": ":generateContent"}


def _upstream_answer(provider: str, reason: str) -> dict[str, Any]:
    if provider == "openai":
        return {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "partial"},
                             "finish_reason": reason}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}  # fmt: skip
    if provider == "anthropic":
        return {"id": "msg_x", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
                "content": [{"type": "text", "text": "partial"}], "stop_reason": reason, "stop_sequence": None,
                "usage": {"input_tokens": 11, "output_tokens": 7}}  # fmt: skip
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}, "finishReason": reason,
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18}}  # fmt: skip


@pytest.mark.parametrize("stop", sorted(STOPS))
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("client_name", ["openai", "anthropic", "genai"])
def test_finish_reasons_map_across_vendors(
    client_name: str, provider: str, stop: str, request: pytest.FixtureRequest, fake: FakeProvider
) -> None:
    fake.respond(ANSWER_PATH[provider], lambda _: _upstream_answer(provider, STOPS[stop][provider]))
    client = request.getfixturevalue(CLIENT_FIXTURE[client_name])
    hello: Any = [{"role": "user", "content": HELLO}]
    if client_name == "openai":
        seen = client.chat.completions.create(model=MODELS[provider], messages=hello).choices[0].finish_reason
        expected = STOPS[stop]["openai"]
    elif client_name == "anthropic":
        seen = client.messages.create(model=MODELS[provider], max_tokens=64, messages=hello).stop_reason
        expected = STOPS[stop]["anthropic"]
    else:
        response = client.models.generate_content(model=MODELS[provider], contents=HELLO)
        seen = response.candidates[0].finish_reason.value
        expected = STOPS[stop]["gemini"]
    assert seen == expected


def test_openai_n_maps_to_gemini_candidates(oai: openai.OpenAI, fake: FakeProvider) -> None:
    two = {"candidates": [
        {"content": {"role": "model", "parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1}],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18}}  # fmt: skip
    fake.respond(":generateContent", lambda _: two)
    result = oai.chat.completions.create(model=MODELS["gemini"], messages=[{"role": "user", "content": HELLO}], n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in result.choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]
    assert only_request(fake, "gemini").json["generationConfig"]["candidateCount"] == 2


def test_openai_n_to_anthropic_is_rejected_by_name(oai: openai.OpenAI, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=MODELS["anthropic"], messages=[{"role": "user", "content": HELLO}], n=2)
    assert "n=2" in caught.value.message
    assert fake.requests == []
