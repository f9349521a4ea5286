"""OpenAI's Responses API: the dialect (parse, render, stream) and its stored conversations.

Pure translation in ``items``/``parse``/``render``/``stream``; state in ``conversations`` (on the
shared ``KeyValueStore``) and ``service`` (the gateway's one seam into this package).
"""

from __future__ import annotations

from .conversations import Conversations, StoredResponse
from .dialect import ResponsesDialect
from .service import ResponsesService

__all__ = ["Conversations", "ResponsesDialect", "ResponsesService", "StoredResponse"]
