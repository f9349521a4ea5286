"""Sweep as a Bifrost user: every client's documented Bifrost base URLs through its common calls.

Starts the fake vendors (OpenAI, Anthropic, Gemini, Azure; files, batches, images and audio
included) and the gateway on loopback, then drives the official clients the way Bifrost's
integration docs point them — OpenAI, AzureOpenAI, Anthropic, google-genai, LangChain's ChatOpenAI,
ChatAnthropic and ChatGoogleGenerativeAI, litellm, pydantic-ai, boto3 ``bedrock-runtime`` — at the
SDK prefixes and at ``/langchain``, ``/litellm``, ``/pydanticai``: chat plain, streamed and with
tools, models list and retrieve, embeddings, token counting, files, batches, images, audio,
responses. Each call is checked for a well-formed answer (the fake's text, ids, bytes), not just
for no exception. Prints the pass rate and every failure (client, base URL, call, error)::

    .venv/bin/python bench/sweep.py              # everything
    .venv/bin/python bench/sweep.py openai azure # only these clients
    .venv/bin/python bench/sweep.py --json       # one JSON object (for a report)

Takes about a minute (the clients' imports alone take seconds), so it is a tool, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no price-list fetch at import

from tests.support import FakeProvider, ServerHandle, fake_text, run_gateway
from tests.support.fake_genai_batches import FakeGenAIBatches
from tests.support.fake_genai_files import FakeGenAIFiles
from tests.support.fake_imagen import install as install_imagen
from tests.support.fake_media import FAKE_AUDIO, FAKE_IMAGE_B64, FakeMedia

CLIENT_KEY = "client-key-sweep"
HI = [{"role": "user", "content": "hi"}]
JSONL = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@dataclass(frozen=True)
class Case:
    client: str
    base: str
    call: str
    run: Callable[[], None]


@dataclass
class Outcome:
    case: Case
    ok: bool
    error: str = ""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def gateway_config(fake: FakeProvider) -> dict[str, Any]:
    def provider(secret: str, suffix: str = "") -> dict[str, Any]:
        return {"keys": [{"value": secret}], "network_config": {"base_url": fake.url + suffix}}

    azure_key = {"value": "azure-sweep-key", "azure_key_config": {"endpoint": fake.url, "api_version": "2024-10-21"}}
    return {
        "providers": {
            "openai": provider("sk-openai-sweep"),
            "anthropic": provider("sk-ant-sweep"),
            "gemini": provider("gm-sweep", "/v1beta"),
            "azure": {"keys": [azure_key]},
        }
    }


# --------------------------------------------------------------------------- OpenAI SDK


def openai_cases(url: str, base: str) -> Iterator[Case]:
    import openai

    sdk = openai.OpenAI(base_url=url + base, api_key=CLIENT_KEY, max_retries=0, timeout=30.0)
    model = "openai/gpt-4o-mini"

    def case(call: str, run: Callable[[], None]) -> Case:
        return Case("openai", base, call, run)

    def chat() -> None:
        answer = sdk.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
        expect(answer.choices[0].message.content == fake_text("openai", "hi"), f"text {answer.choices[0]}")

    def stream() -> None:
        chunks = list(sdk.chat.completions.create(model=model, messages=HI, stream=True))  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        expect(text == fake_text("openai", "hi"), f"text {text!r}")

    def tools() -> None:
        answer = sdk.chat.completions.create(model=model, messages=HI, tools=[WEATHER])  # type: ignore[arg-type]
        calls = answer.choices[0].message.tool_calls or []
        expect(len(calls) == 1 and calls[0].function.name == "get_weather", f"tool calls {calls}")

    def models() -> None:
        listed = sdk.models.list().data
        expect(any("gpt-4o-mini" in m.id for m in listed), f"{len(listed)} models")
        expect(bool(sdk.models.retrieve(listed[0].id).id), "retrieve")

    def embeddings() -> None:
        vectors = sdk.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"])
        expect(len(vectors.data) == 2 and vectors.data[0].embedding, "two vectors")

    def responses() -> None:
        answer = sdk.responses.create(model=model, input="hi")
        expect(answer.output_text == fake_text("openai", "hi"), f"text {answer.output_text!r}")
        with sdk.responses.stream(model="anthropic/claude-haiku-4-5", input="hi") as events:
            final = events.get_final_response()
        expect(final.output_text == fake_text("anthropic", "hi"), f"streamed {final.output_text!r}")

    def stored() -> None:
        answer = sdk.responses.create(model=model, input="hi")
        expect(sdk.responses.retrieve(answer.id).id == answer.id, "retrieve")
        expect([i.type for i in sdk.responses.input_items.list(answer.id)] == ["message"], "input_items")
        sdk.responses.delete(answer.id)

    def completions() -> None:
        answer = sdk.completions.create(model=model, prompt="hi", max_tokens=20)
        expect(answer.choices[0].text == fake_text("openai", "hi"), f"text {answer.choices[0].text!r}")

    def input_tokens() -> None:
        counted = sdk.responses.input_tokens.count(model=model, input="hi")
        expect(counted.input_tokens > 0, f"{counted}")

    def files_batches() -> None:
        created = sdk.files.create(file=("requests.jsonl", io.BytesIO(JSONL)), purpose="batch")
        expect(sdk.files.retrieve(created.id).filename == "requests.jsonl", "retrieve")
        expect(sdk.files.content(created.id).read() == JSONL, "content")
        expect(any(f.id == created.id for f in sdk.files.list()), "list")
        batch = sdk.batches.create(input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h")
        expect(sdk.batches.retrieve(batch.id).id == batch.id, "batch retrieve")
        expect(any(b.id == batch.id for b in sdk.batches.list()), "batch list")
        expect(sdk.batches.cancel(batch.id).status == "cancelling", "cancel")
        expect(sdk.files.delete(created.id).deleted, "delete")

    def images() -> None:
        generated = sdk.images.generate(model="gpt-image-1", prompt="a fox")
        expect(generated.data is not None and generated.data[0].b64_json == FAKE_IMAGE_B64, "generate")
        edited = sdk.images.edit(model="gpt-image-1", image=("fox.png", b"\x89PNG fake"), prompt="blue")
        expect(edited.data is not None and edited.data[0].revised_prompt == "blue", "edit")

    def audio() -> None:
        with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hi") as speech:
            expect(b"".join(speech.iter_bytes()) == b"".join(FAKE_AUDIO), "speech bytes")
        heard = sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF" + b"\x01" * 96))
        expect(heard.text == "heard 100 bytes of a.wav", f"transcription {heard.text!r}")
        translated = sdk.audio.translations.create(model="whisper-1", file=("a.wav", b"RIFF" + b"\x01" * 96))
        expect(translated.text == heard.text, "translation")

    for name, run in (("chat", chat), ("chat stream", stream), ("chat tools", tools), ("models", models),
                      ("embeddings", embeddings), ("responses", responses), ("responses input_tokens", input_tokens),
                      ("responses retrieve/input_items/delete", stored), ("completions", completions),
                      ("files+batches", files_batches), ("images", images), ("audio", audio)):  # fmt: skip
        yield case(name, run)


def azure_cases(url: str, base: str) -> Iterator[Case]:
    import openai

    sdk = openai.AzureOpenAI(
        azure_endpoint=url + base, api_version="2024-10-21", api_key=CLIENT_KEY, max_retries=0, timeout=30.0
    )

    def chat() -> None:
        answer = sdk.chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
        expect(answer.choices[0].message.content == fake_text("azure", "hi"), f"text {answer.choices[0]}")
        chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=HI, stream=True))  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        expect(text == fake_text("azure", "hi"), f"streamed {text!r}")

    def embeddings() -> None:
        vectors = sdk.embeddings.create(model="text-embedding-3-small", input="a")
        expect(len(vectors.data) == 1, "one vector")

    def images() -> None:
        image = sdk.images.generate(model="dall-e-3", prompt="a fox")
        expect(image.data is not None and image.data[0].b64_json == FAKE_IMAGE_B64, "image")

    for name, run in (("chat+stream", chat), ("embeddings", embeddings), ("images", images)):
        yield Case("azure", base, name, run)


# --------------------------------------------------------------------------- Anthropic SDK


def anthropic_cases(url: str, base: str) -> Iterator[Case]:
    import anthropic

    sdk = anthropic.Anthropic(base_url=url + base, api_key=CLIENT_KEY, max_retries=0, timeout=30.0)
    model = "claude-haiku-4-5"
    tool: Any = {"name": "get_weather", "description": "Weather", "input_schema": WEATHER["function"]["parameters"]}

    def messages() -> None:
        answer = sdk.messages.create(model=model, max_tokens=50, messages=HI)  # type: ignore[arg-type]
        text = answer.content[0].text if answer.content[0].type == "text" else ""
        expect(text == fake_text("anthropic", "hi"), f"text {answer.content}")

    def stream() -> None:
        with sdk.messages.stream(model=model, max_tokens=50, messages=HI) as events:  # type: ignore[arg-type]
            text = "".join(events.text_stream)
        expect(text == fake_text("anthropic", "hi"), f"text {text!r}")

    def tools() -> None:
        answer = sdk.messages.create(model=model, max_tokens=50, messages=HI, tools=[tool])  # type: ignore[arg-type]
        expect(any(b.type == "tool_use" for b in answer.content), f"content {answer.content}")

    def count() -> None:
        counted = sdk.messages.count_tokens(model=model, messages=HI)  # type: ignore[arg-type]
        expect(counted.input_tokens > 0, f"{counted}")

    def models() -> None:
        listed = sdk.models.list().data
        expect(bool(listed), "models")
        expect(sdk.models.retrieve(listed[0].id).id == listed[0].id, "retrieve")

    def batches() -> None:
        params: Any = {"model": model, "max_tokens": 10, "messages": HI}
        batch = sdk.messages.batches.create(requests=[{"custom_id": "one", "params": params}])
        expect(sdk.messages.batches.retrieve(batch.id).id == batch.id, "retrieve")
        expect([r.custom_id for r in sdk.messages.batches.results(batch.id)] == ["one"], "results")
        expect(any(b.id == batch.id for b in sdk.messages.batches.list()), "list")
        expect(sdk.messages.batches.cancel(batch.id).processing_status == "canceling", "cancel")

    def files() -> None:
        uploaded = sdk.beta.files.upload(file=("notes.txt", b"hello", "text/plain"))
        expect(sdk.beta.files.retrieve_metadata(uploaded.id).id == uploaded.id, "metadata")
        expect(any(f.id == uploaded.id for f in sdk.beta.files.list()), "list")
        sdk.beta.files.delete(uploaded.id)

    for name, run in (("messages", messages), ("messages stream", stream), ("messages tools", tools),
                      ("count_tokens", count), ("models", models), ("batches", batches), ("files", files)):  # fmt: skip
        yield Case("anthropic", base, name, run)


# --------------------------------------------------------------------------- google-genai


def genai_cases(url: str, base: str) -> Iterator[Case]:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=url + base, timeout=30_000))
    model = "gemini-2.5-flash"

    def generate() -> None:
        answer = client.models.generate_content(model=model, contents="hi")
        expect(answer.text == fake_text("gemini", "hi"), f"text {answer.text!r}")

    def stream() -> None:
        text = "".join(c.text or "" for c in client.models.generate_content_stream(model=model, contents="hi"))
        expect(text == fake_text("gemini", "hi"), f"text {text!r}")

    def tools() -> None:
        declaration = types.FunctionDeclaration(name="get_weather", description="Weather",
                                                parameters_json_schema=WEATHER["function"]["parameters"])  # fmt: skip
        config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])])
        answer = client.models.generate_content(model=model, contents="hi", config=config)
        expect(bool(answer.function_calls), f"function calls {answer.function_calls}")

    def count() -> None:
        expect((client.models.count_tokens(model=model, contents="hi").total_tokens or 0) > 0, "tokens")

    def embed() -> None:
        vectors = client.models.embed_content(model="text-embedding-004", contents=["a", "b"])
        expect(len(vectors.embeddings or []) == 2, "two vectors")

    def models() -> None:
        listed = list(client.models.list(config={"page_size": 50}))
        expect(bool(listed), "models")
        expect(bool(client.models.get(model=model).name), "get")

    def batches() -> None:
        inline: Any = [{"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}]
        job = client.batches.create(model=model, src=inline)
        expect(job.name is not None and client.batches.get(name=job.name).name == job.name, "get")
        client.batches.cancel(name=job.name or "")
        expect(any(b.name == job.name for b in client.batches.list(config={"page_size": 10})), "list")

    def files() -> None:
        uploaded = client.files.upload(file=io.BytesIO(b"hello"), config={"mime_type": "text/plain"})
        expect(bool(uploaded.name), "upload")

    def modalities() -> None:
        image = client.models.generate_content(model="openai/gpt-image-1", contents="a fox",
                                               config={"response_modalities": ["IMAGE"]})  # fmt: skip
        parts = image.candidates[0].content.parts if image.candidates and image.candidates[0].content else None
        expect(bool(parts) and parts[0].inline_data is not None, f"image parts {parts}")  # type: ignore[index]
        speech = client.models.generate_content(model="openai/tts-1", contents="hello",
                                                config={"response_modalities": ["AUDIO"]})  # fmt: skip
        parts = speech.candidates[0].content.parts if speech.candidates and speech.candidates[0].content else None
        expect(bool(parts) and parts[0].inline_data is not None, f"audio parts {parts}")  # type: ignore[index]

    def imagen() -> None:
        vertex = genai.Client(vertexai=True, api_key=CLIENT_KEY,
                              http_options=types.HttpOptions(base_url=url + base, timeout=30_000))  # fmt: skip
        for model in ("imagen-3.0-generate-002", "openai/gpt-image-1"):
            answer = vertex.models.generate_images(model=model, prompt="a fox")
            expect(bool(answer.generated_images), f"{model}: {answer}")

    calls = (("generate_content", generate), ("stream", stream), ("tools", tools), ("count_tokens", count),
             ("embed_content", embed), ("models", models), ("batches", batches), ("files", files),
             ("IMAGE/AUDIO modalities", modalities), ("imagen generate_images", imagen))  # fmt: skip
    for name, run in calls:
        yield Case("google-genai", base, name, run)


# --------------------------------------------------------------------------- frameworks


def langchain_cases(url: str, base: str, kind: str) -> Iterator[Case]:
    def build() -> Any:
        if kind == "ChatOpenAI":
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(model="gpt-4o-mini", base_url=url + base, api_key=CLIENT_KEY, max_retries=0)  # type: ignore[arg-type]
        if kind == "ChatAnthropic":
            from langchain_anthropic import ChatAnthropic

            return ChatAnthropic(model="claude-haiku-4-5", base_url=url + base, api_key=CLIENT_KEY, max_retries=0)  # type: ignore[call-arg,arg-type]
        from langchain_google_genai import ChatGoogleGenerativeAI

        return ChatGoogleGenerativeAI(model="gemini-2.5-flash", base_url=url + base, api_key=CLIENT_KEY)  # type: ignore[call-arg,arg-type]

    vendor = {"ChatOpenAI": "openai", "ChatAnthropic": "anthropic"}.get(kind, "gemini")

    def invoke() -> None:
        answer = build().invoke("hi")
        expect(answer.text == fake_text(vendor, "hi"), f"text {answer.text!r}")
        expect(answer.usage_metadata is not None and answer.usage_metadata["input_tokens"] > 0, "usage")

    def stream() -> None:
        chunks = list(build().stream("hi"))
        text = "".join(c.text for c in chunks)
        expect(text == fake_text(vendor, "hi"), f"text {text!r}")
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        expect(total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0, "stream usage")

    def tools() -> None:
        answer = build().bind_tools([WEATHER]).invoke("hi")
        expect(bool(answer.tool_calls) and answer.tool_calls[0]["name"] == "get_weather", f"{answer.tool_calls}")

    def responses_api() -> None:
        from langchain_openai import ChatOpenAI

        llm = ChatOpenAI(model="gpt-4o-mini", base_url=url + base, api_key=CLIENT_KEY, max_retries=0,  # type: ignore[arg-type]
                         use_responses_api=True)  # fmt: skip
        answer = llm.invoke("hi")
        expect(answer.text == fake_text("openai", "hi"), f"text {answer.text!r}")

    def embeddings() -> None:
        if kind == "ChatOpenAI":
            from langchain_openai import OpenAIEmbeddings

            embedder: Any = OpenAIEmbeddings(model="text-embedding-3-small", base_url=url + base, api_key=CLIENT_KEY,  # type: ignore[arg-type]
                                             check_embedding_ctx_length=False, max_retries=0)  # fmt: skip
        else:
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            embedder = GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001", base_url=url + base,  # type: ignore[call-arg]
                                                    google_api_key=CLIENT_KEY)  # fmt: skip
        vectors = embedder.embed_documents(["a", "b"])
        expect(len(vectors) == 2 and len(vectors[0]) > 0, f"{len(vectors)} vectors")

    calls: list[tuple[str, Callable[[], None]]] = [("invoke", invoke), ("stream", stream), ("tools", tools)]
    if kind == "ChatOpenAI":
        calls += [("use_responses_api", responses_api), ("OpenAIEmbeddings", embeddings)]
    if kind == "ChatGoogleGenerativeAI":
        calls.append(("GoogleGenerativeAIEmbeddings", embeddings))
    for name, run in calls:
        yield Case(f"langchain {kind}", base, name, run)


def litellm_cases(url: str, base: str) -> Iterator[Case]:
    def client() -> Any:
        import litellm

        return litellm

    def completion(model: str, vendor: str) -> Callable[[], None]:
        def run() -> None:
            litellm = client()
            answer = litellm.completion(model=model, api_base=url + base, api_key=CLIENT_KEY, messages=HI,
                                        max_tokens=50)  # fmt: skip
            expect(answer.choices[0].message.content == fake_text(vendor, "hi"), f"{answer.choices[0]}")
            chunks = litellm.completion(model=model, api_base=url + base, api_key=CLIENT_KEY, messages=HI,
                                        max_tokens=50, stream=True)  # fmt: skip
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            expect(text == fake_text(vendor, "hi"), f"streamed {text!r}")

        return run

    def tools() -> None:
        answer = client().completion(model="openai/gpt-4o-mini", api_base=url + base, api_key=CLIENT_KEY,
                                     messages=HI, tools=[WEATHER])  # fmt: skip
        expect(bool(answer.choices[0].message.tool_calls), "tool calls")

    def embedding() -> None:
        vectors = client().embedding(model="openai/text-embedding-3-small", api_base=url + base, api_key=CLIENT_KEY,
                                     input=["a"])  # fmt: skip
        expect(len(vectors.data) == 1, "one vector")

    def images() -> None:
        image = client().image_generation(model="openai/gpt-image-1", prompt="a fox", api_base=url + base,
                                          api_key=CLIENT_KEY)  # fmt: skip
        expect(image.data[0].b64_json == FAKE_IMAGE_B64, "image")

    def transcription() -> None:
        audio = ("a.wav", b"RIFF" + b"\x01" * 96)
        heard = client().transcription(model="openai/whisper-1", file=audio, api_base=url + base, api_key=CLIENT_KEY)
        expect(heard.text == "heard 100 bytes of a.wav", f"{heard.text!r}")

    yield Case("litellm", base, "openai/ completion+stream", completion("openai/gpt-4o-mini", "openai"))
    yield Case("litellm", base, "image_generation", images)
    yield Case("litellm", base, "transcription", transcription)
    yield Case("litellm", base, "anthropic/ completion+stream", completion("anthropic/claude-haiku-4-5", "anthropic"))
    yield Case("litellm", base, "tools", tools)
    yield Case("litellm", base, "embedding", embedding)


def pydantic_ai_cases(url: str, base: str) -> Iterator[Case]:
    def openai_agent() -> Any:
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=url + base + "/v1", api_key=CLIENT_KEY)
        return Agent(OpenAIChatModel("gpt-4o-mini", provider=provider))

    def anthropic_agent() -> Any:
        from pydantic_ai import Agent
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        provider = AnthropicProvider(base_url=url + base, api_key=CLIENT_KEY)
        return Agent(AnthropicModel("claude-haiku-4-5", provider=provider))

    def run(build: Callable[[], Any], vendor: str) -> Callable[[], None]:
        def go() -> None:
            async def both() -> tuple[str, str]:
                agent = build()
                result = await agent.run("hi")
                async with agent.run_stream("hi") as streamed:
                    text = await streamed.get_output()
                return str(result.output), str(text)

            plain, streamed = asyncio.run(both())
            expect(plain == fake_text(vendor, "hi"), f"run {plain!r}")
            expect(streamed == fake_text(vendor, "hi"), f"run_stream {streamed!r}")

        return go

    def google_agent() -> Any:
        from pydantic_ai import Agent
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        provider = GoogleProvider(api_key=CLIENT_KEY, base_url=url + base)
        return Agent(GoogleModel("gemini-2.5-flash", provider=provider))

    def tools() -> None:
        agent = openai_agent()

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """Weather in a city."""
            return "sunny"

        result = agent.run_sync("hi")
        expect("sunny" in str(result.output), f"output {result.output!r}")

    yield Case("pydantic-ai", base, "OpenAIChatModel run+stream", run(openai_agent, "openai"))
    yield Case("pydantic-ai", base, "GoogleModel run+stream", run(google_agent, "gemini"))
    yield Case("pydantic-ai", base, "OpenAIChatModel tool round", tools)
    yield Case("pydantic-ai", base, "AnthropicModel run+stream", run(anthropic_agent, "anthropic"))


def bedrock_cases(url: str, base: str) -> Iterator[Case]:
    def runtime() -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime", endpoint_url=url + base, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="client-secret", config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip

    hello: Any = [{"role": "user", "content": [{"text": "hi"}]}]

    def converse() -> None:
        answer = runtime().converse(modelId="anthropic/claude-haiku-4-5", messages=hello)
        text = answer["output"]["message"]["content"][0]["text"]
        expect(text == fake_text("anthropic", "hi"), f"text {text!r}")

    def converse_stream() -> None:
        events = list(runtime().converse_stream(modelId="openai/gpt-4o-mini", messages=hello)["stream"])
        text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
        expect(text == fake_text("openai", "hi"), f"text {text!r}")

    def invoke() -> None:
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": HI})
        answer = json.loads(runtime().invoke_model(modelId="anthropic/claude-haiku-4-5", body=body)["body"].read())
        expect(answer["content"][0]["text"] == fake_text("anthropic", "hi"), f"{answer}")

    def count() -> None:
        counted = runtime().count_tokens(modelId="anthropic/claude-haiku-4-5",
                                         input={"converse": {"messages": hello}})  # fmt: skip
        expect(counted["inputTokens"] > 0, f"{counted}")

    for name, go in (("converse", converse), ("converse_stream", converse_stream), ("invoke_model", invoke),
                     ("count_tokens", count)):  # fmt: skip
        yield Case("boto3 bedrock-runtime", base, name, go)


# --------------------------------------------------------------------------- the sweep

INTEGRATIONS = ("/langchain", "/litellm", "/pydanticai")
OPENAI_BASES = ("/openai", "/openai/v1", "/v1", *(p + "/v1" for p in INTEGRATIONS), "/litellm")
LANGCHAIN = (("ChatOpenAI", "/openai"), ("ChatAnthropic", "/anthropic"), ("ChatGoogleGenerativeAI", "/genai"))


def _each(bases: tuple[str, ...], cases: Callable[[str, str], Iterator[Case]]) -> Callable[[str], Iterator[Case]]:
    return lambda url: (case for base in bases for case in cases(url, base))


CLIENTS: dict[str, Callable[[str], Iterator[Case]]] = {
    "openai": _each(OPENAI_BASES, openai_cases),
    "azure": _each(("", "/openai", *INTEGRATIONS), azure_cases),
    "anthropic": _each(("/anthropic", *INTEGRATIONS), anthropic_cases),
    "genai": _each(("/genai", *INTEGRATIONS), genai_cases),
    "langchain": lambda url: (
        case for kind, own in LANGCHAIN for base in (own, "/langchain") for case in langchain_cases(url, base, kind)
    ),
    "litellm": _each(("/litellm",), litellm_cases),
    "pydantic-ai": _each(("/pydanticai",), pydantic_ai_cases),
    "bedrock": _each(("/bedrock", *INTEGRATIONS), bedrock_cases),
}


def _run(case: Case) -> Outcome:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.run()
    except Exception as exc:  # any failure is a finding, reported with its cause
        detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        if os.environ.get("SWEEP_TRACEBACK"):
            traceback.print_exc()
        return Outcome(case, False, detail)
    return Outcome(case, True)


def sweep(clients: list[str]) -> list[Outcome]:
    with FakeProvider() as fake:
        FakeMedia().install(fake)
        FakeGenAIBatches().install(fake)
        FakeGenAIFiles().install(fake)
        install_imagen(fake)
        with run_gateway(gateway_config(fake)) as gateway:
            return [_run(case) for name in clients for case in CLIENTS[name](_url(gateway))]


def _url(gateway: ServerHandle) -> str:
    return gateway.url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clients", nargs="*", choices=[*CLIENTS, []], help="clients to sweep (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    started = time.monotonic()
    outcomes = sweep(args.clients or list(CLIENTS))
    passed = sum(o.ok for o in outcomes)
    failures = [o for o in outcomes if not o.ok]
    if args.json:
        print(json.dumps({"passed": passed, "total": len(outcomes),
                          "failures": [{"client": o.case.client, "base": o.case.base, "call": o.case.call,
                                        "error": o.error} for o in failures]}, indent=2))  # fmt: skip
    else:
        for o in failures:
            print(f"FAIL {o.case.client:24} {o.case.base or '/':14} {o.case.call:30} {o.error}")
        seconds = time.monotonic() - started
        print(f"\n{passed}/{len(outcomes)} passed ({100.0 * passed / max(len(outcomes), 1):.1f} %) in {seconds:.0f} s")
    return 0 if not failures else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
