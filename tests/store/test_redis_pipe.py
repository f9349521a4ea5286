"""The pipelined script connection against a real ``redis-server``: replies in order under
concurrency, the script sent again after the server lost it, AUTH and SELECT from the URL, and each
failure as the redis-py exception class callers map (refused, wrong password, server gone then
back, no reply within the timeout, a script error). The RESP reader is checked byte by byte."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
from collections.abc import AsyncIterator

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError, TimeoutError

from bifrost_asgi.store.redis_pipe import ScriptPipe, parse
from tests.support.garbage import collected
from tests.support.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.anyio

ECHO = b"return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"
ECHO_SHA = hashlib.sha1(ECHO).hexdigest().encode()


def echo(pipe: ScriptPipe, key: bytes, value: bytes, number: int) -> asyncio.Future[object]:
    return pipe.call(ECHO_SHA, ECHO, [b"1", key, value, b"%d" % number])


@pytest.fixture
async def pipe(redis_server: RedisServer) -> AsyncIterator[ScriptPipe]:
    made = ScriptPipe.for_url(redis_server.url, timeout=5)
    assert made is not None
    yield made
    await made.close()


def test_for_url_takes_plain_urls_only() -> None:
    assert ScriptPipe.for_url("redis://127.0.0.1:6380/2", timeout=1) is not None
    assert ScriptPipe.for_url("redis://user:p%40ss@cache.internal", timeout=1) is not None
    for url in ("rediss://host:6380/0", "unix:///tmp/redis.sock", "redis://host/0?ssl_cert_reqs=none",
                "redis://host/notadb", "redis:///0"):  # fmt: skip
        assert ScriptPipe.for_url(url, timeout=1) is None, url


async def test_concurrent_calls_get_their_own_replies(pipe: ScriptPipe) -> None:
    """Calls of one loop turn share a write; each caller gets its reply (the script was never loaded:
    the first call carries its source, the others its SHA)."""
    replies = await asyncio.gather(*(echo(pipe, b"k%d" % i, b"v%d" % i, i) for i in range(300)))
    assert replies == [[b"k%d" % i, b"v%d" % i, i + 1] for i in range(300)]
    assert await echo(pipe, b"again", b"x", 1) == [b"again", b"x", 2]


def test_on_uvloop(redis_server: RedisServer) -> None:
    """The gateway's CLI runs on uvloop (whose transports are not ``asyncio.Transport``s)."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[object]:
        pipe = ScriptPipe.for_url(redis_server.url, timeout=5)
        assert pipe is not None
        try:
            return list(await asyncio.gather(*(echo(pipe, b"k", b"v%d" % i, i) for i in range(50))))
        finally:
            await pipe.close()

    assert uvloop.run(main()) == [[b"k", b"v%d" % i, i + 1] for i in range(50)]


async def test_a_flushed_script_is_sent_again(pipe: ScriptPipe, redis_server: RedisServer) -> None:
    assert await echo(pipe, b"a", b"b", 1) == [b"a", b"b", 2]
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.script_flush()
    finally:
        client.close()
    assert await echo(pipe, b"a", b"b", 2) == [b"a", b"b", 3]


async def test_calls_run_in_the_order_they_were_made(pipe: ScriptPipe) -> None:
    """A script's first call goes in its place in the order even though the server has not seen the
    script (answered NOSCRIPT, it used to be sent again behind the calls made meanwhile)."""
    getter = b"return redis.call('GET', KEYS[1])"
    setter = b"redis.call('SET', KEYS[1], ARGV[1]) return 1"

    def call(source: bytes, *parts: bytes) -> asyncio.Future[object]:
        return pipe.call(hashlib.sha1(source).hexdigest().encode(), source, list(parts))

    assert await call(getter, b"1", b"order") is None  # the getter is known to the server now
    set_first, then_get = call(setter, b"1", b"order", b"set"), call(getter, b"1", b"order")
    assert await asyncio.gather(set_first, then_get) == [1, b"set"]


async def test_send_hands_replies_and_errors_to_its_callback(pipe: ScriptPipe) -> None:
    """``send``: no future; the callback gets each reply in order with the awaited calls around it,
    a script error as its exception, and a callback that raises stops neither the replies after it
    nor the connection (the loop's exception handler reports it)."""
    got: list[tuple[object, type[BaseException] | None]] = []
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
    boom = b"return redis.error_reply('boom')"

    def record(reply: object, error: BaseException | None) -> None:
        got.append((reply, type(error) if error is not None else None))

    def raising(reply: object, error: BaseException | None) -> None:
        raise RuntimeError("a broken callback")

    pipe.send(ECHO_SHA, ECHO, [b"1", b"k", b"one", b"1"], record)
    middle = echo(pipe, b"k", b"two", 2)
    pipe.send(ECHO_SHA, ECHO, [b"1", b"k", b"three", b"3"], raising)
    pipe.send(hashlib.sha1(boom).hexdigest().encode(), boom, [b"0"], record)
    assert await middle == [b"k", b"two", 3]
    assert await echo(pipe, b"k", b"last", 4) == [b"k", b"last", 5]
    assert got == [([b"k", b"one", 2], None), (None, ResponseError)]
    assert [str(context["exception"]) for context in reported] == ["a broken callback"]


