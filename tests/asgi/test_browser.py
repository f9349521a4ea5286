"""BrowserPolicy's loopback check remembers each Host value's verdict: the same answer as
``is_loopback_host`` every time (first and later requests), for any value, within a bound."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bifrost_asgi.asgi.browser import HOSTS_REMEMBERED, BrowserPolicy, is_loopback_host

NAMES = st.sampled_from(["localhost", "127.0.0.1", "[::1]", "::1", "app.localhost", "evil.test", "10.0.0.1", ""])
PORTS = st.sampled_from(["", ":80", ":8080", ":x", "]"])
HOSTS = st.one_of(
    st.builds(lambda n, p, case: (n.upper() if case else n) + p, NAMES, PORTS, st.booleans()),
    st.text(st.characters(max_codepoint=255), max_size=40),
).map(lambda text: text.encode("latin-1"))


def policy() -> BrowserPolicy:
    return BrowserPolicy(allowed_origins=[], allowed_headers=[], loopback_only=True)


@given(st.lists(HOSTS, min_size=1, max_size=20))
def test_a_remembered_verdict_is_the_parse_of_the_value(hosts: list[bytes]) -> None:
    checked = policy()
    for _ in range(2):  # first sight, then from memory
        for host in hosts:
            assert checked.loopback(host) is is_loopback_host(host.decode("latin-1"))


def test_what_is_remembered_is_bounded() -> None:
    checked = policy()
    for i in range(HOSTS_REMEMBERED * 2):
        assert checked.loopback(b"host-%d.test" % i) is False
    assert len(checked._loopback) == HOSTS_REMEMBERED
    assert checked.loopback(b"localhost:9") is True  # past the bound: still parsed, not remembered
    assert b"localhost:9" not in checked._loopback


def _answer(checked: BrowserPolicy, host: bytes) -> int | None:
    """The status the policy answers a request naming ``host`` with (None: passed on)."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "headers": [(b"host", host), (b"content-type", b"application/json")]}
    passed = asyncio.run(checked.handle(scope, receive, send))
    return None if passed is not None else sent[0]["status"]


def test_requests_get_the_same_answer_the_second_time() -> None:
    checked = policy()
    for _ in range(2):
        assert _answer(checked, b"localhost:8080") is None
        assert _answer(checked, b"evil.test") == 403


HEADER_LISTS = st.lists(
    st.one_of(
        st.tuples(st.just(b"host"), HOSTS),
        st.tuples(st.just(b"origin"), st.sampled_from([b"http://localhost:3000", b"https://evil.test", b""])),
        st.tuples(st.just(b"access-control-request-method"), st.just(b"POST")),
        st.tuples(st.sampled_from([b"content-type", b"authorization"]), st.just(b"x")),
    ),
    max_size=6,
)


@given(
    HEADER_LISTS,
    st.sampled_from(["POST", "OPTIONS", "GET"]),
    st.booleans(),
    st.sampled_from([[], ["*"], ["http://localhost:3000"]]),
)
def test_a_request_that_passes_is_one_handle_would_pass_on_untouched(
    headers: list[tuple[bytes, bytes]], method: str, loopback_only: bool, origins: list[str]
) -> None:
    checked = BrowserPolicy(allowed_origins=origins, allowed_headers=[], loopback_only=loopback_only)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "headers": headers}
    handed = asyncio.run(checked.handle(scope, receive, send))
    if checked.passes(scope):  # the app then skips handle: it must have had nothing to do
        assert handed is send and not sent
