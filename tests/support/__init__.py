"""Test infrastructure for end-to-end tests over real loopback sockets.

``FakeProvider`` (fake OpenAI + Anthropic + Gemini server with fault injection) and the server
runners ``run_server`` / ``run_gateway``. See the module docstrings for details.
"""

from __future__ import annotations

from tests.support.fake_provider import (
    FAKE_ANTHROPIC_TOOL_USE_ID,
    FAKE_COMPLETION_TOKENS,
    FAKE_OPENAI_TOOL_CALL_ID,
    FAKE_PROMPT_TOKENS,
    FAKE_THOUGHT_SIGNATURE,
    FAKE_TOOL_ARGS,
    FAKE_TOTAL_TOKENS,
    EarlyClose,
    FakeProvider,
    Fault,
    Hang,
    InBandErrorFirst,
    MidStreamError,
    RecordedRequest,
    Reply,
    Reset,
    SlowStream,
    Status,
    Trickle,
    anthropic_error_body,
    fake_embedding,
    fake_text,
    fake_tool_result_text,
    gemini_error_body,
    openai_error_body,
    running_fake,
    split_text,
    sse,
)
from tests.support.servers import ServerHandle, run_gateway, run_server

__all__ = [
    "FAKE_ANTHROPIC_TOOL_USE_ID",
    "FAKE_COMPLETION_TOKENS",
    "FAKE_OPENAI_TOOL_CALL_ID",
    "FAKE_PROMPT_TOKENS",
    "FAKE_THOUGHT_SIGNATURE",
    "FAKE_TOOL_ARGS",
    "FAKE_TOTAL_TOKENS",
    "EarlyClose",
    "FakeProvider",
    "Fault",
    "Hang",
    "InBandErrorFirst",
    "MidStreamError",
    "RecordedRequest",
    "Reply",
    "Reset",
    "ServerHandle",
    "SlowStream",
    "Status",
    "Trickle",
    "anthropic_error_body",
    "fake_embedding",
    "fake_text",
    "fake_tool_result_text",
    "gemini_error_body",
    "openai_error_body",
    "run_gateway",
    "run_server",
    "running_fake",
    "split_text",
    "sse",
]
