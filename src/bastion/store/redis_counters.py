"""Rate-limit, concurrency and budget counters in Redis, shared by every replica.

The same semantics as :class:`~bastion.store.counters.MemoryCounters`, each
operation one Lua script, so it is atomic across processes: an admission tests
every check of the plan and applies them only if all pass. The admissions that
concurrent requests ask for in the same turn of the event loop go to Redis in
one pipeline (one connection checkout, one write, one read: most of a call's
client-side CPU is per round trip, not per command), and settlements go in
batches; scripts are called by their SHA and loaded only when Redis answers
NOSCRIPT (never a SCRIPT EXISTS per pipeline). Keys are ``<prefix>:<key>``; numbers cross the Lua boundary as
strings because Redis truncates Lua numbers to integers. A plan's ticket is the
key ``<prefix>:ticket:<id>``, set by the admission and deleted by the one
settlement that applies (it expires after a day, should its request never settle).

Redis Cluster would need every key of one request in one hash slot; this
module targets a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.commands.core import AsyncScript

from bastion.store.counters import Admission, BudgetState, Plan, Settlement

_WINDOW_READ = """
local function window(key, now_s)
  local flat = redis.call('HGETALL', key)
  local total, buckets, stale = 0, {}, {}
  for j = 1, #flat, 2 do
    local s, c = tonumber(flat[j]), tonumber(flat[j + 1])
    if s <= now_s - 60 then
      stale[#stale + 1] = flat[j]
    else
      total = total + c
      buckets[#buckets + 1] = {s, c}
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(buckets, function(x, y) return x[1] < y[1] end)
  return total, buckets
end
"""

# Numbers travel as one comma-separated ARGV and come back as one string: packing and
# parsing a dozen separate values is most of the client's CPU for a call.
_ARGV = """
local argv = {}
for v in string.gmatch(ARGV[1], '[^,]+') do argv[#argv + 1] = v end
"""

# KEYS: windows, gates, budgets, then the ticket if any.  argv: now, #windows, #gates,
# #budgets, then (limit, add) per window, limit per gate, (limit, reserve, ttl) per budget.
# Reply: '1,' then (used, reset) per window and what is left per budget; or
# '0,<window|gate|budget>,<index>,<retry after>'.
_ADMIT = (
    _WINDOW_READ
    + _ARGV
    + """
local now = tonumber(argv[1])
local now_s = math.floor(now)
local nw, ng, nb = tonumber(argv[2]), tonumber(argv[3]), tonumber(argv[4])
local a = 5
local totals, firsts = {}, {}
for i = 1, nw do
  local limit, add = tonumber(argv[a]), tonumber(argv[a + 1])
  a = a + 2
  local total, buckets = window(KEYS[i], now_s)
  local excess = total + math.max(add, 1) - limit
  if excess > 0 then
    local freed, retry = 0, 60
    for _, b in ipairs(buckets) do
      freed = freed + b[2]
      if freed >= excess then retry = math.max(b[1] + 60 - now, 0.001); break end
    end
    return '0,window,' .. (i - 1) .. ',' .. tostring(retry)
  end
  totals[i] = total
  firsts[i] = buckets[1] and buckets[1][1] or nil
end
for i = 1, ng do
  local limit = tonumber(argv[a]); a = a + 1
  local inflight = tonumber(redis.call('GET', KEYS[nw + i]) or '0')
  if inflight >= limit then return '0,gate,' .. (i - 1) .. ',1' end
end
local states = {}
for i = 1, nb do
  local limit, reserve = tonumber(argv[a]), tonumber(argv[a + 1])
  a = a + 3
  local v = redis.call('HMGET', KEYS[nw + ng + i], 'spent', 'reserved')
  local spent, reserved = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if spent + reserved + reserve > limit then
    return '0,budget,' .. (i - 1) .. ',' .. (reserved > 0 and '1' or '-1')
  end
  states[i] = {limit, spent, reserved + reserve}
end
-- Every check passed: apply them all.
local out = {'1'}
a = 5
for i = 1, nw do
  local add = tonumber(argv[a + 1]); a = a + 2
  if add > 0 then
    redis.call('HINCRBY', KEYS[i], now_s, add)
    redis.call('EXPIRE', KEYS[i], 120)
    totals[i] = totals[i] + add
    if not firsts[i] then firsts[i] = now_s end
  end
  out[#out + 1] = string.format('%.0f', totals[i])  -- tostring gives 1e+15 past 14 digits
  out[#out + 1] = firsts[i] and tostring(firsts[i] + 60 - now) or '0'
end
for i = 1, ng do
  a = a + 1
  redis.call('INCR', KEYS[nw + i])
  redis.call('EXPIRE', KEYS[nw + i], 3600)
end
for i = 1, nb do
  local reserve, ttl = tonumber(argv[a + 1]), tonumber(argv[a + 2])
  a = a + 3
  local key = KEYS[nw + ng + i]
  redis.call('HINCRBY', key, 'reserved', reserve)
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  out[#out + 1] = string.format('%.0f', states[i][1] - states[i][2] - states[i][3])
end
if #KEYS > nw + ng + nb then redis.call('SET', KEYS[#KEYS], '1', 'EX', 86400) end
return table.concat(out, ',')
"""
)

# KEYS: windows, gates, budgets, then the ticket if any.  argv: now, #windows, #gates,
# #budgets, then amount per window, (reserved, actual, ttl) per budget.
_SETTLE = (
    _ARGV
    + """
local now_s = math.floor(tonumber(argv[1]))
local nw, ng, nb = tonumber(argv[2]), tonumber(argv[3]), tonumber(argv[4])
if #KEYS > nw + ng + nb and redis.call('DEL', KEYS[#KEYS]) == 0 then
  return 0  -- settled already, or never admitted
end
local a = 5
for i = 1, nw do
  local amount = tonumber(argv[a]); a = a + 1
  if amount > 0 then
    redis.call('HINCRBY', KEYS[i], now_s, amount)
    redis.call('EXPIRE', KEYS[i], 120)
  end
end
for i = 1, ng do
  if redis.call('DECR', KEYS[nw + i]) <= 0 then redis.call('DEL', KEYS[nw + i]) end
end
for i = 1, nb do
  local reserved, actual, ttl = tonumber(argv[a]), tonumber(argv[a + 1]), tonumber(argv[a + 2])
  a = a + 3
  local key = KEYS[nw + ng + i]
  redis.call('HINCRBY', key, 'spent', actual)
  -- 0 - x, not -x: Lua's -0 reaches Redis as "-0", which HINCRBY refuses
  if redis.call('HINCRBY', key, 'reserved', 0 - reserved) < 0 then
    redis.call('HSET', key, 'reserved', 0)
  end
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
return 1
"""
)

_WINDOW = (
    _WINDOW_READ
    + """
local now = tonumber(ARGV[1])
local total, buckets = window(KEYS[1], math.floor(now))
local reset = buckets[1] and tostring(buckets[1][1] + 60 - now) or '0'
return {string.format('%.0f', total), reset}
"""
)

_SEED = """
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
return 1
"""


def connect(url: str, max_connections: int = 64) -> aioredis.Redis:
    """A client with a bounded pool: a burst of requests waits for a connection (up to
    5 s) rather than opening hundreds; commands time out rather than hang a request."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class RedisCounters:
    # Errors after which a settlement is sent again (a ticket makes it apply once).
    transient_errors: tuple[type[BaseException], ...] = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        OSError,
    )

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + ":"
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)
        self._window = client.register_script(_WINDOW)
        self._seed = client.register_script(_SEED)
        # Admissions waiting for the next pipeline, and the task that will send it.
        self._queued: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    def _keys(self, names: list[str]) -> list[str]:
        return [self._prefix + name for name in names]

    async def admit(self, plan: Plan, now: float) -> Admission:
        keys = self._keys(
            [w.key for w in plan.windows]
            + [g.key for g in plan.gates]
            + [b.key for b in plan.budgets]
            + ([f"ticket:{plan.ticket}"] if plan.ticket else [])
        )
        args: list[Any] = [repr(now), len(plan.windows), len(plan.gates), len(plan.budgets)]
        for w in plan.windows:
            args += [w.limit, w.add]
        for g in plan.gates:
            args.append(g.limit)
        for b in plan.budgets:
            args += [b.limit, b.reserve, b.ttl]
        reply = _text(await self._admitted(keys, [",".join(map(str, args))])).split(",")
        if reply[0] == "0":
            refused = cast(Any, reply[1])
            return Admission(False, refused, int(reply[2]), float(reply[3]))
        admission = Admission(True)
        at = 1
        for _ in plan.windows:
            admission.window_used.append(int(reply[at]))
            admission.window_reset.append(float(reply[at + 1]))
            at += 2
        admission.budget_left = [int(v) for v in reply[at:]]
        return admission

    def _admitted(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """The reply of one admission script call, sent with the others of this turn."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((keys, args, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_admissions())
        return future

    async def _send_admissions(self) -> None:
        try:
            await asyncio.sleep(0)  # the requests of this turn join the pipeline
        finally:
            batch, self._queued, self._sender = self._queued, [], None
        try:
            replies = await self._run(self._admit, [(keys, args) for keys, args, _ in batch])
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _run(
        self, script: AsyncScript, calls: list[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Call ``script`` once per (keys, args), in one pipeline; a reply is an exception
        for a call that failed. A script Redis does not know yet is loaded, and only the
        calls it refused (NOSCRIPT: not run) are sent again."""
        replies = await self._pipeline(script.sha, calls)
        missing = [
            i for i, r in enumerate(replies) if isinstance(r, redis.exceptions.NoScriptError)
        ]
        if missing:
            await self._redis.script_load(script.script)
            again = await self._pipeline(script.sha, [calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, sha: str, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def settle(self, settlement: Settlement, now: float) -> None:
        await self.settle_batch([settlement], now)

    async def settle_batch(self, settlements: list[Settlement], now: float) -> None:
        """Several settlements in one round trip (a pipeline of script calls)."""
        replies = await self._run(self._settle, [self._settle_call(s, now) for s in settlements])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply

    def _settle_call(self, settlement: Settlement, now: float) -> tuple[list[str], list[Any]]:
        keys = self._keys(
            [k for k, _ in settlement.windows]
            + list(settlement.gates)
            + [b[0] for b in settlement.budgets]
            + ([f"ticket:{settlement.ticket}"] if settlement.ticket else [])
        )
        args: list[Any] = [
            repr(now),
            len(settlement.windows),
            len(settlement.gates),
            len(settlement.budgets),
        ]
        args += [amount for _, amount in settlement.windows]
        for _, reserved, actual, ttl in settlement.budgets:
            args += [reserved, actual, ttl]
        return keys, [",".join(map(str, args))]

    async def budgets(self, keys: list[str]) -> list[BudgetState]:
        if not keys:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for key in self._keys(keys):
            pipe.hmget(key, ["spent", "reserved"])
        states = []
        for spent, reserved in await pipe.execute():
            states.append(BudgetState(int(spent or 0), int(reserved or 0)))
        return states

    async def window(self, key: str, now: float) -> tuple[int, float]:
        total, reset = await self._window(keys=self._keys([key]), args=[repr(now)])
        return int(total), float(reset)

    async def seed_budget(self, key: str, spent: int, ttl: int) -> None:
        await self._seed(keys=self._keys([key]), args=[spent, ttl])

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
