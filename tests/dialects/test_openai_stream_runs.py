"""The relay's whole-read rewrite (``_Relay.run``): the same bytes as ``plain`` frame by frame,
whatever the frames' heads, wherever (and how often) the upstream's model text is in them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.dialects.openai_stream import _Relay
from bifrost_asgi.neutral import ContentFrame, ContentRun

UPSTREAM_MODEL = "gpt-4o-mini"
SOURCE = '"model":"gpt-4o-mini"'

#: Pieces a frame is built from: the model text, look-alikes of it, the parts a chunk is made of.
_PIECES = st.sampled_from(
    [SOURCE, SOURCE, '"model":"gpt-4o"', '"model":"gpt-4o-mini-2"', '"id":"a"', '"id":"b"', '"created":1,',
     '"choices":[]', ',', '"x":"', 'gpt-4o-mini"', '"model":'],
)  # fmt: skip
_FRAMES = st.lists(st.lists(_PIECES, max_size=6).map(lambda parts: "{" + "".join(parts) + "}"), min_size=1, max_size=6)
_SAME_HEAD = st.tuples(st.lists(_PIECES, max_size=3), _FRAMES).map(
    lambda drawn: ["{" + "".join(drawn[0]) + SOURCE + frame[1:] for frame in drawn[1]]
)


@st.composite
def _shifted(draw: st.DrawFn) -> list[str]:
    """Frames alike up to the model, then one frame's model text moved to another: as many model
    texts as frames, yet not one in each."""
    frames = draw(_SAME_HEAD.filter(lambda frames: len(frames) > 1))
    losing = draw(st.integers(1, len(frames) - 1))
    gaining = draw(st.integers(0, len(frames) - 1).filter(lambda i: i != losing))
    frames[losing] = frames[losing].replace(SOURCE, '"model":"gpt-4o"')
    frames[gaining] = frames[gaining][:-1] + "," + SOURCE + "}"
    return frames


def _relay() -> _Relay:
    relay = _Relay("client-name")
    relay._learn(UPSTREAM_MODEL)
    return relay


def _frame_by_frame(frames: list[str]) -> bytes:
    relay = _relay()
    return b"".join(relay.plain(ContentFrame("openai", None, frame)) for frame in frames)


@given(st.one_of(_FRAMES, _SAME_HEAD, _shifted()))
def test_a_run_is_rewritten_as_its_frames_one_by_one(frames: list[str]) -> None:
    data = "".join(f"data: {frame}\n\n" for frame in frames).encode()
    assert _relay().run(ContentRun("openai", data, len(frames))) == _frame_by_frame(frames)


def test_frames_alike_up_to_the_model_are_rewritten_at_once() -> None:
    frames = [f'{{"id":"c1","created":5,{SOURCE},"choices":[{{"delta":{{"content":"{i}"}}}}]}}' for i in range(5)]
    data = "".join(f"data: {frame}\n\n" for frame in frames).encode()
    got = _relay().run(ContentRun("openai", data, 5))
    assert got == data.replace(SOURCE.encode(), b'"model":"client-name"') == _frame_by_frame(frames)
    # A second model text in one frame, one missing from another: each frame as ``plain`` writes it.
    frames[1] = frames[1].replace("}]}", f"}}],{SOURCE[1:-1]}:1,{SOURCE}}}")
    frames[3] = frames[3].replace(SOURCE, '"model":"other"')
    data = "".join(f"data: {frame}\n\n" for frame in frames).encode()
    assert _relay().run(ContentRun("openai", data, 5)) == _frame_by_frame(frames)
