"""``TemplatedRoutes`` picks the route Starlette's own walk would pick, for every route the gateway
serves and for paths near them (other methods, unknown verbs, extra segments, root paths)."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match, Route

from bifrost_asgi import bifrost_app
from bifrost_asgi.asgi.route_index import TemplatedRoutes

CONFIG = {"providers": {"openai": {"keys": [{"value": "sk-test"}]}, "anthropic": {"keys": [{"value": "sk-t"}]}}}


def _starlette_pick(routes: list[Route], scope: dict[str, object]) -> Route | None:
    """Starlette's router: the first full match in order (partial matches only decide 405s)."""
    for route in routes:
        matched, _ = route.matches(scope)
        if matched is Match.FULL:
            return route
    return None


def _scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "headers": []}


def _concrete(path: str) -> str:
    """A request path for a route template: each parameter filled with a sample value."""
    return re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: "openai/gpt-4o-mini" if m.group(2) == "path" else "x1", path)


def _sample_paths(routes: list[Route]) -> list[tuple[str, str]]:
    paths: list[tuple[str, str]] = []
    for route in routes:
        if "{" not in route.path:
            continue
        concrete = _concrete(route.path)
        for method in sorted(route.methods or {"GET"}):
            paths.append((method, concrete))
        paths += [("PATCH", concrete), ("POST", concrete + "/extra"), ("POST", concrete.replace(":", ":unknown", 1))]
    return paths


@pytest.mark.parametrize("root_path", ["", "/gw"])
def test_every_templated_route_resolves_as_starlette_resolves_it(root_path: str) -> None:
    app = bifrost_app(config=CONFIG)
    routes = [r for r in app.router.routes if isinstance(r, Route)]
    index = TemplatedRoutes(routes)
    samples = _sample_paths(routes)
    assert len(samples) > 300
    for method, path in samples:
        scope = _scope(method, path, root_path)
        found = index.match(scope, path)
        expected = _starlette_pick(routes, scope)
        if found is None:  # left to Starlette: only when nothing templated matches fully
            assert expected is None or "{" not in expected.path, (method, path, expected.path)
        else:
            assert found[0] is expected, (method, path, found[0].path, expected and expected.path)


def test_untemplated_paths_and_misses_are_left_to_starlette() -> None:
    app = bifrost_app(config=CONFIG)
    index = TemplatedRoutes(app.router.routes)
    assert index.match(_scope("GET", "/metrics"), "/metrics") is None
    assert index.match(_scope("GET", "/health"), "/health") is None
    assert index.match(_scope("POST", "/nowhere/at/all"), "/nowhere/at/all") is None
    found = index.match(
        _scope("POST", "/genai/v1beta/models/gpt-4o:generateContent"), "/genai/v1beta/models/gpt-4o:generateContent"
    )
    assert found is not None and found[1]["path_params"] == {"model": "gpt-4o"}
