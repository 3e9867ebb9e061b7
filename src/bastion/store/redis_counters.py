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

A ticket's holds (its place at each gate, its reservation of each budget) are
leases, so that a process that dies mid-request does not keep them: each is a
member of the sorted set ``<counter>:leases`` (the ticket's key; for a budget
``<ticket key>=<reserved>``) scored by when it lapses. The process renews the
leases of all its open tickets in one call every third of their lifetime; every
admission first returns the lapsed leases of the counters it checks. A
settlement releases a hold only by removing its lease: one that lapsed was
returned already, so a slow process's late settlement charges the real cost and
releases nothing twice. (A plan without a ticket holds without a lease.)

Redis Cluster would need every key of one request in one hash slot; this
module targets a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.commands.core import AsyncScript

from bastion.store.counters import Admission, BudgetState, Plan, Settlement

log = logging.getLogger("bastion.governance")

_LEASES = ":leases"  # a gate's or budget's leases: the sorted set at its key + this
_IDLE_SECONDS = 5.0  # a kept connection idle longer goes back to the pool (which tests it)

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

# Leases (see the module docstring). A gate's or budget's leases are the sorted set at
# KEYS[lease of it]: member the ticket's key (a budget's: "<ticket key>=<reserved>"), score its
# expiry. Lapsed leases are returned to their counter before anything is checked.
_RECLAIM = """
local function reclaim(key, leases, now, budget)
  local lapsed = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now, 'LIMIT', 0, 256)
  if #lapsed == 0 then return end
  redis.call('ZREM', leases, unpack(lapsed))
  if budget then
    local amount = 0
    for _, m in ipairs(lapsed) do amount = amount + tonumber(string.match(m, '=(%d+)$') or '0') end
    if amount > 0 and redis.call('HINCRBY', key, 'reserved', string.format('%.0f', -amount)) < 0 then
      redis.call('HSET', key, 'reserved', 0)
    end
  elseif redis.call('DECRBY', key, #lapsed) <= 0 then
    redis.call('DEL', key)
  end
end
"""

# KEYS: windows, gates, budgets, the gates' leases, the budgets' leases, then the ticket
# if any.  argv: now, #windows, #gates, #budgets, lease ttl, then (limit, add) per window,
# limit per gate, (limit, reserve, ttl) per budget.
# Reply: '1,' then (used, reset) per window and what is left per budget; or
# '0,<window|gate|budget>,<index>,<retry after>'.
_ADMIT = (
    _WINDOW_READ
    + _RECLAIM
    + _ARGV
    + """
local now = tonumber(argv[1])
local now_s = math.floor(now)
local nw, ng, nb = tonumber(argv[2]), tonumber(argv[3]), tonumber(argv[4])
local nl = nw + ng + nb  -- leases from KEYS[nl + 1]
local ticket = #KEYS > nl + ng + nb and KEYS[#KEYS] or nil
for i = 1, ng do reclaim(KEYS[nw + i], KEYS[nl + i], now, false) end
for i = 1, nb do reclaim(KEYS[nw + ng + i], KEYS[nl + ng + i], now, true) end
local a = 6
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
local expiry = tostring(now + tonumber(argv[5]))
local id = ticket  -- a lease's member: the ticket's key
a = 6
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
  if id then
    redis.call('ZADD', KEYS[nl + i], expiry, id)
    redis.call('EXPIRE', KEYS[nl + i], 3600)
  end
end
for i = 1, nb do
  local reserve, ttl = argv[a + 1], tonumber(argv[a + 2])
  a = a + 3
  local key = KEYS[nw + ng + i]
  redis.call('HINCRBY', key, 'reserved', reserve)
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  if id then
    redis.call('ZADD', KEYS[nl + ng + i], expiry, id .. '=' .. reserve)
    if ttl > 0 then redis.call('EXPIRE', KEYS[nl + ng + i], ttl) end
  end
  out[#out + 1] = string.format('%.0f', states[i][1] - states[i][2] - states[i][3])
end
if ticket then redis.call('SET', ticket, '1', 'EX', 86400) end
return table.concat(out, ',')
"""
)

