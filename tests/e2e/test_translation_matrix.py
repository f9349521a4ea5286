"""The translation matrix: every client dialect against every provider format, over real sockets.

Three official SDKs (openai, anthropic, google-genai) talk to ONE gateway whose three providers
(openai, anthropic, gemini) all point at ONE fake vendor server; the model name picks the
provider. For each of the 9 (client, provider) pairs and each scenario (plain, stream, tool_call,
streamed_tool_call, tool_result_turn) the test checks what the SDK parsed (text, usage, finish
reason, tool calls, stream accumulation) and what the fake received upstream (the provider's own
format, auth and fields).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes
from openai.lib.streaming.chat import ChatCompletionStreamState

from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FAKE_TOOL_ARGS,
    FAKE_TOTAL_TOKENS,
    FakeProvider,
    RecordedRequest,
    ServerHandle,
    fake_text,
    fake_tool_result_text,
    run_gateway,
)

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-x"
CLIENT_KEY = "sk-client-secret"
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-3-5-haiku-latest",
    "gemini": "gemini/gemini-2.0-flash",
}
CLIENTS = ("openai", "anthropic", "genai")
PROVIDERS = ("openai", "anthropic", "gemini")
SCENARIOS = ("plain", "stream", "tool_call", "streamed_tool_call", "tool_result_turn")

HELLO = "hello"
ASK = "What is the weather in Paris?"
RESULT = "sunny"
TOOL = "get_weather"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}
OPENAI_TOOLS: Any = [{"type": "function", "function": {"name": TOOL, "description": "Weather", "parameters": SCHEMA}}]
ANTHROPIC_TOOLS: Any = [{"name": TOOL, "description": "Weather", "input_schema": SCHEMA}]
GENAI_CONFIG = gtypes.GenerateContentConfig(
    tools=[
        gtypes.Tool(
            function_declarations=[
                gtypes.FunctionDeclaration(name=TOOL, description="Weather", parameters_json_schema=SCHEMA)
            ]
        )
    ]
)

#: (text answer, tool call) finish reasons as each client's SDK spells them.
FINISH = {
    "openai": ("stop", "tool_calls"),
    "anthropic": ("end_turn", "tool_use"),
    "genai": ("STOP", "STOP"),
}
#: The fake's usage constants in each client's own names.
USAGE = {
    "openai": {"prompt_tokens": FAKE_PROMPT_TOKENS, "completion_tokens": FAKE_COMPLETION_TOKENS,
               "total_tokens": FAKE_TOTAL_TOKENS},
    "anthropic": {"input_tokens": FAKE_PROMPT_TOKENS, "output_tokens": FAKE_COMPLETION_TOKENS},
    "genai": {"prompt_token_count": FAKE_PROMPT_TOKENS, "candidates_token_count": FAKE_COMPLETION_TOKENS,
              "total_token_count": FAKE_TOTAL_TOKENS},
}  # fmt: skip


# --------------------------------------------------------------------------- servers and clients


def gateway_config(fake: FakeProvider) -> dict[str, Any]:
    keys = [{"value": UPSTREAM_KEY}]
    return {
        "providers": {
            "openai": {"keys": keys, "network_config": {"base_url": fake.url}},
            "anthropic": {"keys": keys, "network_config": {"base_url": fake.url}},
            "gemini": {"keys": keys, "network_config": {"base_url": fake.url + "/v1beta"}},
        }
    }


@dataclass
class Clients:
    openai: openai.OpenAI
    anthropic: anthropic.Anthropic
    genai: genai.Client  # SDK default api_version (v1 in google-genai 3.x)
    genai_v1beta: genai.Client


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
    errors = fake.errors
    assert not errors, f"the fake provider raised: {errors!r}"


# --------------------------------------------------------------------------- what a client saw


@dataclass(frozen=True)
class ToolCall:
    id: str | None
    name: str
    args: Mapping[str, Any]


@dataclass
class Outcome:
    """One answer as the client's SDK parsed it, in the client's own vocabulary."""

    text: str
    finish: str | None
    usage: dict[str, int | None]
    calls: list[ToolCall] = field(default_factory=list)


# --------------------------------------------------------------------------- OpenAI SDK


def _openai_outcome(completion: Any) -> Outcome:
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    message = choice.message
    assert message.role == "assistant"
    calls = []
    for call in message.tool_calls or []:
        assert call.type == "function"
        calls.append(ToolCall(call.id, call.function.name, json.loads(call.function.arguments)))
    usage = completion.usage
    assert usage is not None, "no usage in the OpenAI answer"
    return Outcome(
        text=message.content or "",
        finish=choice.finish_reason,
        usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
               "total_tokens": usage.total_tokens},
        calls=calls,
    )  # fmt: skip


def _openai_stream_outcome(chunks: list[Any], tools: Any = None) -> Outcome:
    """Check the chunk protocol (role/id/name once, one finish, usage last), then let the SDK's own
    accumulator (``ChatCompletionStreamState``, used by ``chat.completions.stream()``) build the answer."""
    with_choices = [c for c in chunks if c.choices]
    assert with_choices, "no chunk with choices"
    roles = [c.choices[0].delta.role for c in with_choices if c.choices[0].delta.role]
    assert roles == ["assistant"], f"role must come once, in the first delta: {roles}"
    assert with_choices[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason]
    assert len(finishes) == 1, finishes
    ids: dict[int, list[str]] = {}
    names: dict[int, list[str]] = {}
    for chunk in with_choices:
        for delta in chunk.choices[0].delta.tool_calls or []:
            assert isinstance(delta.index, int)
            if delta.id:
                ids.setdefault(delta.index, []).append(delta.id)
            if delta.function is not None and delta.function.name:
                names.setdefault(delta.index, []).append(delta.function.name)
    assert all(len(v) == 1 for v in ids.values()), f"tool-call id repeated across deltas: {ids}"
    assert all(len(v) == 1 for v in names.values()), f"tool-call name repeated across deltas: {names}"
    assert set(ids) == set(names)
    # usage: only in the final chunk, which has no choices (stream_options.include_usage)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None, "usage chunk must come last"
    assert all(c.usage is None for c in chunks[:-1]), "usage only in the last chunk"

    state = ChatCompletionStreamState(input_tools=tools) if tools else ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    outcome = _openai_outcome(state.get_final_completion())
    assert [c.id for c in outcome.calls] == [v[0] for _, v in sorted(ids.items())]
    return outcome


def openai_plain(c: Clients, model: str) -> Outcome:
    completion = c.openai.chat.completions.create(model=model, messages=[{"role": "user", "content": HELLO}])
    return _openai_outcome(completion)


def openai_stream(c: Clients, model: str) -> Outcome:
    stream = c.openai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": HELLO}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    return _openai_stream_outcome(list(stream))


def openai_tool_call(c: Clients, model: str) -> Outcome:
    completion = c.openai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": ASK}], tools=OPENAI_TOOLS
    )
    return _openai_outcome(completion)


def openai_streamed_tool_call(c: Clients, model: str) -> Outcome:
    stream = c.openai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": ASK}], tools=OPENAI_TOOLS, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    return _openai_stream_outcome(list(stream), OPENAI_TOOLS)


def openai_tool_result_turn(c: Clients, model: str) -> Outcome:
    messages: Any = [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function", "function": {"name": TOOL, "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": RESULT},
    ]  # fmt: skip
    completion = c.openai.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)
    return _openai_outcome(completion)


# --------------------------------------------------------------------------- Anthropic SDK


def _anthropic_outcome(message: Any) -> Outcome:
    assert message.type == "message" and message.role == "assistant"
    texts = [b.text for b in message.content if b.type == "text"]
    calls = [ToolCall(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert len(texts) + len(calls) == len(message.content), message.content
    return Outcome(
        text="".join(texts),
        finish=message.stop_reason,
        usage={"input_tokens": message.usage.input_tokens, "output_tokens": message.usage.output_tokens},
        calls=calls,
    )


def _anthropic_streamed(c: Clients, **params: Any) -> Outcome:
    with c.anthropic.messages.stream(max_tokens=256, **params) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start", kinds
    starts = [e.index for e in events if e.type == "content_block_start"]
    assert starts == list(range(len(final.content))), f"block indices must run 0,1,2..: {starts}"
    assert kinds.count("message_stop") == 1
    outcome = _anthropic_outcome(final)
    streamed = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert streamed == outcome.text
    return outcome


def anthropic_plain(c: Clients, model: str) -> Outcome:
    message = c.anthropic.messages.create(model=model, max_tokens=256, messages=[{"role": "user", "content": HELLO}])
    return _anthropic_outcome(message)


def anthropic_stream(c: Clients, model: str) -> Outcome:
    return _anthropic_streamed(c, model=model, messages=[{"role": "user", "content": HELLO}])


def anthropic_tool_call(c: Clients, model: str) -> Outcome:
    message = c.anthropic.messages.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": ASK}], tools=ANTHROPIC_TOOLS
    )
    return _anthropic_outcome(message)


def anthropic_streamed_tool_call(c: Clients, model: str) -> Outcome:
    return _anthropic_streamed(c, model=model, messages=[{"role": "user", "content": ASK}], tools=ANTHROPIC_TOOLS)


def anthropic_tool_result_turn(c: Clients, model: str) -> Outcome:
    messages: Any = [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_w1", "name": TOOL, "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w1", "content": RESULT}]},
    ]  # fmt: skip
    message = c.anthropic.messages.create(model=model, max_tokens=256, messages=messages, tools=ANTHROPIC_TOOLS)
    return _anthropic_outcome(message)


# --------------------------------------------------------------------------- google-genai SDK


def _genai_parts(response: Any) -> tuple[str, list[ToolCall]]:
    text, calls = "", []
    for candidate in response.candidates or []:
        for part in (candidate.content.parts if candidate.content else None) or []:
            if part.text:
                text += part.text
            if part.function_call is not None:
                call = part.function_call
                calls.append(ToolCall(call.id, call.name or "", call.args or {}))
    return text, calls


def _genai_usage(response: Any) -> dict[str, int | None]:
    meta = response.usage_metadata
    assert meta is not None, "no usage_metadata"
    return {"prompt_token_count": meta.prompt_token_count, "candidates_token_count": meta.candidates_token_count,
            "total_token_count": meta.total_token_count}  # fmt: skip


def _genai_finish(response: Any) -> str | None:
    reason = response.candidates[0].finish_reason if response.candidates else None
    return None if reason is None else str(reason.value)


def _genai_outcome(response: Any) -> Outcome:
    text, calls = _genai_parts(response)
    return Outcome(text=text, finish=_genai_finish(response), usage=_genai_usage(response), calls=calls)


def _genai_stream_outcome(chunks: list[Any]) -> Outcome:
    """The SDK yields one response per chunk: parts are deltas; finish reason and final usage on the last."""
    assert chunks, "empty stream"
    assert all(_genai_finish(c) is None for c in chunks[:-1]), "finishReason before the last chunk"
    text, calls = "", []
    for chunk in chunks:
        piece, found = _genai_parts(chunk)
        text += piece
        calls += found
    last = chunks[-1]
    return Outcome(text=text, finish=_genai_finish(last), usage=_genai_usage(last), calls=calls)


def genai_plain(c: Clients, model: str) -> Outcome:
    # The SDK's default api_version (v1 in 3.x) and the explicit v1beta must give the same answer.
    beta = _genai_outcome(c.genai_v1beta.models.generate_content(model=model, contents=HELLO))
    default = _genai_outcome(c.genai.models.generate_content(model=model, contents=HELLO))
    assert beta == default
    return default


def genai_stream(c: Clients, model: str) -> Outcome:
    return _genai_stream_outcome(list(c.genai.models.generate_content_stream(model=model, contents=HELLO)))


def genai_tool_call(c: Clients, model: str) -> Outcome:
    return _genai_outcome(c.genai.models.generate_content(model=model, contents=ASK, config=GENAI_CONFIG))


def genai_streamed_tool_call(c: Clients, model: str) -> Outcome:
    chunks = c.genai.models.generate_content_stream(model=model, contents=ASK, config=GENAI_CONFIG)
    return _genai_stream_outcome(list(chunks))


def genai_tool_result_turn(c: Clients, model: str) -> Outcome:
    contents = [
        gtypes.Content(role="user", parts=[gtypes.Part(text=ASK)]),
        gtypes.Content(role="model", parts=[gtypes.Part(function_call=gtypes.FunctionCall(
            name=TOOL, args={"city": "Paris"}))]),
        gtypes.Content(role="user", parts=[gtypes.Part(function_response=gtypes.FunctionResponse(
            name=TOOL, response={"output": RESULT}))]),
    ]  # fmt: skip
    return _genai_outcome(c.genai.models.generate_content(model=model, contents=contents, config=GENAI_CONFIG))


DRIVERS: dict[tuple[str, str], Callable[[Clients, str], Outcome]] = {
    (client, scenario): globals()[f"{client}_{scenario}"] for client in CLIENTS for scenario in SCENARIOS
}


# --------------------------------------------------------------------------- what the fake received


def _text(content: Any) -> str:
    """Text of an OpenAI/Anthropic content value: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    assert isinstance(content, list), content
    return "".join(p["text"] for p in content if p.get("type") == "text")


