"""The Google GenAI (Gemini API) dialect: what the google-genai SDK sends and expects.

Routes live under the ``/genai`` mount for each of ``v1`` (SDK >= 3.0), ``v1beta`` (SDK <= 2.x)
and ``v1alpha``. The model sits in the path as ``models/{model}:{method}``; ``{model:path}``
also matches a ``provider/model`` name, which the SDK puts in the path with a literal slash
(``models/openai/gpt-4o-mini:generateContent``). The client's API key (``x-goog-api-key`` /
``?key=``) is ignored: the gateway sends its own. Streams are served as ``alt=sse`` only (the
SDK always asks for it); the JSON-array stream form is not produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Format,
    ModelInfo,
    Passthrough,
    replace,
)
from .base import Call, ErrorReply, RouteSpec, StreamRenderer
from .genai_fields import (
    as_list,
    as_object,
    as_str,
    fail,
    get,
    model_from_path,
    opt_int,
    opt_str,
    parse_fallbacks,
    without_gateway_fields,
)
from .genai_render import error_reply, render_response
from .genai_request import parse_generate_request
from .genai_stream import GenAIStreamRenderer
from .paging import genai_page

VERSIONS = ("v1", "v1beta", "v1alpha")
#: Path prefixes served: each API version, and none (litellm's ``gemini/`` provider with
#: ``api_base=http://host/genai`` calls ``/genai/models/...``), which is served as v1beta.
_PREFIXES = (*(f"/{version}" for version in VERSIONS), "")


def _routes() -> tuple[RouteSpec, ...]:
    routes: list[RouteSpec] = []
    for prefix in _PREFIXES:
        model = f"{prefix}/models/{{model:path}}"
        routes += [
            RouteSpec("POST", f"{model}:generateContent", "chat"),
            RouteSpec("POST", f"{model}:streamGenerateContent", "chat", {"stream": True}),
            RouteSpec("POST", f"{model}:countTokens", "count_tokens"),
            RouteSpec("POST", f"{model}:embedContent", "embeddings"),
            RouteSpec("POST", f"{model}:batchEmbedContents", "embeddings", {"batch": True}),
            RouteSpec("GET", f"{prefix}/models", "models"),
            RouteSpec("GET", model, "model", {"single": True}),
        ]
    return tuple(routes)


class GenAIDialect:
    name: Format = "gemini"
    routes: Sequence[RouteSpec] = _routes()

    def parse_chat(self, body: Any, call: Call) -> ChatRequest:
        return parse_generate_request(body, model_from_path(call.path_params), stream=bool(call.options.get("stream")))

    def passthrough_chat(self, body: Any, call: Call) -> Passthrough | None:
        return None  # always the neutral request

    def passthrough_head(self, body: Any, call: Call) -> tuple[str, tuple[str, ...]] | None:
        return None

    def passthrough_renderer(self, request: Passthrough) -> StreamRenderer:
        raise NotImplementedError("this dialect gives no Passthrough")

    def render_chat(self, response: ChatResponse, request: ChatRequest) -> bytes:
        if response.raw is not None and response.raw_format == "gemini" and request.source_format == "gemini":
            return response.raw
        return _json.dumps(render_response(response))

    def stream_renderer(self, request: ChatRequest) -> GenAIStreamRenderer:
        return GenAIStreamRenderer(request)

    def parse_count_tokens(self, body: Any, call: Call) -> ChatRequest:
        """``{"contents": [...]}`` or ``{"generateContentRequest": {...}}``; ``raw`` keeps the
        countTokens body so a Gemini upstream gets it as sent."""
        model = model_from_path(call.path_params)
        outer = as_object(body, "request body")
        inner = get(outer, "generateContentRequest", "generate_content_request")
        if inner is not None:
            chat = parse_generate_request(inner, model, stream=False, path="generateContentRequest.")
        else:
            chat = parse_generate_request(outer, model, stream=False)
        return replace(chat, raw=without_gateway_fields(outer), fallbacks=parse_fallbacks(outer))

    def render_count_tokens(self, tokens: int) -> bytes:
        return _json.dumps({"totalTokens": tokens})

    def parse_embeddings(self, body: Any, call: Call) -> EmbeddingRequest:
        model = model_from_path(call.path_params)
        outer = as_object(body, "request body")
        if call.options.get("batch"):
            requests = as_list(outer.get("requests"), "requests")
            if not requests:
                raise fail("requests", "must contain at least one request")
            items = [(as_object(raw, f"requests[{i}]"), f"requests[{i}].") for i, raw in enumerate(requests)]
        else:
            items = [(outer, "")]
        inputs = tuple(_embedding_text(item, path) for item, path in items)
        dimensions = _same(items, "outputDimensionality", "output_dimensionality", opt_int)
        task_type = _same(items, "taskType", "task_type", opt_str)
        return EmbeddingRequest(
            model=model,
            inputs=inputs,
            source_format="gemini",
            dimensions=dimensions,
            task_type=task_type,
            fallbacks=parse_fallbacks(outer),
            raw=without_gateway_fields(outer),
        )

    def render_embeddings(self, response: EmbeddingResponse, request: EmbeddingRequest, call: Call) -> bytes:
        if call.options.get("batch"):
            return _json.dumps({"embeddings": [{"values": list(vector)} for vector in response.vectors]})
        vector = response.vectors[0] if response.vectors else ()
        return _json.dumps({"embedding": {"values": list(vector)}})

    def render_models(self, models: Sequence[ModelInfo], call: Call) -> bytes:
        """Gemini's own models keep their bare id; others are named ``models/provider/model``,
        which the SDK sends back as ``models/provider/model:generateContent``."""
        home = call.default_provider or "gemini"
        if call.options.get("single"):
            if models:
                return _json.dumps(_model_entry(models[0], home))
            fallback = model_from_path(call.path_params)
            return _json.dumps(_model_entry(ModelInfo(id=fallback, provider=home), home))
        page, token = genai_page(models, call.query)
        listed: dict[str, Any] = {"models": [_model_entry(model, home) for model in page]}
        if token is not None:
            listed["nextPageToken"] = token
        return _json.dumps(listed)

    def render_error(self, error: GatewayError) -> ErrorReply:
        return error_reply(error)


def _embedding_text(item: Mapping[str, Any], path: str) -> str:
    content = as_object(item.get("content"), f"{path}content")
    texts: list[str] = []
    for index, raw in enumerate(as_list(content.get("parts"), f"{path}content.parts")):
        here = f"{path}content.parts[{index}]"
        text = as_object(raw, here).get("text")
        if text is None:
            raise fail(here, "only text parts can be embedded through the gateway")
        texts.append(as_str(text, f"{here}.text"))
    if not texts:
        raise fail(f"{path}content.parts", "must contain at least one text part")
    return " ".join(texts)


def _same(items: list[tuple[Mapping[str, Any], str]], camel: str, snake: str, read: Callable[[Any, str], Any]) -> Any:
    """One value for the whole batch: the neutral request has a single ``dimensions``/``task_type``."""
    values = {read(get(item, camel, snake), f"{path}{camel}") for item, path in items}
    if len(values) > 1:
        raise fail(f"requests[].{camel}", "must be the same for every request in a batch")
    return values.pop()


def _model_entry(model: ModelInfo, home: str) -> dict[str, Any]:
    model_id = model.listed_id(home)
    methods = ["generateContent", "streamGenerateContent", "countTokens"]
    if "embed" in model.id:
        methods = ["embedContent", "batchEmbedContents"]
    return {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "displayName": model.display_name or model_id,
        "supportedGenerationMethods": methods,
    }
