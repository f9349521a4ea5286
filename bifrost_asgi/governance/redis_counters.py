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
scripts, keys and arguments either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from ..store.redis import UNREACHABLE, RedisStore
from .counters import Denial, Limit, Reading

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
    """Script calls made in the same event-loop iteration go to Redis in one pipeline (one write,
    one read), so under load admissions and settlements share round trips. Each script still runs
    atomically on its own; only the transport is shared."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._queue: list[tuple[AsyncScript, list[bytes], list[bytes], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: list[bytes], args: list[bytes]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._start)
        self._queue.append((script, keys, args, future))
        return await future

    def _start(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[AsyncScript, list[bytes], list[bytes], asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                script, keys, args, _ = batch[0]
                results: list[Any] = [await script(keys=keys, args=args)]
            else:
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
            if isinstance(result, NoScriptError):  # a restarted server: load it and run alone
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

    def _call(self, script: AsyncScript, keys: list[bytes], args: list[bytes]) -> Any:
        if self._pipe is not None:
            sha, source = self._scripts[script]
            return self._pipe.call(sha, source, [b"%d" % len(keys), *keys, *args])
        return self._batch.call(script, keys, args)

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
        result = await self._run(self._call(self._reserve, self._keys(limits), args))
        if int(result[0]) == 0:
            return None
        return Denial(int(result[0]) - 1, int(result[1]), int(result[2]), int(result[3]))

    async def settle(
        self, limits: Sequence[Limit], amounts: Sequence[int], res_id: str, now_ms: int, marker_ttl_ms: int
    ) -> list[int] | None:
        args = [b"%d" % now_ms, res_id.encode(), b"%d" % marker_ttl_ms]
        for index, limit in enumerate(limits):
            w = limit.window
            args += (b"%d" % amounts[index], b"%d" % w.threshold_ms, b"%d" % w.start_ms)
        marker = f"{self._prefix}done:{{{res_id}}}".encode()
        result = await self._run(self._call(self._settle, [marker, *self._keys(limits)], args))
        return None if result is None else [int(v) for v in result]

    async def read(self, limits: Sequence[Limit], now_ms: int) -> list[Reading]:
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
