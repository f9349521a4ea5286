"""The cloud providers (Bedrock; Vertex and Cohere below) from every client dialect, over real sockets.

One gateway, one fake vendor server (``tests/support/fake_cloud.py``) that checks what the real
services check: Bedrock recomputes each request's SigV4 signature. The OpenAI, Anthropic and
google-genai SDKs run the translation matrix's scenarios (plain, streamed, tool call, streamed
tool call, tool-result turn) against each cloud model; the fake's records show what went upstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai

from bifrost_asgi.wire.converse import CONTENT_TYPE_STREAM, encode_event, encode_exception
from tests.e2e.test_translation_matrix import (
    CLIENT_KEY,
    CLIENTS,
    DRIVERS,
    FINISH,
    HELLO,
    RESULT,
    SCENARIOS,
    TOOL,
    USAGE,
    Clients,
)
from tests.support import (
    FAKE_TOOL_ARGS,
    FakeProvider,
    Reply,
    ServerHandle,
    Status,
    fake_text,
    fake_tool_result_text,
    run_gateway,
)
from tests.support.cloud_auth import ServiceAccount
from tests.support.fake_cloud import FAKE_AWS, FAKE_AWS_TEMPORARY, FAKE_BEDROCK_API_KEY, FAKE_COHERE_KEY

pytestmark = pytest.mark.e2e

BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_CLAUDE = "claude-sonnet-4-5@20250929"
MODELS = {"bedrock": "bedrock/claude-sonnet", "vertex-gemini": "vertex/gemini-2.5-flash",
          "vertex-claude": f"vertex/{VERTEX_CLAUDE}", "cohere": "cohere/command-a-03-2025"}  # fmt: skip
VENDOR_TEXT = {"bedrock": "bedrock", "vertex-gemini": "gemini", "vertex-claude": "anthropic", "cohere": "cohere"}


def bedrock_config(fake: FakeProvider, **key: Any) -> dict[str, Any]:
    credentials = {"access_key": FAKE_AWS.access_key, "secret_key": FAKE_AWS.secret_key, **key}
    return {
        "keys": [{"bedrock_key_config": {"region": "us-east-1", "deployments": {"claude-sonnet": BEDROCK_CLAUDE},
                                         **credentials}}],
        "network_config": {"base_url": fake.url, "max_retries": 1, "retry_backoff_initial_ms": 1,
                           "retry_backoff_max_ms": 2},
    }  # fmt: skip


def vertex_config(fake: FakeProvider, credentials: dict[str, Any] | None = None) -> dict[str, Any]:
    info = credentials or fake.cloud.service_account(fake.url + "/token").info
    return {
        "keys": [{"vertex_key_config": {"project_id": "fake-project", "region": "us-east5",
                                        "auth_credentials": json.dumps(info)}}],
        "network_config": {"base_url": fake.url},
    }  # fmt: skip


def gateway_config(fake: FakeProvider) -> dict[str, Any]:
    cohere = {"keys": [{"value": FAKE_COHERE_KEY}], "network_config": {"base_url": fake.url}}
    return {"providers": {"bedrock": bedrock_config(fake), "vertex": vertex_config(fake), "cohere": cohere}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    with run_gateway(gateway_config(fake)) as handle:
        yield handle


@pytest.fixture(scope="module")
def clients(gateway: ServerHandle) -> Iterator[Clients]:
    made = Clients(
        openai=openai.OpenAI(api_key=CLIENT_KEY, base_url=f"{gateway.url}/openai/v1", max_retries=0),
        anthropic=anthropic.Anthropic(api_key=CLIENT_KEY, base_url=f"{gateway.url}/anthropic", max_retries=0),
        genai=genai.Client(api_key=CLIENT_KEY, http_options={"base_url": f"{gateway.url}/genai"}),
        genai_v1beta=genai.Client(
            api_key=CLIENT_KEY, http_options={"base_url": f"{gateway.url}/genai", "api_version": "v1beta"}
        ),
    )
    yield made
    made.openai.close()
    made.anthropic.close()
    made.genai.close()
    made.genai_v1beta.close()


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeProvider) -> Iterator[None]:
    fake.reset()
    yield
    assert not fake.errors, f"the fake provider raised: {fake.errors!r}"


def _check_bedrock_upstream(fake: FakeProvider, scenario: str) -> None:
    requests = [r for r in fake.requests if r.vendor == "bedrock"]
    assert requests, [f"{r.method} {r.path}" for r in fake.requests]
    rec = requests[-1]
    operation = "converse-stream" if scenario in ("stream", "streamed_tool_call") else "converse"
    assert rec.path == f"/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/{operation}"
    assert rec.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={FAKE_AWS.access_key}/")
    assert not any(CLIENT_KEY in v or FAKE_AWS.secret_key in v for v in rec.headers.values())
    body = rec.json
    assert "model" not in body and "modelId" not in body
    if scenario in ("plain", "stream"):
        assert body["messages"] == [{"role": "user", "content": [{"text": HELLO}]}]
        assert "toolConfig" not in body
        return
    (tool,) = body["toolConfig"]["tools"]
    assert tool["toolSpec"]["name"] == TOOL
    assert tool["toolSpec"]["inputSchema"]["json"]["properties"]["city"]["type"] == "string"
    if scenario == "tool_result_turn":
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        (use,) = body["messages"][1]["content"]
        assert use["toolUse"]["name"] == TOOL and use["toolUse"]["input"] == FAKE_TOOL_ARGS
        (result,) = body["messages"][2]["content"]
        assert result["toolResult"]["toolUseId"] == use["toolUse"]["toolUseId"]
        assert result["toolResult"]["content"] == [{"text": RESULT}]


def _check_vertex_upstream(fake: FakeProvider, scenario: str, publisher: str) -> None:
    (rec,) = [r for r in fake.requests if r.vendor == "vertex"][-1:]
    streamed = scenario in ("stream", "streamed_tool_call")
    base = f"/v1/projects/fake-project/locations/us-east5/publishers/{publisher}/models/"
    assert rec.headers["authorization"].startswith("Bearer ya29.fake-")
    assert not any(CLIENT_KEY in v for v in rec.headers.values())
    body = rec.json
    if publisher == "google":
        method = "streamGenerateContent" if streamed else "generateContent"
        assert rec.path == f"{base}gemini-2.5-flash:{method}"
        assert rec.query.get("alt") == ("sse" if streamed else None)
        assert "model" not in body and body["contents"][0]["role"] == "user"
        assert bool(body.get("tools")) == (scenario not in ("plain", "stream"))
        return
    assert rec.path == f"{base}{VERTEX_CLAUDE}:{'streamRawPredict' if streamed else 'rawPredict'}"
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"
    assert bool(body.get("tools")) == (scenario not in ("plain", "stream"))


def _check_cohere_upstream(fake: FakeProvider, scenario: str) -> None:
    (rec,) = [r for r in fake.requests if r.vendor == "cohere"][-1:]
    assert rec.path == "/v2/chat" and rec.headers["authorization"] == f"Bearer {FAKE_COHERE_KEY}"
    body = rec.json
    assert body["model"] == "command-a-03-2025"
    assert body.get("stream", False) is (scenario in ("stream", "streamed_tool_call"))
    if scenario in ("plain", "stream"):
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": HELLO}]}]
        return
    assert body["tools"][0]["function"]["name"] == TOOL
    if scenario == "tool_result_turn":
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool"]
        (call,) = body["messages"][1]["tool_calls"]
        assert json.loads(call["function"]["arguments"]) == FAKE_TOOL_ARGS
        assert body["messages"][2]["tool_call_id"] == call["id"]


UPSTREAM_CHECKS = {
    "cohere": _check_cohere_upstream,
    "bedrock": _check_bedrock_upstream,
    "vertex-gemini": lambda fake, scenario: _check_vertex_upstream(fake, scenario, "google"),
    "vertex-claude": lambda fake, scenario: _check_vertex_upstream(fake, scenario, "anthropic"),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("client", CLIENTS)
def test_cloud_translation(client: str, provider: str, scenario: str, clients: Clients, fake: FakeProvider) -> None:
    outcome = DRIVERS[client, scenario](clients, MODELS[provider])
    text_finish, tool_finish = FINISH[client]
    assert outcome.usage == USAGE[client]
    if scenario in ("tool_call", "streamed_tool_call"):
        assert outcome.text == ""
        (call,) = outcome.calls
        assert call.name == TOOL and dict(call.args) == FAKE_TOOL_ARGS
        if client != "genai":
            assert call.id
        assert outcome.finish == tool_finish
    else:
        vendor = VENDOR_TEXT[provider]
        expected = fake_tool_result_text(vendor, RESULT) if scenario == "tool_result_turn" else fake_text(vendor, HELLO)
        assert outcome.text == expected
        assert outcome.finish == text_finish
    UPSTREAM_CHECKS[provider](fake, scenario)


# --------------------------------------------------------------------------- Bedrock specifics


def _openai(gateway: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(api_key=CLIENT_KEY, base_url=f"{gateway.url}/openai/v1", max_retries=0)


def test_bedrock_rejects_a_bad_signature(fake: FakeProvider) -> None:
    """A wrong secret key: the fake's own SigV4 computation disagrees, the client gets a 403 that says so."""
    config = {"providers": {"bedrock": bedrock_config(fake, secret_key="wrong/secret/key")}}
    denied = pytest.raises(openai.PermissionDeniedError)
    with run_gateway(config) as gateway, _openai(gateway) as client, denied as info:
        client.chat.completions.create(model=MODELS["bedrock"], messages=[{"role": "user", "content": HELLO}])
    assert "signature we calculated does not match" in str(info.value)
    assert "wrong/secret/key" not in str(info.value)


