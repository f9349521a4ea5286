"""Agent mode (Bifrost's ``core/mcp/agent.go`` semantics) around any chat call.

Each round: if the answer has no tool calls, it is final. Calls whose tool is auto-executable
(``tools_to_auto_execute``) run in parallel, each under its timeout; a failed tool is an error
result and the loop goes on. If any call is not auto-executable, the loop returns at once: the
original answer when nothing ran yet, else a rebuilt one (``finish_reason`` "stop", content = a
JSON summary of every result so far, ``tool_calls`` = only the pending calls). Otherwise the model
is called again with the calls and results appended, for at most ``max_depth`` tool rounds; at the
limit the last answer is returned as it is (it may still hold tool calls). Usage is summed over
every model call.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from .. import _json
from ..neutral import ChatRequest, ChatResponse, Choice, Message, TextPart, ToolCall, ToolResult, Usage
from .history import neutral_response, next_request

ChatCall = Callable[[ChatRequest], Awaitable[ChatResponse]]
Execute = Callable[[ToolCall], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    auto: Callable[[str], bool]  # exposed tool name -> runs by itself
    max_depth: int


@dataclass(slots=True)
class AgentRun:
    """What a loop did: results so far (in order), rounds run, whether the depth limit stopped it."""

    executed: list[tuple[ToolCall, ToolResult]] = field(default_factory=list)
    rounds: int = 0
    exhausted: bool = False
    usage: Usage | None = None

    def add_usage(self, usage: Usage | None) -> None:
        self.usage = merge_usage(self.usage, usage)


def merge_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    return Usage(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cached_input_tokens=a.cached_input_tokens + b.cached_input_tokens,
        cache_creation_tokens=a.cache_creation_tokens + b.cache_creation_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
    )


def split_calls(calls: Sequence[ToolCall], policy: AgentPolicy) -> tuple[list[ToolCall], list[ToolCall]]:
    auto = [c for c in calls if policy.auto(c.name)]
    return auto, [c for c in calls if not policy.auto(c.name)]


async def run_calls(calls: Sequence[ToolCall], execute: Execute) -> list[ToolResult]:
    """Every call at once (each bounded by its own timeout inside ``execute``)."""
    return list(await asyncio.gather(*(execute(c) for c in calls)))


def summary(executed: Sequence[tuple[ToolCall, ToolResult]]) -> str:
    """Results so far as JSON, keyed by tool name (by call id for a tool that ran more than once)."""
    counts = Counter(call.name for call, _ in executed)
    return _json.dumps_str({(c.name if counts[c.name] == 1 else c.id): r.text() for c, r in executed})


def rebuilt(response: ChatResponse, run: AgentRun, pending: Sequence[ToolCall]) -> ChatResponse:
    """Bifrost's answer when a non-auto call stops the loop after tools ran."""
    message = Message("assistant", (TextPart(summary(run.executed)), *pending))
    return replace(response, choices=(Choice(0, message, "stop"),), usage=run.usage, raw=None, raw_format=None)


async def run_agent(
    request: ChatRequest, call_model: ChatCall, execute: Execute, policy: AgentPolicy
) -> tuple[ChatResponse, AgentRun]:
    run = AgentRun()
    response = neutral_response(await call_model(request))
    run.add_usage(response.usage)
    while True:
        calls = response.message.tool_calls
        auto, pending = split_calls(calls, policy)
        if not auto:
            return (rebuilt(response, run, pending) if pending and run.executed else _final(response, run)), run
        if run.rounds >= policy.max_depth:
            run.exhausted = True
            return _final(response, run), run
        results = await run_calls(auto, execute)
        run.executed.extend(zip(auto, results, strict=True))
        run.rounds += 1
        if pending:
            return rebuilt(response, run, pending), run
        assistant = Message(
            "assistant", tuple(p for p in response.message.parts if not isinstance(p, ToolCall)) + tuple(auto)
        )
        request = next_request(request, assistant, results)
        response = neutral_response(await call_model(request))
        run.add_usage(response.usage)


def _final(response: ChatResponse, run: AgentRun) -> ChatResponse:
    """The last answer as it is; after tool rounds with the summed usage (and no verbatim body)."""
    if not run.rounds:
        return response
    return replace(response, usage=run.usage, raw=None, raw_format=None)
