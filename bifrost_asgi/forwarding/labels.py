"""The model a forwarded call is reported under — the request log line, the ``model`` metric label
and ``x-bifrost-model`` — decided from the request before it is sent (so a failed call is named
too). The model the request names: an Azure deployment or GenAI path model, the JSON body's
``model``, the multipart ``model`` field (read only when it comes before the uploaded file, as
SDKs send it: the upload itself is never searched; after it, "unknown"), a GenAI passthrough
path's ``models/{name}``. A call that names none is reported as its kind (``files``,
``batches``, ``media``, ``passthrough``; GenAI uploads are ``files``). A name that is not a plain
model id (odd characters, over 128 characters) is "unknown": labels stay bounded and never carry a
file name or free text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .. import _json
from . import multipart
from .routes import ForwardSpec, Kind

UNKNOWN: Final = "unknown"
KIND_LABELS: Final[Mapping[Kind, str]] = {
    "file": "files",
    "batch": "batches",
    "media": "media",
    "passthrough": "passthrough",
    "upload": "files",
}
_PLAIN = re.compile(r"[A-Za-z0-9][\w.:/@+-]{0,127}")
_PATH_MODEL = re.compile(r"(?:^|/)models/([^/:]+)")


def call_label(spec: ForwardSpec, path_params: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> str:
    named = path_params.get("deployment") or (path_params.get("model") if spec.model == "path" else None)
    if not named:
        content_type = headers.get("content-type", "")
        if spec.model == "form":
            named = multipart.read_field(body, content_type, "model")  # routing reads it anyway
        elif spec.model == "json" or (spec.kind == "passthrough" and "json" in content_type):
            named = _json_model(body)
        elif spec.kind == "passthrough" and content_type.startswith("multipart/"):
            named = multipart.leading_field(body, content_type, "model")
            if named is None:
                return UNKNOWN
        if not named and spec.kind == "passthrough":
            found = _PATH_MODEL.search(path_params.get("path", ""))
            named = found.group(1) if found else None
    if not named:
        return KIND_LABELS.get(spec.kind, UNKNOWN)
    return named if _PLAIN.fullmatch(named) else UNKNOWN


def _json_model(body: bytes) -> str | None:
    if not body:
        return None
    try:
        payload = _json.loads(body)
    except ValueError:
        return None  # the forwarder (or the upstream) answers the bad body
    value = payload.get("model") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None
