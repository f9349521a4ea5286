"""The calls behind GenAI media translation: one OpenAI-format upstream call with the gateway's
key (chosen for the model like chat's), queue slot, retries and admission; no fallbacks (another
provider would answer in another medium)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _json
from ..errors import UpstreamProtocolError
from ..neutral import ChatRequest
from ..providers.base import Provider, UpstreamRequest, json_object
from ..providers.forward import ForwardCall, build_forward
from ..routing.plan import Target
from ..routing.router import ForwardedStream, RequestContext, Router
from ..streaming import encode_sse
from . import translate as t


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    body: bytes
    media_type: str  # a streamed request gets its one answer as one SSE event


class GenAIMedia:
    def __init__(self, router: Router) -> None:
        self._router = router

    async def generate(self, request: ChatRequest, ctx: RequestContext, default: str | None) -> MediaAnswer | None:
        """The ``generateContent`` answer for IMAGE/AUDIO toward an OpenAI-format provider (on
        ``streamGenerateContent`` one SSE event: OpenAI answers once); None when the request goes
        elsewhere as it is (no media asked, or a Gemini upstream)."""
        answer = await self._generate(request, ctx, default)
        if answer is None:
            return None
        if request.stream:
            return MediaAnswer(encode_sse(_json.dumps(answer)), "text/event-stream")
        return MediaAnswer(_json.dumps(answer), "application/json")

    async def _generate(self, request: ChatRequest, ctx: RequestContext, default: str | None) -> Any:
        kind = t.media_kind(request)
        if kind is None:
            return None
        router = self._router
        target = router.planner.plan(request.model, request.fallbacks, default_provider=default, rng=router.rng)[0]
        runtime = router.providers[target.provider]
        if runtime.impl.format == "gemini":
            return None
        if runtime.impl.format != "openai":
            raise t.fail(t.MODALITIES, f"{kind} toward {target}: provider '{target.provider}' "
                                       f"({runtime.impl.format} format) cannot produce it; use a gemini or "
                                       "OpenAI-format provider")  # fmt: skip
        t.check_pair(request, kind, target.provider, target.model)
        if kind == "IMAGE":
            body = t.generate_image_request(request, target.model)
            _, read = await self._call(target, ctx, "/images/generations", body, "image_generation")
            answer = json_object(read, target.provider, "image generation")
            parts = _some(t.image_parts(answer, t.image_mime(body)), target)
            return t.candidates(parts, target.model, answer.get("usage"))
        body = t.speech_request(request, target.model)
        _, audio = await self._call(target, ctx, "/audio/speech", body, "speech")
        if not audio:
            raise UpstreamProtocolError(f"provider '{target.provider}' answered no audio", provider=target.provider)
        return t.candidates(t.speech_parts(audio), target.model, None)

    async def predict(self, payload: Any, target: Target, ctx: RequestContext) -> tuple[ForwardedStream, bytes]:
        """An Imagen ``:predict`` toward an OpenAI image model: the answer in Imagen's shape."""
        body = t.predict_request(payload, target.model)
        stream, read = await self._call(target, ctx, "/images/generations", body, "image_generation")
        answer = json_object(read, target.provider, "image generation")
        predictions = t.predictions(answer, t.image_mime(body))
        _some(predictions["predictions"], target)
        return stream, _json.dumps(predictions)

    async def _call(
        self, target: Target, ctx: RequestContext, path: str, body: dict[str, Any], method: str
    ) -> tuple[ForwardedStream, bytes]:
        call = ForwardCall("POST", path, headers={"content-type": "application/json"}, body=_json.dumps(body),
                           model=target.model)  # fmt: skip

        def build(impl: Provider, key: Any) -> UpstreamRequest:
            return build_forward(impl, target.provider, call, key)

        answer = await self._router.forward(target, ctx, build, method=method)
        try:
            return answer, await answer.stream.read()
        finally:
            await answer.aclose()


def _some(parts: list[dict[str, Any]], target: Target) -> list[dict[str, Any]]:
    if not parts:
        raise UpstreamProtocolError(f"provider '{target.provider}' answered no image", provider=target.provider)
    return parts