def test_bedrock_session_token_and_api_key(fake: FakeProvider) -> None:
    temporary = {"access_key": FAKE_AWS_TEMPORARY.access_key, "secret_key": FAKE_AWS_TEMPORARY.secret_key,
                 "session_token": FAKE_AWS_TEMPORARY.session_token}  # fmt: skip
    config = {"providers": {"bedrock": bedrock_config(fake, **temporary)}}
    with run_gateway(config) as gateway, _openai(gateway) as client:
        answer = client.chat.completions.create(model=MODELS["bedrock"], messages=[{"role": "user", "content": HELLO}])
    assert answer.choices[0].message.content == fake_text("bedrock", HELLO)
    assert fake.last("/converse").headers["x-amz-security-token"] == FAKE_AWS_TEMPORARY.session_token
    fake.reset()
    config = {"providers": {"bedrock": {"keys": [{"value": FAKE_BEDROCK_API_KEY, "bedrock_key_config": {}}],
                                        "network_config": {"base_url": fake.url}}}}  # fmt: skip
    with run_gateway(config) as gateway, _openai(gateway) as client:
        answer = client.chat.completions.create(
            model=f"bedrock/{BEDROCK_CLAUDE}", messages=[{"role": "user", "content": HELLO}]
        )
    assert answer.choices[0].message.content == fake_text("bedrock", HELLO)
    assert fake.last("/converse").headers["authorization"] == f"Bearer {FAKE_BEDROCK_API_KEY}"