def _g(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A Gemini request field by either spelling (both are valid on the wire)."""
    return obj.get(camel, obj.get(snake))


def _check_common(provider: str, rec: RecordedRequest, *, stream: bool) -> None:
    assert rec.model == MODELS[provider].split("/", 1)[1], rec.model
    assert not any(CLIENT_KEY in value for value in rec.headers.values()), "client's key leaked upstream"
    body = rec.json
    assert isinstance(body, dict)
    if provider == "openai":
        assert rec.path == "/v1/chat/completions"
        assert rec.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}"
        assert body.get("stream", False) is stream
        if stream:
            assert body["stream_options"]["include_usage"] is True
    elif provider == "anthropic":
        assert rec.path == "/v1/messages"
        assert rec.headers.get("x-api-key") == UPSTREAM_KEY
        assert rec.headers.get("anthropic-version")
        assert isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0
        assert body.get("stream", False) is stream
    else:
        method = "streamGenerateContent" if stream else "generateContent"
        assert rec.path == f"/v1beta/models/gemini-2.0-flash:{method}"
        assert rec.headers.get("x-goog-api-key") == UPSTREAM_KEY
        if stream:
            assert rec.query.get("alt") == "sse"
        assert "model" not in body


def _check_plain(provider: str, body: dict[str, Any]) -> None:
    if provider == "gemini":
        contents = body["contents"]
        assert [c.get("role") for c in contents] == ["user"]
        assert [p.get("text") for p in contents[0]["parts"]] == [HELLO]
        assert "tools" not in body
        return
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert _text(messages[0]["content"]) == HELLO
    assert not body.get("tools")
    if provider == "anthropic":
        assert "system" not in body


def _check_tools_declared(provider: str, body: dict[str, Any]) -> None:
    if provider == "openai":
        (tool,) = body["tools"]
        assert tool["type"] == "function" and tool["function"]["name"] == TOOL
        assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"
    elif provider == "anthropic":
        (tool,) = body["tools"]
        assert tool["name"] == TOOL and tool["input_schema"]["type"] == "object"
        assert tool["input_schema"]["properties"]["city"]["type"] == "string"
    else:
        declarations = [d for t in body["tools"] for d in _g(t, "functionDeclarations", "function_declarations")]
        (decl,) = declarations
        assert decl["name"] == TOOL
        schema = _g(decl, "parametersJsonSchema", "parameters_json_schema") or decl.get("parameters")
        assert schema["properties"]["city"]["type"].lower() == "string"


def _check_tool_result(provider: str, body: dict[str, Any]) -> None:
    if provider == "openai":
        messages = body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
        (call,) = messages[1]["tool_calls"]
        assert call["type"] == "function" and call["function"]["name"] == TOOL
        assert json.loads(call["function"]["arguments"]) == FAKE_TOOL_ARGS
        assert call["id"] and messages[2]["tool_call_id"] == call["id"]
        assert _text(messages[2]["content"]) == RESULT
    elif provider == "anthropic":
        messages = body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        (use,) = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
        assert use["name"] == TOOL and use["input"] == FAKE_TOOL_ARGS
        results = messages[2]["content"]
        assert isinstance(results, list) and results[0]["type"] == "tool_result"
        assert results[0]["tool_use_id"] == use["id"]
        assert _text(results[0]["content"]) == RESULT
    else:
        contents = body["contents"]
        assert [c.get("role") for c in contents] == ["user", "model", "user"]
        (call_part,) = contents[1]["parts"]
        call = _g(call_part, "functionCall", "function_call")
        assert call["name"] == TOOL and call["args"] == FAKE_TOOL_ARGS
        (result_part,) = contents[2]["parts"]
        response = _g(result_part, "functionResponse", "function_response")
        assert response["name"] == TOOL, "functionResponse must carry the NAME of the function"
        assert response["response"] == {"output": RESULT}
        if call.get("id") is not None or response.get("id") is not None:
            assert call.get("id") == response.get("id")


def check_upstream(provider: str, scenario: str, fake: FakeProvider, *, calls: int = 1) -> None:
    requests = fake.requests
    assert len(requests) == calls, [f"{r.method} {r.path}" for r in requests]
    assert all(r.vendor == provider for r in requests), [r.vendor for r in requests]
    rec = requests[-1]
    _check_common(provider, rec, stream=scenario in ("stream", "streamed_tool_call"))
    body = rec.json
    if scenario in ("plain", "stream"):
        _check_plain(provider, body)
    else:
        _check_tools_declared(provider, body)
    if scenario == "tool_result_turn":
        _check_tool_result(provider, body)


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_translation(client: str, provider: str, scenario: str, clients: Clients, fake: FakeProvider) -> None:
    outcome = DRIVERS[client, scenario](clients, MODELS[provider])

    text_finish, tool_finish = FINISH[client]
    assert outcome.usage == USAGE[client]
    if scenario in ("tool_call", "streamed_tool_call"):
        assert outcome.text == ""
        assert len(outcome.calls) == 1, outcome.calls
        (call,) = outcome.calls
        assert call.name == TOOL
        assert dict(call.args) == FAKE_TOOL_ARGS
        if client != "genai":  # Gemini call ids are optional
            assert call.id
        assert outcome.finish == tool_finish
    else:
        expected = (
            fake_tool_result_text(provider, RESULT) if scenario == "tool_result_turn" else fake_text(provider, HELLO)
        )
        assert outcome.text == expected
        assert outcome.calls == []
        assert outcome.finish == text_finish

    calls = 2 if (client, scenario) == ("genai", "plain") else 1
    check_upstream(provider, scenario, fake, calls=calls)
