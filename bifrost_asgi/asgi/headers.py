"""Request headers as a ``dict`` of lower-cased names to values, both decoded as latin-1 (the
last of repeated names wins, as before).

A client sends the same header names on every request (an OpenAI SDK sends ~17), so each raw
name's lower-cased text is remembered, per instance and bounded: one dict lookup instead of a
decode and a ``lower()`` per name. Names only: values (keys, tokens) are never kept.
"""

from __future__ import annotations

from collections.abc import Iterable

#: How many distinct raw names one instance remembers (they come from clients); others are
#: decoded each time.
MAX_NAMES = 512


class HeaderNames:
    """``decode(raw)`` for an ASGI scope's ``headers``."""

    __slots__ = ("_names",)

    def __init__(self) -> None:
        self._names: dict[bytes, str] = {}

    def decode(self, raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        names = self._names
        headers: dict[str, str] = {}
        for key, value in raw:
            name = names.get(key)
            if name is None:
                name = key.decode("latin-1").lower()
                if len(names) < MAX_NAMES:
                    names[key] = name
            headers[name] = value.decode("latin-1")
        return headers