# KEYS: windows, gates, budgets, the gates' leases, the budgets' leases, then the ticket
# if any.  argv: now, #windows, #gates, #budgets, then amount per window, (reserved,
# actual, ttl) per budget.  A ticket's hold is released only while its lease is there:
# a lease that lapsed was returned already (by an admission), so the real cost is then
# charged and nothing released.
_SETTLE = (
    _ARGV
    + """
local now_s = math.floor(tonumber(argv[1]))
local nw, ng, nb = tonumber(argv[2]), tonumber(argv[3]), tonumber(argv[4])
local nl = nw + ng + nb
local id = nil
if #KEYS > nl + ng + nb then
  if redis.call('DEL', KEYS[#KEYS]) == 0 then
    return 0  -- settled already, or never admitted
  end
  id = KEYS[#KEYS]
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
  if not id or redis.call('ZREM', KEYS[nl + i], id) == 1 then
    if redis.call('DECR', KEYS[nw + i]) <= 0 then redis.call('DEL', KEYS[nw + i]) end
  end
end
for i = 1, nb do
  local reserved, actual, ttl = argv[a], tonumber(argv[a + 1]), tonumber(argv[a + 2])
  a = a + 3
  local key = KEYS[nw + ng + i]
  redis.call('HINCRBY', key, 'spent', actual)
  if not id or redis.call('ZREM', KEYS[nl + ng + i], id .. '=' .. reserved) == 1 then
    -- 0 - x, not -x: Lua's -0 reaches Redis as "-0", which HINCRBY refuses
    if redis.call('HINCRBY', key, 'reserved', 0 - tonumber(reserved)) < 0 then
      redis.call('HSET', key, 'reserved', 0)
    end
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

# KEYS: the budgets' leases, the gates' leases, the gates.  ARGV: expiry, #budget leases,
# #gate leases, then per lease key the members to renew, comma-separated. Only leases
# still there are renewed (XX): one reclaimed meanwhile stays returned. Reply: how many
# were not there.
_RENEW = """
local nb, ng = tonumber(ARGV[2]), tonumber(ARGV[3])
local missing = 0
for i = 1, nb + ng do
  local args, n = {'XX', 'CH'}, 0
  for m in string.gmatch(ARGV[3 + i], '[^,]+') do
    args[#args + 1] = ARGV[1]
    args[#args + 1] = m
    n = n + 1
    if n % 1000 == 0 then
      missing = missing + 1000 - redis.call('ZADD', KEYS[i], unpack(args))
      args = {'XX', 'CH'}
    end
  end
  if #args > 2 then missing = missing + (#args - 2) / 2 - redis.call('ZADD', KEYS[i], unpack(args)) end
end
for i = nb + 1, nb + ng * 2 do redis.call('EXPIRE', KEYS[i], 3600) end
return missing
"""

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

    def __init__(self, client: aioredis.Redis, prefix: str, lease_ttl: float = 30.0) -> None:
        self._redis = client
        self._prefix = prefix + ":"
        self._lease_ttl = lease_ttl
        self._lease_arg = repr(float(lease_ttl))  # an admission's argument, formatted once
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)
        self._renew = client.register_script(_RENEW)
        self._window = client.register_script(_WINDOW)
        self._seed = client.register_script(_SEED)
        # Admitted plans that hold a gate or budget, by ticket, until settled: their
        # leases, renewed every third of the lease's lifetime by one task.
        self._open: dict[str, Plan] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._packed: dict[str, bytes] = {}  # key -> its RESP bulk string
        self._named: dict[str, str] = {}  # counter name -> its key
        self._leased: dict[str, str] = {}  # counter name -> its leases' key
        self._tickets_prefix = self._prefix + "ticket:"
        self._pool = client.connection_pool
        self._spare: list[tuple[Any, float]] = []  # connections kept: (it, when last used)
        # Admissions waiting for the next pipeline, and the task that will send it.
        self._queued: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    def _keys(self, names: list[str]) -> list[str]:
        return [self._prefix + name for name in names]

    def _script_keys(self, counters: list[str], held: list[str], ticket: str) -> list[str]:
        """An admission's or settlement's KEYS: its counters, the leases of those that
        hold (gates and budgets), then its ticket. Counter names come back request after
        request: their keys are made once."""
        named, leased = self._named, self._leased
        keys = [named.get(n) or self._new_key(named, n, "") for n in counters]
        keys += [leased.get(n) or self._new_key(leased, n, _LEASES) for n in held]
        if ticket:
            keys.append(self._tickets_prefix + ticket)
        return keys

    def _new_key(self, cache: dict[str, str], name: str, suffix: str) -> str:
        if len(cache) >= 10_000:
            cache.clear()
        key = cache[name] = self._prefix + name + suffix
        return key

    async def admit(self, plan: Plan, now: float) -> Admission:
        held = [g.key for g in plan.gates] + [b.key for b in plan.budgets]
        keys = self._script_keys([w.key for w in plan.windows] + held, held, plan.ticket)
        args: list[Any] = [
            repr(now),
            len(plan.windows),
            len(plan.gates),
            len(plan.budgets),
            self._lease_arg,
        ]
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
        if plan.ticket and held:
            self._open[plan.ticket] = plan
            if self._renewer is None:
                self._renewer = asyncio.create_task(self._renewing(), name="bastion-leases")
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
        """One write and one read on a connection this object keeps between calls.

        redis-py's pipeline checks a connection out of the pool, encodes every
        argument and wraps the call in retries and metrics: several times the CPU of
        the call itself. A connection that sat idle goes back to the pool, whose
        checkout tests it, so a connection Redis dropped meanwhile is not used.
        """
        head = b"$40\r\n" + sha.encode() + b"\r\n"
        packed = b"".join([self._evalsha(head, keys, args) for keys, args in calls])
        now = time.monotonic()
        conn = None
        while self._spare:
            held, since = self._spare.pop()
            if now - since < _IDLE_SECONDS:
                conn = held
                break
            await self._pool.release(held)
        if conn is None:
            conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        try:
            await conn.send_packed_command(packed, check_health=False)
            # One timeout for all the replies (each read would set one of its own).
            async with asyncio.timeout(conn.socket_timeout):
                for _ in calls:
                    try:
                        replies.append(await conn.read_response(timeout=math.inf))
                    except redis.exceptions.ResponseError as exc:  # this call's error reply
                        replies.append(exc)
        except BaseException:
            # Cut off mid-way (an error, a timeout, a cancelled call): replies may be
            # left unread on this connection, so it is closed rather than reused.
            await conn.disconnect()
            await self._pool.release(conn)
            raise
        self._spare.append((conn, time.monotonic()))
        return replies

    def _evalsha(self, head: bytes, keys: list[str], args: list[Any]) -> bytes:
        """``EVALSHA <sha> <#keys> keys... args...`` in RESP (``head``: the sha, packed).

        The counters' keys come back request after request: packed once (tickets,
        each used once, are not kept)."""
        parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)), head]
        parts.append(_bulk(str(len(keys))))
        packed = self._packed
        for key in keys:
            bulk = packed.get(key)
            if bulk is None:
                bulk = _bulk(key)
                if not key.startswith(self._tickets_prefix):
                    if len(packed) >= 10_000:
                        packed.clear()
                    packed[key] = bulk
            parts.append(bulk)
        parts += [_bulk(str(arg)) for arg in args]
        return b"".join(parts)

    async def _renewing(self) -> None:
        """Renew the open leases every third of their lifetime, while there are any."""
        try:
            while self._open:
                await asyncio.sleep(self._lease_ttl / 3)
                if not self._open:
                    break
                try:
                    await self.renew(time.time())
                except Exception as exc:  # the next turn tries again; two more fit in a lease
                    log.error("could not renew %d lease(s) (%s)", len(self._open), exc)
        finally:
            self._renewer = None

    async def renew(self, now: float) -> int:
        """Extend every open ticket's leases to ``now`` + the lease's lifetime, in one call.

        The number of leases that were not there any more: they lapsed (this process
        stalled longer than a lease) and an admission returned them; their requests
        run on without a hold, and settle their real cost when they end."""
        budgets: dict[str, list[str]] = {}
        gates: dict[str, list[str]] = {}
        tickets = self._tickets_prefix
        for ticket, plan in self._open.items():
            member = tickets + ticket
            for g in plan.gates:
                gates.setdefault(g.key, []).append(member)
            for b in plan.budgets:
                budgets.setdefault(b.key, []).append(f"{member}={b.reserve}")
        if not budgets and not gates:
            return 0
        keys = self._keys(
            [key + _LEASES for key in budgets] + [key + _LEASES for key in gates] + list(gates)
        )
        args = [repr(now + self._lease_ttl), len(budgets), len(gates)]
        args += [",".join(members) for members in budgets.values()]
        args += [",".join(members) for members in gates.values()]
        (reply,) = await self._run(self._renew, [(keys, args)])
        if isinstance(reply, Exception):
            raise reply
        missing = int(reply)
        if missing:
            log.warning("%d lease(s) lapsed before they were renewed, and were returned", missing)
        return missing

    async def settle(self, settlement: Settlement, now: float) -> None:
        await self.settle_batch([settlement], now)

    async def settle_batch(self, settlements: list[Settlement], now: float) -> None:
        """Several settlements in one round trip (a pipeline of script calls)."""
        replies = await self._run(self._settle, [self._settle_call(s, now) for s in settlements])
        opened = self._open
        if opened:
            for settlement in settlements:
                if settlement.ticket:
                    opened.pop(settlement.ticket, None)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply

    def _settle_call(self, settlement: Settlement, now: float) -> tuple[list[str], list[Any]]:
        held = [*settlement.gates, *(b[0] for b in settlement.budgets)]
        keys = self._script_keys([k for k, _ in settlement.windows] + held, held, settlement.ticket)
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
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        while self._spare:
            await self._pool.release(self._spare.pop()[0])
        await self._redis.aclose()


def _bulk(value: str) -> bytes:
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
