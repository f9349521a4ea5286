"""A same-format chat request: the client's body goes upstream as it came, the answer back as it came.

When the client speaks the wire format of every target its request may go to (an OpenAI chat
request for OpenAI, Azure and OpenAI-compatible upstreams), the neutral ``ChatRequest`` would be
built only to be serialised back into the body the client sent: the provider takes ``body``
instead (``model`` replaced and the few fields it adapts, exactly as its build of ``ChatRequest.raw``
does) and hands the upstream answer back unparsed apart from its checks and usage.

A dialect gives a ``Passthrough`` only for a body its full parser accepts (every 400 stays that
parser's) and only with nothing between dialect and provider that needs the neutral form; the
router uses it only when every target of the plan takes ``format`` (see ``Router.relays``).
A streamed one is opened and relayed as the neutral stream is (the same relay parser, renderer and
relay loop), only without the neutral request. Everything else runs the neutral path.

A ``NamedTuple`` (immutable, like every neutral type): built once per request on the hot path,
where it costs a third of a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .chat import Format


class Passthrough(NamedTuple):
    format: Format  # the client's wire format, which each target must take as it is
    model: str
    fallbacks: tuple[str, ...]
    body: Mapping[str, Any]  # the client's body without the gateway's own fields (``ChatRequest.raw``)
    # What governance's estimate reads from a ``ChatRequest``: the characters of the messages'
    # text (``Message.text()``) and of the function tools' names, how many messages and tools.
    text_chars: int
    messages: int
    tools: int
    max_tokens: int | None
    n: int | None
    stream: bool = False
    include_usage: bool = False  # a stream whose client asked for the usage chunk (``stream_options``)
