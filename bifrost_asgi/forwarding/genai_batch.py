"""GenAI ``:batchGenerateContent`` bodies: inline requests may name their own ``model``
(``models/gemini-2.5-flash`` or ``models/gemini/gemini-2.5-flash``); each is resolved like the
path's model and rewritten to the upstream name, and must reach the provider the batch goes to.
Pure: the resolver is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _json
from ..dialects.validate import check_model_name
from ..errors import InvalidRequestError
from ..routing.plan import Target

_WHERE = "batch.inputConfig.requests.requests[{}].request.model"


def inline_models(body: bytes, target: Target, resolve: Callable[[str], Target]) -> bytes:
    """``body`` with every inline request's ``model`` rewritten for ``target``'s provider; a 400
    naming the request index for a bad name or one that routes elsewhere."""
    if b'"model"' not in body:
        return body
    try:
        payload = _json.loads(body)
    except ValueError:
        raise InvalidRequestError("request body is not valid JSON") from None
    changed = False
    for index, request in enumerate(_inline_requests(payload)):
        model = request.get("model")
        if model is None:
            continue
        where = _WHERE.format(index)
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(f"{where}: a model name string is required", param=where)
        name = model.removeprefix("models/")
        check_model_name(name, where)
        resolved = resolve(name)
        if resolved.provider != target.provider:
            raise InvalidRequestError(
                f"{where}: '{name}' routes to provider '{resolved.provider}', but this batch goes to "
                f"'{target.provider}' (one batch is sent to one provider): name a model of '{target.provider}'",
                param=where,
            )
        upstream = "models/" + resolved.model
        if upstream != model:
            request["model"] = upstream
            changed = True
    return _json.dumps(payload) if changed else body


def _inline_requests(payload: Any) -> list[dict[str, Any]]:
    batch = payload.get("batch") if isinstance(payload, dict) else None
    source = batch.get("inputConfig") if isinstance(batch, dict) else None
    holder = source.get("requests") if isinstance(source, dict) else None
    items = holder.get("requests") if isinstance(holder, dict) else None
    if not isinstance(items, list):
        return []
    found: list[dict[str, Any]] = []
    for item in items:
        request = item.get("request") if isinstance(item, dict) else None
        found.append(request if isinstance(request, dict) else {})
    return found