async def test_a_callback_hears_of_a_lost_connection() -> None:
    with running_redis() as server:
        pipe = ScriptPipe.for_url(server.url, timeout=5)
        assert pipe is not None
        assert await echo(pipe, b"a", b"b", 1) == [b"a", b"b", 2]
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # holds the reply, then dies with the call in flight
        errors: list[BaseException | None] = []
        pipe.send(ECHO_SHA, ECHO, [b"1", b"a", b"b", b"1"], lambda reply, error: errors.append(error))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        for _ in range(500):
            if errors:
                break
            await asyncio.sleep(0.01)
        assert len(errors) == 1 and isinstance(errors[0], ConnectionError)
        await pipe.close()


async def test_script_errors_are_response_errors(pipe: ScriptPipe) -> None:
    source = b"return redis.error_reply('boom')"
    with pytest.raises(ResponseError, match="boom"):
        await pipe.call(hashlib.sha1(source).hexdigest().encode(), source, [b"0"])
    assert await echo(pipe, b"still", b"fine", 0) == [b"still", b"fine", 1]  # the connection goes on


async def test_password_and_database_from_the_url() -> None:
    with running_redis(password="s3cret") as server:
        url = server.url.rsplit("/", 1)[0] + "/3"
        pipe = ScriptPipe.for_url(url, timeout=5)
        assert pipe is not None
        setter = b"redis.call('SET', KEYS[1], ARGV[1]) return 1"
        assert await pipe.call(hashlib.sha1(setter).hexdigest().encode(), setter, [b"1", b"where", b"db3"]) == 1
        await pipe.close()
        client = redis.Redis.from_url(url)
        try:
            assert client.get("where") == b"db3"
        finally:
            client.close()
        wrong = ScriptPipe.for_url(url.replace("s3cret", "wrong"), timeout=5)
        assert wrong is not None
        with pytest.raises(AuthenticationError):
            await echo(wrong, b"a", b"b", 1)
        await wrong.close()


async def test_refused_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pipe = ScriptPipe.for_url(f"redis://127.0.0.1:{port}/0", timeout=5)
    assert pipe is not None
    with pytest.raises(ConnectionError):
        await echo(pipe, b"a", b"b", 1)
    await pipe.close()


async def test_a_refused_connection_leaves_no_cycle() -> None:
    """asyncio's ``create_connection`` keeps the connect errors in a list of a frame their
    tracebacks hold; the pipe drops those tracebacks, so a store that is down leaves nothing for
    the cycle collector on every call (~38 objects a request before)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pipe = ScriptPipe.for_url(f"redis://127.0.0.1:{port}/0", timeout=5)
    assert pipe is not None

    async def refused() -> None:
        with pytest.raises(ConnectionError):
            await echo(pipe, b"a", b"b", 1)

    try:
        await refused()
        with collected() as garbage:
            for _ in range(3):
                await refused()
        kinds = {type(o).__name__ for o in garbage}
    finally:
        await pipe.close()
    # (not frames in general: another thread of the test process may leave some)
    assert not kinds & {"ConnectionRefusedError"}, kinds


async def test_a_server_gone_then_back() -> None:
    with running_redis() as server:
        pipe = ScriptPipe.for_url(server.url, timeout=5)
        assert pipe is not None
        assert await echo(pipe, b"a", b"b", 1) == [b"a", b"b", 2]
        server.stop()
        with pytest.raises(ConnectionError):
            await echo(pipe, b"a", b"b", 1)
        server.start()
        assert await echo(pipe, b"a", b"b", 5) == [b"a", b"b", 6]  # reconnected, script sent again
        await pipe.close()


async def test_no_reply_within_the_timeout() -> None:
    """A server that accepts and never answers: TimeoutError after ``timeout`` (bounded: no hang)."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    pipe = ScriptPipe.for_url(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    assert pipe is not None
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(echo(pipe, b"a", b"b", 1), 30)
    finally:
        await pipe.close()
        silent.close()


REPLIES = [
    (b":42\r\n", 42),
    (b":-7\r\n", -7),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"$0\r\n\r\n", b""),
    (b"+OK\r\n", b"OK"),
    (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
    (b"*3\r\n:1\r\n$2\r\nab\r\n*2\r\n:2\r\n$-1\r\n", [1, b"ab", [2, None]]),
    (b"*0\r\n", []),
]


@given(st.sampled_from(REPLIES), st.sampled_from(REPLIES), st.integers(0, 60))
def test_parse_reads_whole_replies_only(first: tuple[bytes, object], second: tuple[bytes, object], cut: int) -> None:
    """Two replies back to back, received in two pieces cut anywhere: each is read once it is whole."""
    data = first[0] + second[0]
    cut = min(cut, len(data))
    value, pos = parse(data[:cut], 0)
    if cut < len(first[0]):
        assert pos == 0  # incomplete: nothing consumed
        value, pos = parse(data, 0)
    assert (value, pos) == (first[1], len(first[0]))
    assert parse(data, pos) == (second[1], len(data))
