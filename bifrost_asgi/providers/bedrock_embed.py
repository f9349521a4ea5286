"""Bedrock embeddings through ``InvokeModel`` (pure): Amazon Titan and Cohere Embed bodies.

Titan (``amazon.titan-embed-*``) embeds one text per call: ``{"inputText", "dimensions"?,
"normalize": true}`` -> ``{"embedding", "inputTextTokenCount"}``; a request with several inputs
is refused (400) rather than silently split. Cohere (``cohere.embed-*``) embeds a list:
``{"texts", "input_type"}`` -> ``{"embeddings": [[...]] | {"float": [[...]]}}``; the input type
comes from the request's task type (search_document by default).
"""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedFeatureError, UpstreamProtocolError
from ..neutral import EmbeddingRequest, EmbeddingResponse, Usage
from ..wire.converse import invoke_path
from .cohere_wire import input_type

embedding_path = invoke_path


def _family(model_id: str, provider: str) -> str:
    if "titan-embed" in model_id:
        return "titan"
    if "cohere.embed" in model_id:
        return "cohere"
    raise UnsupportedFeatureError(
        f"{provider}: {model_id} is not a Bedrock embedding model this gateway speaks (amazon.titan-embed-*, "
        "cohere.embed-*)",
        param="model",
        provider=provider,
    )


def _texts(request: EmbeddingRequest, provider: str) -> list[str]:
    texts: list[str] = []
    for i, text in enumerate(request.inputs):
        if not isinstance(text, str):
            raise UnsupportedFeatureError(
                f"input[{i}]: Bedrock embeds text, not token ids", param=f"input[{i}]", provider=provider
            )
        texts.append(text)
    return texts


def build_embedding_body(request: EmbeddingRequest, model_id: str, provider: str) -> dict[str, Any]:
    texts = _texts(request, provider)
    if _family(model_id, provider) == "titan":
        if len(texts) != 1:
            raise UnsupportedFeatureError(
                f"input: Titan embeddings take one text per request, got {len(texts)}; send them one at a time "
                "or use a Cohere embed model",
                param="input",
                provider=provider,
            )
        body: dict[str, Any] = {"inputText": texts[0]}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
            body["normalize"] = True
        return body
    if request.dimensions is not None and "v4" not in model_id:
        raise UnsupportedFeatureError(
            f"dimensions: {model_id} has a fixed embedding size", param="dimensions", provider=provider
        )
    body = {"texts": texts, "input_type": input_type(request.task_type)}
    if request.dimensions is not None:
        body["output_dimension"] = request.dimensions
    return body


def _vector(values: Any, provider: str) -> tuple[float, ...]:
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise UpstreamProtocolError(f"{provider} returned an embedding without values", provider=provider)
    return tuple(float(v) for v in values)


def parse_embedding_body(
    body: dict[str, Any], request: EmbeddingRequest, model: str, provider: str
) -> EmbeddingResponse:
    if "embedding" in body:
        tokens = body.get("inputTextTokenCount")
        usage = Usage(input_tokens=tokens) if isinstance(tokens, int) else None
        return EmbeddingResponse(model=model, vectors=(_vector(body["embedding"], provider),), usage=usage)
    embeddings = body.get("embeddings")
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list):
        raise UpstreamProtocolError(f"{provider} returned no embeddings", provider=provider)
    return EmbeddingResponse(model=model, vectors=tuple(_vector(v, provider) for v in embeddings))
