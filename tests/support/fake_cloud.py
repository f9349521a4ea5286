"""The fake's cloud vendors: AWS Bedrock (Converse, event-stream, InvokeModel embeddings), Google
Vertex AI (Gemini and Anthropic publishers, and the OAuth token endpoint) and Cohere v2.

Each checks what the real service checks before answering: Bedrock recomputes the SigV4
signature (``cloud_auth.verify_sigv4``) or takes a Bedrock API key; Vertex accepts only bearer
tokens its own ``/token`` endpoint minted for the test service account, after verifying the
JWT-bearer assertion's RS256 signature; Cohere wants its bearer key. Answers follow the fake's
rules (``fake_answers``): ``"{vendor} says: ..."``, a tool call to the first tool, usage 11/7.

Routes::

    Bedrock  POST /model/{modelId}/converse | /converse-stream | /invoke
    Vertex   POST /v1/projects/{p}/locations/{r}/publishers/google/models/{m}:generateContent
                  | :streamGenerateContent?alt=sse
             POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:rawPredict
                  | :streamRawPredict, .../models/count-tokens:rawPredict
    OAuth    POST /token  (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer)
    Cohere   POST /v2/chat (SSE when streamed), /v2/embed  (Authorization: Bearer FAKE_COHERE_KEY)
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from bifrost_asgi.wire.converse import CONTENT_TYPE_STREAM, encode_event, encode_exception
from tests.support.cloud_auth import AuthFailure, AwsIdentity, ServiceAccount, verify_sigv4
from tests.support.fake_answers import (
    FAKE_COMPLETION_TOKENS,
    FAKE_PROMPT_TOKENS,
    FAKE_TOOL_ARG_PIECES,
    FAKE_TOOL_ARGS,
    FAKE_TOTAL_TOKENS,
    Ctx,
    Invalid,
    Planned,
    _anthropic_messages,
    _gemini_generate,
    dumps,
    fake_embedding,
    fake_text,
    fake_tool_result_text,
    gemini_error_body,
    split_text,
)

FAKE_AWS = AwsIdentity("AKIAFAKEGATEWAY00001", "fake/secret+key/0123456789abcdefghijklmn")
FAKE_AWS_TEMPORARY = AwsIdentity(
    "ASIAFAKEGATEWAY00002", "temp/secret+key/abcdefghij0123456789", "FQoGZXIvYXdzEfake//token"
)
FAKE_BEDROCK_API_KEY = "ABSKfakeBedrockApiKey0001"
FAKE_BEDROCK_TOOL_USE_ID = "tooluse_fake_1"
FAKE_COHERE_KEY = "co-fake-key-0001"
FAKE_COHERE_TOOL_CALL_ID = "get_weather_fake_1"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"

_BEDROCK = re.compile(r"/model/([^/]+)/(converse|converse-stream|invoke)$")
_VERTEX = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/(google|anthropic)/models/([^/:]+):(\w+)$")


@dataclass
class CloudAccounts:
    """Who the fake clouds accept; ``tokens`` are the bearer tokens ``/token`` has issued."""

    aws: dict[str, AwsIdentity] = field(
        default_factory=lambda: {i.access_key: i for i in (FAKE_AWS, FAKE_AWS_TEMPORARY)}
    )
    bedrock_api_keys: set[str] = field(default_factory=lambda: {FAKE_BEDROCK_API_KEY})
    tokens: dict[str, str] = field(default_factory=dict)  # token -> client_email
    token_lifetime: int = 3600
    _service_account: ServiceAccount | None = None
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service_account(self, token_uri: str) -> ServiceAccount:
        """The test service account (its key pair generated on first use) for ``token_uri``."""
        with self._lock:
            if self._service_account is None or self._service_account.token_uri != token_uri:
                self._service_account = ServiceAccount(token_uri)
            return self._service_account

    @property
    def issued(self) -> int:
        return len(self.tokens)


def cloud_vendor(path: str) -> str | None:
    if _BEDROCK.search(path):
        return "bedrock"
    if _VERTEX.search(path):
        return "vertex"
    if path.rstrip("/").endswith("/token"):
        return "google-oauth"
    if path.rstrip("/").endswith(("/v2/chat", "/v2/embed")):
        return "cohere"
    return None


def cloud_answer(vendor: str, ctx: Ctx, accounts: CloudAccounts, base_url: str) -> Planned:
    try:
        if vendor == "bedrock":
            return _bedrock(ctx, accounts)
        if vendor == "vertex":
            return _vertex(ctx, accounts)
        if vendor == "cohere":
            return _cohere(ctx)
        return _token(ctx, accounts, base_url)
    except AuthFailure as exc:
        return _failure(vendor, exc.status, exc.error_type, exc.message)
    except Invalid as exc:
        kind = "ValidationException" if exc.status == 400 else "ResourceNotFoundException"
        return _failure(vendor, exc.status, kind, exc.message)


def _failure(vendor: str, status: int, error_type: str, message: str) -> Planned:
    if vendor == "bedrock":
        headers = {"content-type": "application/json", "x-amzn-errortype": f"{error_type}:http://internal.amazon.com/"}
        return Planned(status, headers, [dumps({"message": message}).encode()], streaming=False)
    if vendor == "cohere":
        return Planned(status, {"content-type": "application/json"}, [dumps({"message": message}).encode()],
                       streaming=False)  # fmt: skip
    if vendor == "google-oauth":
        body = {"error": error_type, "error_description": message}
        return Planned(status, {"content-type": "application/json"}, [dumps(body).encode()], streaming=False)
    return Planned(status, {"content-type": "application/json"}, [dumps(gemini_error_body(status, message)).encode()],
                   streaming=False)  # fmt: skip


# --------------------------------------------------------------------------- Bedrock


def _bedrock_auth(ctx: Ctx, accounts: CloudAccounts) -> None:
    authorization = ctx.headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        if authorization.removeprefix("Bearer ").strip() not in accounts.bedrock_api_keys:
            raise AuthFailure(403, "UnrecognizedClientException", "Invalid API Key format or key not found")
        return
    verify_sigv4(
        method=ctx.method, path=ctx.path, query=urlencode(dict(ctx.query)), headers=ctx.headers, body=ctx.raw_body,
        identities=accounts.aws, service="bedrock",
    )  # fmt: skip


def _blocks_text(blocks: Any, kind: str = "text") -> str:
    if not isinstance(blocks, list):
        return ""
    return " ".join(str(b[kind]) for b in blocks if isinstance(b, dict) and kind in b)


def _bedrock_validate_cache_points(body: dict[str, Any]) -> None:
    """A ``cachePoint`` is ``{type: default, ttl?: 5m|1h}`` and closes content before it; at most four."""
    lists = [("system", body.get("system")), ("toolConfig.tools", (body.get("toolConfig") or {}).get("tools"))]
    lists += [(f"messages.{i}.content", m.get("content")) for i, m in enumerate(body.get("messages") or [])]
    points = 0
    for where, blocks in lists:
        for j, block in enumerate(blocks if isinstance(blocks, list) else []):
            if not isinstance(block, dict) or "cachePoint" not in block:
                continue
            point = block["cachePoint"]
            if not isinstance(point, dict) or point.get("type") != "default" or set(point) - {"type", "ttl"}:
                raise Invalid(400, f"{where}.{j}.cachePoint: type must be 'default'")
            if point.get("ttl", "5m") not in ("5m", "1h"):
                raise Invalid(400, f"{where}.{j}.cachePoint.ttl: Member must satisfy enum value set: [5m, 1h]")
            if j == 0:
                raise Invalid(400, f"{where}.{j}: a cache point must follow the content it caches")
            points += 1
    if points > 4:
        raise Invalid(400, f"The number of cache points ({points}) exceeds the maximum of 4.")


def _bedrock_validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(400, "Malformed input request, please reformat your input and try again.")
    _bedrock_validate_cache_points(body)
    if "model" in body or "modelId" in body:
        raise Invalid(400, "extraneous key [model] is not permitted")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(400, "The messages field is required")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if roles[0] != "user" or any(a == b for a, b in itertools.pairwise(roles)):
        raise Invalid(400, "A conversation must start with a user message and alternate user and assistant turns.")
    tool_blocks = False
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid(400, f"messages.{i}.content: at least one content block is required")
        for block in content:
            if not isinstance(block, dict) or len(block) != 1:
                raise Invalid(400, f"messages.{i}.content: each block must have exactly one member")
            if "text" in block and not block["text"]:
                raise Invalid(400, f"messages.{i}.content: text blocks must be non-empty")
            tool_blocks = tool_blocks or "toolUse" in block or "toolResult" in block
    if tool_blocks and not (body.get("toolConfig") or {}).get("tools"):
        raise Invalid(400, "The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    return body


def _bedrock_decide(body: dict[str, Any]) -> tuple[str, str | None]:
    """(text, tool name or None)."""
    last = body["messages"][-1]
    results = [b["toolResult"] for b in last["content"] if "toolResult" in b]
    if last["role"] == "user" and results:
        return fake_tool_result_text("bedrock", " ".join(_blocks_text(r.get("content")) for r in results)), None
    tools = (body.get("toolConfig") or {}).get("tools") or []
    if tools and last["role"] == "user":
        return "", str(tools[0]["toolSpec"]["name"])
    users = [m for m in body["messages"] if m["role"] == "user"]
    return fake_text("bedrock", _blocks_text(users[-1]["content"])), None


BEDROCK_USAGE = {"inputTokens": FAKE_PROMPT_TOKENS, "outputTokens": FAKE_COMPLETION_TOKENS,
                 "totalTokens": FAKE_TOTAL_TOKENS}  # fmt: skip


def _bedrock(ctx: Ctx, accounts: CloudAccounts) -> Planned:
    _bedrock_auth(ctx, accounts)
    match = _BEDROCK.search(ctx.path)
    assert match is not None
    model_id, operation = unquote(match.group(1)), match.group(2)
    if operation == "invoke":
        return _bedrock_embed(ctx, model_id)
    body = _bedrock_validate(ctx.body)
    text, tool = _bedrock_decide(body)
    stop = "tool_use" if tool else "end_turn"
    headers = {"x-amzn-requestid": f"fake-bedrock-request-{ctx.seq}"}
    if operation == "converse":
        block: dict[str, Any] = (
            {"toolUse": {"toolUseId": FAKE_BEDROCK_TOOL_USE_ID, "name": tool, "input": dict(FAKE_TOOL_ARGS)}}
            if tool else {"text": text}
        )
        answer = {"output": {"message": {"role": "assistant", "content": [block]}}, "stopReason": stop,
                  "usage": BEDROCK_USAGE, "metrics": {"latencyMs": 12}}  # fmt: skip
        return Planned(200, {"content-type": "application/json", **headers}, [dumps(answer).encode()], streaming=False)
    frames = [encode_event("messageStart", {"role": "assistant", "p": "abcd"})]
    if tool:
        start = {"toolUse": {"toolUseId": FAKE_BEDROCK_TOOL_USE_ID, "name": tool}}
        frames.append(encode_event("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
        frames += [encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}})
                   for piece in FAKE_TOOL_ARG_PIECES]  # fmt: skip
    else:
        frames += [encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
                   for piece in split_text(text)]  # fmt: skip
    frames.append(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(encode_event("messageStop", {"stopReason": stop}))
    frames.append(encode_event("metadata", {"usage": BEDROCK_USAGE, "metrics": {"latencyMs": 12}}))
    error = encode_exception("throttlingException", "Too many requests, please wait before trying again.")
    return Planned(200, {"content-type": CONTENT_TYPE_STREAM, **headers}, frames, streaming=True, inband_error=error)


def _bedrock_embed(ctx: Ctx, model_id: str) -> Planned:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "titan-embed" in model_id:
        if not isinstance(body.get("inputText"), str):
            raise Invalid(400, "Malformed input request: required key [inputText] not found")
        answer: dict[str, Any] = {"embedding": fake_embedding(0, int(body.get("dimensions") or 3)),
                                  "inputTextTokenCount": FAKE_PROMPT_TOKENS}  # fmt: skip
    elif "cohere.embed" in model_id:
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not isinstance(body.get("input_type"), str):
            raise Invalid(400, "Malformed input request: texts and input_type are required")
        answer = {"id": "fake-embed", "embeddings": [fake_embedding(i) for i in range(len(texts))], "texts": texts,
                  "response_type": "embeddings_floats"}  # fmt: skip
    else:
        raise Invalid(404, f"The provided model identifier is invalid: {model_id}")
    return Planned(200, {"content-type": "application/json"}, [dumps(answer).encode()], streaming=False)


# --------------------------------------------------------------------------- Google OAuth and Vertex


def _token(ctx: Ctx, accounts: CloudAccounts, base_url: str) -> Planned:
    form = dict(parse_qsl(ctx.raw_body.decode()))
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        raise AuthFailure(400, "unsupported_grant_type", "Invalid grant_type")
    account = accounts.service_account(base_url + "/token")
    claims = account.verify_assertion(form.get("assertion", ""))
    token = f"ya29.fake-{next(accounts._counter)}"
    with accounts._lock:
        accounts.tokens[token] = str(claims["iss"])
    answer = {"access_token": token, "expires_in": accounts.token_lifetime, "token_type": "Bearer"}
    return Planned(200, {"content-type": "application/json"}, [dumps(answer).encode()], streaming=False)


def _vertex(ctx: Ctx, accounts: CloudAccounts) -> Planned:
    token = ctx.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token not in accounts.tokens:
        raise AuthFailure(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    match = _VERTEX.search(ctx.path)
    assert match is not None
    _project, _region, publisher, model, method = match.groups()
    body = ctx.body if isinstance(ctx.body, dict) else None
    if body is None:
        raise Invalid(400, "Invalid JSON payload received.")
    if publisher == "google" and method == "predict":
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances or not all(isinstance(i.get("content"), str)
                                                                       for i in instances):
            raise Invalid(400, "instances[].content is required")
        dims = int((body.get("parameters") or {}).get("outputDimensionality") or 3)
        predictions = [{"embeddings": {"values": fake_embedding(i, dims), "statistics": {"token_count": 4}}}
                       for i in range(len(instances))]  # fmt: skip
        return Planned(200, {"content-type": "application/json"}, [dumps({"predictions": predictions}).encode()],
                       streaming=False)  # fmt: skip
    if publisher == "google":
        if method not in ("generateContent", "streamGenerateContent"):
            raise Invalid(404, f"Method not found: {method}")
        return _gemini_generate(ctx, body, model, stream=method == "streamGenerateContent")
    if "model" in body and model != "count-tokens":
        raise Invalid(400, "model: Extra inputs are not permitted (the model is in the URL)")
    if body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        raise Invalid(400, f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r}")
    if model == "count-tokens":
        answer = dumps({"input_tokens": FAKE_PROMPT_TOKENS}).encode()
        return Planned(200, {"content-type": "application/json"}, [answer], streaming=False)
    streaming = method == "streamRawPredict"
    if method not in ("rawPredict", "streamRawPredict") or streaming != (body.get("stream") is True):
        raise Invalid(400, f"{method}: stream must be true exactly for streamRawPredict")
    if not isinstance(body.get("max_tokens"), int):
        raise Invalid(400, "max_tokens: Field required")
    return _anthropic_messages(ctx, {**body, "model": model})


# --------------------------------------------------------------------------- Cohere v2


def _cohere(ctx: Ctx) -> Planned:
    key = ctx.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if key != FAKE_COHERE_KEY:
        raise AuthFailure(401, "unauthorized", "invalid api token")
    body = ctx.body if isinstance(ctx.body, dict) else None
    if body is None or not isinstance(body.get("model"), str):
        raise Invalid(400, "invalid request: model must be a string")
    if ctx.path.endswith("/v2/embed"):
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not isinstance(body.get("input_type"), str):
            raise Invalid(400, "invalid request: texts and input_type are required")
        answer = {"id": "fake-embed", "embeddings": {"float": [fake_embedding(i) for i in range(len(texts))]},
                  "texts": texts, "meta": {"billed_units": {"input_tokens": FAKE_PROMPT_TOKENS}}}  # fmt: skip
        return Planned(200, {"content-type": "application/json"}, [dumps(answer).encode()], streaming=False)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(400, "invalid request: messages must not be empty")
    for i, message in enumerate(messages):
        if message.get("role") == "tool" and not message.get("tool_call_id"):
            raise Invalid(400, f"invalid request: messages[{i}].tool_call_id is required")
        if message.get("role") == "assistant" and not (message.get("content") or message.get("tool_calls")):
            raise Invalid(400, f"invalid request: messages[{i}] needs content or tool_calls")
    return _cohere_chat(ctx, body)


def _cohere_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and block.get("type") == "document":
            texts.append(str(block.get("document", {}).get("data", "")))
    return " ".join(texts)


def _cohere_chat(ctx: Ctx, body: dict[str, Any]) -> Planned:
    messages = body["messages"]
    last = messages[-1]
    tools = body.get("tools") or []
    tool: str | None = None
    if last.get("role") == "tool":
        results = [m for m in messages[-len(messages):] if m.get("role") == "tool"]
        text = fake_tool_result_text("cohere", " ".join(_cohere_text(r.get("content")) for r in results[-1:]))
    elif tools and body.get("tool_choice") != "NONE":
        text, tool = "", str(tools[0]["function"]["name"])
    else:
        users = [m for m in messages if m.get("role") == "user"]
        text = fake_text("cohere", _cohere_text(users[-1].get("content")) if users else "")
    usage = {"billed_units": {"input_tokens": FAKE_PROMPT_TOKENS, "output_tokens": FAKE_COMPLETION_TOKENS},
             "tokens": {"input_tokens": FAKE_PROMPT_TOKENS, "output_tokens": FAKE_COMPLETION_TOKENS}}  # fmt: skip
    finish = "TOOL_CALL" if tool else "COMPLETE"
    call = {"id": FAKE_COHERE_TOOL_CALL_ID, "type": "function",
            "function": {"name": tool, "arguments": dumps(FAKE_TOOL_ARGS)}}  # fmt: skip
    if body.get("stream") is not True:
        message: dict[str, Any] = {"role": "assistant"}
        if tool:
            message["tool_calls"] = [call]  # no tool_plan: the matrix compares answers without reasoning
        else:
            message["content"] = [{"type": "text", "text": text}]
        answer = {"id": f"fake-cohere-{ctx.seq}", "finish_reason": finish, "message": message, "usage": usage}
        return Planned(200, {"content-type": "application/json"}, [dumps(answer).encode()], streaming=False)

    def event(kind: str, **data: Any) -> bytes:
        return f"event: {kind}\ndata: {dumps({'type': kind, **data})}\n\n".encode()

    frames = [event("message-start", id=f"fake-cohere-{ctx.seq}", delta={"message": {"role": "assistant"}})]
    if tool:
        start = {**call, "function": {"name": tool, "arguments": ""}}
        frames.append(event("tool-call-start", index=0, delta={"message": {"tool_calls": start}}))
        frames += [event("tool-call-delta", index=0, delta={"message": {"tool_calls": {"function": {"arguments": p}}}})
                   for p in FAKE_TOOL_ARG_PIECES]  # fmt: skip
        frames.append(event("tool-call-end", index=0))
    else:
        frames.append(event("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}}))
        frames += [event("content-delta", index=0, delta={"message": {"content": {"text": piece}}})
                   for piece in split_text(text)]  # fmt: skip
        frames.append(event("content-end", index=0))
    frames.append(event("message-end", delta={"finish_reason": finish, "usage": usage}))
    error = b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal"}}\n\n'
    return Planned(200, {"content-type": "text/event-stream"}, frames, streaming=True, inband_error=error)
