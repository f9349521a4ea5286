"""Self-tests of the e2e infrastructure: the fake vendor server speaks each wire format exactly as the
official SDKs expect (they talk to it directly over a loopback socket), faults behave as documented,
and the uvicorn runner starts and stops cleanly."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.fake_provider import (
    FAKE_ANTHROPIC_TOOL_USE_ID,
    FAKE_COMPLETION_TOKENS,
    FAKE_OPENAI_TOOL_CALL_ID,
    FAKE_PROMPT_TOKENS,
    FAKE_THOUGHT_SIGNATURE,
    FAKE_TOOL_ARGS,
    FAKE_TOTAL_TOKENS,
    EarlyClose,
    FakeProvider,
    Hang,
    InBandErrorFirst,
    MidStreamError,
    Reply,
    Reset,
    SlowStream,
    Status,
    fake_embedding,
    gemini_error_body,
    split_text,
    sse,
)
from tests.support.servers import run_gateway, run_server

USER_HELLO: Any = [{"role": "user", "content": "hello"}]
OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ANTHROPIC_TOOLS: Any = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]
GEMINI_TOOL = genai_types.Tool(
    function_declarations=[
        genai_types.FunctionDeclaration(
            name="get_weather",
            parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
)


# --------------------------------------------------------------------------- clients


def oai(fake: FakeProvider, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", **kwargs)


def ant(fake: FakeProvider, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=fake.url, **kwargs)


def gem(fake: FakeProvider) -> genai.Client:
    return genai.Client(api_key="g-test", http_options={"base_url": fake.url, "api_version": "v1beta"})


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:
    return fake_provider


@pytest.fixture
def raw(fake: FakeProvider) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=fake.url, timeout=5.0) as client:
        yield client


# --------------------------------------------------------------------------- OpenAI


def test_openai_chat_plain(fake: FakeProvider) -> None:
    with oai(fake) as client:
        result = client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)
    assert result.choices[0].message.content == "openai says: hello"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (FAKE_PROMPT_TOKENS, FAKE_COMPLETION_TOKENS)
    assert result.usage.total_tokens == FAKE_TOTAL_TOKENS
    seen = fake.last("/v1/chat/completions")
    assert seen.vendor == "openai"
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.json["messages"] == USER_HELLO
    assert seen.model == "gpt-4o-mini"


def test_openai_chat_stream_with_usage(fake: FakeProvider) -> None:
    with oai(fake) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hello there"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "openai says: hello there"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4  # streamed in pieces
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == FAKE_TOTAL_TOKENS
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.id for c in chunks} == {chunks[0].id}


def test_openai_stream_without_usage_has_no_usage_chunk(fake: FakeProvider, raw: httpx2.Client) -> None:
    body = {"model": "m", "messages": USER_HELLO, "stream": True}
    response = raw.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})
    frames = [f for f in response.text.split("\n\n") if f]
    assert response.headers["content-type"] == "text/event-stream"
    assert frames[-1] == "data: [DONE]"
    assert all('"usage"' not in f for f in frames)
    assert all(f.startswith("data: ") for f in frames)


def test_openai_tool_call_plain_and_result_turn(fake: FakeProvider) -> None:
    with oai(fake) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=USER_HELLO, tools=OPENAI_TOOLS)
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.choices[0].message.content is None
        assert call.id == FAKE_OPENAI_TOOL_CALL_ID
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == FAKE_TOOL_ARGS  # type: ignore[union-attr]
        history: Any = [
            *USER_HELLO,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ]
        second = client.chat.completions.create(model="gpt-4o", messages=history, tools=OPENAI_TOOLS)
    assert second.choices[0].message.content == "openai got tool result: sunny"
    assert second.choices[0].finish_reason == "stop"


def test_openai_tool_call_stream_accumulates_in_the_sdk(fake: FakeProvider) -> None:
    with (
        oai(fake) as client,
        client.chat.completions.stream(model="gpt-4o", messages=USER_HELLO, tools=OPENAI_TOOLS) as stream,
    ):
        events = list(stream)
        final = stream.get_final_completion()
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert len(deltas) >= 3  # arguments really arrive split over several deltas
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name) == (FAKE_OPENAI_TOOL_CALL_ID, "get_weather")
    assert json.loads(call.function.arguments) == FAKE_TOOL_ARGS
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.role == "assistant"


def test_openai_tool_choice_none_answers_text(fake: FakeProvider) -> None:
    with oai(fake) as client:
        result = client.chat.completions.create(
            model="gpt-4o", messages=USER_HELLO, tools=OPENAI_TOOLS, tool_choice="none"
        )
    assert result.choices[0].message.content == "openai says: hello"


def test_openai_embeddings_base64_default_and_float(fake: FakeProvider) -> None:
    with oai(fake) as client:
        default = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        floats = client.embeddings.create(model="text-embedding-3-small", input="a", encoding_format="float")
    assert fake.requests[0].json["encoding_format"] == "base64"
    assert [d.embedding for d in default.data] == [fake_embedding(0), fake_embedding(1)]
    assert floats.data[0].embedding == fake_embedding(0)
    assert default.usage.prompt_tokens == FAKE_PROMPT_TOKENS


def test_openai_completions_models_and_auth(fake: FakeProvider, raw: httpx2.Client) -> None:
    with oai(fake) as client:
        completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
        models = [m.id for m in client.models.list()]
        streamed = "".join(
            c.choices[0].text
            for c in client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", stream=True)
            if c.choices
        )
    assert completion.choices[0].text == "openai says: hi"
    assert streamed == "openai says: hi"
    assert "gpt-4o-mini" in models
    unauthorized = raw.post("/v1/chat/completions", json={"model": "m", "messages": USER_HELLO})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_plain(fake: FakeProvider) -> None:
    with ant(fake) as client:
        message = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=USER_HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == "anthropic says: hello"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (FAKE_PROMPT_TOKENS, FAKE_COMPLETION_TOKENS)
    seen = fake.last("/v1/messages")
    assert seen.vendor == "anthropic"
    assert "anthropic-version" in seen.headers


def test_anthropic_stream_text(fake: FakeProvider) -> None:
    with (
        ant(fake) as client,
        client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=USER_HELLO) as stream,
    ):
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == split_text("anthropic says: hello")
    assert final.content[0].text == "anthropic says: hello"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == FAKE_COMPLETION_TOKENS
    assert final.usage.input_tokens == FAKE_PROMPT_TOKENS


def test_anthropic_tool_use_stream_and_result(fake: FakeProvider) -> None:
    with ant(fake) as client:
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=USER_HELLO, tools=ANTHROPIC_TOOLS
        ) as stream:
            events = list(stream)
            final = stream.get_final_message()
        block = final.content[0]
        assert block.type == "tool_use"
        assert (block.id, block.name, block.input) == (FAKE_ANTHROPIC_TOOL_USE_ID, "get_weather", FAKE_TOOL_ARGS)
        assert final.stop_reason == "tool_use"
        assert len([e for e in events if e.type == "input_json"]) >= 3
        plain = client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=USER_HELLO, tools=ANTHROPIC_TOOLS
        )
        assert plain.content[0].type == "tool_use"
        history: Any = [
            *USER_HELLO,
            {"role": "assistant", "content": [b.model_dump() for b in plain.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
        ]
        answer = client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=history, tools=ANTHROPIC_TOOLS
        )
    assert answer.content[0].text == "anthropic got tool result: sunny"  # type: ignore[union-attr]


def test_anthropic_count_tokens_models_and_auth(fake: FakeProvider, raw: httpx2.Client) -> None:
    with ant(fake) as client:
        counted = client.messages.count_tokens(model="claude-haiku-4-5", messages=USER_HELLO)
        models = [m.id for m in client.models.list()]
    assert counted.input_tokens == FAKE_PROMPT_TOKENS
    assert models == ["claude-haiku-4-5", "claude-opus-4-7"]
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": USER_HELLO}
    no_key = raw.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    no_version = raw.post("/v1/messages", json=body, headers={"x-api-key": "k"})
    assert no_version.status_code == 400
    legacy = raw.post("/v1/messages", json=body, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert legacy.status_code == 200
    assert legacy.headers["request-id"].startswith("req_fake_")


def test_anthropic_rejects_what_the_real_api_rejects(fake: FakeProvider, raw: httpx2.Client) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2026-10-21"}
    base = {"model": "claude-haiku-4-5", "messages": USER_HELLO}
    assert raw.post("/v1/messages", json=base, headers=headers).status_code == 400  # no max_tokens
    hot = raw.post("/v1/messages", json={**base, "max_tokens": 5, "temperature": 0.5}, headers=headers)
    assert hot.status_code == 400
    assert "temperature" in hot.json()["error"]["message"]
    bad_id = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a:b", "content": "x"}]}]
    response = raw.post("/v1/messages", json={**base, "max_tokens": 5, "messages": bad_id}, headers=headers)
    assert response.status_code == 400


# --------------------------------------------------------------------------- Gemini


def test_gemini_generate_plain_and_stream(fake: FakeProvider) -> None:
    client = gem(fake)
    result = client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    assert result.text == "gemini says: hello"
    assert result.candidates is not None and result.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert result.usage_metadata is not None
    assert result.usage_metadata.prompt_token_count == FAKE_PROMPT_TOKENS
    assert result.usage_metadata.candidates_token_count == FAKE_COMPLETION_TOKENS
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hello"))
    assert "".join(c.text or "" for c in chunks) == "gemini says: hello"
    assert len(chunks) == 3
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.total_token_count == FAKE_TOTAL_TOKENS
    seen = fake.last(":streamGenerateContent")
    assert seen.vendor == "gemini"
    assert seen.query == {"alt": "sse"}
    assert seen.headers["x-goog-api-key"] == "g-test"
    assert seen.model == "gemini-2.5-flash"


def test_gemini_tool_call_and_result(fake: FakeProvider) -> None:
    client = gem(fake)
    config = genai_types.GenerateContentConfig(tools=[GEMINI_TOOL])
    first = client.models.generate_content(model="gemini-3-pro-preview", contents="hello", config=config)
    assert first.function_calls is not None
    call = first.function_calls[0]
    assert (call.name, call.args, call.id) == ("get_weather", FAKE_TOOL_ARGS, None)
    part = first.candidates[0].content.parts[0]  # type: ignore[index,union-attr]
    assert part.thought_signature == base64.b64decode(FAKE_THOUGHT_SIGNATURE)
    streamed = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi", config=config))
    assert len(streamed) == 1 and streamed[0].function_calls is not None
    history = [
        genai_types.Content(role="user", parts=[genai_types.Part(text="hello")]),
        first.candidates[0].content,  # type: ignore[index]
        genai_types.Content(
            role="user",
            parts=[genai_types.Part.from_function_response(name="get_weather", response={"output": "sunny"})],
        ),
    ]
    second = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert second.text == "gemini got tool result: sunny"
    sent = fake.last(":generateContent").json["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == FAKE_THOUGHT_SIGNATURE


def test_gemini_3_requires_thought_signature(fake: FakeProvider, raw: httpx2.Client) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "hello"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "x"}}}]},
    ]
    url = "/v1beta/models/gemini-3-pro-preview:generateContent"
    response = raw.post(url, json={"contents": contents}, headers={"x-goog-api-key": "k"})
    assert response.status_code == 400
    assert "thought_signature" in response.json()["error"]["message"]
    ok = raw.post(url.replace("gemini-3-pro-preview", "gemini-2.5-flash"), json={"contents": contents},
                  headers={"x-goog-api-key": "k"})
    assert ok.json()["candidates"][0]["content"]["parts"][0]["text"] == "gemini got tool result: x"


def test_gemini_count_embed_models_and_auth(fake: FakeProvider, raw: httpx2.Client) -> None:
    client = gem(fake)
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="hello").total_tokens == FAKE_PROMPT_TOKENS
    embedded = client.models.embed_content(model="text-embedding-004", contents=["a", "b"])
    assert [e.values for e in embedded.embeddings or []] == [fake_embedding(0), fake_embedding(1)]
    assert fake.last().path.endswith(":batchEmbedContents")
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names
    single = raw.post("/v1beta/models/text-embedding-004:embedContent",
                      json={"content": {"parts": [{"text": "a"}]}}, headers={"x-goog-api-key": "k"})
    assert single.json() == {"embedding": {"values": fake_embedding(0)}}
    bad = raw.post("/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": []})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert raw.get("/v1beta/models?key=k").status_code == 200


def test_gemini_wire_framing(fake: FakeProvider, raw: httpx2.Client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    headers = {"x-goog-api-key": "k"}
    sse_text = raw.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body,
                        headers=headers).text
    assert sse_text.startswith("data: {")
    assert sse_text.endswith("\r\n\r\n")
    assert "event:" not in sse_text and "[DONE]" not in sse_text
    array = raw.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent", json=body, headers=headers).json()
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in array) == "gemini says: hi"
    assert array[-1]["candidates"][0]["finishReason"] == "STOP"


# --------------------------------------------------------------------------- faults


def test_reset_is_a_connection_error(fake: FakeProvider) -> None:
    fake.script("openai", [Reset()])
    with oai(fake) as client, pytest.raises(openai.APIConnectionError) as caught:
        client.chat.completions.create(model="m", messages=USER_HELLO)
    assert not isinstance(caught.value, openai.APITimeoutError)
    with oai(fake) as client:  # the script is used up: defaults resume
        assert client.chat.completions.create(model="m", messages=USER_HELLO).choices
    assert fake.count("/chat/completions") == 2


def test_reset_reaches_raw_clients_as_transport_errors(fake: FakeProvider, raw: httpx2.Client) -> None:
    fake.always("/v1beta/", Reset())
    with pytest.raises(httpx2.TransportError):
        raw.post("/v1beta/models/gemini-2.5-flash:generateContent", json={}, headers={"x-goog-api-key": "k"})
    fake.always("/v1beta/", None)
    assert raw.get("/v1beta/models", headers={"x-goog-api-key": "k"}).status_code == 200


def test_hang_times_out_the_client_and_the_fake_notices(fake: FakeProvider) -> None:
    fake.always("openai", Hang(30))
    started = time.monotonic()
    with oai(fake, timeout=0.3) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=USER_HELLO)
    assert time.monotonic() - started < 5
    fake.wait_idle(timeout=2, connections=True)  # the hung handler ended as soon as the client left


def test_short_hang_then_answers(fake: FakeProvider) -> None:
    fake.script("/chat/completions", [Hang(0.2)])
    started = time.monotonic()
    with oai(fake) as client:
        result = client.chat.completions.create(model="m", messages=USER_HELLO)
    assert result.choices[0].message.content == "openai says: hello"
    assert time.monotonic() - started >= 0.2


def test_status_429_with_retry_after(fake: FakeProvider) -> None:
    fake.script("openai", [Status(429, headers={"retry-after": "7"})])
    with oai(fake) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=USER_HELLO)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    fake.script("anthropic", [Status(429)])
    with ant(fake) as client, pytest.raises(anthropic.RateLimitError) as anth:
        client.messages.create(model="c", max_tokens=5, messages=USER_HELLO)
    assert anth.value.type == "rate_limit_error"
    fake.script("gemini", [Status(429, body=gemini_error_body(429, retry_delay="2s"))])
    gclient = gem(fake)
    with pytest.raises(genai_errors.ClientError) as gerr:
        gclient.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (gerr.value.code, gerr.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert gerr.value.details["error"]["details"][0]["retryDelay"] == "2s"


def test_sdk_retries_consume_the_script(fake: FakeProvider) -> None:
    quick = {"retry-after-ms": "1"}
    fake.script("openai", [Status(500, headers=quick), Status(503, headers=quick)])
    with oai(fake, max_retries=2) as client:
        result = client.chat.completions.create(model="m", messages=USER_HELLO)
    assert result.choices[0].message.content == "openai says: hello"
    assert fake.count(vendor="openai") == 3
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]


def test_anthropic_529_is_overloaded(fake: FakeProvider) -> None:
    fake.always("anthropic", Status(529))
    with ant(fake) as client, pytest.raises(anthropic.OverloadedError):
        client.messages.create(model="c", max_tokens=5, messages=USER_HELLO)


def test_openai_mid_stream_error(fake: FakeProvider) -> None:
    fake.script("openai", [MidStreamError(after_chunks=2)])
    received: list[str] = []
    with oai(fake) as client, pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="m", messages=USER_HELLO, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", "openai"]
    assert "server had an error" in caught.value.message


def test_in_band_error_first(fake: FakeProvider) -> None:
    fake.script("openai", [InBandErrorFirst()])
    with oai(fake) as client:
        stream = client.chat.completions.create(model="m", messages=USER_HELLO, stream=True)
        with pytest.raises(openai.APIError):
            next(iter(stream))
    fake.script("anthropic", [InBandErrorFirst()])
    with ant(fake) as client, pytest.raises(anthropic.APIStatusError) as caught:
        list(client.messages.create(model="c", max_tokens=5, messages=USER_HELLO, stream=True))
    assert "overloaded" in str(caught.value).lower()


def test_anthropic_and_gemini_mid_stream_errors(fake: FakeProvider) -> None:
    fake.script("anthropic", [MidStreamError(after_chunks=4)])
    events: list[str] = []
    with ant(fake) as client, pytest.raises(anthropic.APIStatusError) as caught:
        for event in client.messages.create(model="c", max_tokens=5, messages=USER_HELLO, stream=True):
            events.append(event.type)
    assert events == ["message_start", "content_block_start", "content_block_delta"]  # ping is swallowed
    assert caught.value.status_code == 200
    assert "overloaded_error" in str(caught.value.body)
    fake.script("gemini", [MidStreamError(after_chunks=1)])
    gclient = gem(fake)
    texts: list[str] = []
    with pytest.raises(genai_errors.ServerError) as gerr:
        for chunk in gclient.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            texts.append(chunk.text or "")
    assert texts == ["gemini"]
    assert gerr.value.code == 503


def test_mid_stream_error_on_a_plain_request_is_an_overloaded_status(fake: FakeProvider) -> None:
    fake.script("anthropic", [MidStreamError()])
    with ant(fake) as client, pytest.raises(anthropic.OverloadedError):
        client.messages.create(model="c", max_tokens=5, messages=USER_HELLO)


def test_early_close_mid_stream_and_mid_body(fake: FakeProvider, raw: httpx2.Client) -> None:
    fake.script("openai", [EarlyClose(after_chunks=2), EarlyClose()])
    body = {"model": "m", "messages": USER_HELLO, "stream": True}
    lines: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError), raw.stream(
        "POST", "/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}
    ) as response:
        assert response.status_code == 200
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) == 2
    with pytest.raises(httpx2.RemoteProtocolError):
        raw.post("/v1/chat/completions", json={**body, "stream": False}, headers={"authorization": "Bearer k"})
    fake.wait_idle(connections=True)


def test_slow_stream_spaces_the_chunks(fake: FakeProvider) -> None:
    fake.script("anthropic", [SlowStream(0.05)])
    stamps: list[float] = []
    with ant(fake) as client:
        for _ in client.messages.create(model="c", max_tokens=5, messages=USER_HELLO, stream=True):
            stamps.append(time.monotonic())
    assert len(stamps) == 8  # message_start, block start, 3 deltas, block stop, message_delta, message_stop
    assert stamps[-1] - stamps[0] >= 0.05 * (len(stamps) - 1) * 0.9


def test_always_by_path_and_vendor_isolation(fake: FakeProvider) -> None:
    fake.always("/embeddings", Status(500))
    with oai(fake) as client:
        with pytest.raises(openai.InternalServerError):
            client.embeddings.create(model="e", input="a")
        assert client.chat.completions.create(model="m", messages=USER_HELLO).choices
    fake.always("gemini", Status(503))
    gclient = gem(fake)
    with ant(fake) as client:
        assert client.messages.create(model="c", max_tokens=5, messages=USER_HELLO).content
    with pytest.raises(genai_errors.ServerError):
        gclient.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_respond_hooks(fake: FakeProvider, raw: httpx2.Client) -> None:
    fake.respond("/chat/completions", lambda r: Reply(status=418, json={"teapot": r.json["model"]}))
    auth = {"authorization": "Bearer k"}
    teapot = raw.post("/v1/chat/completions", json={"model": "m", "messages": USER_HELLO}, headers=auth)
    assert (teapot.status_code, teapot.json()) == (418, {"teapot": "m"})
    fake.respond("/chat/completions", lambda r: Reply(sse=[sse({"a": 1}), sse("[DONE]")]))
    streamed = raw.post("/v1/chat/completions", json={"model": "m"}, headers=auth)
    assert streamed.text == 'data: {"a":1}\n\ndata: [DONE]\n\n'
    fake.respond("/chat/completions", lambda r: Status(404))
    assert raw.post("/v1/chat/completions", json={}, headers=auth).status_code == 404
    fake.respond("/chat/completions", lambda r: None)
    default = raw.post("/v1/chat/completions", json={"model": "m", "messages": USER_HELLO}, headers=auth)
    assert default.json()["choices"][0]["message"]["content"] == "openai says: hello"
    fake.respond("/chat/completions", None)
    fake.reset()
    assert fake.requests == []


def test_keep_alive_reuses_one_connection(fake: FakeProvider, raw: httpx2.Client) -> None:
    with oai(fake) as client:
        for _ in range(3):
            client.chat.completions.create(model="m", messages=USER_HELLO)
        assert (fake.total_connections, fake.open_connections) == (1, 1)
    fake.wait_idle(connections=True)
    # A fully read chunked stream leaves the connection reusable too. (The OpenAI SDK itself closes
    # the response at [DONE] before reading the final chunk, so it opens a new one after a stream.)
    body = {"model": "m", "messages": USER_HELLO, "stream": True}
    auth = {"authorization": "Bearer k"}
    with raw.stream("POST", "/v1/chat/completions", json=body, headers=auth) as response:
        assert response.read().endswith(b"data: [DONE]\n\n")
    assert raw.post("/v1/chat/completions", json={**body, "stream": False}, headers=auth).status_code == 200
    assert fake.total_connections == 2


def test_recording_details(fake: FakeProvider, raw: httpx2.Client) -> None:
    raw.get("/v1beta/models", params={"pageSize": "5"}, headers={"X-Goog-Api-Key": "k"})
    seen = fake.last()
    assert (seen.method, seen.path, seen.query) == ("GET", "/v1beta/models", {"pageSize": "5"})
    assert seen.headers["x-goog-api-key"] == "k"
    assert seen.json is None and seen.seq == 1
    with pytest.raises(LookupError):
        fake.last("/nothing")
    assert fake.count("/v1beta/") == 1 and fake.count(vendor="openai") == 0


# --------------------------------------------------------------------------- runner


def _port_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_run_server_serves_and_stops_cleanly() -> None:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"path": request.url.path})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    app = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)
    with run_server(app) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx2.get(server.url + "/hello").json() == {"path": "/hello"}
    assert not server.thread.is_alive()
    assert _port_closed(server.port)


def test_run_server_reports_a_failed_startup() -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="exited during startup"), run_server(Starlette(lifespan=broken)):
        pass  # pragma: no cover


@pytest.mark.e2e
def test_run_gateway_against_the_fake(fake: FakeProvider) -> None:
    config = {
        "providers": {
            "anthropic": {"keys": [{"value": "sk-ant-up", "weight": 1}], "network_config": {"base_url": fake.url}},
        }
    }
    with (
        run_gateway(config) as gateway,
        openai.OpenAI(api_key="client-key", base_url=gateway.url + "/v1", max_retries=0) as client,
    ):
        result = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=USER_HELLO)
    assert result.choices[0].message.content == "anthropic says: hello"
    upstream = fake.last("/v1/messages")
    assert upstream.headers.get("x-api-key", upstream.headers.get("authorization", "")).endswith("sk-ant-up")
    assert not gateway.thread.is_alive()


def test_embedding_vectors_survive_float32() -> None:
    vector = fake_embedding(5, dimensions=4)
    packed = struct.pack("<4f", *vector)
    assert list(struct.unpack("<4f", packed)) == vector == [0.5, -0.25, 5.0, 0.0]
