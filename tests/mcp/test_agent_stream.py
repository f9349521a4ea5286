"""The streamed agent loop on scripted model streams (no sockets): one start, per-stream usage
summed, tool rounds between streams, and a close from another task while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from bifrost_asgi.mcp.agent import AgentPolicy, AgentRun
from bifrost_asgi.mcp.agent_stream import AgentStream
from bifrost_asgi.neutral import (
    ChatRequest,
    Finish,
    Message,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
    UsageUpdate,
)

REQUEST = ChatRequest("m", (Message("user", (TextPart("hi"),)),), stream=True)


class Script:
    def __init__(self, events: Sequence[StreamEvent], gate: asyncio.Event | None = None) -> None:
        self._events = events
        self._gate = gate
        self.closed = False

    async def events(self) -> AsyncIterator[StreamEvent]:
        for event in self._events:
            if self._gate is not None and isinstance(event, Finish):
                await self._gate.wait()
            yield event

    async def aclose(self) -> None:
        self.closed = True


def calling(name: str) -> list[StreamEvent]:
    return [StreamStart("s1", "m"), TextDelta("let me look. "), ToolCallStart(0, "c1", name), ToolCallDelta(0, "{}"),
            Finish("tool_calls"), UsageUpdate(Usage(5, 1)), UsageUpdate(Usage(10, 2))]  # fmt: skip


ANSWER: list[StreamEvent] = [StreamStart("s2", "m"), TextDelta("sunny"), Finish("stop"), UsageUpdate(Usage(20, 3))]


async def ok(call: ToolCall) -> ToolResult:
    return ToolResult(call.id, (TextPart("21C"),), name=call.name)


def agent(first: Script, nexts: list[Script], runs: list[AgentRun], auto: bool = True) -> AgentStream:
    opened: list[ChatRequest] = []

    async def open_stream(request: ChatRequest) -> Script:
        opened.append(request)
        return nexts.pop(0)

    return AgentStream(REQUEST, first, open_stream, ok, AgentPolicy(lambda n: auto, 3), runs.append)


@pytest.mark.anyio
async def test_two_rounds_become_one_stream_with_summed_usage() -> None:
    runs: list[AgentRun] = []
    second = Script(ANSWER)
    stream = agent(Script(calling("fs-read")), [second], runs)
    events = [e async for e in stream.events()]
    assert [type(e).__name__ for e in events] == ["StreamStart", "TextDelta", "TextDelta", "Finish", "UsageUpdate"]
    assert events[-1] == UsageUpdate(Usage(30, 5))  # each stream's last usage, summed
    assert runs[0].rounds == 1 and second.closed


@pytest.mark.anyio
async def test_not_auto_calls_come_out_unchanged() -> None:
    runs: list[AgentRun] = []
    events = [e async for e in agent(Script(calling("web-x")), [], runs, auto=False).events()]
    assert [type(e).__name__ for e in events][-4:] == ["ToolCallStart", "ToolCallDelta", "Finish", "UsageUpdate"]
    assert runs[0].rounds == 0


@pytest.mark.anyio
async def test_close_from_another_task_while_running() -> None:
    gate = asyncio.Event()
    first = Script(calling("fs-read"), gate)
    stream = agent(first, [Script(ANSWER)], [])
    seen: list[StreamEvent] = []

    async def relay() -> None:
        async for event in stream.events():
            seen.append(event)

    task = asyncio.ensure_future(relay())
    while len(seen) < 2:
        await asyncio.sleep(0)
    await stream.aclose()  # the relay is suspended inside the loop: must not raise
    gate.set()
    await asyncio.wait_for(task, 10)
    assert first.closed and not any(isinstance(e, Finish) for e in seen)