def test_bedrock_throttling_event_before_content_is_retried(fake: FakeProvider, clients: Clients) -> None:
    throttled = [encode_event("messageStart", {"role": "assistant"}),
                 encode_exception("throttlingException", "Too many requests")]  # fmt: skip
    calls: list[int] = []

    def first_throttled(_: Any) -> Reply | None:
        calls.append(1)
        return Reply(sse=throttled, headers={"content-type": CONTENT_TYPE_STREAM}) if len(calls) == 1 else None

    fake.respond("/converse-stream", first_throttled)
    with clients.anthropic.messages.stream(
        model=MODELS["bedrock"], max_tokens=64, messages=[{"role": "user", "content": HELLO}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == fake_text("bedrock", HELLO)
    assert fake.count("/converse-stream") == 2


def test_bedrock_exception_event_mid_stream_reaches_each_client(fake: FakeProvider, clients: Clients) -> None:
    frames = [encode_event("messageStart", {"role": "assistant"}),
              encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
              encode_exception("modelStreamErrorException", "The model stream broke")]  # fmt: skip
    fake.always("/converse-stream", None)
    fake.respond("/converse-stream", lambda _: Reply(sse=frames, headers={"content-type": CONTENT_TYPE_STREAM}))
    with pytest.raises(openai.APIError) as info:
        list(clients.openai.chat.completions.create(
            model=MODELS["bedrock"], messages=[{"role": "user", "content": HELLO}], stream=True))  # fmt: skip
    assert "The model stream broke" in str(info.value)
    with pytest.raises(anthropic.APIStatusError) as error, clients.anthropic.messages.stream(
        model=MODELS["bedrock"], max_tokens=64, messages=[{"role": "user", "content": HELLO}]
    ) as stream:
        list(stream)
    assert "The model stream broke" in str(error.value)


def test_bedrock_corrupt_crc_is_a_clear_error(fake: FakeProvider, clients: Clients) -> None:
    good = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "fine"}})
    bad = bytearray(encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "flipped"}}))
    bad[-6] ^= 0x01  # one payload bit: the message CRC no longer matches
    frames = [encode_event("messageStart", {"role": "assistant"}), good, bytes(bad)]
    fake.respond("/converse-stream", lambda _: Reply(sse=frames, headers={"content-type": CONTENT_TYPE_STREAM}))
    stream = clients.openai.chat.completions.create(
        model=MODELS["bedrock"], messages=[{"role": "user", "content": HELLO}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert "corrupt event-stream frame" in str(info.value) and "checksum" in str(info.value)


def test_bedrock_embeddings(fake: FakeProvider) -> None:
    provider = bedrock_config(fake)
    provider["keys"][0]["bedrock_key_config"]["deployments"] = {"titan": "amazon.titan-embed-text-v2:0",
                                                                "cohere-embed": "cohere.embed-english-v3"}
    with run_gateway({"providers": {"bedrock": provider}}) as gateway, _openai(gateway) as client:
        titan = client.embeddings.create(model="bedrock/titan", input="hello", dimensions=4)
        cohere = client.embeddings.create(model="bedrock/cohere-embed", input=["a", "b"])
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model="bedrock/titan", input=["a", "b"])
    assert len(titan.data) == 1 and len(titan.data[0].embedding) == 4
    assert titan.usage.prompt_tokens == 11
    assert [d.index for d in cohere.data] == [0, 1]
    assert "one text per request" in str(info.value)
    titan_body = json.loads(fake.matching("amazon.titan")[0].body)
    assert titan_body == {"inputText": "hello", "dimensions": 4, "normalize": True}
    assert json.loads(fake.matching("cohere.embed")[0].body) == {"texts": ["a", "b"], "input_type": "search_document"}


# --------------------------------------------------------------------------- Vertex specifics


def test_vertex_token_is_minted_once_and_reused(fake: FakeProvider, gateway: ServerHandle) -> None:
    before = fake.cloud.issued
    with _openai(gateway) as client:
        for model in (MODELS["vertex-gemini"], MODELS["vertex-claude"], MODELS["vertex-gemini"]):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": HELLO}])
    assert fake.cloud.issued == max(before, 1)  # one token for the module's gateway, whatever ran first
    tokens = {r.headers["authorization"] for r in fake.requests if r.vendor == "vertex"}
    assert len(tokens) == 1


def test_vertex_rejects_a_token_from_the_wrong_key(fake: FakeProvider) -> None:
    """A service account whose private key is not the registered one: the token endpoint refuses
    the assertion, the client gets a 401 that says why, and no Vertex call is made."""
    impostor = ServiceAccount(fake.url + "/token").info  # same account name, another key pair
    config = {"providers": {"vertex": vertex_config(fake, impostor)}}
    with run_gateway(config) as gateway, _openai(gateway) as client, pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=MODELS["vertex-gemini"], messages=[{"role": "user", "content": HELLO}])
    assert "Invalid JWT Signature" in str(info.value)
    assert impostor["private_key"].splitlines()[1] not in str(info.value)
    assert fake.count(vendor="vertex") == 0


