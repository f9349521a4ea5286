"""``HeaderNames.decode``: the same dict as decoding and lower-casing every header, with the
remembered names bounded and no value remembered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.asgi.headers import MAX_NAMES, HeaderNames

_NAMES = st.sampled_from([b"Content-Type", b"content-type", b"X-Stainless-OS", b"authorization", b"HOST", b"\xe9tag"])
_RAW = st.lists(st.tuples(st.one_of(_NAMES, st.binary(max_size=6)), st.binary(max_size=8)), max_size=12)


def _reference(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


@given(st.lists(_RAW, min_size=1, max_size=4))
def test_decoded_as_every_name_lowered_and_the_last_repeat_kept(requests: list[list[tuple[bytes, bytes]]]) -> None:
    names = HeaderNames()
    for raw in requests:  # one instance across requests, as an endpoint keeps it
        assert names.decode(raw) == _reference(raw)


def test_remembers_names_only_and_at_most_max_names() -> None:
    names = HeaderNames()
    secret = b"Bearer sk-never-kept"
    assert names.decode([(b"Authorization", secret)]) == {"authorization": "Bearer sk-never-kept"}
    many = [(b"X-Name-%d" % i, b"v") for i in range(MAX_NAMES + 50)]
    assert names.decode(many) == _reference(many)
    assert len(names._names) == MAX_NAMES
    assert all(secret not in (key, value.encode()) for key, value in names._names.items())
    late = [(b"X-Name-%d" % (MAX_NAMES + 10), b"late"), (b"Authorization", b"other")]
    assert names.decode(late) == _reference(late)  # past the bound: decoded each time, still right
