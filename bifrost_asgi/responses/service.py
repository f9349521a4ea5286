"""The Responses API's one seam into the gateway's flow: state around a pure dialect.

``prepare`` loads the conversation a ``previous_response_id`` names and parses the request;
``complete`` (whole answers) and ``storing`` (streams) render the answer and store the response
before the client can see it finished; ``retrieve``, ``delete`` and ``input_items`` serve the
stored responses. Routing, retries and fallbacks stay the router's: this module never calls an
upstream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import GatewayError, InvalidRequestError, NotFoundError
from ..neutral import ChatResponse
from ..replies import ChunkStream
from .conversations import Conversations, StoredResponse
from .items import IdFactory, output_items
from .parse import RESPONSES_FORMAT, ResponsesRequest, parse_request, previous_id
from .render import input_items_page, response_object, status_of
from .stream import ResponsesStreamRenderer

_ITEM_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _not_found(response_id: str, param: str | None = None) -> NotFoundError:
    return NotFoundError(f"response '{response_id}' not found", param=param, code="response_not_found")


def with_item_ids(items: Sequence[Mapping[str, Any]], ids: IdFactory) -> list[dict[str, Any]]:
    """Input items as ``input_items`` lists them: each with an id, message content as parts."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message" if "role" in item else "item")
        entry = {"type": kind, **item}
        if kind == "message" and isinstance(item.get("content"), str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            entry["content"] = [{"type": part, "text": item["content"]}]
        entry.setdefault("id", ids(_ITEM_PREFIXES.get(str(kind), "item")))
        out.append(entry)
    return out


class _StoringChunks:
    """A stream's chunks, with the response stored before the chunk holding its terminal event."""

    __slots__ = ("_chunks", "_renderer", "_save")

    def __init__(self, chunks: ChunkStream, renderer: ResponsesStreamRenderer, save: Callable[[], Any]) -> None:
        self._chunks = chunks
        self._renderer = renderer
        self._save = save

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncGenerator[bytes, None]:
        saved = False
        async for chunk in self._chunks:
            if not saved and self._renderer.completed:
                saved = True
                try:
                    await self._save()
                except GatewayError as exc:  # the store is down: say so rather than claim success
                    yield self._renderer.failed_after_finish(exc)
                    return
            yield chunk

    async def aclose(self) -> None:
        await self._chunks.aclose()


class ResponsesService:
    def __init__(
        self,
        conversations: Conversations,
        *,
        ids: IdFactory,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.conversations = conversations
        self._ids = ids
        self._wall_clock = wall_clock

    # ------------------------------------------------------------------ create

    async def prepare(self, payload: Any, owner: str | None) -> ResponsesRequest:
        previous = previous_id(payload)
        if previous is None:
            return parse_request(payload)
        record = await self.conversations.load(previous, owner)
        if record is None:
            return parse_request(payload)  # only an upstream that holds it can continue it
        return parse_request(payload, history=record.history(), upstream_holds=record.upstream_holds)

    def stream_renderer(self, request: ResponsesRequest) -> ResponsesStreamRenderer:
        return ResponsesStreamRenderer(request, self._ids("resp"), int(self._wall_clock()), self._ids)

    def storing(
        self,
        request: ResponsesRequest,
        renderer: ResponsesStreamRenderer,
        chunks: ChunkStream,
        owner: str | None,
        provider: Callable[[], str | None],
    ) -> ChunkStream:
        async def save() -> None:
            if renderer.final is not None and request.store:
                await self._save(
                    request, renderer.final, renderer.stored_output, owner, provider(), renderer.upstream_native
                )

        return _StoringChunks(chunks, renderer, save)

    async def complete(
        self, request: ResponsesRequest, response: ChatResponse, owner: str | None, provider: str | None
    ) -> bytes:
        """The answer's body, stored first when ``store`` is on."""
        if response.raw is not None and response.raw_format == RESPONSES_FORMAT:
            body = response.raw
            if request.store:
                final = _json.loads(body)
                output = [i for i in final.get("output") or () if isinstance(i, dict)]
                await self._save(request, final, output, owner, provider, True)
            return body
        shown, stored = output_items(response.message, self._ids)
        reason = response.choices[0].finish_reason if response.choices else "stop"
        status, incomplete = status_of(reason)
        final = response_object(
            request,
            response_id=self._ids("resp"),
            created_at=response.created or int(self._wall_clock()),
            status=status,
            output=shown,
            usage=response.usage,
            incomplete=incomplete,
        )
        if request.store:
            await self._save(request, final, stored, owner, provider, False)
        return _json.dumps(final)

    async def _save(
        self,
        request: ResponsesRequest,
        final: Mapping[str, Any],
        output: Sequence[Mapping[str, Any]],
        owner: str | None,
        provider: str | None,
        upstream_native: bool,
    ) -> None:
        record = StoredResponse(
            id=str(final.get("id") or ""),
            owner=owner,
            provider=provider,
            model=request.chat.model,
            upstream_holds=upstream_native,
            input=[*request.history, *with_item_ids(request.input_items, self._ids)],
            output=output,
            response=final,
        )
        await self.conversations.save(record)

    # ------------------------------------------------------------------ stored responses

    async def retrieve(self, response_id: str, owner: str | None, query: Mapping[str, str]) -> bytes:
        if query.get("stream") in ("true", "1"):
            raise InvalidRequestError(
                "stream: replaying a stored response as a stream is not supported; retrieve it without stream",
                param="stream",
            )
        record = await self.conversations.load(response_id, owner)
        if record is None:
            raise _not_found(response_id)
        return _json.dumps(record.response)

    async def delete(self, response_id: str, owner: str | None) -> bytes:
        if not await self.conversations.delete(response_id, owner):
            raise _not_found(response_id)
        return _json.dumps({"id": response_id, "object": "response", "deleted": True})

    async def input_items(self, response_id: str, owner: str | None, query: Mapping[str, str]) -> bytes:
        record = await self.conversations.load(response_id, owner)
        if record is None:
            raise _not_found(response_id)
        return _json.dumps(input_items_page(record.input, query))
