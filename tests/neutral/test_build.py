"""``fast_new`` builds the same objects as the ``__init__`` that ``dataclass`` generates.

Every frozen class of ``bifrost_asgi.neutral`` (and the other frozen classes built per request:
``UpstreamRequest``, ``UpstreamResponse``, ``StoredResponse``, ``ResponsesRequest``)
is compared, over hypothesis-drawn calls, with a twin made by ``dataclasses.make_dataclass`` from its
own fields (same name, fields, defaults, factories; ``frozen=True, slots=True``), which keeps the generated
``__init__``: same outcome (the object's repr, field values, hash; or the same ``TypeError``
message), and the fast-built object behaves as a frozen dataclass (assignment and deletion
refused, copy/deepcopy/pickle round trips, ``replace``, ``asdict``, ``__match_args__``); the fast
``replace`` gives what ``dataclasses.replace`` gives.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_asgi import neutral
from bifrost_asgi.neutral._build import fast_new, replace
from bifrost_asgi.providers.base import UpstreamRequest, UpstreamResponse
from bifrost_asgi.responses.conversations import StoredResponse
from bifrost_asgi.responses.parse import ResponsesRequest

CLASSES: list[type] = [
    cls
    for cls in (getattr(neutral, name) for name in neutral.__all__)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
] + [UpstreamRequest, UpstreamResponse, StoredResponse, ResponsesRequest]

# Field values: hashable ones (so hash can be compared) and a few unhashable ones.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _reference(cls: type) -> type:
    """A class the stock ``dataclass`` machinery builds from ``cls``'s fields (its own ``__init__``)."""
    specs: list[Any] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, f.type))
    ref: type = dataclasses.make_dataclass(cls.__name__, specs, frozen=True, slots=True)
    ref.__qualname__ = cls.__qualname__
    return ref


REFERENCES = {cls: _reference(cls) for cls in CLASSES}


def _outcome(build: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        obj = build(*args, **kwargs)
    except TypeError as exc:
        return "error", str(exc)
    try:
        hashed: Any = hash(obj)
    except TypeError as exc:
        hashed = str(exc)
    values = tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
    return "built", (repr(obj), values, hashed)


@st.composite
def calls(draw: st.DrawFn, cls: type) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A call of ``cls``: some leading fields positional, others by keyword or left out; now and
    then an extra positional, an unknown keyword or a field given twice."""
    names = [f.name for f in dataclasses.fields(cls)]
    positional = draw(st.integers(0, len(names)))
    args = [draw(VALUES) for _ in names[:positional]]
    kwargs = {name: draw(VALUES) for name in names[positional:] if draw(st.integers(0, 3))}
    if draw(st.integers(0, 9)) == 0:
        args.append(draw(VALUES))
    if draw(st.integers(0, 9)) == 0:
        kwargs["not_a_field"] = 1
    if positional and draw(st.integers(0, 9)) == 0:
        kwargs[names[0]] = 2
    return tuple(args), kwargs


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_build_equals_the_generated_init(cls: type, data: st.DataObject) -> None:
    args, kwargs = data.draw(calls(cls))
    assert _outcome(cls, args, kwargs) == _outcome(REFERENCES[cls], args, kwargs)


@st.composite
def changes(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(cls)]
    changed = {name: draw(VALUES) for name in names if draw(st.integers(0, 3)) == 0}
    if draw(st.integers(0, 9)) == 0:
        changed["not_a_field"] = 1
    return changed


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_fast_replace_equals_dataclasses_replace(cls: type, data: st.DataObject) -> None:
    obj = _full(cls, data)
    reference = REFERENCES[cls](*(getattr(obj, f.name) for f in dataclasses.fields(cls)))
    changed = data.draw(changes(cls))
    fast = _outcome(lambda: replace(obj, **changed), (), {})
    assert fast == _outcome(lambda: dataclasses.replace(reference, **changed), (), {})
    assert fast == _outcome(lambda: dataclasses.replace(obj, **changed), (), {})
    if fast[0] == "built":
        assert type(replace(obj, **changed)) is cls


def test_replace_of_anything_else_is_dataclasses_replace() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:
        a: int
        b: int = 0

    assert replace(Plain(1), b=2) == Plain(1, 2)
    with pytest.raises(TypeError, match="should be called on dataclass instances"):
        replace(object())
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        replace(neutral.TextPart("a"), "b")  # type: ignore[call-arg]


def _full(cls: type, data: st.DataObject) -> Any:
    """An instance with every field given, hashable values."""
    hashable = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.tuples(st.integers()))
    return cls(**{f.name: data.draw(hashable) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fast_built_objects_are_frozen_dataclass_instances(cls: type, data: st.DataObject) -> None:
    obj = _full(cls, data)
    names = [f.name for f in dataclasses.fields(cls)]
    assert type(obj) is cls
    assert cls.__match_args__ == tuple(names) == REFERENCES[cls].__match_args__
    for name in names:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(obj, name)
    reference = REFERENCES[cls](*(getattr(obj, name) for name in names))
    for change in (lambda o: setattr(o, "not_a_field", 1), lambda o: delattr(o, "not_a_field")):
        assert _failure(change, obj) == _failure(change, reference)  # what 3.11's dataclasses do, whatever it is
    for other in (copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))):
        assert type(other) is cls
        assert other == obj
        assert hash(other) == hash(obj)
    same = dataclasses.replace(obj)
    assert same == obj and same is not obj
    changed = dataclasses.replace(obj, **{names[-1]: "changed"})
    assert getattr(changed, names[-1]) == "changed"
    assert dataclasses.asdict(obj) == {name: getattr(obj, name) for name in names}
    assert obj != reference  # equality stays per class


def test_defaults_and_factories_are_fresh_per_instance() -> None:
    first, second = neutral.ChatRequest("m", ()), neutral.ChatRequest("m", ())
    assert first.passthrough_headers == {} and first.passthrough_headers is not second.passthrough_headers
    assert neutral.ToolSpec("f").parameters == {"type": "object", "properties": {}}
    assert neutral.ToolSpec("f").parameters is not neutral.ToolSpec("f").parameters


def test_a_subclass_without_its_own_constructor_is_built_the_generic_way() -> None:
    class Marked(neutral.TextPart):
        __slots__ = ()

    marked = Marked("x")
    assert type(marked) is Marked
    assert marked.text == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        marked.text = "y"  # type: ignore[misc]
    again = replace(marked, text="y")
    assert type(again) is Marked and again.text == "y"


def _failure(change: Any, obj: Any) -> type[BaseException] | None:
    try:
        change(obj)
    except Exception as exc:
        return type(exc)
    return None


def _plain(**params: Any) -> Any:
    def wrap(cls: type) -> type:
        return dataclasses.dataclass(**params)(cls)

    return wrap


def test_only_plain_frozen_slotted_dataclasses_are_taken() -> None:
    class NotADataclass:
        __slots__ = ("a",)

    @_plain(slots=True)
    class Mutable:
        a: int

    @_plain(frozen=True)
    class WithoutSlots:
        a: int

    @_plain(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    @_plain(frozen=True, slots=True)
    class NotInInit:
        a: int = dataclasses.field(default=0, init=False)

    @_plain(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @_plain(frozen=True, slots=True)
    class WithInitVar:
        a: dataclasses.InitVar[int]

    @_plain(frozen=True, slots=True)
    class ReservedName:
        _self_: int

    for cls in (NotADataclass, Mutable, WithoutSlots, KeywordOnly, NotInInit, PostInit, WithInitVar, ReservedName):
        with pytest.raises(TypeError, match=r"fast_new\("):
            fast_new(cls)
