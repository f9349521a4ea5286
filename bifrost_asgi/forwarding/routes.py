"""The forwarded routes, as plain data: which inbound path goes to which vendor path, what kind of
call it is (governance and key choice differ), where its model is, and which object id it
creates or reads (so a later get or cancel reaches the provider and key that made the object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["file", "batch", "media", "passthrough", "upload"]
ModelSource = Literal["json", "form", "path"]


@dataclass(frozen=True, slots=True)
class ForwardSpec:
    method: str
    path: str  # Starlette template relative to the dialect's mount
    vendor: str  # the dialect (and so the provider format) this route belongs to: openai, anthropic, gemini
    kind: Kind
    upstream: str  # vendor path template relative to its versioned root; "{path}": the passthrough rest
    model: ModelSource | None = None  # where the call names its model: JSON or multipart body, or "{model}"
    creates: bool = False  # the JSON answer's ``id_field`` names a new object to remember
    id_field: str = "id"  # GenAI names objects by resource name ("batches/abc"): its last segment is the id
    reads: str | None = None  # the path parameter naming an existing object
    refers: str | None = None  # a JSON body field naming an existing object (a batch's input file)
    links: bool = False  # a JSON answer whose vendor URLs (``results_url``) must point back at the gateway
    inline_models: bool = False  # GenAI batch: each inline request's own ``model`` is resolved and rewritten
    translated: bool = False  # Imagen ``:predict``: toward an OpenAI image model, translated (``genai_media``)


def _openai() -> tuple[ForwardSpec, ...]:
    o = "openai"
    return (
        ForwardSpec("POST", "/v1/files", o, "file", "/files", creates=True),
        ForwardSpec("GET", "/v1/files", o, "file", "/files"),
        ForwardSpec("GET", "/v1/files/{file_id}", o, "file", "/files/{file_id}", reads="file_id"),
        ForwardSpec("DELETE", "/v1/files/{file_id}", o, "file", "/files/{file_id}", reads="file_id"),
        ForwardSpec("GET", "/v1/files/{file_id}/content", o, "file", "/files/{file_id}/content", reads="file_id"),
        ForwardSpec("POST", "/v1/batches", o, "batch", "/batches", creates=True, refers="input_file_id"),
        ForwardSpec("GET", "/v1/batches", o, "batch", "/batches"),
        ForwardSpec("GET", "/v1/batches/{batch_id}", o, "batch", "/batches/{batch_id}", reads="batch_id"),
        ForwardSpec("POST", "/v1/batches/{batch_id}/cancel", o, "batch", "/batches/{batch_id}/cancel",
                    reads="batch_id"),
        ForwardSpec("POST", "/v1/images/generations", o, "media", "/images/generations", model="json"),
        ForwardSpec("POST", "/v1/images/edits", o, "media", "/images/edits", model="form"),
        ForwardSpec("POST", "/v1/images/variations", o, "media", "/images/variations", model="form"),
        ForwardSpec("POST", "/v1/audio/speech", o, "media", "/audio/speech", model="json"),
        ForwardSpec("POST", "/v1/audio/transcriptions", o, "media", "/audio/transcriptions", model="form"),
        ForwardSpec("POST", "/v1/audio/translations", o, "media", "/audio/translations", model="form"),
    )


def _anthropic() -> tuple[ForwardSpec, ...]:
    a = "anthropic"
    batch = "/messages/batches/{batch_id}"
    return (
        ForwardSpec("POST", "/v1/messages/batches", a, "batch", "/messages/batches", creates=True, links=True),
        ForwardSpec("GET", "/v1/messages/batches", a, "batch", "/messages/batches", links=True),
        ForwardSpec("GET", "/v1" + batch, a, "batch", batch, reads="batch_id", links=True),
        ForwardSpec("DELETE", "/v1" + batch, a, "batch", batch, reads="batch_id"),
        ForwardSpec("POST", "/v1" + batch + "/cancel", a, "batch", batch + "/cancel", reads="batch_id", links=True),
        ForwardSpec("GET", "/v1" + batch + "/results", a, "batch", batch + "/results", reads="batch_id"),
        ForwardSpec("POST", "/v1/files", a, "file", "/files", creates=True),
        ForwardSpec("GET", "/v1/files", a, "file", "/files"),
        ForwardSpec("GET", "/v1/files/{file_id}", a, "file", "/files/{file_id}", reads="file_id"),
        ForwardSpec("DELETE", "/v1/files/{file_id}", a, "file", "/files/{file_id}", reads="file_id"),
        ForwardSpec("GET", "/v1/files/{file_id}/content", a, "file", "/files/{file_id}/content", reads="file_id"),
    )


def _genai() -> tuple[ForwardSpec, ...]:
    """GenAI batches, file uploads (``genai_upload.py``) and files under each API version the SDK
    may use; upstream, the provider's own root (``.../v1beta``) decides the version."""
    g = "gemini"
    specs: list[ForwardSpec] = []
    for version in ("/v1", "/v1beta", "/v1alpha"):
        batch = "/batches/{batch_id}"
        specs += (
            ForwardSpec("POST", version + "/models/{model:path}:batchGenerateContent", g, "batch",
                        "/models/{model}:batchGenerateContent", model="path", creates=True, id_field="name",
                        inline_models=True),
            ForwardSpec("GET", version + "/batches", g, "batch", "/batches"),
            ForwardSpec("GET", version + batch, g, "batch", batch, reads="batch_id"),
            ForwardSpec("DELETE", version + batch, g, "batch", batch, reads="batch_id"),
            ForwardSpec("POST", version + batch + ":cancel", g, "batch", batch + ":cancel", reads="batch_id"),
            ForwardSpec("POST", version + "/models/{model:path}:predict", g, "media", "/models/{model}:predict",
                        model="path", translated=True),
            ForwardSpec("POST", "/upload" + version + "/files", g, "upload", "/files"),
            ForwardSpec("GET", version + "/files", g, "file", "/files"),
            ForwardSpec("GET", version + "/files/{file_id}", g, "file", "/files/{file_id}", reads="file_id"),
            ForwardSpec("DELETE", version + "/files/{file_id}", g, "file", "/files/{file_id}", reads="file_id"),
        )  # fmt: skip
    for version in ("/v1", "/v1beta", "/v1alpha", "/v1beta1"):  # the SDK's Vertex (express) mode path
        specs.append(ForwardSpec("POST", version + "/publishers/{publisher}/models/{model:path}:predict", g, "media",
                                 "/models/{model}:predict", model="path", translated=True))  # fmt: skip
    return tuple(specs)


OPENAI_ROUTES = _openai()
ANTHROPIC_ROUTES = _anthropic()
GENAI_ROUTES = _genai()
PASSTHROUGH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def passthrough_routes(vendor: str) -> tuple[ForwardSpec, ...]:
    """Any vendor path under ``/{vendor}_passthrough/``, every method."""
    return tuple(ForwardSpec(m, "/{path:path}", vendor, "passthrough", "{path}") for m in PASSTHROUGH_METHODS)


# Azure OpenAI's deployment paths: the AzureOpenAI SDK puts the model in the path.
AZURE_MEDIA = tuple(
    ForwardSpec(spec.method, "/deployments/{deployment}" + spec.path[3:], "openai", "media", spec.upstream,
                model=spec.model)
    for spec in OPENAI_ROUTES
    if spec.kind == "media"
)
