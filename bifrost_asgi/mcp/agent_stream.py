"""Agent mode for streamed requests (beyond Bifrost, whose agent mode is non-streamed only).

The client sees one stream in its dialect: one start, the text and reasoning of every round as it
arrives, and at the end the final finish and the usage summed over every model call. Tool-call
events are held until their round ends: calls that run by themselves never reach the client; the
others come out as in ``agent.run_agent`` (unchanged when nothing ran, else after a JSON summary of
the results with finish "stop"). Between rounds the tools run and the next model stream opens
(through the router, so retries and fallbacks apply). Closing the stream (a client that left)
stops the loop: the open upstream stream is closed and running tool calls are cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import GatewayError
from ..neutral import (
    ChatRequest,
    Finish,
    Message,
    Part,
    ReasoningDelta,
    ReasoningPart,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    UpstreamFrame,
    Usage,
    UsageUpdate,
)
from .agent import AgentPolicy, AgentRun, Execute, run_calls, split_calls, summary
from .history import next_request


class EventSource(Protocol):
    def events(self) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


OpenStream = Callable[[ChatRequest], Awaitable[EventSource]]


@dataclass(slots=True)
class _Round:
    """One model stream, gathered: what the client was not shown yet, and the assistant turn."""

    text: list[str] = field(default_factory=list)
    reasoning: list[ReasoningDelta] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, arguments, signature]
    held: list[StreamEvent] = field(default_factory=list)
    finish: Finish | None = None
    usage: Usage | None = None

    def add_call(self, event: ToolCallStart | ToolCallDelta) -> None:
        self.held.append(event)
        if isinstance(event, ToolCallStart):
            self.calls[event.index] = [event.id, event.name, "", event.signature or ""]
        elif event.index in self.calls:
            self.calls[event.index][2] += event.arguments

    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(i, n, a or "{}", s or None) for i, n, a, s in (self.calls[k] for k in sorted(self.calls))]

    def message(self) -> Message:
        parts: list[Part] = []
        if self.reasoning:
            signature = next((r.signature for r in reversed(self.reasoning) if r.signature), None)
            redacted = next((r.redacted for r in self.reasoning if r.redacted), None)
            parts.append(ReasoningPart("".join(r.text for r in self.reasoning), signature, redacted))
        if self.text:
            parts.append(TextPart("".join(self.text)))
        parts.extend(self.tool_calls())
        return Message("assistant", tuple(parts))


def _calls_events(calls: list[ToolCall]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for index, call in enumerate(calls):
        out.append(ToolCallStart(index, call.id, call.name, call.signature))
        out.append(ToolCallDelta(index, call.arguments))
    return out


class AgentStream:
    """Several model streams and the tool rounds between them, as one stream of events."""

    def __init__(
        self,
        request: ChatRequest,
        first: EventSource,
        open_stream: OpenStream,
        execute: Execute,
        policy: AgentPolicy,
        on_done: Callable[[AgentRun], None],
    ) -> None:
        self._request = request
        self._current: EventSource | None = first
        self._open = open_stream
        self._execute = execute
        self._policy = policy
        self._on_done = on_done
        self.run = AgentRun()
        self._results: list[ToolResult] = []  # of the last round, for the next model call
        self._generator: AsyncGenerator[StreamEvent, None] | None = None
        self._closed = False

    def events(self) -> AsyncIterator[StreamEvent]:
        self._generator = self._events()
        return self._generator

    async def batches(self) -> AsyncIterator[Sequence[StreamEvent]]:
        """One event at a time: the loop decides between model streams what comes next."""
        async for event in self.events():
            yield (event,)

    async def aclose(self) -> None:
        """Stop: close the open model stream (which wakes a relay reading it) and end the loop. Safe
        while another task iterates (gateway shutdown): the running loop sees ``_closed``."""
        self._closed = True
        current, self._current = self._current, None
        if current is not None:
            await current.aclose()
        generator = self._generator
        if generator is not None and not getattr(generator, "ag_running", False):
            await generator.aclose()

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        request, run, started = self._request, self.run, False
        try:
            while self._current is not None:
                current = self._current
                gathered = _Round()
                async for event in current.events():
                    if isinstance(event, StreamStart):
                        if not started:
                            started = True
                            yield event
                    elif isinstance(event, StreamFailure):
                        yield event
                        return
                    elif isinstance(event, UsageUpdate):
                        gathered.usage = event.usage  # usage so far: the stream's last one is its total
                    elif isinstance(event, Finish):
                        gathered.finish = event
                    elif isinstance(event, ToolCallStart | ToolCallDelta):
                        gathered.add_call(event)
                    elif not isinstance(event, UpstreamFrame):  # verbatim frames would bypass the loop
                        if isinstance(event, TextDelta):
                            gathered.text.append(event.text)
                        elif isinstance(event, ReasoningDelta):
                            gathered.reasoning.append(event)
                        yield event
                self._current = None
                await current.aclose()
                run.add_usage(gathered.usage)
                ending = await self._round_end(request, gathered)
                if ending is not None:
                    for event in ending:
                        yield event
                    return
                if self._closed:
                    return
                request = next_request(request, gathered.message(), self._results)
                try:
                    self._current = await self._open(request)
                except GatewayError as exc:
                    yield StreamFailure(exc)
                    return
        finally:
            self._on_done(run)

    async def _round_end(self, request: ChatRequest, gathered: _Round) -> list[StreamEvent] | None:
        """The closing events when the loop ends after this round; None to call the model again."""
        run = self.run
        calls = gathered.tool_calls()
        auto, pending = split_calls(calls, self._policy)
        if auto and run.rounds >= self._policy.max_depth:
            run.exhausted = True
        if not auto or run.exhausted:
            if pending and run.executed and not auto:
                return self._rebuilt(pending)
            return [*gathered.held, gathered.finish or Finish("stop"), *self._usage()]
        results = self._results = await run_calls(auto, self._execute)
        run.executed.extend(zip(auto, results, strict=True))
        run.rounds += 1
        return self._rebuilt(pending) if pending else None

    def _rebuilt(self, pending: list[ToolCall]) -> list[StreamEvent]:
        return [TextDelta(summary(self.run.executed)), *_calls_events(pending), Finish("stop"), *self._usage()]

    def _usage(self) -> list[StreamEvent]:
        return [UsageUpdate(self.run.usage)] if self.run.usage is not None else []
