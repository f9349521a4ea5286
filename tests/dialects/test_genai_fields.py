"""``as_object`` takes exactly the values ``isinstance(value, Mapping)`` takes (its dict shortcut
changes nothing but the cost)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.dialects.genai_fields import as_object
from bifrost_asgi.errors import InvalidRequestError


class _Custom(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _SubDict(dict[str, Any]):
    pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
OTHERS = st.sampled_from([MappingProxyType({"a": 1}), OrderedDict(a=1), _Custom(), _SubDict(a=1), (), b"", set()])


@given(value=JSON | OTHERS)
def test_as_object_accepts_exactly_the_mappings(value: Any) -> None:
    if isinstance(value, Mapping):
        assert as_object(value, "contents[0]") is value
    else:
        with pytest.raises(InvalidRequestError, match=r"^contents\[0\]: expected an object$"):
            as_object(value, "contents[0]")
