"""``Counters`` on Redis: every check-and-reserve and every settlement is one atomic Lua script, so
N gateway processes on N machines pointed at one Redis share one cap exactly.

Layout (under the store's prefix, ``bifrost:gov:`` by default), hash-tagged per limit entity so
each entity's keys share a slot:

* ``{rl:<id>}:req`` / ``{rl:<id>}:tok`` / ``{budget:<id>}``: a hash with ``s`` (window start, ms),
  ``u`` (settled usage), ``rs`` (sum of live reservations) and ``r:<res_id>`` (each reservation);
* the same key + ``:z``: a sorted set of reservation ids by expiry (ms), purged at every check;
* ``done:{<res_id>}``: settlement marker (idempotency), expires after ``marker_ttl_ms``;
* ``doc`` / ``doc:v``: the governance document (JSON) and its version.

Times come from the gateway's wall clock (replicas need synchronised clocks, as for any TTL). Every
failure to reach Redis becomes ``StoreUnavailableError`` naming the store without credentials.

Admissions and settlements go through the store's ``script_pipe()`` (one pipelined connection,
keys and arguments as bytes); where the store has none, through redis-py (``_Batcher``): the same
scripts, keys and arguments either way, sent in call order. An admission waits for its reply; a
settlement does not (``settle_behind``): it is sent before the answer goes to the client, and Redis
runs it before any later admission of this process. Another replica admitting in the moment
between sees the settled request's reservation, its estimate, in place of its real usage: the
request count is exact, tokens and dollars can be short by what the answer used beyond its estimate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Any

from redis import asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from ..store.redis import UNREACHABLE, RedisStore
from ..store.redis_pipe import ReplyCallback
from .counters import Denial, Limit, Reading, Settled

# Shared by both scripts: drop expired reservations of counter i, then roll its window.
_PREAMBLE = """
local function purge(h, z, now)
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, rid in ipairs(dead) do
    local a = redis.call('HGET', h, 'r:' .. rid)
    if a then
      redis.call('HINCRBY', h, 'rs', -tonumber(a))
      redis.call('HDEL', h, 'r:' .. rid)
    end
  end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
local function roll(h, threshold, start)
  local s = tonumber(redis.call('HGET', h, 's'))
  if s == nil or s <= threshold then
    redis.call('HSET', h, 's', start, 'u', 0)
  end
end
"""

# KEYS: hash1, zset1, hash2, zset2, ...   ARGV: now, res_id, expires, then per limit: max, amount, threshold, start
_RESERVE = (
    _PREAMBLE
    + """
local now, rid, exp = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local h, z, b = KEYS[2*i-1], KEYS[2*i], 3 + (i-1)*4
  purge(h, z, now)
  roll(h, tonumber(ARGV[b+3]), tonumber(ARGV[b+4]))
  local v = redis.call('HMGET', h, 's', 'u', 'rs')
  local u, r = tonumber(v[2]) or 0, math.max(tonumber(v[3]) or 0, 0)
  if u + r + tonumber(ARGV[b+2]) > tonumber(ARGV[b+1]) then
    return {i, u, r, tonumber(v[1]) or 0}
  end
end
for i = 1, n do
  local h, z, b = KEYS[2*i-1], KEYS[2*i], 3 + (i-1)*4
  local amount = tonumber(ARGV[b+2])
  redis.call('HSET', h, 'r:' .. rid, amount)
  redis.call('HINCRBY', h, 'rs', amount)
  redis.call('ZADD', z, exp, rid)
end
return {0}
"""
)

# KEYS: marker, hash1, zset1, ...   ARGV: now, res_id, marker_ttl, then per limit: amount, threshold, start
_SETTLE = (
    _PREAMBLE
    + """
