"""OpenAI's Responses API as an upstream: only ``model`` rewritten, answers read for accounting."""

from __future__ import annotations

import json

from bifrost_asgi import _json
from bifrost_asgi.config.settings import KeyConfig, ProviderConfig
from bifrost_asgi.errors import UpstreamError
from bifrost_asgi.neutral import (
    Finish,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UpstreamFrame,
)
from bifrost_asgi.providers.base import UpstreamResponse
from bifrost_asgi.providers.openai_responses import ResponsesStreamParser, parse_responses_body
from bifrost_asgi.providers.registry import create_provider
from bifrost_asgi.responses.parse import parse_request
from bifrost_asgi.streaming import SSEEvent

BODY = {"model": "gpt-4o-mini", "input": "hi", "future_field": {"x": 1}, "previous_response_id": "resp_0"}


def config(base_url: str = "https://api.openai.com") -> ProviderConfig:
    return ProviderConfig.model_validate({"keys": [{"value": "sk-1"}], "network_config": {"base_url": base_url}})


def test_openai_gets_the_body_with_only_the_model_rewritten() -> None:
    provider = create_provider("openai", config())
    request = parse_request(BODY).chat
    built = provider.build_chat(request, "gpt-4o-2024", KeyConfig(value="sk-1"))  # type: ignore[arg-type]
    assert built.url == "https://api.openai.com/v1/responses"
    assert json.loads(built.body or b"") == {**BODY, "model": "gpt-4o-2024"}


def test_a_chat_only_compatible_server_gets_a_translation() -> None:
    provider = create_provider("groq", config("https://api.groq.com/openai"))
    request = parse_request({"model": "llama", "input": "hi", "instructions": "short"}).chat
    built = provider.build_chat(request, "llama", KeyConfig(value="sk-1"))  # type: ignore[arg-type]
    assert built.url.endswith("/chat/completions")
    assert json.loads(built.body or b"")["messages"] == [
        {"role": "system", "content": "short"},
        {"role": "user", "content": "hi"},
    ]


def test_answer_is_kept_raw_and_read_for_usage() -> None:
    answer = {"id": "resp_1", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
              "output": [{"type": "message", "content": [{"type": "output_text", "text": "par"}]}],
              "usage": {"input_tokens": 9, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 3},
                        "output_tokens_details": {"reasoning_tokens": 1}}}  # fmt: skip
    raw = _json.dumps(answer)
    parsed = parse_responses_body(raw, "gpt", "openai")
    assert parsed.raw == raw and parsed.raw_format == "openai_responses"
    assert parsed.message.text() == "par" and parsed.choices[0].finish_reason == "length"
    assert parsed.usage is not None
    assert (parsed.usage.cached_input_tokens, parsed.usage.reasoning_tokens) == (3, 1)


def frame(kind: str, **data: object) -> SSEEvent:
    return SSEEvent(json.dumps({"type": kind, **data}), kind)


def test_stream_frames_come_raw_then_neutral() -> None:
    parser = ResponsesStreamParser("openai", "gpt")
    out = [event for f in (
        frame("response.created", response={"id": "resp_1", "model": "gpt"}),
        frame("response.output_text.delta", delta="hi"),
        frame("response.output_item.added", output_index=1, item={"type": "function_call", "call_id": "c",
                                                                  "name": "f"}),
        frame("response.function_call_arguments.delta", output_index=1, delta="{}"),
        frame("response.completed", response={"id": "resp_1", "status": "completed", "usage": None}),
    ) for event in parser.feed(f)]  # fmt: skip
    neutral = [e for e in out if not isinstance(e, UpstreamFrame)]
    assert neutral == [StreamStart("resp_1", "gpt"), TextDelta("hi"), ToolCallStart(0, "c", "f"),
                       ToolCallDelta(0, "{}"), Finish("tool_calls")]  # fmt: skip
    assert sum(isinstance(e, UpstreamFrame) for e in out) == 5
    assert list(parser.close()) == []


def test_failed_response_and_early_end_are_failures() -> None:
    parser = ResponsesStreamParser("openai", "gpt")
    failed = frame("response.failed", response={"error": {"code": "rate_limit_exceeded", "message": "slow down"}})
    events = list(parser.feed(failed))
    assert isinstance(events[-1], StreamFailure) and events[-1].error.status == 429
    cut = ResponsesStreamParser("openai", "gpt")
    list(cut.feed(frame("response.created", response={"id": "r"})))
    (ended,) = cut.close()
    assert isinstance(ended, StreamFailure) and isinstance(ended.error, UpstreamError)


def test_upstream_error_answers_keep_openai_shape() -> None:
    provider = create_provider("openai", config())
    body = b'{"error":{"message":"Previous response with id \'resp_x\' not found.","type":"invalid_request_error"}}'
    error = provider.parse_error(UpstreamResponse(404, {}, body))
    assert error.status == 404 and error.raw_body == body


def test_azure_gets_the_v1_responses_endpoint_with_the_deployment_as_model() -> None:
    provider = create_provider("azure", ProviderConfig.model_validate({"keys": [{"value": "az-key"}]}))
    key = KeyConfig.model_validate({
        "value": "az-key",
        "azure_key_config": {"endpoint": "https://res.openai.azure.com/", "deployments": {"gpt-4o": "my-4o"}},
    })  # fmt: skip
    built = provider.build_chat(parse_request({"model": "gpt-4o", "input": "hi"}).chat, "gpt-4o", key)
    assert built.url == "https://res.openai.azure.com/openai/v1/responses"
    assert built.headers["api-key"] == "az-key"
    assert json.loads(built.body or b"") == {"model": "my-4o", "input": "hi"}
