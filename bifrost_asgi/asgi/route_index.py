"""Templated routes (``/genai/v1beta/models/{model:path}:generateContent``, ``/v1/files/{file_id}``)
found without walking Starlette's whole route list.

Starlette tries its routes in order, one regex each: a GenAI request walked ~55 of them (and two
exception middlewares) before its own. Here the templated routes are indexed by their literal
prefix up to the last ``/`` before their first parameter; a request's candidates are the routes
under each ``/``-prefix of its path (a route can only match a path that starts with its literal
part), tried in registration order with Starlette's own ``matches``. The first full match wins, as in
Starlette; anything else (no full match, a path some untemplated route serves, a route that is not
``Route``) is left to Starlette, which then decides exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope


class TemplatedRoutes:
    """``match(scope, path)``: the route Starlette would pick for a templated path, with its child scope."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._by_prefix: dict[str, list[tuple[int, Route]]] = {}
        self._exact: set[str] = set()
        for position, route in enumerate(routes):
            if not isinstance(route, Route):
                break  # past a mount or a host, the order is Starlette's alone
            path = route.path
            if "{" not in path:
                self._exact.add(path)
                continue
            literal = path[: path.index("{")]
            prefix = literal[: literal.rfind("/") + 1]
            self._by_prefix.setdefault(prefix, []).append((position, route))
        self._depth = max((prefix.count("/") for prefix in self._by_prefix), default=0)

    def match(self, scope: Scope, path: str) -> tuple[Route, Scope] | None:
        if path in self._exact or not path.startswith("/"):
            return None
        candidates: list[tuple[int, Route]] = []
        end = 0
        for _ in range(self._depth):
            end = path.find("/", end) + 1
            if end == 0:
                break
            found = self._by_prefix.get(path[:end])
            if found:
                candidates.extend(found)
        if len(candidates) > 1:
            candidates.sort(key=_position)
        for _, route in candidates:
            matched, child_scope = route.matches(scope)
            if matched is Match.FULL:
                return route, child_scope
        return None


def _position(entry: tuple[int, Route]) -> int:
    return entry[0]
