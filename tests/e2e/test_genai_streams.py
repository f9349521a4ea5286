"""google-genai streams through the gateway, as Google's own examples read them: every chunk of a
text answer has ``.text``, the finish reason and usage arrive on a chunk with text, and a Gemini
upstream's chunks are relayed as they came (safety ratings, grounding, citations kept)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai

from bifrost_asgi import bifrost_app
from tests.support import FakeProvider, fake_text, run_server
from tests.support.fake_provider import Reply

pytestmark = pytest.mark.e2e

SAFETY = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
GROUNDING = {"webSearchQueries": ["weather paris"], "groundingChunks": [{"web": {"uri": "https://example.com/w",
                                                                               "title": "Weather"}}]}  # fmt: skip
CITATIONS = {"citationSources": [{"startIndex": 0, "endIndex": 5, "uri": "https://example.com/c"}]}


def gemini_frames() -> list[str]:
    """What Gemini sends: text on every chunk, finishReason + usage on the last text chunk."""
    def chunk(text: str, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0,
                                     "safetyRatings": SAFETY}  # fmt: skip
        if last:
            candidate |= {"finishReason": "STOP", "groundingMetadata": GROUNDING, "citationMetadata": CITATIONS}
        usage = {"promptTokenCount": 4, "candidatesTokenCount": 3 if last else 1, "totalTokenCount": 7 if last else 5}
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash-001",
                "responseId": "resp-relay"}  # fmt: skip
    return [f"data: {json.dumps(chunk(t, i == 2), separators=(',', ':'))}\r\n\r\n"
            for i, t in enumerate(["Sunny ", "in ", "Paris"])]  # fmt: skip


@pytest.fixture
def gateway_url(fake_provider: FakeProvider) -> Iterator[str]:
    config = {"providers": {
        "openai": {"keys": [{"value": "sk-x"}], "network_config": {"base_url": fake_provider.url}},
        "gemini": {"keys": [{"value": "gm-x"}], "network_config": {"base_url": fake_provider.url + "/v1beta"}},
    }}  # fmt: skip
    with run_server(bifrost_app(config=config)) as server:
        yield server.url


def client(url: str) -> genai.Client:
    return genai.Client(api_key="client-key", http_options={"base_url": url + "/genai"})


def test_translated_stream_chunks_all_have_text(gateway_url: str) -> None:
    gen = client(gateway_url)  # kept: a collected client closes its connection pool
    chunks = list(gen.models.generate_content_stream(model="openai/gpt-4o-mini", contents="hello"))
    assert all(isinstance(c.text, str) for c in chunks)
    assert "".join(c.text or "" for c in chunks) == fake_text("openai", "hello")
    printed = "".join(f"{c.text}" for c in chunks)  # Google's `print(chunk.text, end="")`
    assert "None" not in printed
    last = chunks[-1]
    assert last.candidates[0].finish_reason == "STOP"
    assert last.usage_metadata is not None and last.usage_metadata.total_token_count


def test_gemini_stream_is_relayed_as_it_came(gateway_url: str, fake_provider: FakeProvider) -> None:
    fake_provider.respond(":streamGenerateContent", lambda request: Reply(sse=gemini_frames()))
    gen = client(gateway_url)
    chunks = list(gen.models.generate_content_stream(model="gemini-2.5-flash", contents="weather?"))
    assert [c.text for c in chunks] == ["Sunny ", "in ", "Paris"]
    assert all(c.candidates[0].safety_ratings for c in chunks)
    last = chunks[-1].candidates[0]
    assert last.finish_reason == "STOP"
    assert last.grounding_metadata is not None and last.grounding_metadata.web_search_queries == ["weather paris"]
    assert last.citation_metadata is not None and last.citation_metadata.citations
    assert chunks[-1].model_version == "gemini-2.5-flash-001" and chunks[-1].response_id == "resp-relay"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.total_token_count == 7


def test_relayed_stream_counts_tokens_and_reports_midstream_errors(
    gateway_url: str, fake_provider: FakeProvider
) -> None:
    error = 'data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\r\n\r\n'
    frames = [*gemini_frames()[:2], error]
    fake_provider.respond(":streamGenerateContent", lambda request: Reply(sse=frames))
    gen = client(gateway_url)
    stream = gen.models.generate_content_stream(model="gemini-2.5-flash", contents="weather?")
    texts: list[str | None] = []
    with pytest.raises(genai.errors.APIError) as raised:
        for chunk in stream:
            texts.append(chunk.text)
    assert texts == ["Sunny ", "in "]
    assert "overloaded" in str(raised.value)