local now, rid = tonumber(ARGV[1]), ARGV[2]
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return false end
local n = (#KEYS - 1) / 2
local out = {}
for i = 1, n do
  local h, z, b = KEYS[2*i], KEYS[2*i+1], 3 + (i-1)*3
  local a = redis.call('HGET', h, 'r:' .. rid)
  if a then
    redis.call('HINCRBY', h, 'rs', -tonumber(a))
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  end
  roll(h, tonumber(ARGV[b+2]), tonumber(ARGV[b+3]))
  local amount = tonumber(ARGV[b+1])
  if amount ~= 0 then
    out[i] = redis.call('HINCRBY', h, 'u', amount)
  else
    out[i] = tonumber(redis.call('HGET', h, 'u'))
  end
end
return out
"""
)

# KEYS: doc, version   ARGV: data, expected version ('' = any)
_SAVE_DOC = """
local v = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= v then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# KEYS: hash   ARGV: used, start
_SEED = (
    "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 's', ARGV[2], 'u', ARGV[1]) end return 1"
)


class _Batcher:
    """Script calls go to Redis in pipelines (one write, one read), one pipeline at a time: the calls
    made while one is out go together in the next, so under load admissions and settlements share
    round trips, and Redis runs the calls in the order they were made. Each script still runs
    atomically on its own; only the transport is shared."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._queue: list[tuple[AsyncScript, list[bytes], list[bytes], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._loaded: set[str] = set()  # SHAs loaded on the server by this batcher

    def call(self, script: AsyncScript, keys: list[bytes], args: list[bytes]) -> asyncio.Future[Any]:
        """The script queued for the next pipeline (in call order): a future of its reply."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue and self._flushing is None:
            loop.call_soon(self._start)
        self._queue.append((script, keys, args, future))
        return future

    def _start(self) -> None:
        if self._flushing is not None or not self._queue:
            return
        batch, self._queue = self._queue, []
        self._flushing = asyncio.ensure_future(self._flush(batch))
        self._flushing.add_done_callback(self._next)

    def _next(self, _: asyncio.Task[None]) -> None:
        self._flushing = None
        self._start()

    async def _flush(self, batch: list[tuple[AsyncScript, list[bytes], list[bytes], asyncio.Future[Any]]]) -> None:
        try:
            for script in {script.sha: script for script, *_ in batch if script.sha not in self._loaded}.values():
                await self._client.script_load(script.script)  # first: an EVALSHA answered NOSCRIPT runs late
                self._loaded.add(script.sha)
            async with self._client.pipeline(transaction=False) as pipe:
                for script, keys, args, _ in batch:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (script, keys, args, future), result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):  # the server was flushed or restarted: load it and run alone
                self._loaded.discard(script.sha)
                try:
                    result = await script(keys=keys, args=args)
                except BaseException as exc:
                    result = exc
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _to_reply(reply: ReplyCallback, future: asyncio.Future[Any]) -> None:
    """A future's outcome handed to a ``ScriptPipe.send``-style callback (redis-py's path)."""
    if future.cancelled():
        reply(None, asyncio.CancelledError())
        return
    error = future.exception()
    reply(None if error is not None else future.result(), error)


