"""The Anthropic stream renderer's shortcut for text deltas (``render`` -> ``_text``, the frame's
bytes put together directly) writes exactly what the general frame builder writes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_asgi import _json
from bifrost_asgi.dialects.anthropic_stream import AnthropicStreamRenderer
from bifrost_asgi.neutral import Finish, ReasoningDelta, StreamStart, TextDelta, ToolCallDelta, ToolCallStart
from bifrost_asgi.streaming import encode_sse

_events = st.lists(
    st.one_of(
        st.builds(TextDelta, st.text(max_size=6)),
        st.builds(ReasoningDelta, st.text(max_size=3)),
        st.builds(ToolCallStart, st.integers(0, 2), st.just("call_1"), st.just("get")),
        st.builds(ToolCallDelta, st.integers(0, 2), st.text(max_size=3)),
    ),
    max_size=12,
)


class _General(AnthropicStreamRenderer):
    """The renderer with text deltas built the general way (a dict, one ``orjson.dumps``)."""

    def _text(self, text: str) -> bytes:
        out = b"" if self._open == "text" else self._open_block("text", {"type": "text", "text": ""})
        payload: dict[str, Any] = {"type": "content_block_delta", "index": self._next_index - 1,
                                   "delta": {"type": "text_delta", "text": text}}  # fmt: skip
        return out + encode_sse(_json.dumps(payload), "content_block_delta")

    def render(self, event: Any) -> bytes:
        if isinstance(event, TextDelta):
            return self._text(event.text) if event.text else b""
        return super().render(event)


@given(_events)
@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_text_deltas_are_written_as_the_general_frame_builder_writes_them(events: list[Any]) -> None:
    outs = []
    for renderer in (AnthropicStreamRenderer("claude-x"), _General("claude-x")):
        out = renderer.render(StreamStart(id="msg_1", model="m"))
        for event in events:
            out += renderer.render(event)
        outs.append(out + renderer.render(Finish("stop")) + renderer.finish())
    assert outs[0] == outs[1]
    assert b"text_delta" in AnthropicStreamRenderer("m").render(TextDelta('caf\u00e9 "\n'))