def test_vertex_embeddings(fake: FakeProvider, gateway: ServerHandle) -> None:
    with _openai(gateway) as client:
        embedded = client.embeddings.create(model="vertex/gemini-embedding-001", input=["a", "b"], dimensions=4)
    assert [len(d.embedding) for d in embedded.data] == [4, 4] and embedded.usage.prompt_tokens == 8
    rec = fake.last(":predict")
    assert rec.path.endswith("/publishers/google/models/gemini-embedding-001:predict")
    assert rec.headers["authorization"].startswith("Bearer ya29.fake-")


def test_vertex_count_tokens_for_claude(fake: FakeProvider, clients: Clients) -> None:
    counted = clients.anthropic.messages.count_tokens(
        model=MODELS["vertex-claude"], messages=[{"role": "user", "content": HELLO}]
    )
    assert counted.input_tokens == 11
    rec = fake.last("count-tokens")
    assert rec.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert rec.json["model"] == VERTEX_CLAUDE and rec.json["anthropic_version"] == "vertex-2023-10-16"


# --------------------------------------------------------------------------- Cohere specifics


def test_cohere_embeddings_and_a_bad_key(fake: FakeProvider, gateway: ServerHandle) -> None:
    with _openai(gateway) as client:
        embedded = client.embeddings.create(model="cohere/embed-v4.0", input=["a", "b"], dimensions=3)
    assert [len(d.embedding) for d in embedded.data] == [3, 3] and embedded.usage.prompt_tokens == 11
    sent = fake.last("/v2/embed").json
    assert sent == {"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_document",
                    "embedding_types": ["float"], "output_dimension": 3}  # fmt: skip
    config = {"providers": {"cohere": {"keys": [{"value": "co-wrong"}], "network_config": {"base_url": fake.url}}}}
    denied = pytest.raises(openai.AuthenticationError)
    with run_gateway(config) as other, _openai(other) as client, denied as info:
        client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": HELLO}])
    assert "invalid api token" in str(info.value) and "co-wrong" not in str(info.value)


