"""A cheaper way to build instances of a frozen, slotted dataclass; the class itself stays as it is.

``@dataclass(frozen=True, slots=True)`` generates an ``__init__`` that sets each field through
``object.__setattr__`` (the class's own ``__setattr__`` refuses): on CPython 3.11 about 1,300
instructions a field, paid for every field, given or defaulted. ``fast_new`` replaces that
``__init__`` with a generated ``__new__`` of the same signature (same parameters, order,
defaults, ``default_factory`` calls) that fills an instance of a plain slotted *twin* class with
the same slots (ordinary attribute stores) and then turns it into an instance of the frozen class
by assigning ``__class__`` (CPython allows it: the two classes have the same layout). The result
is the object the generated ``__init__`` would have made: same class, fields, ``eq``, ``hash``,
``repr``, ``__match_args__``, ``FrozenInstanceError`` on assignment, ``dataclasses.fields/
replace/asdict``. Wrong, missing or extra arguments raise the same ``TypeError`` with the same
message. Copy and pickle keep working: ``__getnewargs__`` hands ``__new__`` the field values.
The class also gets a ``__replace__`` (the protocol of Python 3.13's ``copy.replace``) built the same
way; ``replace`` here is ``dataclasses.replace`` through it.

Only plain dataclasses are taken (every field an ``__init__`` parameter, positional, no
``InitVar``, no ``__post_init__``); anything else is refused when the class is decorated.
A subclass that is not itself decorated is built the generic way (``object.__setattr__``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """The default of a ``default_factory`` parameter (shown as ``<factory>``, as dataclasses do)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()
_KEEP = object()  # a ``__replace__`` parameter not given: the field keeps its value


def _refuse(cls: type, why: str) -> TypeError:
    return TypeError(f"fast_new({cls.__qualname__}): {why}")


def _checked_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise _refuse(cls, "not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise _refuse(cls, "__post_init__ is not supported")
    declared = cls.__dict__["__dataclass_fields__"].values()
    if any(f._field_type is not dataclasses._FIELD for f in declared):  # type: ignore[attr-defined]
        raise _refuse(cls, "InitVar / ClassVar pseudo-fields are not supported")
    found = dataclasses.fields(cls)
    if any(not f.init or f.kw_only for f in found):
        raise _refuse(cls, "every field must be a positional __init__ parameter")
    return found


def _source(names: tuple[str, ...], found: tuple[dataclasses.Field[Any], ...]) -> str:
    params = []
    stores = []
    for f in found:
        if f.default is not dataclasses.MISSING:
            params.append(f"{f.name}=_dflt_{f.name}")
            stores.append(f"    _self_.{f.name} = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            params.append(f"{f.name}=_FACTORY")
            stores.append(f"    _self_.{f.name} = _fact_{f.name}() if {f.name} is _FACTORY else {f.name}")
        else:
            params.append(f.name)
            stores.append(f"    _self_.{f.name} = {f.name}")
    args = ", ".join(names)
    return "\n".join(
        [
            f"def __new__(_cls_, {', '.join(params)}):",
            "    if _cls_ is not _frozen_:",
            f"        return _generic_(_cls_, ({args}{',' if len(names) == 1 else ''}))",
            "    _self_ = _object_new_(_twin_)",
            *stores,
            "    _self_.__class__ = _frozen_",
            "    return _self_",
        ]
    )


def _replace_source(names: tuple[str, ...]) -> str:
    given = ", ".join(f"({name!r}, {name})" for name in names)
    return "\n".join(
        [
            f"def __replace__(_obj_, *, {', '.join(f'{name}=_KEEP_' for name in names)}):",
            "    if _obj_.__class__ is not _frozen_:",
            f"        return _replace_(_obj_, **{{n: v for n, v in ({given},) if v is not _KEEP_}})",
            "    _self_ = _object_new_(_twin_)",
            *(f"    _self_.{name} = _obj_.{name} if {name} is _KEEP_ else {name}" for name in names),
            "    _self_.__class__ = _frozen_",
            "    return _self_",
        ]
    )


def _generic(names: tuple[str, ...]) -> Callable[[type, tuple[Any, ...]], Any]:
    def build(cls: type, values: tuple[Any, ...]) -> Any:
        self: Any = object.__new__(cls)
        for name, value in zip(names, values, strict=True):
            object.__setattr__(self, name, value)
        return self

    return build


def fast_new(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass the fast constructor (see the module docstring); use it
    above ``@dataclass(frozen=True, slots=True)``."""
    found = _checked_fields(cls)
    names = tuple(f.name for f in found)
    if any(name.startswith("_") and name.endswith("_") for name in names):
        raise _refuse(cls, "field names may not start and end with '_'")
    twin = type(f"{cls.__name__}Twin", (), {"__slots__": names, "__module__": cls.__module__})
    namespace: dict[str, Any] = {
        "_FACTORY": _FACTORY,
        "_frozen_": cls,
        "_twin_": twin,
        "_object_new_": object.__new__,
        "_generic_": _generic(names),
        "_KEEP_": _KEEP,
        "_replace_": dataclasses.replace,
    }
    for f in found:
        namespace[f"_dflt_{f.name}"] = f.default
        namespace[f"_fact_{f.name}"] = f.default_factory
    exec(_source(names, found), namespace)  # generated from the class's own fields, as dataclasses does
    exec(_replace_source(names), namespace)
    new = namespace["__new__"]
    # The generated __init__'s name: argument errors read exactly as before.
    new.__qualname__ = f"{cls.__qualname__}.__init__"
    new.__code__ = new.__code__.replace(co_name="__init__", co_qualname=new.__qualname__)
    new.__module__ = cls.__module__
    new.__annotations__ = {**{f.name: f.type for f in found}, "return": None}
    cls.__new__ = staticmethod(new)  # type: ignore[method-assign]
    del cls.__init__
    cls.__getnewargs__ = lambda self: tuple(getattr(self, name) for name in names)  # type: ignore[attr-defined]
    fresh = namespace["__replace__"]
    # Named as the __init__ that ``dataclasses.replace`` would call: an unknown field reads the same.
    fresh.__qualname__ = new.__qualname__
    fresh.__code__ = fresh.__code__.replace(co_name="__init__", co_qualname=new.__qualname__)
    fresh.__module__ = cls.__module__
    cls.__replace__ = fresh  # type: ignore[attr-defined]
    return cls


def replace(obj: T, /, **changes: Any) -> T:
    """``dataclasses.replace(obj, **changes)``, through the ``__replace__`` that ``fast_new`` gives a
    class (a fast build that takes the fields not named from ``obj``); the same result and errors."""
    method = getattr(type(obj), "__replace__", None)
    if method is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    result: T = method(obj, **changes)
    return result
