"""Agent mode end to end: the fake model asks for MCP tools, the gateway runs the auto-executable
ones on a real stdio MCP server and calls the model again, and the client (official SDKs) gets the
final answer built from the tool's real output, with the usage of every model call summed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.e2e.mcp_support import MODELS, anthropic_sdk, gateway_config, genai_sdk, openai_sdk, wait_for_tools
from tests.support import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FakeProvider,
    RecordedRequest,
    Reply,
    ServerHandle,
    fake_tool_result_text,
    run_gateway,
    sse,
)
from tests.support.mcp_servers import stdio_client_config, weather_text

pytestmark = pytest.mark.e2e

HELLO: Any = [{"role": "user", "content": "what is the weather in Paris?"}]
PARIS = weather_text("Paris")
ONLY = "x-bf-mcp-include-tools"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def clean_fake(fake: FakeProvider) -> Iterator[FakeProvider]:
    fake.reset()
    yield fake
    fake.respond("/chat/completions", None)


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider) -> Iterator[ServerHandle]:
    local = stdio_client_config("local", tools_to_auto_execute=["weather", "boom", "hang", "add"],
                                tool_execution_timeout=1)  # fmt: skip
    config = gateway_config(fake, [local], tool_manager_config={"max_agent_depth": 3})
    with run_gateway(config) as handle:
        wait_for_tools(handle, {"local": 5})
        yield handle


def called(chunks: list[Any]) -> list[str]:
    """Tool names announced in an OpenAI stream."""
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    return [d.function.name for d in deltas if d.function and d.function.name]


def openai_calls(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI chat completion asking for ``calls`` (name, arguments)."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(calls)
    ]
    return {
        "id": "chatcmpl-agent", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": tool_calls},
                     "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": FAKE_PROMPT_TOKENS, "completion_tokens": FAKE_COMPLETION_TOKENS,
                  "total_tokens": FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS},
    }  # fmt: skip


def asking(*calls: tuple[str, dict[str, Any]]) -> Any:
    """A ``respond`` hook: the model asks for ``calls``, as JSON or as an OpenAI stream."""

    def hook(request: RecordedRequest) -> Any:
        body = openai_calls(*calls)
        if not request.stream:
            return body
        message, usage = body["choices"][0]["message"], body["usage"]
        deltas = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
        frames = [
            {"id": body["id"], "object": "chat.completion.chunk", "created": 1, "model": body["model"],
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            for delta, finish in (({"role": "assistant", "tool_calls": deltas}, None), ({}, "tool_calls"))
        ]  # fmt: skip
        frames.append({**frames[0], "choices": [], "usage": usage})
        return Reply(sse=[*(sse(f) for f in frames), sse("[DONE]")])

    return hook


def test_openai_sdk_gets_the_final_answer_from_the_real_tool(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert completion.choices[0].message.content == fake_tool_result_text("openai", PARIS)
    assert completion.choices[0].finish_reason == "stop" and not completion.choices[0].message.tool_calls
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        2 * FAKE_PROMPT_TOKENS, 2 * FAKE_COMPLETION_TOKENS,
    )  # fmt: skip
    _, second = clean_fake.matching("/chat/completions")
    assert second.json["messages"][-2]["tool_calls"][0]["function"]["name"] == "local-weather"
    assert second.json["messages"][-1] == {"role": "tool", "content": PARIS, "tool_call_id": "call_fake_1"}
    assert [t["function"]["name"] for t in second.json["tools"]][:1] == ["local-weather"]


def test_anthropic_sdk_gets_the_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    message = anthropic_sdk(gateway).messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=HELLO)
    assert message.content[0].text == fake_tool_result_text("anthropic", PARIS)  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 2 * FAKE_PROMPT_TOKENS
    second = clean_fake.matching("/v1/messages")[-1].json["messages"]
    assert second[-1]["content"][0]["type"] == "tool_result" and second[-2]["content"][0]["type"] == "tool_use"


def test_genai_sdk_gets_the_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    client = genai_sdk(gateway)
    response = client.models.generate_content(model="gemini-2.0-flash", contents="weather in Paris?")
    assert response.text == fake_tool_result_text("gemini", PARIS)
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count == 2 * FAKE_PROMPT_TOKENS
    assert len(clean_fake.matching(":generateContent")) == 2


@pytest.mark.parametrize("model", [MODELS["anthropic"], MODELS["gemini"]])
def test_openai_client_agent_loop_through_another_vendor(
    gateway: ServerHandle, clean_fake: FakeProvider, model: str
) -> None:
    completion = openai_sdk(gateway).chat.completions.create(model=model, messages=HELLO)
    vendor = model.split("/")[0]
    assert completion.choices[0].message.content == fake_tool_result_text(vendor, PARIS)


def test_mixed_auto_and_explicit_calls_return_the_pending_ones(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    clean_fake.respond("/chat/completions", asking(("local-weather", {"city": "Paris"}), ("local-pid", {})))
    completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"  # Bifrost's rebuilt answer
    assert json.loads(choice.message.content or "") == {"local-weather": PARIS}
    assert [c.function.name for c in choice.message.tool_calls or []] == ["local-pid"]  # type: ignore[union-attr]
    assert clean_fake.count("/chat/completions") == 1


def test_only_explicit_calls_return_the_answer_unchanged(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    completion = openai_sdk(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, extra_headers={ONLY: "local-pid"}
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.tool_calls[0].function.name == "local-pid"  # type: ignore[index,union-attr]
    assert clean_fake.count("/chat/completions") == 1


def test_depth_limit_returns_the_last_answer_with_its_calls(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    clean_fake.respond("/chat/completions", asking(("local-add", {"a": 1, "b": 1})))
    completion = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert completion.choices[0].message.tool_calls[0].function.name == "local-add"  # type: ignore[index,union-attr]
    assert clean_fake.count("/chat/completions") == 4  # the first call + max_agent_depth (3) rounds
    assert completion.usage is not None and completion.usage.prompt_tokens == 4 * FAKE_PROMPT_TOKENS


@pytest.mark.parametrize(
    ("tool", "words"), [("local-boom", "Error executing tool boom"), ("local-hang", "timed out after 1s")]
)
def test_failing_tools_become_error_results_and_the_loop_goes_on(
    gateway: ServerHandle, clean_fake: FakeProvider, tool: str, words: str
) -> None:
    completion = openai_sdk(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, extra_headers={ONLY: tool}
    )
    assert words in (completion.choices[0].message.content or "")
    assert clean_fake.count("/chat/completions") == 2


def test_metrics_count_tool_calls_and_rounds(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    text = httpx2.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'bifrost_mcp_tool_calls_total{client="local",outcome="success",tool="weather"}' in text
    assert 'bifrost_mcp_agent_rounds_total{stream="false"}' in text
    assert 'bifrost_mcp_client_connected{client="local"} 1.0' in text


# ---------------------------------------------------------------------------------------- streamed


def test_openai_stream_shows_one_stream_with_the_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    stream = openai_sdk(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fake_tool_result_text("openai", PARIS)
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and usage[0].prompt_tokens == 2 * FAKE_PROMPT_TOKENS  # type: ignore[union-attr]
    assert len({c.id for c in chunks}) == 1
    assert clean_fake.count("/chat/completions") == 2


def test_anthropic_stream_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    with anthropic_sdk(gateway).messages.stream(
        model="claude-3-5-haiku-latest", max_tokens=64, messages=HELLO
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == fake_tool_result_text("anthropic", PARIS)  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.input_tokens == 2 * FAKE_PROMPT_TOKENS


def test_genai_stream_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    client = genai_sdk(gateway)
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="weather in Paris?"))
    assert "".join(c.text or "" for c in chunks) == fake_tool_result_text("gemini", PARIS)
    assert not any(c.function_calls for c in chunks)


def test_streamed_mixed_calls_end_with_the_summary_and_the_pending_call(
    gateway: ServerHandle, clean_fake: FakeProvider
) -> None:
    clean_fake.respond("/chat/completions", asking(("local-weather", {"city": "Paris"}), ("local-pid", {})))
    stream = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"local-weather": PARIS}
    names = called(chunks)
    assert names == ["local-pid"]


def test_streamed_depth_limit(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    clean_fake.respond("/chat/completions", asking(("local-add", {"a": 1, "b": 1})))
    stream = openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    chunks = list(stream)
    names = called(chunks)
    assert names == ["local-add"] and clean_fake.count("/chat/completions") == 4


def test_a_client_that_leaves_stops_the_loop(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
    with (
        httpx2.Client(timeout=30) as client,
        client.stream(
            "POST", f"{gateway.url}/openai/v1/chat/completions", json=body, headers={ONLY: "local-hang"}
        ) as response,
    ):
        assert response.status_code == 200
        clean_fake.wait_for(lambda: clean_fake.count("/chat/completions") == 1, timeout=30)
        # the client is gone while the gateway waits on the hanging tool (1 s timeout)
    time.sleep(3)
    assert clean_fake.count("/chat/completions") == 1  # no model call after the client left


# ---------------------------------------------------------------------------------------- Responses API


def test_responses_api_gets_the_tools_and_the_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    response = openai_sdk(gateway).responses.create(model="gpt-4o-mini", input="what is the weather in Paris?")
    assert response.output_text == fake_tool_result_text("openai", PARIS)
    first, second = clean_fake.matching("/v1/responses")
    assert first.json["tools"][0] == {
        "type": "function", "name": "local-weather", "description": "The weather in a city.",
        "parameters": first.json["tools"][0]["parameters"],
    }  # fmt: skip
    assert [i["type"] for i in second.json["input"][-2:]] == ["function_call", "function_call_output"]
    assert second.json["input"][-1]["output"] == PARIS


def test_responses_api_stream_final_answer(gateway: ServerHandle, clean_fake: FakeProvider) -> None:
    stream = openai_sdk(gateway).responses.create(model="gpt-4o-mini", input="weather in Paris?", stream=True)
    events = list(stream)
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1 and completed[0].response.output_text == fake_tool_result_text("openai", PARIS)
    assert clean_fake.count("/v1/responses") == 2


def test_the_request_log_line_counts_tool_rounds(
    gateway: ServerHandle, clean_fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bifrost_asgi.requests")
    openai_sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    lines = [r.getMessage() for r in caplog.records if r.name == "bifrost_asgi.requests"]
    assert lines and lines[-1].endswith("tool_rounds=1") and "attempts=2" in lines[-1]
