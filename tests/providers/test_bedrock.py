"""The Bedrock provider: neutral -> Converse requests, Converse answers / event-stream / errors ->
neutral, SigV4 signing (checked by an independent verifier) and the credential chain cache."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.errors import GatewayError, InvalidRequestError, UnsupportedFeatureError, UpstreamError
from bifrost_asgi.neutral import (
    CacheHint,
    ChatRequest,
    EmbeddingRequest,
    FilePart,
    Finish,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    ToolSpec,
    Usage,
    UsageUpdate,
)
from bifrost_asgi.providers.base import UpstreamResponse
from bifrost_asgi.providers.bedrock import BedrockProvider
from bifrost_asgi.providers.bedrock_auth import AwsCredentials, DefaultCredentialChain
from bifrost_asgi.wire.converse import encode_event, encode_exception
from tests.support.cloud_auth import AuthFailure, AwsIdentity, verify_sigv4

CLAUDE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
IDENTITY = AwsIdentity("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
KEY = KeyConfig.model_validate(
    {"bedrock_key_config": {"access_key": IDENTITY.access_key, "secret_key": IDENTITY.secret_key,
                            "region": "eu-west-1", "deployments": {"sonnet": CLAUDE}}}
)  # fmt: skip
PROVIDER = BedrockProvider("bedrock", ProviderConfig())
USER = Message("user", (TextPart("hi"),))
WEATHER = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})


def request(*messages: Message, **options: Any) -> ChatRequest:
    return ChatRequest(model="sonnet", messages=messages or (USER,), **options)


def body_of(chat: ChatRequest, model: str = "sonnet", key: KeyConfig = KEY) -> dict[str, Any]:
    built = PROVIDER.build_chat(chat, model, key)
    return dict(_json.loads(built.body or b""))


# --------------------------------------------------------------------------- requests


def test_url_region_deployment_and_arn() -> None:
    built = PROVIDER.build_chat(request(stream=True), "sonnet", KEY)
    assert (
        built.url
        == f"https://bedrock-runtime.eu-west-1.amazonaws.com/model/{CLAUDE.replace(':', '%3A')}/converse-stream"
    )
    assert built.stream and built.headers["accept"] == "application/vnd.amazon.eventstream"
    arn_key = KeyConfig.model_validate(
        {
            "bedrock_key_config": {
                "region": "us-east-1",
                "arn": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile",
            }
        }
    )
    built = PROVIDER.build_chat(request(), "abc123", arn_key)
    assert built.url.endswith("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Aapplication-inference-profile"
                              "%2Fabc123/converse")  # fmt: skip


def test_messages_system_images_documents_and_tools() -> None:
    chat = request(
        Message("system", (TextPart("be brief"),)),
        Message("user", (TextPart("look"), ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
                         FilePart(data="JVBERi0=", media_type="application/pdf", filename="Q3 report.v2.pdf"))),
        Message("assistant", (ReasoningPart("thinking", signature="sig-1"), ReasoningPart("unsigned"),
                              ToolCall("call.1", "get_weather", '{"city": "Paris"}'))),
        Message("tool", (ToolResult("call.1", (TextPart("sunny"),), is_error=True),)),
        Message("user", (TextPart("thanks"),)),
        tools=(WEATHER,), tool_choice=ToolChoice("tool", "get_weather"), max_tokens=100, temperature=1.5,
        top_p=0.9, stop=("END",),
    )  # fmt: skip
    body = body_of(chat)
    assert body["system"] == [{"text": "be brief"}]
    user, assistant, results = body["messages"]
    assert user["content"] == [
        {"text": "look"},
        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
        {"document": {"format": "pdf", "name": "Q3 report v2", "source": {"bytes": "JVBERi0="}}},
    ]
    assert assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "thinking", "signature": "sig-1"}}},
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    assert results["role"] == "user"
    assert results["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}], "status": "error"}},
        {"text": "thanks"},
    ]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 1.0, "topP": 0.9, "stopSequences": ["END"]}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"] == {
        "city": {"type": "string"}
    }
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}


def test_tool_choice_modes() -> None:
    assert body_of(request(tools=(WEATHER,)))["toolConfig"] == {"tools": body_of(request(tools=(WEATHER,)))[
        "toolConfig"]["tools"]}  # fmt: skip
    assert body_of(request(tools=(WEATHER,), tool_choice=ToolChoice("required")))["toolConfig"]["toolChoice"] == {
        "any": {}}  # fmt: skip
    assert "toolConfig" not in body_of(request(tools=(WEATHER,), tool_choice=ToolChoice("none")))
    history = (USER, Message("assistant", (ToolCall("c1", "get_weather"),)), Message("tool", (ToolResult("c1"),)))
    with pytest.raises(UnsupportedFeatureError, match="tool_choice none"):
        body_of(request(*history, tools=(WEATHER,), tool_choice=ToolChoice("none")))
    with pytest.raises(InvalidRequestError, match="tool definitions"):
        body_of(request(*history))


def test_reasoning_for_claude_and_refusals() -> None:
    body = body_of(request(reasoning=Reasoning(effort="low"), temperature=0.3, top_k=5))
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert body["inferenceConfig"] == {"maxTokens": 1024 + 4096}
    assert body_of(request(top_k=5))["additionalModelRequestFields"] == {"top_k": 5}
    llama = "meta.llama3-70b-instruct-v1:0"
    with pytest.raises(UnsupportedFeatureError, match="top_k"):
        body_of(request(top_k=5), llama)
    with pytest.raises(UnsupportedFeatureError, match="reasoning"):
        body_of(request(reasoning=Reasoning(effort="high")), llama)
    for bad, match in [
        ({"n": 2}, "n=2"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"response_format": ResponseFormat("json_object")}, "response_format"),
        ({"parallel_tool_calls": False, "tools": (WEATHER,)}, "parallel_tool_calls"),
        ({"untranslatable": {"logprobs": True}}, "logprobs"),
    ]:
        with pytest.raises(UnsupportedFeatureError, match=match):
            body_of(request(**bad))
    with pytest.raises(UnsupportedFeatureError, match="cannot fetch image URLs"):
        body_of(request(Message("user", (ImagePart(url="https://example.com/cat.png"),))))


def test_bedrock_client_body_passes_through() -> None:
    raw = {"modelId": "x", "messages": [{"role": "user", "content": [{"text": "hi"}]}], "guardrailConfig": {"g": 1}}
    chat = ChatRequest(model="sonnet", messages=(USER,), source_format="bedrock", raw=raw)
    assert body_of(chat) == {"messages": raw["messages"], "guardrailConfig": {"g": 1}}


def test_half_configured_credentials_are_named() -> None:
    key = KeyConfig.model_validate({"bedrock_key_config": {"access_key": "AKID"}})
    with pytest.raises(GatewayError, match=r"bedrock_key_config\.secret_key is not set"):
        PROVIDER.build_chat(request(), "sonnet", key)


# --------------------------------------------------------------------------- answers


def answer(body: dict[str, Any], headers: dict[str, str] | None = None, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, headers or {}, _json.dumps(body))


@pytest.mark.parametrize(
    ("stop", "finish"),
    [("end_turn", "stop"), ("tool_use", "tool_calls"), ("max_tokens", "length"), ("stop_sequence", "stop_sequence"),
     ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
     ("model_context_window_exceeded", "length"), ("something_new", "other")],
)  # fmt: skip
def test_every_stop_reason(stop: str, finish: str) -> None:
    body = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": stop}
    assert PROVIDER.parse_chat(answer(body), request(), "sonnet").choices[0].finish_reason == finish


def test_answer_content_and_cache_usage() -> None:
    content = [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s1"}}},
        {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
        {"text": "Paris"},
        {"toolUse": {"toolUseId": "tu1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    usage = {"inputTokens": 5, "outputTokens": 7, "totalTokens": 32, "cacheReadInputTokens": 10,
             "cacheWriteInputTokens": 10}  # fmt: skip
    body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": "tool_use", "usage": usage}
    parsed = PROVIDER.parse_chat(answer(body, {"x-amzn-requestid": "req-1"}), request(), "sonnet")
    assert parsed.id == "req-1" and parsed.raw_format == "bedrock"
    assert parsed.message.parts == (
        ReasoningPart("hmm", signature="s1"),
        ReasoningPart(redacted="b3BhcXVl"),
        TextPart("Paris"),
        ToolCall("tu1", "get_weather", '{"city":"Paris"}'),
    )
    assert parsed.usage == Usage(input_tokens=25, output_tokens=7, cached_input_tokens=10, cache_creation_tokens=10)


def test_errors_by_type() -> None:
    throttled = PROVIDER.parse_error(
        UpstreamResponse(429, {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/"},
                         b'{"message":"Too many requests"}')
    )  # fmt: skip
    assert throttled.status == 429 and throttled.retryable and throttled.key_failure
    assert "throttlingException: Too many requests" in throttled.message
    invalid = PROVIDER.parse_error(UpstreamResponse(400, {}, b'{"message":"messages: required"}'))
    assert invalid.status == 400 and not invalid.allow_fallbacks


def stream(*frames: bytes) -> list[StreamEvent]:
    decoder = PROVIDER.stream_decoder(1 << 20)
    parser = PROVIDER.stream_parser(request(stream=True), "sonnet")
    events: list[StreamEvent] = []
    data = b"".join(frames)
    for i in range(0, len(data), 7):  # frames split anywhere
        for sse in decoder.feed(data[i : i + 7]):
            events += parser.feed(sse)
    for sse in decoder.close():
        events += parser.feed(sse)
    events += parser.close()
    return events


def test_stream_reasoning_tool_use_and_usage() -> None:
    events = stream(
        encode_event("messageStart", {"role": "assistant"}),
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}}),
        encode_event("contentBlockStop", {"contentBlockIndex": 0}),
        encode_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "ok"}}),
        encode_event("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1",
                                                                                          "name": "f"}}}),
        encode_event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}),
        encode_event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
        encode_event("messageStop", {"stopReason": "tool_use"}),
        encode_event("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4, "cacheReadInputTokens": 2}}),
    )  # fmt: skip
    assert isinstance(events[0], StreamStart) and events[0].id.startswith("bedrock-")
    assert events[1:] == [
        ReasoningDelta(text="hm"),
        ReasoningDelta(signature="s"),
        TextDelta("ok"),
        ToolCallStart(0, "t1", "f"),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        Finish("tool_calls"),
        UsageUpdate(Usage(input_tokens=5, output_tokens=4, cached_input_tokens=2)),
    ]


def test_stream_exception_event_and_early_end() -> None:
    events = stream(
        encode_event("messageStart", {"role": "assistant"}), encode_exception("throttlingException", "slow")
    )
    failure = events[-1]
    assert isinstance(failure, StreamFailure) and isinstance(failure.error, UpstreamError)
    assert failure.error.status == 429 and failure.error.retryable and "slow" in failure.error.message
    events = stream(encode_event("messageStart", {"role": "assistant"}))
    assert isinstance(events[-1], StreamFailure) and "ended the stream early" in events[-1].error.message


# --------------------------------------------------------------------------- embeddings


def test_embeddings_titan_and_cohere() -> None:
    titan = PROVIDER.build_embeddings(
        EmbeddingRequest("t", ("hi",), dimensions=256), "amazon.titan-embed-text-v2:0", KEY
    )
    assert titan.url.endswith("/model/amazon.titan-embed-text-v2%3A0/invoke")
    assert _json.loads(titan.body or b"") == {"inputText": "hi", "dimensions": 256, "normalize": True}
    cohere = PROVIDER.build_embeddings(
        EmbeddingRequest("c", ("a", "b"), task_type="RETRIEVAL_QUERY"), "cohere.embed-english-v3", KEY
    )
    assert _json.loads(cohere.body or b"") == {"texts": ["a", "b"], "input_type": "search_query"}
    parsed = PROVIDER.parse_embeddings(
        answer({"embeddings": {"float": [[1, 2], [3, 4]]}}), EmbeddingRequest("c", ()), "c"
    )
    assert parsed.vectors == ((1.0, 2.0), (3.0, 4.0))
    with pytest.raises(UnsupportedFeatureError, match="not a Bedrock embedding model"):
        PROVIDER.build_embeddings(EmbeddingRequest("x", ("a",)), "meta.llama3", KEY)


# --------------------------------------------------------------------------- signing and credentials


def test_signature_verifies_independently_and_covers_the_body() -> None:
    built = PROVIDER.build_chat(request(), "sonnet", KEY)
    assert PROVIDER.auth is not None
    signed = asyncio.run(PROVIDER.auth.authorize(built, KEY))
    host, path = signed.url.removeprefix("https://").split("/", 1)
    headers = {**signed.headers, "host": host}
    common = {"method": "POST", "path": "/" + path, "query": "", "headers": headers,
              "identities": {IDENTITY.access_key: IDENTITY}, "service": "bedrock"}  # fmt: skip
    assert verify_sigv4(body=signed.body or b"", **common) == IDENTITY
    assert "/eu-west-1/bedrock/aws4_request" in headers["authorization"]
    with pytest.raises(AuthFailure, match="does not match"):
        verify_sigv4(body=(signed.body or b"") + b" ", **common)


def test_default_chain_is_cached_until_near_expiry() -> None:
    now = [1000.0]
    calls: list[float] = []

    def resolve() -> AwsCredentials:
        calls.append(now[0])
        return AwsCredentials("AK", "SK", "TOKEN", expires_at=now[0] + 900)

    chain = DefaultCredentialChain(resolve, clock=lambda: now[0], margin=300)

    async def run() -> list[AwsCredentials]:
        first = await asyncio.gather(*(chain.credentials() for _ in range(5)))
        now[0] += 500  # still 400 s left: cached
        second = await chain.credentials()
        now[0] += 200  # 200 s left, inside the margin: resolved again
        third = await chain.credentials()
        return [*first, second, third]

    results = asyncio.run(run())
    assert calls == [1000.0, 1700.0]
    assert results[0] == results[5] and results[6].expires_at == 2600.0


def test_no_credentials_is_a_401() -> None:
    chain = DefaultCredentialChain(lambda: None)
    with pytest.raises(UpstreamError) as info:
        asyncio.run(chain.credentials())
    assert info.value.status == 401 and "AWS_ACCESS_KEY_ID" in info.value.message


# --------------------------------------------------------------------------- prompt-cache hints


def test_cache_hints_become_cache_points_after_what_they_mark() -> None:
    hour = CacheHint("1h")
    body = body_of(
        request(
            Message("system", (TextPart("rules"), TextPart("more")), cache=((0, CacheHint()),)),
            Message("user", (TextPart("a"), TextPart("b")), cache=((1, hour),)),
            tools=(dataclasses.replace(WEATHER, cache=CacheHint()),),
        )
    )
    assert body["system"] == [{"text": "rules"}, {"cachePoint": {"type": "default"}}, {"text": "more"}]
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]}
    ]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}


def test_requests_without_hints_have_no_cache_points() -> None:
    body = body_of(request(Message("system", (TextPart("s"),)), USER, tools=(WEATHER,)))
    assert "cachePoint" not in _json.dumps_str(body)
