"""The GenAI dialect against the real google-genai SDK: its requests parse, our answers parse.

A tiny Starlette app serves ``GenAIDialect.routes``: it parses each request with the dialect,
records the neutral result, and answers with a canned neutral response rendered by the dialect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bifrost_asgi import _json
from bifrost_asgi.dialects.base import Call, RouteSpec
from bifrost_asgi.dialects.genai import GenAIDialect
from bifrost_asgi.errors import GatewayError, NotFoundError, RateLimitedError, UpstreamError
from bifrost_asgi.neutral import (
    ChatResponse,
    Choice,
    EmbeddingResponse,
    Finish,
    Message,
    ModelInfo,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
    UsageUpdate,
)
from bifrost_asgi.upstream._http import httpx

DIALECT = GenAIDialect()
CHAT_RESPONSE = ChatResponse(
    id="resp-1",
    model="gpt-4o-mini",
    choices=(
        Choice(
            0,
            Message(
                "assistant",
                (TextPart("Checking."), ToolCall("call_abc", "get_weather", '{"city":"Paris"}', signature="c2lnMQ==")),
            ),
            "tool_calls",
        ),
    ),
    usage=Usage(input_tokens=11, output_tokens=6, reasoning_tokens=2),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    """What the fake gateway answers, and what it saw."""

    seen: list[Any] = field(default_factory=list)
    error: GatewayError | None = None
    events: list[StreamEvent] = field(default_factory=list)

    def endpoint(self, spec: RouteSpec) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            call = Call(path_params=dict(request.path_params), options=spec.options, default_provider="gemini")
            if self.error is not None:
                reply = DIALECT.render_error(self.error)
                return Response(reply.body, reply.status, dict(reply.headers), media_type="application/json")
            body = _json.loads(await request.body()) if spec.method == "POST" else None
            return self.answer(spec, call, body)

        return handle

    def answer(self, spec: RouteSpec, call: Call, body: Any) -> Response:
        if spec.operation == "chat":
            chat = DIALECT.parse_chat(body, call)
            self.seen.append(chat)
            if chat.stream:
                return StreamingResponse(self.stream(chat), media_type="text/event-stream")
            return Response(DIALECT.render_chat(CHAT_RESPONSE, chat), media_type="application/json")
        if spec.operation == "count_tokens":
            self.seen.append(DIALECT.parse_count_tokens(body, call))
            return Response(DIALECT.render_count_tokens(7), media_type="application/json")
        if spec.operation == "embeddings":
            embedding = DIALECT.parse_embeddings(body, call)
            self.seen.append(embedding)
            vectors = tuple((float(i), 0.5) for i in range(len(embedding.inputs)))
            rendered = DIALECT.render_embeddings(EmbeddingResponse("e", vectors), embedding, call)
            return Response(rendered, media_type="application/json")
        models = [ModelInfo("gemini-2.5-flash", "gemini"), ModelInfo("gpt-4o-mini", "openai")]
        if spec.operation == "model":
            models = [m for m in models if call.path_params["model"] in (m.id, f"{m.provider}/{m.id}")]
        return Response(DIALECT.render_models(models, call), media_type="application/json")

    async def stream(self, chat: Any) -> AsyncIterator[bytes]:
        renderer = DIALECT.stream_renderer(chat)
        for event in self.events:
            if isinstance(event, StreamFailure):
                yield renderer.fail(event.error)
                return
            yield renderer.render(event)
        yield renderer.finish()


def client_for(backend: Backend, api_version: str | None = None) -> genai.Client:
    routes = [Route(spec.path, backend.endpoint(spec), methods=[spec.method]) for spec in DIALECT.routes]
    app = Starlette(routes=routes)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    options = types.HttpOptions(base_url="http://gw", httpx_async_client=http, api_version=api_version)
    return genai.Client(api_key="client-key", http_options=options)


WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}, required=["city"]
            ),
        )
    ]
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.mark.anyio
@pytest.mark.parametrize("api_version", [None, "v1beta", "v1alpha"])
async def test_generate_content_tool_call_round_trip(api_version: str | None) -> None:
    backend = Backend()
    client = client_for(backend, api_version)
    config = types.GenerateContentConfig(
        system_instruction="be brief",
        tools=[WEATHER_TOOL],
        automatic_function_calling=NO_AFC,
        temperature=0.3,
        max_output_tokens=64,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512),
    )
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")])
    response = await client.aio.models.generate_content(model="openai/gpt-4o-mini", contents=[question], config=config)

    first = backend.seen[0]
    assert first.model == "openai/gpt-4o-mini"
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.tools[0].parameters["properties"] == {"city": {"type": "string"}}
    assert (first.temperature, first.max_tokens) == (0.3, 64)
    assert first.reasoning.budget_tokens == 512 and first.reasoning.include_thoughts

    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.text == "Checking."
    call = response.function_calls[0] if response.function_calls else None
    assert call is not None and (call.id, call.name, call.args) == ("call_abc", "get_weather", {"city": "Paris"})
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count) == (11, 4, 2)
    assert usage.total_token_count == 17

    # The SDK sends the model turn back as it got it, plus the function's answer.
    model_turn = response.candidates[0].content
    assert model_turn is not None
    answer = types.Part.from_function_response(name="get_weather", response={"output": {"temp_c": 21}})
    follow_up = [question, model_turn, types.Content(role="user", parts=[answer])]
    await client.aio.models.generate_content(model="openai/gpt-4o-mini", contents=follow_up, config=config)
    second = backend.seen[1]
    assert second.messages[2].parts == (
        TextPart("Checking."),
        ToolCall("call_abc", "get_weather", '{"city":"Paris"}', signature="c2lnMQ=="),
    )
    assert second.messages[3].parts == (ToolResult("call_abc", (TextPart('{"temp_c":21}'),), name="get_weather"),)


@pytest.mark.anyio
async def test_stream_text_and_tool_call() -> None:
    backend = Backend(
        events=[
            StreamStart("r1", "claude-x"),
            TextDelta("Hel"),
            TextDelta("lo"),
            ToolCallStart(0, "toolu_1", "get_weather"),
            ToolCallDelta(0, '{"city"'),
            ToolCallDelta(0, ':"Rome"}'),
            Finish("tool_calls"),
            UsageUpdate(Usage(input_tokens=4, output_tokens=3)),
        ]
    )
    client = client_for(backend)
    chunks = [
        chunk
        async for chunk in await client.aio.models.generate_content_stream(
            model="anthropic/claude-x",
            contents="hi",
            config=types.GenerateContentConfig(automatic_function_calling=NO_AFC),
        )
    ]
    assert backend.seen[0].stream
    assert "".join(chunk.text or "" for chunk in chunks[:2]) == "Hello"
    last = chunks[-1]
    assert last.function_calls is not None and last.function_calls[0].args == {"city": "Rome"}
    assert last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.total_token_count == 7
    assert last.response_id == "r1"


@pytest.mark.anyio
async def test_stream_error_frame_raises_the_sdk_error() -> None:
    failure = UpstreamError("overloaded", status=529)
    backend = Backend(events=[StreamStart("r1", "m"), TextDelta("partial"), StreamFailure(failure)])
    client = client_for(backend)
    texts = []
    with pytest.raises(errors.ServerError) as caught:
        async for chunk in await client.aio.models.generate_content_stream(model="m", contents="hi"):
            texts.append(chunk.text)
    assert texts == ["partial"]
    assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (NotFoundError("model 'x' is not served"), errors.ClientError, 404),
        (RateLimitedError("slow down", retry_after=3), errors.ClientError, 429),
        (UpstreamError("upstream broke", status=500), errors.ServerError, 500),
    ],
)
async def test_errors_raise_the_sdk_exception(error: GatewayError, kind: type[errors.APIError], code: int) -> None:
    client = client_for(Backend(error=error))
    with pytest.raises(kind) as caught:
        await client.aio.models.generate_content(model="x", contents="hi")
    assert caught.value.code == code
    assert caught.value.message == error.message


@pytest.mark.anyio
async def test_count_tokens_embeddings_and_models() -> None:
    backend = Backend()
    client = client_for(backend)
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="count me")
    assert counted.total_tokens == 7
    assert backend.seen[-1].messages == (Message("user", (TextPart("count me"),)),)

    config = types.EmbedContentConfig(task_type="RETRIEVAL_QUERY", output_dimensionality=2)
    embedded = await client.aio.models.embed_content(model="text-embedding-004", contents=["a", "b"], config=config)
    assert embedded.embeddings is not None
    assert [e.values for e in embedded.embeddings] == [[0.0, 0.5], [1.0, 0.5]]
    request = backend.seen[-1]
    assert (request.inputs, request.task_type, request.dimensions) == (("a", "b"), "RETRIEVAL_QUERY", 2)

    names = [model.name async for model in await client.aio.models.list()]
    assert names == ["models/gemini-2.5-flash", "models/openai/gpt-4o-mini"]
    assert names[1] is not None
    single = await client.aio.models.get(model=names[1])
    assert single.name == "models/openai/gpt-4o-mini"


@pytest.mark.anyio
async def test_text_only_stream_never_leaves_chunk_text_none() -> None:
    backend = Backend(events=[StreamStart("r2", "m"), TextDelta("Hi"), Finish("length"), UsageUpdate(Usage(1, 1))])
    client = client_for(backend, "v1beta")
    chunks = [chunk async for chunk in await client.aio.models.generate_content_stream(model="m", contents="hi")]
    assert [chunk.text for chunk in chunks] == ["Hi", ""]
    assert "".join(chunk.text or "" for chunk in chunks) == "Hi"
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
