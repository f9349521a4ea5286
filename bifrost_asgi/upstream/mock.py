"""An in-process, deterministic OpenAI-compatible server behind the ``Upstream`` protocol.

It answers ``mock://<host>/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``GET /v1/models[/{id}]`` without any network, clock or global state:

* chat: ``"Echo: " + <last user message text>``; when ``tools`` are given and ``tool_choice``
  forces one (``"required"`` -> the first tool, or a named function) the answer is a call to
  it with arguments ``"{}"``; ``max_tokens``/``max_completion_tokens`` cut the answer (words)
  with ``finish_reason: "length"``;
* usage counts words (prompt: every message's text; completion: the answer);
* streams send one chunk per word and honour ``stream_options.include_usage``;
* embeddings are unit vectors (8 dimensions, or ``dimensions``) derived from a hash of the
  input; ``encoding_format: "base64"`` is honoured;
* model ``mock-error-<status>`` answers that HTTP status with an OpenAI error body (429 and
  503 carry ``retry-after: 1``).

Latency knobs, read from the request headers (the gateway sets them from
``providers.mock.mock_config``): ``x-mock-latency-ms`` before the response headers and
``x-mock-chunk-delay-ms`` between stream chunks. Delays longer than the request's timeouts end
in ``UpstreamTimeoutError`` exactly as a slow real upstream would.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from .. import _json
from ..errors import UpstreamTimeoutError
from ..providers.base import UpstreamRequest, UpstreamResponse
from .base import Timeouts, UpstreamStream

CREATED = 1_700_000_000
DEFAULT_DIMENSIONS = 8
MODELS = ("mock-model", "mock-embedding")
NO_USER_TEXT = "Hello from the bifrost-asgi mock provider."
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    chunks: tuple[bytes, ...]  # one element unless streamed
    delay_ms: float = 0.0  # between chunks


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _words(text: str) -> int:
    return len(text.split())


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _error(status: int, message: str, code: str | None = None) -> _Answer:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_error"
    body = _json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    headers = {**_JSON, "retry-after": "1"} if status in (429, 503) else _JSON
    return _Answer(status, headers, (body,))


def _sse(payload: Any) -> bytes:
    return b"data: " + _json.dumps(payload) + b"\n\n"


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _limit(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _cut(answer: str, limit: int | None) -> tuple[tuple[str, ...], str]:
    words = tuple(answer.split())
    if limit is not None and len(words) > limit:
        return words[:limit], "length"
    return words, "stop"


def _forced_tool(body: Mapping[str, Any]) -> str | None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        return name if isinstance(name, str) else None
    if choice == "required":
        first = tools[0] if isinstance(tools[0], dict) else {}
        function = first.get("function")
        name = function.get("name") if isinstance(function, dict) else first.get("name")
        return name if isinstance(name, str) else None
    return None


# ---------------------------------------------------------------------------------- chat


def _chat(body: Mapping[str, Any], *, text_completion: bool) -> _Answer:
    model = str(body.get("model"))
    if text_completion:
        prompt = body.get("prompt")
        user_text = prompt if isinstance(prompt, str) else _text(prompt if isinstance(prompt, list) else "")
        prompt_tokens = _words(user_text)
        tool = None
    else:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages: must be a non-empty list", "invalid_messages")
        texts = [_text(m.get("content")) if isinstance(m, dict) else "" for m in messages]
        users = [t for m, t in zip(messages, texts, strict=True) if isinstance(m, dict) and m.get("role") == "user"]
        user_text = users[-1] if users else ""
        prompt_tokens = sum(_words(t) for t in texts)
        tool = _forced_tool(body)
    answer = f"Echo: {user_text}" if user_text.strip() else NO_USER_TEXT
    words, reason = _cut(answer, _limit(body))
    digest = _digest(model, user_text, tool or "")
    state = _ChatState(model, digest, prompt_tokens, words, reason, tool, text_completion)
    if body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return _Answer(200, _SSE, state.stream(include_usage))
    return _Answer(200, _JSON, (_json.dumps(state.complete()),))


@dataclass(frozen=True, slots=True)
class _ChatState:
    model: str
    digest: str
    prompt_tokens: int
    words: tuple[str, ...]
    reason: str
    tool: str | None
    text_completion: bool

    @property
    def call_id(self) -> str:
        return "call_" + self.digest[:24]

    def _envelope(self) -> dict[str, Any]:
        if self.text_completion:
            return {"id": "cmpl-mock" + self.digest[:20], "object": "text_completion"}
        return {"id": "chatcmpl-mock" + self.digest[:20], "object": "chat.completion"}

    def _completion_tokens(self) -> int:
        return 1 if self.tool else len(self.words)

    def complete(self) -> dict[str, Any]:
        text = " ".join(self.words)
        if self.text_completion:
            choice: dict[str, Any] = {"text": text, "index": 0, "logprobs": None, "finish_reason": self.reason}
        elif self.tool:
            call = {"id": self.call_id, "type": "function", "function": {"name": self.tool, "arguments": "{}"}}
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        else:
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.reason}
        return {
            **self._envelope(),
            "created": CREATED,
            "model": self.model,
            "choices": [choice],
            "usage": _usage(self.prompt_tokens, self._completion_tokens()),
        }

    def _chunk(self, choice: dict[str, Any] | None, include_usage: bool) -> bytes:
        envelope = self._envelope()
        if not self.text_completion:
            envelope["object"] = "chat.completion.chunk"
        payload: dict[str, Any] = {**envelope, "created": CREATED, "model": self.model}
        payload["choices"] = [] if choice is None else [choice]
        if include_usage:
            payload["usage"] = None
        return _sse(payload)

    def _delta(self, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        if self.text_completion:
            return {"text": delta.get("content", ""), "index": 0, "logprobs": None, "finish_reason": reason}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}

    def _content_deltas(self) -> list[dict[str, Any]]:
        if self.tool:
            first = {
                "index": 0,
                "id": self.call_id,
                "type": "function",
                "function": {"name": self.tool, "arguments": ""},
            }
            rest = {"index": 0, "function": {"arguments": "{}"}}
            return [{"tool_calls": [first]}, {"tool_calls": [rest]}]
        return [{"content": word if i == 0 else " " + word} for i, word in enumerate(self.words)]

    def stream(self, include_usage: bool) -> tuple[bytes, ...]:
        chunks: list[bytes] = []
        if not self.text_completion:
            chunks.append(self._chunk(self._delta({"role": "assistant", "content": ""}), include_usage))
        chunks.extend(self._chunk(self._delta(d), include_usage) for d in self._content_deltas())
        finish = "tool_calls" if self.tool else self.reason
        final = self._delta({}, finish) if not self.text_completion else self._delta({"content": ""}, finish)
        chunks.append(self._chunk(final, include_usage))
        if include_usage:
            usage = {**self._envelope(), "created": CREATED, "model": self.model, "choices": []}
            if not self.text_completion:
                usage["object"] = "chat.completion.chunk"
            usage["usage"] = _usage(self.prompt_tokens, self._completion_tokens())
            chunks.append(_sse(usage))
        chunks.append(b"data: [DONE]\n\n")
        return tuple(chunks)


# ---------------------------------------------------------------------------------- embeddings


def embedding_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for ``text``."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(v / 2**31 - 1.0 for v in struct.unpack("<8I", block))
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _embeddings(body: Mapping[str, Any]) -> _Answer:
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return _error(400, "input: expected a string or a non-empty list", "invalid_input")
    dimensions = body.get("dimensions")
    dims = dimensions if isinstance(dimensions, int) and dimensions > 0 else DEFAULT_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    tokens = 0
    for i, item in enumerate(raw):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        tokens += _words(text) if isinstance(item, str) else len(item)
        vector = embedding_vector(text, dims)
        value: Any = vector
        if as_base64:
            value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": value})
    payload = {
        "object": "list",
        "data": data,
        "model": str(body.get("model")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return _Answer(200, _JSON, (_json.dumps(payload),))


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "mock"}


def _models(path: str) -> _Answer:
    if path.endswith("/models"):
        payload: dict[str, Any] = {"object": "list", "data": [_model(m) for m in MODELS]}
        return _Answer(200, _JSON, (_json.dumps(payload),))
    model_id = unquote(path.rsplit("/models/", 1)[1])
    if model_id not in MODELS:
        return _error(404, f"The model '{model_id}' does not exist", "model_not_found")
    return _Answer(200, _JSON, (_json.dumps(_model(model_id)),))


# ---------------------------------------------------------------------------------- routing


def _route(request: UpstreamRequest) -> _Answer:
    path = urlsplit(request.url).path.rstrip("/")
    method = request.method.upper()
    if method == "GET" and (path.endswith("/models") or "/models/" in path):
        return _models(path)
    endpoint = next((e for e in ("/chat/completions", "/completions", "/embeddings") if path.endswith(e)), None)
    if method != "POST" or endpoint is None:
        return _error(404, f"Unknown mock route: {method} {path or '/'}", "unknown_url")
    try:
        body = _json.loads(request.body or b"")
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return _error(400, "model: required", "missing_model")
    model: str = body["model"]
    if model.startswith("mock-error-") and model[11:].isdigit() and 400 <= int(model[11:]) <= 599:
        return _error(int(model[11:]), f"mock error {model[11:]} requested by model name", "mock_error")
    if endpoint == "/embeddings":
        return _embeddings(body)
    return _chat(body, text_completion=endpoint == "/completions")


def _delay_ms(headers: Mapping[str, str], name: str) -> float:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return max(0.0, float(value))
            except ValueError:
                return 0.0
    return 0.0


class _MockStream:
    __slots__ = ("_chunks", "_delay", "_idle", "headers", "status")

    def __init__(self, answer: _Answer, idle: float) -> None:
        self.status = answer.status
        self.headers: Mapping[str, str] = answer.headers
        self._chunks = answer.chunks
        self._delay = answer.delay_ms / 1000.0
        self._idle = idle

    async def chunks(self) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(self._chunks):
            if i and self._delay:
                if self._delay > self._idle:
                    await anyio.sleep(self._idle)
                    raise UpstreamTimeoutError(f"upstream mock sent nothing for {self._idle:g}s (stream idle timeout)")
                await anyio.sleep(self._delay)
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        return None


class MockUpstream:
    """The ``Upstream`` for ``mock://`` URLs: no sockets, deterministic answers."""

    async def _answer(self, request: UpstreamRequest, wait: float) -> _Answer:
        latency = _delay_ms(request.headers, "x-mock-latency-ms") / 1000.0
        if latency > wait:
            await anyio.sleep(wait)
            raise UpstreamTimeoutError(f"upstream mock did not answer within {wait:g}s")
        if latency:
            await anyio.sleep(latency)
        answer = _route(request)
        chunk_delay = _delay_ms(request.headers, "x-mock-chunk-delay-ms")
        return _Answer(answer.status, answer.headers, answer.chunks, chunk_delay)

    async def send(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        answer = await self._answer(request, min(timeouts.first_byte, timeouts.total))
        return UpstreamResponse(answer.status, dict(answer.headers), b"".join(answer.chunks))

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        answer = await self._answer(request, min(timeouts.first_byte, timeouts.total))
        return _MockStream(answer, timeouts.idle)

    async def aclose(self) -> None:
        return None
