"""The audit trail's chain format, and its verification (pure: rows in, first problem out).

Records form one hash chain per gateway process (``instance``) and UTC day::

    record  = canonical JSON of the record (sorted keys, no spaces), with its
              instance, day, seq (0, 1, 2, ...), at, kind and request_id inside
    hash    = SHA-256(prev_hash + record)        (HMAC-SHA256 with ``audit.key``)
    prev_hash of seq 0 = SHA-256("bastion-audit\\n" + instance + "\\n" + day)

A body kept with a record (request and response, redacted) is outside the record
but covered by it: the record holds the body's SHA-256. Retention may drop a body
(the hash still holds) or delete whole sealed days.

Each day, once over, is sealed by a digest that lists every chain of that day
(instance, record count, last hash) and the previous digest::

    digest = SHA-256(prev_digest + day + canonical JSON of [[instance, count, head], ...])

so a record edited, inserted or deleted anywhere breaks a link, a count or a
digest. What no database-only check can see is the newest records of a day not
sealed yet being cut off the end of their chain, or the whole trail being
recomputed by someone who can write the database; ``audit.key`` (an HMAC key the
database never sees) and the digests the gateway logs each day close those gaps.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

ZERO = "0" * 64
RECORD_FIELDS = ("instance", "day", "seq", "kind", "request_id")


def canonical(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Hasher:
    """SHA-256, or HMAC-SHA256 when the trail has a key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or None

    def __call__(self, text: str) -> str:
        if self._key is None:
            return hashlib.sha256(text.encode()).hexdigest()
        return hmac.digest(self._key, text.encode(), "sha256").hex()  # one C call, no HMAC object

    def genesis(self, instance: str, day: str) -> str:
        return self(f"bastion-audit\n{instance}\n{day}")

    def link(self, prev_hash: str, record: str) -> str:
        return self(prev_hash + record)

    def digest(self, prev_digest: str, day: str, chains: str) -> str:
        return self(prev_digest + day + chains)


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing found wrong, and the record (or day) it is about."""

    message: str
    day: str
    instance: str | None = None
    seq: int | None = None
    id: int | None = None
    request_id: str | None = None

    def describe(self) -> str:
        where = f"day {self.day}"
        if self.instance is not None:
            where += f", chain {self.instance}"
        if self.seq is not None:
            where += f", record seq {self.seq}"
        if self.id is not None:
            where += f" (row id {self.id}"
            where += f", request {self.request_id})" if self.request_id else ")"
        return f"{where}: {self.message}"


@dataclass
class Verification:
    """What a walk of the trail found: counts, and the first problem (None: intact)."""

    records: int = 0
    chains: int = 0
    days: set[str] = field(default_factory=set)
    sealed_days: int = 0
    unsealed_days: list[str] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class Horizons:
    """What retention removed: bodies of days before ``bodies``, sealed days before ``records``."""

    bodies: str = ""
    records: str = ""

    @classmethod
    def of(cls, retention_records: Iterable[str]) -> Horizons:
        bodies = records = ""
        for text in retention_records:
            data = orjson.loads(text)
            bodies = max(bodies, str(data.get("bodies_dropped_before") or ""))
            records = max(records, str(data.get("records_deleted_before") or ""))
        return cls(bodies, records)


class ChainWalker:
    """Checks rows in (day, instance, seq) order; stops at the first problem."""

    def __init__(self, hasher: Hasher, horizons: Horizons, result: Verification) -> None:
        self._hash = hasher
        self._horizons = horizons
        self.result = result
        self.heads: dict[tuple[str, str], tuple[int, str]] = {}  # (day, instance) -> count, head
        self._chain: tuple[str, str] | None = None
        self._next = 0
        self._prev = ZERO

    def feed(self, row: Mapping[str, Any]) -> bool:
        """Check one row; False once a problem is found."""
        day, instance, seq = row["day"], row["instance"], row["seq"]
        if (day, instance) != self._chain:
            self._chain = (day, instance)
            self._next, self._prev = 0, self._hash.genesis(instance, day)
            self.result.chains += 1
            self.result.days.add(day)

        def bad(message: str) -> bool:
            self.result.problem = Problem(
                message, day, instance, seq, row.get("id"), row.get("request_id")
            )
            return False

        if seq != self._next:
            missing = f"{self._next}" if seq == self._next + 1 else f"{self._next} to {seq - 1}"
            return bad(f"record(s) {missing} of this chain are missing (deleted) before it")
        if row["prev_hash"] != self._prev:
            return bad("its prev_hash is not the previous record's hash (the chain was altered)")
        if self._hash.link(row["prev_hash"], row["record"]) != row["hash"]:
            return bad("its hash does not match its content (the record was edited)")
        try:
            record = orjson.loads(row["record"])
        except orjson.JSONDecodeError:
            return bad("its record is not valid JSON (the record was edited)")
        for name in RECORD_FIELDS:
            if record.get(name) != row[name]:
                return bad(f"its {name} column differs from the hashed record (edited)")
        if record.get("at") != row["at"]:
            return bad("its at column differs from the hashed record (edited)")
        expected = (record.get("bodies") or {}).get("sha256")
        body = row.get("body")
        if body is not None and (expected is None or sha256(body) != expected):
            return bad("its body does not match the hash in its record (the body was edited)")
        if body is None and expected is not None and day >= self._horizons.bodies:
            return bad("its body was removed outside the retention job")
        self._next, self._prev = seq + 1, row["hash"]
        self.heads[(day, instance)] = (self._next, self._prev)
        self.result.records += 1
        return True


def check_digests(
    hasher: Hasher,
    digests: Iterable[Mapping[str, Any]],
    heads: Mapping[tuple[str, str], tuple[int, str]],
    horizons: Horizons,
    result: Verification,
    today: str,
) -> None:
    """Each sealed day's digest against its chains, and the digests' own chain."""
    sealed: set[str] = set()
    prev = ZERO
    for row in digests:  # in day order
        day = row["day"]
        sealed.add(day)

        def bad(message: str, instance: str | None = None, day: str = day) -> None:
            result.problem = Problem(message, day, instance)

        if row["prev_digest"] != prev:
            return bad("the digest does not follow the previous day's (a digest was removed)")
        if hasher.digest(prev, day, row["chains"]) != row["digest"]:
            return bad("the digest does not match its content (it was edited)")
        prev = row["digest"]
        result.sealed_days += 1
        chains = {c[0]: (int(c[1]), str(c[2])) for c in orjson.loads(row["chains"])}
        if day < horizons.records:
            continue  # its records were deleted by retention; the digest remains
        for instance, (count, head) in chains.items():
            found = heads.get((day, instance))
            if found is None:
                return bad(f"the chain's {count} record(s) were deleted", instance)
            if found != (count, head):
                return bad(
                    f"the chain ends at record {found[0] - 1}, its digest sealed {count} "
                    "records (records were deleted from its end)",
                    instance,
                )
        for day_, instance in heads:
            if day_ == day and instance not in chains:
                return bad("a chain was added after the day was sealed", instance)
    result.unsealed_days = sorted(d for d in result.days if d not in sealed and d < today)