class RedisCounters:
    def __init__(self, store: RedisStore, *, prefix: str = "gov:") -> None:
        self._store = store
        self.name = store.name
        self._prefix = store.prefix + prefix
        client = store.client
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._save = client.register_script(_SAVE_DOC)
        self._seed = client.register_script(_SEED)
        self._batch = _Batcher(client)
        self._pipe = store.script_pipe()
        self._scripts = {  # script -> (its SHA1, its source), as the pipe sends them
            self._reserve: (self._reserve.sha.encode(), _RESERVE.encode()),
            self._settle: (self._settle.sha.encode(), _SETTLE.encode()),
        }
        self._encoded: dict[str, tuple[bytes, bytes]] = {}  # limit key -> (hash key, zset key), bounded
        self._unsettled = 0  # settlements sent whose replies are not in yet
        self._drained: list[asyncio.Future[None]] = []  # ``drain`` calls waiting for that to be 0

    def _keys(self, limits: Sequence[Limit]) -> list[bytes]:
        """Each limit's hash and sorted set, prefixed and encoded (once per limit key)."""
        encoded = self._encoded
        keys: list[bytes] = []
        for limit in limits:
            pair = encoded.get(limit.key)
            if pair is None:
                if len(encoded) >= 10_000:
                    encoded.clear()
                key = (self._prefix + limit.key).encode()
                pair = encoded[limit.key] = (key, key + b":z")
            keys += pair
        return keys

    def _call(self, script: AsyncScript, keys: list[bytes], args: list[bytes]) -> asyncio.Future[Any]:
        """The script sent, or queued to be, behind this process's earlier calls: a future of its reply."""
        if self._pipe is not None:
            sha, source = self._scripts[script]
            return self._pipe.call(sha, source, [b"%d" % len(keys), *keys, *args])
        return self._batch.call(script, keys, args)

    def _send(self, script: AsyncScript, keys: list[bytes], args: list[bytes], reply: ReplyCallback) -> None:
        """``_call`` whose reply nobody awaits: ``reply`` gets (the reply, None) or (None, the error)."""
        if self._pipe is not None:
            sha, source = self._scripts[script]
            self._pipe.send(sha, source, [b"%d" % len(keys), *keys, *args], reply)
            return
        self._batch.call(script, keys, args).add_done_callback(partial(_to_reply, reply))

    async def _run(self, coro: Any) -> Any:
        try:
            return await coro
        except UNREACHABLE as exc:
            raise self._store.unavailable(exc) from None

    async def reserve(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, ttl_ms: int
    ) -> Denial | None:
        args = [b"%d" % now_ms, res_id.encode(), b"%d" % (now_ms + ttl_ms)]
        for index, limit in enumerate(limits):
            w = limit.window
            args += (b"%d" % limit.maximum, b"%d" % amounts[index], b"%d" % w.threshold_ms, b"%d" % w.start_ms)
        try:  # ``_run`` inline: one coroutine fewer to suspend and resume on every admission
            result = await self._call(self._reserve, self._keys(limits), args)
        except UNREACHABLE as exc:
            raise self._store.unavailable(exc) from None
        if int(result[0]) == 0:
            return None
        return Denial(int(result[0]) - 1, int(result[1]), int(result[2]), int(result[3]))

    async def settle(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> list[int] | None:
        keys, args = self._settle_parts(limits, amounts, res_id, now_ms, marker_ttl_ms)
        result = await self._run(self._call(self._settle, keys, args))
        return None if result is None else [int(v) for v in result]

    def settle_behind(
        self,
        limits: Sequence[Limit],
        amounts: Sequence[int],
        res_id: str,
        now_ms: int,
        marker_ttl_ms: int,
        done: Settled,
    ) -> None:
        """The settlement script written on the pipe (or queued for this event-loop turn's write,
        behind this process's earlier calls and ahead of its later ones) before this returns; its
        reply goes to ``done`` in the read that brings it, and nobody waits for it."""
        keys, args = self._settle_parts(limits, amounts, res_id, now_ms, marker_ttl_ms)
        self._unsettled += 1

        def reply(result: Any, error: BaseException | None) -> None:
            self._unsettled -= 1
            if error is None:
                done(None if result is None else [int(v) for v in result], None)
            else:
                done(None, self._store.unavailable(error) if isinstance(error, UNREACHABLE) else error)
            if not self._unsettled and self._drained:
                for waiter in self._drained:
                    if not waiter.done():
                        waiter.set_result(None)
                self._drained.clear()

        self._send(self._settle, keys, args, reply)

    async def drain(self, timeout: float | None = None) -> None:
        if not self._unsettled:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained.append(waiter)
        await asyncio.wait([waiter], timeout=timeout)

    def _settle_parts(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> tuple[list[bytes], list[bytes]]:
        args = [b"%d" % now_ms, res_id.encode(), b"%d" % marker_ttl_ms]
        for index, limit in enumerate(limits):
            w = limit.window
            args += (b"%d" % amounts[index], b"%d" % w.threshold_ms, b"%d" % w.start_ms)
        return [f"{self._prefix}done:{{{res_id}}}".encode(), *self._keys(limits)], args

    async def read(self, limits: Sequence[Limit], now_ms: int) -> list[Reading]:
        await self.drain(self._store.timeout)  # this process's settlements first: it reads its own writes
        client = self._store.client
        async with client.pipeline(transaction=False) as pipe:
            for limit in limits:
                pipe.hmget(self._prefix + limit.key, "s", "u", "rs")
            rows = await self._run(pipe.execute())
        out = []
        for limit, (s, u, rs) in zip(limits, rows, strict=True):
            start = int(s) if s is not None else None
            fresh = start is not None and start > limit.window.threshold_ms
            out.append(Reading(int(u or 0) if fresh else 0, max(int(rs or 0), 0), start if fresh else None))
        return out

    async def reset(self, keys: Sequence[str]) -> None:
        await self.drain(self._store.timeout)  # a settlement landing after the reset would undo it
        client = self._store.client
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hset(self._prefix + key, "u", 0)
            await self._run(pipe.execute())

    async def seed(self, limit: Limit, used: int, now_ms: int) -> None:
        await self._run(self._seed(keys=[self._prefix + limit.key], args=[used, limit.window.start_ms]))

    async def doc_version(self) -> int:
        value = await self._run(self._store.client.get(self._prefix + "doc:v"))
        return int(value or 0)

    async def load_doc(self) -> tuple[int, bytes | None]:
        client = self._store.client
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(self._prefix + "doc:v")
            pipe.get(self._prefix + "doc")
            version, data = await self._run(pipe.execute())
        return int(version or 0), data

    async def save_doc(self, data: bytes, expected_version: int | None) -> int | None:
        expected = "" if expected_version is None else str(expected_version)
        keys = [self._prefix + "doc", self._prefix + "doc:v"]
        version = int(await self._run(self._save(keys=keys, args=[data, expected])))
        return None if version < 0 else version