# --------------------------------------------------------------------------- reliability across the clouds


def test_throttled_bedrock_falls_back_to_vertex_with_metrics(fake: FakeProvider) -> None:
    """Bedrock answers 429 ThrottlingException on every key and retry: the request falls back to
    Vertex Claude, the attempt trail names both, and the metrics count Bedrock's failures."""
    throttled = Status(429, {"message": "Too many requests, please wait before trying again."},
                       {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/"})  # fmt: skip
    fake.always("/converse", throttled)
    config = gateway_config(fake)
    config["routing"] = {"fallbacks": {MODELS["bedrock"]: [f"vertex/{VERTEX_CLAUDE}"]}}
    try:
        with run_gateway(config) as gateway, _openai(gateway) as client:
            raw = client.chat.completions.with_raw_response.create(
                model=MODELS["bedrock"], messages=[{"role": "user", "content": HELLO}]
            )
            metrics = httpx.get(f"{gateway.url}/metrics").text
    finally:
        fake.always("/converse", None)
    assert raw.parse().choices[0].message.content == fake_text("anthropic", HELLO)
    trail = raw.headers["x-bifrost-attempt-trail"]
    assert "bedrock/claude-sonnet=429" in trail and f"vertex/{VERTEX_CLAUDE}=200" in trail
    assert fake.count("/converse") == 2  # the first try and max_retries=1
    lines = metrics.splitlines()
    assert 'bifrost_error_requests_total{method="chat_completion",model="claude-sonnet",provider="bedrock",' \
        'status_code="429"} 2.0' in lines
    assert 'bifrost_retries_total{provider="bedrock",reason="429"} 1.0' in lines
    assert 'bifrost_fallbacks_total{from_provider="bedrock",to_provider="vertex"} 1.0' in lines
    assert FAKE_AWS.secret_key not in metrics


# --------------------------------------------------------------------------- Responses API clients

RESPONSES_TOOLS: Any = [{"type": "function", "name": TOOL, "description": "Weather",
                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]  # fmt: skip


@pytest.mark.parametrize("provider", list(MODELS))
def test_responses_clients_reach_the_cloud_providers(provider: str, gateway: ServerHandle) -> None:
    """The OpenAI SDK's Responses API, plain, streamed and a tool round trip by previous_response_id."""
    vendor = VENDOR_TEXT[provider]
    with _openai(gateway) as client:
        plain = client.responses.create(model=MODELS[provider], input=HELLO)
        with client.responses.stream(model=MODELS[provider], input=HELLO) as stream:
            deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            streamed = stream.get_final_response()
        first = client.responses.create(model=MODELS[provider], input="Weather in Paris?", tools=RESPONSES_TOOLS)
        (call,) = [item for item in first.output if item.type == "function_call"]
        second = client.responses.create(
            model=MODELS[provider], previous_response_id=first.id, tools=RESPONSES_TOOLS,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": RESULT}],
        )  # fmt: skip
    assert plain.output_text == fake_text(vendor, HELLO) and plain.usage is not None
    assert deltas == streamed.output_text == fake_text(vendor, HELLO)
    assert call.name == TOOL and json.loads(call.arguments) == FAKE_TOOL_ARGS
    assert second.output_text == fake_tool_result_text(vendor, RESULT)
